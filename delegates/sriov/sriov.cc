// SR-IOV: find the VF's PF and index in sysfs, apply VF settings through the PF, move the VF
// netdev into the pod, and keep a per-VF record so DEL restores exactly what ADD changed.
#include "delegates/sriov/sriov.h"

#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "cni/scope_guard.h"
#include "cni/state_file.h"
#include "delegates/common/address_probe.h"
#include "delegates/common/configure_iface.h"
#include "delegates/common/ipam_step.h"
#include "delegates/sriov/simulated_vf_control.h"
#include "net/link_move.h"
#include "net/netlink.h"
#include "net/netns.h"
#include "net/sysfs.h"

namespace delegates {
namespace {

using cni::Error;
using nlohmann::json;

struct Config {
  std::string pci;
  std::optional<unsigned> vlan;
  unsigned qos = 0;
  std::string proto = "802.1q";
  std::string mac;
  std::optional<bool> spoofchk, trust;
  std::string link_state;
  unsigned min_rate = 0, max_rate = 0;
  std::string data_dir;
};

const json* key(const json& j, const char* k) {
  auto it = j.find(k);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

std::string str(const json& j, const char* k) {
  const json* v = key(j, k);
  if (v && !v->is_string()) throw Error(cni::kInvalidConfig, std::string(k) + " must be a string");
  return v ? v->get<std::string>() : std::string();
}

std::optional<unsigned> uint_in(const json& j, const char* k, unsigned max) {
  const json* v = key(j, k);
  if (!v) return std::nullopt;
  if (!v->is_number_integer() || v->get<long long>() < 0 || v->get<long long>() > max) {
    throw Error(cni::kInvalidConfig, "invalid " + std::string(k) + " " + v->dump() +
                                         ": want an integer in 0.." + std::to_string(max));
  }
  return v->get<unsigned>();
}

std::optional<bool> on_off(const json& j, const char* k) {
  std::string v = str(j, k);
  if (v.empty()) return std::nullopt;
  if (v != "on" && v != "off") {
    throw Error(cni::kInvalidConfig,
                "invalid " + std::string(k) + " \"" + v + "\": want on or off");
  }
  return v == "on";
}

Config parse_config(const cni::Request& req, const SriovPlugin::Options& opt) {
  const json& raw = req.conf.raw;
  Config c;
  c.pci = str(raw, "deviceID");
  const json* rc = req.conf.runtime_config();
  if (rc && !str(*rc, "deviceID").empty()) c.pci = str(*rc, "deviceID");
  c.vlan = uint_in(raw, "vlan", 4094);
  c.qos = uint_in(raw, "vlanQoS", 7).value_or(0);
  if (std::string p = str(raw, "vlanProto"); !p.empty()) c.proto = p;
  std::transform(c.proto.begin(), c.proto.end(), c.proto.begin(), ::tolower);
  if (c.proto != "802.1q" && c.proto != "802.1ad") {
    throw Error(cni::kInvalidConfig,
                "invalid vlanProto \"" + c.proto + "\": want 802.1q or 802.1ad");
  }
  if (c.vlan.value_or(0) == 0 && c.qos != 0) {
    throw Error(cni::kInvalidConfig, "vlanQoS " + std::to_string(c.qos) + " needs a non-zero vlan");
  }
  if (c.vlan.value_or(0) == 0 && c.proto != "802.1q") {
    throw Error(cni::kInvalidConfig, "vlanProto \"" + c.proto + "\" needs a non-zero vlan");
  }
  // MAC precedence: runtimeConfig mac > CNI_ARGS MAC= > config mac.
  c.mac = str(raw, "mac");
  if (auto m = req.invocation.args.get("MAC"); m && !m->empty()) c.mac = *m;
  if (rc && !str(*rc, "mac").empty()) c.mac = str(*rc, "mac");
  c.spoofchk = on_off(raw, "spoofchk");
  c.trust = on_off(raw, "trust");
  c.link_state = str(raw, "link_state");
  if (!c.link_state.empty() && c.link_state != "auto" && c.link_state != "enable" &&
      c.link_state != "disable") {
    throw Error(cni::kInvalidConfig,
                "invalid link_state \"" + c.link_state + "\": want auto, enable or disable");
  }
  c.min_rate = uint_in(raw, "min_tx_rate", 1u << 30).value_or(0);
  c.max_rate = uint_in(raw, "max_tx_rate", 1u << 30).value_or(0);
  if (c.max_rate && c.min_rate > c.max_rate) {
    throw Error(cni::kInvalidConfig, "min_tx_rate " + std::to_string(c.min_rate) +
                                         " is above max_tx_rate " + std::to_string(c.max_rate));
  }
  c.data_dir = str(raw, "dataDir");
  if (c.data_dir.empty()) c.data_dir = opt.data_dir;
  return c;
}

// Where the VF is: its PF netdev, its index, its netdev (none in DPDK mode).
struct Vf {
  std::string pci, pf;
  int index = 0;
  bool dpdk = false;
};

Vf locate(const net::Sysfs& sysfs, const std::string& pci) {
  if (pci.empty()) throw Error(cni::kInvalidConfig, "deviceID is required: the VF's PCI address");
  if (!sysfs.has_device(pci))
    throw Error(cni::kInvalidConfig, "deviceID \"" + pci + "\": no such PCI device");
  auto pf_pci = sysfs.physfn(pci);
  if (!pf_pci) throw Error(cni::kInvalidConfig, "deviceID \"" + pci + "\" is not an SR-IOV VF");
  std::vector<std::string> pf_names = sysfs.netdevs(*pf_pci);
  if (pf_names.empty())
    throw Error(cni::kInvalidConfig, "PF " + *pf_pci + " of VF " + pci + " has no netdev");
  auto driver = sysfs.driver(pci);
  return {pci, pf_names.front(), sysfs.vf_index(*pf_pci, pci),
          driver && net::is_userspace_driver(*driver)};
}

// The allocation record <dataDir>/<pci>.json: who holds the VF, and what to put back.
struct Record {
  std::string container_id, ifname, netns;
  bool dpdk = false;
  net::LinkOrigin netdev;
  net::VfSettings original;
};

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

net::VfSettings settings_from(const json& j) {
  net::VfSettings s{j.at("mac"), j.at("vlan"), j.at("qos"), j.at("vlanProto")};
  if (j.contains("spoofchk")) s.spoofchk = j["spoofchk"].get<bool>();
  if (j.contains("trust")) s.trust = j["trust"].get<bool>();
  s.link_state = j.at("linkState");
  s.min_tx_rate = j.at("minTxRate");
  s.max_tx_rate = j.at("maxTxRate");
  return s;
}

// The VF's lock (flock on <pci>.lock) and its record, read and written under it.
class VfSlot {
 public:
  VfSlot(const std::string& dir, const std::string& pci) : path_(dir + "/" + pci + ".json") {
    cni::ensure_private_dir(dir, cni::kIoFailure);
    fd_ = cni::open_state_file(dir + "/" + pci + ".lock");
    if (::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      throw Error(cni::kIoFailure, "cannot lock VF " + pci);
    }
  }
  ~VfSlot() { ::close(fd_); }  // closing releases the lock

  std::optional<Record> load() const {
    auto bytes = cni::read_state_file(path_, 16384);
    if (!bytes) return std::nullopt;
    try {
      json j = json::parse(*bytes);
      const json& n = j.at("netdev");
      return Record{j.at("containerID"),
                    j.at("ifname"),
                    j.at("netns"),
                    j.at("dpdk"),
                    {n.at("name"), n.at("mac"), n.at("mtu"), n.at("up")},
                    settings_from(j.at("original"))};
    } catch (const json::exception& e) {
      throw Error(cni::kDecodeFailure, "VF record " + path_ + ": " + e.what());
    }
  }
  void save(const Record& r) const {
    json j = {{"containerID", r.container_id},
              {"ifname", r.ifname},
              {"netns", r.netns},
              {"dpdk", r.dpdk},
              {"original", to_json(r.original)},
              {"netdev",
               {{"name", r.netdev.name},
                {"mac", r.netdev.mac},
                {"mtu", r.netdev.mtu},
                {"up", r.netdev.up}}}};
    cni::write_state_file(path_, path_ + ".tmp", j.dump(), /*durable=*/true);
  }
  void remove() const { std::filesystem::remove(path_); }

 private:
  std::string path_;
  int fd_ = -1;
};

// Applies the configured settings (only those the config names) in sriov-cni's order.
void apply(net::VfControl& vfc, const Vf& vf, const Config& c) {
  if (c.vlan) vfc.set_vlan(vf.pf, vf.index, *c.vlan, c.qos, c.proto);
  if (!c.mac.empty()) vfc.set_mac(vf.pf, vf.index, c.mac);
  if (c.spoofchk) vfc.set_spoofchk(vf.pf, vf.index, *c.spoofchk);
  if (c.trust) vfc.set_trust(vf.pf, vf.index, *c.trust);
  if (!c.link_state.empty()) vfc.set_link_state(vf.pf, vf.index, c.link_state);
  if (c.min_rate || c.max_rate) vfc.set_rate(vf.pf, vf.index, c.min_rate, c.max_rate);
}

// Puts back the original value of every setting the config changed.
void restore(net::VfControl& vfc, const Vf& vf, const Config& c, const net::VfSettings& o) {
  if (c.vlan) vfc.set_vlan(vf.pf, vf.index, o.vlan, o.qos, o.vlan_proto);
  if (!c.mac.empty() && !o.mac.empty()) vfc.set_mac(vf.pf, vf.index, o.mac);
  if (c.spoofchk && o.spoofchk) vfc.set_spoofchk(vf.pf, vf.index, *o.spoofchk);
  if (c.trust && o.trust) vfc.set_trust(vf.pf, vf.index, *o.trust);
  if (!c.link_state.empty() && !o.link_state.empty())
    vfc.set_link_state(vf.pf, vf.index, o.link_state);
  if (c.min_rate || c.max_rate) vfc.set_rate(vf.pf, vf.index, o.min_tx_rate, o.max_tx_rate);
}

// A record of another container blocks ADD while that pod's netns still exists.
bool holder_alive(const Record& r) {
  if (r.netns.empty()) return false;
  try {
    net::Netns::open(r.netns);
    return true;
  } catch (const net::NetnsGoneError&) {
    return false;
  }
}

bool owns(const Record& r, const cni::Invocation& inv) {
  return r.container_id == inv.container_id && r.ifname == inv.ifname;
}

}  // namespace

SriovPlugin::Options SriovPlugin::Options::from_environment() {
  Options o;
  const char* root = std::getenv("CNIMUX_SRIOV_SYSFS_ROOT");
  if (!root || !*root) return o;
  o.sysfs_root = root;
  o.vf_control = [file = o.sysfs_root + "/cnimux-vf-settings.json"] {
    return std::make_unique<SimulatedVfControl>(file);
  };
  return o;
}

SriovPlugin::SriovPlugin(Options options) : options_(std::move(options)) {
  if (!options_.vf_control) {
    options_.vf_control = [] {
      struct Owned : net::NetlinkVfControl {
        Owned() : net::NetlinkVfControl(sk) {}
        net::NetlinkSocket sk;
      };
      return std::make_unique<Owned>();
    };
  }
}

cni::Result SriovPlugin::add(const cni::Request& req) {
  const Config c = parse_config(req, options_);
  const cni::Invocation& inv = req.invocation;
  net::Sysfs sysfs(options_.sysfs_root);
  const Vf vf = locate(sysfs, c.pci);
  net::Netns pod = net::Netns::open(inv.netns);
  net::Netns host = net::Netns::current();
  std::unique_ptr<net::VfControl> vfc = options_.vf_control();
  VfSlot slot(c.data_dir, vf.pci);

  std::optional<Record> old = slot.load();
  if (old && !owns(*old, inv) && holder_alive(*old)) {
    throw Error(cni::kTryAgainLater,
                "VF " + vf.pci + " is in use by container " + old->container_id);
  }
  // A stale record's originals are the VF's true ones: the VF still carries the old pod's.
  Record rec{inv.container_id, inv.ifname, inv.netns,
             vf.dpdk,          {},         old ? old->original : vfc->get(vf.pf, vf.index)};
  net::NetlinkSocket host_sk;
  if (!vf.dpdk) {
    std::vector<std::string> names = sysfs.netdevs(vf.pci);
    if (names.empty()) throw Error(cni::kInvalidConfig, "VF " + vf.pci + " has no netdev to move");
    net::LinkInfo l = net::get_link_info(host_sk, names.front());
    rec.netdev = {l.name, l.mac, l.mtu, l.up};
  }
  slot.save(rec);
  cni::ScopeGuard drop([&] { slot.remove(); });
  cni::ScopeGuard unset([&] { restore(*vfc, vf, c, rec.original); });
  apply(*vfc, vf, c);

  cni::Result result;
  result.cni_version = req.conf.cni_version();
  cni::Interface iface{.name = inv.ifname, .sandbox = inv.netns, .pci_id = vf.pci};
  std::optional<cni::ScopeGuard> move_back;
  std::optional<net::NetlinkSocket> pod_sk;
  if (!vf.dpdk) {
    net::LinkInfo l = net::get_link_info(host_sk, rec.netdev.name);
    net::move_link_renamed(host_sk, l.name, pod, inv.ifname, l.index, l.name);
    move_back.emplace([&] { net::move_link_back(pod, inv.ifname, host, rec.netdev); });
    pod_sk.emplace(net::NetlinkSocket::in(pod));
    if (!c.mac.empty()) net::set_mac(*pod_sk, inv.ifname, c.mac);
    net::set_up(*pod_sk, inv.ifname);
    iface.mac = net::get_link_info(*pod_sk, inv.ifname).mac;
  } else {
    iface.mac = c.mac.empty() ? rec.original.mac : c.mac;
  }
  result.interfaces.push_back(iface);

  if (const IpamStep ipam(req); ipam.kind() != IpamStep::Kind::kNone) {
    cni::Result ip = ipam.add(req);
    cni::ScopeGuard release([&] { ipam.del(req); });
    if (ip.ips.empty()) throw Error(cni::kInvalidConfig, "IPAM plugin returned missing IP config");
    for (cni::IpConfig& a : ip.ips) a.interface = 0;
    if (pod_sk) {
      probe_addresses(req, *pod_sk, inv.ifname, ip);
      configure_interface(*pod_sk, inv.ifname, ip);
    }
    result.ips = ip.ips;
    result.routes = ip.routes;
    result.dns = ip.dns;
    release.commit();
  }
  if (move_back) move_back->commit();
  unset.commit();
  drop.commit();
  return result;
}

namespace {

// The VF of a DEL without deviceID: the record naming this container and ifname.
std::string find_by_owner(const std::string& dir, const cni::Invocation& inv) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (e.path().extension() != ".json") continue;
    auto bytes = cni::read_state_file(e.path().string(), 16384);
    if (!bytes) continue;
    json j = json::parse(*bytes, nullptr, false);
    if (j.is_object() && j.value("containerID", "") == inv.container_id &&
        j.value("ifname", "") == inv.ifname) {
      return name.substr(0, name.size() - 5);
    }
  }
  return {};
}

}  // namespace

void SriovPlugin::del(const cni::Request& req) {
  Config c = parse_config(req, options_);
  const cni::Invocation& inv = req.invocation;
  IpamStep(req).del(req);
  if (c.pci.empty()) c.pci = find_by_owner(c.data_dir, inv);
  if (c.pci.empty()) return;  // nothing of ours: DEL without ADD
  net::Sysfs sysfs(options_.sysfs_root);
  const Vf vf = locate(sysfs, c.pci);
  VfSlot slot(c.data_dir, vf.pci);
  std::optional<Record> rec = slot.load();
  if (!rec || !owns(*rec, inv)) return;  // a late DEL: the VF is free or another pod's now

  if (!rec->dpdk) {
    bool moved = false;
    if (!inv.netns.empty()) {
      try {
        moved = net::move_link_back(net::Netns::open(inv.netns), inv.ifname, net::Netns::current(),
                                    rec->netdev);
      } catch (const net::NetnsGoneError&) {
      }
    }
    if (!moved) net::recover_returned_link(rec->netdev);
  }
  restore(*options_.vf_control(), vf, c, rec->original);
  slot.remove();
}

void SriovPlugin::check(const cni::Request& req) {
  const Config c = parse_config(req, options_);
  const cni::Invocation& inv = req.invocation;
  const Vf vf = locate(net::Sysfs(options_.sysfs_root), c.pci);
  std::optional<Record> rec = VfSlot(c.data_dir, vf.pci).load();
  if (!rec || !owns(*rec, inv)) {
    throw Error(cni::kInvalidConfig, "VF " + vf.pci + " is not attached to this container");
  }
  IpamStep(req).check(req);
  net::VfSettings s = options_.vf_control()->get(vf.pf, vf.index);
  auto mismatch = [&](const std::string& what) {
    throw Error(cni::kInvalidConfig, "VF " + vf.pci + ": " + what + " differs from the config");
  };
  if (c.vlan && (s.vlan != *c.vlan || s.qos != c.qos)) mismatch("vlan");
  if (!c.mac.empty() && strcasecmp(s.mac.c_str(), c.mac.c_str()) != 0) mismatch("mac");
  if (c.spoofchk && s.spoofchk != c.spoofchk) mismatch("spoofchk");
  if (c.trust && s.trust != c.trust) mismatch("trust");
  if (!c.link_state.empty() && s.link_state != c.link_state) mismatch("link_state");
  if ((c.min_rate || c.max_rate) && (s.min_tx_rate != c.min_rate || s.max_tx_rate != c.max_rate)) {
    mismatch("tx rate");
  }
  if (vf.dpdk) return;
  net::NetlinkSocket pod_sk = net::NetlinkSocket::in(net::Netns::open(inv.netns));
  net::LinkInfo link = net::get_link_info(pod_sk, inv.ifname);
  const json* prev = req.conf.prev_result();
  if (!prev) return;
  cni::Result want = cni::Result::from_json(*prev, req.conf.cni_version());
  std::vector<std::string> have = net::list_addresses(pod_sk, inv.ifname);
  for (const cni::IpConfig& ip : want.ips) {
    if (std::find(have.begin(), have.end(), ip.address) == have.end()) {
      throw Error(cni::kInvalidConfig,
                  "interface \"" + inv.ifname + "\" lacks address " + ip.address);
    }
  }
  for (const cni::Interface& i : want.interfaces) {
    if (i.name == inv.ifname && !i.mac.empty() &&
        strcasecmp(i.mac.c_str(), link.mac.c_str()) != 0) {
      throw Error(cni::kInvalidConfig, "interface \"" + inv.ifname + "\" has mac " + link.mac);
    }
  }
}

}  // namespace delegates
