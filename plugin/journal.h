// The journal: one durable file per container, cniDir/<containerID>, holding the plan and the
// progress of every attachment. It is what makes rollback and DEL hold even after cnimux is
// killed: ADD writes it before the first delegate runs; DEL replays it in reverse.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "plugin/plan.h"

namespace plugin {

// Bumped when the file format changes incompatibly; readers refuse newer versions.
inline constexpr int kJournalFormatVersion = 1;

enum class AttachmentState {
  kPending,  // planned, no delegate has run
  kStarted,  // ADD began; the delegate may have left anything behind
  kAdded,    // ADD finished; `result` holds its result
};

enum class JournalState {
  kAdding,    // an ADD is (or was, if cnimux died) in progress
  kComplete,  // every attachment added; `result` is what the runtime got
  kFailed,    // ADD failed; rollback did not finish, so a DEL still owes work
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
};

// Thrown by Journal::load when a file exists but cannot be understood. Distinct from "no
// journal", because a corrupt journal must never be treated as "nothing to do".
struct CorruptJournal {
  std::string path;
  std::string reason;
};

// Owns the files of one cniDir. Writes are temp file + fsync + rename + directory fsync, mode
// 0600, in a 0700 directory. A runtime never runs two verbs on one container at once; GC
// takes the per-container lock (lock()) before touching another container's journal.
class Journal {
 public:
  explicit Journal(std::string dir);

  const std::string& dir() const { return dir_; }
  std::string path_for(const std::string& container_id) const;

  // nullopt when no journal exists. Throws CorruptJournal when it exists but is unreadable,
  // truncated, not an object, of a newer format, or of another container.
  std::optional<JournalRecord> load(const std::string& container_id) const;

  // How a save reaches the disk. Every save is atomic (temp file + rename): a reader, or a
  // cnimux started after this one was killed, sees the old record or the new one whole.
  enum class Sync {
    // fsync of the file and the directory: the record survives a power loss. Required
    // before a delegate runs, so that what it may leave behind is always on record.
    kDurable,
    // No fsync. After a power loss the previous durable record stands; that is safe only for
    // a save that claims less outstanding work than the record before it (an attachment
    // finished, a rollback done), since replaying the older record merely repeats DELs.
    kOrdered,
  };

  // Replaces the container's journal with `record`. Throws cni::Error(kIoFailure).
  void save(const JournalRecord& record, Sync sync = Sync::kDurable) const;

  // Removes the container's journal; absent is fine.
  void remove(const std::string& container_id) const;

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
  void remove_lock_file(const std::string& container_id) const;

  // Container IDs that have a journal, for GC.
  std::vector<std::string> list() const;

  // Creates the directory (0700) if needed and proves it writable; throws cni::Error(50).
  void ensure_usable() const;

 private:
  std::string dir_;
};

nlohmann::json to_json(const JournalRecord& record);
JournalRecord journal_from_json(const nlohmann::json& j);  // throws std::exception on bad shape

}  // namespace plugin
