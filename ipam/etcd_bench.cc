// cnimux-ipam-bench-alloc: allocations per second with N concurrent allocator processes on
// one pool, for any store a network config names (SQLite, etcd with or without per-node
// blocks), and a check that no address was handed out twice. With etcd each allocator is a
// node of its own ("<node>-<index>"), as allocators on different nodes are what per-node
// blocks are for; the etcd requests and conflicts are counted (load-independent figures).
// Benchmarks only (scripts/bench_ipam.sh).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cni/error.h"
#include "ipam/allocator.h"
#include "ipam/config.h"
#include "ipam/etcd_store.h"
#include "ipam/store.h"

namespace {

// One allocator: opens its own store handle, says so on `ready`, waits for the start signal
// (EOF on `start`), then makes `count` allocations and writes its etcd counts to `stats`
// ("transactions runs requests\n"). Exit status 0 when all succeeded.
int allocator(ipam::IpamConfig cfg, int ready, int start, int stats, int index, int count) {
  try {
    if (cfg.store.type == "etcd") cfg.store.etcd.node += "-" + std::to_string(index);
    auto store = ipam::open_store(cfg.store);
    ipam::Allocator alloc(*store);
    char c = 'r';
    if (::write(ready, &c, 1) != 1) return 1;
    ::close(ready);
    while (::read(start, &c, 1) > 0) {
    }
    for (int i = 0; i < count; ++i) {
      alloc.allocate(
          cfg, {cfg.network, "b" + std::to_string(index) + "-" + std::to_string(i), "eth0", ""});
    }
    if (auto* etcd = dynamic_cast<ipam::EtcdStore*>(store.get())) {
      const auto& st = etcd->stats();
      std::string line = std::to_string(st.transactions) + " " + std::to_string(st.runs) + " " +
                         std::to_string(st.requests) + "\n";
      if (::write(stats, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "allocator " << index << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Concurrent allocations against one IPAM store (benchmarks only)"};
  std::string config_path;
  int procs = 1;
  int total = 0;
  app.add_option("--config", config_path, "network config JSON, as the plugin reads on stdin")
      ->required();
  app.add_option("--procs", procs, "concurrent allocator processes")->check(CLI::PositiveNumber);
  app.add_option("--total", total, "allocations in all (split evenly)")
      ->required()
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  try {
    std::ifstream in(config_path);
    if (!in) throw cni::Error(cni::kIoFailure, "cannot read --config " + config_path);
    auto cfg = ipam::parse_ipam_config(nlohmann::json::parse(in));
    const int each = (total + procs - 1) / procs;
    int start[2], ready[2], stats[2];
    if (::pipe(start) != 0 || ::pipe(ready) != 0 || ::pipe(stats) != 0) {
      throw std::runtime_error("pipe failed");
    }
    std::vector<pid_t> pids;
    for (int p = 0; p < procs; ++p) {
      pid_t pid = ::fork();
      if (pid == 0) {
        ::close(start[1]);
        ::close(ready[0]);
        ::close(stats[0]);
        ::_exit(allocator(cfg, ready[1], start[0], stats[1], p, each));
      }
      pids.push_back(pid);
    }
    ::close(start[0]);
    ::close(ready[1]);
    ::close(stats[1]);
    // The clock starts when every child has opened its store and they are let go together,
    // so process start-up is not measured.
    char buf[64];
    for (int n = 0; n < procs;) {
      ssize_t got = ::read(ready[0], buf, sizeof buf);
      if (got <= 0) break;  // a child failed before it was ready: it exits non-zero
      n += static_cast<int>(got);
    }
    auto t0 = std::chrono::steady_clock::now();
    ::close(start[1]);
    int failed = 0;
    for (pid_t pid : pids) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rusage children{};  // the allocators' CPU time, all reaped now
    ::getrusage(RUSAGE_CHILDREN, &children);
    const double cpu = static_cast<double>(children.ru_utime.tv_sec + children.ru_stime.tv_sec) +
                       (children.ru_utime.tv_usec + children.ru_stime.tv_usec) / 1e6;
    // Each line is one write of a few bytes (atomic on a pipe); all children have exited.
    uint64_t txns = 0, runs = 0, requests = 0;
    {
      std::string text;
      for (ssize_t got; (got = ::read(stats[0], buf, sizeof buf)) > 0;) text.append(buf, got);
      std::istringstream lines(text);
      for (uint64_t t, r, q; lines >> t >> r >> q;) {
        txns += t;
        runs += r;
        requests += q;
      }
    }
    auto all = ipam::open_store(cfg.store)->list_all();
    std::set<std::string> distinct;
    for (const auto& a : all) distinct.insert(a.pool + " " + a.address.str());
    const bool duplicates = distinct.size() != all.size();
    nlohmann::json out = {{"procs", procs},
                          {"allocations", static_cast<int>(all.size())},
                          {"seconds", seconds},
                          {"per_second", all.size() / seconds},
                          {"failed_processes", failed},
                          {"etcd_transactions", txns},
                          {"etcd_conflicts", runs - txns},
                          {"etcd_requests", requests},
                          {"allocator_cpu_seconds", cpu},
                          {"duplicates", duplicates}};
    std::cout << out.dump() << "\n";
    return failed == 0 && !duplicates && static_cast<int>(all.size()) == each * procs ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "cnimux-ipam-bench-alloc: " << e.what() << "\n";
    return 1;
  }
}
