// The IPAM verbs over any ipam::Store: idempotent and sticky allocation, requested
// addresses, round robin, release, GC, and the CNI result.
#include "ipam/allocator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <optional>
#include <set>

#include "cni/error.h"

namespace ipam {
namespace {

using Requests = std::vector<std::optional<Address>>;  // one per range set

// Maps each requested address to its range set, checking it may be handed out at all.
Requests assign_requests(const IpamConfig& cfg, const std::vector<RangeSetSpace>& spaces) {
  Requests out(spaces.size());
  for (const auto& a : cfg.requested) {
    int set = -1;
    int range = -1;
    for (size_t s = 0; s < spaces.size() && set < 0; ++s) {
      range = spaces[s].range_of(a);
      if (range >= 0) set = static_cast<int>(s);
    }
    if (set < 0) {
      throw cni::Error(
          cni::kInvalidConfig,
          "requested address " + a.str() + " is not in any range of pool \"" + cfg.pool + "\"");
    }
    if (auto why = spaces[set].ranges()[range].reserved_reason(a)) {
      throw cni::Error(cni::kInvalidConfig, "requested address " + a.str() + " " + *why);
    }
    if (out[set]) {
      throw cni::Error(cni::kInvalidConfig, "requested addresses " + out[set]->str() + " and " +
                                                a.str() + " are in the same range set " +
                                                std::to_string(set) + ", which yields one address");
    }
    out[set] = a;
  }
  return out;
}

void check_request_matches(const std::optional<Address>& requested, const Allocation& held,
                           const Owner& owner) {
  if (!requested || *requested == held.address) return;
  throw cni::Error(cni::kInvalidConfig, "container " + owner.container_id + " ifname " +
                                            owner.ifname + " already holds " + held.address.str() +
                                            ", not the requested " + requested->str());
}

std::string describe_owner(const Owner& o) {
  std::string s = o.container_id.empty() ? "pod " + o.pod_ref : "container " + o.container_id;
  return s + " ifname " + o.ifname + " of network \"" + o.network + "\"";
}

Address pick_address(StoreTxn& txn, const IpamConfig& cfg, const RangeSetSpace& space, int set,
                     const std::optional<Address>& requested) {
  if (requested) {
    if (auto other = txn.find_address(cfg.pool, *requested)) {
      throw cni::Error(cni::kIpamAddressTaken, "requested address " + requested->str() +
                                                   " is not free: held by " +
                                                   describe_owner(other->owner));
    }
    return *requested;
  }
  auto found = txn.pick_free(cfg.pool, set, space);
  if (!found) {
    throw cni::Error(cni::kIpamExhausted,
                     "pool \"" + cfg.pool + "\" is exhausted: all " + to_decimal(space.size()) +
                         (space.size() == 1 ? " address" : " addresses") + " of range set " +
                         std::to_string(set) + " (" + space.describe() + ") are allocated");
  }
  return *found;
}

Allocation allocate_new(StoreTxn& txn, const IpamConfig& cfg, const RangeSetSpace& space, int set,
                        const Owner& owner, const std::optional<Address>& requested) {
  Allocation a;
  a.pool = cfg.pool;
  a.address = pick_address(txn, cfg, space, set, requested);
  const Range& range = space.ranges()[space.range_of(a.address)].range();
  a.range_set = set;
  a.prefix_len = range.subnet.len;
  a.gateway = range.gateway;
  a.owner = owner;
  a.created_unix = static_cast<int64_t>(std::time(nullptr));
  txn.insert(a);
  return a;
}

// What an owner already holds that a retried ADD may return: its own allocations, then (when
// sticky) its pod's, each once.
std::vector<Allocation> held_by(StoreTxn& txn, const Owner& owner) {
  auto held = txn.find_by_container(owner.network, owner.container_id, owner.ifname);
  if (!owner.sticky()) return held;
  for (auto& s : txn.find_by_pod(owner.network, owner.pod_ref, owner.ifname)) {
    bool seen = false;
    for (const auto& h : held) seen = seen || (h.pool == s.pool && h.address == s.address);
    if (!seen) held.push_back(std::move(s));
  }
  return held;
}

// Why a stored allocation cannot serve range set `space` of the current config, or nullopt
// when it can: it must be in cfg.pool, inside one of the set's ranges and not reserved (a
// gateway, the network or broadcast address, excluded).
std::optional<std::string> misfit(const IpamConfig& cfg, const RangeSetSpace& space,
                                  const Allocation& a) {
  if (a.pool != cfg.pool) return "is in pool \"" + a.pool + "\", not \"" + cfg.pool + "\"";
  int range = space.range_of(a.address);
  if (range < 0) return "is not in any range of pool \"" + cfg.pool + "\"";
  return space.ranges()[range].reserved_reason(a.address);
}

// Why `a` serves no range set of the config, for the log.
std::string why_stale(const IpamConfig& cfg, const std::vector<RangeSetSpace>& spaces,
                      const Allocation& a) {
  for (const auto& space : spaces) {
    if (space.range_of(a.address) < 0) continue;
    if (auto why = misfit(cfg, space, a)) return *why;
    return "a second address of one range set";
  }
  if (a.pool != cfg.pool) return "is in pool \"" + a.pool + "\", not \"" + cfg.pool + "\"";
  return "is not in any range of pool \"" + cfg.pool + "\"";
}

// The held allocation that serves range set `space`, removed from `held`, or nullopt.
std::optional<Allocation> take_fitting(std::vector<Allocation>& held, const IpamConfig& cfg,
                                       const RangeSetSpace& space) {
  for (auto it = held.begin(); it != held.end(); ++it) {
    if (misfit(cfg, space, *it)) continue;
    Allocation a = std::move(*it);
    held.erase(it);
    return a;
  }
  return std::nullopt;
}

// Brings a fitting allocation up to date: bound to `owner`, with the range set index, prefix
// and gateway of the current config (a stored record may predate a config change, or hold
// an impossible prefix). Rewrites the record only when something changed.
Allocation refresh(StoreTxn& txn, Allocation a, const RangeSetSpace& space, int set,
                   const Owner& owner) {
  const Range& range = space.ranges()[space.range_of(a.address)].range();
  Allocation want = a;
  want.range_set = set;
  want.prefix_len = range.subnet.len;
  want.gateway = range.gateway;
  want.owner.container_id = owner.container_id;
  bool same_record =
      want.range_set == a.range_set && want.prefix_len == a.prefix_len && want.gateway == a.gateway;
  if (!same_record) {
    txn.erase(a.pool, a.address);
    txn.insert(want);
  } else if (a.owner.container_id != owner.container_id) {
    txn.bind(a.pool, a.address, owner.container_id);
  }
  return want;
}

std::vector<Allocation> allocate_in(StoreTxn& txn, const IpamConfig& cfg,
                                    const std::vector<RangeSetSpace>& spaces,
                                    const Requests& requests, const Owner& owner,
                                    std::vector<std::string>& dropped) {
  std::vector<Allocation> held = held_by(txn, owner);
  std::vector<Allocation> out;
  for (size_t i = 0; i < spaces.size(); ++i) {
    const int set = static_cast<int>(i);
    if (auto a = take_fitting(held, cfg, spaces[i])) {
      check_request_matches(requests[i], *a, owner);
      out.push_back(refresh(txn, std::move(*a), spaces[i], set, owner));
    }
  }
  // What the owner still holds fits no range set of the current config (the ranges changed,
  // the address is now excluded, or the pool was renamed): release it before allocating
  // afresh, so that a retried ADD never holds two addresses for one range set.
  for (const auto& stale : held) {
    txn.erase(stale.pool, stale.address);
    dropped.push_back(stale.address.str() + " of pool \"" + stale.pool + "\" (" +
                      why_stale(cfg, spaces, stale) + ")");
  }
  for (size_t i = 0; i < spaces.size(); ++i) {
    const int set = static_cast<int>(i);
    bool served = false;
    for (const auto& a : out) served = served || a.range_set == set;
    if (!served) out.push_back(allocate_new(txn, cfg, spaces[i], set, owner, requests[i]));
  }
  std::sort(out.begin(), out.end(),
            [](const Allocation& a, const Allocation& b) { return a.range_set < b.range_set; });
  return out;
}

void validate_owner(const Owner& owner) {
  if (owner.container_id.empty()) {
    throw cni::Error(cni::kInvalidEnvironment, "ipam owner: empty container ID");
  }
  if (owner.ifname.empty()) throw cni::Error(cni::kInvalidEnvironment, "ipam owner: empty ifname");
}

// Whether `a` is bound to a container listed in `keep` (an unbound sticky one never is).
bool bound_to_one_of(const Allocation& a, const cni::ValidAttachments& keep) {
  return !a.owner.container_id.empty() && keep.count({a.owner.container_id, a.owner.ifname}) > 0;
}

}  // namespace

std::vector<Allocation> Allocator::allocate(const IpamConfig& cfg, const Owner& owner) {
  return allocate_many(cfg, {owner}).front();
}

std::vector<std::vector<Allocation>> Allocator::allocate_many(const IpamConfig& cfg,
                                                              const std::vector<Owner>& owners) {
  for (const auto& o : owners) validate_owner(o);
  const auto spaces = build_spaces(cfg);
  const Requests requests = assign_requests(cfg, spaces);
  std::vector<std::vector<Allocation>> out;
  std::vector<std::string> dropped;
  store_.transact([&](StoreTxn& txn) {
    out.clear();  // the transaction may be retried
    dropped.clear();
    for (const auto& o : owners) {
      out.push_back(allocate_in(txn, cfg, spaces, requests, o, dropped));
    }
  });
  for (const auto& d : dropped) {
    spdlog::warn("released {}: it no longer fits the configuration of network \"{}\"", d,
                 cfg.network);
  }
  return out;
}

size_t Allocator::release(const std::string& network, const std::string& container_id,
                          const std::string& ifname) {
  size_t n = 0;
  store_.transact([&](StoreTxn& txn) {
    n = 0;
    for (const auto& a : txn.find_by_container(network, container_id, ifname)) {
      if (a.owner.sticky()) {
        txn.bind(a.pool, a.address, "");
      } else {
        txn.erase(a.pool, a.address);
      }
      ++n;
    }
  });
  return n;
}

size_t Allocator::release_pod(const std::string& network, const std::string& pod_ref,
                              const std::string& ifname) {
  size_t n = 0;
  store_.transact([&](StoreTxn& txn) {
    n = 0;
    for (const auto& a : txn.list_network(network)) {
      if (a.owner.pod_ref != pod_ref || (!ifname.empty() && a.owner.ifname != ifname)) continue;
      txn.erase(a.pool, a.address);
      ++n;
    }
  });
  return n;
}

std::vector<Allocation> Allocator::find(const std::string& network, const std::string& container_id,
                                        const std::string& ifname) {
  std::vector<Allocation> out;
  store_.transact(
      [&](StoreTxn& txn) { out = txn.find_by_container(network, container_id, ifname); });
  return out;
}

size_t Allocator::gc(const std::string& network, const cni::ValidAttachments& keep) {
  size_t n = 0;
  store_.transact([&](StoreTxn& txn) {
    n = 0;
    for (const auto& a : txn.list_network(network)) {
      if (bound_to_one_of(a, keep)) continue;
      txn.erase(a.pool, a.address);
      ++n;
    }
    txn.release_empty_blocks();
  });
  return n;
}

std::vector<std::string> Allocator::networks() {
  std::vector<std::string> out;
  store_.transact([&](StoreTxn& txn) { out = txn.list_networks(); });
  return out;
}

std::map<std::string, size_t> Allocator::gc_store(const LiveAttachments& live) {
  std::map<std::string, size_t> freed;
  store_.transact([&](StoreTxn& txn) {
    freed.clear();
    for (const auto& network : txn.list_networks()) {
      for (const auto& a : txn.list_network(network)) {
        const Owner& o = a.owner;
        // Unbound sticky allocations (no container) are never live, as in gc().
        if (!o.container_id.empty() && live.count({network, o.container_id, o.ifname})) continue;
        txn.erase(a.pool, a.address);
        ++freed[network];
      }
    }
    txn.release_empty_blocks();
  });
  return freed;
}

cni::Result make_result(const IpamConfig& cfg, const std::vector<Allocation>& allocations) {
  cni::Result r;
  for (const auto& a : allocations) {
    cni::IpConfig ip;
    ip.address = a.cidr();
    if (a.gateway) ip.gateway = a.gateway->str();
    r.ips.push_back(ip);
  }
  r.routes = cfg.routes;
  r.dns = effective_dns(cfg);
  return r;
}

}  // namespace ipam
