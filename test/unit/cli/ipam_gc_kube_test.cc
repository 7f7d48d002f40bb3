// Runs `cnimuxctl ipam gc --kubeconfig` against the fake Kubernetes API server (TLS, bearer
// token): journals of pods the API no longer has free their addresses, live pods keep theirs,
// and an API that is down, wrong or empty frees nothing.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <set>

#include "ipam/allocator.h"
#include "ipam/config.h"
#include "ipam/store.h"
#include "plugin/journal.h"
#include "test/fakes/fake_kube_api.h"

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using ::testing::HasSubstr;
using namespace plugin;

const std::string kCtl = std::string(CNIMUX_BINARY_DIR) + "/cli/cnimuxctl";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

Json pod(const std::string& name, const std::string& uid, const std::string& node = "n1") {
  Json p = fakes::FakeKubeApi::make_pod("web", name, uid);
  p["spec"]["nodeName"] = node;
  return p;
}

class IpamGcKubeTest : public ::testing::Test {
 protected:
  IpamGcKubeTest()
      : api_(fakes::FakeKubeApi::Options{
            .fixtures = {
                {"pods",
                 {pod("alive", "uid-alive"), pod("renamed", "uid-new"),
                  pod("elsewhere", "uid-elsewhere", "n2"), pod("cnimux-x1", "uid-ds")}}}}) {
    static std::atomic<int> seq{0};
    root_ = fs::temp_directory_path() /
            ("cxt" + std::to_string(getpid()) + "-gckube-" + std::to_string(seq++));
    fs::create_directories(root_);
    fs::permissions(root_, fs::perms::owner_all);
    kubeconfig_ = api_.write_kubeconfig();
  }
  ~IpamGcKubeTest() override { fs::remove_all(root_); }

  struct Run {
    int status = -1;
    std::string out, err;
  };
  Run ctl(std::vector<std::string> args) {
    args.insert(args.end(), {"--store", path("ipam.db"), "--cni-dir", path("cni")});
    std::string cmd = quote(kCtl);
    for (const auto& a : args) cmd += " " + quote(a);
    cmd += " >" + quote(path("stdout")) + " 2>" + quote(path("stderr"));
    const int raw = std::system(cmd.c_str());
    return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, slurp(path("stdout")), slurp(path("stderr"))};
  }

  std::string path(const std::string& name) const { return (root_ / name).string(); }

  Json conflist() const {
    return {{"cniVersion", "1.0.0"},
            {"name", "mvnet"},
            {"plugins",
             {{{"type", "macvlan"},
               {"name", "mvnet"},
               {"ipam",
                {{"type", "cnimux-ipam"},
                 {"ranges", {{{{"subnet", "10.9.0.0/28"}}}}},
                 {"store", {{"path", path("ipam.db")}}}}}}}}};
  }

  // A completed ADD of container `cid` for pod web/`name` (uid `uid`), holding one address.
  void attached(const std::string& cid, const std::string& name, const std::string& uid) {
    JournalRecord r;
    r.container_id = cid;
    r.ifname = "eth0";
    r.pod_namespace = name.empty() ? "" : "web";
    r.pod_name = name;
    r.pod_uid = uid;
    r.state = JournalState::kComplete;
    PlannedAttachment a;
    a.network = "default/mvnet";
    a.ifname = "net1";
    a.conflist = conflist().dump();
    r.attachments.push_back({a, AttachmentState::kAdded, Json{{"cniVersion", "1.1.0"}}});
    Journal(path("cni")).save(r);
    ipam::IpamConfig cfg = ipam::parse_ipam_config(conflist()["plugins"][0]);
    ipam::Allocator(*ipam::open_store(cfg.store)).allocate(cfg, {"mvnet", cid, "net1", ""});
  }

  std::set<std::string> held() const {
    ipam::StoreConfig sc;
    sc.path = path("ipam.db");
    std::set<std::string> out;
    for (const auto& a : ipam::open_store(sc)->list_all()) out.insert(a.owner.container_id);
    return out;
  }

  // The node as a crash left it: one live pod, one deleted, one replaced by a new pod of the
  // same name, one whose pod runs on another node, one that names no pod, one no journal holds.
  void crashed_node() {
    attached("c-alive", "alive", "uid-alive");
    attached("c-deleted", "deleted", "uid-deleted");
    attached("c-renamed", "renamed", "uid-old");
    attached("c-elsewhere", "elsewhere", "uid-elsewhere");
    attached("c-nameless", "", "");
    ipam::IpamConfig cfg = ipam::parse_ipam_config(conflist()["plugins"][0]);
    ipam::Allocator(*ipam::open_store(cfg.store)).allocate(cfg, {"mvnet", "c-orphan", "net1", ""});
  }

  const std::set<std::string> all_ = {"c-alive",     "c-deleted",  "c-renamed",
                                      "c-elsewhere", "c-nameless", "c-orphan"};
  fakes::FakeKubeApi api_;
  fs::path root_;
  std::string kubeconfig_;
};

TEST_F(IpamGcKubeTest, WithoutYesItOnlyShowsWhatThePodsNoLongerHold) {
  crashed_node();
  Run r = ctl({"ipam", "gc", "--kubeconfig", kubeconfig_, "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["dryRun"], true);
  EXPECT_EQ(j["podsListed"], 4);
  std::map<std::string, std::string> why;
  for (const auto& d : j["dead"]) why[d["containerID"]] = d["reason"];
  EXPECT_EQ(why.size(), 3u) << r.out;
  EXPECT_EQ(why["c-deleted"], "pod web/deleted is gone");
  EXPECT_THAT(why["c-renamed"], HasSubstr("was replaced (uid uid-old, now uid-new)"));
  EXPECT_EQ(why["c-orphan"], "no live journal");
  EXPECT_EQ(held(), all_);  // nothing freed
  r = ctl({"ipam", "gc", "--kubeconfig", kubeconfig_});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("rerun with --yes"));
  EXPECT_EQ(held(), all_);
  // Every request was the one list the cnimuxctl ClusterRole grants, with the token.
  for (const auto& req : api_.request_log()) {
    EXPECT_EQ(req.method + " " + req.path, "GET /api/v1/pods");
    EXPECT_TRUE(req.auth);
  }
}

TEST_F(IpamGcKubeTest, WithYesItFreesWhatGonePodsHeldAndKeepsTheRest) {
  crashed_node();
  Run r = ctl({"ipam", "gc", "--kubeconfig", kubeconfig_, "--yes"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("freed 3 allocation(s)"));
  EXPECT_EQ(held(), (std::set<std::string>{"c-alive", "c-elsewhere", "c-nameless"}));
}

TEST_F(IpamGcKubeTest, WithNodeOnlyThatNodesPodsKeepTheirAddresses) {
  crashed_node();
  Run r = ctl({"ipam", "gc", "--kubeconfig", kubeconfig_, "--node", "n1", "--yes", "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out)["freed"], 4);
  EXPECT_EQ(held(), (std::set<std::string>{"c-alive", "c-nameless"}));
  EXPECT_THAT(api_.request_log().back().query, HasSubstr("fieldSelector=spec.nodeName%3Dn1"));
}

TEST_F(IpamGcKubeTest, AnApiThatIsDownWrongOrEmptyFreesNothing) {
  crashed_node();
  auto refused = [&](const std::string& why, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"ipam", "gc", "--kubeconfig", kubeconfig_, "--yes"};
    args.insert(args.end(), extra.begin(), extra.end());
    Run r = ctl(args);
    EXPECT_EQ(r.status, 3) << why << ": " << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr("nothing is freed")) << why;
    EXPECT_EQ(held(), all_) << why;
  };
  api_.set_mode("500");
  refused("server errors");
  api_.set_mode("404");
  refused("no pod list at this address");
  api_.set_mode("normal");
  api_.set_tokens({"not-ours"});
  refused("token refused");
  api_.set_tokens({api_.token()});
  refused("no pod on a node of another name", {"--node", "no-such-node"});
  api_.set_mode("deep");
  refused("garbage answer");
  api_.set_mode("normal");
  // A kubeconfig that names no server is bad input.
  std::ofstream(path("bad.kubeconfig")) << "apiVersion: v1\nkind: Config\n";
  Run r = ctl({"ipam", "gc", "--kubeconfig", path("bad.kubeconfig"), "--yes"});
  EXPECT_EQ(r.status, 1) << r.err;
  // --node and --yes mean nothing without --kubeconfig: a bad command line, not a plain GC.
  EXPECT_EQ(ctl({"ipam", "gc", "--yes"}).status, 2);
  EXPECT_EQ(ctl({"ipam", "gc", "--node", "n1"}).status, 2);
  EXPECT_EQ(held(), all_);
}

TEST_F(IpamGcKubeTest, ACorruptJournalStillBlocksTheGc) {
  crashed_node();
  std::ofstream(path("cni/c-bad.journal")) << "{not json";
  Run r = ctl({"ipam", "gc", "--kubeconfig", kubeconfig_, "--yes"});
  EXPECT_EQ(r.status, 3);
  EXPECT_THAT(r.err, HasSubstr("corrupt"));
  EXPECT_EQ(held(), all_);
}

}  // namespace
