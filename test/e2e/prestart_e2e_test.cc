// The cluster network's delegate is started ahead of the plan (Session::prestart_cluster_delegate):
// through the cnimux binary, an ADD still executes it once, it acts only on the config the
// ADD gives it after its record is durable, and an ADD that ends before that leaves no
// process and nothing done.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test/e2e/e2e_node.h"

namespace cnimux_test {
namespace {

// A node whose cluster network is the fake delegate behind a wrapper, type "counted", that
// appends "<pid> <CNI_COMMAND>" to execs.log when it is executed, before anything reads its
// stdin: the log counts executions that got that far, the fake's own log (fake_calls) the
// ones that got a config.
class PrestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string wrapper = node_.bin() + "/counted";
    std::ofstream(wrapper) << "#!/bin/sh\necho \"$$ $CNI_COMMAND\" >> " << node_.dir()
                           << "/execs.log\nexec " << node_.bin() << "/cnimux-fake-delegate\n";
    ASSERT_EQ(::chmod(wrapper.c_str(), 0755), 0);
    json fake = node_.fake_config(json::object());
    fake["type"] = "counted";
    node_.write_cluster_network(fake);
  }

  // How many times the cluster network's binary was executed for `verb`.
  size_t execs(const std::string& verb) const {
    std::istringstream in(node_.read("execs.log"));
    size_t n = 0;
    for (std::string pid, command; in >> pid >> command;) n += command == verb ? 1 : 0;
    return n;
  }

  // True when one line of cnimux's log holds both pieces.
  bool logged(const std::string& a, const std::string& b) const {
    std::istringstream in(node_.read("cnimux.log"));
    for (std::string line; std::getline(in, line);) {
      if (line.find(a) != std::string::npos && line.find(b) != std::string::npos) return true;
    }
    return false;
  }

  E2eNode node_{"pre"};
  TestNetns pod_{"pre"};
};

TEST_F(PrestartTest, AnAddExecutesTheClusterDelegateOnceAndFeedsItOnce) {
  node_.write_pod("default", "web", "uid-p1", {});
  const json meta = node_.meta_config();
  auto add = node_.run("ADD", "pre1", pod_.path(), meta);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(execs("ADD"), 1u) << node_.read("execs.log");
  EXPECT_EQ(node_.fake_calls(), (std::vector<std::string>{"ADD eth0"}));
  EXPECT_NE(node_.read("cnimux.log").find("took over the prestarted"), std::string::npos)
      << "the ADD did not use the delegate it started ahead:\n"
      << node_.read("cnimux.log");
  auto del = node_.run("DEL", "pre1", pod_.path(), meta);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(node_.processes_from_bin().empty());
}

// Bad input found while planning (a NAD that does not exist): the delegate started ahead
// was executed, never given a config, and is gone when cnimux answers.
TEST_F(PrestartTest, AnAddFailingInPlanningLeavesTheEarlyDelegateUnfedAndGone) {
  node_.write_pod("default", "web", "uid-p2", {{"k8s.v1.cni.cncf.io/networks", "missing"}});
  const json meta = node_.meta_config();
  auto add = node_.run("ADD", "pre2", pod_.path(), meta);
  EXPECT_EQ(add.exit_code, 1) << add.out << add.err;
  ASSERT_NO_THROW(EXPECT_EQ(add.json().value("code", 0), 7)) << add.out;
  EXPECT_NE(node_.read("cnimux.log").find("prestarted"), std::string::npos)
      << "no delegate was started ahead:\n"
      << node_.read("cnimux.log");
  EXPECT_TRUE(node_.fake_calls().empty()) << node_.read("fake.log");
  EXPECT_TRUE(node_.processes_from_bin().empty());
  EXPECT_TRUE(E2eNode::links_in(pod_).empty());
  auto del = node_.run("DEL", "pre2", pod_.path(), meta);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(node_.fake_calls().empty()) << node_.read("fake.log");
}

// A repeated ADD answers from the journal: the delegate it started ahead dies unfed.
TEST_F(PrestartTest, ARepeatedAddAnswersFromTheJournalWithoutFeedingTheEarlyDelegate) {
  node_.write_pod("default", "web", "uid-p3", {});
  const json meta = node_.meta_config();
  auto first = node_.run("ADD", "pre3", pod_.path(), meta);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  auto again = node_.run("ADD", "pre3", pod_.path(), meta);
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(json::parse(again.out), json::parse(first.out));
  // The second ADD's early delegate may die before its wrapper logs: only the feeding counts.
  EXPECT_EQ(node_.fake_calls(), (std::vector<std::string>{"ADD eth0"}));
  EXPECT_TRUE(node_.processes_from_bin().empty());
  auto del = node_.run("DEL", "pre3", pod_.path(), meta);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
}

// A pod whose default network the annotation replaces: the guess from the config was the
// wrong network; the ADD runs the right one and the early delegate dies unfed.
TEST_F(PrestartTest, ADefaultNetworkOverrideRunsTheRightDelegate) {
  node_.write_nad("default", "other", node_.fake_config({{"address", "10.234.0.9/24"}}));
  node_.write_pod("default", "web", "uid-p4",
                  {{"v1.multus-cni.io/default-network", "default/other"}});
  const json meta = node_.meta_config();
  auto add = node_.run("ADD", "pre4", pod_.path(), meta);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_NE(add.out.find("10.234.0.9"), std::string::npos) << add.out;
  EXPECT_LE(execs("ADD"), 1u) << node_.read("execs.log");                 // the guess, killed unfed
  EXPECT_EQ(node_.fake_calls(), (std::vector<std::string>{"ADD eth0"}));  // "other" only
  EXPECT_TRUE(node_.processes_from_bin().empty());
  auto del = node_.run("DEL", "pre4", pod_.path(), meta);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
}

// The next attachment's delegate is started while the one before it runs, and taken over.
TEST_F(PrestartTest, TheNextAttachmentsDelegateStartsWhileThePreviousOneRuns) {
  node_.write_nad("default", "n1", node_.fake_config({{"address", "10.232.0.9/24"}}));
  node_.write_pod("default", "web", "uid-p5", {{"k8s.v1.cni.cncf.io/networks", "n1"}});
  const json meta = node_.meta_config();
  auto add = node_.run("ADD", "pre5", pod_.path(), meta);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_TRUE(logged("took over the prestarted", "ifname net1)")) << node_.read("cnimux.log");
  EXPECT_EQ(node_.fake_calls(), (std::vector<std::string>{"ADD eth0", "ADD net1"}));
  auto del = node_.run("DEL", "pre5", pod_.path(), meta);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(node_.processes_from_bin().empty());
}

// An attachment that fails ends the ADD before the next one's turn: the next delegate, started
// while it ran, dies unfed, and the rollback DELs only what got a config.
TEST_F(PrestartTest, AFailedAttachmentLeavesTheNextDelegateUnfed) {
  json failing = node_.fake_config({{"add", "error"}, {"code", 11}});
  failing["type"] = "counted";
  node_.write_cluster_network(failing);
  node_.write_nad("default", "n1", node_.fake_config({{"address", "10.232.0.9/24"}}));
  node_.write_pod("default", "web", "uid-p6", {{"k8s.v1.cni.cncf.io/networks", "n1"}});
  const json meta = node_.meta_config();
  auto add = node_.run("ADD", "pre6", pod_.path(), meta);
  EXPECT_EQ(add.exit_code, 1) << add.out << add.err;
  ASSERT_NO_THROW(EXPECT_EQ(add.json().value("code", 0), 11)) << add.out;
  EXPECT_TRUE(logged("prestarted", "ifname net1)")) << node_.read("cnimux.log");
  EXPECT_EQ(node_.fake_calls(), (std::vector<std::string>{"ADD eth0", "DEL eth0"}));
  EXPECT_TRUE(node_.processes_from_bin().empty());
  EXPECT_TRUE(E2eNode::links_in(pod_).empty());
}

// "startDelegatesAhead": false: every delegate is executed only in its turn.
TEST_F(PrestartTest, NothingStartsAheadWhenTheConfigSaysSo) {
  node_.write_nad("default", "n1", node_.fake_config({{"address", "10.232.0.9/24"}}));
  node_.write_pod("default", "web", "uid-p7", {{"k8s.v1.cni.cncf.io/networks", "n1"}});
  const json meta = node_.meta_config({{"startDelegatesAhead", false}});
  auto add = node_.run("ADD", "pre7", pod_.path(), meta);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(node_.read("cnimux.log").find("prestarted"), std::string::npos)
      << node_.read("cnimux.log");
  EXPECT_EQ(execs("ADD"), 1u) << node_.read("execs.log");
  EXPECT_EQ(node_.fake_calls(), (std::vector<std::string>{"ADD eth0", "ADD net1"}));
  auto del = node_.run("DEL", "pre7", pod_.path(), meta);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
}

}  // namespace
}  // namespace cnimux_test
