// Private state files: symlink-proof opens, atomic replacement, directory checks.
#include "cni/state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "cni/error.h"
#include "cni/scope_guard.h"

namespace cni {
namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

[[noreturn]] void io_error(const std::string& what, const std::string& path, int err) {
  throw Error(kIoFailure, what + " " + path + ": " + errno_text(err));
}

std::string mode_text(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

void write_all(int fd, const std::string& bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) io_error("cannot write", path, errno);
    done += static_cast<size_t>(n);
  }
}

void create_parents(const std::string& dir) {
  std::error_code ec;
  std::filesystem::path parent = std::filesystem::path(dir).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
}

}  // namespace

void ensure_private_dir(const std::string& dir, int code) {
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) throw Error(code, "state directory " + dir + ": " + errno_text(errno));
    create_parents(dir);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      throw Error(code, "state directory " + dir + " cannot be created: " + errno_text(errno));
    }
  }
  // The directory itself may be reached through a symlink (an operator moving /var/lib to
  // another disk); what matters is who can write the directory it leads to.
  if (::stat(dir.c_str(), &st) != 0) {
    throw Error(code, "state directory " + dir + ": " + errno_text(errno));
  }
  if (!S_ISDIR(st.st_mode)) throw Error(code, "state directory " + dir + " is not a directory");
  if (st.st_uid != ::geteuid()) {
    throw Error(code, "state directory " + dir + " is owned by uid " + std::to_string(st.st_uid) +
                          ", not by the running user (uid " + std::to_string(::geteuid()) + ")");
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    throw Error(code, "state directory " + dir + " has mode " + mode_text(st.st_mode) +
                          ": group or others may write it (want 0700)");
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    throw Error(code, "state directory " + dir + " is not writable: " + errno_text(errno));
  }
}

void sync_parent_dir(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return;
  ::fsync(dfd);
  ::close(dfd);
}

std::optional<std::string> read_state_file(const std::string& path, size_t max_bytes) {
  struct stat st;
  return read_state_file(path, max_bytes, st);
}

std::optional<std::string> read_state_file(const std::string& path, size_t max_bytes,
                                           struct stat& st) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    if (errno == ELOOP) throw Error(kIoFailure, path + " is a symlink; refusing to follow it");
    io_error("cannot open", path, errno);
  }
  ScopeGuard close_fd([fd] { ::close(fd); });
  if (::fstat(fd, &st) != 0) io_error("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode)) throw Error(kIoFailure, path + " is not a regular file");
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    throw Error(kIoFailure, path + " holds " + std::to_string(st.st_size) +
                                " bytes, more than the limit of " + std::to_string(max_bytes));
  }
  std::string out;
  out.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) io_error("cannot read", path, errno);
    if (n == 0) break;  // shrank while we read: what we have is what there is
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

void write_state_file(const std::string& path, const std::string& tmp_path,
                      const std::string& bytes, bool durable) {
  ::close(replace_state_file(path, tmp_path, bytes, durable));
}

int replace_state_file(const std::string& path, const std::string& tmp_path,
                       const std::string& bytes, bool durable) {
  // A temporary file left by a killed writer (or planted) is removed, never written through:
  // unlink() removes a symlink itself, and O_EXCL refuses anything that reappears.
  if (::unlink(tmp_path.c_str()) != 0 && errno != ENOENT)
    io_error("cannot remove", tmp_path, errno);
  int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) io_error("cannot create", tmp_path, errno);
  ScopeGuard remove_tmp([&] { ::unlink(tmp_path.c_str()); });
  ScopeGuard close_fd([fd] { ::close(fd); });
  write_all(fd, bytes, tmp_path);
  if (durable && ::fdatasync(fd) != 0) io_error("cannot sync", tmp_path, errno);
  // rename() replaces a symlink at `path` rather than writing through it.
  if (::rename(tmp_path.c_str(), path.c_str()) != 0) io_error("cannot rename to", path, errno);
  remove_tmp.commit();
  // The rename is only durable once the directory entry is on disk.
  if (durable) sync_parent_dir(path);
  close_fd.commit();
  return fd;
}

int open_state_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  if (errno == ELOOP) throw Error(kIoFailure, path + " is a symlink; refusing to follow it");
  io_error("cannot open", path, errno);
}

int open_append_file(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  struct stat st;
  if (!parent.empty() && ::stat(parent.c_str(), &st) != 0 && errno == ENOENT) {
    create_parents(parent.string());
    ::mkdir(parent.c_str(), 0700);
  }
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
}

}  // namespace cni
