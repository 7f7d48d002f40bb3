// SqliteStore: file modes, WAL, persistence, atomic transactions, uniqueness, probe and
// verify.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <fstream>

#include "cni/error.h"
#include "ipam/sqlite_store.h"
#include "ipam_test_util.h"

namespace ipam {
namespace {

Allocation make(const std::string& pool, const char* addr, const std::string& cid) {
  Allocation a;
  a.pool = pool;
  a.address = *Address::parse(addr);
  a.prefix_len = 24;
  a.gateway = Address::parse("10.1.0.1");
  a.owner = {"net1", cid, "eth0", ""};
  a.created_unix = 1700000000;
  return a;
}

int mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  StoreConfig cfg() {
    StoreConfig c;
    c.path = dir_.file("state/nested/ipam.db");
    return c;
  }
  ipam_test::TempDir dir_;
};

TEST_F(SqliteStoreTest, CreatesPrivateDirectoriesAndFileInWalMode) {
  SqliteStore store(cfg());
  EXPECT_EQ(mode_of(dir_.file("state")), 0700);
  EXPECT_EQ(mode_of(dir_.file("state/nested")), 0700);
  EXPECT_EQ(mode_of(cfg().path), 0600);
  store.transact([](StoreTxn& t) { t.insert(make("p", "10.1.0.5", "c1")); });
  EXPECT_EQ(mode_of(cfg().path + "-wal"), 0600);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(store.db(), "PRAGMA journal_mode", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
}

TEST_F(SqliteStoreTest, AllocationsPersistAcrossReopen) {
  {
    SqliteStore store(cfg());
    store.transact([](StoreTxn& t) {
      t.insert(make("p", "10.1.0.5", "c1"));
      t.insert(make("p", "fd00::5", "c1"));
      t.set_cursor("p", 0, *Address::parse("10.1.0.5"));
    });
  }
  SqliteStore store(cfg());
  auto all = store.list_all();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].address.str(), "10.1.0.5");
  EXPECT_EQ(all[0].gateway->str(), "10.1.0.1");
  EXPECT_EQ(all[0].owner.container_id, "c1");
  EXPECT_EQ(all[0].created_unix, 1700000000);
  EXPECT_EQ(all[1].address.str(), "fd00::5");
  store.transact([](StoreTxn& t) {
    EXPECT_EQ(t.cursor("p", 0)->str(), "10.1.0.5");
    EXPECT_FALSE(t.cursor("p", 1));
  });
  EXPECT_TRUE(store.verify().empty());
}

TEST_F(SqliteStoreTest, ExceptionRollsBackTheWholeTransaction) {
  SqliteStore store(cfg());
  EXPECT_THROW(store.transact([](StoreTxn& t) {
    t.insert(make("p", "10.1.0.5", "c1"));
    throw std::runtime_error("boom");
  }),
               std::runtime_error);
  EXPECT_TRUE(store.list_all().empty());
  // The connection is usable afterwards.
  store.transact([](StoreTxn& t) { t.insert(make("p", "10.1.0.6", "c1")); });
  EXPECT_EQ(store.list_all().size(), 1u);
}

TEST_F(SqliteStoreTest, AnAddressIsHeldOncePerPool) {
  SqliteStore store(cfg());
  store.transact([](StoreTxn& t) { t.insert(make("p", "10.1.0.5", "c1")); });
  try {
    store.transact([](StoreTxn& t) { t.insert(make("p", "10.1.0.5", "c2")); });
    FAIL() << "duplicate accepted";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kIpamAddressTaken);
  }
  store.transact([](StoreTxn& t) { t.insert(make("other", "10.1.0.5", "c2")); });
  EXPECT_EQ(store.list_all().size(), 2u);
}

TEST_F(SqliteStoreTest, ScanHeldIsOrderedAndBounded) {
  SqliteStore store(cfg());
  store.transact([](StoreTxn& t) {
    for (const char* a : {"10.1.0.9", "10.1.0.2", "10.1.0.5", "10.1.1.0", "fd00::1"}) {
      t.insert(make("p", a, std::string("c") + a));
    }
    t.insert(make("q", "10.1.0.3", "cq"));
    auto scan = t.scan_held("p", *Address::parse("10.1.0.3"), *Address::parse("10.1.0.255"));
    std::vector<std::string> got;
    while (auto a = scan->next()) got.push_back(a->str());
    EXPECT_EQ(got, (std::vector<std::string>{"10.1.0.5", "10.1.0.9"}));
  });
}

TEST_F(SqliteStoreTest, BindUnbindAndOwnerInvariant) {
  SqliteStore store(cfg());
  Allocation sticky = make("p", "10.1.0.7", "c1");
  sticky.owner.pod_ref = "ns/a-0";
  store.transact([&](StoreTxn& t) {
    t.insert(sticky);
    t.bind("p", sticky.address, "");
    EXPECT_TRUE(t.find_by_container("net1", "c1", "eth0").empty());
    EXPECT_EQ(t.find_by_pod("net1", "ns/a-0", "eth0").size(), 1u);
  });
  // A record with neither a container nor a pod is refused by the schema.
  EXPECT_THROW(store.transact([](StoreTxn& t) { t.insert(make("p", "10.1.0.8", "")); }),
               cni::Error);
  EXPECT_TRUE(store.verify().empty());
}

TEST_F(SqliteStoreTest, ProbeSucceedsOnAWritableStore) {
  SqliteStore store(cfg());
  EXPECT_NO_THROW(store.probe());
}

TEST_F(SqliteStoreTest, UnopenablePathIsAnIoError) {
  StoreConfig c;
  c.path = dir_.file("afile/ipam.db");
  { std::ofstream(dir_.file("afile")) << "x"; }
  try {
    SqliteStore store(c);
    FAIL() << "opened a database under a regular file";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kIoFailure);
    EXPECT_NE(e.msg().find(dir_.file("afile")), std::string::npos) << e.msg();
  }
}

TEST_F(SqliteStoreTest, OpenStoreCachesPerPathAndRefusesUnknownTypes) {
  auto a = open_store(cfg());
  auto b = open_store(cfg());
  EXPECT_EQ(a.get(), b.get());
  StoreConfig unknown = cfg();
  unknown.type = "redis";
  EXPECT_THROW(open_store(unknown), cni::Error);
  // An etcd config without endpoints never comes from parse_ipam_config; refused anyway.
  StoreConfig etcd = cfg();
  etcd.type = "etcd";
  EXPECT_THROW(open_store(etcd), cni::Error);
}

}  // namespace
}  // namespace ipam
