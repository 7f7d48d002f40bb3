// cni::Delegate: runs one plugin config for one verb. Two implementations exist, an
// executed binary (cni/exec_delegate.h) and an in-process plugin (cni/inprocess_delegate.h);
// the meta plugin cannot tell them apart.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cni/env.h"

namespace cni {

struct DelegateRequest {
  Verb verb = Verb::kAdd;
  std::string container_id;
  std::string netns;
  std::string ifname;
  std::string cni_args;           // already encoded "K=V;K2=V2"
  std::vector<std::string> path;  // CNI_PATH for the delegate (and where to find it)
  std::string config;             // stdin bytes, passed exactly
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  // When set, runs once the delegate exists and before it is given `config`: a plugin acts
  // only on its config, so the caller can finish here what must be done before the delegate
  // may act (the journal's flush), while the delegate's exec and start-up go on. A throw
  // stops the delegate unfed, and the error propagates.
  std::function<void()> before_input;
  // When set, runs once the delegate has been given `config` (an in-process delegate: just
  // before it runs), while it works: the caller can start what comes next (the next
  // attachment's delegate) off the critical path. Must not throw; a throw is logged and
  // ignored.
  std::function<void()> after_input;
};

// Runs req.after_input, if any, keeping its throw from the call (in exec_delegate.cc).
void run_after_input(const DelegateRequest& req) noexcept;

// A delegate process started ahead of its call (Delegate::prestart). Destroying it kills the
// process unfed unless a call took it over.
class Prestart {
 public:
  virtual ~Prestart() = default;
};

class Delegate {
 public:
  virtual ~Delegate() = default;

  // The plugin type, e.g. "bridge"; used in every error message.
  virtual const std::string& type() const = 0;

  // Runs the verb. Returns the JSON object the plugin printed, or null when it printed
  // nothing (DEL, CHECK, GC and STATUS succeed silently). On failure throws cni::Error that
  // keeps the plugin's own code and message and names the plugin.
  virtual nlohmann::json invoke(const DelegateRequest& req) = 0;

  // The versions the plugin supports, from its VERSION answer.
  virtual std::vector<std::string> supported_versions(const DelegateRequest& probe) = 0;

  // Starts the plugin for `req` (everything but its config, which is ignored) now, so that
  // its exec and start-up overlap the caller's own work; the first invoke() of a request
  // that would start the same program with the same environment takes it over and gives it
  // its config then. A plugin acts only on its config, so a process never taken over has
  // done nothing when the returned handle kills it. Null when there is nothing to start
  // ahead (an in-process delegate). Throws what invoke() would for a start that fails.
  virtual std::unique_ptr<Prestart> prestart(const DelegateRequest& req) {
    (void)req;
    return nullptr;
  }
};

// Maps a plugin type to a Delegate: an in-tree one when registered, else an executable
// found in the request's path. A type containing '/' is refused (code 7).
class DelegateResolver {
 public:
  virtual ~DelegateResolver() = default;
  virtual std::unique_ptr<Delegate> resolve(const std::string& type) = 0;

  // Throws Error(7) naming the type unless a delegate of `type` could run now: a valid type
  // that is in-process, or an executable found in the search dirs or `path`. Planning calls
  // it for every plugin before anything is journalled, so an ADD never records an
  // attachment that could not have run.
  virtual void ensure_runnable(const std::string& type, const std::vector<std::string>& path) {
    (void)path;
    resolve(type);
  }
};

}  // namespace cni
