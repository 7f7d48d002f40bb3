// The SQLite store refuses paths it could be tricked through: a symlinked database or side
// file (whose target must stay untouched), a hard-linked or foreign file, a store directory
// others may write or own; it creates missing directories 0700 and accepts a symlinked
// parent directory.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cni/error.h"
#include "ipam/sqlite_store.h"
#include "ipam_test_util.h"

namespace ipam {
namespace {

namespace fs = std::filesystem;

constexpr uid_t kNobody = 65534;

int mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::string contents(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class StoreFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.file("state"));
    ::chmod(dir_.file("state").c_str(), 0700);
  }
  StoreConfig cfg(const std::string& rel = "state/ipam.db") {
    StoreConfig c;
    c.path = dir_.file(rel);
    return c;
  }
  // The error opening the store at `c` throws; fails the test when it opens.
  cni::Error open_error(const StoreConfig& c) {
    try {
      SqliteStore store(c);
    } catch (const cni::Error& e) {
      return e;
    }
    ADD_FAILURE() << "opened " << c.path;
    return cni::Error(0, "");
  }
  void expect_refused(const StoreConfig& c, const std::string& text) {
    cni::Error e = open_error(c);
    EXPECT_EQ(e.code(), cni::kInvalidConfig) << e.msg();
    EXPECT_NE(e.msg().find(text), std::string::npos) << e.msg();
  }
  // A file outside the store directory that an attacker wants rewritten.
  std::string victim() {
    std::string p = dir_.file("victim");
    std::ofstream(p) << "precious";
    ::chmod(p.c_str(), 0644);
    return p;
  }

  ipam_test::TempDir dir_;
};

TEST_F(StoreFilesTest, SymlinkedDatabaseIsRefusedAndItsTargetUntouched) {
  std::string target = victim();
  fs::create_symlink(target, dir_.file("state/ipam.db"));
  expect_refused(cfg(), "is a symlink");
  EXPECT_EQ(mode_of(target), 0644);
  EXPECT_EQ(contents(target), "precious");
}

TEST_F(StoreFilesTest, DanglingSymlinkedDatabaseCreatesNothing) {
  fs::create_symlink(dir_.file("created-by-attack"), dir_.file("state/ipam.db"));
  expect_refused(cfg(), "is a symlink");
  EXPECT_FALSE(fs::exists(dir_.file("created-by-attack")));
}

TEST_F(StoreFilesTest, SymlinkedSideFilesAreRefused) {
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    std::string target = victim();
    std::string link = dir_.file("state/ipam.db") + suffix;
    fs::create_symlink(target, link);
    expect_refused(cfg(), "ipam.db" + std::string(suffix) + "\": is a symlink");
    EXPECT_EQ(contents(target), "precious") << suffix;
    EXPECT_EQ(mode_of(target), 0644) << suffix;
    fs::remove(link);
  }
  // And once they are gone, the same store opens.
  EXPECT_NO_THROW(SqliteStore store(cfg()));
}

TEST_F(StoreFilesTest, SymlinkedSideFileOfAnExistingStoreIsRefused) {
  { SqliteStore store(cfg()); }
  fs::remove(dir_.file("state/ipam.db-wal"));
  std::string target = victim();
  fs::create_symlink(target, dir_.file("state/ipam.db-wal"));
  expect_refused(cfg(), "is a symlink");
  EXPECT_EQ(contents(target), "precious");
}

TEST_F(StoreFilesTest, HardLinkedDatabaseIsRefused) {
  std::string target = victim();
  fs::create_hard_link(target, dir_.file("state/ipam.db"));
  expect_refused(cfg(), "hard links");
  EXPECT_EQ(mode_of(target), 0644);
  EXPECT_EQ(contents(target), "precious");
}

TEST_F(StoreFilesTest, DatabaseThatIsNotARegularFileIsRefused) {
  fs::create_directory(dir_.file("state/ipam.db"));
  expect_refused(cfg(), "not a regular file");
  fs::remove(dir_.file("state/ipam.db"));
  ASSERT_EQ(::mkfifo(dir_.file("state/ipam.db").c_str(), 0600), 0);
  expect_refused(cfg(), "not a regular file");
}

TEST_F(StoreFilesTest, DatabaseOwnedByAnotherUserIsRefused) {
  { std::ofstream(dir_.file("state/ipam.db")); }
  ASSERT_EQ(::chown(dir_.file("state/ipam.db").c_str(), kNobody, kNobody), 0);
  expect_refused(cfg(), "owned by uid 65534");
}

TEST_F(StoreFilesTest, GroupOrWorldWritableDirectoryIsRefused) {
  for (mode_t mode : {0770, 0702, 01777}) {
    ASSERT_EQ(::chmod(dir_.file("state").c_str(), mode), 0);
    expect_refused(cfg(), "group- or world-writable");
    EXPECT_FALSE(fs::exists(dir_.file("state/ipam.db"))) << std::oct << mode;
  }
  ASSERT_EQ(::chmod(dir_.file("state").c_str(), 0755), 0);  // readable by others is fine
  EXPECT_NO_THROW(SqliteStore store(cfg()));
}

TEST_F(StoreFilesTest, DirectoryOwnedByAnotherUserIsRefused) {
  ASSERT_EQ(::chown(dir_.file("state").c_str(), kNobody, kNobody), 0);
  expect_refused(cfg(), "owned by uid 65534, not by the running user");
  EXPECT_FALSE(fs::exists(dir_.file("state/ipam.db")));
}

TEST_F(StoreFilesTest, MissingDirectoriesAreCreated0700EvenUnderAPermissiveUmask) {
  mode_t old = ::umask(0);
  try {
    SqliteStore store(cfg("new/deeper/ipam.db"));
  } catch (...) {
    ::umask(old);
    throw;
  }
  ::umask(old);
  EXPECT_EQ(mode_of(dir_.file("new")), 0700);
  EXPECT_EQ(mode_of(dir_.file("new/deeper")), 0700);
  EXPECT_EQ(mode_of(dir_.file("new/deeper/ipam.db")), 0600);
}

TEST_F(StoreFilesTest, SymlinkedParentDirectoryIsFollowedAndChecked) {
  fs::create_directory_symlink(dir_.file("state"), dir_.file("link"));
  {
    SqliteStore store(cfg("link/ipam.db"));
    store.probe();
  }
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(dir_.file("state/ipam.db"))));
  // The directory it resolves to is the one checked.
  ASSERT_EQ(::chmod(dir_.file("state").c_str(), 0777), 0);
  expect_refused(cfg("link/ipam.db"), dir_.file("state") + "\": mode 0777");
}

}  // namespace
}  // namespace ipam
