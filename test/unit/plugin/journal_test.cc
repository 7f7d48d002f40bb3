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
  journal_.ensure_usable();
  nlohmann::json j = to_json(record("c1"));  // a format-2 file: the bare JSON object
  j["version"] = 1;
  spit(journal_.path_for("c1"), j.dump());
  EXPECT_TRUE(journal_.load("c1").has_value());
  j["version"] = kJournalFormatVersion + 1;
  spit(journal_.path_for("c1"), j.dump());
  EXPECT_THROW(journal_.load("c1"), CorruptJournal);
}

// Numbers that are not integers of the field's type (a float far out of int's range was
// undefined behaviour in the cast nlohmann's get<int>() makes; make fuzz found it) are
// corrupt, not cast.
TEST_F(JournalTest, NumbersOutOfTheirFieldsRangeAreCorrupt) {
  journal_.ensure_usable();
  for (const nlohmann::json& bad : {nlohmann::json(3.3e42), nlohmann::json(2.5),
                                    nlohmann::json(uint64_t{1} << 40), nlohmann::json("2")}) {
    nlohmann::json j = to_json(record("c1"));
    j["version"] = bad;
    spit(journal_.path_for("c1"), j.dump());
    EXPECT_THROW(journal_.load("c1"), CorruptJournal) << bad.dump();
  }
  nlohmann::json j = to_json(record("c1"));
  j["state"] = "deleted";
  j["deletedAt"] = 1e300;
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

// ---- The log (docs/journal.md, "File format"). ----

ino_t inode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return st.st_ino;
}

JournalRecord record_in(const std::string& cid, JournalState state) {
  JournalRecord r = record(cid);
  r.state = state;
  return r;
}

TEST(JournalFrame, ChecksumIsCrc32c) {
  // The CRC-32C check value, so that other readers of the format can rely on the name.
  EXPECT_EQ(encode_journal_frame("123456789"), "J 9 e3069283\n123456789\n");
}

TEST_F(JournalTest, SavesAppendFramesToOneFileAndTheLastWins) {
  journal_.save(record_in("c1", JournalState::kAdding));
  const ino_t first = inode_of(journal_.path_for("c1"));
  journal_.save(record_in("c1", JournalState::kAdding), Journal::Sync::kDurable);
  journal_.save(record_in("c1", JournalState::kComplete), Journal::Sync::kOrdered);
  // No new file per save: the same inode, three frames, the last one current.
  EXPECT_EQ(inode_of(journal_.path_for("c1")), first);
  const std::string bytes = slurp(journal_.path_for("c1"));
  EXPECT_EQ(std::count(bytes.begin(), bytes.end(), '\n'), 6);
  EXPECT_EQ(journal_.load("c1")->state, JournalState::kComplete);
  // Another Journal (another cnimux run) appends to the same file too.
  Journal other(dir_);
  other.bury(record("c1"), {});
  EXPECT_EQ(inode_of(journal_.path_for("c1")), first);
  EXPECT_EQ(other.load("c1")->state, JournalState::kDeleted);
}

TEST_F(JournalTest, FormatTwoFileIsReadThenRewrittenAsALog) {
  journal_.ensure_usable();
  spit(journal_.path_for("c1"), to_json(record_in("c1", JournalState::kAdding)).dump());
  EXPECT_EQ(journal_.load("c1")->state, JournalState::kAdding);
  journal_.save(record_in("c1", JournalState::kComplete));
  const std::string bytes = slurp(journal_.path_for("c1"));
  EXPECT_EQ(bytes.rfind("J ", 0), 0u) << bytes;
  EXPECT_EQ(std::count(bytes.begin(), bytes.end(), '\n'), 2);  // one frame, the old file gone
  EXPECT_EQ(journal_.load("c1")->state, JournalState::kComplete);
}

TEST_F(JournalTest, FrameCutShortIsSkippedAndCutOffByTheNextSave) {
  journal_.save(record_in("c1", JournalState::kAdding));
  const std::string good = slurp(journal_.path_for("c1"));
  const std::string next =
      encode_journal_frame(to_json(record_in("c1", JournalState::kFailed)).dump());
  for (size_t cut : {size_t{1}, size_t{5}, next.size() / 2, next.size() - 1}) {
    spit(journal_.path_for("c1"), good + next.substr(0, cut));
    Journal fresh(dir_);  // a cnimux started after the one that was killed mid-write
    EXPECT_EQ(fresh.load("c1")->state, JournalState::kAdding) << cut;
    fresh.save(record_in("c1", JournalState::kComplete), Journal::Sync::kOrdered);
    EXPECT_EQ(slurp(journal_.path_for("c1")),
              good + encode_journal_frame(to_json(record_in("c1", JournalState::kComplete)).dump()))
        << cut;
  }
}

TEST_F(JournalTest, LastFrameWhoseBytesAreWrongFallsBackToTheOneBefore) {
  // A power loss after the file grew but before the frame's data reached the disk: zeros.
  journal_.save(record_in("c1", JournalState::kAdding));
  journal_.save(record_in("c1", JournalState::kComplete), Journal::Sync::kOrdered);
  std::string bytes = slurp(journal_.path_for("c1"));
  const size_t second = bytes.find("\nJ ") + 1;
  const size_t payload = bytes.find('\n', second) + 1;
  std::fill(bytes.begin() + payload, bytes.end() - 1, '\0');
  spit(journal_.path_for("c1"), bytes);
  EXPECT_EQ(Journal(dir_).load("c1")->state, JournalState::kAdding);
  // All zeros, header too: the same.
  std::fill(bytes.begin() + second, bytes.end(), '\0');
  spit(journal_.path_for("c1"), bytes);
  EXPECT_EQ(Journal(dir_).load("c1")->state, JournalState::kAdding);
}

TEST_F(JournalTest, DamageThatIsNotACutShortWriteIsCorrupt) {
  journal_.save(record_in("c1", JournalState::kAdding));
  journal_.save(record_in("c1", JournalState::kComplete), Journal::Sync::kOrdered);
  const std::string bytes = slurp(journal_.path_for("c1"));
  const size_t second = bytes.find("\nJ ") + 1;
  // The first frame's length damaged: a whole frame follows the damage.
  std::string damaged = bytes;
  damaged[2] = damaged[2] == '9' ? '8' : '9';
  spit(journal_.path_for("c1"), damaged);
  EXPECT_THROW(Journal(dir_).load("c1"), CorruptJournal);
  // The current record's checksum wrong, and so is the one before it.
  damaged = bytes;
  damaged[second - 3] ^= 1;
  damaged[bytes.size() - 3] ^= 1;
  spit(journal_.path_for("c1"), damaged);
  EXPECT_THROW(Journal(dir_).load("c1"), CorruptJournal);
  // Only the start of a first frame, and an empty file.
  spit(journal_.path_for("c1"), bytes.substr(0, 20));
  EXPECT_THROW(Journal(dir_).load("c1"), CorruptJournal);
  spit(journal_.path_for("c1"), "");
  EXPECT_THROW(Journal(dir_).load("c1"), CorruptJournal);
  // A damaged log is replaced whole by the next save, never appended to.
  EXPECT_THROW(journal_.load("c1"), CorruptJournal);
  journal_.save(record_in("c1", JournalState::kFailed));
  EXPECT_EQ(journal_.load("c1")->state, JournalState::kFailed);
}

// The ADD marker: an empty read-only journal that owes nothing, replaced whole by the first
// record, never written over an existing journal; an empty writable file stays corrupt.
TEST_F(JournalTest, AddMarkerOwesNothingAndGivesWayToTheFirstRecord) {
  journal_.ensure_usable();
  ASSERT_TRUE(journal_.mark_adding("c1"));
  EXPECT_EQ(fs::file_size(journal_.path_for("c1")), 0u);
  std::optional<JournalRecord> marker = journal_.load("c1");
  ASSERT_TRUE(marker.has_value());
  EXPECT_TRUE(marker->marker);
  EXPECT_EQ(marker->state, JournalState::kDeleted);
  EXPECT_TRUE(marker->attachments.empty());
  EXPECT_EQ(journal_.list(), (std::vector<std::string>{"c1"}));

  journal_.save(record("c1"));
  std::optional<JournalRecord> first = journal_.load("c1");
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(first->marker);
  EXPECT_EQ(first->state, JournalState::kComplete);
  const std::string bytes = slurp(journal_.path_for("c1"));
  ASSERT_TRUE(journal_.mark_adding("c1"));  // a journal already there is left as it is
  EXPECT_EQ(slurp(journal_.path_for("c1")), bytes);

  spit(journal_.path_for("c2"), "");  // emptied by something else: owes unknown work
  EXPECT_THROW(journal_.load("c2"), CorruptJournal);

  // GC's sweep removes a marker as it removes a tombstone of a container it does not keep.
  ASSERT_TRUE(journal_.mark_adding("c3"));
  journal_.sweep(true, {"c1"});
  EXPECT_FALSE(fs::exists(journal_.path_for("c3")));
  EXPECT_TRUE(fs::exists(journal_.path_for("c1")));
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0);
  return st.st_mode & 0777;
}

// Puts `bytes` in the existing file at `path` (as a writer cut short would have), keeping
// its mode.
void overwrite(const std::string& path, const std::string& bytes) {
  const fs::perms mode = fs::status(path).permissions();
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  spit(path, bytes);
  fs::permissions(path, mode);
}

// An ADD's first durable record goes into the marker it created: no temp file, no rename.
TEST_F(JournalTest, FirstDurableRecordIsWrittenIntoTheAddMarker) {
  journal_.ensure_usable();
  const std::string path = journal_.path_for("c1");
  ASSERT_TRUE(journal_.mark_adding("c1"));
  const ino_t marker = inode_of(path);
  journal_.save(record_in("c1", JournalState::kAdding));
  EXPECT_EQ(inode_of(path), marker);
  EXPECT_EQ(mode_of(path), 0600u);  // a record now: cut or emptied later, it is corrupt
  journal_.save(record_in("c1", JournalState::kComplete), Journal::Sync::kOrdered);
  EXPECT_EQ(inode_of(path), marker);  // the log, appended to
  const std::string bytes = slurp(path);
  EXPECT_EQ(std::count(bytes.begin(), bytes.end(), '\n'), 4);
  std::optional<JournalRecord> rec = journal_.load("c1");
  ASSERT_TRUE(rec.has_value());
  EXPECT_FALSE(rec->marker);
  EXPECT_EQ(rec->state, JournalState::kComplete);

  // An ordered first record (the tombstone of an ADD that failed early) is renamed into
  // place, as before: in place, the marker could not be made writable without a flush.
  ASSERT_TRUE(journal_.mark_adding("c2"));
  const ino_t marker2 = inode_of(journal_.path_for("c2"));
  journal_.bury(record("c2"), {});
  EXPECT_NE(inode_of(journal_.path_for("c2")), marker2);
  EXPECT_EQ(mode_of(journal_.path_for("c2")), 0600u);
}

// A deferred start (the delegate starts while its record is flushed) is written into the
// marker at once and stays read-only, i.e. "a first frame that may be cut", until sync() has
// flushed it; a second sync finds nothing to do.
TEST_F(JournalTest, DeferredFirstRecordGoesIntoTheMarkerAndSyncMakesItDurable) {
  journal_.ensure_usable();
  const std::string path = journal_.path_for("c1");
  ASSERT_TRUE(journal_.mark_adding("c1"));
  const ino_t marker = inode_of(path);
  journal_.save(record_in("c1", JournalState::kAdding), Journal::Sync::kDeferred);
  EXPECT_EQ(inode_of(path), marker);
  EXPECT_EQ(mode_of(path), 0400u) << "writable before its frame was flushed";
  journal_.sync("c1");
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_NO_THROW(journal_.sync("c1"));
  // A later deferred start is appended and flushed the same way.
  journal_.save(record_in("c1", JournalState::kAdding), Journal::Sync::kDeferred);
  journal_.sync("c1");
  EXPECT_EQ(inode_of(path), marker);
  std::optional<JournalRecord> rec = Journal(dir_).load("c1");
  ASSERT_TRUE(rec.has_value());
  EXPECT_FALSE(rec->marker);
  EXPECT_EQ(rec->state, JournalState::kAdding);
}

// sync() of a container this Journal saved nothing for is an I/O error naming the file, not
// a silent success that would let a delegate act with nothing on disk.
TEST_F(JournalTest, SyncWithoutASaveFails) {
  journal_.ensure_usable();
  try {
    journal_.sync("nothing");
    FAIL() << "no error";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kIoFailure);
    EXPECT_NE(e.msg().find(journal_.path_for("nothing")), std::string::npos) << e.msg();
  }
}

// A kill or a power loss in the middle of the first record leaves the marker with a cut or
// unsynced frame: that reads as the marker alone, which owes nothing, since no delegate ran
// before that frame was durable. The read-only mode is what says so: the same bytes in a
// writable file are corrupt.
TEST_F(JournalTest, FirstRecordCutShortReadsAsTheMarkerAlone) {
  journal_.ensure_usable();
  const std::string path = journal_.path_for("c1");
  const std::string frame =
      encode_journal_frame(to_json(record_in("c1", JournalState::kAdding)).dump());
  std::string wrong = frame;
  wrong[frame.size() / 2] ^= 1;
  const std::pair<const char*, std::string> cuts[] = {
      {"in the header", frame.substr(0, 5)},
      {"in the record", frame.substr(0, frame.size() / 2)},
      {"before its last newline", frame.substr(0, frame.size() - 1)},
      {"zeros (a power loss after the size grew)", std::string(frame.size(), '\0')},
      {"bytes that are not what was written", wrong},
  };
  for (const auto& [what, bytes] : cuts) {
    SCOPED_TRACE(what);
    ASSERT_TRUE(journal_.mark_adding("c1"));
    overwrite(path, bytes);
    std::optional<JournalRecord> rec = journal_.load("c1");
    ASSERT_TRUE(rec.has_value());
    EXPECT_TRUE(rec->marker);
    EXPECT_EQ(rec->state, JournalState::kDeleted);
    EXPECT_TRUE(rec->attachments.empty());
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_THROW(journal_.load("c1"), CorruptJournal);
    fs::permissions(path, fs::perms::owner_read);
    // The next save (the ADD's tombstone, another ADD's first record) replaces it whole.
    ASSERT_TRUE(journal_.load("c1").has_value());
    journal_.save(record_in("c1", JournalState::kAdding));
    EXPECT_EQ(journal_.load("c1")->state, JournalState::kAdding);
    EXPECT_EQ(mode_of(path), 0600u);
    journal_.remove("c1");
  }
}

// Killed (or a power loss) after the first frame was durable but before the marker was
// made writable: the whole frame is the record, and the next save makes the file writable.
TEST_F(JournalTest, ReadOnlyFileWithAWholeFirstRecordIsThatRecord) {
  journal_.ensure_usable();
  const std::string path = journal_.path_for("c1");
  ASSERT_TRUE(journal_.mark_adding("c1"));
  overwrite(path, encode_journal_frame(to_json(record_in("c1", JournalState::kAdding)).dump()));
  std::optional<JournalRecord> rec = journal_.load("c1");
  ASSERT_TRUE(rec.has_value());
  EXPECT_FALSE(rec->marker);
  EXPECT_EQ(rec->state, JournalState::kAdding);
  const ino_t ino = inode_of(path);
  journal_.save(record_in("c1", JournalState::kComplete), Journal::Sync::kOrdered);
  EXPECT_EQ(inode_of(path), ino);
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(journal_.load("c1")->state, JournalState::kComplete);

  // Nor is a format-2 file that someone made read-only taken for a marker: it holds a record.
  const std::string legacy = journal_.path_for("c2");
  spit(legacy, to_json(record_in("c2", JournalState::kAdding)).dump());
  fs::permissions(legacy, fs::perms::owner_read);
  rec = journal_.load("c2");
  ASSERT_TRUE(rec.has_value());
  EXPECT_FALSE(rec->marker);
  EXPECT_EQ(rec->state, JournalState::kAdding);
}

// Between mark_adding() and the first record, the name may have come to lead elsewhere (a
// symlink, another file) or the marker may no longer be empty: the record is then renamed
// into place as before, replacing what is there, and nothing is written through the name
// or into the marker we made.
TEST_F(JournalTest, MarkerReplacedBeforeTheFirstRecordIsNotWrittenThrough) {
  journal_.ensure_usable();
  const std::string path = journal_.path_for("c1");
  const std::string held = tmp_.file("marker");  // keeps the marker's inode to look at
  const std::string target = tmp_.file("elsewhere");

  ASSERT_TRUE(journal_.mark_adding("c1"));
  fs::create_hard_link(path, held);
  fs::remove(path);
  spit(target, "");
  fs::create_symlink(target, path);
  journal_.save(record_in("c1", JournalState::kAdding));
  EXPECT_FALSE(fs::is_symlink(path));
  EXPECT_EQ(slurp(target), "");
  EXPECT_EQ(fs::file_size(held), 0u);
  EXPECT_EQ(journal_.load("c1")->state, JournalState::kAdding);
  journal_.remove("c1");
  fs::remove(held);

  ASSERT_TRUE(journal_.mark_adding("c1"));
  fs::create_hard_link(path, held);
  fs::remove(path);
  spit(path, "");  // another empty file in its place
  fs::permissions(path, fs::perms::owner_read);
  journal_.save(record_in("c1", JournalState::kAdding));
  EXPECT_EQ(fs::file_size(held), 0u);
  EXPECT_EQ(journal_.load("c1")->state, JournalState::kAdding);
  journal_.remove("c1");

  ASSERT_TRUE(journal_.mark_adding("c1"));
  const ino_t marker = inode_of(path);
  overwrite(path, "written by someone else");
  journal_.save(record_in("c1", JournalState::kAdding));
  EXPECT_NE(inode_of(path), marker);
  EXPECT_EQ(journal_.load("c1")->state, JournalState::kAdding);
}

TEST_F(JournalTest, LogThatWouldGrowPastTheLimitStartsANewFile) {
  JournalRecord big = record_in("c1", JournalState::kAdding);
  big.attachments.front().planned.conflist = std::string(kMaxAppendedBytes / 3, 'x');
  journal_.save(big);
  const ino_t first = inode_of(journal_.path_for("c1"));
  journal_.save(big);
  EXPECT_EQ(inode_of(journal_.path_for("c1")), first);
  journal_.save(big);  // a third frame would pass the limit
  EXPECT_NE(inode_of(journal_.path_for("c1")), first);
  EXPECT_LT(fs::file_size(journal_.path_for("c1")), kMaxAppendedBytes / 2);
  EXPECT_EQ(journal_.load("c1")->attachments.front().planned.conflist,
            big.attachments.front().planned.conflist);
}

TEST_F(JournalTest, RemoveThenSaveStartsANewFile) {
  journal_.save(record_in("c1", JournalState::kAdding));
  journal_.remove("c1");
  journal_.save(record_in("c1", JournalState::kComplete));
  const std::string bytes = slurp(journal_.path_for("c1"));
  EXPECT_EQ(std::count(bytes.begin(), bytes.end(), '\n'), 2);
  EXPECT_EQ(journal_.load("c1")->state, JournalState::kComplete);
}

}  // namespace
}  // namespace plugin
