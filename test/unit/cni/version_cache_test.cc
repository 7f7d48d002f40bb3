// VersionCache: keyed by binary identity, file-backed with 0600 atomic writes, merges
// concurrent writers, survives a corrupt file.
#include "cni/version_cache.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace cni {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class VersionCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = "/tmp/cxt" + std::to_string(::getpid()) + "-vc-" + info->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    file_ = dir_ + "/state/delegate-versions.json";
  }
  void TearDown() override { fs::remove_all(dir_); }

  BinaryId id(const std::string& path, int64_t size = 100, int64_t mtime = 5) const {
    return BinaryId{path, size, mtime, 42};
  }
  std::string read(const std::string& path) const {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

  std::string dir_, file_;
};

TEST_F(VersionCacheTest, HitsOnlyTheSameBuild) {
  VersionCache cache("");
  cache.store(id("/opt/cni/bin/bridge"), {"0.4.0", "1.0.0"});
  EXPECT_EQ(cache.lookup(id("/opt/cni/bin/bridge")), (std::vector<std::string>{"0.4.0", "1.0.0"}));
  EXPECT_FALSE(cache.lookup(id("/opt/cni/bin/bridge", 101)));
  EXPECT_FALSE(cache.lookup(id("/opt/cni/bin/bridge", 100, 6)));
  BinaryId other_inode = id("/opt/cni/bin/bridge");
  other_inode.inode = 43;
  EXPECT_FALSE(cache.lookup(other_inode));
  EXPECT_FALSE(cache.lookup(id("/opt/cni/bin/macvlan")));
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.misses(), 4u);
}

TEST_F(VersionCacheTest, NewBuildReplacesTheOldEntry) {
  VersionCache cache(file_);
  cache.store(id("/b"), {"0.4.0"});
  cache.store(id("/b", 200), {"1.0.0"});
  EXPECT_FALSE(cache.lookup(id("/b")));
  EXPECT_EQ(cache.lookup(id("/b", 200)), std::vector<std::string>{"1.0.0"});
  EXPECT_EQ(json::parse(read(file_))["plugins"].size(), 1u);
}

TEST_F(VersionCacheTest, FileIsPrivateAndReadByTheNextProcess) {
  VersionCache(file_).store(id("/opt/cni/bin/bridge"), {"1.0.0"});
  EXPECT_EQ(fs::status(file_).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(fs::status(dir_ + "/state").permissions() & fs::perms::all, fs::perms::owner_all);
  for (const auto& entry : fs::directory_iterator(dir_ + "/state")) {
    EXPECT_EQ(entry.path().filename(), "delegate-versions.json") << "temp file left behind";
  }
  VersionCache next(file_);
  EXPECT_EQ(next.lookup(id("/opt/cni/bin/bridge")), std::vector<std::string>{"1.0.0"});
}

TEST_F(VersionCacheTest, CorruptFileIsIgnoredAndRewritten) {
  fs::create_directories(dir_ + "/state");
  std::ofstream(file_) << "{\"version\":1,\"plugins\":{\"/b\":";
  VersionCache cache(file_);
  EXPECT_FALSE(cache.lookup(id("/b")));
  cache.store(id("/c"), {"0.3.1"});
  json j = json::parse(read(file_));
  EXPECT_EQ(j["plugins"]["/c"]["supportedVersions"], json({"0.3.1"}));
}

TEST_F(VersionCacheTest, ConcurrentWritersKeepEachOthersEntries) {
  VersionCache a(file_);
  VersionCache b(file_);
  EXPECT_FALSE(a.lookup(id("/x")));  // both have read the (absent) file
  EXPECT_FALSE(b.lookup(id("/x")));
  a.store(id("/a"), {"1.0.0"});
  b.store(id("/b"), {"0.4.0"});
  VersionCache c(file_);
  EXPECT_TRUE(c.lookup(id("/a")));
  EXPECT_TRUE(c.lookup(id("/b")));
}

TEST_F(VersionCacheTest, UnwritableFileKeepsWorkingInMemory) {
  fs::create_directories(file_);  // a directory where the file should be: rename fails
  VersionCache cache(file_);
  cache.store(id("/a"), {"1.0.0"});
  EXPECT_EQ(cache.lookup(id("/a")), std::vector<std::string>{"1.0.0"});
}

TEST_F(VersionCacheTest, BinaryIdDescribesTheFile) {
  const std::string path = dir_ + "/bin";
  std::ofstream(path) << "12345";
  auto bid = BinaryId::of(path);
  ASSERT_TRUE(bid);
  EXPECT_EQ(bid->size, 5);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(bid->inode, st.st_ino);
  EXPECT_EQ(bid->mtime_ns, int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec);
  EXPECT_FALSE(BinaryId::of(dir_ + "/missing"));
}

}  // namespace
}  // namespace cni
