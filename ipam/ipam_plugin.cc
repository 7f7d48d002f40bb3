// The cnimux-ipam CNI verbs over ipam::Allocator: request parsing, owners, results.
#include "ipam/ipam_plugin.h"

#include <spdlog/spdlog.h>

#include <optional>
#include <string>

#include "cni/error.h"
#include "cni/gc_request.h"

namespace ipam {
namespace {

// CNI_ARGS lookup without the skeleton's validation: IPAM ignores keys it does not use.
std::optional<std::string> cni_arg(const cni::Invocation& inv, const std::string& key) {
  for (const auto& [k, v] : inv.args.pairs()) {
    if (k == key) return v;
  }
  return std::nullopt;
}

std::string join_addresses(const std::vector<Allocation>& allocs) {
  std::string s;
  for (const auto& a : allocs) s += (s.empty() ? "" : ",") + a.cidr();
  return s;
}

// The addresses listed in prevResult.ips, tolerating any shape (CHECK reports, never throws
// for a prevResult it cannot read; the chain's main plugin validates it).
std::vector<Address> prev_result_addresses(const nlohmann::json& netconf) {
  std::vector<Address> out;
  auto prev = netconf.find("prevResult");
  if (prev == netconf.end() || !prev->is_object()) return out;
  auto ips = prev->find("ips");
  if (ips == prev->end() || !ips->is_array()) return out;
  for (const auto& ip : *ips) {
    if (!ip.is_object() || !ip.contains("address") || !ip["address"].is_string()) continue;
    if (auto p = Prefix::parse(ip["address"].get<std::string>())) out.push_back(p->addr);
  }
  return out;
}

}  // namespace

IpamConfig config_for(const cni::Request& req) {
  IpamConfig cfg = parse_ipam_config(req.conf.raw);
  if (auto ip = cni_arg(req.invocation, "IP")) {
    for (const auto& a : parse_ip_list(*ip)) cfg.requested.push_back(a);
  }
  return cfg;
}

Owner owner_for(const IpamConfig& cfg, const cni::Invocation& inv) {
  Owner o{cfg.network, inv.container_id, inv.ifname, ""};
  if (!cfg.sticky) return o;
  if (!cfg.pod_ref.empty()) {
    auto slash = cfg.pod_ref.find('/');
    bool well_formed = slash != std::string::npos && slash > 0 && slash + 1 < cfg.pod_ref.size() &&
                       cfg.pod_ref.find('/', slash + 1) == std::string::npos;
    if (!well_formed) {
      throw cni::Error(cni::kInvalidConfig,
                       "args.cni.podRef \"" + cfg.pod_ref +
                           "\": must be \"namespace/name\" (ipam.sticky is set)");
    }
    o.pod_ref = cfg.pod_ref;
    return o;
  }
  auto name = cni_arg(inv, "K8S_POD_NAME");
  if (!name || name->empty()) {
    spdlog::warn(
        "ipam.sticky is set but neither args.cni.podRef nor CNI_ARGS K8S_POD_NAME "
        "names the pod; binding to container {} only",
        inv.container_id);
    return o;
  }
  o.pod_ref = cni_arg(inv, "K8S_POD_NAMESPACE").value_or("") + "/" + *name;
  return o;
}

cni::Result IpamPlugin::add(const cni::Request& req) {
  IpamConfig cfg = config_for(req);
  auto store = open_(cfg.store, OpenMode::kCreate);
  Allocator alloc(*store);
  auto allocs = alloc.allocate(cfg, owner_for(cfg, req.invocation));
  spdlog::info("allocated {} in pool \"{}\" for {} {}", join_addresses(allocs), cfg.pool,
               req.invocation.container_id, req.invocation.ifname);
  return make_result(cfg, allocs);
}

void IpamPlugin::del(const cni::Request& req) {
  IpamConfig cfg = parse_ipam_config(req.conf.raw);
  auto store = open_(cfg.store, OpenMode::kExisting);
  if (!store) return;  // never created: nothing is held
  size_t n =
      Allocator(*store).release(cfg.network, req.invocation.container_id, req.invocation.ifname);
  spdlog::info("released {} allocation(s) of {} {}", n, req.invocation.container_id,
               req.invocation.ifname);
}

void IpamPlugin::check(const cni::Request& req) {
  IpamConfig cfg = parse_ipam_config(req.conf.raw);
  const auto& inv = req.invocation;
  auto held = Allocator(*open_(cfg.store, OpenMode::kCreate))
                  .find(cfg.network, inv.container_id, inv.ifname);
  auto spaces = build_spaces(cfg);
  for (size_t set = 0; set < spaces.size(); ++set) {
    bool found = false;
    for (const auto& a : held) found = found || (a.pool == cfg.pool && a.range_set == int(set));
    if (!found) {
      throw cni::Error(cni::kUnknownContainer, "container " + inv.container_id + " ifname " +
                                                   inv.ifname + " holds no address of range set " +
                                                   std::to_string(set) + " in pool \"" + cfg.pool +
                                                   "\"");
    }
  }
  for (const auto& addr : prev_result_addresses(req.conf.raw)) {
    bool ours = false;
    for (const auto& s : spaces) ours = ours || s.range_of(addr) >= 0;
    bool held_here = false;
    for (const auto& a : held) held_here = held_here || a.address == addr;
    if (ours && !held_here) {
      throw cni::Error(cni::kUnknownContainer, "prevResult address " + addr.str() +
                                                   " is not allocated to container " +
                                                   inv.container_id + " ifname " + inv.ifname);
    }
  }
}

void IpamPlugin::status(const cni::Request& req) {
  IpamConfig cfg = parse_ipam_config(req.conf.raw);
  try {
    open_(cfg.store, OpenMode::kCreate)->probe();
  } catch (const cni::Error& e) {
    if (e.code() == cni::kNotAvailable) throw;
    throw cni::Error(cni::kNotAvailable, "ipam store cannot be opened: " + e.msg());
  }
}

void IpamPlugin::gc(const cni::Request& req) {
  IpamConfig cfg = parse_ipam_config(req.conf.raw);
  const cni::ValidAttachments valid = cni::valid_attachments(req.conf);
  auto store = open_(cfg.store, OpenMode::kExisting);
  if (!store) return;
  size_t n = Allocator(*store).gc(cfg.network, valid);
  spdlog::info("gc of network \"{}\" freed {} allocation(s)", cfg.network, n);
}

}  // namespace ipam
