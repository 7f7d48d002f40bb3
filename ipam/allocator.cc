// The IPAM verbs over any ipam::Store: idempotent and sticky allocation, requested
// addresses, round robin, release, GC, and the CNI result.
#include "ipam/allocator.h"

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

// Removes and returns the allocation for range set `set` in `pool` from `list`.
std::optional<Allocation> take(std::vector<Allocation>& list, const std::string& pool, int set) {
  for (auto it = list.begin(); it != list.end(); ++it) {
    if (it->pool == pool && it->range_set == set) {
      Allocation a = *it;
      list.erase(it);
      return a;
    }
  }
  return std::nullopt;
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
  auto found = space.find_free(txn.cursor(cfg.pool, set), [&](const Address& f, const Address& t) {
    return txn.scan_held(cfg.pool, f, t);
  });
  if (!found) {
    throw cni::Error(cni::kIpamExhausted,
                     "pool \"" + cfg.pool + "\" is exhausted: all " + to_decimal(space.size()) +
                         (space.size() == 1 ? " address" : " addresses") + " of range set " +
                         std::to_string(set) + " (" + space.describe() + ") are allocated");
  }
  txn.set_cursor(cfg.pool, set, *found);
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

std::vector<Allocation> allocate_in(StoreTxn& txn, const IpamConfig& cfg,
                                    const std::vector<RangeSetSpace>& spaces,
                                    const Requests& requests, const Owner& owner) {
  auto held = txn.find_by_container(owner.network, owner.container_id, owner.ifname);
  std::vector<Allocation> sticky;
  if (owner.sticky()) sticky = txn.find_by_pod(owner.network, owner.pod_ref, owner.ifname);
  std::vector<Allocation> out;
  for (size_t i = 0; i < spaces.size(); ++i) {
    const int set = static_cast<int>(i);
    if (auto a = take(held, cfg.pool, set)) {
      check_request_matches(requests[i], *a, owner);
      out.push_back(*a);
    } else if (auto s = take(sticky, cfg.pool, set)) {
      check_request_matches(requests[i], *s, owner);
      txn.bind(s->pool, s->address, owner.container_id);
      s->owner.container_id = owner.container_id;
      out.push_back(*s);
    } else {
      out.push_back(allocate_new(txn, cfg, spaces[i], set, owner, requests[i]));
    }
  }
  return out;
}

void validate_owner(const Owner& owner) {
  if (owner.container_id.empty()) {
    throw cni::Error(cni::kInvalidEnvironment, "ipam owner: empty container ID");
  }
  if (owner.ifname.empty()) throw cni::Error(cni::kInvalidEnvironment, "ipam owner: empty ifname");
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
  store_.transact([&](StoreTxn& txn) {
    out.clear();  // the transaction may be retried
    for (const auto& o : owners) out.push_back(allocate_in(txn, cfg, spaces, requests, o));
  });
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
      bool live =
          !a.owner.container_id.empty() && keep.count({a.owner.container_id, a.owner.ifname}) > 0;
      if (live) continue;
      txn.erase(a.pool, a.address);
      ++n;
    }
  });
  return n;
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
