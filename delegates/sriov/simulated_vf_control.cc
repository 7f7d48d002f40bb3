// The simulated PF: VF settings in a JSON file (delegates/sriov/simulated_vf_control.h).
#include "delegates/sriov/simulated_vf_control.h"

#include <sys/file.h>
#include <unistd.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "cni/error.h"
#include "cni/state_file.h"

namespace delegates {
namespace {

using nlohmann::json;

json to_json(const net::VfSettings& s) {
  json j = {{"mac", s.mac},
            {"vlan", s.vlan},
            {"qos", s.qos},
            {"vlanProto", s.vlan_proto},
            {"linkState", s.link_state},
            {"minTxRate", s.min_tx_rate},
            {"maxTxRate", s.max_tx_rate}};
  if (s.spoofchk) j["spoofchk"] = *s.spoofchk;
  if (s.trust) j["trust"] = *s.trust;
  return j;
}

net::VfSettings from_json(const json& j) {
  net::VfSettings s;
  s.mac = j.value("mac", "");
  s.vlan = j.value("vlan", 0u);
  s.qos = j.value("qos", 0u);
  s.vlan_proto = j.value("vlanProto", "802.1q");
  if (j.contains("spoofchk")) s.spoofchk = j["spoofchk"].get<bool>();
  if (j.contains("trust")) s.trust = j["trust"].get<bool>();
  s.link_state = j.value("linkState", "");
  s.min_tx_rate = j.value("minTxRate", 0u);
  s.max_tx_rate = j.value("maxTxRate", 0u);
  return s;
}

// Runs `change` on the VF's settings under the file's lock; records `call` unless it is a get.
net::VfSettings update(const std::string& path, const std::string& pf, int vf,
                       const std::string& call,
                       const std::function<void(net::VfSettings&)>& change) {
  const int lock = cni::open_state_file(path + ".lock");
  if (::flock(lock, LOCK_EX) != 0) {
    ::close(lock);
    throw cni::Error(cni::kIoFailure, "cannot lock simulated PF " + path);
  }
  try {
    auto bytes = cni::read_state_file(path, 1 << 20);
    json file = bytes ? json::parse(*bytes, nullptr, false) : json::object();
    if (!file.is_object())
      throw cni::Error(cni::kDecodeFailure, "simulated PF " + path + ": bad JSON");
    json& vfs = file["vfs"];  // absent in a new file: the PF has never been touched
    if (vfs.is_null()) vfs = json::object();
    if (!vfs.is_object())
      throw cni::Error(cni::kDecodeFailure, "simulated PF " + path + ": \"vfs\" is not an object");
    const std::string key = pf + "/" + std::to_string(vf);
    net::VfSettings s = from_json(vfs.value(key, json::object()));
    if (change) {
      change(s);
      vfs[key] = to_json(s);
      file["calls"].push_back(call + " " + pf + " " + std::to_string(vf));
      cni::write_state_file(path, path + ".tmp", file.dump(), /*durable=*/false);
    }
    ::close(lock);
    return s;
  } catch (...) {
    ::close(lock);
    throw;
  }
}

}  // namespace

net::VfSettings SimulatedVfControl::get(const std::string& pf, int vf) {
  return update(path_, pf, vf, "get", nullptr);
}
void SimulatedVfControl::set_mac(const std::string& pf, int vf, const std::string& mac) {
  update(path_, pf, vf, "set_mac", [&](net::VfSettings& s) { s.mac = mac; });
}
void SimulatedVfControl::set_vlan(const std::string& pf, int vf, unsigned vlan, unsigned qos,
                                  const std::string& proto) {
  update(path_, pf, vf, "set_vlan", [&](net::VfSettings& s) {
    s.vlan = vlan;
    s.qos = qos;
    s.vlan_proto = proto;
  });
}
void SimulatedVfControl::set_spoofchk(const std::string& pf, int vf, bool on) {
  update(path_, pf, vf, "set_spoofchk", [&](net::VfSettings& s) { s.spoofchk = on; });
}
void SimulatedVfControl::set_trust(const std::string& pf, int vf, bool on) {
  update(path_, pf, vf, "set_trust", [&](net::VfSettings& s) { s.trust = on; });
}
void SimulatedVfControl::set_link_state(const std::string& pf, int vf, const std::string& state) {
  update(path_, pf, vf, "set_link_state", [&](net::VfSettings& s) { s.link_state = state; });
}
void SimulatedVfControl::set_rate(const std::string& pf, int vf, unsigned min_mbps,
                                  unsigned max_mbps) {
  update(path_, pf, vf, "set_rate", [&](net::VfSettings& s) {
    s.min_tx_rate = min_mbps;
    s.max_tx_rate = max_mbps;
  });
}

}  // namespace delegates
