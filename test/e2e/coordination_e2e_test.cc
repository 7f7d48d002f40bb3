// Coordination end to end, in a throwaway "node" namespace (never the machine's uplink): a
// bridge cluster network, a veth uplink to a "router" namespace as the macvlan master, and
// cnimux run inside the node with nsenter. Overlay pods answer on the link a request came in
// by; underlay pods reach a Service (DNAT on the node, as kube-proxy does) and the node through
// the veth; a conflicting address (IPv4 by ARP, IPv6 by NDP DAD) fails the ADD, before it is
// configured when the delegate is in-tree; rollback, DEL, and DEL after a SIGKILL leave nothing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "test/e2e/e2e_node.h"
#include "test/fakes/fake_kube_api.h"

namespace cnimux_test {
namespace {

constexpr const char* kNetworks = "k8s.v1.cni.cncf.io/networks";
constexpr const char* kServiceIp = "10.96.0.10";
constexpr const char* kNodeIp = "10.231.0.1";  // the cluster bridge's gateway, a node address
constexpr const char* kRouterIp = "192.168.77.1";
constexpr const char* kRemoteIp = "192.168.88.1";  // beyond the router: not on any pod subnet
constexpr const char* kRouterIp6 = "fd00:77::1";
constexpr const char* kRemoteIp6 = "fd00:88::1";

// Runs `cmd` in a shell and returns its stdout with the trailing newline removed.
std::string output_of(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (size_t n = std::fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
    ::pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

class CoordinationE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(run_shell("command -v ping >/dev/null"), 0) << "needs iputils-ping";
    // IPv6 on before any link is made or moved (a link takes its namespace's defaults).
    ipv6_on(node_ns_);
    ipv6_on(router_);
    // The node: forwarding on (a Kubernetes node has it), an uplink to the router.
    ASSERT_EQ(node_ns_.exec("ip link set lo up && sysctl -qw net.ipv4.ip_forward=1 && "
                            "ip link add up0 type veth peer name up1 && "
                            "ip link set up1 netns " +
                            router_.name() + " && ip link set up0 up"),
              0);
    ASSERT_EQ(router_.exec(std::string("ip link set lo up && ip link set up1 up && ") +
                           "ip addr add " + kRouterIp + "/24 dev up1 && ip addr add " + kRemoteIp +
                           "/32 dev lo && " + "ip -6 addr add " + kRouterIp6 +
                           "/64 dev up1 nodad && ip -6 addr add " + kRemoteIp6 + "/128 dev lo"),
              0);
    json cluster = {{"cniVersion", "1.0.0"},    {"type", "bridge"},
                    {"bridge", node_.bridge()}, {"isGateway", true},
                    {"isDefaultGateway", true}, {"ipam", node_.ipam("10.231.0.0/24")}};
    node_.write_cluster_network(cluster, "cluster");
    node_.write_cluster_network(macvlan("192.168.77.10", "192.168.77.40", kRouterIp, true),
                                "underlay");
    node_.write_cluster_network(macvlan("192.168.77.50", "192.168.77.50", kRouterIp, true),
                                "conflict");
    node_.write_cluster_network(macvlan("192.168.77.60", "192.168.77.60", "192.168.77.99", true),
                                "deadgw");
    node_.write_cluster_network(macvlan("192.168.77.70", "192.168.77.70", kRouterIp, true),
                                "fixed");
    node_.write_nad("default", "mv", macvlan("192.168.77.10", "192.168.77.40", kRouterIp, false));
    node_.write_cluster_network(macvlan6("fd00:77::50", kRouterIp6, true), "conflict6");
    node_.write_cluster_network(macvlan6("fd00:77::60", "fd00:77::99", true), "deadgw6");
    json dual = macvlan("192.168.77.70", "192.168.77.70", kRouterIp, false);
    dual["ipam"]["ranges"].push_back(
        macvlan6("fd00:77::70", kRouterIp6, false)["ipam"]["ranges"][0]);
    node_.write_nad("default", "mv6", dual);
    // cnimux and its delegates run inside the node namespace, as on a real node.
    wrapper_ = node_.dir() + "/cnimux-in-node";
    std::ofstream(wrapper_) << "#!/bin/sh\nexec nsenter --net=" << node_ns_.path() << " "
                            << cnimux_binary() << "\n";
    std::filesystem::permissions(wrapper_, std::filesystem::perms::owner_all);
  }

  // A macvlan on the node's uplink with a one-range cnimux-ipam pool.
  json macvlan(const std::string& first, const std::string& last, const std::string& gw,
               bool default_route) const {
    json ipam = node_.ipam("192.168.77.0/24");
    ipam["ranges"][0][0]["rangeStart"] = first;
    ipam["ranges"][0][0]["rangeEnd"] = last;
    ipam["ranges"][0][0]["gateway"] = gw;
    if (default_route) ipam["routes"] = json::array({{{"dst", "0.0.0.0/0"}, {"gw", gw}}});
    return {{"cniVersion", "1.0.0"},
            {"type", "macvlan"},
            {"master", "up0"},
            {"mode", "bridge"},
            {"ipam", ipam}};
  }

  // A macvlan on the uplink whose pool is the one IPv6 address `ip`, gateway `gw`.
  json macvlan6(const std::string& ip, const std::string& gw, bool default_route) const {
    json m = macvlan("", "", "", false);
    m["ipam"] = node_.ipam("fd00:77::/64");
    m["ipam"]["ranges"][0][0]["rangeStart"] = ip;
    m["ipam"]["ranges"][0][0]["rangeEnd"] = ip;
    m["ipam"]["ranges"][0][0]["gateway"] = gw;
    if (default_route) m["ipam"]["routes"] = json::array({{{"dst", "::/0"}, {"gw", gw}}});
    return m;
  }

  // IPv6 enabled in `ns`, kernel DAD off for links made or moved there from now on. The
  // reference macvlan would otherwise wait for the kernel's DAD (and fail a conflict on its own
  // terms); nodes that turn kernel DAD off are the ones that need the stage's probe.
  static void ipv6_on(const TestNetns& ns) {
    ASSERT_EQ(ns.exec("sysctl -qw net.ipv6.conf.all.disable_ipv6=0 "
                      "net.ipv6.conf.default.disable_ipv6=0 net.ipv6.conf.default.accept_dad=0"),
              0);
    ASSERT_EQ(
        output_of("ip netns exec " + ns.name() + " sysctl -n net.ipv6.conf.default.disable_ipv6"),
        "0");
  }

  // A holder of `ips` (CIDRs; IPv6 without DAD) on a macvlan of the uplink in `ns`; its MAC.
  std::string hold(const TestNetns& ns, const std::vector<std::string>& ips) const {
    ipv6_on(ns);
    EXPECT_EQ(node_ns_.exec("ip link add hold0 link up0 type macvlan mode bridge && "
                            "ip link set hold0 netns " +
                            ns.name()),
              0);
    for (const auto& ip : ips) {
      EXPECT_EQ(ns.exec("ip addr add " + ip + " dev hold0" +
                        (ip.find(':') != std::string::npos ? " nodad" : "")),
                0);
    }
    EXPECT_EQ(ns.exec("ip link set hold0 up"), 0);
    return output_of("ip -n " + ns.name() +
                     " -o link show hold0 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2");
  }

  json meta(const std::string& cluster, const json& coordination) const {
    json m = node_.meta_config({{"clusterNetwork", cluster}});
    if (!coordination.is_null()) m["coordination"] = coordination;
    return m;
  }

  testing_support::PluginRun run(const std::string& verb, const std::string& cid,
                                 const TestNetns& pod, const json& conf,
                                 const std::string& pod_name = "web",
                                 const std::string& extra_args = "") const {
    testing_support::CniEnv env;
    env.command = verb;
    env.container_id = cid;
    env.netns = pod.path();
    env.ifname = "eth0";
    env.args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=" + pod_name + extra_args;
    env.path = node_.bin();
    return testing_support::run_plugin(wrapper_, env, conf.dump());
  }

  static std::string ipv6_of(const TestNetns& ns, const std::string& link) {
    return output_of("ip -n " + ns.name() + " -6 -o addr show dev " + link +
                     " scope global | awk '{print $4}' | cut -d/ -f1");
  }
  static std::string ipv4_of(const TestNetns& ns, const std::string& link) {
    return output_of("ip -n " + ns.name() + " -4 -o addr show dev " + link +
                     " | awk '{print $4}' | cut -d/ -f1");
  }
  std::string node_links() const { return output_of("ip -n " + node_ns_.name() + " -o link"); }
  static std::string rules(const TestNetns& ns, const std::string& family = "") {
    return output_of("ip " + family + " -n " + ns.name() + " rule");
  }
  static std::string table(const TestNetns& ns, int t, const std::string& family = "") {
    return output_of("ip " + family + " -n " + ns.name() + " route show table " +
                     std::to_string(t) + " 2>/dev/null");
  }
  static std::string mac_of(const TestNetns& ns, const std::string& link) {
    return output_of("ip -n " + ns.name() + " -o link show " + link +
                     " | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2");
  }

  // Nothing of a pod left: no coordination link or host route on the node, no address held,
  // no journal that owes work.
  void expect_node_clean(const std::string& cid, const std::string& pod_ip) const {
    EXPECT_EQ(node_links().find("cmx"), std::string::npos) << node_links();
    if (!pod_ip.empty()) {
      EXPECT_EQ(output_of("ip -n " + node_ns_.name() + " route show " + pod_ip), "");
    }
    EXPECT_TRUE(node_.held_addresses().empty());
    EXPECT_FALSE(node_.has_live_journal(cid));
    // A record of a rolled-back ADD owes no coordination either.
    EXPECT_FALSE(E2eNode::record_at(node_.journal_path(cid)).contains("coordination"));
  }

  E2eNode node_{"co"};
  TestNetns node_ns_{"conode"};
  TestNetns router_{"corouter"};
  std::string wrapper_;
};

TEST_F(CoordinationE2e, OverlayRepliesLeaveByTheLinkTheRequestCameIn) {
  node_.write_pod("default", "web", "uid-o", {{kNetworks, "mv"}});
  TestNetns pod("copo");
  auto add = run("ADD", "co-overlay", pod, meta("cluster", {{"mode", "overlay"}}));
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  const std::string net1 = ipv4_of(pod, "net1");
  ASSERT_FALSE(net1.empty());
  // net1 is plan position 1: table 101, rule priority 1001.
  EXPECT_NE(rules(pod).find("1001:\tfrom " + net1 + " lookup 101"), std::string::npos)
      << rules(pod);
  EXPECT_NE(table(pod, 101).find("default via " + std::string(kRouterIp) + " dev net1"),
            std::string::npos)
      << table(pod, 101);
  // The pod's default route stays on eth0, yet a request from beyond the router is answered.
  EXPECT_NE(output_of("ip -n " + pod.name() + " route show default").find("dev eth0"),
            std::string::npos);
  EXPECT_EQ(router_.exec("ping -c1 -W2 -I " + std::string(kRemoteIp) + " " + net1 + " >/dev/null"),
            0);
  EXPECT_EQ(run("CHECK", "co-overlay", pod, meta("cluster", {{"mode", "overlay"}})).exit_code, 0);

  auto del = run("DEL", "co-overlay", pod, meta("cluster", {{"mode", "overlay"}}));
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_EQ(rules(pod).find("lookup 101"), std::string::npos) << rules(pod);
  EXPECT_EQ(table(pod, 101), "");
  expect_node_clean("co-overlay", "");
}

TEST_F(CoordinationE2e, WithoutCoordinationTheReplyLeavesByEth0AndIsLost) {
  // The same pod with mode off (today's behaviour): the reply follows eth0's default route.
  node_.write_pod("default", "web", "uid-o", {{kNetworks, "mv"}});
  TestNetns pod("copf");
  auto add = run("ADD", "co-off", pod, meta("cluster", {{"mode", "off"}}));
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  const std::string net1 = ipv4_of(pod, "net1");
  EXPECT_EQ(rules(pod).find("lookup 101"), std::string::npos);
  EXPECT_NE(router_.exec("ping -c1 -W1 -I " + std::string(kRemoteIp) + " " + net1 + " >/dev/null"),
            0);
  json record = E2eNode::record_at(node_.journal_path("co-off"));
  ASSERT_TRUE(record.is_object());
  EXPECT_FALSE(record.contains("coordination"));  // the journal is exactly as before
  EXPECT_EQ(run("DEL", "co-off", pod, meta("cluster", {{"mode", "off"}})).exit_code, 0);
}

TEST_F(CoordinationE2e, UnderlayPodReachesServiceAndNodeThroughTheVeth) {
  // A backend pod on the cluster network, and a "Service" DNAT'ed to it on the node.
  TestNetns backend("cobe");
  ASSERT_EQ(run("ADD", "co-backend", backend, meta("cluster", nullptr), "backend").exit_code, 0);
  const std::string backend_ip = ipv4_of(backend, "eth0");
  ASSERT_EQ(node_ns_.exec("iptables -t nat -A PREROUTING -d " + std::string(kServiceIp) +
                          " -j DNAT --to-destination " + backend_ip),
            0);

  TestNetns pod("copu");
  const json conf = meta("underlay", {{"mode", "underlay"},
                                      {"serviceCIDR", {"10.96.0.0/16"}},
                                      {"podCIDR", {"10.231.0.0/24"}},
                                      {"vethLinkAddress", "169.254.100.1"}});
  auto add = run("ADD", "co-underlay", pod, conf);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  const std::string ip = ipv4_of(pod, "eth0");
  ASSERT_FALSE(ip.empty());
  EXPECT_NE(output_of("ip -n " + pod.name() + " route show default").find("dev eth0"),
            std::string::npos);
  EXPECT_EQ(ipv4_of(pod, "veth0"), "169.254.100.1");
  EXPECT_EQ(pod.exec("ping -c1 -W2 " + std::string(kServiceIp) + " >/dev/null"), 0);
  EXPECT_EQ(pod.exec("ping -c1 -W2 " + std::string(kNodeIp) + " >/dev/null"), 0);
  EXPECT_EQ(node_ns_.exec("ping -c1 -W2 " + ip + " >/dev/null"), 0);  // kubelet's probe path
  EXPECT_EQ(pod.exec("ping -c1 -W2 " + std::string(kRouterIp) + " >/dev/null"), 0);
  EXPECT_NE(node_links().find("cmx"), std::string::npos);
  EXPECT_EQ(run("CHECK", "co-underlay", pod, conf).exit_code, 0);
  // network-status (logged on a node without an API server) shows the pod's veth end.
  EXPECT_NE(output_of("grep network-status " + node_.dir() + "/cnimux.log")
                .find("\"interface\":\"veth0\",\"ips\":[\"169.254.100.1\"]"),
            std::string::npos)
      << output_of("grep network-status " + node_.dir() + "/cnimux.log");

  auto del = run("DEL", "co-underlay", pod, conf);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_EQ(output_of("ip -n " + pod.name() + " -o link").find("veth0"), std::string::npos);
  EXPECT_EQ(run("DEL", "co-backend", backend, meta("cluster", nullptr), "backend").exit_code, 0);
  expect_node_clean("co-underlay", ip);
}

TEST_F(CoordinationE2e, CheckFailsWhenTheVethIsGone) {
  TestNetns pod("copc");
  const json conf = meta("underlay", {{"mode", "auto"}});  // macvlan default route: underlay
  ASSERT_EQ(run("ADD", "co-check", pod, conf).exit_code, 0);
  const std::string veth =
      output_of("ip -n " + node_ns_.name() + " -o link | grep -o 'cmx[0-9a-f]*' | head -1");
  ASSERT_FALSE(veth.empty()) << node_links();
  ASSERT_EQ(node_ns_.exec("ip link delete " + veth), 0);
  auto check = run("CHECK", "co-check", pod, conf);
  EXPECT_NE(check.exit_code, 0);
  EXPECT_NE(check.out.find(veth), std::string::npos) << check.out;
  EXPECT_EQ(run("DEL", "co-check", pod, conf).exit_code, 0);
  expect_node_clean("co-check", "");
}

TEST_F(CoordinationE2e, DelWithoutAJournalStillRemovesTheNodeVeth) {
  TestNetns pod("copj");
  const json conf = meta("underlay", {{"mode", "underlay"}});
  ASSERT_EQ(run("ADD", "co-nojournal", pod, conf).exit_code, 0);
  ASSERT_NE(node_links().find("cmx"), std::string::npos);
  std::filesystem::remove(node_.journal_path("co-nojournal"));
  auto del = run("DEL", "co-nojournal", pod, conf);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  expect_node_clean("co-nojournal", "");
}

TEST_F(CoordinationE2e, ConflictingAddressFailsTheAddAndLeavesNothing) {
  // Another host on the underlay already holds the only address of the "conflict" network.
  TestNetns holder("coho");
  ASSERT_EQ(node_ns_.exec("ip link add hold0 link up0 type macvlan mode bridge && "
                          "ip link set hold0 netns " +
                          holder.name()),
            0);
  ASSERT_EQ(holder.exec("ip addr add 192.168.77.50/24 dev hold0 && ip link set hold0 up"), 0);
  const std::string holder_mac = output_of("cat /dev/null; ip -n " + holder.name() +
                                           " -o link show hold0 | "
                                           "grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2");
  TestNetns pod("copx");
  const json conf =
      meta("conflict", {{"mode", "underlay"}, {"detectIPConflict", true}, {"detectTimeout", 0.5}});
  auto add = run("ADD", "co-conflict", pod, conf);
  ASSERT_NE(add.exit_code, 0) << add.out;
  json err = json::parse(add.out);
  EXPECT_EQ(err.value("code", 0), 130) << add.out;
  EXPECT_NE(err.value("msg", "").find("192.168.77.50"), std::string::npos) << add.out;
  EXPECT_NE(err.value("msg", "").find(holder_mac), std::string::npos) << add.out;
  EXPECT_EQ(output_of("ip -n " + pod.name() + " -o link").find("eth0"), std::string::npos);
  expect_node_clean("co-conflict", "192.168.77.50");
  EXPECT_EQ(run("DEL", "co-conflict", pod, conf).exit_code, 0);
}

TEST_F(CoordinationE2e, UnreachableGatewayFailsOrWarnsAsConfigured) {
  TestNetns pod("copg");
  auto fail = run(
      "ADD", "co-gw", pod,
      meta("deadgw", {{"mode", "underlay"}, {"detectGateway", "fail"}, {"detectTimeout", 0.3}}));
  ASSERT_NE(fail.exit_code, 0);
  EXPECT_EQ(json::parse(fail.out).value("code", 0), 131) << fail.out;
  EXPECT_NE(fail.out.find("192.168.77.99"), std::string::npos) << fail.out;
  expect_node_clean("co-gw", "");
  const json warn =
      meta("deadgw", {{"mode", "underlay"}, {"detectGateway", "warn"}, {"detectTimeout", 0.3}});
  auto added = run("ADD", "co-gw", pod, warn);
  EXPECT_EQ(added.exit_code, 0) << added.out << added.err;
  EXPECT_EQ(run("DEL", "co-gw", pod, warn).exit_code, 0);
  expect_node_clean("co-gw", "");
}

TEST_F(CoordinationE2e, RollbackUndoesRulesTablesAndTheVeth) {
  // net1 gets table 101 and its rule; then the pod's veth cannot be made (a link named veth0 is
  // in the way), so the ADD fails after coordination changed the pod.
  node_.write_pod("default", "web", "uid-r", {{kNetworks, "mv"}});
  TestNetns pod("copr");
  ASSERT_EQ(pod.exec("ip link add veth0 type veth peer name veth0p"), 0);
  const json conf = meta("underlay", {{"mode", "underlay"}});
  auto add = run("ADD", "co-rollback", pod, conf);
  ASSERT_NE(add.exit_code, 0) << add.out;
  EXPECT_NE(add.out.find("coordination"), std::string::npos) << add.out;  // in the report
  EXPECT_EQ(rules(pod).find("lookup 101"), std::string::npos) << rules(pod);
  EXPECT_EQ(table(pod, 101), "");
  EXPECT_NE(output_of("ip -n " + pod.name() + " -o link").find("veth0"), std::string::npos)
      << "a pod link cnimux did not make is left alone";
  expect_node_clean("co-rollback", "");
  EXPECT_EQ(run("DEL", "co-rollback", pod, conf).exit_code, 0);
}

TEST_F(CoordinationE2e, MacPrefixGivesAFixedAddressTheSameMacInSuccessivePods) {
  // 192.168.77.70 = c0:a8:4d:46.
  const json conf = meta("fixed", {{"mode", "underlay"}, {"macPrefix", "0a:1b"}});
  auto mac_of = [](const TestNetns& ns) {
    return output_of("ip -n " + ns.name() +
                     " -o link show eth0 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2");
  };
  for (const char* name : {"copm1", "copm2"}) {
    TestNetns pod(name);
    auto add = run("ADD", std::string("co-") + name, pod, conf);
    ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
    EXPECT_EQ(mac_of(pod), "0a:1b:c0:a8:4d:46");
    bool reported = false;
    const json result = add.json();
    for (const auto& i : result["interfaces"]) {
      if (i.value("name", "") == "eth0") reported = i.value("mac", "") == "0a:1b:c0:a8:4d:46";
    }
    EXPECT_TRUE(reported) << add.out;  // the runtime is told the MAC the pod has
    EXPECT_EQ(run("DEL", std::string("co-") + name, pod, conf).exit_code, 0);
    expect_node_clean(std::string("co-") + name, "");
  }
  // The runtime's explicit MAC wins over the prefix.
  TestNetns pod("copm3");
  auto add = run("ADD", "co-copm3", pod, conf, "web", ";MAC=0a:00:00:00:00:07");
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(mac_of(pod), "0a:00:00:00:00:07");
  EXPECT_EQ(run("DEL", "co-copm3", pod, conf).exit_code, 0);
}

// The journal a SIGKILL leaves after the stage ran but before the ADD completed: state
// "adding", coordination recorded. (Editing the record stands in for the kill, whose timing a
// test cannot choose without sleeping.)
void mark_interrupted(const std::string& path) {
  std::ifstream in(path);
  json j = E2eNode::record_in(std::string(std::istreambuf_iterator<char>(in), {}));
  ASSERT_TRUE(j.contains("coordination")) << j.dump();
  j["state"] = "adding";
  j.erase("result");
  std::ofstream(path, std::ios::trunc) << j.dump();
}

TEST_F(CoordinationE2e, RepeatedAddAndDelAfterAnInterruptedAddLeaveOneVethThenNone) {
  node_.write_pod("default", "web", "uid-k", {{kNetworks, "mv"}});
  TestNetns pod("copk");
  const json conf = meta("underlay", {{"mode", "underlay"}});
  auto count_veths = [&] {
    return output_of("ip -n " + node_ns_.name() + " -o link | grep -c cmx");
  };
  auto first = run("ADD", "co-kill", pod, conf);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  // A runtime's retry of a complete ADD changes nothing.
  auto again = run("ADD", "co-kill", pod, conf);
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_EQ(again.out, first.out);
  EXPECT_EQ(count_veths(), "1");

  mark_interrupted(node_.journal_path("co-kill"));
  auto redo = run("ADD", "co-kill", pod, conf);  // undoes the interrupted ADD, then adds afresh
  ASSERT_EQ(redo.exit_code, 0) << redo.out << redo.err;
  EXPECT_EQ(count_veths(), "1");
  EXPECT_EQ(output_of("ip -n " + pod.name() + " rule | grep -c \"lookup 101\""), "1");

  mark_interrupted(node_.journal_path("co-kill"));
  auto del = run("DEL", "co-kill", pod, conf);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_EQ(count_veths(), "0");
  EXPECT_EQ(rules(pod).find("lookup 101"), std::string::npos) << rules(pod);
  EXPECT_EQ(table(pod, 101), "");
  expect_node_clean("co-kill", "");
}

// An ADD started in its own process group, for a test to SIGKILL where it waits. The destructor
// kills the group and reaps it, so a failing test leaves no cnimux behind.
class AddToKill {
 public:
  AddToKill(const std::string& binary, std::vector<std::string> env, const std::string& stdin_path)
      : env_(std::move(env)) {
    // Everything execve needs is built before fork: the child makes async-signal-safe calls only.
    std::vector<char*> envp;
    for (auto& v : env_) envp.push_back(v.data());
    envp.push_back(nullptr);
    char* argv[] = {const_cast<char*>(binary.c_str()), nullptr};
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      const int in = ::open(stdin_path.c_str(), O_RDONLY);
      const int out = ::open("/dev/null", O_WRONLY);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::execve(binary.c_str(), argv, envp.data());
      ::_exit(127);
    }
    if (pid_ > 0) ::setpgid(pid_, pid_);  // from both sides: the group exists before any kill
  }
  ~AddToKill() { kill_group(); }
  AddToKill(const AddToKill&) = delete;
  AddToKill& operator=(const AddToKill&) = delete;

  bool alive() const { return pid_ > 0 && process_alive(pid_); }

  // SIGKILLs cnimux and whatever of its group is left, reaps it; true when the signal ended it.
  bool kill_group() {
    if (pid_ <= 0) return false;
    ::kill(-pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  }

 private:
  std::vector<std::string> env_;
  pid_t pid_ = -1;
};

// Runs `fn` with this thread in `ns`'s network namespace, then puts it back.
template <class F>
void in_netns(const TestNetns& ns, F fn) {
  const int self = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  const int target = ::open(ns.path().c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(self, 0);
  ASSERT_GE(target, 0);
  ASSERT_EQ(::setns(target, CLONE_NEWNET), 0);
  try {
    fn();
  } catch (...) {
    ::setns(self, CLONE_NEWNET);
    ::close(self);
    ::close(target);
    throw;
  }
  ASSERT_EQ(::setns(self, CLONE_NEWNET), 0);
  ::close(self);
  ::close(target);
}

// SIGKILL during ADD, for real: the fixture starts the ADD, waits (polling, bounded) until cnimux
// is blocked at a known point, kills its process group, then runs the runtime's DEL.
class CoordinationSigkill : public CoordinationE2e {
 protected:
  std::unique_ptr<AddToKill> start_add(const std::string& cid, const TestNetns& pod,
                                       const json& conf) const {
    const std::string stdin_path = node_.dir() + "/" + cid + ".stdin.json";
    std::ofstream(stdin_path) << conf.dump();
    return std::make_unique<AddToKill>(
        wrapper_,
        std::vector<std::string>{
            "CNI_COMMAND=ADD", "CNI_CONTAINERID=" + cid, "CNI_NETNS=" + pod.path(),
            "CNI_IFNAME=eth0",
            "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web",
            "CNI_PATH=" + node_.bin(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
        stdin_path);
  }

  // Polls until `there` holds while the ADD still runs; false when the ADD ended first or the
  // bound passed (the ADD's own wait is 30 s, far beyond it).
  static bool wait_until(const AddToKill& add, const std::function<bool()>& there) {
    eventually([&] { return !add.alive() || there(); }, std::chrono::seconds(20));
    return add.alive() && there();
  }

  // True when cnimux.log has `text` after its first `from` bytes (this ADD's lines only).
  bool logged_since(size_t from, const std::string& text) const {
    const std::string log = node_.read("cnimux.log");
    return log.size() > from && log.find(text, from) != std::string::npos;
  }

  int node_veths() const {
    return std::stoi(output_of("ip -n " + node_ns_.name() + " -o link | grep -c cmx"));
  }

  // After the runtime's DEL of a killed ADD: no link in the pod (neither eth0 nor veth0), no
  // rule or table, nothing on the node (expect_node_clean), no delegate process, and the journal
  // a tombstone.
  void expect_all_gone(const TestNetns& pod, const std::string& cid,
                       const std::string& pod_ip) const {
    EXPECT_TRUE(E2eNode::links_in(pod).empty()) << output_of("ip -n " + pod.name() + " -o link");
    EXPECT_EQ(rules(pod).find("lookup 10"), std::string::npos) << rules(pod);
    EXPECT_EQ(table(pod, 100), "");
    EXPECT_EQ(table(pod, 101), "");
    expect_node_clean(cid, pod_ip);
    EXPECT_TRUE(E2eNode::is_tombstone(node_.journal_path(cid)))
        << output_of("cat " + node_.journal_path(cid));
    EXPECT_TRUE(eventually([&] { return node_.processes_from_bin().empty(); }));
  }
};

TEST_F(CoordinationSigkill, KilledWhileTheStageWaitsForTheGatewayThenDelLeavesNothing) {
  // The "deadgw" gateway never answers and the stage waits 30 s for it: cnimux is there once it
  // logged the mode (the line right before the probes) and the ADD has not ended.
  const json conf =
      meta("deadgw", {{"mode", "underlay"}, {"detectGateway", "fail"}, {"detectTimeout", 30}});
  for (const bool add_again : {false, true}) {
    SCOPED_TRACE(add_again ? "repeated ADD, then DEL" : "DEL");
    const std::string cid = add_again ? "co-gwkill2" : "co-gwkill1";
    TestNetns pod(add_again ? "copgk2" : "copgk1");
    const size_t from = node_.read("cnimux.log").size();
    auto add = start_add(cid, pod, conf);
    ASSERT_TRUE(wait_until(*add, [&] { return logged_since(from, "coordination: mode underlay"); }))
        << node_.read("cnimux.log").substr(from);
    EXPECT_TRUE(add->kill_group());
    // Killed inside the stage: the macvlan and its address are there, the node veth is not yet.
    EXPECT_EQ(ipv4_of(pod, "eth0"), "192.168.77.60");
    EXPECT_EQ(node_veths(), 0);
    EXPECT_TRUE(node_.has_live_journal(cid));
    if (add_again) {
      // The runtime retries once the gateway answers: the ADD undoes the killed one, then adds.
      ASSERT_EQ(router_.exec("ip addr add 192.168.77.99/24 dev up1"), 0);
      auto redo = run("ADD", cid, pod, conf);
      EXPECT_EQ(redo.exit_code, 0) << redo.out << redo.err;
      EXPECT_EQ(node_veths(), 1);
      EXPECT_EQ(ipv4_of(pod, "eth0"), "192.168.77.60");
    }
    auto del = run("DEL", cid, pod, conf);
    EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
    expect_all_gone(pod, cid, "192.168.77.60");
  }
}

TEST_F(CoordinationSigkill, KilledAfterTheStageMadeTheVethThenDelLeavesNothing) {
  // The stage's last wait is over before the veth is made, so cnimux is held right after it: the
  // network-status PATCH goes to an API server (in the node's netns) that never answers. The pod
  // comes from the CRI annotations and the cluster network is named by path, so that PATCH is
  // the only API request.
  std::unique_ptr<fakes::FakeKubeApi> api;
  in_netns(node_ns_, [&] {
    fakes::FakeKubeApi::Options opts;
    opts.mode = "hang";
    api = std::make_unique<fakes::FakeKubeApi>(opts);
  });
  ASSERT_TRUE(api);
  const json plain = meta("underlay", {{"mode", "underlay"}});
  json held = plain;
  held["clusterNetwork"] = node_.dir() + "/net.d/10-underlay.conflist";  // no API lookup
  held["kubeconfig"] = api->write_kubeconfig();
  held["apiTimeout"] = 30;
  held["runtimeConfig"] = {{"io.kubernetes.cri.pod-annotations", json::object()}};
  for (const bool add_again : {false, true}) {
    SCOPED_TRACE(add_again ? "repeated ADD, then DEL" : "DEL");
    const std::string cid = add_again ? "co-vkill2" : "co-vkill1";
    TestNetns pod(add_again ? "copvk2" : "copvk1");
    const size_t from = node_.read("cnimux.log").size();
    auto add = start_add(cid, pod, held);
    ASSERT_TRUE(wait_until(*add, [&] { return logged_since(from, "network-status of"); }))
        << node_.read("cnimux.log").substr(from);
    EXPECT_TRUE(add->kill_group());
    // Killed with the stage's work done and journalled, the ADD not complete.
    const std::string ip = ipv4_of(pod, "eth0");
    ASSERT_FALSE(ip.empty());
    EXPECT_EQ(node_veths(), 1);
    EXPECT_NE(output_of("ip -n " + pod.name() + " -o link").find("veth0"), std::string::npos);
    EXPECT_NE(output_of("ip -n " + node_ns_.name() + " route show " + ip), "");
    EXPECT_NE(output_of("cat " + node_.journal_path(cid)).find("\"nodeVeth\""), std::string::npos);
    EXPECT_TRUE(node_.has_live_journal(cid));
    if (add_again) {
      // The runtime retries (without the API that held the first ADD): one veth, not two.
      auto redo = run("ADD", cid, pod, plain);
      EXPECT_EQ(redo.exit_code, 0) << redo.out << redo.err;
      EXPECT_EQ(node_veths(), 1);
    }
    auto del = run("DEL", cid, pod, plain);
    EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
    expect_all_gone(pod, cid, ip);
  }
}

TEST_F(CoordinationSigkill, KilledWhileTheInTreeDelegateProbesThenDelLeavesNothing) {
  // The in-tree macvlan probes 192.168.77.70 (free) for 30 s before configuring it: cnimux is
  // there once the pod's new link is up and still has no address (the probe sets it up first).
  json conf =
      meta("fixed", {{"mode", "underlay"}, {"detectIPConflict", true}, {"detectTimeout", 30}});
  conf["inTree"] = {"macvlan"};
  json quick = conf;
  quick["coordination"]["detectTimeout"] = 0.3;
  for (const bool add_again : {false, true}) {
    SCOPED_TRACE(add_again ? "repeated ADD, then DEL" : "DEL");
    const std::string cid = add_again ? "co-pkill2" : "co-pkill1";
    TestNetns pod(add_again ? "coppk2" : "coppk1");
    auto add = start_add(cid, pod, conf);
    auto probing = [&] {
      const std::string links = output_of("ip -n " + pod.name() + " -o link | grep -v ': lo:'");
      return links.find(",UP") != std::string::npos &&
             output_of("ip -n " + pod.name() + " -4 -o addr | grep -v ' lo '").empty();
    };
    ASSERT_TRUE(wait_until(*add, probing)) << output_of("ip -n " + pod.name() + " -o link");
    EXPECT_TRUE(add->kill_group());
    EXPECT_FALSE(E2eNode::links_in(pod).empty());  // the delegate's link, killed mid-probe
    EXPECT_EQ(node_veths(), 0);
    if (add_again) {
      // The retry (with a short probe, so the test does not wait 30 s again) undoes, then adds.
      auto redo = run("ADD", cid, pod, quick);
      EXPECT_EQ(redo.exit_code, 0) << redo.out << redo.err;
      EXPECT_EQ(ipv4_of(pod, "eth0"), "192.168.77.70");
      EXPECT_EQ(node_veths(), 1);
    }
    auto del = run("DEL", cid, pod, add_again ? quick : conf);
    EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
    expect_all_gone(pod, cid, "192.168.77.70");
  }
}

TEST_F(CoordinationE2e, Ipv6ConflictingAddressFailsTheAddByNdpAndLeavesNothing) {
  TestNetns holder("coh6");
  const std::string holder_mac = hold(holder, {"fd00:77::50/64"});
  TestNetns pod("cop6x");
  ipv6_on(pod);
  const json conf =
      meta("conflict6", {{"mode", "overlay"}, {"detectIPConflict", true}, {"detectTimeout", 0.5}});
  auto add = run("ADD", "co-conflict6", pod, conf);
  ASSERT_NE(add.exit_code, 0) << add.out;
  json err = json::parse(add.out);
  EXPECT_EQ(err.value("code", 0), 130) << add.out;
  EXPECT_NE(err.value("msg", "").find("fd00:77::50"), std::string::npos) << add.out;
  EXPECT_NE(err.value("msg", "").find("eth0"), std::string::npos) << add.out;
  EXPECT_NE(err.value("msg", "").find(holder_mac), std::string::npos) << add.out;
  EXPECT_EQ(output_of("ip -n " + pod.name() + " -o link").find("eth0"), std::string::npos);
  expect_node_clean("co-conflict6", "");
  EXPECT_EQ(run("DEL", "co-conflict6", pod, conf).exit_code, 0);
}

TEST_F(CoordinationE2e, Ipv6UnreachableGatewayFailsOrWarnsAsConfigured) {
  TestNetns pod("cop6g");
  ipv6_on(pod);
  auto fail = run(
      "ADD", "co-gw6", pod,
      meta("deadgw6", {{"mode", "overlay"}, {"detectGateway", "fail"}, {"detectTimeout", 0.3}}));
  ASSERT_NE(fail.exit_code, 0);
  EXPECT_EQ(json::parse(fail.out).value("code", 0), 131) << fail.out;
  EXPECT_NE(fail.out.find("fd00:77::99"), std::string::npos) << fail.out;
  EXPECT_NE(fail.out.find("does not answer NDP on eth0 within 300 ms"), std::string::npos)
      << fail.out;
  expect_node_clean("co-gw6", "");
  const json warn =
      meta("deadgw6", {{"mode", "overlay"}, {"detectGateway", "warn"}, {"detectTimeout", 0.3}});
  auto added = run("ADD", "co-gw6", pod, warn);
  EXPECT_EQ(added.exit_code, 0) << added.out << added.err;
  EXPECT_EQ(run("DEL", "co-gw6", pod, warn).exit_code, 0);
  expect_node_clean("co-gw6", "");
}

TEST_F(CoordinationE2e, Ipv6DualStackNet1PassesTheChecksAndRepliesLeaveByNet1) {
  // net1 holds 192.168.77.70 and fd00:77::70; its gateway answers NDP; nobody else holds them.
  node_.write_pod("default", "web", "uid-6", {{kNetworks, "mv6"}});
  TestNetns pod("cop6o");
  ipv6_on(pod);
  const json conf = meta("cluster", {{"mode", "overlay"},
                                     {"detectIPConflict", true},
                                     {"detectGateway", "fail"},
                                     {"detectTimeout", 0.3}});
  auto add = run("ADD", "co-dual", pod, conf);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(ipv6_of(pod, "net1"), "fd00:77::70");
  EXPECT_NE(rules(pod, "-6").find("1001:\tfrom fd00:77::70 lookup 101"), std::string::npos)
      << rules(pod, "-6");
  EXPECT_NE(table(pod, 101, "-6").find("default via " + std::string(kRouterIp6) + " dev net1"),
            std::string::npos)
      << table(pod, 101, "-6");
  // eth0 (the cluster bridge) has no IPv6 default route: only the rule sends the reply back.
  EXPECT_EQ(
      router_.exec("ping -6 -c1 -W2 -I " + std::string(kRemoteIp6) + " fd00:77::70 >/dev/null"), 0);
  EXPECT_EQ(run("CHECK", "co-dual", pod, conf).exit_code, 0);
  auto del = run("DEL", "co-dual", pod, conf);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_EQ(rules(pod, "-6").find("lookup 101"), std::string::npos) << rules(pod, "-6");
  expect_node_clean("co-dual", "");
}

TEST_F(CoordinationE2e, Ipv6AnnouncementReplacesTheRoutersStaleNeighbourEntry) {
  // The router remembers fd00:77::70 at an old MAC (the address's previous pod). The
  // reference macvlan sends no advertisement of its own, and the DAD probe (from ::) changes no
  // cache: only the stage's unsolicited NA can correct it.
  ASSERT_EQ(router_.exec("ip -6 neigh replace fd00:77::70 lladdr 02:00:00:00:00:99 dev up1 "
                         "nud stale"),
            0);
  node_.write_pod("default", "web", "uid-a", {{kNetworks, "mv6"}});
  TestNetns pod("cop6a");
  ipv6_on(pod);
  const json conf =
      meta("cluster", {{"mode", "overlay"}, {"detectIPConflict", true}, {"detectTimeout", 0.3}});
  auto add = run("ADD", "co-na", pod, conf);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  const std::string mac = mac_of(pod, "net1");
  ASSERT_FALSE(mac.empty());
  // The router handles the advertisement in its softirq: wait for the state, bounded.
  std::string entry;
  for (int i = 0; i < 500 && entry.find(mac) == std::string::npos; ++i) {
    entry = output_of("ip -n " + router_.name() + " -6 neigh show fd00:77::70 dev up1");
    if (entry.find(mac) == std::string::npos) usleep(10000);
  }
  EXPECT_NE(entry.find(mac), std::string::npos) << entry;
  EXPECT_EQ(run("DEL", "co-na", pod, conf).exit_code, 0);
  expect_node_clean("co-na", "");
}

TEST_F(CoordinationE2e, InTreeMacvlanProbesBeforeConfiguringAndAConflictLeavesNothing) {
  // inTree: "macvlan" runs cnimux's own macvlan, which probes before it adds the address. The
  // holder holds both the IPv4 and the IPv6 address that the "conflict" networks would give.
  TestNetns holder("cohi");
  const std::string holder_mac = hold(holder, {"192.168.77.50/24", "fd00:77::50/64"});
  for (const char* network : {"conflict", "conflict6"}) {
    SCOPED_TRACE(network);
    TestNetns pod("copi");
    ipv6_on(pod);
    json conf =
        meta(network, {{"mode", "underlay"}, {"detectIPConflict", true}, {"detectTimeout", 0.5}});
    conf["inTree"] = {"macvlan"};
    const std::string cid = std::string("co-intree-") + network;
    auto add = run("ADD", cid, pod, conf);
    ASSERT_NE(add.exit_code, 0) << add.out;
    json err = json::parse(add.out);
    const std::string msg = err.value("msg", "");
    EXPECT_EQ(err.value("code", 0), 130) << add.out;
    EXPECT_NE(msg.find(std::string(network) == "conflict" ? "192.168.77.50" : "fd00:77::50"),
              std::string::npos)
        << add.out;
    EXPECT_NE(msg.find("on eth0"), std::string::npos) << add.out;
    EXPECT_NE(msg.find(holder_mac), std::string::npos) << add.out;
    // The delegate's own error: found before the address was put on eth0, not after.
    EXPECT_NE(msg.find("before configuring it"), std::string::npos) << add.out;
    // No link left (neither eth0 nor the delegate's temporary name), nothing held.
    EXPECT_EQ(output_of("ip -n " + pod.name() + " -o link | grep -v ': lo:'"), "");
    expect_node_clean(cid, "");
    EXPECT_EQ(run("DEL", cid, pod, conf).exit_code, 0);
  }
}

TEST_F(CoordinationE2e, InTreeMacvlanWithoutAConflictIsProbedOnceByTheDelegate) {
  TestNetns pod("copis");
  ipv6_on(pod);
  json conf =
      meta("fixed", {{"mode", "underlay"}, {"detectIPConflict", true}, {"detectTimeout", 0.3}});
  conf["inTree"] = {"macvlan"};
  auto add = run("ADD", "co-intree-ok", pod, conf);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(ipv4_of(pod, "eth0"), "192.168.77.70");
  // The plan carries the probe request to the delegate, and the stage did not probe again.
  const std::string journal = output_of("cat " + node_.journal_path("co-intree-ok"));
  EXPECT_NE(journal.find("cnimuxProbe"), std::string::npos) << journal;
  EXPECT_NE(output_of("cat " + node_.dir() + "/cnimux.log")
                .find("the in-tree delegate probed its addresses before configuring them"),
            std::string::npos);
  EXPECT_EQ(run("DEL", "co-intree-ok", pod, conf).exit_code, 0);
  expect_node_clean("co-intree-ok", "");
}

}  // namespace
}  // namespace cnimux_test
