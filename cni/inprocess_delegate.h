// cni::InProcessDelegate: runs an in-tree cni::Plugin through the skeleton's dispatch()
// without an exec, with exactly the error rules and the deadline of an executed binary.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cni/delegate.h"
#include "cni/plugin.h"

namespace cni {

// Where the plugin's verbs run.
enum class Isolation {
  // A forked copy of this process (cni::run_in_fork): no exec, killable at req.timeout, and
  // whatever the plugin does to its namespaces, working directory or memory never reaches
  // the caller. What every in-tree delegate uses.
  kForkedChild,
  // The calling thread: no deadline (a thread cannot be killed), and the plugin's effects
  // stay. For plugins that touch nothing outside their arguments (tests, pure functions).
  kCallingThread,
};

class InProcessDelegate : public Delegate {
 public:
  // `type` is checked like ExecDelegate's (Error 7); `plugin` must not be null.
  InProcessDelegate(std::string type, std::unique_ptr<Plugin> plugin,
                    Isolation isolation = Isolation::kForkedChild);

  const std::string& type() const override { return type_; }

  // Validates the request as the plugin's own binary would (parse_invocation over the
  // CNI_* values it would get), dispatches, and interprets the outcome with
  // interpret_delegate_output(): same codes, same "<type>: " prefix, same rejection of an
  // ADD that prints nothing. In a forked child (the default) a run past req.timeout is
  // killed with its process group: Error(101) "<type>: timed out after Nms; killed its
  // process group"; a crash is code 100 "killed by signal ..."; a child stopped by
  // kill_running_delegates() is code 100 "stopped: cnimux is terminating", all as for an
  // executed binary. Failing to fork is code 100.
  nlohmann::json invoke(const DelegateRequest& req) override;

  // plugin.versions(), without a dispatch.
  std::vector<std::string> supported_versions(const DelegateRequest& probe) override;

 private:
  std::string type_;
  std::unique_ptr<Plugin> plugin_;
  Isolation isolation_;
};

}  // namespace cni
