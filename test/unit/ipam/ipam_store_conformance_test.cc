// The ipam::Store conformance suite: every store (SQLite, the in-memory fake, etcd without
// and with per-node blocks) passes the same tests: transactions all-or-nothing, isolated
// across processes and retried on conflict without side effects, and the allocator's verbs
// over it (idempotent ADD, round robin, exclusions, requested and sticky addresses, release,
// GC, the node-wide GC, STATUS).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <set>

#include "cni/error.h"
#include "etcd_server.h"
#include "ipam/allocator.h"
#include "ipam/etcd_store.h"
#include "ipam/sqlite_store.h"
#include "ipam_test_util.h"
#include "test/fakes/in_memory_store.h"

namespace ipam {
namespace {

using nlohmann::json;
using V = std::vector<std::string>;

// One store under test: open() returns another handle on the same data each time (as
// another process would open it).
class Harness {
 public:
  virtual ~Harness() = default;
  virtual std::shared_ptr<Store> open() = 0;
};

class SqliteHarness : public Harness {
 public:
  std::shared_ptr<Store> open() override {
    StoreConfig c;
    c.path = dir_.file("ipam.db");
    c.busy_timeout_ms = 10000;
    return std::make_shared<SqliteStore>(c);
  }

 private:
  ipam_test::TempDir dir_;
};

class FakeHarness : public Harness {
 public:
  std::shared_ptr<Store> open() override { return root_->another_handle(); }

 private:
  std::shared_ptr<fakes::InMemoryStore> root_ = std::make_shared<fakes::InMemoryStore>();
};

// One etcd for the whole test binary, started on first use; every test gets its own prefix.
// Stopped and removed by the static's destructor at exit (and killed with this process by
// PR_SET_PDEATHSIG if it dies first). Forked children leave with _exit, never running it.
ipam_test::EtcdServer& shared_etcd() {
  static ipam_test::EtcdServer server;
  return server;
}

class EtcdHarness : public Harness {
 public:
  // block_size > 0: per-node blocks of that many addresses. 4 is small enough that the
  // suite's pools span several blocks, so claiming, handing back and borrowing all happen.
  explicit EtcdHarness(int block_size = 0) {
    cfg_.block_size = block_size;
    static std::atomic<int> n{0};
    cfg_.endpoints = {shared_etcd().endpoint()};
    cfg_.prefix = "/cxt" + std::to_string(::getpid()) + "-" + std::to_string(n++);
    cfg_.cluster = "c1";
    cfg_.node = "n1";
    cfg_.timeout_ms = 20000;
  }
  std::shared_ptr<Store> open() override { return std::make_shared<EtcdStore>(cfg_); }

 private:
  EtcdStoreConfig cfg_;
};

struct Backend {
  std::string name;
  bool cross_process;  // handles in other processes see the same data
  bool optimistic;     // transact() runs fn again after a conflict
  std::function<std::unique_ptr<Harness>()> make;
};

void PrintTo(const Backend& b, std::ostream* os) {
  *os << b.name;
}

std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param.name;
}

class StoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam().name.rfind("etcd", 0) == 0 && !ipam_test::EtcdServer::available()) {
      GTEST_SKIP() << "etcd is not installed (Debian etcd-server; scripts/install-deps.sh)";
    }
    harness_ = GetParam().make();
  }
  void TearDown() override {
    if (store_) {
      EXPECT_EQ(store_->verify(), V{});
    }
  }

  Store& store() {
    if (!store_) store_ = harness_->open();
    return *store_;
  }
  IpamConfig config(json ranges, json extra = json::object()) {
    json j = ipam_test::netconf("net1", ranges, "/nonexistent/ipam.db");
    j["ipam"].update(extra);
    return parse_ipam_config(j);
  }
  IpamConfig netcfg(const std::string& network, const std::string& subnet,
                    json extra = json::object()) {
    json j = ipam_test::netconf(network, {{{{"subnet", subnet}}}}, "/nonexistent/ipam.db");
    j["ipam"].update(extra);
    return parse_ipam_config(j);
  }
  std::vector<std::string> add(const IpamConfig& cfg, const std::string& cid,
                               const std::string& ifname = "eth0", const std::string& pod = "") {
    std::vector<std::string> out;
    for (const auto& a : Allocator(store()).allocate(cfg, {cfg.network, cid, ifname, pod})) {
      out.push_back(a.cidr());
    }
    return out;
  }
  void add_at(const IpamConfig& cfg, const std::string& cid, const std::string& ifname,
              const std::string& pod = "") {
    add(cfg, cid, ifname, pod);
  }
  // The cni::Error an allocation throws.
  cni::Error add_error(const IpamConfig& cfg, const std::string& cid) {
    try {
      add(cfg, cid);
    } catch (const cni::Error& e) {
      return e;
    }
    return cni::Error(0, "no error");
  }
  // Every stored allocation as "network container ifname", sorted.
  V left() {
    V out;
    for (const auto& a : store().list_all()) {
      out.push_back(a.owner.network + " " + a.owner.container_id + " " + a.owner.ifname);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // Runs `body` in `n` child processes at once, each with its own handle on the store;
  // returns how many failed (exit status not 0). Children never return into gtest.
  int in_processes(int n, const std::function<void(Store&, int)>& body) {
    std::vector<pid_t> pids;
    for (int i = 0; i < n; ++i) {
      pid_t pid = ::fork();
      if (pid == 0) {
        int rc = 0;
        try {
          auto mine = harness_->open();
          body(*mine, i);
        } catch (const std::exception& e) {
          fprintf(stderr, "child %d: %s\n", i, e.what());
          rc = 1;
        }
        ::_exit(rc);
      }
      pids.push_back(pid);
    }
    int failed = 0;
    for (pid_t pid : pids) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
    }
    return failed;
  }

  std::unique_ptr<Harness> harness_;
  std::shared_ptr<Store> store_;
};

Allocation record(const std::string& pool, const char* addr, const std::string& cid) {
  Allocation a;
  a.pool = pool;
  a.address = *Address::parse(addr);
  a.prefix_len = 24;
  a.owner = {"net1", cid, "eth0", ""};
  return a;
}

// ---- transactions ----

TEST_P(StoreConformance, TransactionIsAllOrNothing) {
  struct Abort {};
  EXPECT_THROW(store().transact([&](StoreTxn& t) {
    t.insert(record("p", "10.9.0.1", "c1"));
    t.set_cursor("p", 0, *Address::parse("10.9.0.1"));
    t.insert(record("p", "10.9.0.2", "c2"));
    throw Abort{};
  }),
               Abort);
  EXPECT_TRUE(store().list_all().empty());
  std::optional<Address> cursor;
  store().transact([&](StoreTxn& t) { cursor = t.cursor("p", 0); });
  EXPECT_FALSE(cursor);
  // An error inside also aborts: a taken address fails the whole transaction.
  store().transact([&](StoreTxn& t) { t.insert(record("p", "10.9.0.1", "c1")); });
  try {
    store().transact([&](StoreTxn& t) {
      t.insert(record("p", "10.9.0.3", "c3"));
      t.insert(record("p", "10.9.0.1", "c4"));
    });
    ADD_FAILURE() << "inserting a held address succeeded";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kIpamAddressTaken);
  }
  ASSERT_EQ(store().list_all().size(), 1u);
  EXPECT_EQ(store().list_all()[0].owner.container_id, "c1");
}

TEST_P(StoreConformance, ReadsSeeTheirOwnWritesAndOthersSeeOnlyCommits) {
  auto other = harness_->open();
  store().transact([&](StoreTxn& t) {
    t.insert(record("p", "10.9.0.5", "c1"));
    t.insert(record("p", "10.9.0.7", "c2"));
    t.erase("p", *Address::parse("10.9.0.7"));
    t.bind("p", *Address::parse("10.9.0.5"), "c9");
    ASSERT_TRUE(t.find_address("p", *Address::parse("10.9.0.5")));
    EXPECT_EQ(t.find_by_container("net1", "c9", "eth0").size(), 1u);
    EXPECT_TRUE(t.find_by_container("net1", "c1", "eth0").empty());
    EXPECT_EQ(t.list_networks(), V{"net1"});
    auto scan = t.scan_held("p", *Address::parse("10.9.0.0"), *Address::parse("10.9.0.255"));
    auto first = scan->next();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->str(), "10.9.0.5");
    EXPECT_FALSE(scan->next());
    EXPECT_TRUE(other->list_all().empty()) << "another handle saw an uncommitted write";
  });
  ASSERT_EQ(other->list_all().size(), 1u);
  EXPECT_EQ(other->list_all()[0].owner.container_id, "c9");
}

TEST_P(StoreConformance, ConflictRunsTheTransactionAgainWithoutItsFirstWrites) {
  if (!GetParam().optimistic) GTEST_SKIP() << "a locking store never conflicts";
  auto other = harness_->open();
  int runs = 0;
  store().transact([&](StoreTxn& t) {
    ++runs;
    auto c = t.cursor("p", 0);
    t.insert(record("p", runs == 1 ? "10.9.0.1" : "10.9.0.2", "c1"));
    if (runs == 1) {
      // Another writer commits what this transaction read.
      other->transact([&](StoreTxn& o) { o.set_cursor("p", 0, *Address::parse("10.9.0.200")); });
    }
    EXPECT_EQ(c.has_value(), runs > 1);
    t.set_cursor("p", 0, *Address::parse("10.9.0.2"));
  });
  EXPECT_EQ(runs, 2);
  auto all = store().list_all();
  ASSERT_EQ(all.size(), 1u);  // nothing of the first run
  EXPECT_EQ(all[0].address.str(), "10.9.0.2");
}

TEST_P(StoreConformance, AllocateRetriedOnConflictTakesOneAddress) {
  if (!GetParam().optimistic) GTEST_SKIP() << "a locking store never conflicts";
  auto cfg = config({{{{"subnet", "10.1.0.0/24"}}}});
  auto other = harness_->open();
  // The other handle allocates between this one's reads and its commit, every time until
  // the third run: each run must start afresh and the result hold one address only.
  struct Interfering : Store {
    Store& inner;
    std::function<void()> meddle;
    int runs = 0;
    Interfering(Store& s, std::function<void()> m) : inner(s), meddle(std::move(m)) {}
    void transact(const std::function<void(StoreTxn&)>& fn) override {
      inner.transact([&](StoreTxn& t) {
        fn(t);
        if (++runs < 3) meddle();
      });
    }
    std::vector<Allocation> list_all() override { return inner.list_all(); }
    void probe() override {}
    std::string describe() const override { return inner.describe(); }
    std::vector<std::string> verify() override { return inner.verify(); }
  };
  int n = 0;
  Interfering s(store(), [&] {
    Allocator(*other).allocate(cfg, {"net1", "x" + std::to_string(n++), "eth0", ""});
  });
  auto got = Allocator(s).allocate(cfg, {"net1", "c1", "eth0", ""});
  EXPECT_EQ(s.runs, 3);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].cidr(), "10.1.0.4/24");  // after x0's .2 and x1's .3
  EXPECT_EQ(store().list_all().size(), 3u);
  EXPECT_EQ(Allocator(store()).find("net1", "c1", "eth0").size(), 1u);
}

TEST_P(StoreConformance, TransactionsAreIsolatedAcrossProcesses) {
  if (!GetParam().cross_process) GTEST_SKIP() << "the store lives in one process";
  // Read-modify-write of one value (the cursor as a counter) from 4 processes at once:
  // a lost update would leave less than the number of increments.
  constexpr int kProcs = 4, kIncrements = 15;
  const uint32_t base = 0x0a090000;
  store().transact([&](StoreTxn& t) { t.set_cursor("p", 0, Address::v4(base)); });
  int failed = in_processes(kProcs, [&](Store& s, int) {
    for (int i = 0; i < kIncrements; ++i) {
      s.transact([&](StoreTxn& t) {
        auto c = t.cursor("p", 0);
        t.set_cursor("p", 0, Address::v4(static_cast<uint32_t>(c->value() + 1)));
      });
    }
  });
  EXPECT_EQ(failed, 0);
  std::optional<Address> c;
  store().transact([&](StoreTxn& t) { c = t.cursor("p", 0); });
  ASSERT_TRUE(c);
  EXPECT_EQ(static_cast<uint32_t>(c->value()) - base, uint32_t(kProcs * kIncrements));
}

TEST_P(StoreConformance, ConcurrentAllocatorsInProcessesNeverShareAnAddress) {
  if (!GetParam().cross_process) GTEST_SKIP() << "the store lives in one process";
  auto cfg = config({{{{"subnet", "10.1.0.0/26"}}}});  // 61 addresses
  constexpr int kProcs = 4, kAdds = 10;
  int failed = in_processes(kProcs, [&](Store& s, int p) {
    Allocator alloc(s);
    for (int i = 0; i < kAdds; ++i) {
      std::string cid = "p" + std::to_string(p) + "c" + std::to_string(i);
      alloc.allocate(cfg, {"net1", cid, "eth0", ""});
      if (i % 2) alloc.release("net1", cid, "eth0");
    }
  });
  EXPECT_EQ(failed, 0);
  auto all = store().list_all();
  std::set<std::string> distinct;
  for (const auto& a : all) distinct.insert(a.address.str());
  EXPECT_EQ(all.size(), size_t(kProcs * kAdds / 2));
  EXPECT_EQ(distinct.size(), all.size());
}

TEST_P(StoreConformance, StatusProbeSucceedsOnAWorkingStore) {
  EXPECT_NO_THROW(store().probe());
  EXPECT_FALSE(store().describe().empty());
}

// ---- the allocator over the store ----

TEST_P(StoreConformance, AddIsIdempotentPerContainerAndIfname) {
  auto cfg = config({{{{"subnet", "10.1.0.0/24"}}}});
  EXPECT_EQ(add(cfg, "c1"), V{"10.1.0.2/24"});
  EXPECT_EQ(add(cfg, "c1"), V{"10.1.0.2/24"});
  EXPECT_EQ(add(cfg, "c1", "net1"), V{"10.1.0.3/24"});
  EXPECT_EQ(add(cfg, "c2"), V{"10.1.0.4/24"});
  EXPECT_EQ(store().list_all().size(), 3u);
}

TEST_P(StoreConformance, DualStackYieldsOneAddressPerRangeSet) {
  auto cfg = config({{{{"subnet", "10.1.0.0/24"}}}, {{{"subnet", "fd00:1::/64"}}}});
  EXPECT_EQ(add(cfg, "c1"), (V{"10.1.0.2/24", "fd00:1::2/64"}));
  auto r = make_result(cfg, Allocator(store()).find("net1", "c1", "eth0"));
  ASSERT_EQ(r.ips.size(), 2u);
  EXPECT_EQ(r.ips[0].gateway, "10.1.0.1");
  EXPECT_EQ(r.ips[1].gateway, "fd00:1::1");
  EXPECT_TRUE(r.interfaces.empty());
}

TEST_P(StoreConformance, RoundRobinDoesNotReuseAJustFreedAddress) {
  auto cfg = config({{{{"subnet", "10.1.0.0/29"}}}});  // .2 .. .6
  EXPECT_EQ(add(cfg, "c1"), V{"10.1.0.2/29"});
  EXPECT_EQ(add(cfg, "c2"), V{"10.1.0.3/29"});
  Allocator(store()).release("net1", "c2", "eth0");
  EXPECT_EQ(add(cfg, "c3"), V{"10.1.0.4/29"});
  EXPECT_EQ(add(cfg, "c4"), V{"10.1.0.5/29"});
  EXPECT_EQ(add(cfg, "c5"), V{"10.1.0.6/29"});
  EXPECT_EQ(add(cfg, "c6"), V{"10.1.0.3/29"});  // wrapped: the first free one
}

TEST_P(StoreConformance, ExhaustionNamesThePoolAndItsSize) {
  auto cfg = config({{{{"subnet", "10.1.0.0/29"}}}}, {{"pool", "small"}});
  for (int i = 0; i < 5; ++i) add(cfg, "c" + std::to_string(i));
  cni::Error e = add_error(cfg, "c5");
  EXPECT_EQ(e.code(), cni::kIpamExhausted);
  EXPECT_NE(e.msg().find("pool \"small\""), std::string::npos) << e.msg();
  EXPECT_NE(e.msg().find("all 5 addresses"), std::string::npos) << e.msg();
  // A failed ADD leaves nothing behind, and a released address is reusable.
  EXPECT_EQ(store().list_all().size(), 5u);
  Allocator(store()).release("net1", "c2", "eth0");
  EXPECT_EQ(add(cfg, "c5"), V{"10.1.0.4/29"});
}

TEST_P(StoreConformance, DualStackExhaustionOfOneFamilyAllocatesNeither) {
  auto cfg = config({{{{"subnet", "10.1.0.0/30"}}}, {{{"subnet", "fd00:1::/64"}}}});
  add(cfg, "c1");
  EXPECT_EQ(add_error(cfg, "c2").code(), cni::kIpamExhausted);
  EXPECT_EQ(store().list_all().size(), 2u);  // c1's two; nothing of c2
}

TEST_P(StoreConformance, RequestedAddressMustBeInARangeAndFree) {
  auto base = config({{{{"subnet", "10.1.0.0/24"}}}}, {{"exclude", {"10.1.0.128/25"}}});
  auto with_request = [&](const char* ip) {
    IpamConfig c = base;
    c.requested = {*Address::parse(ip)};
    return c;
  };
  EXPECT_EQ(add(with_request("10.1.0.50"), "c1"), V{"10.1.0.50/24"});
  // Taken by c1.
  cni::Error taken = add_error(with_request("10.1.0.50"), "c2");
  EXPECT_EQ(taken.code(), cni::kIpamAddressTaken);
  EXPECT_NE(taken.msg().find("held by container c1"), std::string::npos) << taken.msg();
  // Not in any range.
  cni::Error outside = add_error(with_request("10.2.0.5"), "c2");
  EXPECT_EQ(outside.code(), cni::kInvalidConfig);
  EXPECT_NE(outside.msg().find("10.2.0.5 is not in any range"), std::string::npos);
  // Reserved.
  EXPECT_NE(add_error(with_request("10.1.0.1"), "c2").msg().find("is a gateway"),
            std::string::npos);
  EXPECT_NE(add_error(with_request("10.1.0.200"), "c2").msg().find("excluded"), std::string::npos);
  // The same owner asking again for the address it holds is idempotent; asking for another
  // is an error rather than a second allocation.
  EXPECT_EQ(add(with_request("10.1.0.50"), "c1"), V{"10.1.0.50/24"});
  EXPECT_EQ(add_error(with_request("10.1.0.51"), "c1").code(), cni::kInvalidConfig);
  EXPECT_EQ(store().list_all().size(), 1u);
}

TEST_P(StoreConformance, RequestedAddressesPickTheirRangeSets) {
  auto cfg = config({{{{"subnet", "10.1.0.0/24"}}}, {{{"subnet", "fd00:1::/64"}}}});
  cfg.requested = {*Address::parse("fd00:1::77")};
  EXPECT_EQ(add(cfg, "c1"), (V{"10.1.0.2/24", "fd00:1::77/64"}));
  cfg.requested = {*Address::parse("10.1.0.7"), *Address::parse("10.1.0.8")};
  EXPECT_EQ(add_error(cfg, "c2").code(), cni::kInvalidConfig);
}

TEST_P(StoreConformance, StickyAddressFollowsThePodAcrossContainers) {
  auto cfg = config({{{{"subnet", "10.1.0.0/24"}}}}, {{"sticky", true}});
  Allocator alloc(store());
  EXPECT_EQ(add(cfg, "c1", "eth0", "ns/web-0"), V{"10.1.0.2/24"});
  EXPECT_EQ(add(cfg, "c2", "eth0", "ns/web-1"), V{"10.1.0.3/24"});
  // DEL keeps the address reserved for ns/web-0 ...
  EXPECT_EQ(alloc.release("net1", "c1", "eth0"), 1u);
  EXPECT_TRUE(alloc.find("net1", "c1", "eth0").empty());
  EXPECT_EQ(add(cfg, "c3"), V{"10.1.0.4/24"});  // no pod: round robin, .2 stays reserved
  // ... and the recreated pod gets it back under its new container ID.
  EXPECT_EQ(add(cfg, "c9", "eth0", "ns/web-0"), V{"10.1.0.2/24"});
  ASSERT_EQ(alloc.find("net1", "c9", "eth0").size(), 1u);
  EXPECT_EQ(alloc.find("net1", "c9", "eth0")[0].owner.pod_ref, "ns/web-0");
  // Another interface of the same pod is a different binding.
  EXPECT_EQ(add(cfg, "c9", "net1", "ns/web-0"), V{"10.1.0.5/24"});
}

TEST_P(StoreConformance, GcFreesUnlistedAllocationsIncludingUnboundStickyOnes) {
  auto cfg = config({{{{"subnet", "10.1.0.0/24"}}}});
  auto sticky = cfg;
  sticky.sticky = true;
  add(cfg, "c1");
  add(cfg, "c2");
  add(sticky, "c3", "eth0", "ns/db-0");
  add(sticky, "c4", "eth0", "ns/db-1");
  Allocator alloc(store());
  alloc.release("net1", "c4", "eth0");  // unbound, still reserved
  // Another network's allocations are not this GC's business.
  auto other = cfg;
  other.network = "net2";
  other.pool = "net2";
  add(other, "x1");
  EXPECT_EQ(alloc.gc("net1", {{"c1", "eth0"}, {"c3", "eth0"}}), 2u);  // c2 and unbound db-1
  V left;
  for (const auto& a : store().list_all()) left.push_back(a.owner.container_id);
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (V{"c1", "c3", "x1"}));
}

TEST_P(StoreConformance, GcFreesBoundStickyAllocationOfAnUnlistedContainer) {
  auto cfg = config({{{{"subnet", "10.1.0.0/24"}}}}, {{"sticky", true}});
  add(cfg, "c1", "eth0", "ns/a-0");
  EXPECT_EQ(Allocator(store()).gc("net1", {}), 1u);
  EXPECT_TRUE(store().list_all().empty());
}

TEST_P(StoreConformance, ExplicitReleaseOfAPodIdentity) {
  auto cfg = config({{{{"subnet", "10.1.0.0/24"}}}}, {{"sticky", true}});
  add(cfg, "c1", "eth0", "ns/a-0");
  add(cfg, "c1", "net1", "ns/a-0");
  add(cfg, "c2", "eth0", "ns/a-1");
  Allocator alloc(store());
  EXPECT_EQ(alloc.release_pod("net1", "ns/a-0", "net1"), 1u);
  EXPECT_EQ(alloc.release_pod("net1", "ns/a-0"), 1u);
  EXPECT_EQ(alloc.release_pod("net1", "ns/a-0"), 0u);
  EXPECT_EQ(store().list_all().size(), 1u);
}

TEST_P(StoreConformance, ReleaseOfUnknownOwnerAndTwiceSucceeds) {
  auto cfg = config({{{{"subnet", "10.1.0.0/24"}}}});
  Allocator alloc(store());
  EXPECT_EQ(alloc.release("net1", "nobody", "eth0"), 0u);
  add(cfg, "c1");
  EXPECT_EQ(alloc.release("net1", "c1", "eth0"), 1u);
  EXPECT_EQ(alloc.release("net1", "c1", "eth0"), 0u);
}

TEST_P(StoreConformance, SharedPoolNeverHandsOutAnAddressTwice) {
  auto a = config({{{{"subnet", "10.1.0.0/29"}}}}, {{"pool", "shared"}});
  auto b = a;
  b.network = "net2";
  EXPECT_EQ(add(a, "c1"), V{"10.1.0.2/29"});
  EXPECT_EQ(add(b, "c1"), V{"10.1.0.3/29"});  // same container ID, other network
  EXPECT_EQ(Allocator(store()).find("net2", "c1", "eth0").size(), 1u);
}

TEST_P(StoreConformance, Ipv6Slash64AllocatesAcrossThe64BitBoundary) {
  auto cfg = config({{{{"subnet", "fd00::/56"}, {"rangeStart", "fd00::ffff:ffff:ffff:ffff"}}}});
  EXPECT_EQ(add(cfg, "c1"), V{"fd00::ffff:ffff:ffff:ffff/56"});
  EXPECT_EQ(add(cfg, "c2"), V{"fd00:0:0:1::/56"});
  EXPECT_EQ(add(cfg, "c3"), V{"fd00:0:0:1::1/56"});
}

TEST_P(StoreConformance, AllocateManyIsOneAllOrNothingTransaction) {
  auto cfg = config({{{{"subnet", "10.1.0.0/29"}}}});
  Allocator alloc(store());
  std::vector<Owner> owners;
  for (int i = 0; i < 6; ++i) owners.push_back({"net1", "c" + std::to_string(i), "eth0", ""});
  EXPECT_THROW(alloc.allocate_many(cfg, owners), cni::Error);  // 6 > 5
  EXPECT_TRUE(store().list_all().empty());
  owners.pop_back();
  EXPECT_EQ(alloc.allocate_many(cfg, owners).size(), 5u);
  EXPECT_EQ(store().list_all().size(), 5u);
}

TEST_P(StoreConformance, EmptyOwnerIsRefused) {
  auto cfg = config({{{{"subnet", "10.1.0.0/24"}}}});
  EXPECT_THROW(add(cfg, ""), cni::Error);
  EXPECT_THROW(add(cfg, "c1", ""), cni::Error);
}

// ---- node-wide GC (Allocator::networks, Allocator::gc_store) ----

TEST_P(StoreConformance, GcStoreNetworksListsEveryNetworkHoldingAnAllocation) {
  EXPECT_TRUE(Allocator(store()).networks().empty());
  add_at(netcfg("net-b", "10.2.0.0/24"), "c1", "net1");
  add_at(netcfg("net-a", "10.1.0.0/24"), "c1", "eth0");
  add_at(netcfg("net-a", "10.1.0.0/24"), "c2", "eth0");
  // Two networks sharing one pool are two networks.
  add_at(netcfg("net-c", "10.3.0.0/24", {{"pool", "shared"}}), "c1", "net2");
  add_at(netcfg("net-d", "10.3.0.0/24", {{"pool", "shared"}}), "c2", "net2");
  Allocator alloc(store());
  EXPECT_EQ(alloc.networks(), (V{"net-a", "net-b", "net-c", "net-d"}));
  alloc.release("net-b", "c1", "net1");
  EXPECT_EQ(alloc.networks(), (V{"net-a", "net-c", "net-d"}));
}

TEST_P(StoreConformance, GcStoreFreesEveryAllocationNotBoundToALiveAttachment) {
  auto cluster = netcfg("cluster", "10.1.0.0/24");
  auto nad = netcfg("ns1-storage", "10.2.0.0/24");  // a NAD network no config names any more
  add_at(cluster, "c1", "eth0");
  add_at(cluster, "c2", "eth0");
  add_at(nad, "c1", "net1");
  add_at(nad, "c3", "net1");
  add_at(nad, "c1", "net2");  // same container, an interface that is not live
  LiveAttachments live = {{"cluster", "c1", "eth0"},
                          {"ns1-storage", "c1", "net1"},
                          {"ns1-storage", "c2", "eth0"},  // c2 is live only on another network
                          {"gone", "c9", "eth0"}};        // listed, holds nothing: fine
  auto freed = Allocator(store()).gc_store(live);
  EXPECT_EQ(freed, (std::map<std::string, size_t>{{"cluster", 1}, {"ns1-storage", 2}}));
  EXPECT_EQ(left(), (V{"cluster c1 eth0", "ns1-storage c1 net1"}));
  // Nothing left to free: a second run frees nothing.
  EXPECT_TRUE(Allocator(store()).gc_store(live).empty());
}

TEST_P(StoreConformance, GcStoreStickyAllocationsAreKeptOnlyWhileBoundToALiveAttachment) {
  auto sticky = netcfg("db", "10.4.0.0/24", {{"sticky", true}});
  add_at(sticky, "c1", "net1", "ns/db-0");
  add_at(sticky, "c2", "net1", "ns/db-1");
  add_at(sticky, "c3", "net1", "ns/db-2");
  Allocator alloc(store());
  alloc.release("db", "c2", "net1");  // stopped StatefulSet pod: unbound, still reserved
  ASSERT_EQ(left().size(), 3u);
  auto freed = alloc.gc_store({{"db", "c1", "net1"}});
  EXPECT_EQ(freed, (std::map<std::string, size_t>{{"db", 2}}));  // unbound db-1, dead db-2
  EXPECT_EQ(left(), (V{"db c1 net1"}));
}

TEST_P(StoreConformance, GcStoreNetworksSharingAPoolAreCollectedPerNetwork) {
  auto a = netcfg("net-a", "10.5.0.0/24", {{"pool", "shared"}});
  auto b = netcfg("net-b", "10.5.0.0/24", {{"pool", "shared"}});
  add_at(a, "c1", "net1");
  add_at(b, "c1", "net2");
  auto freed = Allocator(store()).gc_store({{"net-a", "c1", "net1"}});
  EXPECT_EQ(freed, (std::map<std::string, size_t>{{"net-b", 1}}));
  EXPECT_EQ(left(), (V{"net-a c1 net1"}));
}

const Backend kBackends[] = {
    {"sqlite", true, false, [] { return std::make_unique<SqliteHarness>(); }},
    {"fake", false, true, [] { return std::make_unique<FakeHarness>(); }},
    {"etcd", true, true, [] { return std::make_unique<EtcdHarness>(); }},
    {"etcd_blocks", true, true, [] { return std::make_unique<EtcdHarness>(4); }},
};
INSTANTIATE_TEST_SUITE_P(Stores, StoreConformance, ::testing::ValuesIn(kBackends), backend_name);

}  // namespace
}  // namespace ipam
