// The VERSION answer cache: a JSON file {"version":1,"plugins":{path:{size,mtimeNs,inode,
// supportedVersions}}}, read once and rewritten atomically (not flushed) on every new probe.
#include "cni/version_cache.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "cni/error.h"
#include "cni/json_limits.h"
#include "cni/state_file.h"

namespace cni {
namespace {

using nlohmann::json;

constexpr int kFormatVersion = 1;
constexpr size_t kMaxCacheBytes = 4u << 20;

// A temp name unique across processes and threads of this process: writers of the cache
// hold no lock, so each needs its own.
std::string temp_name(const std::string& file) {
  static std::atomic<unsigned> counter{0};
  return file + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

}  // namespace

std::optional<BinaryId> BinaryId::of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  BinaryId id;
  id.path = path;
  id.size = st.st_size;
  id.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  id.inode = st.st_ino;
  return id;
}

VersionCache::VersionCache(std::string file) : file_(std::move(file)) {}

std::optional<std::vector<std::string>> VersionCache::lookup(const BinaryId& id) {
  std::lock_guard<std::mutex> lock(mu_);
  load_locked();
  auto it = entries_.find(id.path);
  if (it == entries_.end() || !(it->second.id == id)) {
    ++misses_;
    return std::nullopt;
  }
  ++hits_;
  return it->second.versions;
}

void VersionCache::store(const BinaryId& id, const std::vector<std::string>& versions) {
  std::lock_guard<std::mutex> lock(mu_);
  load_locked();
  stored_[id.path] = Entry{id, versions};
  if (file_.empty()) {
    entries_[id.path] = stored_[id.path];
    return;
  }
  // Merge with what other processes wrote since we read the file; ours win.
  Entries merged = read_file();
  for (const auto& [path, entry] : stored_) merged[path] = entry;
  entries_ = merged;
  try {
    write_file(merged);
  } catch (const std::exception& e) {
    spdlog::warn("delegate version cache {} not written: {}", file_, e.what());
  }
}

size_t VersionCache::hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hits_;
}

size_t VersionCache::misses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return misses_;
}

void VersionCache::load_locked() {
  if (loaded_) return;
  loaded_ = true;
  if (!file_.empty()) entries_ = read_file();
}

VersionCache::Entries VersionCache::read_file() const {
  Entries out;
  std::optional<std::string> bytes;
  try {
    bytes = read_state_file(file_, kMaxCacheBytes);
  } catch (const Error& e) {
    spdlog::warn("delegate version cache ignored: {}", e.msg());
    return out;
  }
  if (!bytes) return out;  // absent: nothing cached yet
  try {
    json j = parse_json(*bytes, file_, kDecodeFailure);
    if (json_integer_or<int>(j, "version", 0) != kFormatVersion) return out;
    for (const auto& [path, e] : j.at("plugins").items()) {
      Entry entry;
      entry.id.path = path;
      entry.id.size = json_integer<int64_t>(e.at("size"), "size");
      entry.id.mtime_ns = json_integer<int64_t>(e.at("mtimeNs"), "mtimeNs");
      entry.id.inode = json_integer<uint64_t>(e.at("inode"), "inode");
      entry.versions = e.at("supportedVersions").get<std::vector<std::string>>();
      out[path] = std::move(entry);
    }
  } catch (const std::exception& e) {  // bad JSON (cni::Error) or a bad shape (json's)
    spdlog::warn("delegate version cache {} is corrupt, ignoring it: {}", file_, e.what());
    return {};
  }
  return out;
}

void VersionCache::write_file(const Entries& entries) const {
  json plugins = json::object();
  for (const auto& [path, e] : entries) {
    plugins[path] = {{"size", e.id.size},
                     {"mtimeNs", e.id.mtime_ns},
                     {"inode", e.id.inode},
                     {"supportedVersions", e.versions}};
  }
  const std::string data = json{{"version", kFormatVersion}, {"plugins", plugins}}.dump();

  const std::filesystem::path dir = std::filesystem::path(file_).parent_path();
  if (!dir.empty() && !std::filesystem::exists(dir)) ensure_private_dir(dir.string(), kIoFailure);
  // Atomic but not flushed: the cache can always be rebuilt by probing again, and a file a
  // power loss tore is read as corrupt and ignored, so a flush would only cost two disk
  // syncs on the call that first meets a plugin.
  write_state_file(file_, temp_name(file_), data, /*durable=*/false);
}

}  // namespace cni
