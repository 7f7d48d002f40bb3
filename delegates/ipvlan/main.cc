// cnimux-ipvlan: the in-tree ipvlan plugin as a binary.
#include "cni/skeleton.h"
#include "delegates/ipvlan/ipvlan.h"

int main() {
  delegates::IpvlanPlugin plugin;
  return cni::run_plugin_main(plugin, "cnimux-ipvlan");
}
