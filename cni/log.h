// Logging through spdlog, to a file or stderr, never stdout. Every line carries the
// container ID and the verb so one pod's story can be grepped out of a shared log.
#pragma once

#include <string>

#include <spdlog/spdlog.h>

namespace cni {

struct LogOptions {
  std::string program;        // e.g. "cnimux"
  std::string container_id;
  std::string verb;
  std::string file;           // empty: stderr
  std::string level = "warn"; // trace, debug, info, warn, error, off (Multus's "verbose"=debug,
                              // "panic"=critical are accepted too)
  bool also_stderr = false;   // logToStderr with a file
};

// (Re)installs the default spdlog logger. Safe to call again when the meta config arrives.
// A file that cannot be opened falls back to stderr with a warning; never throws.
void init_logging(const LogOptions& opts);

}  // namespace cni
