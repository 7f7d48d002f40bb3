// cni::ExecDelegate: runs an external CNI plugin binary the way libcni does (find, exec with
// CNI_* env and stdin, capture stdout/stderr, deadline), plus the output rules both delegates
// share.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cni/delegate.h"
#include "cni/env.h"
#include "cni/process.h"
#include "cni/version_cache.h"

namespace cni {

// What a plugin run produced, before interpretation.
struct DelegateOutput {
  int exit_code = 0;    // meaningful when term_signal == 0
  int term_signal = 0;  // the signal that killed the plugin, 0 if it exited
  std::string out;      // stdout, at most kMaxStdout bytes
  bool out_truncated = false;
  std::string err;  // stderr, at most kMaxStderr bytes kept
};

// Interprets a run of plugin `type` for `verb` (shared by the exec and in-process paths):
// - exit 0, stdout empty: null; except ADD and VERSION, which must print (code 6).
// - exit 0: stdout must be exactly one JSON object (else code 6, quoting its first 200
//   bytes); it is returned as is, so a result without cniVersion is accepted.
// - exit != 0 with an error object on stdout: that code, msg "<type>: <msg>", details kept.
// - exit != 0 with empty stdout: code 100, msg "<type>: <stderr, trimmed, <= 1 KiB>".
// - exit != 0 with other stdout: code 100 quoting it; stderr goes in details.
// - killed by a signal: code 100, "<type>: killed by signal SIGSEGV".
nlohmann::json interpret_delegate_output(const std::string& type, Verb verb,
                                         const DelegateOutput& out);

// Calls `launch` until it does not throw std::system_error with ETXTBSY ("text file busy":
// the binary is still open for writing, e.g. being copied into place), at most `attempts`
// times, sleeping `backoff`, then twice that, ... between tries. Other errors, and the last
// ETXTBSY, propagate.
void retry_on_text_busy(const std::function<void()>& launch, int attempts,
                        std::chrono::milliseconds backoff);

// kill_running_delegates() (the SIGTERM path) is declared in cni/process.h.

class ExecDelegate : public Delegate {
 public:
  struct Options {
    static constexpr size_t kMaxStdout = 1 << 20;   // a bigger result is an error (code 6)
    static constexpr size_t kMaxStderr = 64 << 10;  // the rest of stderr is read and dropped
    int text_busy_attempts = 6;
    std::chrono::milliseconds text_busy_backoff{20};
  };

  // `type` is checked here: empty, ".", ".." or containing '/' throws Error(7). The binary
  // is looked up at each call in `search_dirs`, then in the request's path. `cache` may be
  // null (every supported_versions() call then runs VERSION).
  ExecDelegate(std::string type, std::vector<std::string> search_dirs,
               std::shared_ptr<VersionCache> cache, Options options);
  ExecDelegate(std::string type, std::vector<std::string> search_dirs,
               std::shared_ptr<VersionCache> cache = nullptr)
      : ExecDelegate(std::move(type), std::move(search_dirs), std::move(cache), Options()) {}

  const std::string& type() const override { return type_; }

  // Runs the binary with the process env minus every CNI_* variable, plus CNI_COMMAND,
  // CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS and CNI_PATH (always set: req.path,
  // else the search dirs), and reads req.config on stdin. The child joins a new process
  // group led by a ProcessGroupGuard (cni/process.h), and dies with its parent
  // (PR_SET_PDEATHSIG; the parent is the calling thread, which blocks until the child is
  // reaped); if this process dies, the guard kills the rest of the group. When the call
  // returns, nothing of the group runs: what the plugin left in it is killed, and the plugin
  // and the guard are reaped. Past req.timeout the whole group is killed and Error(101) names
  // the type and the timeout. Errors: not found or invalid type (7), exec or guard failure
  // (100), ETXTBSY after every retry (11), and interpret_delegate_output's.
  nlohmann::json invoke(const DelegateRequest& req) override;

  // The plugin's VERSION answer, from the cache when the binary (path, size, mtime, inode)
  // was probed before. Probes like libcni: CNI_NETNS and CNI_IFNAME "dummy", CNI_PATH the
  // probe's path (or "dummy"), stdin probe.config with cniVersion defaulted to the newest.
  // An answer without cniVersion is a legacy plugin: ["0.1.0"].
  std::vector<std::string> supported_versions(const DelegateRequest& probe) override;

  // Executes the binary for `req` as invoke() would, with its environment, in its guarded
  // process group, and gives it nothing on stdin yet. While the handle lives, the first
  // invoke() (of any ExecDelegate of this process) that would execute the same binary with
  // the same environment takes the process over; its timeout runs from then. Errors: those
  // of invoke() for finding and starting the binary.
  std::unique_ptr<Prestart> prestart(const DelegateRequest& req) override;

  // The binary that would run for `path`: the first executable regular file <dir>/<type>
  // in search_dirs then `path`. Error(7) naming the type and every dir when none exists.
  std::string find_binary(const std::vector<std::string>& path) const;

 private:
  DelegateOutput run(const std::string& binary, const DelegateRequest& req);

  std::string type_;
  std::vector<std::string> search_dirs_;
  std::shared_ptr<VersionCache> cache_;
  Options options_;
};

// Throws Error(7) unless `type` can name a binary: non-empty, not "." or "..", no '/'.
void validate_plugin_type(const std::string& type);

}  // namespace cni
