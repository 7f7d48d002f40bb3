// Failure injection: a misbehaving delegate at each position of a three-network plan (cluster
// network, net1, net2); the ADD must fail with the delegate's own code and leave nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "test/e2e/e2e_node.h"
#include "test/e2e/hang_pidfile.h"

namespace cnimux_test {
namespace {

struct Fault {
  const char* mode;      // fake delegate mode for ADD
  int expected_code;     // the CNI code the runtime must see
  const char* msg_part;  // a piece of the message that names the cause
};

void PrintTo(const Fault& f, std::ostream* os) {
  *os << f.mode;
}

const Fault kFaults[] = {
    {"error", 11, "fake failure"},           // the delegate's own error object
    {"hang", 101, "timed out"},              // past delegateTimeout
    {"segv", 100, "SIGSEGV"},                // killed by a signal
    {"garbage", 6, "not one JSON object"},   // non-JSON on stdout
    {"nothing", 6, "printed no result"},     // exit 0 without a result
    {"two", 6, "not one JSON object"},       // two objects on stdout
    {"flood", 6, "output exceeds"},          // more than 1 MiB on stdout
    {"stderr", 100, "fake stderr failure"},  // exit 1, only stderr
};

const char* const kIfnames[] = {"eth0", "net1", "net2"};
const char* const kNetworks[] = {"cluster", "default/n1", "default/n2"};

// A node whose plan is cluster (bridge), n1 (macvlan) and n2 (macvlan), with the network
// at `fake_position` replaced by the fake delegate configured by `fake`.
void write_plan(const E2eNode& node, int fake_position, const json& fake) {
  const json fake_conf = node.fake_config(fake);
  node.write_cluster_network(fake_position == 0 ? fake_conf : node.bridge_config("10.231.0.0/24"));
  node.write_nad("default", "n1",
                 fake_position == 1 ? fake_conf : node.macvlan_config("10.232.0.0/24"));
  node.write_nad("default", "n2",
                 fake_position == 2 ? fake_conf : node.macvlan_config("10.233.0.0/24"));
  node.write_pod("default", "web", "uid-f", {{"k8s.v1.cni.cncf.io/networks", "n1,n2"}});
}

json fake_for(const E2eNode& node, const std::string& mode) {
  return {{"add", mode}, {"pidfile", node.dir() + "/hang.pid"}, {"code", 11}};
}

class DelegateFailure : public ::testing::TestWithParam<std::tuple<int, Fault>> {};

TEST_P(DelegateFailure, AddFailsWithTheDelegatesCodeAndLeavesNothing) {
  const auto [position, fault] = GetParam();
  E2eNode node("f");
  TestNetns pod("f");
  HangPidfile hang(node.dir() + "/hang.pid");
  write_plan(node, position, fake_for(node, fault.mode));
  const json meta = node.meta_config({{"delegateTimeout", 2}});

  auto add = node.run("ADD", "cf1", pod.path(), meta);
  EXPECT_EQ(add.exit_code, 1) << add.out << add.err;
  json err;
  ASSERT_NO_THROW(err = add.json()) << "stdout must be exactly one JSON object: " << add.out;
  EXPECT_EQ(err.value("code", 0), fault.expected_code) << err.dump();
  const std::string msg = err.value("msg", "");
  EXPECT_NE(msg.find(std::string("\"") + kNetworks[position] + "\""), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::string("(") + kIfnames[position] + ")"), std::string::npos) << msg;
  EXPECT_NE(msg.find(fault.msg_part), std::string::npos) << msg;
  // The rollback report lists every started attachment, the failing one included, and no
  // attachment that never started.
  const std::string details = err.value("details", "");
  EXPECT_NE(details.find("rollback"), std::string::npos) << details;
  for (int i = 0; i < 3; ++i) {
    const bool started = i <= position;
    EXPECT_EQ(details.find(std::string("(") + kIfnames[i] + ")") != std::string::npos, started)
        << kIfnames[i] << " in: " << details;
  }
  EXPECT_EQ(details.find("failed:"), std::string::npos) << details;

  EXPECT_TRUE(E2eNode::links_in(pod).empty());
  EXPECT_TRUE(node.stray_host_links().empty());
  EXPECT_EQ(node.bridge_ports(), 0);
  EXPECT_TRUE(node.held_addresses().empty());
  for (pid_t pid : hang.pids()) EXPECT_TRUE(wait_process_gone(pid)) << "hang pid " << pid;
  if (std::string(fault.mode) == "hang") {
    EXPECT_EQ(hang.pids().size(), 2u);
  }
  EXPECT_TRUE(node.processes_from_bin().empty());

  auto del = node.run("DEL", "cf1", pod.path(), meta);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(del.out.empty()) << del.out;
  EXPECT_TRUE(node.held_addresses().empty());
}

std::string case_name(const ::testing::TestParamInfo<DelegateFailure::ParamType>& info) {
  return std::string(kIfnames[std::get<0>(info.param)]) + "_" + std::get<1>(info.param).mode;
}

INSTANTIATE_TEST_SUITE_P(EachPosition, DelegateFailure,
                         ::testing::Combine(::testing::Values(0, 1, 2),
                                            ::testing::ValuesIn(kFaults)),
                         case_name);

// When the cluster network fails, no later network runs at all: net1 and net2 are fake
// delegates in "ok" mode here, so their log would show any ADD (or rollback DEL) of them.
class ClusterNetworkFailure : public ::testing::TestWithParam<Fault> {};

TEST_P(ClusterNetworkFailure, LaterNetworksNeverRun) {
  const Fault fault = GetParam();
  E2eNode node("c");
  TestNetns pod("c");
  HangPidfile hang(node.dir() + "/hang.pid");
  node.write_cluster_network(node.fake_config(fake_for(node, fault.mode)));
  node.write_nad("default", "n1", node.fake_config({{"address", "10.232.0.9/24"}}));
  node.write_nad("default", "n2", node.fake_config({{"address", "10.233.0.9/24"}}));
  node.write_pod("default", "web", "uid-c", {{"k8s.v1.cni.cncf.io/networks", "n1,n2"}});
  const json meta = node.meta_config({{"delegateTimeout", 2}});

  auto add = node.run("ADD", "cc1", pod.path(), meta);
  EXPECT_EQ(add.exit_code, 1) << add.out << add.err;
  ASSERT_NO_THROW(EXPECT_EQ(add.json().value("code", 0), fault.expected_code)) << add.out;
  EXPECT_EQ(node.fake_calls(), (std::vector<std::string>{"ADD eth0", "DEL eth0"}));
  EXPECT_TRUE(E2eNode::links_in(pod).empty());
  for (pid_t pid : hang.pids()) EXPECT_TRUE(wait_process_gone(pid)) << "hang pid " << pid;
}

INSTANTIATE_TEST_SUITE_P(EachFault, ClusterNetworkFailure, ::testing::ValuesIn(kFaults),
                         [](const ::testing::TestParamInfo<Fault>& info) {
                           return std::string(info.param.mode);
                         });

// A rollback that cannot undo everything says so, keeps the ADD's own error code, and leaves
// the unfinished part in the journal for DEL, which reports the same failure instead of
// claiming success.
TEST(RollbackFailure, IsReportedAndStaysOwed) {
  E2eNode node("r");
  TestNetns pod("r");
  write_plan(node, 2, {{"add", "error"}, {"del", "error"}, {"code", 11}, {"msg", "stuck"}});
  const json meta = node.meta_config();

  auto add = node.run("ADD", "cr1", pod.path(), meta);
  EXPECT_EQ(add.exit_code, 1) << add.out << add.err;
  json err;
  ASSERT_NO_THROW(err = add.json()) << add.out;
  EXPECT_EQ(err.value("code", 0), 11) << err.dump();
  const std::string details = err.value("details", "");
  EXPECT_NE(details.find("(eth0)"), std::string::npos) << details;  // undone
  EXPECT_NE(details.find("(net1)"), std::string::npos) << details;  // undone
  EXPECT_NE(details.find("failed: network \"default/n2\" (net2)"), std::string::npos) << details;
  EXPECT_TRUE(E2eNode::links_in(pod).empty());
  EXPECT_TRUE(node.held_addresses().empty());
  const json journal = E2eNode::record_in(node.read("journal/cr1.journal"));
  ASSERT_TRUE(journal.is_object()) << node.read("journal/cr1.journal");
  EXPECT_EQ(journal["attachments"][0]["state"], "pending");
  EXPECT_EQ(journal["attachments"][1]["state"], "pending");
  EXPECT_EQ(journal["attachments"][2]["state"], "started");

  auto del = node.run("DEL", "cr1", pod.path(), meta);
  EXPECT_EQ(del.exit_code, 1) << del.out << del.err;
  ASSERT_NO_THROW(EXPECT_NE(del.json().value("msg", "").find("(net2)"), std::string::npos))
      << del.out;
  EXPECT_TRUE(node.has_live_journal("cr1"));
  EXPECT_EQ(node.fake_calls(), (std::vector<std::string>{"ADD net2", "DEL net2", "DEL net2"}));
}

}  // namespace
}  // namespace cnimux_test
