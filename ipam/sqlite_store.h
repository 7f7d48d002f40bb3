// The embedded IPAM store: one SQLite database per node, shared by every process through
// WAL mode and immediate write transactions, so concurrent ADDs never hand out an address
// twice and a process killed at any instant leaves either no allocation or a complete one.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ipam/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ipam {

class SqliteStore : public Store {
 public:
  // Opens or creates the database at cfg.path. Missing directories are created 0700, the
  // database file (and so its -wal and -shm files) is 0600. Throws Error(kInvalidConfig)
  // when the path is unsafe (see prepare_store_file in ipam/store_files.h: symlinks, hard
  // links, a directory others may write), Error(kIoFailure) naming the path when it cannot
  // be opened, Error(kTryAgainLater) when another process holds it locked for longer than
  // cfg.busy_timeout_ms.
  explicit SqliteStore(const StoreConfig& cfg);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  void transact(const std::function<void(StoreTxn&)>& fn) override;
  std::vector<Allocation> list_all() override;
  void probe() override;
  std::string describe() const override { return "sqlite:" + cfg_.path; }
  // PRAGMA integrity_check and the store's own invariants (every record has an owner, keys
  // are 16 bytes, cursors are well formed).
  std::vector<std::string> verify() override;

  // A cached statement in use. Its destructor resets it, so no half-stepped statement keeps
  // a read transaction open (which would stop WAL checkpoints) after its user is done.
  class StatementLease {
   public:
    explicit StatementLease(sqlite3_stmt* st) : st_(st) {}
    ~StatementLease();
    StatementLease(const StatementLease&) = delete;
    StatementLease& operator=(const StatementLease&) = delete;
    operator sqlite3_stmt*() const { return st_; }

   private:
    sqlite3_stmt* st_;
  };
  // The cached statement for `sql`, prepared on first use, reset and with bindings cleared.
  StatementLease statement(const std::string& sql);
  // Throws the Error for SQLite result code `rc` during `what`.
  [[noreturn]] void fail(int rc, const std::string& what) const;
  sqlite3* db() const { return db_; }

 private:
  void open_database();
  void enable_wal();
  void create_schema();
  int schema_version();
  static int wal_hook(void* self, sqlite3* db, const char* schema, int frames);
  void exec(const char* sql, const std::string& what);

  StoreConfig cfg_;
  std::string open_path_;  // cfg_.path with its directory resolved, as SQLite opens it
  sqlite3* db_ = nullptr;
  std::mutex mu_;  // one transaction at a time per connection
  std::map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace ipam
