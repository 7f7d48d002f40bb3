// Defaults shared by every cni::Plugin.
#include "cni/plugin.h"

#include "cni/version.h"

namespace cni {

std::vector<std::string> Plugin::versions() const {
  return supported_versions();
}

}  // namespace cni
