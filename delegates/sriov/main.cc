// cnimux-sriov: the executable; all logic lives in delegates::SriovPlugin.
#include "cni/skeleton.h"
#include "delegates/sriov/sriov.h"

int main() {
  delegates::SriovPlugin plugin;
  return cni::run_plugin_main(plugin, "cnimux-sriov");
}
