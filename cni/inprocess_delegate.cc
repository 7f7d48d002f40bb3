// In-process delegation: the request becomes the Invocation the plugin's binary would have
// parsed, dispatch() runs the verb, and the outcome is read like a child's stdout.
#include "cni/inprocess_delegate.h"

#include <optional>

#include "cni/error.h"
#include "cni/exec_delegate.h"
#include "cni/skeleton.h"
#include "cni/version.h"

namespace cni {
namespace {

std::string join_path(const std::vector<std::string>& dirs) {
  std::string out;
  for (const auto& d : dirs) out += (out.empty() ? "" : ":") + d;
  return out;
}

// The CNI_* variables an executed plugin would see, through parse_invocation's rules.
Invocation invocation_of(const DelegateRequest& req) {
  const std::string path = join_path(req.path);
  return parse_invocation([&](const char* name) -> std::optional<std::string> {
    const std::string n = name;
    if (n == "CNI_COMMAND") return std::string(verb_name(req.verb));
    if (n == "CNI_CONTAINERID") return req.container_id;
    if (n == "CNI_NETNS") return req.netns;
    if (n == "CNI_IFNAME") return req.ifname;
    if (n == "CNI_ARGS") return req.cni_args;
    if (n == "CNI_PATH") return path;
    return std::nullopt;
  });
}

}  // namespace

InProcessDelegate::InProcessDelegate(std::string type, std::unique_ptr<Plugin> plugin)
    : type_(std::move(type)), plugin_(std::move(plugin)) {
  validate_plugin_type(type_);
  if (!plugin_) throw Error(kInvalidConfig, "in-process plugin \"" + type_ + "\" is null");
}

nlohmann::json InProcessDelegate::invoke(const DelegateRequest& req) {
  DelegateOutput out;
  try {
    const DispatchOutcome outcome = dispatch(*plugin_, invocation_of(req), req.config);
    out.exit_code = outcome.exit_code;
    out.out = outcome.stdout_json;
  } catch (const Error& e) {
    // parse_invocation's refusal: what the binary's skeleton would have printed.
    out.exit_code = 1;
    out.out = e.to_json(latest_version()).dump();
  }
  return interpret_delegate_output(type_, req.verb, out);
}

std::vector<std::string> InProcessDelegate::supported_versions(const DelegateRequest&) {
  return plugin_->versions();
}

}  // namespace cni
