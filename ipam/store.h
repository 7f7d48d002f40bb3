// ipam::Store: where allocations live. A store offers atomic transactions over a small set
// of reads and writes (StoreTxn); the allocation logic above it (ipam/allocator.h) is shared
// by every store. SQLite is the embedded default; an etcd store implements the same seam
// with compare-and-swap transactions that it retries on conflict.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ipam/address.h"
#include "ipam/config.h"
#include "ipam/pool.h"

namespace ipam {

// Who holds an address. Normally (network, container_id, ifname); a sticky allocation also
// carries the pod's identity and keeps the address while no container is bound to it.
struct Owner {
  std::string network;
  std::string container_id;  // "" only for an unbound sticky allocation
  std::string ifname;
  std::string pod_ref;  // "namespace/name" when sticky, else ""
  bool sticky() const { return !pod_ref.empty(); }
};

struct Allocation {
  std::string pool;
  Address address;
  int range_set = 0;               // index into IpamConfig::range_sets at allocation time
  int prefix_len = 0;              // the subnet's prefix, for the result's CIDR
  std::optional<Address> gateway;  // the range's gateway, for the result
  Owner owner;
  int64_t created_unix = 0;
  // Where a shared store records who allocated it (etcd: the store's cluster and node); ""
  // in a node-local store. Filled by the store, ignored by insert().
  std::string cluster;
  std::string node;

  std::string cidr() const { return address.str() + "/" + std::to_string(prefix_len); }
};

// The reads and writes of one transaction. Everything read reflects the transaction's own
// writes; nothing is visible to others before the transaction commits.
class StoreTxn {
 public:
  virtual ~StoreTxn() = default;

  // A store shared by several nodes or clusters (etcd) scopes the owner queries:
  // find_by_container, list_network and list_networks see only what this node of this
  // cluster allocated (what it may release or collect); find_by_pod sees its whole cluster
  // (a sticky pod may move between nodes). find_address and scan_held see every holder, so
  // that no address is ever handed out twice.

  // Allocations of `network` bound to (container_id, ifname), in every pool.
  virtual std::vector<Allocation> find_by_container(const std::string& network,
                                                    const std::string& container_id,
                                                    const std::string& ifname) = 0;
  // Sticky allocations of `network` for (pod_ref, ifname), bound or not.
  virtual std::vector<Allocation> find_by_pod(const std::string& network,
                                              const std::string& pod_ref,
                                              const std::string& ifname) = 0;
  // Every allocation recorded for `network`.
  virtual std::vector<Allocation> list_network(const std::string& network) = 0;
  // The networks that hold at least one allocation, in every pool, sorted and distinct.
  virtual std::vector<std::string> list_networks() = 0;
  virtual std::optional<Allocation> find_address(const std::string& pool, const Address& a) = 0;
  // Held addresses of `pool` in [from, to] (one family), ascending.
  virtual std::unique_ptr<HeldScan> scan_held(const std::string& pool, const Address& from,
                                              const Address& to) = 0;

  // The round-robin cursor: the last address handed out from (pool, range_set).
  virtual std::optional<Address> cursor(const std::string& pool, int range_set) = 0;
  virtual void set_cursor(const std::string& pool, int range_set, const Address& a) = 0;

  // The address a new allocation of range set `set` of `pool` takes, recorded as the last
  // one handed out (so round robin continues after it); nullopt when every allocatable
  // address of `space` is held. The default is round robin over the whole pool (cursor,
  // find_free, set_cursor). A store with per-node blocks picks inside this node's blocks
  // first, claiming a free block when they are full (docs/ipam.md, "Per-node blocks").
  virtual std::optional<Address> pick_free(const std::string& pool, int set,
                                           const RangeSetSpace& space);
  // Called by GC after it freed what it found dead: a store with per-node blocks hands
  // back every block of this node that holds no address any more. The default does nothing.
  virtual void release_empty_blocks() {}

  // Records a new allocation. Error(kIpamAddressTaken) when (pool, address) is held.
  virtual void insert(const Allocation& a) = 0;
  // Binds (pool, address) to `container_id`; "" unbinds a sticky allocation.
  virtual void bind(const std::string& pool, const Address& a, const std::string& container_id) = 0;
  virtual void erase(const std::string& pool, const Address& a) = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Runs `fn` as one atomic, isolated write transaction: all of its writes land or none do,
  // and concurrent transactions (other processes included) never interleave with it. `fn`
  // may run more than once (an optimistic store retries on conflict), so it must have no
  // effect outside the transaction. An exception from `fn` aborts and propagates. Lock
  // timeouts are Error(kTryAgainLater); I/O failures Error(kIoFailure).
  virtual void transact(const std::function<void(StoreTxn&)>& fn) = 0;

  // A consistent snapshot of every allocation, for operators and tests.
  virtual std::vector<Allocation> list_all() = 0;

  // Returns when a write transaction succeeds now; else throws Error(kNotAvailable).
  virtual void probe() = 0;

  // Problems found by checking the store's own invariants (SQLite: integrity_check, owners,
  // key sizes; etcd: every record matches its key and indexes); empty when consistent.
  virtual std::vector<std::string> verify() = 0;

  // "sqlite:/var/lib/cni/cnimux/ipam.db", for messages.
  virtual std::string describe() const = 0;
};

enum class OpenMode {
  kCreate,    // create the store when it does not exist yet (ADD, CHECK, STATUS)
  kExisting,  // nullptr when it was never created, so nothing can be held (DEL, GC)
};

// Opens the store `cfg` names. Stores are cached per process by type and location, so the
// meta plugin opens each store once however many attachments it makes. With kExisting, a
// node-local store that was never created is not created (nullptr); a remote store (etcd)
// always exists. Error(kInvalidConfig) for an unknown type; Error(kIoFailure) when it cannot
// be opened.
std::shared_ptr<Store> open_store(const StoreConfig& cfg, OpenMode mode = OpenMode::kCreate);

}  // namespace ipam
