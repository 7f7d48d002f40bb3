// Durable per-container journal files: encoding, atomic replacement, locking and listing.
#include "plugin/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cni/error.h"

namespace plugin {
namespace {

using nlohmann::json;

constexpr const char* kLockSuffix = ".lock";
constexpr const char* kTempSuffix = ".tmp";

std::string errno_text() {
  return std::strerror(errno);
}

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
  }
  return "adding";
}

JournalState journal_state_from(const std::string& s) {
  if (s == "adding") return JournalState::kAdding;
  if (s == "complete") return JournalState::kComplete;
  if (s == "failed") return JournalState::kFailed;
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

// Writes `bytes` to `path` so that a reader sees either the old or the new file, never a
// torn one; with `durable`, the new one also survives a power loss once this returns.
void write_file_atomically(const std::string& dir, const std::string& path,
                           const std::string& bytes, bool durable) {
  const std::string tmp = path + kTempSuffix;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    throw cni::Error(cni::kIoFailure, "journal: cannot create " + tmp + ": " + errno_text());
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string err = errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      throw cni::Error(cni::kIoFailure, "journal: cannot write " + tmp + ": " + err);
    }
    done += static_cast<size_t>(n);
  }
  if ((durable && ::fdatasync(fd) != 0) || ::close(fd) != 0) {
    std::string err = errno_text();
    ::unlink(tmp.c_str());
    throw cni::Error(cni::kIoFailure, "journal: cannot sync " + tmp + ": " + err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string err = errno_text();
    ::unlink(tmp.c_str());
    throw cni::Error(cni::kIoFailure, "journal: cannot rename " + tmp + ": " + err);
  }
  if (!durable) return;
  // The rename itself is only durable once the directory entry is on disk.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
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
  return r;
}

Journal::Journal(std::string dir) : dir_(std::move(dir)) {}

std::string Journal::path_for(const std::string& container_id) const {
  return dir_ + "/" + container_id;
}

std::optional<JournalRecord> Journal::load(const std::string& container_id) const {
  const std::string path = path_for(container_id);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::nullopt;
    throw CorruptJournal{path, "cannot open: " + errno_text()};
  }
  std::stringstream buf;
  buf << in.rdbuf();
  try {
    JournalRecord r = journal_from_json(json::parse(buf.str()));
    if (r.container_id != container_id) {
      throw std::runtime_error("belongs to container \"" + r.container_id + "\"");
    }
    return r;
  } catch (const std::exception& e) {
    throw CorruptJournal{path, e.what()};
  }
}

void Journal::save(const JournalRecord& record, Sync sync) const {
  ensure_usable();
  write_file_atomically(dir_, path_for(record.container_id), to_json(record).dump(),
                        sync == Sync::kDurable);
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
Journal::Lock flock_file(const std::string& path, int operation, bool wait) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    throw cni::Error(cni::kIoFailure, "journal: cannot open lock " + path + ": " + errno_text());
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
  return Journal::Lock(fd);
}

}  // namespace

Journal::Lock Journal::lock(const std::string& container_id, bool wait) const {
  ensure_usable();
  return flock_file(path_for(container_id) + kLockSuffix, LOCK_EX, wait);
}

Journal::Lock Journal::gc_fence(bool exclusive) const {
  ensure_usable();
  return flock_file(dir_ + "/.gc.lock", exclusive ? LOCK_EX : LOCK_SH, true);
}

void Journal::remove_lock_file(const std::string& container_id) const {
  ::unlink((path_for(container_id) + kLockSuffix).c_str());
}

std::vector<std::string> Journal::list() const {
  std::vector<std::string> ids;
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return ids;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.empty() || name[0] == '.' || ends_with(name, kLockSuffix) ||
        ends_with(name, kTempSuffix)) {
      continue;
    }
    ids.push_back(name);
  }
  ::closedir(d);
  return ids;
}

void Journal::ensure_usable() const {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir_).parent_path(), ec);
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    throw cni::Error(cni::kNotAvailable, "cniDir " + dir_ + " cannot be created: " + errno_text());
  }
  if (::access(dir_.c_str(), W_OK | X_OK) != 0) {
    throw cni::Error(cni::kNotAvailable, "cniDir " + dir_ + " is not writable: " + errno_text());
  }
}

}  // namespace plugin
