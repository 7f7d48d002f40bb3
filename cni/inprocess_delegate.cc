// In-process delegation: the request becomes the Invocation the plugin's binary would have
// parsed, dispatch() runs the verb (in a forked child, without exec), and the outcome is read
// like a child's stdout.
#include "cni/inprocess_delegate.h"

#include <charconv>
#include <optional>
#include <system_error>

#include "cni/error.h"
#include "cni/exec_delegate.h"
#include "cni/process.h"
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

// The child's payload: the exit code, a newline, then stdout.
std::string encode(const DelegateOutput& out) {
  return std::to_string(out.exit_code) + "\n" + out.out;
}

DelegateOutput decode(const std::string& payload) {
  DelegateOutput out;
  const size_t nl = payload.find('\n');
  std::from_chars(payload.data(), payload.data() + nl, out.exit_code);
  out.out.assign(payload, nl + 1);
  return out;
}

}  // namespace

InProcessDelegate::InProcessDelegate(std::string type, std::unique_ptr<Plugin> plugin,
                                     Isolation isolation)
    : type_(std::move(type)), plugin_(std::move(plugin)), isolation_(isolation) {
  validate_plugin_type(type_);
  if (!plugin_) throw Error(kInvalidConfig, "in-process plugin \"" + type_ + "\" is null");
}

namespace {

DelegateOutput run_dispatch(Plugin& plugin, const DelegateRequest& req) {
  DelegateOutput out;
  try {
    DispatchOutcome outcome = dispatch(plugin, invocation_of(req), req.config);
    out.exit_code = outcome.exit_code;
    out.out = std::move(outcome.stdout_json);
  } catch (const Error& e) {
    // parse_invocation's refusal: what the binary's skeleton would have printed.
    out.exit_code = 1;
    out.out = e.to_json(latest_version()).dump();
  }
  return out;
}

}  // namespace

nlohmann::json InProcessDelegate::invoke(const DelegateRequest& req) {
  if (req.before_input) req.before_input();  // nothing to overlap with: it runs at once
  run_after_input(req);
  if (isolation_ == Isolation::kCallingThread) {
    return interpret_delegate_output(type_, req.verb, run_dispatch(*plugin_, req));
  }
  ForkOutcome fork;
  try {
    fork = run_in_fork([&] { return encode(run_dispatch(*plugin_, req)); }, req.timeout,
                       ExecDelegate::Options::kMaxStdout + 16);
  } catch (const std::system_error& e) {
    throw Error(kDelegateFailed, type_ + ": cannot fork: " + e.code().message());
  }
  if (fork.timed_out) {
    throw Error(kDelegateTimeout, type_ + ": timed out after " +
                                      std::to_string(req.timeout.count()) +
                                      "ms; killed its process group");
  }
  if (fork.stopped) throw Error(kDelegateFailed, type_ + ": stopped: cnimux is terminating");
  DelegateOutput out;
  if (fork.finished) {
    out = decode(fork.payload);
  } else if (fork.term_signal != 0) {
    out.term_signal = fork.term_signal;
  } else {
    throw Error(kDelegateFailed, type_ + ": the in-process child ended without a result");
  }
  return interpret_delegate_output(type_, req.verb, out);
}

std::vector<std::string> InProcessDelegate::supported_versions(const DelegateRequest&) {
  return plugin_->versions();
}

}  // namespace cni
