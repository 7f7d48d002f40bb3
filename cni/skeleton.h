// The plugin skeleton: validates the environment, negotiates the version, dispatches to a
// cni::Plugin and prints exactly one JSON object. Used by every binary and, without a
// process in between, by in-process delegates.
#pragma once

#include <string>

#include "cni/env.h"
#include "cni/plugin.h"

namespace cni {

// The code of an error object made from an exception that is not a cni::Error: a plugin
// bug, not a fault of the caller's input. (std::system_error maps to 5, I/O failure, and
// nlohmann::json exceptions to 6, decode failure; only the rest get this code.)
inline constexpr int kInternalError = 199;

// What one dispatch produced: the JSON to print ("" for a silent success) and the exit
// status (0 success, 1 error).
struct DispatchOutcome {
  int exit_code = 0;
  std::string stdout_json;
};

// Runs one verb of `plugin` against an already-parsed invocation and the stdin bytes.
// Rules: the config's cniVersion must be one of plugin.versions() (code 1); CHECK needs
// >= 0.4.0; STATUS and GC need >= 1.1.0; VERSION answers {cniVersion, supportedVersions}.
// VERSION echoes the stdin's cniVersion (the plugin's newest version when stdin is empty or
// has none) and never fails. Other verbs: empty stdin is code 6; a config without
// cniVersion is 0.1.0; a present "name" must be a valid network name (code 7). ADD prints
// the result in the config's cniVersion; DEL, CHECK, STATUS and GC print nothing on
// success. Any exception becomes an error object whose cniVersion is the config's when it
// is a known version, else the newest. Nothing is written anywhere, logs included.
DispatchOutcome dispatch(Plugin& plugin, const Invocation& inv, const std::string& stdin_bytes);

// main() for a plugin binary: reads all of stdin and CNI_*, logs to stderr at the level in
// CNIMUX_LOG_LEVEL (default warn), dispatches, writes the outcome plus "\n" to stdout (and
// nothing else, ever), returns the exit status. `program` names the plugin in logs.
int run_plugin_main(Plugin& plugin, const std::string& program);

}  // namespace cni
