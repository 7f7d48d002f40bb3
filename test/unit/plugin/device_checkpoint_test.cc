// Tests for reading kubelet's device checkpoint in both DeviceIDs shapes.
#include "plugin/device_checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cni/error.h"

namespace plugin {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Kubernetes >= 1.20: DeviceIDs maps NUMA node to IDs.
constexpr const char* kNumaShape = R"({
  "Data": {
    "PodDeviceEntries": [
      {"PodUID": "uid-1", "ContainerName": "app", "ResourceName": "intel.com/sriov",
       "DeviceIDs": {"1": ["0000:81:00.2"], "0": ["0000:03:02.0", "0000:03:02.1"]},
       "AllocResp": "Cg=="},
      {"PodUID": "uid-1", "ContainerName": "side", "ResourceName": "intel.com/sriov",
       "DeviceIDs": {"0": ["0000:03:02.3", "0000:03:02.0"]}},
      {"PodUID": "uid-1", "ContainerName": "app", "ResourceName": "example.com/gpu",
       "DeviceIDs": {"0": ["gpu-0"]}},
      {"PodUID": "uid-2", "ContainerName": "app", "ResourceName": "intel.com/sriov",
       "DeviceIDs": {"0": ["0000:03:02.7"]}}
    ],
    "RegisteredDevices": {"intel.com/sriov": ["0000:03:02.0"]}
  },
  "Checksum": 1234
})";

// Kubernetes < 1.20: DeviceIDs is a plain list.
constexpr const char* kListShape = R"({
  "Data": {
    "PodDeviceEntries": [
      {"PodUID": "uid-1", "ContainerName": "app", "ResourceName": "intel.com/sriov",
       "DeviceIDs": ["0000:03:02.4", "0000:03:02.5"], "AllocResp": "Cg=="}
    ],
    "RegisteredDevices": {}
  },
  "Checksum": 99
})";

TEST(DeviceCheckpoint, NumaMapShapeInNumaOrderAcrossContainersWithoutDuplicates) {
  DeviceCheckpoint cp = DeviceCheckpoint::parse(kNumaShape);
  EXPECT_THAT(cp.devices("uid-1", "intel.com/sriov"),
              ElementsAre("0000:03:02.0", "0000:03:02.1", "0000:81:00.2", "0000:03:02.3"));
  EXPECT_THAT(cp.devices("uid-1", "example.com/gpu"), ElementsAre("gpu-0"));
  EXPECT_THAT(cp.devices("uid-2", "intel.com/sriov"), ElementsAre("0000:03:02.7"));
  EXPECT_TRUE(cp.devices("uid-3", "intel.com/sriov").empty());
}

TEST(DeviceCheckpoint, ListShape) {
  DeviceCheckpoint cp = DeviceCheckpoint::parse(kListShape);
  EXPECT_THAT(cp.devices("uid-1", "intel.com/sriov"), ElementsAre("0000:03:02.4", "0000:03:02.5"));
}

TEST(DeviceCheckpoint, NullEntriesMeanNoDevices) {
  DeviceCheckpoint cp =
      DeviceCheckpoint::parse(R"({"Data":{"PodDeviceEntries":null},"Checksum":0})");
  EXPECT_TRUE(cp.devices("uid-1", "intel.com/sriov").empty());
}

TEST(DeviceCheckpoint, MalformedIsDecodeFailure) {
  for (const char* bad : {"{", R"({"Data":{}})", R"({"Data":{"PodDeviceEntries":{}}})",
                          R"({"Data":{"PodDeviceEntries":[{"PodUID":"u"}]}})",
                          R"({"Data":{"PodDeviceEntries":[{"PodUID":"u","ContainerName":"c",
                              "ResourceName":"r","DeviceIDs":{"x":["a"]}}]}})",
                          R"({"Data":{"PodDeviceEntries":[{"PodUID":"u","ContainerName":"c",
                              "ResourceName":"r","DeviceIDs":[1]}]}})"}) {
    try {
      DeviceCheckpoint::parse(bad);
      ADD_FAILURE() << "accepted " << bad;
    } catch (const cni::Error& e) {
      EXPECT_EQ(e.code(), cni::kDecodeFailure) << e.msg();
      EXPECT_THAT(e.msg(), HasSubstr("device checkpoint is malformed"));
    }
  }
}

TEST(DeviceCheckpoint, DeeplyNestedIsDecodeFailureNotCrash) {
  const std::string deep = R"({"Data":{"PodDeviceEntries":)" + std::string(100000, '[') +
                           std::string(100000, ']') + "}}";
  try {
    DeviceCheckpoint::parse(deep);
    ADD_FAILURE() << "accepted";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kDecodeFailure);
    EXPECT_EQ(e.msg(), "device checkpoint is malformed: JSON nested deeper than 128 levels");
  }
}

TEST(DeviceCheckpoint, LoadReadsTheFileAndNamesAMissingOne) {
  std::filesystem::path p =
      std::filesystem::temp_directory_path() / ("cxt" + std::to_string(getpid()) + "-checkpoint");
  struct Remove {
    std::filesystem::path p;
    ~Remove() { std::filesystem::remove(p); }
  } remove{p};
  std::ofstream(p) << kListShape;
  EXPECT_THAT(DeviceCheckpoint::load(p.string()).devices("uid-1", "intel.com/sriov"),
              ElementsAre("0000:03:02.4", "0000:03:02.5"));
  std::filesystem::remove(p);
  try {
    DeviceCheckpoint::load(p.string());
    FAIL() << "missing file accepted";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kIoFailure);
    EXPECT_THAT(e.msg(), HasSubstr(p.string()));
  }
}

}  // namespace
}  // namespace plugin
