// SR-IOV VF settings, applied through the PF's netdev with rtnetlink IFLA_VF_* attributes,
// behind an interface so tests can substitute a recording fake (test/fakes/).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace net {

class NetlinkSocket;

// What the PF reports for one VF. Fields the driver does not report keep their defaults.
struct VfSettings {
  std::string mac;  // "aa:bb:cc:dd:ee:ff"; "" when not reported
  unsigned vlan = 0;
  unsigned qos = 0;
  std::string vlan_proto = "802.1q";  // or "802.1ad"
  std::optional<bool> spoofchk;
  std::optional<bool> trust;
  std::string link_state;    // "auto", "enable", "disable"; "" when not reported
  unsigned min_tx_rate = 0;  // Mbps; 0 is no limit
  unsigned max_tx_rate = 0;
  bool operator==(const VfSettings&) const = default;
};

// The VF `vf` of the PF netdev `pf`. Every setter changes one attribute; every failure throws
// cni::Error naming the PF, the VF and the value.
class VfControl {
 public:
  virtual ~VfControl() = default;
  virtual VfSettings get(const std::string& pf, int vf) = 0;
  virtual void set_mac(const std::string& pf, int vf, const std::string& mac) = 0;
  // vlan 0 with qos 0 clears the VLAN. proto: "802.1q" or "802.1ad".
  virtual void set_vlan(const std::string& pf, int vf, unsigned vlan, unsigned qos,
                        const std::string& proto) = 0;
  virtual void set_spoofchk(const std::string& pf, int vf, bool on) = 0;
  virtual void set_trust(const std::string& pf, int vf, bool on) = 0;
  virtual void set_link_state(const std::string& pf, int vf, const std::string& state) = 0;
  virtual void set_rate(const std::string& pf, int vf, unsigned min_mbps, unsigned max_mbps) = 0;
};

// One VF attribute to set, as the kernel receives it.
struct VfAttribute {
  enum Kind { kMac, kVlan, kSpoofchk, kTrust, kLinkState, kRate } kind;
  int vf = 0;
  std::string mac;
  unsigned vlan = 0, qos = 0;
  std::string vlan_proto = "802.1q";
  bool on = false;
  std::string link_state;
  unsigned min_mbps = 0, max_mbps = 0;
};

// The RTM_SETLINK message that sets `attr` on the PF with index `pf_index`: ifinfomsg, then
// IFLA_VFINFO_LIST { IFLA_VF_INFO { one IFLA_VF_* } } (IFLA_VF_VLAN_LIST for 802.1ad).
// Exposed so the bytes can be tested without SR-IOV hardware. Error(7) for a bad value.
std::vector<uint8_t> build_vf_request(int pf_index, const VfAttribute& attr);

// The real control: RTM_SETLINK/RTM_GETLINK (RTEXT_FILTER_VF) on a socket in the PF's netns.
class NetlinkVfControl : public VfControl {
 public:
  explicit NetlinkVfControl(NetlinkSocket& sk) : sk_(sk) {}
  VfSettings get(const std::string& pf, int vf) override;
  void set_mac(const std::string& pf, int vf, const std::string& mac) override;
  void set_vlan(const std::string& pf, int vf, unsigned vlan, unsigned qos,
                const std::string& proto) override;
  void set_spoofchk(const std::string& pf, int vf, bool on) override;
  void set_trust(const std::string& pf, int vf, bool on) override;
  void set_link_state(const std::string& pf, int vf, const std::string& state) override;
  void set_rate(const std::string& pf, int vf, unsigned min_mbps, unsigned max_mbps) override;

 private:
  void send(const std::string& pf, const VfAttribute& attr);
  NetlinkSocket& sk_;
};

}  // namespace net
