// Tests for the planner: order and interface naming, namespace isolation, capability
// checks, runtimeConfig and cni-args injection, default-route ownership, device IDs, the
// default-network override, systemNamespaces and the legacy delegates form.
#include "plugin/planner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "cni/error.h"
#include "cni/limits.h"
#include "plugin/selection.h"
#include "test/fakes/in_memory_kube_client.h"

namespace plugin {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Json = nlohmann::json;

Json nad(const std::string& ns, const std::string& name, const Json& config,
         const std::string& resource = "") {
  Json obj = {{"kind", "NetworkAttachmentDefinition"},
              {"metadata", {{"namespace", ns}, {"name", name}}},
              {"spec", {{"config", config.dump()}}}};
  if (!resource.empty()) obj["metadata"]["annotations"][kResourceNameAnnotation] = resource;
  return obj;
}

Json conf(const PlannedAttachment& a) {
  return Json::parse(a.conflist);
}

class PlannerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> seq{0};
    root_ = fs::temp_directory_path() /
            ("cxt" + std::to_string(getpid()) + "-plan-" + std::to_string(seq++));
    fs::create_directories(root_);
    meta_.cni_version = "1.0.0";
    meta_.type = "cnimux";
    meta_.cluster_network = "pods";
    meta_.conf_dir = (root_ / "net.d").string();
    meta_.device_checkpoint = (root_ / "checkpoint").string();
    // The cluster network: one plugin takes portMappings and the CRI annotations, one
    // takes portMappings only, one takes nothing.
    kube_.add_nad(nad("kube-system", "pods", Json::parse(R"({"cniVersion":"1.0.0","name":"pods",
      "plugins":[{"type":"bridge","capabilities":{"portMappings":true,
                  "io.kubernetes.cri.pod-annotations":true}},
                 {"type":"portmap","capabilities":{"portMappings":true}},
                 {"type":"tuning"}]})")));
    kube_.add_nad(nad("test", "plain", {{"cniVersion", "0.4.0"}, {"type", "macvlan"}}));
    kube_.add_nad(nad("test", "capable", Json::parse(R"({"cniVersion":"1.0.0","name":"capable",
      "plugins":[{"type":"macvlan","capabilities":{"ips":true,"mac":true,"infinibandGUID":true}},
                 {"type":"bandwidth","capabilities":{"bandwidth":true},
                  "args":{"cni":{"a":"nad","b":"nad"}}},
                 {"type":"portmap","capabilities":{"portMappings":true}}]})")));
    kube_.add_nad(nad("other", "plain", {{"type", "ptp"}}));
    kube_.add_nad(nad("shared", "plain", {{"type", "ptp"}}));
  }
  void TearDown() override { fs::remove_all(root_); }

  Plan plan(const std::map<std::string, std::string>& annotations = {},
            const Json& runtime = nullptr, const std::string& ns = "test") {
    NadSource nads(meta_, &kube_);
    PodInfo pod{ns, "p1", "uid-1", annotations, "api"};
    cni::Invocation inv;
    inv.ifname = "eth0";
    inv.args =
        cni::CniArgs::parse("K8S_POD_NAMESPACE=" + ns + ";K8S_POD_NAME=p1;K8S_POD_UID=uid-1");
    PlanInputs in{.meta = meta_,
                  .invocation = inv,
                  .nads = nads,
                  .pod = &pod,
                  .runtime_config = runtime,
                  .devices = devices_};
    return build_plan(in);
  }
  Plan select(const std::string& networks, const Json& runtime = nullptr) {
    return plan({{kNetworksAnnotation, networks}}, runtime);
  }
  cni::Error error_of(const std::function<void()>& f) {
    try {
      f();
    } catch (const cni::Error& e) {
      return e;
    }
    ADD_FAILURE() << "no error";
    return cni::Error(0, "");
  }
  std::vector<std::string> ifnames(const Plan& p) {
    std::vector<std::string> out;
    for (const auto& a : p.attachments) out.push_back(a.ifname);
    return out;
  }

  fs::path root_;
  MetaConfig meta_;
  fakes::InMemoryKubeClient kube_;
  const DeviceCheckpoint* devices_ = nullptr;
};

// --- Order and interface names. ---

TEST_F(PlannerTest, ClusterNetworkAloneWithoutAnnotations) {
  Plan p = plan();
  ASSERT_EQ(p.attachments.size(), 1u);
  const PlannedAttachment& a = p.attachments[0];
  EXPECT_TRUE(a.cluster_network);
  EXPECT_EQ(a.ifname, "eth0");
  EXPECT_EQ(a.network, "kube-system/pods");
  EXPECT_TRUE(a.default_route);
  Json c = conf(a);
  EXPECT_EQ(c["name"], "pods");
  for (const Json& pl : c["plugins"]) EXPECT_EQ(pl["cniVersion"], "1.0.0");
}

TEST_F(PlannerTest, SelectionsGetNetNByPositionAfterDefaultNetworks) {
  kube_.add_nad(nad("kube-system", "sidecar", {{"type", "ptp"}}));
  meta_.default_networks = {"sidecar"};
  Plan p = select("plain,other/plain");
  EXPECT_THAT(ifnames(p), ElementsAre("eth0", "net1", "net2", "net3"));
  EXPECT_EQ(p.attachments[1].network, "kube-system/sidecar");
  EXPECT_EQ(p.attachments[2].network, "test/plain");
  EXPECT_EQ(p.attachments[3].network, "other/plain");
  EXPECT_FALSE(p.attachments[2].cluster_network);
  // A single-plugin NAD becomes a one-plugin list with name and cniVersion injected.
  Json c = conf(p.attachments[2]);
  EXPECT_EQ(c["plugins"].size(), 1u);
  EXPECT_EQ(c["plugins"][0]["name"], "plain");
  EXPECT_EQ(c["plugins"][0]["cniVersion"], "0.4.0");
}

TEST_F(PlannerTest, NamedInterfaceKeepsOthersPositions) {
  Plan p = select("plain@data0,other/plain");
  EXPECT_THAT(ifnames(p), ElementsAre("eth0", "data0", "net2"));
}

TEST_F(PlannerTest, SameNetworkTwiceOnTwoInterfaces) {
  Plan p = select("plain,plain");
  EXPECT_THAT(ifnames(p), ElementsAre("eth0", "net1", "net2"));
  EXPECT_EQ(p.attachments[1].network, p.attachments[2].network);
}

TEST_F(PlannerTest, DuplicateInterfacesRejectedBeforeAnyApiCall) {
  for (const char* sel : {"plain@net2,other/plain", "plain@x,other/plain@x", "plain@eth0"}) {
    int before = kube_.counts().nad_gets;
    cni::Error e = error_of([&] { select(sel); });
    EXPECT_EQ(e.code(), cni::kInvalidConfig) << sel;
    EXPECT_THAT(e.msg(), HasSubstr("requested twice")) << sel;
    EXPECT_EQ(kube_.counts().nad_gets, before) << sel;
  }
  cni::Error e = error_of([&] { select("plain@eth0"); });
  EXPECT_THAT(e.msg(), HasSubstr("\"eth0\""));
  EXPECT_THAT(e.msg(), HasSubstr("the cluster network"));
  EXPECT_THAT(e.msg(), HasSubstr("test/plain"));
}

TEST_F(PlannerTest, BadAnnotationFailsThePlan) {
  cni::Error e = error_of([&] { select("a/b/c"); });
  EXPECT_EQ(e.code(), cni::kInvalidConfig);
  EXPECT_THAT(e.msg(), HasSubstr("more than one \"/\""));
}

TEST_F(PlannerTest, MissingNadNamesIt) {
  cni::Error e = error_of([&] { select("ghost"); });
  EXPECT_EQ(e.code(), cni::kInvalidConfig);
  EXPECT_THAT(e.msg(), HasSubstr("test/ghost"));
}

TEST_F(PlannerTest, OneGetPerDistinctNad) {
  select("plain,plain,plain@x,other/plain");
  // kube-system/pods, test/plain, other/plain
  EXPECT_EQ(kube_.counts().nad_gets, 3);
}

// --- Limits and names the kernel interprets. ---

// "plain,plain,..." selecting `n` networks.
std::string many(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += (out.empty() ? "" : ",") + std::string("plain");
  return out;
}

TEST_F(PlannerTest, SixtyFourNetworksArePlanned) {
  Plan p = select(many(64));
  ASSERT_EQ(p.attachments.size(), 65u);
  EXPECT_EQ(p.attachments.back().ifname, "net64");
}

TEST_F(PlannerTest, NetworksPastTheCapAreRefusedBeforeAnyApiCall) {
  EXPECT_EQ(select(many(cni::kMaxNetworksPerPod)).attachments.size(), cni::kMaxNetworksPerPod + 1);
  for (size_t n : {cni::kMaxNetworksPerPod + 1, size_t{1000}}) {
    int before = kube_.counts().nad_gets;
    cni::Error e = error_of([&] { select(many(n)); });
    EXPECT_EQ(e.code(), cni::kInvalidConfig);
    EXPECT_THAT(e.msg(), HasSubstr(kNetworksAnnotation));
    EXPECT_THAT(e.msg(), HasSubstr("selects " + std::to_string(n) +
                                   " networks, more than the limit of 128"));
    EXPECT_EQ(kube_.counts().nad_gets, before);
  }
}

TEST_F(PlannerTest, InterfaceNamesTheKernelWouldRewriteAreRefused) {
  // "net%d" would become the first free netN, a link no record names; "lo" exists already.
  for (const char* sel : {"plain@net%d", "plain@lo", R"([{"name":"plain","interface":"e%s"}])"}) {
    cni::Error e = error_of([&] { select(sel); });
    EXPECT_EQ(e.code(), cni::kInvalidConfig) << sel;
    EXPECT_THAT(e.msg(), HasSubstr("invalid interface name")) << e.msg();
  }
}

TEST_F(PlannerTest, DeepCniArgsAreRefusedNotCrashed) {
  // 100,000 levels in the annotation: copying them into the plan used to overflow the stack.
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  cni::Error e = error_of([&] { select(R"([{"name":"capable","cni-args":{"x":)" + deep + "}}]"); });
  EXPECT_EQ(e.code(), cni::kInvalidConfig);
  EXPECT_THAT(e.msg(),
              HasSubstr(std::string(kNetworksAnnotation) + ": JSON nested deeper than 128"));
  // 64 levels are an ordinary request and reach the delegates' args.cni.
  std::string ok = std::string(64, '[') + std::string(64, ']');
  Json c = conf(select(R"([{"name":"capable","cni-args":{"x":)" + ok + "}}]").attachments[1]);
  EXPECT_EQ(c["plugins"][0]["args"]["cni"]["x"].dump(), ok);
}

// --- Namespace isolation. ---

TEST_F(PlannerTest, IsolationRejectsOtherNamespacesInBothForms) {
  meta_.namespace_isolation = true;
  meta_.global_namespaces = {"shared"};
  for (const char* sel : {"other/plain", R"([{"name":"plain","namespace":"other"}])"}) {
    cni::Error e = error_of([&] { select(sel); });
    EXPECT_EQ(e.code(), cni::kInvalidConfig) << sel;
    EXPECT_THAT(e.msg(), HasSubstr("namespace isolation")) << sel;
    EXPECT_THAT(e.msg(), HasSubstr("\"test\"")) << sel;
    EXPECT_THAT(e.msg(), HasSubstr("other/plain")) << sel;
  }
  EXPECT_EQ(kube_.calls().size(), 0u);  // refused before fetching anything
  Plan p = select(R"([{"name":"plain"},{"name":"plain","namespace":"shared"},
                      {"name":"plain","namespace":"test"}])");
  EXPECT_EQ(p.attachments.size(), 4u);
  EXPECT_EQ(select("plain,shared/plain,test/plain").attachments.size(), 4u);
}

TEST_F(PlannerTest, IsolationOffAllowsAnyNamespace) {
  EXPECT_EQ(select("other/plain").attachments.size(), 2u);
}

TEST_F(PlannerTest, IsolationLetsClusterNetworksComeFromMultusNamespace) {
  meta_.namespace_isolation = true;
  kube_.add_nad(nad("kube-system", "alt", {{"type", "flannel"}}));
  Plan p = plan({{kDefaultNetworkAnnotation, "alt"}});
  EXPECT_EQ(p.attachments[0].network, "kube-system/alt");
  cni::Error e = error_of([&] { plan({{kDefaultNetworkAnnotation, "other/plain"}}); });
  EXPECT_THAT(e.msg(), HasSubstr("namespace isolation"));
  // A selection may not reach into the multusNamespace, though.
  EXPECT_THAT(error_of([&] { select("kube-system/alt"); }).msg(), HasSubstr("namespace isolation"));
}

// --- Capabilities and runtimeConfig. ---

TEST_F(PlannerTest, RequestsGoOnlyToPluginsDeclaringTheCapability) {
  Plan p = select(R"([{"name":"capable","ips":["10.1.1.5/24"],"mac":"c2:11:22:33:44:55",
      "bandwidth":{"ingressRate":1000,"ingressBurst":10,"egressRate":1000,"egressBurst":10},
      "portMappings":[{"hostPort":8080,"containerPort":80}],
      "infiniband-guid":"00:11:22:33:44:55:66:77"}])");
  Json c = conf(p.attachments[1]);
  const Json& macvlan = c["plugins"][0];
  EXPECT_EQ(macvlan["runtimeConfig"],
            Json::parse(R"({"ips":["10.1.1.5/24"],"mac":"c2:11:22:33:44:55",
                            "infinibandGUID":"00:11:22:33:44:55:66:77"})"));
  EXPECT_EQ(
      c["plugins"][1]["runtimeConfig"],
      Json::parse(
          R"({"bandwidth":{"ingressRate":1000,"ingressBurst":10,"egressRate":1000,"egressBurst":10}})"));
  EXPECT_EQ(c["plugins"][2]["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);
  EXPECT_EQ(c["plugins"][2]["runtimeConfig"].size(), 1u);
}

TEST_F(PlannerTest, RequestWithoutDeclaringPluginFailsWithCode2) {
  std::vector<std::pair<std::string, std::string>> cases = {
      {R"("ips":["10.1.1.5"])", "ips"},
      {R"("mac":"c2:11:22:33:44:55")", "mac"},
      {R"("portMappings":[{"hostPort":1,"containerPort":2}])", "portMappings"},
      {R"("bandwidth":{"ingressRate":1})", "bandwidth"},
      {R"("infiniband-guid":"g")", "infinibandGUID"},
  };
  for (const auto& [field, cap] : cases) {
    cni::Error e = error_of([&] { select(R"([{"name":"plain",)" + field + "}]"); });
    EXPECT_EQ(e.code(), cni::kUnsupportedField) << field;
    EXPECT_THAT(e.msg(), HasSubstr("test/plain")) << field;
    EXPECT_THAT(e.msg(), HasSubstr("\"" + cap + "\" capability")) << field;
  }
}

TEST_F(PlannerTest, RuntimeConfigGoesToTheClusterNetworkOnly) {
  Json runtime = Json::parse(R"({"portMappings":[{"hostPort":80,"containerPort":8080}],
      "io.kubernetes.cri.pod-annotations":{"a":"b"}, "bandwidth":{"ingressRate":5}})");
  Plan p = select(R"([{"name":"capable"}])", runtime);
  Json cluster = conf(p.attachments[0]);
  EXPECT_EQ(cluster["plugins"][0]["runtimeConfig"],
            Json({{"portMappings", runtime["portMappings"]},
                  {"io.kubernetes.cri.pod-annotations", {{"a", "b"}}}}));
  EXPECT_EQ(cluster["plugins"][1]["runtimeConfig"],
            Json({{"portMappings", runtime["portMappings"]}}));
  EXPECT_FALSE(cluster["plugins"][2].contains("runtimeConfig"));
  // The secondary network declares portMappings and bandwidth but gets none of the runtime's.
  // Named first: a temporary's member in a range-for's range dies before the loop (C++20).
  const Json plugins1 = conf(p.attachments[1])["plugins"];
  for (const Json& pl : plugins1) {
    EXPECT_FALSE(pl.contains("runtimeConfig")) << pl.dump();
  }
}

TEST_F(PlannerTest, CniArgsMergeWithAnnotationWinning) {
  Plan p = select(R"([{"name":"capable","cni-args":{"b":"pod","c":"pod"}}])");
  Json c = conf(p.attachments[1]);
  const Json ref = "test/p1";
  EXPECT_EQ(c["plugins"][1]["args"]["cni"],
            Json({{"a", "nad"}, {"b", "pod"}, {"c", "pod"}, {"podRef", ref}}));
  EXPECT_EQ(c["plugins"][0]["args"]["cni"], Json({{"b", "pod"}, {"c", "pod"}, {"podRef", ref}}));
  EXPECT_EQ(c["plugins"][2]["args"]["cni"], Json({{"b", "pod"}, {"c", "pod"}, {"podRef", ref}}));
  // Without cni-args the NAD's args stay as written, plus the pod's identity.
  Json plain = conf(select(R"([{"name":"capable"}])").attachments[1]);
  EXPECT_EQ(plain["plugins"][1]["args"],
            Json({{"cni", {{"a", "nad"}, {"b", "nad"}, {"podRef", ref}}}}));
  EXPECT_EQ(plain["plugins"][0]["args"], Json({{"cni", {{"podRef", ref}}}}));
}

TEST_F(PlannerTest, EveryDelegateGetsThePodRefAndCniArgsMayOverrideIt) {
  Plan p = select(R"([{"name":"capable","cni-args":{"podRef":"other/name"}}])");
  const Json plugins0 = conf(p.attachments[0])["plugins"];
  for (const Json& pl : plugins0) {
    EXPECT_EQ(pl["args"]["cni"]["podRef"], "test/p1") << pl.dump();
  }
  const Json plugins1 = conf(p.attachments[1])["plugins"];
  for (const Json& pl : plugins1) {
    EXPECT_EQ(pl["args"]["cni"]["podRef"], "other/name") << pl.dump();
  }
}

// --- Default route. ---

TEST_F(PlannerTest, NoDefaultRouteRequestLeavesItWithTheClusterNetwork) {
  Plan p = select("plain,other/plain");
  EXPECT_TRUE(p.attachments[0].default_route);
  EXPECT_FALSE(p.attachments[1].default_route);
  EXPECT_FALSE(p.attachments[2].default_route);
}

TEST_F(PlannerTest, OneDefaultRouteRequestMovesIt) {
  Plan p = select(
      R"([{"name":"plain"},{"name":"plain","namespace":"other","default-route":["10.9.0.1"]}])");
  EXPECT_FALSE(p.attachments[0].default_route);
  EXPECT_FALSE(p.attachments[1].default_route);
  EXPECT_TRUE(p.attachments[2].default_route);
  EXPECT_THAT(p.attachments[2].gateways, ElementsAre("10.9.0.1"));
}

TEST_F(PlannerTest, TwoDefaultRouteRequestsRejected) {
  cni::Error e = error_of([&] {
    select(R"([{"name":"plain","default-route":["10.9.0.1"]},
               {"name":"plain","namespace":"other","default-route":["10.8.0.1"]}])");
  });
  EXPECT_EQ(e.code(), cni::kInvalidConfig);
  EXPECT_THAT(e.msg(), HasSubstr("default-route requested by both test/plain"));
  EXPECT_THAT(e.msg(), HasSubstr("other/plain"));
}

// --- Device IDs. ---

TEST_F(PlannerTest, DevicesHandedOutInOrderFromTheNumaShape) {
  kube_.add_nad(nad("test", "sriov", {{"type", "sriov"}, {"capabilities", {{"deviceID", true}}}},
                    "intel.com/sriov"));
  kube_.add_nad(nad("test", "hostdev", {{"type", "host-device"}}, "intel.com/sriov"));
  DeviceCheckpoint cp = DeviceCheckpoint::parse(R"({"Data":{"PodDeviceEntries":[
      {"PodUID":"uid-1","ContainerName":"c","ResourceName":"intel.com/sriov",
       "DeviceIDs":{"0":["0000:03:02.0","0000:03:02.1"]}},
      {"PodUID":"uid-9","ContainerName":"c","ResourceName":"intel.com/sriov",
       "DeviceIDs":{"0":["0000:03:02.5"]}}]}})");
  devices_ = &cp;
  Plan p = select("sriov,plain,hostdev");
  EXPECT_EQ(p.attachments[1].device_id, "0000:03:02.0");
  EXPECT_EQ(p.attachments[2].device_id, "");
  EXPECT_EQ(p.attachments[3].device_id, "0000:03:02.1");
  Json s = conf(p.attachments[1])["plugins"][0];
  EXPECT_EQ(s["deviceID"], "0000:03:02.0");
  EXPECT_EQ(s["pciBusID"], "0000:03:02.0");
  EXPECT_EQ(s["runtimeConfig"]["deviceID"], "0000:03:02.0");
  Json h = conf(p.attachments[3])["plugins"][0];
  EXPECT_EQ(h["pciBusID"], "0000:03:02.1");
  EXPECT_FALSE(h.contains("runtimeConfig"));  // it does not declare deviceID
}

TEST_F(PlannerTest, DevicesFromTheListShapeFileAndTooFewDevices) {
  kube_.add_nad(nad("test", "sriov", Json::parse(R"({"cniVersion":"1.0.0","name":"sriov",
      "plugins":[{"type":"sriov"},{"type":"tuning"}]})"),
                    "intel.com/sriov"));
  std::ofstream(meta_.device_checkpoint) << R"({"Data":{"PodDeviceEntries":[
      {"PodUID":"uid-1","ContainerName":"c","ResourceName":"intel.com/sriov",
       "DeviceIDs":["0000:03:02.4"]}]},"Checksum":1})";
  Plan p = select("sriov");
  const Json plugins1 = conf(p.attachments[1])["plugins"];
  for (const Json& pl : plugins1) {
    EXPECT_EQ(pl["deviceID"], "0000:03:02.4");
    EXPECT_EQ(pl["pciBusID"], "0000:03:02.4");
  }
  cni::Error e = error_of([&] { select("sriov,sriov"); });
  EXPECT_EQ(e.code(), cni::kInvalidConfig);
  EXPECT_THAT(e.msg(), HasSubstr("has 1 device(s) of resource \"intel.com/sriov\""));
  EXPECT_THAT(e.msg(), HasSubstr("net2"));
}

TEST_F(PlannerTest, NoCheckpointReadWithoutResources) {
  // meta_.device_checkpoint does not exist; plain NADs must not need it.
  EXPECT_EQ(select("plain").attachments.size(), 2u);
}

// --- The cluster network's sources. ---

TEST_F(PlannerTest, DefaultNetworkAnnotationReplacesTheClusterNetwork) {
  kube_.add_nad(nad("kube-system", "calico", {{"type", "calico"}}));
  Plan p = plan({{kDefaultNetworkAnnotation, "calico"}, {kNetworksAnnotation, "plain"}});
  ASSERT_EQ(p.attachments.size(), 2u);
  EXPECT_EQ(p.attachments[0].network, "kube-system/calico");
  EXPECT_EQ(p.attachments[0].ifname, "eth0");
  EXPECT_TRUE(p.attachments[0].cluster_network);
  EXPECT_EQ(conf(p.attachments[0])["plugins"][0]["type"], "calico");
  EXPECT_EQ(p.attachments[1].ifname, "net1");
  // Explicit namespace, and an interface other than CNI_IFNAME is refused.
  EXPECT_EQ(plan({{kDefaultNetworkAnnotation, "test/plain"}}).attachments[0].network, "test/plain");
  EXPECT_THAT(error_of([&] {
                plan({{kDefaultNetworkAnnotation, "calico@eth5"}});
              }).msg(),
              HasSubstr("CNI_IFNAME"));
}

TEST_F(PlannerTest, ClusterNetworkAsPath) {
  fs::create_directories(root_ / "files");
  std::ofstream(root_ / "files" / "flannel.conflist")
      << R"({"cniVersion":"0.3.1","name":"cbr0","plugins":[{"type":"flannel"},{"type":"portmap"}]})";
  meta_.cluster_network = (root_ / "files" / "flannel.conflist").string();
  Plan p = plan();
  EXPECT_EQ(p.attachments[0].network, "cbr0");
  EXPECT_EQ(conf(p.attachments[0])["plugins"][1]["cniVersion"], "0.3.1");
  meta_.cluster_network = (root_ / "files").string();
  EXPECT_EQ(plan().attachments[0].network, "cbr0");
}

TEST_F(PlannerTest, SystemNamespacesSkipDefaultNetworks) {
  kube_.add_nad(nad("kube-system", "sidecar", {{"type", "ptp"}}));
  kube_.add_nad(nad("kube-system", "plain", {{"type", "ptp"}}));
  meta_.default_networks = {"sidecar"};
  Plan sys = plan({{kNetworksAnnotation, "plain"}}, nullptr, "kube-system");
  ASSERT_EQ(sys.attachments.size(), 2u);
  EXPECT_EQ(sys.attachments[1].network, "kube-system/plain");
  EXPECT_EQ(sys.attachments[1].ifname, "net1");
  Plan user = plan();
  ASSERT_EQ(user.attachments.size(), 2u);
  EXPECT_EQ(user.attachments[1].network, "kube-system/sidecar");
}

TEST_F(PlannerTest, LegacyDelegates) {
  meta_.cluster_network.clear();
  meta_.cluster_delegate = {{"type", "flannel"}, {"name", "cbr0"}};
  meta_.extra_delegates = {{{"type", "macvlan"}, {"master", "eth1"}}};
  kube_.add_nad(nad("kube-system", "plain", {{"type", "ptp"}}));
  Plan p = plan({{kNetworksAnnotation, "plain"}}, nullptr, "kube-system");
  ASSERT_EQ(p.attachments.size(), 3u);
  EXPECT_EQ(p.attachments[0].network, "cbr0");
  EXPECT_TRUE(p.attachments[0].cluster_network);
  EXPECT_EQ(p.attachments[1].network, "macvlan");
  EXPECT_EQ(p.attachments[1].ifname, "net1");
  EXPECT_EQ(conf(p.attachments[1])["plugins"][0]["master"], "eth1");
  EXPECT_EQ(p.attachments[2].ifname, "net2");
}

TEST_F(PlannerTest, WithoutPodInfoOnlyTheClusterNetworkAndCniArgsNamespace) {
  kube_.add_nad(nad("kube-system", "sidecar", {{"type", "ptp"}}));
  meta_.default_networks = {"sidecar"};
  NadSource nads(meta_, &kube_);
  cni::Invocation inv;
  inv.ifname = "eth0";
  inv.args = cni::CniArgs::parse("K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=p");
  Plan p = build_plan(PlanInputs{.meta = meta_, .invocation = inv, .nads = nads});
  ASSERT_EQ(p.attachments.size(), 1u);  // kube-system is a system namespace
  inv.args = cni::CniArgs::parse("");
  NadSource nads2(meta_, &kube_);
  EXPECT_EQ(
      build_plan(PlanInputs{.meta = meta_, .invocation = inv, .nads = nads2}).attachments.size(),
      2u);
}

}  // namespace
}  // namespace plugin
