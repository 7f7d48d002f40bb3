// Logging through spdlog, to a file or stderr, never stdout. Every line carries the
// container ID and the verb so one pod's story can be grepped out of a shared log.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace cni {

struct LogOptions {
  std::string program;  // e.g. "cnimux"
  std::string container_id;
  std::string verb;
  std::string file;            // empty: stderr
  std::string level = "warn";  // trace, debug, info, warn, error, off (Multus's "verbose"=debug,
                               // "panic"=critical are accepted too)
  bool also_stderr = false;    // logToStderr with a file
};

// (Re)installs the default spdlog logger. Safe to call again when the meta config arrives.
// A file that cannot be opened falls back to stderr with a warning; never throws. The file is
// opened without following a symlink, mode 0600; a missing parent directory is created 0700.
void init_logging(const LogOptions& opts);

// Maps a level name, case-insensitively, to spdlog's: trace, debug, info, warn/warning,
// error, critical, off, plus Multus's "verbose" (debug) and "panic" (critical). Unknown or
// empty names give warn.
spdlog::level::level_enum parse_log_level(const std::string& name);

}  // namespace cni
