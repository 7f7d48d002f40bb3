// Durable per-container journal files: encoding, atomic replacement, locking and listing.
#include "plugin/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__x86_64__)
// glibc 2.36's header returns C's _Bool, which clang++ rejects (g++ takes it as an
// extension); the fuzz targets are built with clang (make fuzz).
#define _Bool bool
#include <sys/platform/x86.h>
#undef _Bool
#endif

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <set>

#include "cni/error.h"
#include "cni/json_limits.h"
#include "cni/limits.h"
#include "cni/scope_guard.h"
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

namespace {

// CRC-32C (Castagnoli), as iSCSI and ext4's metadata use it: the SSE 4.2 instruction when
// the CPU has it (8 bytes per instruction; a table costs a few instructions per byte, which
// for a record of some KB read at every DEL is more than the rest of load()).
constexpr std::array<uint32_t, 256> kCrc32cTable = [] {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1) ? 0x82F63B78u : 0);
    t[i] = c;
  }
  return t;
}();

uint32_t crc32c_table(uint32_t crc, const unsigned char* p, size_t n) {
  while (n--) crc = kCrc32cTable[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(uint32_t crc, const unsigned char* p,
                                                        size_t n) {
  uint64_t c = crc;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c = __builtin_ia32_crc32di(c, word);
  }
  crc = static_cast<uint32_t>(c);
  for (; n > 0; --n) crc = __builtin_ia32_crc32qi(crc, *p++);
  return crc;
}
#endif

uint32_t crc32c(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
#if defined(__x86_64__)
  // glibc's record of the CPU, filled in by the dynamic loader before main. Not
  // __builtin_cpu_supports: that links libgcc's constructor, which runs the CPUID
  // instruction about sixteen times at every start, and each one is a trap to the hypervisor
  // on a virtual machine (about 0.1 ms per call here; docs/performance.md).
  static const bool sse42 = CPU_FEATURE_ACTIVE(SSE4_2);
  if (sse42) return ~crc32c_sse42(~0u, p, bytes.size());
#endif
  return ~crc32c_table(~0u, p, bytes.size());
}

constexpr size_t kCrcDigits = 8;

// One frame found at a position of a log.
struct Frame {
  std::string_view payload;
  uint32_t crc = 0;
  size_t end = 0;  // just past the frame's closing newline
};

// The frame at `pos` when its header parses and all its bytes are there (its checksum is
// not checked here); nullopt otherwise.
std::optional<Frame> frame_at(std::string_view bytes, size_t pos) {
  std::string_view rest = bytes.substr(pos);
  if (rest.size() < 2 || rest[0] != 'J' || rest[1] != ' ') return std::nullopt;
  size_t nl = rest.find('\n');
  if (nl == std::string_view::npos || nl > 2 + 10 + 1 + kCrcDigits) return std::nullopt;
  std::string_view header = rest.substr(2, nl - 2);
  size_t space = header.find(' ');
  if (space == std::string_view::npos || space == 0 || header.size() - space - 1 != kCrcDigits)
    return std::nullopt;
  size_t length = 0;
  auto [lend, lerr] = std::from_chars(header.data(), header.data() + space, length);
  if (lerr != std::errc() || lend != header.data() + space) return std::nullopt;
  Frame f;
  const char* crc_begin = header.data() + space + 1;
  auto [cend, cerr] = std::from_chars(crc_begin, crc_begin + kCrcDigits, f.crc, 16);
  if (cerr != std::errc() || cend != crc_begin + kCrcDigits) return std::nullopt;
  if (length > rest.size() - nl - 1 || rest.size() - nl - 1 - length < 1) return std::nullopt;
  if (rest[nl + 1 + length] != '\n') return std::nullopt;
  f.payload = rest.substr(nl + 1, length);
  f.end = pos + nl + 1 + length + 1;
  return f;
}

bool intact(const Frame& f) {
  return crc32c(f.payload) == f.crc;
}

bool starts_with_whole_frame(std::string_view bytes) {
  std::optional<Frame> f = frame_at(bytes, 0);
  return f && intact(*f);
}

}  // namespace

std::string encode_journal_frame(std::string_view payload) {
  char crc[kCrcDigits + 1];
  std::snprintf(crc, sizeof crc, "%08x", static_cast<unsigned>(crc32c(payload)));
  std::string frame;
  frame.reserve(payload.size() + 24);
  frame += "J ";
  frame += std::to_string(payload.size());
  frame += ' ';
  frame += crc;
  frame += '\n';
  frame += payload;
  frame += '\n';
  return frame;
}

JournalFileView split_journal_file(std::string_view bytes) {
  JournalFileView view;
  if (bytes.empty() || bytes[0] != 'J') {
    view.legacy = true;  // format 2: the JSON parser decides
    view.record = bytes;
    view.valid_end = bytes.size();
    return view;
  }
  // Walk the frames by their headers; only the ones that can be the current record have
  // their checksums computed (earlier ones are superseded whatever they hold).
  std::optional<Frame> last, before_last;
  size_t pos = 0;
  while (pos < bytes.size()) {
    std::optional<Frame> f = frame_at(bytes, pos);
    if (!f) break;
    before_last = std::move(last);
    last = f;
    pos = f->end;
  }
  // What follows the last whole frame must be a write cut short: nothing that reads as a
  // whole, intact frame may start after it (a frame starts after a newline).
  for (size_t at = bytes.find("\nJ ", pos); at != std::string_view::npos;
       at = bytes.find("\nJ ", at + 1)) {
    std::optional<Frame> f = frame_at(bytes, at + 1);
    if (f && intact(*f)) throw std::runtime_error("a damaged record is followed by a whole one");
  }
  if (!last) throw std::runtime_error("no whole record");
  if (intact(*last)) {
    view.record = last->payload;
    view.valid_end = last->end;
  } else if (pos == bytes.size() && before_last && intact(*before_last)) {
    // The last frame's bytes are all there but not what was written (a power loss after
    // the size was extended): the write was never synced, so the record before it stands.
    view.record = before_last->payload;
    view.valid_end = before_last->end;
  } else {
    throw std::runtime_error("a record's checksum does not match");
  }
  return view;
}

// ---- The open log. ----

struct Journal::Files {
  struct Log {
    std::string cid;
    int fd = -1;
    uint64_t end = 0;           // where the next frame goes
    bool name_durable = false;  // the file's directory entry is known to be on disk
    bool read_only = false;     // the marker, holding a first frame that is not yet durable
    bool unflushed = false;     // data written since the last fdatasync

    // What follows the flush of the log's data: the marker becomes writable like every
    // record, so that a file cut or emptied later is corrupt, not a marker (lost to a crash,
    // open_log() makes it so; the reader takes a read-only file's whole first frame as the
    // record either way); and a name this run did not make durable is flushed.
    void finish_durable(const std::string& path) {
      unflushed = false;
      if (read_only) ::fchmod(fd, 0600);
      read_only = false;
      if (!name_durable) cni::sync_parent_dir(path);
      name_durable = true;
    }
  };
  struct Seen {
    std::string cid;
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    size_t valid_end = 0;
    bool legacy = false;
  };
  // The ADD marker this process just created, kept open (O_RDWR) so that the first record
  // goes into it: a file whose mode says "read-only" can still be written through it.
  struct Marker {
    std::string cid;
    int fd = -1;
  };
  std::optional<Log> log;
  std::optional<Seen> seen;
  std::optional<Marker> marker;

  void close_log() {
    if (log && log->fd >= 0) ::close(log->fd);
    log.reset();
  }
  void close_marker() {
    if (marker && marker->fd >= 0) ::close(marker->fd);
    marker.reset();
  }
  ~Files() {
    close_log();
    close_marker();
  }
};

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
  r.format_version = cni::json_integer<int>(j.at("version"), "\"version\"");
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
  r.deleted_at = cni::json_integer_or<int64_t>(j, "deletedAt", 0);
  r.abandoned = j.value("abandoned", std::vector<std::string>{});
  return r;
}

Journal::Journal(std::string dir) : dir_(std::move(dir)), files_(std::make_shared<Files>()) {}

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
  // A verb loads before it saves, under the container's lock: whatever this process had
  // open for the container may have been replaced since, so the next save opens afresh.
  if (files_->log && files_->log->cid == container_id) files_->close_log();
  files_->close_marker();
  std::optional<std::string> bytes;
  struct stat st {};
  try {
    bytes = cni::read_state_file(path, kMaxJournalBytes, st);
  } catch (const cni::Error& e) {
    throw CorruptJournal(path, e.msg());
  }
  if (!bytes) return std::nullopt;
  // The ADD marker: a read-only file that is empty, or whose first record was cut short (a
  // kill or a power loss before that record's fdatasync returned, so no delegate ran on it):
  // the marker is made writable only once its first frame is durable (write_over_marker()).
  // No save ever leaves an empty file, let alone a read-only one: a record is appended to a
  // non-empty log or renamed into place whole (0600), durably whenever it replaces a record
  // (save()). Any other empty or cut file (by someone else) is corrupt.
  const bool read_only = !(st.st_mode & S_IWUSR);
  auto marker = [&] {
    files_->seen.reset();
    JournalRecord m;
    m.container_id = container_id;
    m.state = JournalState::kDeleted;
    m.deleted_at = st.st_mtime;
    m.marker = true;
    return m;
  };
  if (read_only && bytes->empty()) return marker();
  try {
    JournalFileView view = split_journal_file(*bytes);
    files_->seen =
        Files::Seen{container_id, st.st_dev, st.st_ino, st.st_size, view.valid_end, view.legacy};
    // A journal holds configs bounded at planning, a few levels down: anything deeper or
    // larger was not written by cnimux.
    cni::JsonParse parsed = cni::try_parse_json(
        view.record, {.max_bytes = kMaxJournalBytes, .max_depth = cni::kMaxJsonDepth + 8});
    if (!parsed.value) throw std::runtime_error(parsed.why);
    JournalRecord r = journal_from_json(*parsed.value);
    if (r.container_id != container_id) {
      throw std::runtime_error("belongs to container \"" + r.container_id + "\"");
    }
    return r;
  } catch (const std::exception& e) {
    files_->seen.reset();
    // Only what cannot be read: a read-only file that holds a record (a whole first frame,
    // or a format-2 file someone made read-only) is that record.
    if (read_only && !starts_with_whole_frame(*bytes)) return marker();
    throw CorruptJournal(path, e.what());
  }
}

bool Journal::open_log(const std::string& cid) const {
  Files& f = *files_;
  if (f.log && f.log->cid == cid) return true;
  f.close_log();
  // The marker we just created gets its first record from write_over_marker().
  if (f.marker && f.marker->cid == cid) return false;
  const std::string path = path_for(cid);
  // No symlink (ELOOP) and no FIFO (O_NONBLOCK, then the regular-file check): save()
  // replaces whatever is there.
  int fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  Files::Log log{cid, fd, 0, false};
  auto give_up = [&] {
    ::close(fd);
    return false;
  };
  struct stat st;
  // An empty file (a marker that an earlier run left) is replaced whole, as before; only
  // the marker this run created gets its first frame in place (write_over_marker()).
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0 ||
      static_cast<size_t>(st.st_size) > kMaxAppendedBytes)
    return give_up();
  size_t valid_end = 0;
  const std::optional<Files::Seen>& seen = f.seen;
  if (seen && seen->cid == cid && seen->dev == st.st_dev && seen->ino == st.st_ino &&
      seen->size == st.st_size) {
    if (seen->legacy) return give_up();  // format 2: rewritten as a log by save()
    valid_end = seen->valid_end;
  } else {
    std::string bytes(static_cast<size_t>(st.st_size), '\0');
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::pread(fd, bytes.data() + done, bytes.size() - done, done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return give_up();
      done += static_cast<size_t>(n);
    }
    try {
      JournalFileView view = split_journal_file(bytes);
      if (view.legacy) return give_up();
      valid_end = view.valid_end;
    } catch (const std::exception&) {
      return give_up();  // damaged: replaced whole, as any save replaced it before logs
    }
  }
  // A frame cut short by a kill or a power loss is cut off before the next one goes on.
  if (valid_end < static_cast<size_t>(st.st_size) &&
      ::ftruncate(fd, static_cast<off_t>(valid_end)) != 0)
    return give_up();
  // A marker whose first record is whole but whose chmod a kill or a power loss took: from
  // now on the mode must not excuse a first frame that is cut (load()).
  if (!(st.st_mode & S_IWUSR)) ::fchmod(fd, 0600);
  log.end = valid_end;
  f.log = std::move(log);
  return true;
}

bool Journal::append(const std::string& cid, const std::string& frame, Sync sync) const {
  if (!open_log(cid)) return false;
  Files::Log& log = *files_->log;
  if (log.end + frame.size() > kMaxAppendedBytes) {
    files_->close_log();
    return false;
  }
  const std::string path = path_for(cid);
  // Any failure leaves the log closed, so the next save reads the file afresh and cuts
  // whatever part of this frame reached it.
  auto fail = [&](const char* what) {
    const int err = errno;
    files_->close_log();
    throw cni::Error(cni::kIoFailure, std::string(what) + " " + path + ": " + std::strerror(err));
  };
  size_t done = 0;
  while (done < frame.size()) {
    ssize_t n = ::pwrite(log.fd, frame.data() + done, frame.size() - done,
                         static_cast<off_t>(log.end + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot write");
    done += static_cast<size_t>(n);
  }
  log.end += frame.size();
  log.unflushed = true;
  if (sync == Sync::kDurable) {
    if (::fdatasync(log.fd) != 0) fail("cannot sync");
    log.finish_durable(path);
  }
  return true;
}

bool Journal::write_over_marker(const std::string& cid, const std::string& frame, Sync sync) const {
  Files& f = *files_;
  if (!f.marker || f.marker->cid != cid) return false;
  const int fd = std::exchange(f.marker->fd, -1);
  f.close_marker();
  cni::ScopeGuard close_fd([fd] { ::close(fd); });
  const std::string path = path_for(cid);
  // Only into the marker as we made it: still at its name (not replaced by another file or
  // a symlink) and still empty. Anything else takes the temp file + rename that replaces it.
  struct stat held, named;
  if (frame.size() > kMaxAppendedBytes || ::fstat(fd, &held) != 0 ||
      ::lstat(path.c_str(), &named) != 0 || held.st_dev != named.st_dev ||
      held.st_ino != named.st_ino || !S_ISREG(held.st_mode) || held.st_size != 0)
    return false;
  // Until the frame is durable the file stays read-only, so a frame cut short reads as the
  // marker alone ("nothing owed"); a failed write is also cut back to the empty marker.
  auto fail = [&](const char* what) {
    const int err = errno;
    (void)::ftruncate(fd, 0);
    throw cni::Error(cni::kIoFailure, std::string(what) + " " + path + ": " + std::strerror(err));
  };
  size_t done = 0;
  while (done < frame.size()) {
    ssize_t n = ::pwrite(fd, frame.data() + done, frame.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot write");
    done += static_cast<size_t>(n);
  }
  // The marker's name was never flushed; it stays read-only until its frame is durable.
  Files::Log log{cid,
                 fd,
                 frame.size(),
                 /*name_durable=*/false,
                 /*read_only=*/true,
                 /*unflushed=*/true};
  if (sync == Sync::kDurable) {
    if (::fdatasync(fd) != 0) fail("cannot sync");
    log.finish_durable(path);
  }
  close_fd.commit();
  f.close_log();
  f.log = std::move(log);
  return true;
}

void Journal::save(const JournalRecord& record, Sync sync) const {
  ensure_usable();
  const std::string& cid = record.container_id;
  const std::string frame = encode_journal_frame(to_json(record).dump());
  try {
    if (append(cid, frame, sync)) return;
    // An ordered first record (an ADD's tombstone) keeps the rename: in place it could not
    // turn the marker writable without a flush.
    if (sync != Sync::kOrdered && write_over_marker(cid, frame, sync)) return;
    files_->close_marker();
    // A new log holding this record alone, renamed over whatever was there. Durable also
    // when it replaces a record (rare: a log grown too large, a format-2 file): a rename that
    // reached the disk without its data would leave an empty file, which reads as the ADD
    // marker, "nothing owed".
    const std::string path = path_for(cid);
    struct stat st;
    const bool durable = sync == Sync::kDurable ||
                         (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0);
    int fd = cni::replace_state_file(path, temp_path(cid), frame, durable);
    files_->close_log();
    files_->log = Files::Log{cid, fd, frame.size(), durable, /*read_only=*/false, !durable};
  } catch (const cni::Error& e) {
    throw cni::Error(e.code(), "journal: " + e.msg());
  }
}

void Journal::sync(const std::string& container_id) const {
  const std::string path = path_for(container_id);
  if (!files_->log || files_->log->cid != container_id) {
    throw cni::Error(cni::kIoFailure, "journal: " + path + " has no save of this run to sync");
  }
  Files::Log& log = *files_->log;
  // A durable save did it already (a marker still read-only always has unflushed data).
  if (!log.unflushed && log.name_durable) return;
  if (::fdatasync(log.fd) != 0) {
    const int err = errno;
    throw cni::Error(cni::kIoFailure, "journal: cannot sync " + path + ": " + std::strerror(err));
  }
  try {
    log.finish_durable(path);
  } catch (const cni::Error& e) {
    throw cni::Error(e.code(), "journal: " + e.msg());
  }
}

bool Journal::mark_adding(const std::string& container_id) const {
  // O_EXCL: a journal already there (a tombstone, a record a repeated ADD just undid) stays
  // as it is and speaks for itself. No symlink is followed. Read-only (0400) is what tells
  // the marker from a journal that something else emptied.
  // Kept open for writing: the ADD's first durable record goes into this very file.
  int fd = ::open(path_for(container_id).c_str(),
                  O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
  if (fd < 0) return errno == EEXIST;
  files_->close_marker();
  files_->marker = Files::Marker{container_id, fd};
  return true;
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
  if (files_->log && files_->log->cid == container_id) files_->close_log();
  if (files_->marker && files_->marker->cid == container_id) files_->close_marker();
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
