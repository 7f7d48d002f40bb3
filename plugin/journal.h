// The journal: one durable file per container, cniDir/<containerID>.journal, holding the plan
// and the progress of every attachment. It is what makes rollback and DEL hold even after
// cnimux is killed: ADD writes it before the first delegate runs; DEL replays it in reverse.
// After a DEL it stays as a small tombstone, so the runtime's second DEL does no work.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plugin/plan.h"

namespace plugin {

// Bumped when the file format changes incompatibly; readers refuse newer versions.
// 2: the "deleted" state (tombstone) and "abandoned".
inline constexpr int kJournalFormatVersion = 2;

// A journal larger than this is treated as corrupt rather than read (a plan holds at most
// 128 attachments of bounded size; docs/journal.md).
inline constexpr size_t kMaxJournalBytes = 32u << 20;

// The file is a log: records are appended, each in a checksummed frame, and the last whole
// frame is the journal (docs/journal.md, "File format"). A save that would make the file
// larger than this starts a new file (temp file + rename) holding that record alone.
inline constexpr size_t kMaxAppendedBytes = 1u << 20;

// One frame: "J <payload bytes> <CRC-32C of the payload, 8 hex digits>\n<payload>\n". The
// payload is the record's JSON on one line.
std::string encode_journal_frame(std::string_view payload);

// What a journal file holds, by its bytes.
struct JournalFileView {
  std::string_view record;  // the JSON of the current record
  size_t valid_end = 0;     // where the last whole frame ends (framed files)
  bool legacy = false;      // a format-2 file: one bare JSON object, no frames
};
// Splits a journal file. A file that does not start a frame is a format-2 file (the whole
// file is the record). In a log, the current record is the last frame whose checksum
// holds; a damaged or incomplete last frame (a write that a kill or a power loss cut
// short; it was never synced, so nothing relied on it) is skipped, but a damaged frame
// followed by a whole one, or a log without one whole frame, throws std::runtime_error.
JournalFileView split_journal_file(std::string_view bytes);

// How long a tombstone outlives its DEL when no GC removes it first: long enough for every
// DEL a runtime repeats after the first (containerd's RemovePodSandbox, kubelet's retries).
inline constexpr std::chrono::seconds kTombstoneTtl{3600};
inline constexpr std::chrono::seconds kSweepInterval{600};

enum class AttachmentState {
  kPending,  // planned, no delegate has run
  kStarted,  // ADD began; the delegate may have left anything behind
  kAdded,    // ADD finished; `result` holds its result
};

enum class JournalState {
  kAdding,    // an ADD is (or was, if cnimux died) in progress
  kComplete,  // every attachment added; `result` is what the runtime got
  kFailed,    // ADD failed; attachments not kPending are still owed to a DEL
  kDeleted,   // tombstone: DEL finished, nothing is owed; a repeated DEL does nothing
};

struct JournalAttachment {
  PlannedAttachment planned;
  AttachmentState state = AttachmentState::kPending;
  nlohmann::json result;  // the chain's final result (1.x shape), null until kAdded
};

struct JournalRecord {
  int format_version = kJournalFormatVersion;
  std::string container_id;
  std::string netns;
  std::string ifname;
  std::string cni_version;  // the version the runtime asked for
  std::string pod_namespace;
  std::string pod_name;
  std::string pod_uid;
  JournalState state = JournalState::kAdding;
  std::vector<JournalAttachment> attachments;
  nlohmann::json result;  // the result returned to the runtime, set when kComplete
  // Optional (format 2 readers ignore its absence): what the coordination stage did to the pod
  // and the node, owned by plugin/coordination.h; null when it did nothing. Written before
  // the stage changes anything, and cleared once undone.
  nlohmann::json coordination;
  // kDeleted only: when the DEL finished (seconds since the epoch), and what it could not
  // undo because the stored attachment could no longer be run or parsed (one line each,
  // naming the network). Nothing in it is owed: it is kept for the operator.
  int64_t deleted_at = 0;
  std::vector<std::string> abandoned;
  // Not stored: load() found the ADD marker (an empty journal file, see mark_adding()) and
  // made this record of it: state kDeleted, no attachments, deleted_at the file's mtime.
  bool marker = false;
};

// Thrown by Journal::load when a file exists but cannot be understood. Distinct from "no
// journal", because a corrupt journal must never be treated as "nothing to do".
struct CorruptJournal : std::runtime_error {
  CorruptJournal(std::string p, std::string r)
      : std::runtime_error("journal " + p + " is corrupt: " + r),
        path(std::move(p)),
        reason(std::move(r)) {}
  std::string path;
  std::string reason;
};

// Owns the files of one cniDir. A save appends a frame to the container's log (fdatasync
// when durable); an ADD's first durable record goes into the marker it just created; any
// other new log, or one that would grow past kMaxAppendedBytes, is written as a temp file +
// rename (+ directory fsync when durable) holding the record alone. Mode 0600, in
// a 0700 directory owned by the running user; no file is ever opened through a symlink. A runtime
// never runs two verbs on one container at once; GC takes the per-container lock (lock()) before
// touching another container's journal.
//
// File names: the journal is "<containerID>.journal"; its temporary file
// ".<containerID>.journal.tmp" and its lock ".<containerID>.lock". A container ID starts
// with a letter or digit, so no container's journal can take another file's name, and
// other files sharing the directory (the IPAM store, a log) are never taken for journals.
class Journal {
 public:
  explicit Journal(std::string dir);

  const std::string& dir() const { return dir_; }
  std::string path_for(const std::string& container_id) const;

  // nullopt when no journal exists. A read-only file that is empty, or that holds no record
  // and whose first frame is not whole (an ADD's first record cut short), is the ADD marker:
  // a record with `marker` set, which owes nothing (as a tombstone). Throws CorruptJournal when
  // another file is empty, unreadable, truncated, not an object, of a newer format, or of another
  // container.
  std::optional<JournalRecord> load(const std::string& container_id) const;

  // Creates the container's journal as an empty read-only (0400) file when it has none: the
  // ADD marker, which says "an ADD began here and, while I am empty, recorded nothing, so no
  // delegate ran". A full disk still accepts it (an inode, no data block), so a DEL after an
  // ADD that could not write its first record owes nothing instead of rebuilding the plan
  // from NADs that may have changed since. Never changes an existing file; no fsync (a marker
  // lost to a power loss leaves DEL rebuilding the plan, as before markers). Best effort:
  // false, with errno set, when it cannot be created (the ADD goes on without it). One
  // open(O_CREAT | O_EXCL), kept open until the next load(): the first durable save writes
  // its frame into this file (write_over_marker()) instead of a temp file + rename.
  bool mark_adding(const std::string& container_id) const;

  // How a save reaches the disk. Every save is atomic: a reader, or a cnimux started after
  // this one was killed, sees the old record or the new one whole (an appended frame cut
  // short is skipped, as is a first frame cut short in the read-only marker; a new file is
  // renamed into place).
  enum class Sync {
    // fdatasync of the file (and fsync of the directory when the file's name is new to this
    // run): the record survives a power loss. Required
    // before a delegate runs, so that what it may leave behind is always on record.
    kDurable,
    // No fsync. After a power loss the previous durable record stands; that is safe only for
    // a save that claims less outstanding work than the record before it (an attachment
    // finished, a rollback done), since replaying the older record merely repeats DELs.
    kOrdered,
    // Written as a kDurable save would be (into this ADD's marker, when there is one), but
    // not flushed: sync() must make it durable before anything depends on it. It lets a
    // delegate start while the flush is in flight (docs/journal.md, "Durability").
    kDeferred,
  };

  // Replaces the container's journal with `record`. Throws cni::Error(kIoFailure). The
  // file must not have changed since this Journal last loaded or saved it (the caller holds
  // the container's lock, and loads after taking it).
  void save(const JournalRecord& record, Sync sync = Sync::kDurable) const;

  // Makes every save of the container so far durable, as a kDurable save would have: an
  // fdatasync of its log, and an fsync of the directory while the log's name is not known to
  // be on disk. Throws cni::Error(kIoFailure). It completes a kDeferred save.
  void sync(const std::string& container_id) const;

  // Removes the container's journal; absent is fine.
  void remove(const std::string& container_id) const;

  // Replaces the container's journal with a tombstone (kDeleted) listing `abandoned`. It
  // keeps the record's identity (container, ifname, pod), never its attachments.
  void bury(const JournalRecord& record, std::vector<std::string> abandoned) const;

  // Holds an exclusive flock on cniDir/<containerID>.lock for the whole verb, so GC never
  // acts on a container whose ADD or DEL is still running. With `wait` false, returns an
  // unlocked (empty) handle when another process holds it.
  class Lock {
   public:
    Lock() = default;
    explicit Lock(int fd) : fd_(fd) {}
    Lock(Lock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Lock& operator=(Lock&& o) noexcept;
    ~Lock();
    bool held() const { return fd_ >= 0; }

   private:
    int fd_ = -1;
  };
  Lock lock(const std::string& container_id, bool wait) const;
  // Fences ADD against GC: every ADD holds cniDir/.gc.lock shared for its whole run, and GC
  // holds it exclusively, so a forwarded GC never sees an address allocated by an ADD that
  // its list of journals predates. Always waits.
  Lock gc_fence(bool exclusive) const;
  // Removes the lock file; call only while holding the lock, after the journal is gone.
  // lock() notices a lock file removed under it and retries on the new one.
  void remove_lock_file(const std::string& container_id) const;

  // Container IDs that have a journal (tombstones included), for GC.
  std::vector<std::string> list() const;

  // Removes what no running verb uses: temporary and lock files of containers whose lock is
  // free and that have no journal, and tombstones older than kTombstoneTtl (or all
  // tombstones of containers not in `keep` when `all_tombstones`). Returns how many files
  // went. Never waits for a lock.
  size_t sweep(bool all_tombstones, const std::vector<std::string>& keep = {}) const;
  // sweep(false) at most once per kSweepInterval across processes (one stat() otherwise),
  // so tombstones do not pile up on nodes whose runtime never sends GC.
  void sweep_now_and_then() const;

  // Creates the directory (0700) if needed and checks that it is private: owned by the
  // running user, not writable by group or others. Throws cni::Error(50) naming it.
  void ensure_usable() const;

 private:
  std::string lock_path(const std::string& container_id) const;
  std::string temp_path(const std::string& container_id) const;

  // The log this process appends to (one container's at most, so GC walking many
  // containers holds one descriptor) and what load() last found; shared by copies of this
  // Journal, which name the same files.
  struct Files;
  // Appends `frame` to the container's log; false when there is no log to append to (no
  // file, a format-2 file, a damaged one, a symlink) or it would grow too large.
  bool append(const std::string& cid, const std::string& frame, Sync sync) const;
  // Opens the container's log for appending, cutting a damaged tail; false when none.
  bool open_log(const std::string& cid) const;
  // Writes `frame` into the ADD marker this process just created (flushed unless `sync` is
  // kDeferred) and makes it the log; false, changing nothing, when there is no such marker or its
  // name no longer leads to it empty (replaced by another file or a symlink). Throws
  // cni::Error(kIoFailure).
  bool write_over_marker(const std::string& cid, const std::string& frame, Sync sync) const;

  std::string dir_;
  mutable bool checked_ = false;
  std::shared_ptr<Files> files_;
};

// The name an attachment state has in the file ("pending", "started", "added").
const char* state_name(AttachmentState state);

nlohmann::json to_json(const JournalRecord& record);
JournalRecord journal_from_json(const nlohmann::json& j);  // throws std::exception on bad shape

}  // namespace plugin
