// Allocator processes doing ADD/DEL cycles on one small pool of a real etcd: 8 x 50 on one
// member (16 x 200 with CNIMUX_IPAM_SOAK=1, which `make soak` runs), without and with
// per-node blocks, and on a three-member cluster that loses a follower, or its leader,
// during the run. No address is ever owned by two allocators at
// once, judged from every allocator's own log of what it got and released (with the
// system-wide monotonic clock), and by scanning etcd at the end: exactly what the
// allocators still hold, each address once, with consistent index keys.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "etcd_server.h"
#include "ipam/allocator.h"
#include "ipam/etcd_store.h"
#include "ipam/ipam_plugin.h"
#include "ipam_test_util.h"

namespace ipam {
namespace {

using nlohmann::json;

ipam_test::EtcdServer& shared_etcd() {
  static ipam_test::EtcdServer server;
  return server;
}

int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// One time an allocator owned an address: from just after allocate() returned to just
// before release() was called (a subset of the time etcd recorded it as its owner, so two
// of these overlapping means two allocators believed they held one address at once).
struct Ownership {
  std::string address;
  std::string owner;  // "p<process>c<cycle>"
  int64_t got = 0;
  int64_t released = std::numeric_limits<int64_t>::max();  // still held
};

class EtcdConcurrencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!ipam_test::EtcdCluster::available()) {
      GTEST_SKIP() << "etcd is not installed (Debian etcd-server; scripts/install-deps.sh)";
    }
    static std::atomic<int> n{0};
    prefix_ = "/cxec" + std::to_string(::getpid()) + "-" + std::to_string(n++);
    ASSERT_EQ(::pipe2(progress_, O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(gate_, O_CLOEXEC), 0);
  }
  void TearDown() override {
    for (pid_t pid : pids_) {  // a failed assertion left children running: end them
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    for (int fd : {progress_[0], progress_[1], gate_[0], gate_[1]}) {
      if (fd >= 0) ::close(fd);
    }
  }

  EtcdStoreConfig store_config(const std::vector<std::string>& endpoints, int process) {
    EtcdStoreConfig c;
    c.endpoints = endpoints;
    c.prefix = prefix_;
    c.cluster = "east";
    c.node = "node-" + std::to_string(process);
    c.timeout_ms = 60000;  // generous: a loaded CI machine, and an election in the run
    c.block_size = block_size_;
    return c;
  }

  // procs + 2 addresses (.1 - .10 for 8 allocators), fewer than two per allocator: heavy
  // reuse of every address. (Each allocator holds one address at most at a time and keeps
  // its last, so fewer addresses than allocators would exhaust the pool.)
  IpamConfig pool_config(int procs) {
    json j = ipam_test::netconf("cxecnet",
                                {{{{"subnet", "10.78.0.0/24"},
                                   {"rangeStart", "10.78.0.1"},
                                   {"rangeEnd", "10.78.0." + std::to_string(procs + 2)},
                                   {"gateway", "10.78.0.254"}}}},
                                "/nonexistent/ipam.db");
    j["ipam"]["pool"] = "small";
    return parse_ipam_config(j);
  }

  // Forks `procs` allocators, each doing `cycles` ADD/DEL cycles (the last ADD is kept) and
  // logging "got|rel <container> <address> <ns>" lines to dir/log<p>. Each writes a byte to
  // the progress pipe per cycle; at cycle `gate_cycle` each waits until open_gate().
  void start_allocators(const ipam_test::TempDir& dir, const std::vector<std::string>& endpoints,
                        int procs, int cycles, int gate_cycle) {
    procs_ = procs;
    cycles_ = cycles;
    IpamConfig cfg = pool_config(procs);
    for (int p = 0; p < procs; ++p) {
      pid_t pid = ::fork();
      if (pid == 0) {
        ::close(progress_[0]);
        ::close(gate_[1]);
        ::_exit(run_allocator(dir.file("log" + std::to_string(p)), endpoints, cfg, p, cycles,
                              gate_cycle));
      }
      pids_.push_back(pid);
    }
    ::close(progress_[1]);  // the children hold the write ends: EOF once they all exit
    progress_[1] = -1;
  }

  // Lets the allocators past their gate cycle (they read EOF).
  void open_gate() {
    ::close(gate_[1]);
    gate_[1] = -1;
  }

  int run_allocator(const std::string& log_path, const std::vector<std::string>& endpoints,
                    const IpamConfig& cfg, int p, int cycles, int gate_cycle) {
    FILE* log = std::fopen(log_path.c_str(), "w");
    if (!log) return 2;
    int rc = 0;
    try {
      EtcdStore store(store_config(endpoints, p));
      Allocator alloc(store);
      for (int i = 0; i < cycles; ++i) {
        if (i == gate_cycle) {
          char c;
          while (::read(gate_[0], &c, 1) != 0) {
          }
        }
        std::string cid = "p" + std::to_string(p) + "c" + std::to_string(i);
        auto got = alloc.allocate(cfg, {cfg.network, cid, "eth0", ""});
        std::fprintf(log, "got %s %s %lld\n", cid.c_str(), got.at(0).address.str().c_str(),
                     static_cast<long long>(now_ns()));
        if (i + 1 < cycles) {
          std::fprintf(log, "rel %s %s %lld\n", cid.c_str(), got.at(0).address.str().c_str(),
                       static_cast<long long>(now_ns()));
          std::fflush(log);  // before the release commits: the log never lags the truth
          alloc.release(cfg.network, cid, "eth0");
        }
        if (::write(progress_[1], "c", 1) != 1) throw std::runtime_error("progress pipe");
      }
    } catch (const std::exception& e) {
      std::fprintf(log, "error %s\n", e.what());
      std::fprintf(stderr, "allocator %d: %s\n", p, e.what());
      rc = 1;
    }
    std::fclose(log);
    return rc;
  }

  void wait_allocators() {
    for (pid_t pid : pids_) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "allocator " << pid;
    }
    pids_.clear();
  }

  // Blocks until `n` cycles have finished in all; false if every allocator exited first.
  bool wait_cycles(int n) {
    char buf[64];
    for (int done = 0; done < n;) {
      ssize_t got = ::read(progress_[0], buf, std::min<int>(sizeof buf, n - done));
      if (got <= 0) return false;
      done += static_cast<int>(got);
    }
    return true;
  }

  // Runs 8 allocators on a three-member cluster, every one talking to member `victim` first,
  // kills that member after a quarter of their cycles, and lets them finish; their last
  // quarter waits for the kill, so allocations are made after it. Checks logs and etcd.
  void run_with_member_killed(ipam_test::EtcdCluster& cluster, size_t victim) {
    std::vector<std::string> endpoints = {cluster.endpoint(victim),
                                          cluster.endpoint((victim + 1) % 3),
                                          cluster.endpoint((victim + 2) % 3)};
    ipam_test::TempDir dir;
    constexpr int kProcs = 8, kCycles = 40;
    start_allocators(dir, endpoints, kProcs, kCycles, kCycles * 3 / 4);
    ASSERT_TRUE(wait_cycles(kProcs * kCycles / 4)) << "the allocators failed before the kill";
    cluster.stop(victim);
    int64_t killed = now_ns();
    open_gate();
    wait_allocators();
    auto owned = check_logs(dir);
    size_t after = std::count_if(owned.begin(), owned.end(),
                                 [&](const Ownership& o) { return o.got > killed; });
    EXPECT_GE(after, size_t(kProcs * kCycles / 4)) << "allocations stopped with the member";
    check_etcd(endpoints, owned);
  }

  // Reads every log; fails on a log error or two overlapping ownerships of one address.
  std::vector<Ownership> check_logs(const ipam_test::TempDir& dir) {
    std::vector<Ownership> all;
    for (int p = 0; p < procs_; ++p) {
      std::ifstream in(dir.file("log" + std::to_string(p)));
      std::map<std::string, size_t> open;  // owner -> index in `all`
      std::string line;
      int got = 0;
      while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string verb, owner, address;
        long long ns = 0;
        words >> verb >> owner >> address >> ns;
        if (verb == "got") {
          open[owner] = all.size();
          all.push_back({address, owner, ns});
          ++got;
        } else if (verb == "rel") {
          EXPECT_TRUE(open.count(owner)) << line;
          all[open[owner]].released = ns;
          open.erase(owner);
        } else {
          ADD_FAILURE() << "allocator " << p << ": " << line;
        }
      }
      EXPECT_EQ(got, cycles_) << "allocator " << p << " did not finish its cycles";
    }
    std::map<std::string, std::vector<const Ownership*>> by_address;
    for (const auto& o : all) by_address[o.address].push_back(&o);
    for (auto& [address, owners] : by_address) {
      std::sort(owners.begin(), owners.end(),
                [](const Ownership* a, const Ownership* b) { return a->got < b->got; });
      for (size_t i = 1; i < owners.size(); ++i) {
        EXPECT_GE(owners[i]->got, owners[i - 1]->released)
            << address << " owned by " << owners[i - 1]->owner << " and " << owners[i]->owner
            << " at once";
      }
    }
    return all;
  }

  // etcd at the end holds exactly what the logs say is still held, each address once, and
  // every record agrees with its index keys.
  void check_etcd(const std::vector<std::string>& endpoints, const std::vector<Ownership>& owned) {
    std::map<std::string, std::string> held;  // address -> container ID
    for (const auto& o : owned) {
      if (o.released == std::numeric_limits<int64_t>::max()) held[o.address] = o.owner;
    }
    EXPECT_EQ(held.size(), size_t(procs_)) << "two allocators ended holding one address";
    EtcdStore store(store_config(endpoints, -1));
    std::map<std::string, std::string> in_etcd;
    for (const auto& a : store.list_all()) {
      EXPECT_TRUE(in_etcd.emplace(a.address.str(), a.owner.container_id).second)
          << a.address.str() << " recorded twice";
    }
    EXPECT_EQ(in_etcd, held);
    EXPECT_EQ(store.verify(), std::vector<std::string>{});
  }

  // The soak size with CNIMUX_IPAM_SOAK=1 in the environment, else the make-test size.
  void run_one_member() {
    bool soak = std::getenv("CNIMUX_IPAM_SOAK") != nullptr;
    const int procs = soak ? 16 : 8, cycles = soak ? 200 : 50;
    ipam_test::TempDir dir;
    std::vector<std::string> endpoints = {shared_etcd().endpoint()};  // started before fork()
    start_allocators(dir, endpoints, procs, cycles, -1);
    wait_allocators();
    auto owned = check_logs(dir);
    EXPECT_EQ(owned.size(), size_t(procs * cycles));
    check_etcd(endpoints, owned);
  }

  std::string prefix_;
  int block_size_ = 0;
  int progress_[2] = {-1, -1};
  int gate_[2] = {-1, -1};
  std::vector<pid_t> pids_;
  int procs_ = 0;
  int cycles_ = 0;
};

TEST_F(EtcdConcurrencyTest, AllocatorProcessesNeverOwnOneAddressTwice) {
  run_one_member();
}

// Each allocator is a node with blocks of 2: the 10 addresses make 6 blocks (.1 and .10
// alone in theirs) for 8 nodes (10 blocks for 16 nodes and 18 addresses in the soak), so
// nodes claim, hand back and borrow all the time.
TEST_F(EtcdConcurrencyTest, AllocatorProcessesWithBlocksNeverOwnOneAddressTwice) {
  block_size_ = 2;
  run_one_member();
}

TEST_F(EtcdConcurrencyTest, FollowerKilledDuringARunAllocationsContinue) {
  ipam_test::EtcdCluster cluster(3);
  int lead = cluster.leader();
  ASSERT_GE(lead, 0) << "no leader elected";
  run_with_member_killed(cluster, (lead + 1) % 3);
}

TEST_F(EtcdConcurrencyTest, LeaderKilledDuringARunNothingDuplicatedOrLost) {
  ipam_test::EtcdCluster cluster(3);
  int lead = cluster.leader();
  ASSERT_GE(lead, 0) << "no leader elected";
  // Requests in flight to the leader when it dies may have committed or not.
  run_with_member_killed(cluster, lead);
  int now = cluster.leader();
  EXPECT_GE(now, 0) << "the survivors elected no leader";
  EXPECT_NE(now, lead);
}

}  // namespace
}  // namespace ipam
