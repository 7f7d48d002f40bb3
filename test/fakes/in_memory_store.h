// fakes::InMemoryStore: an ipam::Store in process memory for fast unit tests. Optimistic
// like etcd: a transaction works on a copy and commits only if nothing committed meanwhile,
// else runs again; it can also be told to fail its next commits, to test retries.
#pragma once

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cni/error.h"
#include "ipam/store.h"

namespace fakes {

class InMemoryStore : public ipam::Store {
 public:
  // The data several handles share, as processes share one database.
  struct Data {
    std::map<std::pair<std::string, std::array<uint8_t, 16>>, ipam::Allocation> allocations;
    std::map<std::pair<std::string, int>, ipam::Address> cursors;
    uint64_t version = 0;  // bumped by every commit
  };

  InMemoryStore() : shared_(std::make_shared<Shared>()) {}
  // Another handle on the same data.
  std::shared_ptr<InMemoryStore> another_handle() const {
    return std::shared_ptr<InMemoryStore>(new InMemoryStore(shared_));
  }

  // The next `n` commits fail as if another writer had committed first.
  void inject_conflicts(int n) {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->injected_conflicts = n;
  }
  int transactions_run() const { return runs_; }

  void transact(const std::function<void(ipam::StoreTxn&)>& fn) override {
    for (;;) {
      Data copy;
      {
        std::lock_guard<std::mutex> lock(shared_->mu);
        copy = shared_->data;
      }
      const uint64_t seen = copy.version;
      Txn txn(copy);
      ++runs_;
      fn(txn);
      std::lock_guard<std::mutex> lock(shared_->mu);
      if (shared_->injected_conflicts > 0) {
        --shared_->injected_conflicts;
        continue;
      }
      if (shared_->data.version != seen) continue;  // someone committed: run again
      copy.version = seen + 1;
      shared_->data = std::move(copy);
      return;
    }
  }

  std::vector<ipam::Allocation> list_all() override {
    std::lock_guard<std::mutex> lock(shared_->mu);
    std::vector<ipam::Allocation> out;
    for (const auto& [k, a] : shared_->data.allocations) out.push_back(a);
    return out;
  }
  void probe() override {}
  std::string describe() const override { return "memory"; }
  std::vector<std::string> verify() override {
    std::vector<std::string> problems;
    for (const auto& a : list_all()) {
      if (a.owner.container_id.empty() && a.owner.pod_ref.empty()) {
        problems.push_back("no owner: " + a.address.str());
      }
    }
    return problems;
  }

 private:
  struct Shared {
    std::mutex mu;
    Data data;
    int injected_conflicts = 0;
  };
  explicit InMemoryStore(std::shared_ptr<Shared> s) : shared_(std::move(s)) {}

  class Scan : public ipam::HeldScan {
   public:
    explicit Scan(std::vector<ipam::Address> v) : v_(std::move(v)) {}
    std::optional<ipam::Address> next() override {
      if (i_ == v_.size()) return std::nullopt;
      return v_[i_++];
    }

   private:
    std::vector<ipam::Address> v_;
    size_t i_ = 0;
  };

  class Txn : public ipam::StoreTxn {
   public:
    explicit Txn(Data& d) : d_(d) {}
    using V = std::vector<ipam::Allocation>;
    template <typename Pred>
    V select(Pred p) {
      V out;
      for (const auto& [k, a] : d_.allocations) {
        if (p(a)) out.push_back(a);
      }
      std::stable_sort(out.begin(), out.end(),
                       [](const auto& x, const auto& y) { return x.range_set < y.range_set; });
      return out;
    }
    V find_by_container(const std::string& n, const std::string& c, const std::string& i) override {
      return select([&](const auto& a) {
        return a.owner.network == n && a.owner.container_id == c && a.owner.ifname == i;
      });
    }
    V find_by_pod(const std::string& n, const std::string& p, const std::string& i) override {
      return select([&](const auto& a) {
        return a.owner.network == n && a.owner.pod_ref == p && a.owner.ifname == i;
      });
    }
    V list_network(const std::string& n) override {
      return select([&](const auto& a) { return a.owner.network == n; });
    }
    std::vector<std::string> list_networks() override {
      std::set<std::string> s;
      for (const auto& [k, a] : d_.allocations) s.insert(a.owner.network);
      return {s.begin(), s.end()};
    }
    std::optional<ipam::Allocation> find_address(const std::string& pool,
                                                 const ipam::Address& a) override {
      auto it = d_.allocations.find({pool, a.key()});
      if (it == d_.allocations.end()) return std::nullopt;
      return it->second;
    }
    std::unique_ptr<ipam::HeldScan> scan_held(const std::string& pool, const ipam::Address& from,
                                              const ipam::Address& to) override {
      std::vector<ipam::Address> held;
      for (auto it = d_.allocations.lower_bound({pool, from.key()});
           it != d_.allocations.end() && it->first.first == pool && it->first.second <= to.key();
           ++it) {
        held.push_back(it->second.address);
      }
      return std::make_unique<Scan>(std::move(held));
    }
    std::optional<ipam::Address> cursor(const std::string& pool, int set) override {
      auto it = d_.cursors.find({pool, set});
      if (it == d_.cursors.end()) return std::nullopt;
      return it->second;
    }
    void set_cursor(const std::string& pool, int set, const ipam::Address& a) override {
      d_.cursors.insert_or_assign({pool, set}, a);
    }
    void insert(const ipam::Allocation& a) override {
      if (!d_.allocations.emplace(std::make_pair(a.pool, a.address.key()), a).second) {
        throw cni::Error(
            cni::kIpamAddressTaken,
            "address " + a.address.str() + " is already allocated in pool \"" + a.pool + "\"");
      }
    }
    void bind(const std::string& pool, const ipam::Address& a, const std::string& cid) override {
      auto it = d_.allocations.find({pool, a.key()});
      if (it != d_.allocations.end()) it->second.owner.container_id = cid;
    }
    void erase(const std::string& pool, const ipam::Address& a) override {
      d_.allocations.erase({pool, a.key()});
    }

   private:
    Data& d_;
  };

  std::shared_ptr<Shared> shared_;
  int runs_ = 0;
};

}  // namespace fakes
