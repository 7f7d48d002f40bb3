// cni::Plugin: the six verbs a CNI plugin implements. Every binary's main() hands one of
// these to the skeleton (cni/skeleton.h), which owns stdout, exit codes and error objects.
#pragma once

#include <string>
#include <vector>

#include "cni/config.h"
#include "cni/env.h"
#include "cni/result.h"

namespace cni {

// One call as the plugin sees it: the validated environment and the stdin config.
struct Request {
  Invocation invocation;
  std::string stdin_bytes;  // exactly what arrived, for plugins that must forward it
  NetConf conf;             // parsed stdin; conf.raw keeps unknown keys
};

class Plugin {
 public:
  virtual ~Plugin() = default;

  // Creates the attachment and returns its result; the skeleton prints it in the config's
  // cniVersion. Failures throw cni::Error.
  virtual Result add(const Request& req) = 0;
  // Best effort and idempotent: succeeds when the attachment is already gone.
  virtual void del(const Request& req) = 0;
  // Fails when anything in conf.prev_result() is missing.
  virtual void check(const Request& req) = 0;
  // Returns normally when an ADD could be served now; else throws code 50 or 51.
  virtual void status(const Request& req) = 0;
  // Releases everything not in cni.dev/valid-attachments.
  virtual void gc(const Request& req) = 0;

  // Versions this plugin speaks; defaults to every version the library supports.
  virtual std::vector<std::string> versions() const;
};

}  // namespace cni
