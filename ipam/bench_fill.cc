// cnimux-ipam-bench-fill: pre-fills an IPAM store with N allocations in one transaction,
// through the library API, so benchmarks start from a realistically full pool.
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cni/error.h"
#include "ipam/allocator.h"
#include "ipam/config.h"
#include "ipam/store.h"

int main(int argc, char** argv) {
  CLI::App app{"Pre-fill a cnimux-ipam store with allocations (benchmarks only)"};
  std::string config_path;
  int count = 0;
  std::string prefix = "fill";
  app.add_option("--config", config_path, "network config JSON, as the plugin reads on stdin")
      ->required();
  app.add_option("--count", count, "allocations to make")->required()->check(CLI::PositiveNumber);
  app.add_option("--prefix", prefix, "container ID prefix of the fake owners");
  CLI11_PARSE(app, argc, argv);
  try {
    std::ifstream in(config_path);
    if (!in) throw cni::Error(cni::kIoFailure, "cannot read --config " + config_path);
    auto cfg = ipam::parse_ipam_config(nlohmann::json::parse(in));
    std::vector<ipam::Owner> owners;
    for (int i = 0; i < count; ++i) {
      owners.push_back({cfg.network, prefix + "-" + std::to_string(i), "eth0", ""});
    }
    auto store = ipam::open_store(cfg.store);
    ipam::Allocator(*store).allocate_many(cfg, owners);
    std::cerr << "allocated " << count << " addresses in pool \"" << cfg.pool << "\" of "
              << store->describe() << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "cnimux-ipam-bench-fill: " << e.what() << "\n";
    return 1;
  }
}
