// Conformance of cnimux-host-device with the reference /usr/lib/cni/host-device: one scenario
// table, both binaries executed inside a throwaway node netns (never the machine's uplink),
// cniVersion 0.3.1, 0.4.0 and 1.0.0. Visible outcomes must match except where
// docs/delegation.md says why (DEL without ADD; error codes).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "test/fakes/plugin_runner.h"
#include "test/fakes/temp_dir.h"
#include "test/fakes/test_netns.h"

namespace {

using cnimux_test::TempDir;
using cnimux_test::TestNetns;
using nlohmann::json;
using testing_support::CniEnv;
using testing_support::PluginRun;

constexpr const char* kReference = "/usr/lib/cni/host-device";
const std::string kOurs = std::string(CNIMUX_BINARY_DIR) + "/delegates/cnimux-host-device";

// What a scenario shows a user: exit status, the error code, the result's interface shape,
// and where the device is afterwards.
struct Outcome {
  int exit = -1;
  int code = 0;
  std::string ifname, mac, sandbox;
  bool in_pod = false, home = false;
  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& o, const Outcome& x) {
  return o << "exit=" << x.exit << " code=" << x.code << " if=" << x.ifname << " mac=" << x.mac
           << " sandbox=" << x.sandbox << " in_pod=" << x.in_pod << " home=" << x.home;
}

class HostDeviceConformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (access(kReference, X_OK) != 0) GTEST_SKIP() << "no reference plugin at " << kReference;
    ASSERT_EQ(node_.exec("ip link add hd0 type veth peer name hd0p && ip link set hd0 address "
                         "02:11:22:33:44:55 && ip link set hd0 mtu 1400"),
              0);
  }

  // A wrapper that runs `binary` inside the node netns with the caller's environment.
  std::string in_node(const std::string& binary) {
    std::string path = dir_.file(std::to_string(wrappers_++) + ".sh");
    std::ofstream(path) << "#!/bin/sh\nexec nsenter --net=" << node_.path() << " " << binary
                        << "\n";
    chmod(path.c_str(), 0755);
    return path;
  }

  json conf(const json& extra) {
    json c = {{"cniVersion", GetParam()},
              {"name", "hdnet"},
              {"type", "host-device"},
              {"dataDir", dir_.file("state")}};
    c.update(extra);
    return c;
  }

  Outcome run(const std::string& binary, const std::string& verb, const json& c,
              json* result = nullptr) {
    CniEnv env{verb, "cid1", pod_.path(), "net1", "", "/usr/lib/cni"};
    PluginRun r = testing_support::run_plugin(in_node(binary), env, c.dump());
    Outcome o;
    o.exit = r.exit_code;
    if (!r.out.empty()) {
      json j = r.json();
      if (result) *result = j;
      o.code = j.value("code", 0);
      if (j.contains("interfaces")) {
        o.ifname = j["interfaces"][0].value("name", "");
        o.mac = j["interfaces"][0].value("mac", "");
        o.sandbox = j["interfaces"][0].value("sandbox", "");
      }
    }
    o.in_pod = pod_.exec("ip link show net1 >/dev/null 2>&1") == 0;
    o.home = node_.exec("ip link show hd0 | grep -q 02:11:22:33:44:55") == 0 &&
             node_.exec("ip link show hd0 | grep -q \"mtu 1400\"") == 0;
    return o;
  }

  // ADD, CHECK (0.4.0+) and DEL of `selector`, for one binary.
  std::vector<Outcome> add_check_del(const std::string& binary, const json& selector) {
    json c = conf(selector);
    json result;
    std::vector<Outcome> out{run(binary, "ADD", c, &result)};
    if (GetParam() != "0.3.1") {
      json chk = c;
      chk["prevResult"] = result;
      out.push_back(run(binary, "CHECK", chk));
    }
    out.push_back(run(binary, "DEL", c));
    return out;
  }

  TempDir dir_{"hdconf"};
  TestNetns node_{"hdn"};
  TestNetns pod_{"hdp"};
  int wrappers_ = 0;
};

TEST_P(HostDeviceConformance, ByDeviceName) {
  auto ref = add_check_del(kReference, {{"device", "hd0"}});
  auto ours = add_check_del(kOurs, {{"device", "hd0"}});
  EXPECT_EQ(ours, ref);
  EXPECT_TRUE(ref.front().in_pod);
  EXPECT_EQ(ref.front().mac, "02:11:22:33:44:55");
}

TEST_P(HostDeviceConformance, ByHwaddr) {
  auto ref = add_check_del(kReference, {{"hwaddr", "02:11:22:33:44:55"}});
  auto ours = add_check_del(kOurs, {{"hwaddr", "02:11:22:33:44:55"}});
  EXPECT_EQ(ours, ref);
}

TEST_P(HostDeviceConformance, MissingDeviceFailsAddAndChangesNothing) {
  Outcome ref = run(kReference, "ADD", conf({{"device", "nosuch0"}}));
  Outcome ours = run(kOurs, "ADD", conf({{"device", "nosuch0"}}));
  EXPECT_EQ(ref.exit, 1);
  EXPECT_EQ(ours.exit, 1);
  EXPECT_EQ(ours.home, ref.home);
  EXPECT_EQ(ours.in_pod, ref.in_pod);
  // Documented difference: the reference reports 999 (its generic code), ours a CNI code.
  EXPECT_NE(ours.code, 999);
}

TEST_P(HostDeviceConformance, NoSelectorIsAConfigError) {
  Outcome ref = run(kReference, "ADD", conf(json::object()));
  Outcome ours = run(kOurs, "ADD", conf(json::object()));
  EXPECT_EQ(ref.exit, 1);
  EXPECT_EQ(ours.exit, 1);
  EXPECT_EQ(ours.code, 7);
}

TEST_P(HostDeviceConformance, DelWithoutAdd) {
  Outcome ref = run(kReference, "DEL", conf({{"device", "hd0"}}));
  Outcome ours = run(kOurs, "DEL", conf({{"device", "hd0"}}));
  // Documented difference: the reference fails ("failed to find net1"); a DEL without ADD
  // must succeed (CNI spec), and ours does. Nothing moves either way.
  EXPECT_EQ(ours.exit, 0);
  EXPECT_TRUE(ours.home);
  EXPECT_EQ(ours.home, ref.home);
  std::cout << "reference DEL without ADD: " << ref << "\n";
}

INSTANTIATE_TEST_SUITE_P(Versions, HostDeviceConformance,
                         ::testing::Values("0.3.1", "0.4.0", "1.0.0"), [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '.', '_');
                           return "v" + s;
                         });

}  // namespace
