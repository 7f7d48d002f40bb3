// Runs `cnimuxctl pod add|del|check` as a runtime against recording plugins (shell scripts
// that log every call and its stdin): the calls must be containerd's, through libcni, in
// order, with a real netns that is created and removed. Root; names carry cxt<pid>.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>

#include "test/fakes/test_netns.h"

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kCtl = std::string(CNIMUX_BINARY_DIR) + "/cli/cnimuxctl";

// A plugin that appends one JSON line per call to <its dir>/calls.log (its name, the CNI_*
// variables and its stdin), fails with code 11 when its config says "fail<VERB>": true, and
// prints a result on ADD: interface CNI_IFNAME in CNI_NETNS, an address by plugin name.
constexpr const char* kRecorder = R"(#!/bin/sh
in=$(cat)
me=${0##*/}
printf '{"plugin":"%s","verb":"%s","cid":"%s","netns":"%s","ifname":"%s","args":"%s","path":"%s","stdin":%s}\n' \
  "$me" "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_ARGS" "$CNI_PATH" "$in" \
  >>"${0%/*}/calls.log"
case "$in" in *"\"fail$CNI_COMMAND\":true"*)
  printf '{"cniVersion":"1.0.0","code":11,"msg":"%s refuses %s","details":"on purpose"}' "$me" "$CNI_COMMAND"
  exit 1;;
esac
case "$me" in rec-a) addr=10.77.0.1/24;; *) addr=10.77.0.2/24;; esac
if [ "$CNI_COMMAND" = ADD ]; then
  printf '{"cniVersion":"1.0.0","interfaces":[{"name":"%s","sandbox":"%s"}],"ips":[{"address":"%s","interface":0}]}' \
    "$CNI_IFNAME" "$CNI_NETNS" "$addr"
fi
)";

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

bool netns_present(const std::string& name) {
  return cnimux_test::run_shell("ip netns list | grep -qw " + name) == 0;
}

class PodCmdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> seq{0};
    const std::string id = std::to_string(seq++);
    root_ = fs::temp_directory_path() / (cnimux_test::test_prefix() + "-pod-" + id);
    netns_ = cnimux_test::test_prefix() + "-pod" + id;
    fs::remove_all(root_);
    fs::create_directories(root_ / "bin");
    fs::permissions(root_, fs::perms::owner_all);
    for (const char* name : {"rec-a", "rec-b"}) {
      const fs::path p = root_ / "bin" / name;
      std::ofstream(p) << kRecorder;
      fs::permissions(p, fs::perms::owner_all);
    }
    write_conflist(Json::object());
    manifest_ = file("pod.yaml", R"(apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  uid: 6f1c0b1e-0000-4a57-9d3e-000000000001
  annotations:
    k8s.v1.cni.cncf.io/networks: macvlan-a, macvlan-b@data
spec:
  containers: [{name: web, image: nginx}]
)");
  }
  void TearDown() override {
    cnimux_test::run_shell("ip netns delete " + netns_ + " 2>/dev/null");
    fs::remove_all(root_);
  }

  // rec-a (declares the pod-annotations capability) then rec-b; `fail` is merged into rec-b.
  void write_conflist(const Json& fail_b) {
    Json b = {{"type", "rec-b"}, {"keep", "me"}};
    b.update(fail_b);
    Json list = {
        {"cniVersion", "1.0.0"},
        {"name", "cxnet"},
        {"plugins",
         {{{"type", "rec-a"}, {"capabilities", {{"io.kubernetes.cri.pod-annotations", true}}}},
          b}}};
    conflist_ = file("10-cxnet.conflist", list.dump());
  }

  CtlRun pod(const std::string& verb, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"pod",        verb,          manifest_,
                                  "--conflist", conflist_,     "--bin-dir",
                                  bin(),        "--cache-dir", (root_ / "cache").string()};
    if (verb == "add") args.insert(args.end(), {"--netns", netns_});
    args.insert(args.end(), extra.begin(), extra.end());
    return ctl(args);
  }

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

  // The calls recorded since the last take.
  std::vector<Json> take_calls() {
    std::vector<Json> calls;
    std::istringstream in(slurp((root_ / "bin" / "calls.log").string()));
    for (std::string line; std::getline(in, line);) calls.push_back(Json::parse(line));
    fs::remove(root_ / "bin" / "calls.log");
    return calls;
  }

  std::string file(const std::string& name, const std::string& text) {
    const std::string p = (root_ / name).string();
    std::ofstream(p) << text;
    return p;
  }
  std::string bin() const { return (root_ / "bin").string(); }
  std::string netns_path() const { return "/run/netns/" + netns_; }

  fs::path root_;
  std::string netns_, manifest_, conflist_;
};

std::vector<std::string> sequence(const std::vector<Json>& calls) {
  std::vector<std::string> out;
  for (const auto& c : calls)
    out.push_back(c["verb"].get<std::string>() + " " + c["plugin"].get<std::string>());
  return out;
}

TEST_F(PodCmdTest, AddRunsTheListAsContainerdDoes) {
  CtlRun r = pod("add", {"--json"});
  ASSERT_EQ(r.status, 0) << r.err << r.out;
  EXPECT_TRUE(netns_present(netns_));
  const std::vector<Json> calls = take_calls();
  // No VERSION probe: ADD in list order only.
  ASSERT_EQ(sequence(calls), (std::vector<std::string>{"ADD rec-a", "ADD rec-b"}));
  const std::string cid = r.json()["containerID"];
  EXPECT_EQ(cid.size(), 64u);
  for (const Json& c : calls) {
    EXPECT_EQ(c["cid"], cid);
    EXPECT_EQ(c["netns"], netns_path());
    EXPECT_EQ(c["ifname"], "eth0");
    EXPECT_EQ(c["path"], bin());
    EXPECT_EQ(c["args"],
              "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web;"
              "K8S_POD_INFRA_CONTAINER_ID=" +
                  cid + ";K8S_POD_UID=6f1c0b1e-0000-4a57-9d3e-000000000001");
    EXPECT_EQ(c["stdin"]["name"], "cxnet");
    EXPECT_EQ(c["stdin"]["cniVersion"], "1.0.0");
  }
  // The annotations go only to the plugin that declares the capability, as containerd's.
  EXPECT_EQ(calls[0]["stdin"]["runtimeConfig"]["io.kubernetes.cri.pod-annotations"]
                 ["k8s.v1.cni.cncf.io/networks"],
            "macvlan-a, macvlan-b@data");
  EXPECT_FALSE(calls[0]["stdin"].contains("prevResult"));
  EXPECT_FALSE(calls[1]["stdin"].contains("runtimeConfig"));
  EXPECT_EQ(calls[1]["stdin"]["keep"], "me");
  EXPECT_EQ(calls[1]["stdin"]["prevResult"]["ips"][0]["address"], "10.77.0.1/24");
  // The list's result (the last plugin's) is printed and cached.
  EXPECT_EQ(r.json()["result"]["ips"][0]["address"], "10.77.0.2/24");
  EXPECT_EQ(r.json()["attachments"][0]["ifname"], "eth0");
  EXPECT_EQ(r.json()["attachments"][0]["addresses"], Json::array({"10.77.0.2/24"}));
}

TEST_F(PodCmdTest, CheckAndDelUseTheCachedResultThenDelAgainWithoutNetns) {
  ASSERT_EQ(pod("add").status, 0);
  take_calls();

  CtlRun r = pod("check");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("CHECK passed"));
  std::vector<Json> calls = take_calls();
  ASSERT_EQ(sequence(calls), (std::vector<std::string>{"CHECK rec-a", "CHECK rec-b"}));
  for (const Json& c : calls) {
    EXPECT_EQ(c["stdin"]["prevResult"]["ips"][0]["address"], "10.77.0.2/24");
    EXPECT_EQ(c["netns"], netns_path());
  }

  r = pod("del");
  ASSERT_EQ(r.status, 0) << r.err;
  calls = take_calls();
  ASSERT_EQ(sequence(calls),
            (std::vector<std::string>{"DEL rec-b", "DEL rec-a", "DEL rec-b", "DEL rec-a"}));
  // StopPodSandbox: the netns and the cached result ...
  for (int i : {0, 1}) {
    EXPECT_EQ(calls[i]["netns"], netns_path());
    EXPECT_EQ(calls[i]["stdin"]["prevResult"]["ips"][0]["address"], "10.77.0.2/24");
  }
  // ... RemovePodSandbox: neither.
  for (int i : {2, 3}) {
    EXPECT_EQ(calls[i]["netns"], "");
    EXPECT_FALSE(calls[i]["stdin"].contains("prevResult"));
    EXPECT_EQ(calls[i]["cid"], calls[0]["cid"]);
  }
  EXPECT_FALSE(netns_present(netns_));
  EXPECT_FALSE(fs::exists(root_ / "cache" / "shop_web.json"));

  // Nothing is left to delete; CHECK now refuses.
  r = pod("del");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("nothing to delete"));
  EXPECT_TRUE(take_calls().empty());
  EXPECT_EQ(pod("check").status, 1);
}

TEST_F(PodCmdTest, FailedAddIsTornDownAndExitsFour) {
  write_conflist({{"failADD", true}});
  CtlRun r = pod("add", {"--json"});
  EXPECT_EQ(r.status, 4) << r.err;
  EXPECT_THAT(r.err, HasSubstr("rec-b refuses ADD"));
  EXPECT_EQ(r.json()["error"]["code"], 11);
  EXPECT_EQ(r.json()["teardown"], "done");
  const std::vector<Json> calls = take_calls();
  ASSERT_EQ(sequence(calls),
            (std::vector<std::string>{"ADD rec-a", "ADD rec-b", "DEL rec-b", "DEL rec-a"}));
  // Nothing was cached, so the teardown DEL has no prevResult; it still has the netns.
  for (int i : {2, 3}) {
    EXPECT_FALSE(calls[i]["stdin"].contains("prevResult"));
    EXPECT_EQ(calls[i]["netns"], netns_path());
  }
  EXPECT_FALSE(netns_present(netns_));
  EXPECT_FALSE(fs::exists(root_ / "cache" / "shop_web.json"));
}

TEST_F(PodCmdTest, FailedDelKeepsTheSandboxForARetry) {
  ASSERT_EQ(pod("add").status, 0);
  std::string text = slurp(root_ / "cache" / "shop_web.json");
  // The record holds the list as ADD ran it: make its rec-b fail DEL.
  Json rec = Json::parse(text);
  rec["config"]["plugins"][1]["failDEL"] = true;
  fs::remove(root_ / "cache" / "shop_web.json");
  file("cache/shop_web.json", rec.dump());
  take_calls();
  CtlRun r = pod("del");
  EXPECT_EQ(r.status, 4);
  EXPECT_THAT(r.err, HasSubstr("rec-b refuses DEL"));
  // libcni stops at the first failing plugin; the runtime keeps the sandbox and retries.
  EXPECT_EQ(sequence(take_calls()), (std::vector<std::string>{"DEL rec-b"}));
  EXPECT_TRUE(netns_present(netns_));
  EXPECT_TRUE(fs::exists(root_ / "cache" / "shop_web.json"));
}

TEST_F(PodCmdTest, AnAddWhoseTeardownFailsLeavesWhatPodDelNeeds) {
  write_conflist({{"failADD", true}, {"failDEL", true}});
  CtlRun r = pod("add");
  EXPECT_EQ(r.status, 4);
  EXPECT_THAT(r.err, HasSubstr("tears the sandbox down failed too"));
  EXPECT_EQ(sequence(take_calls()),
            (std::vector<std::string>{"ADD rec-a", "ADD rec-b", "DEL rec-b"}));
  EXPECT_TRUE(netns_present(netns_));
  Json rec = Json::parse(slurp(root_ / "cache" / "shop_web.json"));
  EXPECT_EQ(rec["state"], "adding");
  // Once the plugin can DEL again, `pod del` finishes the job; no ADD finished, so no
  // prevResult.
  rec["config"]["plugins"][1].erase("failDEL");
  fs::remove(root_ / "cache" / "shop_web.json");
  file("cache/shop_web.json", rec.dump());
  r = pod("del");
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<Json> calls = take_calls();
  ASSERT_EQ(sequence(calls),
            (std::vector<std::string>{"DEL rec-b", "DEL rec-a", "DEL rec-b", "DEL rec-a"}));
  for (const Json& c : calls) EXPECT_FALSE(c["stdin"].contains("prevResult"));
  EXPECT_FALSE(netns_present(netns_));
}

// A second command on the same pod waits for the first: while the test holds the pod's lock,
// `pod add` blocks on it (visible in /proc/locks) and runs no plugin.
TEST_F(PodCmdTest, CommandsOnOnePodRunOneAtATime) {
  fs::create_directories(root_ / "cache");
  fs::permissions(root_ / "cache", fs::perms::owner_all);
  const std::string lock_path = (root_ / "cache" / "shop_web.lock").string();
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0);
  const std::string inode = ":" + std::to_string(st.st_ino) + " ";

  std::string cmd = quote(kCtl) + " pod add " + quote(manifest_) + " --conflist " +
                    quote(conflist_) + " --bin-dir " + quote(bin()) + " --cache-dir " +
                    quote((root_ / "cache").string()) + " --netns " + netns_ + " >/dev/null 2>&1";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fd);  // the lock stays held through the parent's descriptor
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Wait until the kernel lists a waiter blocked on our lock file ("-> FLOCK ... :<inode> ").
  bool blocked = false;
  while (!blocked) {
    std::istringstream locks(slurp("/proc/locks"));
    for (std::string line; std::getline(locks, line);) {
      if (line.find("->") != std::string::npos && line.find("FLOCK") != std::string::npos &&
          line.find(inode) != std::string::npos) {
        blocked = true;
      }
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, WNOHANG), 0) << "pod add did not wait for the lock";
  }
  EXPECT_TRUE(take_calls().empty());
  ::close(fd);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(sequence(take_calls()), (std::vector<std::string>{"ADD rec-a", "ADD rec-b"}));
  ASSERT_EQ(pod("del").status, 0);
}

TEST_F(PodCmdTest, AReusedNetnsIsKeptAndASecondAddIsRefused) {
  ASSERT_EQ(cnimux_test::run_shell("ip netns add " + netns_), 0);
  ASSERT_EQ(pod("add").status, 0);
  CtlRun again = pod("add");
  EXPECT_EQ(again.status, 1);
  EXPECT_THAT(again.err, HasSubstr("already has sandbox"));
  ASSERT_EQ(pod("del").status, 0);
  EXPECT_TRUE(netns_present(netns_));  // not ours to remove
}

TEST_F(PodCmdTest, JsonManifestsWorkAndBadManifestsAreRefused) {
  manifest_ = file("pod.json", R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web",
    "namespace":"shop","annotations":{"k8s.v1.cni.cncf.io/networks":"[{\"name\":\"mv\"}]"}}})");
  ASSERT_EQ(pod("add").status, 0);
  const std::vector<Json> calls = take_calls();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls[0]["stdin"]["runtimeConfig"]["io.kubernetes.cri.pod-annotations"]
                 ["k8s.v1.cni.cncf.io/networks"],
            "[{\"name\":\"mv\"}]");
  EXPECT_THAT(calls[0]["args"].get<std::string>(), Not(HasSubstr("K8S_POD_UID")));
  ASSERT_EQ(pod("del").status, 0);
  take_calls();

  manifest_ = file("nad.yaml", "kind: NetworkAttachmentDefinition\nmetadata: {name: x}\n");
  CtlRun r = pod("add");
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("holds 0 Pod objects"));
  manifest_ = file("bad.yaml", "kind: Pod\nmetadata: [unclosed\n");
  EXPECT_EQ(pod("add").status, 1);
  EXPECT_FALSE(netns_present(netns_));
  EXPECT_TRUE(take_calls().empty());
}

TEST_F(PodCmdTest, TheFirstConfigOfTheConfDirIsTheNodes) {
  fs::create_directories(root_ / "net.d");
  fs::copy_file(conflist_, root_ / "net.d" / "20-cxnet.conflist");
  Json other = {{"cniVersion", "1.0.0"}, {"name", "other"}, {"type", "rec-a"}};
  std::ofstream(root_ / "net.d" / "30-other.conf") << other.dump();
  std::ofstream(root_ / "net.d" / "05-notes.txt") << "not a config";
  CtlRun r = ctl({"pod", "add", manifest_, "--conf-dir", (root_ / "net.d").string(), "--bin-dir",
                  bin(), "--cache-dir", (root_ / "cache").string(), "--netns", netns_, "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.json()["network"], "cxnet");
  EXPECT_EQ(sequence(take_calls()), (std::vector<std::string>{"ADD rec-a", "ADD rec-b"}));
  ASSERT_EQ(pod("del").status, 0);
}

}  // namespace

// The whole path: cnimuxctl hands the manifest's annotations to the real cnimux, which selects
// the NADs they name; the table comes from cnimux's journal, one row per attachment.
TEST_F(PodCmdTest, ThroughCnimuxTheManifestsAnnotationsSelectTheNetworks) {
  const fs::path net_d = root_ / "net.d", nads = root_ / "nads";
  fs::create_directories(net_d);
  fs::create_directories(nads);
  fs::create_symlink(std::string(CNIMUX_BINARY_DIR) + "/plugin/cnimux", root_ / "bin" / "cnimux");
  Json meta = {{"cniVersion", "1.0.0"},
               {"name", "cnimux"},
               {"plugins",
                {{{"type", "cnimux"},
                  {"clusterNetwork", "cxnet"},
                  {"confDir", net_d.string()},
                  {"binDir", bin()},
                  {"cniDir", (root_ / "state").string()},
                  {"nadDir", nads.string()},
                  {"logFile", (root_ / "state" / "cnimux.log").string()},
                  {"capabilities", {{"io.kubernetes.cri.pod-annotations", true}}}}}}};
  std::ofstream(net_d / "00-cnimux.conflist") << meta.dump();
  fs::copy_file(conflist_, net_d / "10-cxnet.conflist");  // the cluster network: rec-a, rec-b
  for (const char* name : {"macvlan-a", "macvlan-b"}) {
    std::ofstream(nads / (std::string(name) + ".yaml"))
        << "apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\n"
        << "metadata: {name: " << name << ", namespace: shop}\n"
        << "spec:\n  config: '{\"cniVersion\": \"1.0.0\", \"type\": \"rec-b\"}'\n";
  }
  CtlRun r = ctl({"pod", "add", manifest_, "--conf-dir", net_d.string(), "--bin-dir", bin(),
                  "--cache-dir", (root_ / "cache").string(), "--netns", netns_, "--json"});
  ASSERT_EQ(r.status, 0) << r.err << slurp(root_ / "state" / "cnimux.log");
  const std::string cid = r.json()["containerID"];
  const Json att = r.json()["attachments"];
  ASSERT_EQ(att.size(), 3u) << r.out;
  EXPECT_EQ(att[0], Json::parse(R"({"ifname":"eth0","network":"cxnet","state":"added",
                                    "addresses":["10.77.0.2/24"]})"));
  EXPECT_EQ(att[1]["ifname"], "net1");
  EXPECT_EQ(att[1]["network"], "shop/macvlan-a");
  EXPECT_EQ(att[2]["ifname"], "data");
  EXPECT_EQ(att[2]["network"], "shop/macvlan-b");

  // `pods` shows the sandbox by the first 12 characters of its ID, as `docker ps` does.
  r = ctl({"pods", "--cni-dir", (root_ / "state").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(cid.substr(0, 12) + "  shop/web  attached"));
  EXPECT_THAT(r.out, Not(HasSubstr(cid)));

  r = ctl({"pod", "del", manifest_, "--bin-dir", bin(), "--cache-dir", (root_ / "cache").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  r = ctl({"pods", "--cni-dir", (root_ / "state").string(), "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.json()[0]["state"], "deleted");
  EXPECT_FALSE(netns_present(netns_));
}
