// ipam::Allocator: the IPAM verbs (allocate, release, find, gc) as single store
// transactions. This is the in-process API the meta plugin and in-tree delegates call.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "cni/gc_request.h"
#include "cni/result.h"
#include "ipam/config.h"
#include "ipam/store.h"

namespace ipam {

// One live attachment of a whole-store GC: the network config's name (what every allocation
// records) and the attachment's container ID and interface name.
struct LiveAttachment {
  std::string network;
  std::string container_id;
  std::string ifname;
  auto operator<=>(const LiveAttachment&) const = default;
};
using LiveAttachments = std::set<LiveAttachment>;

class Allocator {
 public:
  explicit Allocator(Store& store) : store_(store) {}

  // ADD: one allocation per range set of `cfg`, in range-set order, in one transaction.
  // Idempotent: an owner that already holds addresses in cfg.pool gets the same ones back.
  // A sticky owner (owner.pod_ref set) gets back what its pod identity holds, rebound to
  // owner.container_id. Otherwise each set takes cfg.requested's address in it, or the first
  // free address after the last one handed out (round robin).
  // Errors: kIpamExhausted naming the pool and its size; kInvalidConfig for a requested
  // address outside every range or reserved (gateway, network, broadcast, excluded), or for
  // an owner that holds a different address than it requests; kIpamAddressTaken for a
  // requested address another owner holds; kInvalidEnvironment for an empty container ID
  // or ifname.
  std::vector<Allocation> allocate(const IpamConfig& cfg, const Owner& owner);

  // allocate() for many owners in a single transaction, all or nothing (bulk pre-fill).
  std::vector<std::vector<Allocation>> allocate_many(const IpamConfig& cfg,
                                                     const std::vector<Owner>& owners);

  // DEL: releases what (network, container_id, ifname) holds; a sticky allocation is only
  // unbound and stays reserved for its pod. Unknown owners are fine. Returns the number of
  // allocations released or unbound.
  size_t release(const std::string& network, const std::string& container_id,
                 const std::string& ifname);

  // Explicit release of a sticky identity: frees every address `pod_ref` holds in `network`
  // (on `ifname` only, unless it is empty). Returns how many were freed.
  size_t release_pod(const std::string& network, const std::string& pod_ref,
                     const std::string& ifname = "");

  // What (network, container_id, ifname) holds now, in range-set order.
  std::vector<Allocation> find(const std::string& network, const std::string& container_id,
                               const std::string& ifname);

  // GC: frees every allocation of `network` that is not bound to one of `valid`, sticky
  // ones included. Returns how many were freed.
  size_t gc(const std::string& network, const cni::ValidAttachments& valid);

  // The networks (config names) the store holds allocations of, sorted: what a node-wide GC
  // must reach even when no config it still knows names them.
  std::vector<std::string> networks();

  // GC of the whole store, every network and pool, in one transaction: frees every
  // allocation whose (network, container_id, ifname) is not in `live`. Sticky allocations
  // follow gc(): kept only while bound to a live attachment, so an unbound one (its pod
  // stopped) is freed. Only for a caller that knows every attachment made with this store
  // (the meta plugin, the node's only CNI plugin, with its GC fence held so that no ADD
  // allocates meanwhile). Returns the number freed per network (networks with none left out).
  std::map<std::string, size_t> gc_store(const LiveAttachments& live);

 private:
  Store& store_;
};

// The IPAM result: for each allocation its address with the subnet's prefix and the range's
// gateway, plus cfg's routes and DNS (effective_dns). No interfaces (an IPAM result has
// none).
cni::Result make_result(const IpamConfig& cfg, const std::vector<Allocation>& allocations);

}  // namespace ipam
