// open_store: the factory behind ipam::Store, caching one open store per type and path.
#include "ipam/store.h"

#include <map>
#include <mutex>

#include "cni/error.h"
#include "ipam/sqlite_store.h"

namespace ipam {

std::shared_ptr<Store> open_store(const StoreConfig& cfg) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<Store>> open;
  std::lock_guard<std::mutex> lock(mu);
  std::string key = cfg.type + ":" + cfg.path;
  if (auto it = open.find(key); it != open.end()) return it->second;
  if (cfg.type != "sqlite") {
    throw cni::Error(cni::kInvalidConfig,
                     "ipam.store.type \"" + cfg.type + "\": unknown store (known: sqlite)");
  }
  auto store = std::make_shared<SqliteStore>(cfg);
  open.emplace(key, store);
  return store;
}

}  // namespace ipam
