// Durable per-container journal files: encoding, atomic replacement, locking and listing.
#include "plugin/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>

#include "cni/error.h"
#include "cni/json_limits.h"
#include "cni/limits.h"
#include "cni/state_file.h"

namespace plugin {
namespace {

using nlohmann::json;

constexpr const char* kJournalSuffix = ".journal";
constexpr const char* kLockSuffix = ".lock";
constexpr const char* kTempSuffix = ".journal.tmp";
constexpr const char* kSweepMarker = ".sweep";

std::string errno_text() {
  return std::strerror(errno);
}

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

const char* state_name(AttachmentState s) {
  switch (s) {
    case AttachmentState::kPending:
      return "pending";
    case AttachmentState::kStarted:
      return "started";
    case AttachmentState::kAdded:
      return "added";
  }
  return "pending";
}

namespace {

AttachmentState attachment_state_from(const std::string& s) {
  if (s == "pending") return AttachmentState::kPending;
  if (s == "started") return AttachmentState::kStarted;
  if (s == "added") return AttachmentState::kAdded;
  throw std::runtime_error("unknown attachment state \"" + s + "\"");
}

const char* state_name(JournalState s) {
  switch (s) {
    case JournalState::kAdding:
      return "adding";
    case JournalState::kComplete:
      return "complete";
    case JournalState::kFailed:
      return "failed";
    case JournalState::kDeleted:
      return "deleted";
  }
  return "adding";
}

JournalState journal_state_from(const std::string& s) {
  if (s == "adding") return JournalState::kAdding;
  if (s == "complete") return JournalState::kComplete;
  if (s == "failed") return JournalState::kFailed;
  if (s == "deleted") return JournalState::kDeleted;
  throw std::runtime_error("unknown journal state \"" + s + "\"");
}

json attachment_to_json(const JournalAttachment& a) {
  const PlannedAttachment& p = a.planned;
  json j = {{"network", p.network},
            {"ifname", p.ifname},
            {"conflist", p.conflist},
            {"clusterNetwork", p.cluster_network},
            {"defaultRoute", p.default_route},
            {"gateways", p.gateways},
            {"deviceID", p.device_id},
            {"state", state_name(a.state)}};
  if (!a.result.is_null()) j["result"] = a.result;
  return j;
}

JournalAttachment attachment_from_json(const json& j) {
  JournalAttachment a;
  PlannedAttachment& p = a.planned;
  p.network = j.at("network").get<std::string>();
  p.ifname = j.at("ifname").get<std::string>();
  p.conflist = j.at("conflist").get<std::string>();
  p.cluster_network = j.at("clusterNetwork").get<bool>();
  p.default_route = j.value("defaultRoute", false);
  p.gateways = j.value("gateways", std::vector<std::string>{});
  p.device_id = j.value("deviceID", std::string());
  a.state = attachment_state_from(j.at("state").get<std::string>());
  if (auto it = j.find("result"); it != j.end()) a.result = *it;
  return a;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

json to_json(const JournalRecord& r) {
  json atts = json::array();
  for (const auto& a : r.attachments) atts.push_back(attachment_to_json(a));
  json j = {{"version", r.format_version},
            {"containerID", r.container_id},
            {"netns", r.netns},
            {"ifname", r.ifname},
            {"cniVersion", r.cni_version},
            {"pod", {{"namespace", r.pod_namespace}, {"name", r.pod_name}, {"uid", r.pod_uid}}},
            {"state", state_name(r.state)},
            {"attachments", atts}};
  if (!r.result.is_null()) j["result"] = r.result;
  if (!r.coordination.is_null()) j["coordination"] = r.coordination;
  if (r.state == JournalState::kDeleted) {
    j["deletedAt"] = r.deleted_at;
    j["abandoned"] = r.abandoned;
  }
  return j;
}

JournalRecord journal_from_json(const json& j) {
  if (!j.is_object()) throw std::runtime_error("not a JSON object");
  JournalRecord r;
  r.format_version = j.at("version").get<int>();
  if (r.format_version > kJournalFormatVersion || r.format_version < 1) {
    throw std::runtime_error("unsupported journal format version " +
                             std::to_string(r.format_version));
  }
  r.container_id = j.at("containerID").get<std::string>();
  r.netns = j.value("netns", std::string());
  r.ifname = j.at("ifname").get<std::string>();
  r.cni_version = j.value("cniVersion", std::string());
  const json& pod = j.at("pod");
  r.pod_namespace = pod.value("namespace", std::string());
  r.pod_name = pod.value("name", std::string());
  r.pod_uid = pod.value("uid", std::string());
  r.state = journal_state_from(j.at("state").get<std::string>());
  const json& atts = j.at("attachments");
  if (!atts.is_array()) throw std::runtime_error("\"attachments\" is not a list");
  for (const auto& a : atts) r.attachments.push_back(attachment_from_json(a));
  if (auto it = j.find("result"); it != j.end()) r.result = *it;
  if (auto it = j.find("coordination"); it != j.end()) r.coordination = *it;
  r.deleted_at = j.value("deletedAt", int64_t{0});
  r.abandoned = j.value("abandoned", std::vector<std::string>{});
  return r;
}

Journal::Journal(std::string dir) : dir_(std::move(dir)) {}

std::string Journal::path_for(const std::string& container_id) const {
  return dir_ + "/" + container_id + kJournalSuffix;
}

std::string Journal::lock_path(const std::string& container_id) const {
  return dir_ + "/." + container_id + kLockSuffix;
}

std::string Journal::temp_path(const std::string& container_id) const {
  return dir_ + "/." + container_id + kTempSuffix;
}

std::optional<JournalRecord> Journal::load(const std::string& container_id) const {
  const std::string path = path_for(container_id);
  std::optional<std::string> bytes;
  try {
    bytes = cni::read_state_file(path, kMaxJournalBytes);
  } catch (const cni::Error& e) {
    throw CorruptJournal(path, e.msg());
  }
  if (!bytes) return std::nullopt;
  try {
    // A journal holds configs bounded at planning, a few levels down: anything deeper or
    // larger was not written by cnimux.
    cni::JsonParse parsed = cni::try_parse_json(
        *bytes, {.max_bytes = kMaxJournalBytes, .max_depth = cni::kMaxJsonDepth + 8});
    if (!parsed.value) throw std::runtime_error(parsed.why);
    JournalRecord r = journal_from_json(*parsed.value);
    if (r.container_id != container_id) {
      throw std::runtime_error("belongs to container \"" + r.container_id + "\"");
    }
    return r;
  } catch (const std::exception& e) {
    throw CorruptJournal(path, e.what());
  }
}

void Journal::save(const JournalRecord& record, Sync sync) const {
  ensure_usable();
  const std::string& cid = record.container_id;
  try {
    cni::write_state_file(path_for(cid), temp_path(cid), to_json(record).dump(),
                          sync == Sync::kDurable);
  } catch (const cni::Error& e) {
    throw cni::Error(e.code(), "journal: " + e.msg());
  }
}

void Journal::bury(const JournalRecord& record, std::vector<std::string> abandoned) const {
  JournalRecord tomb;
  tomb.container_id = record.container_id;
  tomb.ifname = record.ifname;
  tomb.cni_version = record.cni_version;
  tomb.pod_namespace = record.pod_namespace;
  tomb.pod_name = record.pod_name;
  tomb.pod_uid = record.pod_uid;
  tomb.state = JournalState::kDeleted;
  tomb.deleted_at = now_seconds();
  tomb.abandoned = std::move(abandoned);
  // Ordered is enough: if a power loss takes the tombstone, the durable record before it
  // stands and the next DEL merely repeats DELs that already happened.
  save(tomb, Sync::kOrdered);
}

void Journal::remove(const std::string& container_id) const {
  if (::unlink(path_for(container_id).c_str()) != 0 && errno != ENOENT) {
    throw cni::Error(cni::kIoFailure,
                     "journal: cannot remove " + path_for(container_id) + ": " + errno_text());
  }
}

Journal::Lock& Journal::Lock::operator=(Lock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

Journal::Lock::~Lock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the flock
}

namespace {

// Opens (creating) `path` and flocks it; an empty Lock when `wait` is false and it is busy.
// A lock file is removed by whoever holds it once its container is gone; a process that
// opened the old file before that and then got the lock would hold a lock nobody else can
// see, so the lock counts only if `path` still names the locked file.
Journal::Lock flock_file(const std::string& path, int operation, bool wait) {
  for (;;) {
    int fd = cni::open_state_file(path);
    int rc;
    do {
      rc = ::flock(fd, operation | (wait ? 0 : LOCK_NB));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) return Journal::Lock();
      throw cni::Error(cni::kIoFailure, "journal: cannot lock " + path + ": " + std::strerror(err));
    }
    struct stat held, named;
    if (::fstat(fd, &held) == 0 && ::lstat(path.c_str(), &named) == 0 &&
        held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
      return Journal::Lock(fd);
    }
    ::close(fd);  // removed or replaced while we waited: lock the file that is there now
  }
}

}  // namespace

Journal::Lock Journal::lock(const std::string& container_id, bool wait) const {
  ensure_usable();
  return flock_file(lock_path(container_id), LOCK_EX, wait);
}

Journal::Lock Journal::gc_fence(bool exclusive) const {
  ensure_usable();
  return flock_file(dir_ + "/.gc.lock", exclusive ? LOCK_EX : LOCK_SH, true);
}

void Journal::remove_lock_file(const std::string& container_id) const {
  ::unlink(lock_path(container_id).c_str());
}

namespace {

// Names in cniDir: "<cid>.journal", ".<cid>.journal.tmp", ".<cid>.lock". Returns the
// container ID a name belongs to, or "" for a file that is none of ours.
std::string container_of(const std::string& name, bool* is_journal) {
  *is_journal = false;
  if (name.empty()) return "";
  if (name[0] != '.') {
    if (!ends_with(name, kJournalSuffix)) return "";
    *is_journal = true;
    return name.substr(0, name.size() - std::strlen(kJournalSuffix));
  }
  for (const char* suffix : {kTempSuffix, kLockSuffix}) {
    if (ends_with(name, suffix) && name.size() > 1 + std::strlen(suffix)) {
      return name.substr(1, name.size() - 1 - std::strlen(suffix));
    }
  }
  return "";
}

std::vector<std::string> directory_names(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return names;
  while (dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
  ::closedir(d);
  return names;
}

}  // namespace

std::vector<std::string> Journal::list() const {
  std::vector<std::string> ids;
  for (const std::string& name : directory_names(dir_)) {
    bool is_journal = false;
    std::string cid = container_of(name, &is_journal);
    if (is_journal && !cid.empty()) ids.push_back(cid);
  }
  return ids;
}

size_t Journal::sweep(bool all_tombstones, const std::vector<std::string>& keep) const {
  std::set<std::string> containers;
  for (const std::string& name : directory_names(dir_)) {
    bool is_journal = false;
    std::string cid = container_of(name, &is_journal);
    if (!cid.empty()) containers.insert(cid);
  }
  size_t removed = 0;
  for (const std::string& cid : containers) {
    Lock lock = this->lock(cid, false);
    if (!lock.held()) continue;  // a verb of this container is running
    std::optional<JournalRecord> rec;
    try {
      rec = load(cid);
    } catch (const CorruptJournal&) {
      continue;  // owes unknown work: only a DEL may decide
    }
    if (::unlink(temp_path(cid).c_str()) == 0) ++removed;
    if (rec && rec->state == JournalState::kDeleted) {
      bool kept = std::find(keep.begin(), keep.end(), cid) != keep.end();
      bool expired = now_seconds() - rec->deleted_at >= kTombstoneTtl.count();
      if ((all_tombstones && !kept) || expired) {
        remove(cid);
        rec.reset();
        ++removed;
      }
    }
    if (!rec) {
      remove_lock_file(cid);
      ++removed;
    }
  }
  return removed;
}

void Journal::sweep_now_and_then() const {
  const std::string marker = dir_ + "/" + kSweepMarker;
  struct stat st;
  if (::lstat(marker.c_str(), &st) == 0 && now_seconds() - st.st_mtime < kSweepInterval.count()) {
    return;
  }
  // Touch first, so that concurrent verbs do not all sweep at once.
  int fd = cni::open_state_file(marker);
  ::futimens(fd, nullptr);
  ::close(fd);
  sweep(false);
}

void Journal::ensure_usable() const {
  if (checked_) return;
  cni::ensure_private_dir(dir_, cni::kNotAvailable);
  checked_ = true;
}

}  // namespace plugin
