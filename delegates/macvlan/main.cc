// cnimux-macvlan: the in-tree macvlan plugin as a binary.
#include "cni/skeleton.h"
#include "delegates/macvlan/macvlan.h"

int main() {
  delegates::MacvlanPlugin plugin;
  return cni::run_plugin_main(plugin, "cnimux-macvlan");
}
