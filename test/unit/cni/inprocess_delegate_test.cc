// InProcessDelegate: a cni::Plugin run through dispatch() obeys the exec delegate's rules:
// results in the config's version, the plugin's own error codes prefixed with the type; in a
// forked child also the deadline, crashes, SIGTERM, and the caller's namespaces untouched.
#include "cni/inprocess_delegate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <stdexcept>

#include "cni/error.h"
#include "cni/process.h"
#include "cni/skeleton.h"

namespace cni {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Behaves as its config's "behave" key says; records the verbs it saw.
class ScriptedPlugin : public Plugin {
 public:
  explicit ScriptedPlugin(std::vector<std::string>* seen, std::vector<std::string> versions = {})
      : seen_(seen), versions_(std::move(versions)) {}

  Result add(const Request& req) override {
    record("ADD", req);
    Result r;
    r.interfaces.push_back({.name = req.invocation.ifname, .sandbox = req.invocation.netns});
    r.ips.push_back({.address = "10.5.0.9/24", .interface = 0});
    return r;
  }
  void del(const Request& req) override { record("DEL", req); }
  void check(const Request& req) override { record("CHECK", req); }
  void status(const Request& req) override { record("STATUS", req); }
  void gc(const Request& req) override { record("GC", req); }
  std::vector<std::string> versions() const override {
    return versions_.empty() ? Plugin::versions() : versions_;
  }

 private:
  void record(const std::string& verb, const Request& req) {
    seen_->push_back(verb + " " + req.invocation.ifname + " " + req.invocation.pod_name());
    const std::string behave = req.conf.raw.value("behave", "");
    if (behave == "cni-error") throw Error(kTryAgainLater, "pool busy", "retry later");
    if (behave == "exception") throw std::logic_error("plugin bug");
    if (behave == "hang") ::pause();
    if (behave == "crash") {
      ::signal(SIGSEGV, SIG_DFL);  // a sanitizer's handler would turn it into an exit
      ::raise(SIGSEGV);
    }
    if (behave == "stop-me") {
      ::kill(::getppid(), SIGUSR1);  // the test's handler calls kill_running_delegates()
      ::pause();
    }
    if (behave == "wander") {
      // What a careless plugin could do to the process it runs in.
      if (::unshare(CLONE_NEWNET) != 0 || ::chdir("/proc") != 0) throw std::runtime_error("wander");
    }
  }
  std::vector<std::string>* seen_;
  std::vector<std::string> versions_;
};

class InProcessDelegateTest : public ::testing::Test {
 protected:
  DelegateRequest request(Verb verb, const std::string& behave = "",
                          const std::string& version = "1.0.0") const {
    DelegateRequest req;
    req.verb = verb;
    req.container_id = "cxt-inproc";
    req.netns = "/var/run/netns/cxt-inproc";
    req.ifname = "net2";
    req.cni_args = "IgnoreUnknown=1;K8S_POD_NAME=web";
    req.path = {"/opt/cni/bin"};
    req.config =
        json{{"cniVersion", version}, {"name", "inet"}, {"type", "inproc"}, {"behave", behave}}
            .dump();
    return req;
  }
  Error failure(Delegate& d, const DelegateRequest& req) {
    try {
      json out = d.invoke(req);
      ADD_FAILURE() << "expected a failure, got " << out.dump();
    } catch (const Error& e) {
      return e;
    }
    return Error(0, "");
  }
  std::unique_ptr<InProcessDelegate> make(std::vector<std::string> versions = {}) {
    return std::make_unique<InProcessDelegate>(
        "inproc", std::make_unique<ScriptedPlugin>(&seen_, std::move(versions)),
        Isolation::kCallingThread);
  }

  std::vector<std::string> seen_;
};

TEST_F(InProcessDelegateTest, AddReturnsTheResultInTheConfigVersion) {
  auto d = make();
  json out = d->invoke(request(Verb::kAdd, "", "0.4.0"));
  EXPECT_EQ(out["cniVersion"], "0.4.0");
  EXPECT_EQ(out["interfaces"][0]["name"], "net2");
  EXPECT_EQ(out["ips"][0]["address"], "10.5.0.9/24");
  EXPECT_EQ(out["ips"][0]["version"], "4");  // 0.4.0 shape
  EXPECT_EQ(seen_, std::vector<std::string>{"ADD net2 web"});
}

TEST_F(InProcessDelegateTest, SilentVerbsReturnNull) {
  auto d = make();
  EXPECT_TRUE(d->invoke(request(Verb::kDel)).is_null());
  EXPECT_TRUE(d->invoke(request(Verb::kCheck)).is_null());
  EXPECT_EQ(seen_, (std::vector<std::string>{"DEL net2 web", "CHECK net2 web"}));
}

TEST_F(InProcessDelegateTest, PluginErrorKeepsItsCodeAndNamesTheType) {
  auto d = make();
  Error e = failure(*d, request(Verb::kAdd, "cni-error"));
  EXPECT_EQ(e.code(), kTryAgainLater);
  EXPECT_EQ(e.msg(), "inproc: pool busy");
  EXPECT_EQ(e.details(), "retry later");
}

TEST_F(InProcessDelegateTest, PluginBugBecomesTheSkeletonsInternalError) {
  auto d = make();
  Error e = failure(*d, request(Verb::kDel, "exception"));
  EXPECT_EQ(e.code(), kInternalError);
  EXPECT_THAT(e.msg(), StartsWith("inproc: "));
  EXPECT_THAT(e.msg(), HasSubstr("plugin bug"));
}

TEST_F(InProcessDelegateTest, BadEnvironmentIsRefusedLikeTheBinaryWould) {
  auto d = make();
  DelegateRequest req = request(Verb::kAdd);
  req.ifname = "eth 0";
  Error e = failure(*d, req);
  EXPECT_EQ(e.code(), kInvalidEnvironment);
  EXPECT_THAT(e.msg(), StartsWith("inproc: "));
  EXPECT_THAT(e.msg(), HasSubstr("eth 0"));
  EXPECT_TRUE(seen_.empty()) << "the plugin ran despite a bad environment";
}

TEST_F(InProcessDelegateTest, UnsupportedConfigVersionIsCode1) {
  auto d = make({"0.4.0", "1.0.0"});
  Error e = failure(*d, request(Verb::kAdd, "", "1.1.0"));
  EXPECT_EQ(e.code(), kIncompatibleVersion);
  EXPECT_THAT(e.msg(), StartsWith("inproc: "));
}

TEST_F(InProcessDelegateTest, SupportedVersionsAreThePlugins) {
  EXPECT_EQ(make({"0.4.0", "1.0.0"})->supported_versions(request(Verb::kVersion)),
            (std::vector<std::string>{"0.4.0", "1.0.0"}));
}

TEST_F(InProcessDelegateTest, InvalidTypeOrNullPluginRefused) {
  EXPECT_THROW(InProcessDelegate("a/b", std::make_unique<ScriptedPlugin>(&seen_)), Error);
  EXPECT_THROW(InProcessDelegate("inproc", nullptr), Error);
}

// ---- The default isolation: a forked child. ----

ino_t own_netns_inode() {
  struct stat st {};
  ::stat("/proc/thread-self/ns/net", &st);
  return st.st_ino;
}

extern "C" void stop_delegates(int) {
  kill_running_delegates();
}

class ForkedDelegateTest : public InProcessDelegateTest {
 protected:
  std::unique_ptr<InProcessDelegate> forked() {
    return std::make_unique<InProcessDelegate>("inproc", std::make_unique<ScriptedPlugin>(&seen_));
  }
};

TEST_F(ForkedDelegateTest, ResultAndErrorsCrossTheForkUnchanged) {
  auto d = forked();
  json out = d->invoke(request(Verb::kAdd, "", "0.4.0"));
  EXPECT_EQ(out["cniVersion"], "0.4.0");
  EXPECT_EQ(out["ips"][0]["address"], "10.5.0.9/24");
  EXPECT_TRUE(d->invoke(request(Verb::kDel)).is_null());
  Error e = failure(*d, request(Verb::kAdd, "cni-error"));
  EXPECT_EQ(e.code(), kTryAgainLater);
  EXPECT_EQ(e.msg(), "inproc: pool busy");
  EXPECT_EQ(e.details(), "retry later");
  EXPECT_TRUE(seen_.empty()) << "the plugin ran in this process";
}

TEST_F(ForkedDelegateTest, PastTheDeadlineIsKilledWithCode101) {
  auto d = forked();
  DelegateRequest req = request(Verb::kAdd, "hang");
  req.timeout = std::chrono::milliseconds(50);
  Error e = failure(*d, req);
  EXPECT_EQ(e.code(), kDelegateTimeout);
  EXPECT_EQ(e.msg(), "inproc: timed out after 50ms; killed its process group");
}

TEST_F(ForkedDelegateTest, ACrashIsCode100NamingTheSignal) {
  Error e = failure(*forked(), request(Verb::kAdd, "crash"));
  EXPECT_EQ(e.code(), kDelegateFailed);
  EXPECT_EQ(e.msg(), "inproc: killed by signal SIGSEGV");
}

TEST_F(ForkedDelegateTest, KillRunningDelegatesStopsIt) {
  struct sigaction sa {
  }, old{};
  sa.sa_handler = stop_delegates;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, &old);
  Error e = failure(*forked(), request(Verb::kAdd, "stop-me"));
  sigaction(SIGUSR1, &old, nullptr);
  EXPECT_EQ(e.code(), kDelegateFailed);
  EXPECT_EQ(e.msg(), "inproc: stopped: cnimux is terminating");
}

TEST_F(ForkedDelegateTest, TheCallersNamespaceAndDirectoryAreNeverTouched) {
  const ino_t before = own_netns_inode();
  char cwd_before[4096];
  ASSERT_NE(::getcwd(cwd_before, sizeof cwd_before), nullptr);
  json out = forked()->invoke(request(Verb::kAdd, "wander"));
  EXPECT_EQ(out["ips"][0]["address"], "10.5.0.9/24");
  EXPECT_EQ(own_netns_inode(), before);
  char cwd_after[4096];
  ASSERT_NE(::getcwd(cwd_after, sizeof cwd_after), nullptr);
  EXPECT_STREQ(cwd_after, cwd_before);
}

}  // namespace
}  // namespace cni
