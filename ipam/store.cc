// open_store: the factory behind ipam::Store, caching one open store per type and location.
#include "ipam/store.h"

#include <sys/stat.h>

#include <map>
#include <mutex>

#include "cni/error.h"
#include "ipam/etcd_store.h"
#include "ipam/sqlite_store.h"

namespace ipam {
namespace {

// What identifies one store: two configs with the same key share one open store.
std::string cache_key(const StoreConfig& cfg) {
  if (cfg.type != "etcd") return cfg.type + ":" + cfg.path;
  const EtcdStoreConfig& e = cfg.etcd;
  std::string key = "etcd:" + e.prefix + "|" + e.cluster + "|" + e.node + "|" + e.username + "|" +
                    std::to_string(e.block_size);
  for (const auto& ep : e.endpoints) key += "|" + ep;
  return key;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

std::optional<Address> StoreTxn::pick_free(const std::string& pool, int set,
                                           const RangeSetSpace& space) {
  auto found = space.find_free(
      cursor(pool, set), [&](const Address& f, const Address& t) { return scan_held(pool, f, t); });
  if (found) set_cursor(pool, set, *found);
  return found;
}

std::shared_ptr<Store> open_store(const StoreConfig& cfg, OpenMode mode) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<Store>> open;
  std::lock_guard<std::mutex> lock(mu);
  std::string key = cache_key(cfg);
  if (auto it = open.find(key); it != open.end()) return it->second;
  std::shared_ptr<Store> store;
  if (cfg.type == "sqlite") {
    // Nothing was ever allocated where no database exists; do not create one to find out.
    if (mode == OpenMode::kExisting && !file_exists(cfg.path)) return nullptr;
    store = std::make_shared<SqliteStore>(cfg);
  } else if (cfg.type == "etcd") {
    store = std::make_shared<EtcdStore>(cfg.etcd);
  } else {
    throw cni::Error(cni::kInvalidConfig,
                     "ipam.store.type \"" + cfg.type + "\": unknown store (known: sqlite, etcd)");
  }
  open.emplace(key, store);
  return store;
}

}  // namespace ipam
