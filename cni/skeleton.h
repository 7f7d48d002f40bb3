// The plugin skeleton: validates the environment, negotiates the version, dispatches to a
// cni::Plugin and prints exactly one JSON object. Used by every binary and, without a
// process in between, by in-process delegates.
#pragma once

#include <string>

#include "cni/env.h"
#include "cni/plugin.h"

namespace cni {

// What one dispatch produced: the JSON to print ("" for a silent success) and the exit
// status (0 success, 1 error).
struct DispatchOutcome {
  int exit_code = 0;
  std::string stdout_json;
};

// Runs one verb of `plugin` against an already-parsed invocation and the stdin bytes.
// Rules: the config's cniVersion must be one of plugin.versions() (code 1); CHECK needs
// >= 0.4.0; STATUS and GC need >= 1.1.0; VERSION answers {cniVersion, supportedVersions}.
// Any exception becomes an error object; nothing is written anywhere.
DispatchOutcome dispatch(Plugin& plugin, const Invocation& inv, const std::string& stdin_bytes);

// main() for a plugin binary: reads CNI_* and stdin, dispatches, writes stdout, returns the
// exit status. `program` names the plugin in logs.
int run_plugin_main(Plugin& plugin, const std::string& program);

}  // namespace cni
