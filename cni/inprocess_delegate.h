// cni::InProcessDelegate: runs an in-tree cni::Plugin through the skeleton's dispatch() in
// this process, with exactly the error rules of an executed binary.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cni/delegate.h"
#include "cni/plugin.h"

namespace cni {

class InProcessDelegate : public Delegate {
 public:
  // `type` is checked like ExecDelegate's (Error 7); `plugin` must not be null.
  InProcessDelegate(std::string type, std::unique_ptr<Plugin> plugin);

  const std::string& type() const override { return type_; }

  // Validates the request as the plugin's own binary would (parse_invocation over the
  // CNI_* values it would get), dispatches, and interprets the outcome with
  // interpret_delegate_output(): same codes, same "<type>: " prefix, same rejection of an
  // ADD that prints nothing. req.timeout is not enforced: a thread cannot be killed, so
  // in-tree plugins must bound their own waits. The plugin runs on the calling thread.
  nlohmann::json invoke(const DelegateRequest& req) override;

  // plugin.versions(), without a dispatch.
  std::vector<std::string> supported_versions(const DelegateRequest& probe) override;

 private:
  std::string type_;
  std::unique_ptr<Plugin> plugin_;
};

}  // namespace cni
