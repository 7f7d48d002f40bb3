// A net::VfControl that keeps VF settings in memory and records every call, for SR-IOV tests
// without hardware. Shared state outlives each plugin call (the plugin makes a fresh control
// per verb through its factory).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cni/error.h"
#include "net/sriov_vf.h"

namespace cnimux_test {

struct VfWorld {
  std::map<std::pair<std::string, int>, net::VfSettings> vfs;  // (pf, vf) -> settings
  std::vector<std::string> calls;                              // "set_vlan pf 1 100 0 802.1q"
  std::string fail_on;  // a call whose name starts with this throws code 5
};

class RecordingVfControl : public net::VfControl {
 public:
  explicit RecordingVfControl(std::shared_ptr<VfWorld> w) : w_(std::move(w)) {}

  net::VfSettings get(const std::string& pf, int vf) override { return at("get", pf, vf, ""); }
  void set_mac(const std::string& pf, int vf, const std::string& mac) override {
    at("set_mac", pf, vf, mac).mac = mac;
  }
  void set_vlan(const std::string& pf, int vf, unsigned vlan, unsigned qos,
                const std::string& proto) override {
    auto& s =
        at("set_vlan", pf, vf, std::to_string(vlan) + " " + std::to_string(qos) + " " + proto);
    s.vlan = vlan;
    s.qos = qos;
    s.vlan_proto = proto;
  }
  void set_spoofchk(const std::string& pf, int vf, bool on) override {
    at("set_spoofchk", pf, vf, on ? "on" : "off").spoofchk = on;
  }
  void set_trust(const std::string& pf, int vf, bool on) override {
    at("set_trust", pf, vf, on ? "on" : "off").trust = on;
  }
  void set_link_state(const std::string& pf, int vf, const std::string& state) override {
    at("set_link_state", pf, vf, state).link_state = state;
  }
  void set_rate(const std::string& pf, int vf, unsigned min, unsigned max) override {
    auto& s = at("set_rate", pf, vf, std::to_string(min) + " " + std::to_string(max));
    s.min_tx_rate = min;
    s.max_tx_rate = max;
  }

 private:
  net::VfSettings& at(const std::string& call, const std::string& pf, int vf,
                      const std::string& args) {
    std::string line =
        call + " " + pf + " " + std::to_string(vf) + (args.empty() ? "" : " " + args);
    w_->calls.push_back(line);
    if (!w_->fail_on.empty() && line.rfind(w_->fail_on, 0) == 0) {
      throw cni::Error(cni::kIoFailure, "injected failure: " + line);
    }
    auto it = w_->vfs.find({pf, vf});
    if (it == w_->vfs.end()) throw cni::Error(cni::kInvalidConfig, "no VF " + std::to_string(vf));
    return it->second;
  }
  std::shared_ptr<VfWorld> w_;
};

}  // namespace cnimux_test
