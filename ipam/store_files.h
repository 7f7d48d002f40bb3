// The SQLite store's files on disk: creates what is missing privately, and refuses a path
// that someone other than the running user could redirect (symlinks, hard links, a
// directory others may write), so the store never turns another file into a database.
#pragma once

#include <string>

namespace ipam {

// Prepares the database at `path` for opening and returns the path to open: the store
// directory resolved to its real path (a symlinked parent directory is accepted) plus the
// file name. Missing directories are created 0700, the database file 0600 (O_NOFOLLOW).
// Refused with Error(kInvalidConfig), naming the path and the rule:
//   - a store directory not owned by the running user, or group- or world-writable;
//   - a database file, or its -wal, -shm or -journal file, that is a symlink, not a
//     regular file, has more than one hard link, or is owned by another user.
// Error(kIoFailure) when a directory cannot be created or the file cannot be opened.
std::string prepare_store_file(const std::string& path);

}  // namespace ipam
