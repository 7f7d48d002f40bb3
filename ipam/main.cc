// cnimux-ipam: the CNI IPAM plugin executable. All logic lives in ipam::IpamPlugin.
#include "cni/skeleton.h"
#include "ipam/ipam_plugin.h"

int main() {
  ipam::IpamPlugin plugin;
  return cni::run_plugin_main(plugin, "cnimux-ipam");
}
