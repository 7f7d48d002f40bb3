// Checks and creates the SQLite store's directory and files without following symlinks.
#include "ipam/store_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "cni/error.h"
#include "cni/scope_guard.h"

namespace ipam {
namespace {

// SQLite's side files of a database: the WAL, its shared-memory index, the rollback journal.
constexpr const char* kSideSuffixes[] = {"-wal", "-shm", "-journal"};

[[noreturn]] void refuse(const std::string& what, const std::string& path, const std::string& why) {
  throw cni::Error(cni::kInvalidConfig, "ipam store " + what + " \"" + path + "\": " + why);
}

std::string octal_mode(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

// mkdir -p, creating each missing directory 0700; existing ones are checked afterwards.
void ensure_dirs(const std::string& dir) {
  if (dir.empty() || dir == "/") return;
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      throw cni::Error(cni::kIoFailure, "ipam store directory \"" + dir + "\": not a directory");
    }
    return;
  }
  auto slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) ensure_dirs(dir.substr(0, slash));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw cni::Error(cni::kIoFailure,
                     "ipam store directory \"" + dir + "\": mkdir: " + std::strerror(errno));
  }
}

std::string real_path(const std::string& dir) {
  std::unique_ptr<char, decltype(&std::free)> real(::realpath(dir.c_str(), nullptr), &std::free);
  if (!real) {
    throw cni::Error(cni::kIoFailure,
                     "ipam store directory \"" + dir + "\": realpath: " + std::strerror(errno));
  }
  return real.get();
}

// Only the running user may create, rename or replace entries in the store directory;
// otherwise every check below could be raced.
void check_dir(const std::string& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    throw cni::Error(cni::kIoFailure,
                     "ipam store directory \"" + dir + "\": " + std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) refuse("directory", dir, "not a directory");
  if (st.st_uid != ::geteuid()) {
    refuse("directory", dir,
           "owned by uid " + std::to_string(st.st_uid) + ", not by the running user (uid " +
               std::to_string(::geteuid()) + ")");
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    refuse("directory", dir,
           "mode " + octal_mode(st.st_mode) + " is group- or world-writable (use 0700)");
  }
}

// A file SQLite will open must be our own plain file: not a symlink (whose target would be
// chmodded and overwritten), not a hard link to a file elsewhere, not a device or FIFO.
void check_file(const std::string& path, const struct stat& st) {
  if (S_ISLNK(st.st_mode)) refuse("file", path, "is a symlink");
  if (!S_ISREG(st.st_mode)) refuse("file", path, "not a regular file");
  if (st.st_nlink > 1) {
    refuse("file", path, "has " + std::to_string(st.st_nlink) + " hard links");
  }
  if (st.st_uid != ::geteuid()) {
    refuse("file", path, "owned by uid " + std::to_string(st.st_uid) + ", not by the running user");
  }
}

// Checks `path` if it exists; returns whether it does.
bool check_existing(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    throw cni::Error(cni::kIoFailure, "ipam store \"" + path + "\": " + std::strerror(errno));
  }
  check_file(path, st);
  return true;
}

// Creates the database file 0600 before SQLite does (it would use 0644 under umask 022);
// SQLite gives the -wal and -shm files the database file's mode.
void create_private_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
  if (fd < 0) {
    if (errno == ELOOP) refuse("file", path, "is a symlink");
    throw cni::Error(cni::kIoFailure, "ipam store \"" + path + "\": open: " + std::strerror(errno));
  }
  cni::ScopeGuard close_fd([fd] { ::close(fd); });
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    throw cni::Error(cni::kIoFailure, "ipam store \"" + path + "\": stat: " + std::strerror(errno));
  }
  check_file(path, st);
  if ((st.st_mode & 07777) != 0600 && ::fchmod(fd, 0600) != 0) {
    throw cni::Error(cni::kIoFailure,
                     "ipam store \"" + path + "\": chmod 0600: " + std::strerror(errno));
  }
}

}  // namespace

std::string prepare_store_file(const std::string& path) {
  auto slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name.empty() || name == "." || name == "..") {
    refuse("path", path, "does not name a file");
  }
  ensure_dirs(dir);
  const std::string real_dir = real_path(dir);
  check_dir(real_dir);
  const std::string file = (real_dir == "/" ? "" : real_dir) + "/" + name;
  for (const char* suffix : kSideSuffixes) check_existing(file + suffix);
  check_existing(file);
  create_private_file(file);
  return file;
}

}  // namespace ipam
