// Private state files (journals, caches, locks, logs) in a directory only this user can
// write. Every open refuses symlinks, so a file planted in a state directory can never
// redirect a write of ours to somewhere else on the node.
#pragma once

#include <sys/stat.h>

#include <optional>
#include <string>

namespace cni {

// Creates `dir` (mode 0700; missing parents 0755) when absent, then checks that it is a
// directory owned by the running user that neither group nor others may write. Anything
// else throws Error(`code`) naming the directory and what is wrong with it: a directory that
// others can write lets them plant files (or symlinks) that we would then trust.
void ensure_private_dir(const std::string& dir, int code);

// Reads a whole regular file without following a symlink at `path`. nullopt when it does
// not exist. Throws Error(kIoFailure) when it is a symlink, not a regular file, larger than
// `max_bytes`, or unreadable.
std::optional<std::string> read_state_file(const std::string& path, size_t max_bytes);
// The same, also filling `st` with the fstat() of the file that was read (its identity and
// size), so a later writer can tell whether the file it opens is still that one.
std::optional<std::string> read_state_file(const std::string& path, size_t max_bytes,
                                           struct stat& st);

// Replaces `path` with `bytes` so that a reader sees the old file or the new one, never a
// torn one. The data goes to `tmp_path` first (created exclusively, mode 0600, never through
// a symlink; a stale one from a killed writer is removed), then is renamed over `path`. With
// `durable`, the data and the rename are also fsynced, so the new file survives a power loss
// once this returns. The caller must be the only writer of `tmp_path` (hold a lock).
// Throws Error(kIoFailure) naming the file.
void write_state_file(const std::string& path, const std::string& tmp_path,
                      const std::string& bytes, bool durable);
// write_state_file(), returning the new file's descriptor (O_WRONLY, O_CLOEXEC) open for
// further writes instead of closing it. The caller owns (and closes) it.
int replace_state_file(const std::string& path, const std::string& tmp_path,
                       const std::string& bytes, bool durable);

// fsync() of the directory holding `path`, so that a name created or renamed there survives
// a power loss. Best effort: a directory that cannot be opened is left alone.
void sync_parent_dir(const std::string& path);

// Opens (creating, mode 0600) `path` for reading and writing without following a symlink.
// Returns the descriptor (O_CLOEXEC); throws Error(kIoFailure) naming the file.
int open_state_file(const std::string& path);

// Opens `path` for appending (creating it, mode 0600), without following a symlink. Creates
// a missing parent directory with mode 0700. Returns the descriptor or -1 with errno set.
int open_append_file(const std::string& path);

}  // namespace cni
