// Signals during ADD: SIGTERM/SIGINT make cnimux stop the running delegate, roll back and
// report; SIGKILL leaves a journal from which DEL, or a repeated ADD, undoes the partial work,
// and no process the delegate started keeps running.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <future>
#include <set>
#include <string>
#include <vector>

#include "plugin/journal.h"
#include "test/e2e/e2e_node.h"
#include "test/e2e/hang_pidfile.h"

namespace cnimux_test {
namespace {

std::string argv0_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  std::string argv0;
  std::getline(in, argv0, '\0');
  return argv0;
}

// A pod whose plan is cluster (bridge), n1 (macvlan) and n2 (the fake delegate, hanging in
// ADD), so that when cnimux is signalled two attachments are done and one is running.
class SignalDuringAdd : public ::testing::Test {
 protected:
  SignalDuringAdd() : node_("s"), pod_("s"), hang_(node_.dir() + "/hang.pid") {
    node_.write_cluster_network(node_.bridge_config("10.231.0.0/24"));
    node_.write_nad("default", "n1", node_.macvlan_config("10.232.0.0/24"));
    write_n2("hang");
    node_.write_pod("default", "web", "uid-s", {{"k8s.v1.cni.cncf.io/networks", "n1,n2"}});
    // Far beyond the test's life: only the signal may end the hanging delegate.
    meta_ = node_.meta_config({{"delegateTimeout", 600}});
  }
  ~SignalDuringAdd() override {
    // Whatever failed, stop the delegate so the ADD returns before the node goes away.
    for (pid_t pid : hang_.pids()) {
      if (process_alive(pid)) ::kill(pid, SIGKILL);
    }
    if (add_.valid()) add_.wait();
  }

  void write_n2(const std::string& add_mode, json fake = json::object()) {
    fake["add"] = add_mode;
    fake["pidfile"] = hang_.path();
    node_.write_nad("default", "n2", node_.fake_config(fake));
  }

  // Starts the ADD and returns cnimux's pid once the third delegate hangs (-1 on failure).
  pid_t start_add_until_hang(const std::string& cid) {
    add_ = std::async(std::launch::async,
                      [this, cid] { return node_.run("ADD", cid, pod_.path(), meta_); });
    if (!hang_.wait()) return -1;
    const pid_t cnimux = parent_pid(hang_.pids().front());
    return argv0_of(cnimux) == cnimux_binary() ? cnimux : -1;
  }

  // SIGKILLs cnimux and returns what the runtime saw.
  testing_support::PluginRun sigkill(pid_t cnimux) {
    EXPECT_EQ(::kill(cnimux, SIGKILL), 0);
    return add_.get();
  }

  // The journal cnimux left for `cid`, as JSON.
  json journal_of(const std::string& cid) const {
    return E2eNode::record_in(node_.read("journal/" + cid + ".journal"));
  }

  E2eNode node_;
  TestNetns pod_;
  std::future<testing_support::PluginRun> add_;  // before hang_: waited for after its kill
  HangPidfile hang_;
  json meta_;
};

class StopSignal : public SignalDuringAdd, public ::testing::WithParamInterface<int> {};

TEST_P(StopSignal, StopsTheDelegateRollsBackAndReports) {
  const int sig = GetParam();
  const pid_t cnimux = start_add_until_hang("cs1");
  ASSERT_GT(cnimux, 0) << "the third delegate never started: " << node_.read("cnimux.log");
  const std::vector<pid_t> hung = hang_.pids();
  ASSERT_EQ(::kill(cnimux, sig), 0);

  testing_support::PluginRun add = add_.get();
  EXPECT_EQ(add.exit_code, 1) << add.out << add.err;
  json err;
  ASSERT_NO_THROW(err = add.json()) << "stdout must be exactly one JSON object: " << add.out;
  const std::string msg = err.value("msg", "");
  EXPECT_EQ(err.value("code", 0), 11) << err.dump();  // try again later
  EXPECT_NE(msg.find(sig == SIGTERM ? "interrupted by SIGTERM" : "interrupted by SIGINT"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("\"default/n2\""), std::string::npos) << msg;
  EXPECT_NE(err.value("details", "").find("rollback"), std::string::npos) << err.dump();
  for (pid_t pid : hung) EXPECT_TRUE(wait_process_gone(pid)) << "delegate process " << pid;
  EXPECT_TRUE(node_.processes_from_bin().empty());
  EXPECT_TRUE(E2eNode::links_in(pod_).empty());
  EXPECT_TRUE(node_.stray_host_links().empty());
  EXPECT_TRUE(node_.held_addresses().empty());

  // The journal owes nothing, so the runtime's DEL runs no delegate.
  const json journal = journal_of("cs1");
  ASSERT_TRUE(journal.is_object()) << node_.read("journal/cs1.journal");
  for (const auto& a : journal["attachments"]) EXPECT_EQ(a["state"], "pending") << a.dump();
  const std::vector<std::string> calls_before = node_.fake_calls();
  auto del = node_.run("DEL", "cs1", pod_.path(), meta_);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_EQ(node_.fake_calls(), calls_before);
  EXPECT_FALSE(node_.has_live_journal("cs1"));
}

INSTANTIATE_TEST_SUITE_P(TermAndInt, StopSignal, ::testing::Values(SIGTERM, SIGINT),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(info.param == SIGTERM ? "SIGTERM" : "SIGINT");
                         });

TEST_F(SignalDuringAdd, SigkillKillsTheDelegateAndDelReleasesEverything) {
  const pid_t cnimux = start_add_until_hang("ck1");
  ASSERT_GT(cnimux, 0) << "the third delegate never started: " << node_.read("cnimux.log");
  const pid_t delegate = hang_.pids().front();
  testing_support::PluginRun add = sigkill(cnimux);
  EXPECT_EQ(add.exit_code, -1);
  EXPECT_TRUE(wait_process_gone(delegate)) << "the delegate outlived a SIGKILLed cnimux";
  ASSERT_EQ(node_.held_addresses().size(), 2u);  // cluster and n1 had finished

  const json journal = journal_of("ck1");
  ASSERT_TRUE(journal.is_object()) << node_.read("journal/ck1.journal");
  ASSERT_EQ(journal["attachments"].size(), 3u);
  EXPECT_EQ(journal["attachments"][0]["state"], "added");
  EXPECT_EQ(journal["attachments"][1]["state"], "added");
  EXPECT_EQ(journal["attachments"][2]["state"], "started");

  auto del = node_.run("DEL", "ck1", pod_.path(), meta_);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(node_.held_addresses().empty());
  EXPECT_TRUE(E2eNode::links_in(pod_).empty());
  EXPECT_TRUE(node_.stray_host_links().empty());
  EXPECT_EQ(node_.bridge_ports(), 0);
  EXPECT_EQ(node_.fake_calls(), (std::vector<std::string>{"ADD net2", "DEL net2"}));
}

// bridge's IPAM plugin, waiting on its lock when cnimux is SIGKILLed, used to live on and
// commit its allocation after the runtime's DEL. The fake's grandchild plays it: it waits on
// a fifo and would then write a marker.
TEST_F(SignalDuringAdd, SigkillKillsWhatTheDelegateStartedToo) {
  const std::string fifo = node_.dir() + "/ipam-lock.fifo";
  const std::string marker = node_.dir() + "/committed-late";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  write_n2("waiter", {{"fifo", fifo}, {"marker", marker}});
  const pid_t cnimux = start_add_until_hang("cg1");
  ASSERT_GT(cnimux, 0) << "the third delegate never started: " << node_.read("cnimux.log");
  const pid_t delegate = hang_.pids().front();
  const pid_t waiter = hang_.pids().back();
  const pid_t group = ::getpgid(delegate);
  ASSERT_TRUE(process_alive(waiter));
  ASSERT_EQ(::getpgid(waiter), group);

  sigkill(cnimux);
  EXPECT_TRUE(wait_process_gone(delegate));
  EXPECT_TRUE(wait_process_gone(waiter)) << "the delegate's child outlived a SIGKILLed cnimux";
  EXPECT_TRUE(wait_process_gone(group)) << "the group's leader outlived a SIGKILLed cnimux";
  // Releasing the wait now finds nobody: opening the fifo to write fails instead of waking it.
  const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  const int open_errno = errno;
  if (fd >= 0) ::close(fd);
  EXPECT_LT(fd, 0) << "a process still waits on the fifo";
  EXPECT_EQ(open_errno, ENXIO);
  EXPECT_FALSE(std::filesystem::exists(marker));
  EXPECT_TRUE(node_.processes_from_bin().empty());

  auto del = node_.run("DEL", "cg1", pod_.path(), meta_);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(node_.held_addresses().empty());
}

TEST_F(SignalDuringAdd, RepeatedAddAfterSigkillUndoesThePartialWorkAndSucceeds) {
  const pid_t cnimux = start_add_until_hang("cr1");
  ASSERT_GT(cnimux, 0) << "the third delegate never started: " << node_.read("cnimux.log");
  sigkill(cnimux);
  const std::vector<std::string> first = node_.held_addresses();
  ASSERT_EQ(first.size(), 2u);

  write_n2("ok");  // the runtime retries; this time n2 answers
  auto add = node_.run("ADD", "cr1", pod_.path(), meta_);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  std::vector<std::string> held = node_.held_addresses();
  EXPECT_EQ(held.size(), 2u) << ::testing::PrintToString(held);
  std::set<std::string> networks;
  for (const auto& h : held) networks.insert(h.substr(0, h.find(' ')));
  EXPECT_EQ(networks.size(), 2u) << "one address per network: " << ::testing::PrintToString(held);
  auto links = E2eNode::links_in(pod_);
  std::sort(links.begin(), links.end());
  EXPECT_EQ(links, (std::vector<std::string>{"eth0", "net1"}));  // the fake makes no link
  EXPECT_EQ(node_.fake_calls(), (std::vector<std::string>{"ADD net2", "DEL net2", "ADD net2"}));

  auto del = node_.run("DEL", "cr1", pod_.path(), meta_);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(node_.held_addresses().empty());
  EXPECT_TRUE(E2eNode::links_in(pod_).empty());
  EXPECT_TRUE(node_.stray_host_links().empty());
}

}  // namespace
}  // namespace cnimux_test
