// The one list of in-tree delegates: each type's own name (cnimux-macvlan, ...), the reference
// type it can stand in for (macvlan, ...), and its factory; and their registration with the
// delegate resolver.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cni/delegate_resolver.h"
#include "cni/plugin.h"

namespace delegates {

struct InTreeType {
  std::string type;       // the in-tree plugin's own type and binary name: "cnimux-macvlan"
  std::string reference;  // the reference type it implements: "macvlan"
  cni::DelegateRegistry::PluginFactory factory;
};

// Every in-tree delegate, in a fixed order.
const std::vector<InTreeType>& in_tree_types();

// Throws cni::Error(7) naming `key`, the value and the known reference types unless every
// name in `reference_types` has an in-tree implementation (the meta config's inTree check).
void check_reference_types(const std::vector<std::string>& reference_types,
                           const std::string& key = "inTree");

// Registers every in-tree type in-process under its own name, and under each reference name
// in `reference_types` (the meta config's inTree), so a NAD that says "type": "macvlan" runs
// the in-tree one, unchanged. Each runs in a forked child (cni::Isolation::kForkedChild).
void register_in_tree(cni::DelegateRegistry& registry,
                      const std::vector<std::string>& reference_types);

}  // namespace delegates
