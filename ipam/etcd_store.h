// ipam::EtcdStore: allocations in etcd, shared by every node of one or more clusters. Each
// transaction reads at one revision and commits with compare-and-swap guards on what it
// read (an address key is created only while absent), retrying on conflict: no global lock.
// Key layout, multi-cluster rules and failure behaviour: docs/ipam.md, "The etcd store".
#pragma once

#include <mutex>
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

 private:
  EtcdStoreConfig cfg_;
  EtcdClient client_;
  std::mutex mu_;  // one transaction at a time per handle (one libcurl handle)
};

}  // namespace ipam
