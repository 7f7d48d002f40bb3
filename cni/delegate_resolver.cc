// DelegateRegistry: in-tree plugins by type, executables for everything else.
#include "cni/delegate_resolver.h"

#include "cni/error.h"
#include "cni/inprocess_delegate.h"

namespace cni {

DelegateRegistry::DelegateRegistry(std::vector<std::string> search_dirs,
                                   std::shared_ptr<VersionCache> cache,
                                   ExecDelegate::Options exec_options)
    : search_dirs_(std::move(search_dirs)), cache_(std::move(cache)), exec_options_(exec_options) {}

void DelegateRegistry::register_inprocess(const std::string& type, PluginFactory factory,
                                          Isolation isolation) {
  validate_plugin_type(type);
  if (!factory) throw Error(kInvalidConfig, "in-process plugin \"" + type + "\" has no factory");
  inprocess_[type] = {std::move(factory), isolation};
}

bool DelegateRegistry::is_inprocess(const std::string& type) const {
  return inprocess_.count(type) != 0;
}

std::unique_ptr<Delegate> DelegateRegistry::resolve(const std::string& type) {
  validate_plugin_type(type);
  if (auto it = inprocess_.find(type); it != inprocess_.end()) {
    return std::make_unique<InProcessDelegate>(type, it->second.factory(), it->second.isolation);
  }
  return std::make_unique<ExecDelegate>(type, search_dirs_, cache_, exec_options_);
}

void DelegateRegistry::ensure_runnable(const std::string& type,
                                       const std::vector<std::string>& path) {
  validate_plugin_type(type);
  if (is_inprocess(type)) return;
  ExecDelegate(type, search_dirs_, nullptr, exec_options_).find_binary(path);
}

}  // namespace cni
