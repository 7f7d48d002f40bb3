// The cnimux-ipam verbs through the skeleton's dispatch, in-process: results, DEL twice,
// CHECK, GC, STATUS, requests from CNI_ARGS and args, sticky pods from CNI_ARGS, errors.
#include "ipam/ipam_plugin.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "cni/error.h"
#include "cni/skeleton.h"
#include "ipam/sqlite_store.h"
#include "ipam_test_util.h"

namespace ipam {
namespace {

using nlohmann::json;

class IpamPluginTest : public ::testing::Test {
 protected:
  json conf(json ranges = {{{{"subnet", "10.7.0.0/24"}}}}) {
    return ipam_test::netconf("net1", ranges, dir_.file("ipam.db"));
  }
  cni::DispatchOutcome run(const std::string& verb, const std::string& cid, const json& c,
                           const std::string& args = "", const std::string& ifname = "eth0") {
    std::map<std::string, std::string> env = {{"CNI_COMMAND", verb},
                                              {"CNI_CONTAINERID", cid},
                                              {"CNI_NETNS", "/var/run/netns/cxtest"},
                                              {"CNI_IFNAME", ifname},
                                              {"CNI_PATH", "/usr/lib/cni"},
                                              {"CNI_ARGS", args}};
    auto inv = cni::parse_invocation([&](const char* k) -> std::optional<std::string> {
      auto it = env.find(k);
      if (it == env.end()) return std::nullopt;
      return it->second;
    });
    return cni::dispatch(plugin_, inv, c.dump());
  }
  json out(const cni::DispatchOutcome& o) { return json::parse(o.stdout_json); }
  size_t held() {
    StoreConfig sc;
    sc.path = dir_.file("ipam.db");
    return SqliteStore(sc).list_all().size();
  }

  ipam_test::TempDir dir_;
  IpamPlugin plugin_;
};

// libcurl (and its ~30 libraries) is loaded only by a store that needs the network.
TEST_F(IpamPluginTest, AnSqliteStoreNeverLoadsLibcurl) {
  ASSERT_EQ(::dlopen("libcurl.so.4", RTLD_LAZY | RTLD_NOLOAD), nullptr)
      << "this test binary links libcurl itself";
  ASSERT_EQ(run("ADD", "c1", conf()).exit_code, 0);
  ASSERT_EQ(run("DEL", "c1", conf()).exit_code, 0);
  EXPECT_EQ(::dlopen("libcurl.so.4", RTLD_LAZY | RTLD_NOLOAD), nullptr);
}

TEST_F(IpamPluginTest, AddPrintsAnIpamResultInTheConfigVersion) {
  json c = conf({{{{"subnet", "10.7.0.0/24"}}}, {{{"subnet", "fd07::/64"}}}});
  c["ipam"]["routes"] = {{{"dst", "0.0.0.0/0"}}};
  c["ipam"]["dns"] = {{"nameservers", {"10.7.0.53"}}};
  auto o = run("ADD", "c1", c);
  ASSERT_EQ(o.exit_code, 0) << o.stdout_json;
  json r = out(o);
  EXPECT_EQ(r["cniVersion"], "1.0.0");
  EXPECT_FALSE(r.contains("interfaces"));
  ASSERT_EQ(r["ips"].size(), 2u);
  EXPECT_EQ(r["ips"][0]["address"], "10.7.0.2/24");
  EXPECT_EQ(r["ips"][0]["gateway"], "10.7.0.1");
  EXPECT_FALSE(r["ips"][0].contains("interface"));
  EXPECT_EQ(r["ips"][1]["address"], "fd07::2/64");
  EXPECT_EQ(r["routes"][0]["dst"], "0.0.0.0/0");
  EXPECT_EQ(r["dns"]["nameservers"][0], "10.7.0.53");
  // Idempotent through the verb too.
  EXPECT_EQ(out(run("ADD", "c1", c)), r);
  // An older config version gets the older shape.
  c["cniVersion"] = "0.3.1";
  EXPECT_EQ(out(run("ADD", "c1", c))["ips"][0]["version"], "4");
}

TEST_F(IpamPluginTest, DelOfUnknownAndDelTwiceSucceed) {
  EXPECT_EQ(run("DEL", "nobody", conf()).exit_code, 0);  // no database yet
  EXPECT_FALSE(std::ifstream(dir_.file("ipam.db")).good()) << "DEL created a database";
  ASSERT_EQ(run("ADD", "c1", conf()).exit_code, 0);
  EXPECT_EQ(run("DEL", "nobody", conf()).exit_code, 0);
  EXPECT_EQ(held(), 1u);
  auto d1 = run("DEL", "c1", conf());
  EXPECT_EQ(d1.exit_code, 0);
  EXPECT_EQ(d1.stdout_json, "");
  EXPECT_EQ(run("DEL", "c1", conf()).exit_code, 0);
  EXPECT_EQ(held(), 0u);
}

TEST_F(IpamPluginTest, CheckFailsWhenTheAllocationIsMissing) {
  json c = conf();
  ASSERT_EQ(run("ADD", "c1", c).exit_code, 0);
  c["prevResult"] = {{"cniVersion", "1.0.0"}, {"ips", {{{"address", "10.7.0.2/24"}}}}};
  EXPECT_EQ(run("CHECK", "c1", c).exit_code, 0);
  auto wrong = c;
  wrong["prevResult"]["ips"][0]["address"] = "10.7.0.9/24";
  auto o = run("CHECK", "c1", wrong);
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_NE(out(o)["msg"].get<std::string>().find("10.7.0.9"), std::string::npos);
  ASSERT_EQ(run("DEL", "c1", c).exit_code, 0);
  o = run("CHECK", "c1", c);
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(out(o)["code"], cni::kUnknownContainer);
  EXPECT_NE(out(o)["msg"].get<std::string>().find("holds no address"), std::string::npos);
}

TEST_F(IpamPluginTest, GcKeepsOnlyValidAttachments) {
  json c = conf();
  for (const char* id : {"c1", "c2", "c3"}) ASSERT_EQ(run("ADD", id, c).exit_code, 0);
  c["cniVersion"] = "1.1.0";
  c["cni.dev/valid-attachments"] = {{{"containerID", "c2"}, {"ifname", "eth0"}}};
  auto o = run("GC", "", c);
  EXPECT_EQ(o.exit_code, 0) << o.stdout_json;
  EXPECT_EQ(o.stdout_json, "");
  EXPECT_EQ(held(), 1u);
  // The older key libcni also sends.
  json old = conf();
  old["cniVersion"] = "1.1.0";
  old["cni.dev/attachments"] = json::array();
  EXPECT_EQ(run("GC", "", old).exit_code, 0);
  EXPECT_EQ(held(), 0u);
  old["cni.dev/attachments"] = {{{"containerID", 5}}};
  EXPECT_EQ(out(run("GC", "", old))["code"], cni::kInvalidConfig);
}

TEST_F(IpamPluginTest, StatusIs50WhenTheStoreCannotBeOpened) {
  json c = conf();
  c["cniVersion"] = "1.1.0";
  EXPECT_EQ(run("STATUS", "", c).exit_code, 0);
  { std::ofstream(dir_.file("plainfile")) << "x"; }
  c["ipam"]["store"]["path"] = dir_.file("plainfile/ipam.db");
  auto o = run("STATUS", "", c);
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(out(o)["code"], cni::kNotAvailable);
}

TEST_F(IpamPluginTest, UnsafeStoreDirectoryIsCode7ForAddAndCode50ForStatus) {
  std::filesystem::create_directory(dir_.file("shared"));
  ASSERT_EQ(::chmod(dir_.file("shared").c_str(), 01777), 0);
  json c = conf();
  c["cniVersion"] = "1.1.0";
  c["ipam"]["store"]["path"] = dir_.file("shared/ipam.db");
  auto a = run("ADD", "c1", c);
  EXPECT_EQ(out(a)["code"], cni::kInvalidConfig) << a.stdout_json;
  EXPECT_NE(out(a)["msg"].get<std::string>().find("group- or world-writable"), std::string::npos)
      << a.stdout_json;
  auto s = run("STATUS", "", c);
  EXPECT_EQ(out(s)["code"], cni::kNotAvailable) << s.stdout_json;
  EXPECT_FALSE(std::filesystem::exists(dir_.file("shared/ipam.db")));
}

TEST_F(IpamPluginTest, StatusIs50WhenTheStoreIsNotWritable) {
  json c = conf();
  c["cniVersion"] = "1.1.0";
  ASSERT_EQ(run("ADD", "c1", c).exit_code, 0);
  // Another process holding the write lock past the busy timeout makes writes impossible.
  StoreConfig sc;
  sc.path = dir_.file("ipam.db");
  SqliteStore holder(sc);
  c["ipam"]["store"]["busyTimeoutMs"] = 50;
  c["ipam"]["store"]["path"] = dir_.file("ipam.db");
  // The plugin caches stores per path; use a second path name for the same file.
  c["ipam"]["store"]["path"] = dir_.path() + "/./ipam.db";
  holder.transact([&](StoreTxn&) {
    auto o = run("STATUS", "", c);
    EXPECT_EQ(o.exit_code, 1);
    EXPECT_EQ(out(o)["code"], cni::kNotAvailable) << o.stdout_json;
    // And an ADD waiting on the same lock says "try again later".
    auto a = run("ADD", "c2", c);
    EXPECT_EQ(out(a)["code"], cni::kTryAgainLater) << a.stdout_json;
  });
}

TEST_F(IpamPluginTest, RequestedAddressFromCniArgs) {
  auto o = run("ADD", "c1", conf(), "IgnoreUnknown=1;IP=10.7.0.99;K8S_POD_NAME=x");
  ASSERT_EQ(o.exit_code, 0) << o.stdout_json;
  EXPECT_EQ(out(o)["ips"][0]["address"], "10.7.0.99/24");
  auto taken = run("ADD", "c2", conf(), "IP=10.7.0.99");
  EXPECT_EQ(out(taken)["code"], cni::kIpamAddressTaken);
  auto outside = run("ADD", "c2", conf(), "IP=10.8.0.1");
  EXPECT_EQ(out(outside)["code"], cni::kInvalidConfig);
  EXPECT_NE(out(outside)["msg"].get<std::string>().find("not in any range"), std::string::npos);
}

TEST_F(IpamPluginTest, RequestedAddressFromRuntimeConfigAndArgs) {
  json c = conf();
  c["runtimeConfig"] = {{"ips", {"10.7.0.42/24"}}};
  EXPECT_EQ(out(run("ADD", "c1", c))["ips"][0]["address"], "10.7.0.42/24");
  json d = conf();
  d["args"] = {{"cni", {{"ips", {"10.7.0.43"}}}}};
  EXPECT_EQ(out(run("ADD", "c2", d))["ips"][0]["address"], "10.7.0.43/24");
}

TEST_F(IpamPluginTest, StickyPodFromCniArgsKeepsItsAddress) {
  json c = conf();
  c["ipam"]["sticky"] = true;
  std::string pod = "K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web-0";
  std::string first = out(run("ADD", "c1", c, pod))["ips"][0]["address"];
  ASSERT_EQ(run("DEL", "c1", c, pod).exit_code, 0);
  EXPECT_EQ(held(), 1u);
  EXPECT_NE(
      out(run("ADD", "c2", c, "K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web-1"))["ips"][0]["address"],
      first);
  EXPECT_EQ(out(run("ADD", "c3", c, pod))["ips"][0]["address"], first);
  // args.cni.podRef (set by the meta plugin) names the pod too.
  json m = c;
  m["args"] = {{"cni", {{"podRef", "ns1/web-0"}}}};
  ASSERT_EQ(run("DEL", "c3", c).exit_code, 0);
  EXPECT_EQ(out(run("ADD", "c4", m))["ips"][0]["address"], first);
}

TEST_F(IpamPluginTest, PodRefWinsOverCniArgsForStickyAddresses) {
  json c = conf();
  c["ipam"]["sticky"] = true;
  c["args"] = {{"cni", {{"podRef", "ns1/web-0"}}}};
  ASSERT_EQ(run("ADD", "c1", c, "K8S_POD_NAMESPACE=ns2;K8S_POD_NAME=other").exit_code, 0);
  StoreConfig sc;
  sc.path = dir_.file("ipam.db");
  auto all = SqliteStore(sc).list_all();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].owner.pod_ref, "ns1/web-0");
}

TEST_F(IpamPluginTest, MalformedPodRefFailsOnlyAStickyAdd) {
  for (json bad : {json("web-0"), json("/web-0"), json("ns/"), json("a/b/c"), json(5)}) {
    json c = conf();
    c["args"] = {{"cni", {{"podRef", bad}}}};
    // Not sticky: podRef is not used, so nothing fails over it, DEL and GC included.
    EXPECT_EQ(run("ADD", "c1", c).exit_code, 0) << bad.dump();
    EXPECT_EQ(run("DEL", "c1", c).exit_code, 0) << bad.dump();
    c["cniVersion"] = "1.1.0";
    EXPECT_EQ(run("GC", "", c).exit_code, 0) << bad.dump();
    c["ipam"]["sticky"] = true;
    auto o = run("ADD", "c2", c);
    EXPECT_EQ(out(o)["code"], cni::kInvalidConfig) << o.stdout_json;
    EXPECT_NE(out(o)["msg"].get<std::string>().find("args.cni.podRef"), std::string::npos)
        << o.stdout_json;
    EXPECT_EQ(run("DEL", "c2", c).exit_code, 0) << bad.dump();
  }
}

TEST_F(IpamPluginTest, MalformedConfigIsCode7NamingTheField) {
  json c = conf({{{{"subnet", "10.7.0.0/24"}, {"rangeEnd", "bogus"}}}});
  auto o = run("ADD", "c1", c);
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(out(o)["code"], cni::kInvalidConfig);
  EXPECT_NE(out(o)["msg"].get<std::string>().find("ipam.ranges[0][0].rangeEnd"), std::string::npos)
      << o.stdout_json;
}

TEST_F(IpamPluginTest, ExhaustionIsCode110) {
  json c = conf({{{{"subnet", "10.7.0.0/30"}}}});
  ASSERT_EQ(run("ADD", "c1", c).exit_code, 0);
  auto o = run("ADD", "c2", c);
  EXPECT_EQ(out(o)["code"], cni::kIpamExhausted);
  EXPECT_NE(out(o)["msg"].get<std::string>().find("pool \"net1\""), std::string::npos);
}

}  // namespace
}  // namespace ipam
