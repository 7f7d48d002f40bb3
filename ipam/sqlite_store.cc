// SQLite implementation of ipam::Store: schema, pragmas, prepared statements, transactions.
#include "ipam/sqlite_store.h"

#include <sqlite3.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <thread>

#include "cni/error.h"
#include "cni/scope_guard.h"
#include "ipam/store_files.h"

namespace ipam {
namespace {

constexpr int kSchemaVersion = 1;  // PRAGMA user_version of a current database
// WAL frames after which a commit checkpoints and truncates the WAL. Every process that
// opens the store first scans the WAL (SQLite's recovery), so it must stay short.
constexpr int kCheckpointFrames = 64;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS allocations (
  pool TEXT NOT NULL,
  addr BLOB NOT NULL CHECK (length(addr) = 16),
  range_set INTEGER NOT NULL,
  prefix_len INTEGER NOT NULL,
  gateway TEXT NOT NULL,
  network TEXT NOT NULL,
  container_id TEXT NOT NULL,
  ifname TEXT NOT NULL,
  pod_ref TEXT NOT NULL,
  created INTEGER NOT NULL,
  CHECK (container_id <> '' OR pod_ref <> ''),
  PRIMARY KEY (pool, addr)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS allocations_by_container ON allocations (network, container_id, ifname);
CREATE INDEX IF NOT EXISTS allocations_by_pod ON allocations (network, pod_ref, ifname);
CREATE TABLE IF NOT EXISTS cursors (
  pool TEXT NOT NULL,
  range_set INTEGER NOT NULL,
  addr BLOB NOT NULL CHECK (length(addr) = 16),
  PRIMARY KEY (pool, range_set)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
)sql";

#define CNIMUX_ALLOC_COLUMNS \
  "pool, addr, range_set, prefix_len, gateway, network, container_id, ifname, pod_ref, created"

void bind_text(sqlite3_stmt* st, int i, const std::string& s) {
  sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
}

void bind_addr(sqlite3_stmt* st, int i, const Address& a) {
  auto key = a.key();
  sqlite3_bind_blob(st, i, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
}

std::string column_text(sqlite3_stmt* st, int i) {
  const unsigned char* p = sqlite3_column_text(st, i);
  return p ? reinterpret_cast<const char*>(p) : "";
}

Address column_addr(sqlite3_stmt* st, int i) {
  std::array<uint8_t, 16> key{};
  if (sqlite3_column_bytes(st, i) == 16) {
    std::memcpy(key.data(), sqlite3_column_blob(st, i), key.size());
  }
  return Address::from_key(key);
}

Allocation row_to_allocation(sqlite3_stmt* st) {
  Allocation a;
  a.pool = column_text(st, 0);
  a.address = column_addr(st, 1);
  a.range_set = sqlite3_column_int(st, 2);
  a.prefix_len = sqlite3_column_int(st, 3);
  std::string gw = column_text(st, 4);
  if (!gw.empty()) a.gateway = Address::parse(gw);
  a.owner.network = column_text(st, 5);
  a.owner.container_id = column_text(st, 6);
  a.owner.ifname = column_text(st, 7);
  a.owner.pod_ref = column_text(st, 8);
  a.created_unix = sqlite3_column_int64(st, 9);
  return a;
}

// The held addresses of one pool interval, stepping a dedicated statement.
class SqliteHeldScan : public HeldScan {
 public:
  SqliteHeldScan(SqliteStore& store, sqlite3_stmt* st) : store_(store), st_(st) {}
  ~SqliteHeldScan() override { sqlite3_finalize(st_); }
  std::optional<Address> next() override {
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_DONE) return std::nullopt;
    if (rc != SQLITE_ROW) store_.fail(rc, "scan held addresses");
    return column_addr(st_, 0);
  }

 private:
  SqliteStore& store_;
  sqlite3_stmt* st_;
};

class SqliteTxn : public StoreTxn {
 public:
  explicit SqliteTxn(SqliteStore& store) : store_(store) {}

  std::vector<Allocation> find_by_container(const std::string& network,
                                            const std::string& container_id,
                                            const std::string& ifname) override {
    auto st = store_.statement("SELECT " CNIMUX_ALLOC_COLUMNS
                               " FROM allocations WHERE network = ?1 AND container_id = ?2"
                               " AND ifname = ?3 ORDER BY range_set");
    bind_text(st, 1, network);
    bind_text(st, 2, container_id);
    bind_text(st, 3, ifname);
    return rows(st, "find allocations by container");
  }

  std::vector<Allocation> find_by_pod(const std::string& network, const std::string& pod_ref,
                                      const std::string& ifname) override {
    auto st = store_.statement("SELECT " CNIMUX_ALLOC_COLUMNS
                               " FROM allocations WHERE network = ?1 AND pod_ref = ?2"
                               " AND ifname = ?3 ORDER BY range_set");
    bind_text(st, 1, network);
    bind_text(st, 2, pod_ref);
    bind_text(st, 3, ifname);
    return rows(st, "find allocations by pod");
  }

  std::vector<Allocation> list_network(const std::string& network) override {
    auto st =
        store_.statement("SELECT " CNIMUX_ALLOC_COLUMNS " FROM allocations WHERE network = ?1");
    bind_text(st, 1, network);
    return rows(st, "list allocations of network");
  }

  std::vector<std::string> list_networks() override {
    // The (network, container_id, ifname) index makes this a skip over distinct keys.
    auto st = store_.statement("SELECT DISTINCT network FROM allocations ORDER BY network");
    std::vector<std::string> out;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) out.push_back(column_text(st, 0));
    if (rc != SQLITE_DONE) store_.fail(rc, "list networks");
    return out;
  }

  std::optional<Allocation> find_address(const std::string& pool, const Address& a) override {
    auto st = store_.statement("SELECT " CNIMUX_ALLOC_COLUMNS
                               " FROM allocations WHERE pool = ?1 AND addr = ?2");
    bind_text(st, 1, pool);
    bind_addr(st, 2, a);
    auto found = rows(st, "find allocation by address");
    if (found.empty()) return std::nullopt;
    return found.front();
  }

  std::unique_ptr<HeldScan> scan_held(const std::string& pool, const Address& from,
                                      const Address& to) override {
    sqlite3_stmt* st = nullptr;
    const char* sql =
        "SELECT addr FROM allocations WHERE pool = ?1 AND addr >= ?2 AND addr <= ?3"
        " ORDER BY addr";
    int rc = sqlite3_prepare_v2(store_.db(), sql, -1, &st, nullptr);
    if (rc != SQLITE_OK) store_.fail(rc, "prepare scan");
    bind_text(st, 1, pool);
    bind_addr(st, 2, from);
    bind_addr(st, 3, to);
    return std::make_unique<SqliteHeldScan>(store_, st);
  }

  std::optional<Address> cursor(const std::string& pool, int range_set) override {
    auto st = store_.statement("SELECT addr FROM cursors WHERE pool = ?1 AND range_set = ?2");
    bind_text(st, 1, pool);
    sqlite3_bind_int(st, 2, range_set);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) return std::nullopt;
    if (rc != SQLITE_ROW) store_.fail(rc, "read cursor");
    return column_addr(st, 0);
  }

  void set_cursor(const std::string& pool, int range_set, const Address& a) override {
    auto st = store_.statement(
        "INSERT INTO cursors (pool, range_set, addr) VALUES (?1, ?2, ?3)"
        " ON CONFLICT (pool, range_set) DO UPDATE SET addr = excluded.addr");
    bind_text(st, 1, pool);
    sqlite3_bind_int(st, 2, range_set);
    bind_addr(st, 3, a);
    done(st, "write cursor");
  }

  void insert(const Allocation& a) override {
    auto st = store_.statement("INSERT INTO allocations (" CNIMUX_ALLOC_COLUMNS
                               ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    bind_text(st, 1, a.pool);
    bind_addr(st, 2, a.address);
    sqlite3_bind_int(st, 3, a.range_set);
    sqlite3_bind_int(st, 4, a.prefix_len);
    bind_text(st, 5, a.gateway ? a.gateway->str() : "");
    bind_text(st, 6, a.owner.network);
    bind_text(st, 7, a.owner.container_id);
    bind_text(st, 8, a.owner.ifname);
    bind_text(st, 9, a.owner.pod_ref);
    sqlite3_bind_int64(st, 10, a.created_unix);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
      throw cni::Error(
          cni::kIpamAddressTaken,
          "address " + a.address.str() + " is already allocated in pool \"" + a.pool + "\"");
    }
    if (rc != SQLITE_DONE) store_.fail(rc, "insert allocation " + a.address.str());
  }

  void bind(const std::string& pool, const Address& a, const std::string& container_id) override {
    auto st =
        store_.statement("UPDATE allocations SET container_id = ?3 WHERE pool = ?1 AND addr = ?2");
    bind_text(st, 1, pool);
    bind_addr(st, 2, a);
    bind_text(st, 3, container_id);
    done(st, "bind allocation " + a.str());
  }

  void erase(const std::string& pool, const Address& a) override {
    auto st = store_.statement("DELETE FROM allocations WHERE pool = ?1 AND addr = ?2");
    bind_text(st, 1, pool);
    bind_addr(st, 2, a);
    done(st, "release allocation " + a.str());
  }

 private:
  std::vector<Allocation> rows(sqlite3_stmt* st, const char* what) {
    std::vector<Allocation> out;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) out.push_back(row_to_allocation(st));
    if (rc != SQLITE_DONE) store_.fail(rc, what);
    return out;
  }

  void done(sqlite3_stmt* st, const std::string& what) {
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) store_.fail(rc, what);
  }

  SqliteStore& store_;
};

}  // namespace

SqliteStore::SqliteStore(const StoreConfig& cfg) : cfg_(cfg) {
  open_path_ = prepare_store_file(cfg_.path);
  open_database();
  try {
    enable_wal();
    create_schema();
  } catch (...) {
    for (auto& [sql, st] : statements_) sqlite3_finalize(st);
    statements_.clear();
    sqlite3_close_v2(db_);
    throw;
  }
}

SqliteStore::~SqliteStore() {
  for (auto& [sql, st] : statements_) sqlite3_finalize(st);
  sqlite3_close_v2(db_);
}

void SqliteStore::fail(int rc, const std::string& what) const {
  int primary = rc & 0xff;
  std::string msg = "ipam store " + cfg_.path + ": " + what + ": " +
                    (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    throw cni::Error(cni::kTryAgainLater, msg + " (locked by another process for over " +
                                              std::to_string(cfg_.busy_timeout_ms) + " ms)");
  }
  throw cni::Error(cni::kIoFailure, msg);
}

void SqliteStore::open_database() {
  // NOFOLLOW: SQLite refuses a symlink in the path (open_path_'s directory is resolved
  // already) and opens the -wal and -shm files with O_NOFOLLOW too.
  int rc = sqlite3_open_v2(
      open_path_.c_str(), &db_,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
      nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw cni::Error(cni::kIoFailure, "ipam store " + cfg_.path + ": open: " + msg);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, cfg_.busy_timeout_ms);
  // A plugin process opens the store, commits once and exits. Checkpointing at every close
  // would cost fsyncs and a WAL unlink per call; instead the WAL stays, and wal_hook folds
  // it back and truncates it once it has grown, so each opener's recovery scan stays short.
  sqlite3_db_config(db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  sqlite3_wal_hook(db_, &SqliteStore::wal_hook, this);
}

int SqliteStore::wal_hook(void* self, sqlite3* db, const char* schema, int frames) {
  if (frames < kCheckpointFrames) return SQLITE_OK;
  // Never wait for other processes here: if one is reading, a later commit checkpoints.
  sqlite3_busy_timeout(db, 0);
  sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  sqlite3_busy_timeout(db, static_cast<SqliteStore*>(self)->cfg_.busy_timeout_ms);
  return SQLITE_OK;
}

void SqliteStore::exec(const char* sql, const std::string& what) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) fail(rc, what);
}

// Switching to WAL needs a moment of exclusive access; when many processes open a fresh
// database at once, retry BUSY until the busy timeout has passed.
void SqliteStore::enable_wal() {
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg_.busy_timeout_ms);
  while (true) {
    int rc = sqlite3_exec(db_, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) break;
    if ((rc & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() > deadline) {
      fail(rc, "enable WAL");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // NORMAL (the default) syncs only at checkpoints: a commit survives a killed process, and
  // power loss may drop the last commits but never corrupts the database. FULL also syncs
  // the WAL at every commit. See docs/ipam.md for why NORMAL is safe for node-local IPAM.
  std::string sync =
      "PRAGMA synchronous=" + std::string(cfg_.synchronous == "full" ? "FULL" : "NORMAL");
  exec(sync.c_str(), "set synchronous");
}

int SqliteStore::schema_version() {
  auto st = statement("PRAGMA user_version");
  int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) fail(rc, "read schema version");
  return sqlite3_column_int(st, 0);
}

// Creates the schema unless it is there already (the common case costs one header read).
void SqliteStore::create_schema() {
  int version = schema_version();
  if (version > kSchemaVersion) {
    throw cni::Error(cni::kIoFailure,
                     "ipam store " + cfg_.path + ": schema version " + std::to_string(version) +
                         " is newer than this cnimux's (" + std::to_string(kSchemaVersion) + ")");
  }
  if (version == kSchemaVersion) return;
  exec("BEGIN IMMEDIATE", "begin schema transaction");
  cni::ScopeGuard rollback([this] { sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr); });
  exec(kSchema, "create schema");
  exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str(), "set schema version");
  // Also readable with plain SQL, for operators (docs/operations.md).
  exec(("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '" +
        std::to_string(kSchemaVersion) + "')")
           .c_str(),
       "record schema version");
  exec("COMMIT", "commit schema");
  rollback.commit();
}

SqliteStore::StatementLease::~StatementLease() {
  sqlite3_reset(st_);
}

SqliteStore::StatementLease SqliteStore::statement(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr);
    if (rc != SQLITE_OK) fail(rc, "prepare \"" + sql + "\"");
    it = statements_.emplace(sql, st).first;
  }
  sqlite3_reset(it->second);
  sqlite3_clear_bindings(it->second);
  return StatementLease(it->second);
}

void SqliteStore::transact(const std::function<void(StoreTxn&)>& fn) {
  std::lock_guard<std::mutex> lock(mu_);
  exec("BEGIN IMMEDIATE", "begin transaction");
  cni::ScopeGuard rollback([this] { sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr); });
  SqliteTxn txn(*this);
  fn(txn);
  exec("COMMIT", "commit transaction");
  rollback.commit();
}

std::vector<Allocation> SqliteStore::list_all() {
  std::lock_guard<std::mutex> lock(mu_);
  exec("BEGIN", "begin read transaction");
  cni::ScopeGuard end([this] { sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr); });
  auto st = statement("SELECT " CNIMUX_ALLOC_COLUMNS " FROM allocations ORDER BY pool, addr");
  std::vector<Allocation> out;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) out.push_back(row_to_allocation(st));
  if (rc != SQLITE_DONE) fail(rc, "list allocations");
  return out;
}

void SqliteStore::probe() {
  try {
    transact([this](StoreTxn&) {
      auto st = statement(
          "INSERT INTO meta (key, value) VALUES ('probed_at', ?1)"
          " ON CONFLICT (key) DO UPDATE SET value = excluded.value");
      bind_text(st, 1, std::to_string(std::time(nullptr)));
      int rc = sqlite3_step(st);
      if (rc != SQLITE_DONE) fail(rc, "write probe");
    });
  } catch (const cni::Error& e) {
    throw cni::Error(cni::kNotAvailable, "ipam store not writable: " + e.msg());
  }
}

std::vector<std::string> SqliteStore::verify() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> problems;
  auto collect = [&](const char* sql, const std::string& label) {
    auto st = statement(sql);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      std::string v = column_text(st, 0);
      if (v != "ok") problems.push_back(label + ": " + v);
    }
    if (rc != SQLITE_DONE) fail(rc, label);
  };
  collect("PRAGMA integrity_check", "integrity_check");
  collect(
      "SELECT 'no owner: ' || hex(addr) FROM allocations"
      " WHERE container_id = '' AND pod_ref = ''",
      "allocations");
  collect(
      "SELECT 'bad key: ' || hex(addr) FROM allocations WHERE length(addr) <> 16"
      " UNION ALL SELECT 'bad cursor: ' || pool FROM cursors WHERE length(addr) <> 16",
      "keys");
  return problems;
}

}  // namespace ipam
