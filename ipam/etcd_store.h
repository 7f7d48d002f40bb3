// ipam::EtcdStore: allocations in etcd, shared by every node of one or more clusters. Each
// transaction reads at one revision and commits with compare-and-swap guards on what it
// read (an address key is created only while absent), retrying on conflict: no global lock.
// Key layout, multi-cluster rules and failure behaviour: docs/ipam.md, "The etcd store".
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ipam/etcd_client.h"
#include "ipam/store.h"

namespace ipam {

class EtcdStore : public Store {
 public:
  // Connects lazily: constructing needs no reachable etcd (libcurl is loaded here).
  explicit EtcdStore(const EtcdStoreConfig& cfg);

  // Runs `fn` at one snapshot revision, then commits its writes in one etcd txn guarded by
  // the mod_revision of every key and range it read; on a conflict (or a compacted
  // revision) runs `fn` again, until cfg.timeout_ms has passed: then Error(kTryAgainLater).
  // etcd unreachable: Error(kTryAgainLater) naming the endpoints.
  void transact(const std::function<void(StoreTxn&)>& fn) override;
  // Every allocation of every cluster under the prefix.
  std::vector<Allocation> list_all() override;
  // Writes <prefix>/probe/<cluster>/<node>; Error(kNotAvailable) naming the endpoints.
  void probe() override;
  std::string describe() const override;
  // Every address record matches its key, and the record and its index keys agree.
  std::vector<std::string> verify() override;

  const EtcdStoreConfig& config() const { return cfg_; }
  EtcdClient& client() { return client_; }

  // What this handle has done, for benchmarks: store transactions, the runs they took (one
  // more per conflict), and requests sent to etcd (reads and commits).
  struct Stats {
    uint64_t transactions = 0;
    uint64_t runs = 0;
    uint64_t requests = 0;
  };
  const Stats& stats() const { return stats_; }
  void count_request() { ++stats_.requests; }

  // With blocks: the node cursor of (pool, range set) this handle last wrote, which the
  // next transaction reads ahead on (a guess: another process of the node may move it).
  std::optional<Address> cursor_hint(const std::string& pool, int set) const {
    auto it = hints_.find({pool, set});
    if (it == hints_.end()) return std::nullopt;
    return it->second;
  }
  void set_cursor_hint(const std::string& pool, int set, const Address& a) {
    if (hints_.emplace(std::make_pair(pool, set), a).second) hinted_.emplace_back(pool, set);
    hints_[{pool, set}] = a;
  }
  // Every (pool, range set) with a hint, in the order first hinted.
  const std::vector<std::pair<std::string, int>>& cursor_hints() const { return hinted_; }

 private:
  Stats stats_;
  std::map<std::pair<std::string, int>, Address> hints_;
  std::vector<std::pair<std::string, int>> hinted_;
  EtcdStoreConfig cfg_;
  EtcdClient client_;
  std::mutex mu_;  // one transaction at a time per handle (one libcurl handle)
};

}  // namespace ipam
