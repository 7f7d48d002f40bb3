// A file-backed cache of plugin binaries' VERSION answers, keyed by the binary's identity,
// so the meta plugin does not run VERSION (~2 ms per Go plugin) on every ADD.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace cni {

// What identifies one build of a binary: a rebuilt or replaced file differs in at least one.
struct BinaryId {
  std::string path;
  int64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;

  // stat()s `path` (following symlinks); nullopt when it cannot.
  static std::optional<BinaryId> of(const std::string& path);
  bool operator==(const BinaryId&) const = default;
};

// Thread-safe. The file is read once, on first lookup; every store() merges this process's
// entries into what the file holds now and rewrites it atomically (temp, rename, 0600; no
// fsync: it is rebuilt by probing), so concurrent processes lose at most each other's newest
// entry (last writer wins).
// A corrupt or unreadable file is ignored and rewritten. Storage errors are logged, never
// thrown: the cache only saves time.
class VersionCache {
 public:
  // `file` empty: memory only, nothing is ever written.
  explicit VersionCache(std::string file);

  // The cached versions for exactly this build of the binary, or nullopt.
  std::optional<std::vector<std::string>> lookup(const BinaryId& id);
  // Records an answer; replaces whatever was cached for id.path.
  void store(const BinaryId& id, const std::vector<std::string>& versions);

  // Counters for tests and debug logs.
  size_t hits() const;
  size_t misses() const;
  const std::string& file() const { return file_; }

 private:
  struct Entry {
    BinaryId id;
    std::vector<std::string> versions;
  };
  using Entries = std::map<std::string, Entry>;  // by path

  void load_locked();
  Entries read_file() const;
  void write_file(const Entries& entries) const;

  const std::string file_;
  mutable std::mutex mu_;
  bool loaded_ = false;
  Entries entries_;
  Entries stored_;  // what this process learnt; survives merges with the file
  size_t hits_ = 0;
  size_t misses_ = 0;
};

}  // namespace cni
