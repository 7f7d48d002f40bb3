// cnimux-ipam-bench-alloc: allocations per second with N concurrent allocator processes on
// one pool, for any store a network config names (SQLite, etcd), and a check that no
// address was handed out twice. Benchmarks only (scripts/bench_ipam.sh).
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "cni/error.h"
#include "ipam/allocator.h"
#include "ipam/config.h"
#include "ipam/store.h"

namespace {

// One allocator: opens its own store handle, says so on `ready`, waits for the start signal
// (EOF on `start`), then makes `count` allocations. Exit status 0 when all succeeded.
int allocator(const ipam::IpamConfig& cfg, int ready, int start, int index, int count) {
  try {
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
    int start[2], ready[2];
    if (::pipe(start) != 0 || ::pipe(ready) != 0) throw std::runtime_error("pipe failed");
    std::vector<pid_t> pids;
    for (int p = 0; p < procs; ++p) {
      pid_t pid = ::fork();
      if (pid == 0) {
        ::close(start[1]);
        ::close(ready[0]);
        ::_exit(allocator(cfg, ready[1], start[0], p, each));
      }
      pids.push_back(pid);
    }
    ::close(start[0]);
    ::close(ready[1]);
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
    auto all = ipam::open_store(cfg.store)->list_all();
    std::set<std::string> distinct;
    for (const auto& a : all) distinct.insert(a.pool + " " + a.address.str());
    const bool duplicates = distinct.size() != all.size();
    nlohmann::json out = {{"procs", procs},
                          {"allocations", static_cast<int>(all.size())},
                          {"seconds", seconds},
                          {"per_second", all.size() / seconds},
                          {"failed_processes", failed},
                          {"duplicates", duplicates}};
    std::cout << out.dump() << "\n";
    return failed == 0 && !duplicates && static_cast<int>(all.size()) == each * procs ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "cnimux-ipam-bench-alloc: " << e.what() << "\n";
    return 1;
  }
}
