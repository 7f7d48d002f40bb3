// kubelet's device-plugin checkpoint: which device IDs each pod got for each resource. Used
// to hand SR-IOV and host devices to the attachments whose NAD names a resourceName.
#pragma once

#include <string>
#include <vector>

namespace plugin {

class DeviceCheckpoint {
 public:
  // Parses the checkpoint JSON ({"Data": {"PodDeviceEntries": [...]}, "Checksum": N}).
  // DeviceIDs may be a list (kubelet < 1.20) or a map from NUMA node to list (>= 1.20).
  // Throws cni::Error(kDecodeFailure) naming what is malformed.
  static DeviceCheckpoint parse(const std::string& bytes);
  // Reads and parses the file; cni::Error(kIoFailure) naming the path when it is unreadable.
  static DeviceCheckpoint load(const std::string& path);

  // Every device of `resource` allocated to the pod, across its containers in file order,
  // NUMA nodes in numeric order, duplicates dropped.
  std::vector<std::string> devices(const std::string& pod_uid, const std::string& resource) const;

 private:
  struct Entry {
    std::string pod_uid;
    std::string container;
    std::string resource;
    std::vector<std::string> device_ids;
  };
  std::vector<Entry> entries_;
};

}  // namespace plugin
