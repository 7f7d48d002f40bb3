// cnimux-host-device: the executable; all logic lives in delegates::HostDevicePlugin.
#include "cni/skeleton.h"
#include "delegates/host-device/host_device.h"

int main() {
  delegates::HostDevicePlugin plugin;
  return cni::run_plugin_main(plugin, "cnimux-host-device");
}
