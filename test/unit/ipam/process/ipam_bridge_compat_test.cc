// Compatibility: the reference bridge plugin from /usr/lib/cni, configured with
// "ipam": {"type": "cnimux-ipam"}, attaches a real netns with our address, CHECKs it, and
// its DEL frees the address.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "../ipam_test_util.h"
#include "cni/scope_guard.h"
#include "ipam/sqlite_store.h"
#include "plugin_process.h"
#include "test/fakes/plugin_runner.h"
#include "test/fakes/test_netns.h"

namespace ipam {
namespace {

using nlohmann::json;

constexpr const char* kBridgePlugin = "/usr/lib/cni/bridge";

std::string shell_output(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

TEST(IpamBridgeCompatTest, ReferenceBridgeUsesCnimuxIpam) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for netns and links";
  if (!std::filesystem::exists(kBridgePlugin)) GTEST_SKIP() << kBridgePlugin << " not installed";
  ipam_test::TempDir dir;
  // bridge execs its IPAM plugin from CNI_PATH: a directory holding cnimux-ipam comes first.
  std::filesystem::create_symlink(ipam_test::ipam_binary(), dir.file("cnimux-ipam"));
  cnimux_test::TestNetns ns("ib");
  const std::string bridge = cnimux_test::test_prefix() + "br";
  cni::ScopeGuard drop_bridge(
      [&] { cnimux_test::run_shell("ip link delete " + bridge + " 2>/dev/null"); });

  json conf = {{"cniVersion", "1.0.0"},
               {"name", cnimux_test::test_prefix() + "net"},
               {"type", "bridge"},
               {"bridge", bridge},
               {"ipam",
                {{"type", "cnimux-ipam"},
                 {"ranges", {{{{"subnet", "10.79.0.0/24"}}}}},
                 {"store", {{"path", dir.file("ipam.db")}}}}}};
  testing_support::CniEnv env{"ADD", cnimux_test::test_prefix() + "c", ns.path(), "eth0",
                              "",    dir.path() + ":/usr/lib/cni",     {}};
  auto add = testing_support::run_plugin(kBridgePlugin, env, conf.dump());
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  json result = add.json();
  ASSERT_EQ(result["ips"].size(), 1u) << add.out;
  EXPECT_EQ(result["ips"][0]["address"], "10.79.0.2/24");
  EXPECT_NE(shell_output("ip -n " + ns.name() + " -o addr show dev eth0").find("10.79.0.2/24"),
            std::string::npos);
  StoreConfig sc;
  sc.path = dir.file("ipam.db");
  {
    auto held = SqliteStore(sc).list_all();
    ASSERT_EQ(held.size(), 1u);
    EXPECT_EQ(held[0].owner.container_id, env.container_id);
  }

  json check_conf = conf;
  check_conf["prevResult"] = result;
  env.command = "CHECK";
  auto check = testing_support::run_plugin(kBridgePlugin, env, check_conf.dump());
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;

  env.command = "DEL";
  auto del = testing_support::run_plugin(kBridgePlugin, env, check_conf.dump());
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(SqliteStore(sc).list_all().empty()) << "bridge DEL did not free the address";
  EXPECT_NE(cnimux_test::run_shell("ip -n " + ns.name() + " link show eth0 >/dev/null 2>&1"), 0);
  // A second DEL (containerd sends two) succeeds too.
  del = testing_support::run_plugin(kBridgePlugin, env, conf.dump());
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
}

}  // namespace
}  // namespace ipam
