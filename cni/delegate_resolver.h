// cni::DelegateRegistry: the concrete DelegateResolver. In-tree plugins registered by type
// run in-process; every other type is an executable found in the search dirs.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cni/delegate.h"
#include "cni/exec_delegate.h"
#include "cni/inprocess_delegate.h"
#include "cni/plugin.h"
#include "cni/version_cache.h"

namespace cni {

class DelegateRegistry : public DelegateResolver {
 public:
  // Makes a fresh plugin for every resolve(), so delegates never share state.
  using PluginFactory = std::function<std::unique_ptr<Plugin>()>;

  // `search_dirs` (e.g. the meta config's binDir) are searched before each request's path.
  // `cache` may be null; it is shared by every ExecDelegate this registry makes.
  explicit DelegateRegistry(std::vector<std::string> search_dirs,
                            std::shared_ptr<VersionCache> cache = nullptr,
                            ExecDelegate::Options exec_options = {});

  // Runs `type` in-process from now on (in a forked child unless `isolation` says otherwise;
  // cni/inprocess_delegate.h); replaces an earlier registration. Error(7) for a type
  // ExecDelegate would refuse.
  void register_inprocess(const std::string& type, PluginFactory factory,
                          Isolation isolation = Isolation::kForkedChild);
  bool is_inprocess(const std::string& type) const;

  // An InProcessDelegate when registered, else an ExecDelegate (the binary is looked up when
  // it runs). Error(7) for an invalid type.
  std::unique_ptr<Delegate> resolve(const std::string& type) override;
  void ensure_runnable(const std::string& type, const std::vector<std::string>& path) override;

 private:
  std::vector<std::string> search_dirs_;
  std::shared_ptr<VersionCache> cache_;
  ExecDelegate::Options exec_options_;
  struct InProcess {
    PluginFactory factory;
    Isolation isolation;
  };
  std::map<std::string, InProcess> inprocess_;
};

}  // namespace cni
