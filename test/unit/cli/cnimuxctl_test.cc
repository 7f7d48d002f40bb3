// Runs the cnimuxctl binary: every command's success and failure, its exit status and its
// output, against journals written through plugin::Journal and a store written through ipam.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>

#include "cni/error.h"
#include "ipam/allocator.h"
#include "ipam/config.h"
#include "ipam/store.h"
#include "plugin/journal.h"
#include "plugin/selection.h"

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace plugin;

const std::string kCtl = std::string(CNIMUX_BINARY_DIR) + "/cli/cnimuxctl";

struct CtlRun {
  int status = -1;
  std::string out;
  std::string err;
  Json json() const { return Json::parse(out); }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

class CnimuxctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> seq{0};
    root_ = fs::temp_directory_path() /
            ("cxt" + std::to_string(getpid()) + "-ctl-" + std::to_string(seq++));
    fs::create_directories(root_);
    fs::permissions(root_, fs::perms::owner_all);
  }
  void TearDown() override { fs::remove_all(root_); }

  CtlRun ctl(const std::vector<std::string>& args) {
    std::string cmd = quote(kCtl);
    for (const auto& a : args) cmd += " " + quote(a);
    const std::string out = (root_ / "stdout").string(), err = (root_ / "stderr").string();
    cmd += " >" + quote(out) + " 2>" + quote(err);
    CtlRun r;
    const int raw = std::system(cmd.c_str());
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }

  std::string file(const std::string& name, const std::string& text) {
    std::string path = (root_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  std::string path(const std::string& name) const { return (root_ / name).string(); }

  // A macvlan conflist whose cnimux-ipam pool "mvnet" is 10.9.0.0/29 (5 addresses) in our store.
  Json conflist() const {
    return {{"cniVersion", "1.0.0"},
            {"name", "mvnet"},
            {"plugins",
             {{{"type", "macvlan"},
               {"name", "mvnet"},
               {"cniVersion", "1.0.0"},
               {"ipam",
                {{"type", "cnimux-ipam"},
                 {"ranges", {{{{"subnet", "10.9.0.0/29"}}}}},
                 {"store", {{"path", path("ipam.db")}}}}}}}}};
  }

  ipam::Allocation allocate(const std::string& cid, const std::string& ifname) {
    ipam::IpamConfig cfg = ipam::parse_ipam_config(conflist()["plugins"][0]);
    auto store = ipam::open_store(cfg.store);
    return ipam::Allocator(*store).allocate(cfg, {"mvnet", cid, ifname, ""}).front();
  }

  JournalRecord record(const std::string& cid, JournalState state,
                       std::vector<AttachmentState> states) {
    JournalRecord r;
    r.container_id = cid;
    r.ifname = "eth0";
    r.pod_namespace = "web";
    r.pod_name = "pod-" + cid;
    r.state = state;
    for (size_t i = 0; i < states.size(); ++i) {
      PlannedAttachment a;
      a.network = "default/mvnet";
      a.ifname = "net" + std::to_string(i + 1);
      a.conflist = conflist().dump();
      Json result = nullptr;
      if (states[i] == AttachmentState::kAdded) {
        result = {{"cniVersion", "1.1.0"},
                  {"ips", {{{"address", "10.9.0." + std::to_string(i + 2) + "/29"}}}}};
      }
      r.attachments.push_back({a, states[i], result});
    }
    return r;
  }

  Journal journal() { return Journal(path("cni")); }

  fs::path root_;
};

TEST_F(CnimuxctlTest, AnnotationParsePrintsTheResolvedElements) {
  CtlRun r = ctl({"annotation", "parse", "other/mv@net5,plain", "--namespace", "web", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.json(), Json::parse(R"([{"namespace":"other","name":"mv","interface":"net5"},
                                      {"namespace":"web","name":"plain"}])"));
  r = ctl({"annotation", "parse",
           R"([{"name":"mv","ips":["10.1.0.5/24"],"mac":"02:00:00:00:00:01"}])"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.json()[0]["ips"], Json::array({"10.1.0.5/24"}));
  EXPECT_EQ(r.json()[0]["namespace"], "default");
}

TEST_F(CnimuxctlTest, AnnotationParseFailsWithThePluginsOwnMessage) {
  const std::string bad = "mv@net 5";
  std::string expected;
  try {
    parse_network_selection(bad, "default");
  } catch (const cni::Error& e) {
    expected = e.msg();
  }
  ASSERT_FALSE(expected.empty());
  CtlRun r = ctl({"annotation", "parse", bad});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "cnimuxctl: " + expected + "\n");
  r = ctl({"annotation", "parse", bad, "--json"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.json()["error"]["msg"], expected);
  EXPECT_EQ(r.json()["error"]["code"], cni::kInvalidConfig);
}

TEST_F(CnimuxctlTest, NadValidateAcceptsYamlAndJsonManifests) {
  std::string yaml = file("a.yaml", R"(apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: mv-a, namespace: net}
spec:
  config: '{"cniVersion":"1.0.0","type":"macvlan","master":"eth0"}'
)");
  Json nad = {
      {"kind", "NetworkAttachmentDefinition"},
      {"metadata", {{"name", "mv-b"}}},
      {"spec",
       {{"config", R"({"cniVersion":"0.4.0","plugins":[{"type":"bridge"},{"type":"tuning"}]})"}}}};
  std::string json = file("b.json", nad.dump());
  CtlRun r = ctl({"nad", "validate", yaml, json, "--json"});
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(r.json()[0]["networks"][0]["network"], "net/mv-a");
  EXPECT_EQ(r.json()[1]["networks"][0]["network"], "default/mv-b");
  EXPECT_EQ(r.json()[1]["networks"][0]["plugins"], Json::array({"bridge", "tuning"}));
  r = ctl({"nad", "validate", yaml});
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.out, HasSubstr("net/mv-a (macvlan, cniVersion 1.0.0)"));
}

TEST_F(CnimuxctlTest, NadValidateNamesTheFileAndThePluginsMessage) {
  std::string good = file("good.yaml", R"(kind: NetworkAttachmentDefinition
metadata: {name: ok}
spec: {config: '{"type":"macvlan"}'}
)");
  std::string notype = file("notype.yaml", R"(kind: NetworkAttachmentDefinition
metadata: {name: broken}
spec: {config: '{"cniVersion":"1.0.0","master":"eth0"}'}
)");
  CtlRun r = ctl({"nad", "validate", good, notype});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.out, HasSubstr("ok      " + good));
  EXPECT_THAT(r.out, HasSubstr("INVALID " + notype + ": NAD default/broken"));
  EXPECT_THAT(r.out, HasSubstr("\"type\""));
  EXPECT_THAT(r.out, Not(HasSubstr("cnimuxctl-nad-")));  // the scratch copy is never named

  std::string unparsable =
      file("bad.yaml", "kind: NetworkAttachmentDefinition\nmetadata: {name: [\n");
  r = ctl({"nad", "validate", unparsable, "--json"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.json()[0]["error"]["msg"].get<std::string>(), HasSubstr(unparsable));
  EXPECT_EQ(ctl({"nad", "validate", file("pod.yaml", "kind: Pod\nmetadata: {name: p}\n")}).status,
            1);
  EXPECT_EQ(ctl({"nad", "validate", path("missing.yaml")}).status, 1);
  EXPECT_EQ(ctl({"nad", "validate", file("nad.txt", "")}).status, 1);
}

TEST_F(CnimuxctlTest, PodsShowsEveryJournalState) {
  journal().save(record("c1", JournalState::kComplete, {AttachmentState::kAdded}));
  journal().save(
      record("c2", JournalState::kFailed, {AttachmentState::kAdded, AttachmentState::kPending}));
  journal().save(record("c3", JournalState::kFailed, {AttachmentState::kPending}));
  journal().save(record("c4", JournalState::kComplete, {AttachmentState::kAdded}));
  journal().bury(*journal().load("c4"), {"net1 (default/mvnet): its plugin is gone"});
  file("cni/c5.journal", "{not json");
  CtlRun r = ctl({"pods", "--cni-dir", path("cni"), "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  Json pods = r.json();
  ASSERT_EQ(pods.size(), 5u);
  EXPECT_EQ(pods[0]["state"], "attached");
  EXPECT_EQ(pods[0]["pod"]["name"], "pod-c1");
  EXPECT_EQ(pods[0]["interfaces"][0]["addresses"], Json::array({"10.9.0.2/29"}));
  EXPECT_EQ(pods[1]["state"], "failed");
  EXPECT_EQ(pods[1]["owed"], Json::array({"net1 (default/mvnet)"}));
  EXPECT_EQ(pods[2]["state"], "rolled back");
  EXPECT_EQ(pods[2]["owed"], Json::array());
  EXPECT_EQ(pods[3]["state"], "deleted");
  EXPECT_EQ(pods[3]["abandoned"], Json::array({"net1 (default/mvnet): its plugin is gone"}));
  EXPECT_EQ(pods[4]["state"], "corrupt");

  r = ctl({"pods", "--cni-dir", path("cni")});
  ASSERT_EQ(r.status, 0);
  EXPECT_THAT(r.out,
              HasSubstr("CONTAINER  POD         STATE        IFACE  NETWORK        ADDRESSES"));
  EXPECT_THAT(r.out, HasSubstr("c1         web/pod-c1  attached"));
  EXPECT_THAT(r.out, HasSubstr("c2: a DEL is owed for net1 (default/mvnet)"));
  EXPECT_THAT(r.out, HasSubstr("c4: abandoned: net1 (default/mvnet): its plugin is gone"));
  EXPECT_THAT(r.out, HasSubstr("c5: journal "));
}

TEST_F(CnimuxctlTest, PodsOfAMissingDirectoryAreNone) {
  CtlRun r = ctl({"pods", "--cni-dir", path("nothing")});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "no pods\n");
  EXPECT_EQ(ctl({"pods", "--cni-dir", file("plain", "x")}).status, 3);
}

TEST_F(CnimuxctlTest, IpamPoolsAndShowReadTheStore) {
  journal().save(record("c1", JournalState::kComplete, {AttachmentState::kAdded}));
  allocate("c1", "net1");
  allocate("gone", "net1");
  CtlRun r = ctl({"ipam", "pools", "--store", path("ipam.db"), "--cni-dir", path("cni"), "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.json(),
            Json::parse(R"([{"pool":"mvnet","used":2,"free":3,"size":5,"networks":["mvnet"]}])"));
  r = ctl({"ipam", "pools", "--store", path("ipam.db"), "--cni-dir", path("cni")});
  EXPECT_THAT(r.out, HasSubstr("mvnet  2     3     5     [########............]  40%  mvnet"));
  r = ctl({"ipam", "show", "mvnet", "--store", path("ipam.db"), "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(r.json().size(), 2u);
  EXPECT_EQ(r.json()[0]["address"], "10.9.0.2");
  EXPECT_EQ(r.json()[0]["containerID"], "c1");
  EXPECT_EQ(ctl({"ipam", "show", "other", "--store", path("ipam.db")}).status, 1);
  EXPECT_EQ(ctl({"ipam", "pools", "--store", path("none.db")}).status, 3);
  EXPECT_FALSE(fs::exists(path("none.db")));  // a mistyped store is never created
}

TEST_F(CnimuxctlTest, IpamReleaseRefusesALiveOwnerUnlessForced) {
  journal().save(record("c1", JournalState::kComplete, {AttachmentState::kAdded}));
  const std::string live = allocate("c1", "net1").address.str();
  const std::string dead = allocate("gone", "net1").address.str();
  const std::vector<std::string> where = {"--store", path("ipam.db"), "--cni-dir", path("cni")};
  auto release = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"ipam", "release"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), where.begin(), where.end());
    return ctl(args);
  };
  CtlRun r = release({live});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("belongs to a live attachment: c1 net1"));
  r = release({dead, "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.json()["released"]["containerID"], "gone");
  EXPECT_EQ(release({dead}).status, 1);  // no longer held
  EXPECT_EQ(release({"10.9.0.2", "--pool", "other"}).status, 1);
  EXPECT_EQ(release({"not-an-ip"}).status, 1);
  EXPECT_EQ(release({live, "--force"}).status, 0);
  ipam::StoreConfig sc;
  sc.path = path("ipam.db");
  EXPECT_TRUE(ipam::open_store(sc)->list_all().empty());
}

TEST_F(CnimuxctlTest, IpamGcFreesOnlyWhatNoLiveJournalHolds) {
  journal().save(record("c1", JournalState::kComplete, {AttachmentState::kAdded}));
  journal().save(record("c2", JournalState::kFailed, {AttachmentState::kStarted}));  // owed
  journal().save(record("c3", JournalState::kFailed, {AttachmentState::kPending}));  // rolled back
  allocate("c1", "net1");
  allocate("c2", "net1");
  allocate("c3", "net1");
  allocate("gone", "net1");
  const std::vector<std::string> where = {"--store", path("ipam.db"), "--cni-dir", path("cni")};
  std::vector<std::string> args = {"ipam", "gc", "--dry-run", "--json"};
  args.insert(args.end(), where.begin(), where.end());
  CtlRun r = ctl(args);
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(r.json()["dead"].size(), 2u);
  EXPECT_EQ(r.json()["dead"][0]["containerID"], "c3");
  EXPECT_EQ(r.json()["dead"][1]["containerID"], "gone");
  ipam::StoreConfig sc;
  sc.path = path("ipam.db");
  EXPECT_EQ(ipam::open_store(sc)->list_all().size(), 4u);  // a dry run frees nothing

  args = {"ipam", "gc"};
  args.insert(args.end(), where.begin(), where.end());
  r = ctl(args);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("freed 2 allocation(s)"));
  std::set<std::string> left;
  for (const auto& a : ipam::open_store(sc)->list_all()) left.insert(a.owner.container_id);
  EXPECT_EQ(left, (std::set<std::string>{"c1", "c2"}));
}

TEST_F(CnimuxctlTest, IpamGcRefusesWithoutTrustworthyJournals) {
  allocate("c1", "net1");
  // No cniDir: every allocation would look dead.
  CtlRun r = ctl({"ipam", "gc", "--store", path("ipam.db"), "--cni-dir", path("nothing")});
  EXPECT_EQ(r.status, 3);
  // A corrupt journal: its attachments are unknown.
  journal().save(record("c1", JournalState::kComplete, {AttachmentState::kAdded}));
  file("cni/c9.journal", "{not json");
  r = ctl({"ipam", "gc", "--store", path("ipam.db"), "--cni-dir", path("cni")});
  EXPECT_EQ(r.status, 3);
  EXPECT_THAT(r.err, HasSubstr("c9.journal is corrupt"));
  ipam::StoreConfig sc;
  sc.path = path("ipam.db");
  EXPECT_EQ(ipam::open_store(sc)->list_all().size(), 1u);
}

TEST_F(CnimuxctlTest, BadCommandLinesExitTwoAndHelpZero) {
  EXPECT_EQ(ctl({}).status, 2);
  EXPECT_EQ(ctl({"pods", "--no-such-flag"}).status, 2);
  EXPECT_EQ(ctl({"annotation", "parse"}).status, 2);
  CtlRun r = ctl({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.out, HasSubstr("Exit status"));
  EXPECT_EQ(ctl({"ipam", "gc", "--help"}).status, 0);
}

}  // namespace
