// The list of in-tree delegates and their registration (delegates/registry.h).
#include "delegates/registry.h"

#include <algorithm>

#include "cni/error.h"
#include "delegates/host-device/host_device.h"
#include "delegates/ipvlan/ipvlan.h"
#include "delegates/macvlan/macvlan.h"
#include "delegates/sriov/sriov.h"

namespace delegates {

const std::vector<InTreeType>& in_tree_types() {
  static const std::vector<InTreeType> kTypes = {
      {"cnimux-macvlan", "macvlan", [] { return std::make_unique<MacvlanPlugin>(); }},
      {"cnimux-ipvlan", "ipvlan", [] { return std::make_unique<IpvlanPlugin>(); }},
      {"cnimux-host-device", "host-device", [] { return std::make_unique<HostDevicePlugin>(); }},
      {"cnimux-sriov", "sriov", [] { return std::make_unique<SriovPlugin>(); }},
  };
  return kTypes;
}

namespace {

const InTreeType* find_reference(const std::string& reference) {
  const auto& types = in_tree_types();
  auto it = std::find_if(types.begin(), types.end(),
                         [&](const InTreeType& t) { return t.reference == reference; });
  return it == types.end() ? nullptr : &*it;
}

}  // namespace

void check_reference_types(const std::vector<std::string>& reference_types,
                           const std::string& key) {
  for (const auto& name : reference_types) {
    if (find_reference(name)) continue;
    std::string known;
    for (const auto& t : in_tree_types()) known += (known.empty() ? "" : ", ") + t.reference;
    throw cni::Error(cni::kInvalidConfig, key + ": \"" + name +
                                              "\" has no in-tree implementation (known: " +
                                              (known.empty() ? "none" : known) + ")");
  }
}

void register_in_tree(cni::DelegateRegistry& registry,
                      const std::vector<std::string>& reference_types) {
  for (const auto& t : in_tree_types()) registry.register_inprocess(t.type, t.factory);
  check_reference_types(reference_types);
  for (const auto& name : reference_types) {
    registry.register_inprocess(name, find_reference(name)->factory);
  }
}

}  // namespace delegates
