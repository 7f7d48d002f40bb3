// plugin::Journal: file names no container ID can take, symlink-proof state files, a
// private directory, tombstones and the sweep that removes what no verb uses.
#include "plugin/journal.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "cni/error.h"
#include "test/fakes/temp_dir.h"

namespace plugin {
namespace {

using cnimux_test::TempDir;
namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

void spit(const std::string& path, const std::string& bytes) {
  std::ofstream(path) << bytes;
}

JournalRecord record(const std::string& cid) {
  JournalRecord r;
  r.container_id = cid;
  r.ifname = "eth0";
  r.state = JournalState::kComplete;
  PlannedAttachment a;
  a.network = "default/net";
  a.ifname = "eth0";
  a.conflist = R"({"cniVersion":"1.0.0","name":"net","plugins":[{"type":"bridge"}]})";
  a.cluster_network = true;
  r.attachments.push_back({a, AttachmentState::kAdded, nullptr});
  return r;
}

class JournalTest : public ::testing::Test {
 protected:
  TempDir tmp_{"journal"};
  std::string dir_ = tmp_.file("cni");
  Journal journal_{dir_};
};

TEST_F(JournalTest, ContainerNamedLikeATemporaryFileKeepsItsOwnJournal) {
  // Before: container "X" wrote its journal through "X.tmp", the journal of container X.tmp.
  journal_.save(record("X.tmp"));
  journal_.save(record("X"));
  ASSERT_TRUE(journal_.load("X.tmp").has_value());
  EXPECT_EQ(journal_.load("X.tmp")->container_id, "X.tmp");
  EXPECT_EQ(journal_.load("X")->container_id, "X");
  auto ids = journal_.list();
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"X", "X.tmp"}));
}

TEST_F(JournalTest, ListIgnoresFilesThatAreNotJournals) {
  journal_.ensure_usable();
  for (const char* other : {"ipam.db", "ipam.db-wal", "ipam.db-shm", "cnimux.log", "README"}) {
    spit(dir_ + "/" + other, "not a journal");
  }
  journal_.save(record("c1"));
  { Journal::Lock l = journal_.lock("c2", true); }
  EXPECT_EQ(journal_.list(), (std::vector<std::string>{"c1"}));
}

TEST_F(JournalTest, SymlinkAtTheTemporaryNameIsNotWrittenThrough) {
  journal_.ensure_usable();
  const std::string target = tmp_.file("precious");
  spit(target, "keep me");
  fs::create_symlink(target, dir_ + "/.c1.journal.tmp");
  journal_.save(record("c1"));
  EXPECT_EQ(slurp(target), "keep me");
  EXPECT_EQ(journal_.load("c1")->container_id, "c1");
  EXPECT_FALSE(fs::is_symlink(journal_.path_for("c1")));
}

TEST_F(JournalTest, SymlinkAtTheLockNameIsRefused) {
  journal_.ensure_usable();
  const std::string target = tmp_.file("created-by-root");
  fs::create_symlink(target, dir_ + "/.c1.lock");
  try {
    journal_.lock("c1", true);
    FAIL() << "a symlinked lock file was followed";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kIoFailure);
    EXPECT_NE(e.msg().find("symlink"), std::string::npos) << e.msg();
  }
  EXPECT_FALSE(fs::exists(target));
}

TEST_F(JournalTest, SymlinkAtTheJournalNameIsNotReadAndIsReplacedNotFollowed) {
  journal_.ensure_usable();
  const std::string target = tmp_.file("elsewhere");
  spit(target, "{}");
  fs::create_symlink(target, journal_.path_for("c1"));
  EXPECT_THROW(journal_.load("c1"), CorruptJournal);
  journal_.save(record("c1"));
  EXPECT_EQ(slurp(target), "{}");
  EXPECT_FALSE(fs::is_symlink(journal_.path_for("c1")));
}

TEST_F(JournalTest, FilesAreModeOwnerOnly) {
  journal_.save(record("c1"));
  struct stat st;
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(journal_.path_for("c1").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(JournalTest, DirectoryOthersMayWriteIsRefused) {
  fs::create_directories(dir_);
  ::chmod(dir_.c_str(), 0777);
  try {
    journal_.save(record("c1"));
    FAIL() << "a world-writable cniDir was accepted";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kNotAvailable);
    EXPECT_NE(e.msg().find(dir_), std::string::npos) << e.msg();
    EXPECT_NE(e.msg().find("0777"), std::string::npos) << e.msg();
  }
  EXPECT_FALSE(fs::exists(journal_.path_for("c1")));
}

TEST_F(JournalTest, DirectoryOwnedBySomeoneElseIsRefused) {
  fs::create_directories(dir_);
  ::chmod(dir_.c_str(), 0700);
  ASSERT_EQ(::chown(dir_.c_str(), 65534, 65534), 0);
  try {
    journal_.ensure_usable();
    FAIL() << "a cniDir owned by uid 65534 was accepted";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kNotAvailable);
    EXPECT_NE(e.msg().find("uid 65534"), std::string::npos) << e.msg();
  }
}

TEST_F(JournalTest, TombstoneIsReadBackAndOwesNothing) {
  journal_.save(record("c1"));
  journal_.bury(record("c1"), {"network \"a\" (net1): gone"});
  auto rec = journal_.load("c1");
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->state, JournalState::kDeleted);
  EXPECT_TRUE(rec->attachments.empty());
  EXPECT_EQ(rec->ifname, "eth0");
  EXPECT_EQ(rec->abandoned, (std::vector<std::string>{"network \"a\" (net1): gone"}));
  EXPECT_GT(rec->deleted_at, 0);
}

TEST_F(JournalTest, SweepKeepsFreshTombstonesAndLiveJournals) {
  journal_.save(record("live"));
  journal_.bury(record("dead"), {});
  journal_.sweep(false);
  EXPECT_TRUE(journal_.load("live").has_value());
  EXPECT_TRUE(journal_.load("dead").has_value());
  // GC: tombstones of containers not kept go; the live journal stays.
  journal_.sweep(true, {"other"});
  EXPECT_TRUE(journal_.load("live").has_value());
  EXPECT_FALSE(journal_.load("dead").has_value());
  EXPECT_FALSE(fs::exists(dir_ + "/.dead.lock"));
}

TEST_F(JournalTest, SweepRemovesExpiredTombstones) {
  journal_.bury(record("old"), {});
  JournalRecord rec = *journal_.load("old");
  rec.deleted_at -= kTombstoneTtl.count() + 1;
  journal_.save(rec);
  journal_.sweep(false);
  EXPECT_FALSE(journal_.load("old").has_value());
}

TEST_F(JournalTest, SweepRemovesStaleTemporaryAndLockFilesButNotBusyOnes) {
  journal_.ensure_usable();
  spit(dir_ + "/.gone.journal.tmp", "half a journal");
  { Journal::Lock l = journal_.lock("gone", true); }
  Journal::Lock busy = journal_.lock("busy", true);
  spit(dir_ + "/.busy.journal.tmp", "being written");
  journal_.sweep(false);
  EXPECT_FALSE(fs::exists(dir_ + "/.gone.journal.tmp"));
  EXPECT_FALSE(fs::exists(dir_ + "/.gone.lock"));
  EXPECT_TRUE(fs::exists(dir_ + "/.busy.journal.tmp"));
  EXPECT_TRUE(fs::exists(dir_ + "/.busy.lock"));
}

// True once some process waits in flock() on the file with inode `ino` (/proc/locks marks
// a blocked waiter with "->").
bool someone_waits_on(ino_t ino) {
  std::ifstream in("/proc/locks");
  std::string line;
  const std::string needle = ":" + std::to_string(ino) + " ";
  while (std::getline(in, line)) {
    if (line.find("->") != std::string::npos && line.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST_F(JournalTest, WaiterOnALockFileItsHolderRemovedLocksTheNewFile) {
  // The holder removes the lock file when its container is gone. A waiter that opened the
  // old file must not believe it holds the lock once the old file is released.
  Journal::Lock first = journal_.lock("c1", true);
  struct stat st;
  ASSERT_EQ(::stat((dir_ + "/.c1.lock").c_str(), &st), 0);
  std::promise<Journal::Lock> got;
  std::thread waiter([&] { got.set_value(journal_.lock("c1", true)); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!someone_waits_on(st.st_ino) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_TRUE(someone_waits_on(st.st_ino)) << "the waiter never blocked";
  journal_.remove_lock_file("c1");
  first = Journal::Lock();
  waiter.join();
  Journal::Lock second = got.get_future().get();
  ASSERT_TRUE(second.held());
  // The waiter holds the file that is there now, so nobody else can take it.
  EXPECT_FALSE(journal_.lock("c1", false).held());
}

TEST_F(JournalTest, OlderFormatsLoadNewerAreRefused) {
  journal_.save(record("c1"));
  nlohmann::json j = nlohmann::json::parse(slurp(journal_.path_for("c1")));
  j["version"] = 1;
  spit(journal_.path_for("c1"), j.dump());
  EXPECT_TRUE(journal_.load("c1").has_value());
  j["version"] = kJournalFormatVersion + 1;
  spit(journal_.path_for("c1"), j.dump());
  EXPECT_THROW(journal_.load("c1"), CorruptJournal);
}

TEST_F(JournalTest, DeeplyNestedJournalIsCorruptNotACrash) {
  journal_.ensure_usable();
  std::string deep =
      R"({"version":2,"containerID":"c1","ifname":"eth0","pod":{},"state":"adding","attachments":[],"x":)";
  deep += std::string(100000, '[') + std::string(100000, ']') + "}";
  spit(journal_.path_for("c1"), deep);
  EXPECT_THROW(journal_.load("c1"), CorruptJournal);
}

}  // namespace
}  // namespace plugin
