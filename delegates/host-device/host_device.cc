// host-device: find a host netdev, move it into the pod renamed, configure IPAM; move it back
// on DEL with its original name, MTU and MAC (recorded in a per-attachment state file).
#include "delegates/host-device/host_device.h"

#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "cni/scope_guard.h"
#include "cni/state_file.h"
#include "delegates/common/address_probe.h"
#include "delegates/common/configure_iface.h"
#include "delegates/common/ipam_step.h"
#include "net/link_move.h"
#include "net/netlink.h"
#include "net/netns.h"
#include "net/sysfs.h"

namespace delegates {
namespace {

using cni::Error;
using nlohmann::json;

struct Config {
  std::string device, hwaddr, kernelpath, pci;
  std::string data_dir;
};

std::string string_key(const json& raw, const char* key) {
  auto it = raw.find(key);
  if (it == raw.end() || it->is_null()) return {};
  if (!it->is_string()) throw Error(cni::kInvalidConfig, std::string(key) + " must be a string");
  return it->get<std::string>();
}

Config parse_config(const cni::Request& req, const HostDevicePlugin::Options& opt) {
  const json& raw = req.conf.raw;
  Config c{string_key(raw, "device"), string_key(raw, "hwaddr"), string_key(raw, "kernelpath"),
           string_key(raw, "pciBusID"), string_key(raw, "dataDir")};
  if (const json* rc = req.conf.runtime_config()) {
    if (std::string id = string_key(*rc, "deviceID"); !id.empty()) c.pci = id;
  }
  if (c.device.empty() && c.hwaddr.empty() && c.kernelpath.empty() && c.pci.empty()) {
    throw Error(cni::kInvalidConfig,
                "specify either \"device\", \"hwaddr\", \"kernelpath\" or \"pciBusID\"");
  }
  if (!c.kernelpath.empty() && c.kernelpath[0] != '/') {
    throw Error(cni::kInvalidConfig,
                "kernelpath \"" + c.kernelpath + "\" must be an absolute path");
  }
  if (c.data_dir.empty()) c.data_dir = opt.data_dir;
  return c;
}

// What DEL needs to undo ADD, kept in <dataDir>/<containerID>-<ifname>.json.
using Record = net::LinkOrigin;

std::string record_path(const Config& c, const cni::Invocation& inv) {
  return c.data_dir + "/" + inv.container_id + "-" + inv.ifname + ".json";
}

void save_record(const Config& c, const cni::Invocation& inv, const Record& r) {
  cni::ensure_private_dir(c.data_dir, cni::kIoFailure);
  json j = {{"name", r.name}, {"mac", r.mac}, {"mtu", r.mtu}, {"up", r.up}};
  std::string path = record_path(c, inv);
  cni::write_state_file(path, path + ".tmp", j.dump(), /*durable=*/true);
}

std::optional<Record> load_record(const Config& c, const cni::Invocation& inv) {
  auto bytes = cni::read_state_file(record_path(c, inv), 4096);
  if (!bytes) return std::nullopt;
  try {
    json j = json::parse(*bytes);
    return Record{j.at("name"), j.at("mac"), j.at("mtu"), j.at("up")};
  } catch (const json::exception& e) {
    throw Error(cni::kDecodeFailure, "state file " + record_path(c, inv) + ": " + e.what());
  }
}

// The host link the config selects, in the order the reference checks its keys.
net::LinkInfo find_device(net::NetlinkSocket& host, const Config& c, const net::Sysfs& sysfs) {
  if (!c.device.empty()) return net::get_link_info(host, c.device);
  if (!c.hwaddr.empty()) {
    for (const net::LinkInfo& l : net::list_links(host)) {
      if (strcasecmp(l.mac.c_str(), c.hwaddr.c_str()) == 0) return l;
    }
    throw Error(cni::kInvalidConfig,
                "failed to find host device: no link with hwaddr \"" + c.hwaddr + "\"");
  }
  if (!c.kernelpath.empty()) {
    for (const net::LinkInfo& l : net::list_links(host)) {
      if (sysfs.netdev_path(l.name).rfind(c.kernelpath, 0) == 0) return l;
    }
    throw Error(cni::kInvalidConfig,
                "failed to find host device: no link under kernelpath \"" + c.kernelpath + "\"");
  }
  std::vector<std::string> names = sysfs.netdevs(c.pci);
  if (names.empty()) {
    throw Error(cni::kInvalidConfig,
                "failed to find host device: PCI device \"" + c.pci + "\" has no netdev");
  }
  return net::get_link_info(host, names.front());
}

cni::Result interface_result(const cni::Request& req, const net::LinkInfo& link) {
  cni::Result r;
  r.cni_version = req.conf.cni_version();
  r.interfaces.push_back({.name = link.name, .mac = link.mac, .sandbox = req.invocation.netns});
  return r;
}

}  // namespace

cni::Result HostDevicePlugin::add(const cni::Request& req) {
  const Config c = parse_config(req, options_);
  const cni::Invocation& inv = req.invocation;
  net::Netns pod = net::Netns::open(inv.netns);
  net::Netns host = net::Netns::current();
  net::NetlinkSocket host_sk;
  net::LinkInfo dev = find_device(host_sk, c, net::Sysfs(options_.sysfs_root));
  const Record rec{dev.name, dev.mac, dev.mtu, dev.up};
  save_record(c, inv, rec);
  cni::ScopeGuard forget([&] { std::filesystem::remove(record_path(c, inv)); });

  net::move_link_renamed(host_sk, dev.name, pod, inv.ifname, dev.index, dev.name);
  cni::ScopeGuard move_back([&] { net::move_link_back(pod, inv.ifname, host, rec); });
  net::NetlinkSocket pod_sk = net::NetlinkSocket::in(pod);
  net::set_up(pod_sk, inv.ifname);
  cni::Result result = interface_result(req, net::get_link_info(pod_sk, inv.ifname));

  if (const IpamStep ipam(req); ipam.kind() != IpamStep::Kind::kNone) {
    cni::Result ip = ipam.add(req);
    cni::ScopeGuard release([&] { ipam.del(req); });
    if (ip.ips.empty()) throw Error(cni::kInvalidConfig, "IPAM plugin returned missing IP config");
    for (cni::IpConfig& a : ip.ips) a.interface = 0;
    probe_addresses(req, pod_sk, inv.ifname, ip);
    configure_interface(pod_sk, inv.ifname, ip);
    result.ips = ip.ips;
    result.routes = ip.routes;
    release.commit();
  }
  if (const json* dns = req.conf.raw.contains("dns") ? &req.conf.raw["dns"] : nullptr) {
    cni::Result d = cni::Result::from_json({{"cniVersion", "1.0.0"}, {"dns", *dns}}, "1.0.0");
    result.dns = d.dns;
  }
  move_back.commit();
  forget.commit();
  return result;
}

void HostDevicePlugin::del(const cni::Request& req) {
  const Config c = parse_config(req, options_);
  const cni::Invocation& inv = req.invocation;
  IpamStep(req).del(req);
  std::optional<Record> rec = load_record(c, inv);
  // Without a record (ADD by another implementation), the alias names the host name.
  Record r = rec ? *rec : Record{c.device};
  bool moved = false;
  if (!inv.netns.empty()) {
    try {
      net::Netns pod = net::Netns::open(inv.netns);
      if (r.name.empty()) {
        net::NetlinkSocket pod_sk = net::NetlinkSocket::in(pod);
        if (net::link_exists(pod_sk, inv.ifname))
          r.name = net::get_link_info(pod_sk, inv.ifname).alias;
      }
      if (!r.name.empty()) moved = net::move_link_back(pod, inv.ifname, net::Netns::current(), r);
    } catch (const net::NetnsGoneError&) {
      // The pod's netns is gone: the kernel has returned a physical device to the host.
    }
  }
  if (!moved && !r.name.empty()) net::recover_returned_link(r);
  std::filesystem::remove(record_path(c, inv));
}

void HostDevicePlugin::check(const cni::Request& req) {
  parse_config(req, options_);
  const cni::Invocation& inv = req.invocation;
  IpamStep(req).check(req);
  const json* prev = req.conf.prev_result();
  if (!prev) throw Error(cni::kInvalidConfig, "required prevResult missing");
  cni::Result want = cni::Result::from_json(*prev, req.conf.cni_version());
  const cni::Interface* iface = nullptr;
  for (const cni::Interface& i : want.interfaces) {
    if (i.name == inv.ifname && i.sandbox == inv.netns) iface = &i;
  }
  if (!iface) {
    throw Error(cni::kInvalidConfig, "prevResult has no interface \"" + inv.ifname +
                                         "\" in sandbox \"" + inv.netns + "\"");
  }
  net::NetlinkSocket pod_sk = net::NetlinkSocket::in(net::Netns::open(inv.netns));
  net::LinkInfo link = net::get_link_info(pod_sk, inv.ifname);
  if (!iface->mac.empty() && strcasecmp(iface->mac.c_str(), link.mac.c_str()) != 0) {
    throw Error(cni::kInvalidConfig, "interface \"" + inv.ifname + "\" has mac " + link.mac +
                                         ", prevResult says " + iface->mac);
  }
  std::vector<std::string> have = net::list_addresses(pod_sk, inv.ifname);
  for (const cni::IpConfig& ip : want.ips) {
    if (std::find(have.begin(), have.end(), ip.address) == have.end()) {
      throw Error(cni::kInvalidConfig,
                  "interface \"" + inv.ifname + "\" lacks address " + ip.address);
    }
  }
  std::vector<net::Route> routes = net::list_routes(pod_sk, AF_UNSPEC);
  for (const cni::Route& r : want.routes) {
    bool found = std::any_of(routes.begin(), routes.end(), [&](const net::Route& x) {
      return x.dst == r.dst && (r.gw.empty() || x.gw == r.gw);
    });
    if (!found) throw Error(cni::kInvalidConfig, "pod has no route to " + r.dst);
  }
}

}  // namespace delegates
