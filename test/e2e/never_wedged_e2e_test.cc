// A pod can always be torn down: what could never run is refused before anything is
// journalled, a stored attachment that can no longer run does not make DEL fail forever, a
// repeated DEL does no work, and GC and STATUS answer right on the default layout.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test/e2e/e2e_node.h"

namespace cnimux_test {
namespace {

constexpr const char* kNetworks = "k8s.v1.cni.cncf.io/networks";

int error_code(const testing_support::PluginRun& run) {
  json err = json::parse(run.out, nullptr, false);
  return err.is_object() ? err.value("code", 0) : -1;
}

std::string error_msg(const testing_support::PluginRun& run) {
  json err = json::parse(run.out, nullptr, false);
  return err.is_object() ? err.value("msg", "") : run.out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// ---- A NAD that could never run is refused while planning. ----

struct Unrunnable {
  std::string name;
  json config;       // the NAD's spec.config
  std::string what;  // the value the message must name
};

void PrintTo(const Unrunnable& u, std::ostream* os) {
  *os << u.name;
}

std::vector<Unrunnable> unrunnable_nads() {
  auto with = [](json base, const json& patch) {
    base.merge_patch(patch);
    return base;
  };
  const json mv = {{"cniVersion", "1.0.0"}, {"type", "cnimux-fake-delegate"}};
  return {
      {"typeTypo", with(mv, {{"type", "nosuchplugin"}}), "nosuchplugin"},
      {"typeDot", with(mv, {{"type", "."}}), "\".\""},
      {"typeDotDot", with(mv, {{"type", ".."}}), "\"..\""},
      {"ipamTypeWithSlash", with(mv, {{"ipam", {{"type", "../host-local"}}}}), "../host-local"},
      {"ipamTypeMissing", with(mv, {{"ipam", {{"type", "nosuchipam"}}}}), "nosuchipam"},
      {"nameWithDotDot", with(mv, {{"name", "../x"}}), "../x"},
  };
}

class UnrunnableNad : public ::testing::TestWithParam<Unrunnable> {};

TEST_P(UnrunnableNad, IsRefusedBeforeAnythingRunsAndDelStillSucceeds) {
  const Unrunnable& u = GetParam();
  E2eNode node("u");
  TestNetns pod("u");
  node.write_cluster_network(node.fake_config({}));
  node.write_nad("default", "bad", u.config);
  node.write_pod("default", "web", "uid-u", {{kNetworks, "bad"}});
  const json meta = node.meta_config();

  auto add = node.run("ADD", "cu1", pod.path(), meta);
  ASSERT_EQ(add.exit_code, 1) << add.out << add.err;
  EXPECT_EQ(error_code(add), 7) << add.out;
  EXPECT_NE(error_msg(add).find("bad"), std::string::npos) << add.out;
  EXPECT_NE(error_msg(add).find(u.what), std::string::npos) << add.out;
  EXPECT_TRUE(node.fake_calls().empty()) << node.read("fake.log");
  EXPECT_FALSE(node.has_live_journal("cu1"));

  // The runtime's DELs, before and after the NAD is fixed, with and without the netns.
  auto del = node.run("DEL", "cu1", pod.path(), meta);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  auto del2 = node.run("DEL", "cu1", "", meta);
  EXPECT_EQ(del2.exit_code, 0) << del2.out << del2.err;
  EXPECT_TRUE(node.container_files().empty());
}

INSTANTIATE_TEST_SUITE_P(EachNad, UnrunnableNad, ::testing::ValuesIn(unrunnable_nads()),
                         [](const ::testing::TestParamInfo<Unrunnable>& info) {
                           return info.param.name;
                         });

// ---- Stored attachments that can no longer run. ----

// The bridge cluster network and a macvlan network "mv1" whose plugin is the reference
// macvlan under another name, so a test can take the binary away after the ADD.
class StoredAttachmentE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_symlink("/usr/lib/cni/macvlan", node_.bin() + "/macvlan-copy");
    json mv = node_.macvlan_config("10.232.0.0/24");
    mv["type"] = "macvlan-copy";
    node_.write_cluster_network(node_.bridge_config("10.231.0.0/24"));
    node_.write_nad("default", "mv1", mv);
    node_.write_pod("default", "web", "uid-1", {{kNetworks, "mv1"}});
    meta_ = node_.meta_config();
    auto add = node_.run("ADD", "cs1", pod_.path(), meta_);
    ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
    ASSERT_EQ(node_.held_addresses().size(), 2u);
  }

  json journal() const { return E2eNode::record_in(node_.read("journal/cs1.journal")); }

  E2eNode node_{"s"};
  TestNetns pod_{"s"};
  json meta_;
};

TEST_F(StoredAttachmentE2e, PluginBinaryGoneStillReleasesItsAddressAndDeletes) {
  std::filesystem::remove(node_.bin() + "/macvlan-copy");
  auto del = node_.run("DEL", "cs1", pod_.path(), meta_);
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  // The bridge attachment is gone, and the macvlan's address was released by its IPAM.
  EXPECT_TRUE(node_.held_addresses().empty()) << ::testing::PrintToString(node_.held_addresses());
  EXPECT_EQ(node_.bridge_ports(), 0);
  const json tomb = journal();
  ASSERT_TRUE(tomb.is_object()) << node_.read("journal/cs1.journal");
  EXPECT_EQ(tomb.value("state", ""), "deleted");
  ASSERT_EQ(tomb["abandoned"].size(), 1u) << tomb.dump();
  const std::string why = tomb["abandoned"][0];
  EXPECT_NE(why.find("mv1"), std::string::npos) << why;
  EXPECT_NE(why.find("macvlan-copy"), std::string::npos) << why;
  EXPECT_NE(node_.read("cnimux.log").find("cannot be undone as stored"), std::string::npos);
  // A second DEL has nothing to do.
  auto again = node_.run("DEL", "cs1", "", meta_);
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
}

TEST_F(StoredAttachmentE2e, UnparseableStoredConfigDoesNotWedgeDel) {
  json j = journal();
  ASSERT_TRUE(j.is_object());
  j["attachments"][1]["conflist"] = "{\"plugins\": [[[[";
  E2eNode::write(node_.journal_path("cs1"), j.dump());
  auto del = node_.run("DEL", "cs1", pod_.path(), meta_);
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_EQ(node_.bridge_ports(), 0);
  const json tomb = journal();
  ASSERT_EQ(tomb["abandoned"].size(), 1u) << tomb.dump();
  EXPECT_NE(tomb["abandoned"][0].get<std::string>().find("mv1"), std::string::npos);
}

TEST_F(StoredAttachmentE2e, DelForAnotherInterfaceLeavesThePodAlone) {
  auto del = node_.run("DEL", "cs1", pod_.path(), meta_, "default", "web", "eth1");
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_EQ(sorted(E2eNode::links_in(pod_)), (std::vector<std::string>{"eth0", "net1"}));
  EXPECT_EQ(node_.held_addresses().size(), 2u);
  EXPECT_TRUE(node_.has_live_journal("cs1"));
  auto real = node_.run("DEL", "cs1", pod_.path(), meta_);
  ASSERT_EQ(real.exit_code, 0) << real.out << real.err;
  EXPECT_TRUE(node_.held_addresses().empty());
}

TEST_F(StoredAttachmentE2e, AddForAnotherInterfaceIsRefusedAndTouchesNothing) {
  auto add = node_.run("ADD", "cs1", pod_.path(), meta_, "default", "web", "eth1");
  ASSERT_EQ(add.exit_code, 1) << add.out << add.err;
  EXPECT_EQ(error_code(add), 4) << add.out;
  EXPECT_NE(error_msg(add).find("eth0"), std::string::npos) << add.out;
  EXPECT_EQ(sorted(E2eNode::links_in(pod_)), (std::vector<std::string>{"eth0", "net1"}));
  EXPECT_EQ(node_.held_addresses().size(), 2u);
  auto del = node_.run("DEL", "cs1", pod_.path(), meta_);
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
}

// ---- A delegate whose DEL fails while its interface does not exist. ----

// Debian's macvlan (1.1.1) looks its master up on DEL too, so a missing master makes every
// DEL fail. Without a net1 in the pod, only the addresses can be left: those are released
// through the IPAM plugin, and the pod is not wedged.
TEST(MissingMasterE2e, AddFailsCleanlyAndEveryDelSucceeds) {
  E2eNode node("m");
  TestNetns pod("m");
  json mv = node.macvlan_config("10.232.0.0/24");
  mv["master"] = node.prefix() + "zz";  // no such link
  node.write_cluster_network(node.bridge_config("10.231.0.0/24"));
  node.write_nad("default", "mv1", mv);
  node.write_pod("default", "web", "uid-m", {{kNetworks, "mv1"}});
  const json meta = node.meta_config();
  auto add = node.run("ADD", "cm1", pod.path(), meta);
  ASSERT_EQ(add.exit_code, 1) << add.out << add.err;
  EXPECT_NE(error_msg(add).find("mv1"), std::string::npos) << add.out;
  EXPECT_TRUE(E2eNode::links_in(pod).empty());
  EXPECT_TRUE(node.held_addresses().empty()) << ::testing::PrintToString(node.held_addresses());
  EXPECT_FALSE(node.has_live_journal("cm1")) << node.read("journal/cm1.journal");
  auto del = node.run("DEL", "cm1", pod.path(), meta);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  auto del2 = node.run("DEL", "cm1", "", meta);
  EXPECT_EQ(del2.exit_code, 0) << del2.out << del2.err;
}

TEST(MasterGoneE2e, MacvlanWhoseMasterWasDeletedAfterAddStillDeletes) {
  E2eNode node("g");
  TestNetns pod("g");
  node.write_cluster_network(node.bridge_config("10.231.0.0/24"));
  node.write_nad("default", "mv1", node.macvlan_config("10.232.0.0/24"));
  node.write_pod("default", "web", "uid-g", {{kNetworks, "mv1"}});
  const json meta = node.meta_config();
  auto add = node.run("ADD", "cg1", pod.path(), meta);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  // The kernel removes a macvlan with its master; the plugin's DEL then fails on the lookup.
  ASSERT_EQ(run_shell("ip link delete " + node.uplink()), 0);
  auto del = node.run("DEL", "cg1", pod.path(), meta);
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_TRUE(node.held_addresses().empty()) << ::testing::PrintToString(node.held_addresses());
  EXPECT_TRUE(E2eNode::links_in(pod).empty());
  const json tomb = E2eNode::record_in(node.read("journal/cg1.journal"));
  ASSERT_EQ(tomb["abandoned"].size(), 1u) << tomb.dump();
  EXPECT_NE(tomb["abandoned"][0].get<std::string>().find("net1 does not exist"), std::string::npos)
      << tomb.dump();
}

// ---- containerd's second DEL (StopPodSandbox, then RemovePodSandbox with no netns). ----

TEST(RepeatedDelE2e, SecondDelRunsNoDelegate) {
  E2eNode node("r");
  TestNetns pod("r");
  node.write_cluster_network(node.fake_config({}));
  node.write_nad("default", "f1", node.fake_config({}));
  node.write_pod("default", "web", "uid-r", {{kNetworks, "f1"}});
  const json meta = node.meta_config();
  ASSERT_EQ(node.run("ADD", "cr1", pod.path(), meta).exit_code, 0);
  auto del = node.run("DEL", "cr1", pod.path(), meta);
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  const auto calls = node.fake_calls();
  EXPECT_EQ(calls, (std::vector<std::string>{"ADD eth0", "ADD net1", "DEL net1", "DEL eth0"}));
  // Remove the pod's manifest: were the second DEL to rebuild the plan, it would now DEL the
  // cluster network again.
  std::filesystem::remove(node.dir() + "/pods/default-web.json");
  auto second = node.run("DEL", "cr1", "", meta);
  EXPECT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_EQ(node.fake_calls(), calls) << node.read("fake.log");
  // A new ADD of the same container (podman restarts keep the ID) plans afresh.
  node.write_pod("default", "web", "uid-r", {{kNetworks, "f1"}});
  ASSERT_EQ(node.run("ADD", "cr1", pod.path(), meta).exit_code, 0);
  EXPECT_EQ(node.fake_calls().size(), calls.size() + 2);
  ASSERT_EQ(node.run("DEL", "cr1", pod.path(), meta).exit_code, 0);
}

// ---- Disk full at ADD: not even the first record fits. ----

// A tmpfs of a few pages mounted on a node's cniDir, then filled: files can still be created
// (an inode), but no byte written. Unmounted on destruction, before the node removes its dir.
class FullCniDir {
 public:
  explicit FullCniDir(const E2eNode& node) : dir_(node.journal_dir()) {
    mounted_ =
        run_shell("mount -t tmpfs -o size=64k,mode=0700 " + node.prefix() + "-full " + dir_) == 0;
    if (!mounted_) throw std::runtime_error("cannot mount a tmpfs on " + dir_);
    fill();
  }
  ~FullCniDir() {
    if (mounted_) run_shell("umount -l " + dir_);
  }
  FullCniDir(const FullCniDir&) = delete;
  FullCniDir& operator=(const FullCniDir&) = delete;

  void fill() const {
    std::ofstream out(filler(), std::ios::binary);
    const std::string page(4096, '\0');
    while (out.write(page.data(), page.size()) && out.flush()) {
    }
  }
  void unfill() const { std::filesystem::remove(filler()); }

 private:
  std::string filler() const { return dir_ + "/.filler"; }
  std::string dir_;
  bool mounted_ = false;
};

// The ADD can write no record, so no delegate runs and it fails. Then the NAD is edited to a
// delegate whose DEL fails: the runtime's DELs must still succeed, by the ADD marker, instead
// of rebuilding the plan from the edited NAD (the open case of docs/reliability.md).
TEST(DiskFullE2e, AddThatRecordedNothingIsDeletedWhateverTheNadsSayNow) {
  E2eNode node("df");
  TestNetns pod("df");
  node.write_cluster_network(node.fake_config({}));
  node.write_nad("default", "f1", node.fake_config({}));
  node.write_pod("default", "web", "uid-df", {{kNetworks, "f1"}});
  const json meta = node.meta_config();
  FullCniDir full(node);

  auto add = node.run("ADD", "cdf1", pod.path(), meta);
  ASSERT_EQ(add.exit_code, 1) << add.out << add.err;
  EXPECT_TRUE(node.fake_calls().empty()) << node.read("fake.log");

  node.write_nad("default", "f1", node.fake_config({{"del", "error"}, {"msg", "edited NAD"}}));
  auto del = node.run("DEL", "cdf1", pod.path(), meta);
  EXPECT_EQ(del.exit_code, 0) << del.out << del.err;
  auto del2 = node.run("DEL", "cdf1", "", meta);
  EXPECT_EQ(del2.exit_code, 0) << del2.out << del2.err;
  EXPECT_TRUE(node.fake_calls().empty()) << node.read("fake.log");
  EXPECT_TRUE(node.container_files().empty()) << ::testing::PrintToString(node.container_files());

  // Once the disk has room again, GC leaves nothing of the container.
  full.unfill();
  json gc_meta = meta;
  gc_meta["cniVersion"] = "1.1.0";
  gc_meta["cni.dev/valid-attachments"] = json::array();
  auto gc = node.run_node_verb("GC", gc_meta);
  EXPECT_EQ(gc.exit_code, 0) << gc.out << gc.err;
  EXPECT_FALSE(std::filesystem::exists(node.journal_path("cdf1")));
}

// ---- GC and STATUS on the layout the example config uses. ----

class NodeVerbsE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    json bridge = node_.bridge_config("10.231.0.0/24");
    // The IPAM store and the log live in cniDir, as in config/ and the docs' examples.
    bridge["ipam"]["store"]["path"] = node_.journal_dir() + "/ipam.db";
    node_.write_cluster_network(bridge);
    meta_ = node_.meta_config(
        {{"cniVersion", "1.1.0"}, {"logFile", node_.journal_dir() + "/cnimux.log"}});
  }
  E2eNode node_{"g"};
  TestNetns pod_{"g"};
  json meta_;
};

TEST_F(NodeVerbsE2e, GcSucceedsWithTheIpamStoreAndLogInCniDir) {
  auto add = node_.run("ADD", "cg1", pod_.path(), meta_);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  json gc_meta = meta_;
  gc_meta["cni.dev/valid-attachments"] = {{{"containerID", "cg1"}, {"ifname", "eth0"}}};
  auto gc = node_.run_node_verb("GC", gc_meta);
  EXPECT_EQ(gc.exit_code, 0) << gc.out << gc.err;
  EXPECT_EQ(E2eNode::links_in(pod_), (std::vector<std::string>{"eth0"}));
  gc_meta["cni.dev/valid-attachments"] = json::array();
  gc = node_.run_node_verb("GC", gc_meta);
  EXPECT_EQ(gc.exit_code, 0) << gc.out << gc.err;
  EXPECT_TRUE(E2eNode::links_in(pod_).empty());
  // Only the node's files are left: the IPAM store (with its -wal/-shm) and the log.
  for (const auto& f : node_.container_files()) {
    EXPECT_TRUE(f.rfind("ipam.db", 0) == 0 || f == "cnimux.log") << f;
  }
}

TEST_F(NodeVerbsE2e, StatusIsNotReadyWhileTheReadinessFileIsMissing) {
  const std::string ready = node_.dir() + "/ready";
  json meta = meta_;
  meta["readinessindicatorfile"] = ready;
  auto status = node_.run_node_verb("STATUS", meta);
  EXPECT_EQ(status.exit_code, 1) << status.out << status.err;
  EXPECT_EQ(error_code(status), 50) << status.out;
  EXPECT_NE(error_msg(status).find(ready), std::string::npos) << status.out;
  E2eNode::write(ready, "");
  status = node_.run_node_verb("STATUS", meta);
  EXPECT_EQ(status.exit_code, 0) << status.out << status.err;
}

TEST_F(NodeVerbsE2e, StatusAsksTheClusterNetworksIpamStore) {
  json bridge = node_.bridge_config("10.231.0.0/24");
  bridge["ipam"]["store"]["path"] = node_.dir();  // a directory: no database can open there
  node_.write_cluster_network(bridge);
  auto status = node_.run_node_verb("STATUS", meta_);
  EXPECT_EQ(status.exit_code, 1) << status.out << status.err;
  EXPECT_EQ(error_code(status), 50) << status.out;
}

// ---- State files that could be tricked. ----

TEST_F(NodeVerbsE2e, LogFileSymlinkIsNotFollowed) {
  std::filesystem::create_directories(node_.journal_dir());
  const std::string target = node_.dir() + "/not-a-log";
  E2eNode::write(target, "untouched");
  std::filesystem::create_symlink(target, node_.journal_dir() + "/cnimux.log");
  auto add = node_.run("ADD", "cg2", pod_.path(), meta_);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_EQ(node_.read("not-a-log"), "untouched");
  ASSERT_EQ(node_.run("DEL", "cg2", pod_.path(), meta_).exit_code, 0);
}

TEST_F(NodeVerbsE2e, CniDirCreatedForTheLogIsPrivate) {
  const std::string fresh = node_.dir() + "/fresh-cni";
  json meta = meta_;
  meta["cniDir"] = fresh;
  meta["logFile"] = fresh + "/cnimux.log";
  auto add = node_.run("ADD", "cg3", pod_.path(), meta);
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  struct stat st;
  ASSERT_EQ(::stat(fresh.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(node_.run("DEL", "cg3", pod_.path(), meta).exit_code, 0);
}

TEST_F(NodeVerbsE2e, WorldWritableCniDirIsRefused) {
  std::filesystem::create_directories(node_.journal_dir());
  ::chmod(node_.journal_dir().c_str(), 0777);
  auto add = node_.run("ADD", "cg4", pod_.path(), meta_);
  EXPECT_EQ(add.exit_code, 1) << add.out << add.err;
  EXPECT_EQ(error_code(add), 50) << add.out;
  EXPECT_NE(error_msg(add).find(node_.journal_dir()), std::string::npos) << add.out;
  EXPECT_TRUE(E2eNode::links_in(pod_).empty());
  ::chmod(node_.journal_dir().c_str(), 0700);
}

}  // namespace
}  // namespace cnimux_test
