// ExecDelegate against the misbehaving fake delegate and the reference plugins: every
// output rule, deadlines and process-group kills, PDEATHSIG and the group guard, ETXTBSY and
// the VERSION cache.
#include "cni/exec_delegate.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "cni/error.h"
#include "cni/process.h"
#include "cni/scope_guard.h"

namespace cni {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

const std::string kFakeDir = std::string(CNIMUX_BINARY_DIR) + "/test/fakes/delegates";
const std::string kFake = "cnimux-fake-delegate";

bool process_alive(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!f || !std::getline(f, line)) return false;
  const size_t paren = line.rfind(')');
  const char state = paren + 2 < line.size() ? line[paren + 2] : 'X';
  return state != 'Z' && state != 'X';  // a zombie has finished dying
}

// Polls `cond` for at most `limit`; never a fixed sleep.
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds limit = 10s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

bool no_unreaped_children() {
  errno = 0;
  return ::waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

size_t count_lines_starting(const std::string& path, const std::string& prefix) {
  std::ifstream f(path);
  size_t n = 0;
  for (std::string line; std::getline(f, line);) n += line.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

// Sets an environment variable for one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

class ExecDelegateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kFakeDir + "/" + kFake)) << "build target cnimux-fake-delegate first";
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = "/tmp/cxt" + std::to_string(::getpid()) + "-" + info->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    log_ = dir_ + "/calls.log";
    pidfile_ = dir_ + "/hang.pids";
    fifo_ = dir_ + "/wait.fifo";
    marker_ = dir_ + "/marker";
  }
  void TearDown() override {
    for (pid_t pid : pids_to_kill_) {
      if (process_alive(pid)) ::kill(pid, SIGKILL);
    }
    fs::remove_all(dir_);
    // The guards a run killed stay zombies until this (or exit) reaps them; anything still
    // unreaped after it is a delegate or a guard the code lost track of.
    reap_killed_guards();
    EXPECT_TRUE(no_unreaped_children()) << "a delegate child or a guard was left unreaped";
  }

  // The stdin config: fake modes plus this test's log and pid files.
  std::string config(json fake) const {
    fake["log"] = log_;
    fake["pidfile"] = pidfile_;
    return json{{"cniVersion", "1.0.0"}, {"name", "fakenet"}, {"type", kFake}, {"fake", fake}}
        .dump();
  }
  DelegateRequest request(Verb verb, json fake) const {
    DelegateRequest req;
    req.verb = verb;
    req.container_id = "cxt" + std::to_string(::getpid());
    req.netns = "/var/run/netns/cxt" + std::to_string(::getpid());
    req.ifname = "net1";
    req.cni_args = "IgnoreUnknown=1;K8S_POD_NAME=p";
    req.path = {kFakeDir};
    req.config = config(std::move(fake));
    req.timeout = 30s;
    return req;
  }
  // Runs the request and returns the error it must fail with.
  static Error failure(Delegate& d, const DelegateRequest& req) {
    try {
      json out = d.invoke(req);
      ADD_FAILURE() << "expected a failure, got " << out.dump();
    } catch (const Error& e) {
      return e;
    }
    return Error(0, "");
  }
  // The "<pid> <grandchild pid>" the hanging fake wrote.
  std::pair<pid_t, pid_t> hang_pids() {
    std::pair<pid_t, pid_t> p{0, 0};
    std::istringstream(read_file(pidfile_)) >> p.first >> p.second;
    for (pid_t pid : {p.first, p.second}) {
      if (pid > 0) pids_to_kill_.push_back(pid);
    }
    return p;
  }
  std::string copy_fake(const std::string& subdir) {
    fs::create_directories(dir_ + "/" + subdir);
    const std::string to = dir_ + "/" + subdir + "/" + kFake;
    fs::copy_file(kFakeDir + "/" + kFake, to, fs::copy_options::overwrite_existing);
    return to;
  }

  // The fake's `waiter` mode: its grandchild blocks on the fifo, then writes the marker.
  json waiter(bool exit) const {
    return {{"add", "waiter"}, {"exit", exit}, {"fifo", fifo_}, {"marker", marker_}};
  }
  void make_fifo() const { ASSERT_EQ(::mkfifo(fifo_.c_str(), 0600), 0) << strerror(errno); }
  // True when no process has the fifo open for reading: opening it to write fails (ENXIO)
  // instead of releasing a waiter.
  bool fifo_has_no_reader() const {
    const int fd = ::open(fifo_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) ::close(fd);
    return fd < 0 && errno == ENXIO;
  }

  std::string dir_, log_, pidfile_;
  std::string fifo_, marker_;
  std::vector<pid_t> pids_to_kill_;
};

TEST_F(ExecDelegateTest, AddPassesStdinAndReturnsTheResult) {
  ExecDelegate d(kFake, {});
  json out = d.invoke(request(Verb::kAdd, {{"add", "ok"}, {"address", "10.1.2.3/24"}}));
  EXPECT_EQ(out["cniVersion"], "1.0.0");
  EXPECT_EQ(out["ips"][0]["address"], "10.1.2.3/24");
  EXPECT_EQ(out["interfaces"][0]["name"], "net1");
  EXPECT_EQ(read_file(log_), "ADD net1 cxt" + std::to_string(::getpid()) + "\n");
}

TEST_F(ExecDelegateTest, ChildEnvDropsInheritedCniVarsAndSetsAllSix) {
  ScopedEnv leak("CNI_LEAKED", "1");
  ScopedEnv mark("FAKE_INHERITED", "yes");
  ExecDelegate d(kFake, {});
  json env = d.invoke(request(Verb::kAdd, {{"add", "env"}}))["env"];
  EXPECT_FALSE(env.contains("CNI_LEAKED"));
  EXPECT_EQ(env["FAKE_INHERITED"], "yes");
  EXPECT_EQ(env["CNI_COMMAND"], "ADD");
  EXPECT_EQ(env["CNI_CONTAINERID"], "cxt" + std::to_string(::getpid()));
  EXPECT_EQ(env["CNI_NETNS"], "/var/run/netns/cxt" + std::to_string(::getpid()));
  EXPECT_EQ(env["CNI_IFNAME"], "net1");
  EXPECT_EQ(env["CNI_ARGS"], "IgnoreUnknown=1;K8S_POD_NAME=p");
  EXPECT_EQ(env["CNI_PATH"], kFakeDir);
}

TEST_F(ExecDelegateTest, CniPathFallsBackToSearchDirs) {
  ExecDelegate d(kFake, {"/nonexistent-cxt", kFakeDir});
  DelegateRequest req = request(Verb::kAdd, {{"add", "env"}});
  req.path.clear();
  EXPECT_EQ(d.invoke(req)["env"]["CNI_PATH"], "/nonexistent-cxt:" + kFakeDir);
}

TEST_F(ExecDelegateTest, SilentVerbsReturnNull) {
  ExecDelegate d(kFake, {});
  EXPECT_TRUE(d.invoke(request(Verb::kDel, {})).is_null());
  EXPECT_TRUE(d.invoke(request(Verb::kCheck, {})).is_null());
  EXPECT_EQ(count_lines_starting(log_, "DEL net1"), 1u);
  EXPECT_EQ(count_lines_starting(log_, "CHECK net1"), 1u);
}

TEST_F(ExecDelegateTest, ResultWithoutCniVersionIsAccepted) {
  ExecDelegate d(kFake, {});
  json out = d.invoke(request(Verb::kAdd, {{"add", "noversion"}}));
  EXPECT_FALSE(out.contains("cniVersion"));
  EXPECT_EQ(out["ips"][0]["address"], "10.99.0.2/24");
}

TEST_F(ExecDelegateTest, ErrorObjectKeepsCodeMessageAndDetails) {
  ExecDelegate d(kFake, {});
  Error e =
      failure(d, request(Verb::kAdd,
                         {{"add", "error"}, {"code", 11}, {"msg", "pool busy"}, {"details", "x"}}));
  EXPECT_EQ(e.code(), 11);
  EXPECT_EQ(e.msg(), kFake + ": pool busy");
  EXPECT_EQ(e.details(), "x");
}

TEST_F(ExecDelegateTest, StderrIsTheMessageWhenStdoutIsEmpty) {
  ExecDelegate d(kFake, {});
  Error e = failure(d, request(Verb::kAdd, {{"add", "stderr"}, {"msg", "bad things happened"}}));
  EXPECT_EQ(e.code(), kDelegateFailed);
  EXPECT_EQ(e.msg(), kFake + ": bad things happened");
}

TEST_F(ExecDelegateTest, HugeStderrIsTruncated) {
  ExecDelegate d(kFake, {});
  Error e = failure(d, request(Verb::kDel, {{"del", "stderrflood"}}));
  EXPECT_EQ(e.code(), kDelegateFailed);
  EXPECT_THAT(e.msg(), StartsWith(kFake + ": xxx"));
  EXPECT_LT(e.msg().size(), 1200u);
}

TEST_F(ExecDelegateTest, GarbageIsADecodeFailureQuotingIt) {
  ExecDelegate d(kFake, {});
  Error e = failure(d, request(Verb::kAdd, {{"add", "garbage"}}));
  EXPECT_EQ(e.code(), kDecodeFailure);
  EXPECT_THAT(e.msg(), StartsWith(kFake + ": "));
  EXPECT_THAT(e.msg(), HasSubstr("this is not json"));
}

TEST_F(ExecDelegateTest, DeeplyNestedOutputIsRefusedNotCrashed) {
  ExecDelegate d(kFake, {});
  Error e = failure(d, request(Verb::kAdd, {{"add", "deep"}}));
  EXPECT_EQ(e.code(), kDecodeFailure);
  EXPECT_THAT(e.msg(), HasSubstr("JSON nested deeper than 128 levels"));
  // An error object that deep is not taken as one: the failure quotes it instead.
  Error f = failure(d, request(Verb::kDel, {{"del", "deeperror"}}));
  EXPECT_EQ(f.code(), kDelegateFailed);
  EXPECT_THAT(f.msg(), HasSubstr("stdout is not an error object"));
}

TEST_F(ExecDelegateTest, TwoObjectsAreADecodeFailure) {
  ExecDelegate d(kFake, {});
  Error e = failure(d, request(Verb::kAdd, {{"add", "two"}}));
  EXPECT_EQ(e.code(), kDecodeFailure);
  EXPECT_THAT(e.msg(), HasSubstr("not one JSON object"));
}

TEST_F(ExecDelegateTest, AddThatPrintsNothingFails) {
  ExecDelegate d(kFake, {});
  Error e = failure(d, request(Verb::kAdd, {{"add", "nothing"}}));
  EXPECT_EQ(e.code(), kDecodeFailure);
  EXPECT_EQ(e.msg(), kFake + ": ADD succeeded but printed no result");
}

TEST_F(ExecDelegateTest, OversizedStdoutIsRefused) {
  ExecDelegate d(kFake, {});
  Error e = failure(d, request(Verb::kAdd, {{"add", "flood"}}));
  EXPECT_EQ(e.code(), kDecodeFailure);
  EXPECT_THAT(e.msg(), HasSubstr("exceeds 1048576 bytes"));
}

TEST_F(ExecDelegateTest, CrashNamesTheSignal) {
  ExecDelegate d(kFake, {});
  Error e = failure(d, request(Verb::kAdd, {{"add", "segv"}}));
  EXPECT_EQ(e.code(), kDelegateFailed);
  EXPECT_EQ(e.msg(), kFake + ": killed by signal SIGSEGV");
}

TEST_F(ExecDelegateTest, DeadlineKillsTheWholeProcessGroup) {
  ExecDelegate d(kFake, {});
  DelegateRequest req = request(Verb::kAdd, {{"add", "hang"}});
  req.timeout = 300ms;
  Error e = failure(d, req);
  EXPECT_EQ(e.code(), kDelegateTimeout);
  EXPECT_THAT(e.msg(), StartsWith(kFake + ": timed out after 300ms"));
  auto [child, grandchild] = hang_pids();
  ASSERT_GT(child, 0) << "the fake never wrote its pid file";
  ASSERT_GT(grandchild, 0);
  EXPECT_FALSE(process_alive(child));
  EXPECT_TRUE(eventually([&] { return !process_alive(grandchild); }))
      << "grandchild " << grandchild << " survived the group kill";
}

// A plugin that exits with its result while a grandchild in its group still holds stdout:
// the exit ends the invocation (the group is killed then), so ADD returns the result instead
// of waiting for EOF until the deadline and failing with code 101 (found by the fault
// campaign, test/soak/faults.py).
TEST_F(ExecDelegateTest, ExitEndsTheCallWhileAGrandchildHoldsThePipes) {
  ExecDelegate d(kFake, {});
  json out = d.invoke(request(Verb::kAdd, {{"add", "orphan"}, {"address", "10.1.2.4/24"}}));
  EXPECT_EQ(out["ips"][0]["address"], "10.1.2.4/24");
  auto [child, grandchild] = hang_pids();
  ASSERT_GT(grandchild, 0) << "the fake never wrote its pid file";
  EXPECT_TRUE(eventually([&] { return !process_alive(grandchild); }))
      << "grandchild " << grandchild << " survived the plugin's exit";
}

TEST_F(ExecDelegateTest, InvalidTypesAreRefused) {
  for (const std::string type : {"../bridge", "/usr/lib/cni/bridge", "a/b", "", ".", ".."}) {
    try {
      ExecDelegate d(type, {kFakeDir});
      ADD_FAILURE() << "accepted type \"" << type << "\"";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), kInvalidConfig);
      EXPECT_THAT(e.msg(), HasSubstr("\"" + type + "\""));
    }
  }
}

TEST_F(ExecDelegateTest, MissingPluginNamesTypeAndDirs) {
  ExecDelegate d("cxt-no-such-plugin", {dir_});
  Error e = failure(d, request(Verb::kAdd, {}));
  EXPECT_EQ(e.code(), kInvalidConfig);
  EXPECT_EQ(e.msg(),
            "failed to find plugin \"cxt-no-such-plugin\" in path [" + dir_ + " " + kFakeDir + "]");
}

TEST_F(ExecDelegateTest, NonExecutableCandidateIsSkipped) {
  fs::create_directories(dir_ + "/noexec");
  std::ofstream(dir_ + "/noexec/" + kFake) << "#!/bin/sh\nexit 3\n";
  fs::permissions(dir_ + "/noexec/" + kFake, fs::perms::owner_read | fs::perms::owner_write);
  ExecDelegate d(kFake, {dir_ + "/noexec"});
  EXPECT_EQ(d.find_binary({kFakeDir}), kFakeDir + "/" + kFake);
}

TEST_F(ExecDelegateTest, SearchDirsComeBeforeRequestPath) {
  const std::string copy = copy_fake("first");
  ExecDelegate d(kFake, {dir_ + "/first"});
  EXPECT_EQ(d.find_binary({kFakeDir}), copy);
}

TEST_F(ExecDelegateTest, LargeStdinIsDeliveredWhole) {
  ExecDelegate d(kFake, {});
  json fake = {{"add", "ok"}, {"address", "10.7.7.7/24"}, {"padding", std::string(3 << 20, 'p')}};
  EXPECT_EQ(d.invoke(request(Verb::kAdd, fake))["ips"][0]["address"], "10.7.7.7/24");
}

TEST_F(ExecDelegateTest, ChildIgnoringStdinDoesNotKillUsWithSigpipe) {
  ScopedEnv skip("FAKE_DELEGATE_SKIP_STDIN", "1");
  ExecDelegate d(kFake, {});
  json fake = {{"padding", std::string(4 << 20, 'p')}};
  EXPECT_EQ(d.invoke(request(Verb::kAdd, fake)), json::object());
  sigset_t pending;
  sigpending(&pending);
  EXPECT_EQ(sigismember(&pending, SIGPIPE), 0) << "a SIGPIPE was left pending";
}

TEST(SignalName, NamesKnownSignalsAndNumbersTheRest) {
  EXPECT_EQ(signal_name(SIGTERM), "SIGTERM");
  EXPECT_EQ(signal_name(SIGKILL), "SIGKILL");
  EXPECT_EQ(signal_name(1000), "signal 1000");
}

TEST(RetryOnTextBusy, RetriesOnlyTextFileBusy) {
  int calls = 0;
  retry_on_text_busy(
      [&] {
        if (++calls < 3) throw std::system_error(ETXTBSY, std::system_category(), "exec");
      },
      5, 0ms);
  EXPECT_EQ(calls, 3);

  calls = 0;
  EXPECT_THROW(retry_on_text_busy(
                   [&] {
                     ++calls;
                     throw std::system_error(EACCES, std::system_category(), "exec");
                   },
                   5, 0ms),
               std::system_error);
  EXPECT_EQ(calls, 1);

  calls = 0;
  EXPECT_THROW(retry_on_text_busy(
                   [&] {
                     ++calls;
                     throw std::system_error(ETXTBSY, std::system_category(), "exec");
                   },
                   4, 0ms),
               std::system_error);
  EXPECT_EQ(calls, 4);
}

TEST_F(ExecDelegateTest, BinaryOpenForWritingIsTextBusyCode11) {
  const std::string copy = copy_fake("busy");
  ExecDelegate::Options opts;
  opts.text_busy_attempts = 2;
  opts.text_busy_backoff = 1ms;
  ExecDelegate d(kFake, {dir_ + "/busy"}, nullptr, opts);
  {
    int fd = ::open(copy.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ScopeGuard close_fd([fd] { ::close(fd); });
    Error e = failure(d, request(Verb::kAdd, {}));
    EXPECT_EQ(e.code(), kTryAgainLater);
    EXPECT_THAT(e.msg(), HasSubstr("text file busy (tried 2 times)"));
  }
  EXPECT_EQ(d.invoke(request(Verb::kAdd, {}))["interfaces"][0]["name"], "net1");
}

TEST_F(ExecDelegateTest, DelegateDiesWithItsParent) {
  const DelegateRequest req = request(Verb::kAdd, {{"add", "hang"}});
  pid_t helper = ::fork();
  ASSERT_GE(helper, 0);
  if (helper == 0) {
    try {
      ExecDelegate d(kFake, {});
      DelegateRequest long_req = req;
      long_req.timeout = 120s;
      d.invoke(long_req);
    } catch (...) {
    }
    ::_exit(0);
  }
  ScopeGuard reap_helper([helper] {
    ::kill(helper, SIGKILL);
    ::waitpid(helper, nullptr, 0);
  });
  ASSERT_TRUE(eventually([&] { return fs::exists(pidfile_); })) << "the delegate never started";
  auto [delegate, grandchild] = hang_pids();
  ASSERT_GT(delegate, 0);
  ASSERT_TRUE(process_alive(delegate));
  ::kill(helper, SIGKILL);
  ::waitpid(helper, nullptr, 0);
  reap_helper.commit();
  EXPECT_TRUE(eventually([&] { return !process_alive(delegate); }))
      << "delegate " << delegate << " outlived its parent";
}

// The leak the guard closes: a plugin's own child (bridge's IPAM plugin, waiting on its
// lock) outlived a SIGKILLed cnimux and committed its allocation after the runtime's DEL.
TEST_F(ExecDelegateTest, DelegatesChildrenDieWhenTheCallerIsKilled) {
  make_fifo();
  const DelegateRequest req = request(Verb::kAdd, waiter(/*exit=*/false));
  pid_t helper = ::fork();
  ASSERT_GE(helper, 0);
  if (helper == 0) {
    try {
      ExecDelegate d(kFake, {});
      DelegateRequest long_req = req;
      long_req.timeout = 120s;
      d.invoke(long_req);
    } catch (...) {
    }
    ::_exit(0);
  }
  ScopeGuard reap_helper([helper] {
    ::kill(helper, SIGKILL);
    ::waitpid(helper, nullptr, 0);
  });
  ASSERT_TRUE(eventually([&] { return fs::exists(pidfile_); })) << "the delegate never started";
  auto [delegate, grandchild] = hang_pids();
  ASSERT_GT(grandchild, 0);
  ASSERT_TRUE(process_alive(grandchild));
  ::kill(helper, SIGKILL);
  ::waitpid(helper, nullptr, 0);
  reap_helper.commit();
  EXPECT_TRUE(eventually([&] { return !process_alive(delegate); }));
  EXPECT_TRUE(eventually([&] { return !process_alive(grandchild); }))
      << "grandchild " << grandchild << " outlived the killed caller";
  EXPECT_TRUE(fifo_has_no_reader()) << "the grandchild still waits and would act later";
  EXPECT_FALSE(fs::exists(marker_));
}

// A finished delegate's operation is over: whatever it left in its process group would act
// after the caller moved on, so it is killed (docs/delegation.md).
TEST_F(ExecDelegateTest, ChildrenLeftInTheGroupDieWhenTheDelegateExits) {
  make_fifo();
  json out = ExecDelegate(kFake, {}).invoke(request(Verb::kAdd, waiter(/*exit=*/true)));
  EXPECT_EQ(out["interfaces"][0]["name"], "net1");
  auto [delegate, grandchild] = hang_pids();
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(eventually([&] { return !process_alive(grandchild); }))
      << "grandchild " << grandchild << " outlived its finished delegate";
  EXPECT_TRUE(fifo_has_no_reader());
  EXPECT_FALSE(fs::exists(marker_));
}

// The guard is our child, leads the delegate's group, holds only its end of the pipe that
// tells it we died, and is reaped by the call (TearDown checks no child is left unreaped).
TEST_F(ExecDelegateTest, AGuardLeadsTheDelegatesGroup) {
  make_fifo();
  ExecDelegate d(kFake, {});
  DelegateRequest req = request(Verb::kAdd, waiter(/*exit=*/false));
  req.timeout = 120s;
  std::optional<Error> err;
  std::thread runner([&] {
    try {
      d.invoke(req);
    } catch (const Error& e) {
      err = e;
    }
  });
  ScopeGuard join([&] {
    kill_running_delegates();
    runner.join();
  });
  ASSERT_TRUE(eventually([&] { return fs::exists(pidfile_); })) << "the delegate never started";
  auto [delegate, grandchild] = hang_pids();
  const pid_t guard = ::getpgid(delegate);
  ASSERT_GT(guard, 0);
  EXPECT_NE(guard, delegate);
  EXPECT_EQ(::getpgid(grandchild), guard);
  const std::string proc = "/proc/" + std::to_string(guard);
  std::ifstream stat(proc + "/stat");
  std::string line;
  std::getline(stat, line);
  pid_t ppid = 0;
  std::istringstream(line.substr(line.rfind(')') + 4)) >> ppid;
  EXPECT_EQ(ppid, ::getpid());
  // The guard names itself and closes what it inherited on its own schedule: poll.
  EXPECT_TRUE(eventually([&] { return read_file(proc + "/comm") == "cnimux-guard\n"; }))
      << read_file(proc + "/comm");
  auto fd_count = [&] {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(proc + "/fd")) ++n;
    return n;
  };
  EXPECT_TRUE(eventually([&] { return fd_count() == 1; }))
      << "the guard holds " << fd_count() << " descriptors, not just its pipe";
  kill_running_delegates();
  runner.join();
  join.commit();
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->msg(), kFake + ": stopped: cnimux is terminating");
  EXPECT_TRUE(eventually([&] { return !process_alive(grandchild); }));
  EXPECT_FALSE(process_alive(guard));
}

// Children of ours running `comm` (as /proc shows it, 15 characters at most).
std::vector<pid_t> children_pids_named(const std::string& comm) {
  std::vector<pid_t> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string stat = read_file(e.path().string() + "/stat");
    const size_t open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close + 4 > stat.size())
      continue;
    pid_t ppid = 0;
    std::istringstream(stat.substr(close + 4)) >> ppid;
    if (ppid == ::getpid() && stat.substr(open + 1, close - open - 1) == comm) {
      out.push_back(static_cast<pid_t>(std::stol(e.path().filename().string())));
    }
  }
  return out;
}

size_t children_named(const std::string& comm) {
  return children_pids_named(comm).size();
}

// The journal's flush overlaps the delegate's exec and start-up: the hook runs when the
// delegate exists, and before it has its config (a plugin acts on nothing else).
TEST_F(ExecDelegateTest, BeforeInputRunsOnceTheDelegateExistsAndBeforeItHasItsConfig) {
  DelegateRequest req = request(Verb::kAdd, json::object());
  int calls = 0;
  size_t delegates_running = 0;
  bool config_seen_before = true;
  req.before_input = [&] {
    ++calls;
    delegates_running = children_named(kFake.substr(0, 15));
    config_seen_before = count_lines_starting(log_, "ADD") > 0;
  };
  json out = ExecDelegate(kFake, {}).invoke(req);
  EXPECT_EQ(out["interfaces"][0]["name"], "net1");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(delegates_running, 1u) << "the hook ran before the delegate existed";
  EXPECT_FALSE(config_seen_before) << "the delegate had its config before the hook returned";
  EXPECT_EQ(count_lines_starting(log_, "ADD"), 1u) << read_file(log_);
}

// A failing flush stops the delegate before it gets its config, and its error is the call's.
TEST_F(ExecDelegateTest, AThrowingBeforeInputStopsTheDelegateUnfed) {
  DelegateRequest req = request(Verb::kAdd, json::object());
  req.before_input = [] { throw Error(kIoFailure, "journal: cannot sync it: disk on fire"); };
  try {
    ExecDelegate(kFake, {}).invoke(req);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), kIoFailure);
    EXPECT_EQ(e.msg(), "journal: cannot sync it: disk on fire");
  }
  EXPECT_EQ(count_lines_starting(log_, "ADD"), 0u) << read_file(log_);
  EXPECT_EQ(children_named(kFake.substr(0, 15)), 0u);  // killed and reaped (TearDown: reaped)
}

TEST_F(ExecDelegateTest, DelegateGetsNoDescriptorButItsStdio) {
  json out = ExecDelegate(kFake, {}).invoke(request(Verb::kAdd, {{"add", "fds"}}));
  std::vector<int> fds = out["fds"].get<std::vector<int>>();
  std::sort(fds.begin(), fds.end());
  EXPECT_EQ(fds, (std::vector<int>{0, 1, 2}));
}

TEST_F(ExecDelegateTest, KillRunningDelegatesStopsTheChildButNotLaterOnes) {
  ExecDelegate d(kFake, {});
  DelegateRequest req = request(Verb::kAdd, {{"add", "hang"}});
  req.timeout = 120s;
  std::optional<Error> err;
  std::thread runner([&] {
    try {
      d.invoke(req);
    } catch (const Error& e) {
      err = e;
    }
  });
  ScopeGuard join([&] {
    kill_running_delegates();
    runner.join();
  });
  ASSERT_TRUE(eventually([&] { return fs::exists(pidfile_); })) << "the delegate never started";
  auto [child, grandchild] = hang_pids();
  kill_running_delegates();
  runner.join();
  join.commit();
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), kDelegateFailed);
  EXPECT_EQ(err->msg(), kFake + ": stopped: cnimux is terminating");
  EXPECT_FALSE(process_alive(child));
  EXPECT_TRUE(eventually([&] { return !process_alive(grandchild); }));
  // The rollback's DELs must still run.
  EXPECT_TRUE(d.invoke(request(Verb::kDel, {})).is_null());
}

TEST_F(ExecDelegateTest, ReferenceBridgeVersionIsProbedOnceAndCached) {
  if (!fs::exists("/usr/lib/cni/bridge")) GTEST_SKIP() << "containernetworking-plugins missing";
  const std::string file = dir_ + "/cache/delegate-versions.json";
  auto cache = std::make_shared<VersionCache>(file);
  DelegateRequest probe;
  probe.path = {"/usr/lib/cni"};
  probe.config = "{}";
  const std::vector<std::string> want = {"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"};
  EXPECT_EQ(ExecDelegate("bridge", {}, cache).supported_versions(probe), want);
  EXPECT_EQ(cache->misses(), 1u);
  EXPECT_EQ(ExecDelegate("bridge", {}, cache).supported_versions(probe), want);
  EXPECT_EQ(cache->hits(), 1u);
  EXPECT_EQ(fs::status(file).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  json on_disk = json::parse(read_file(file));
  EXPECT_EQ(on_disk["plugins"]["/usr/lib/cni/bridge"]["supportedVersions"], want);
  // Another process (a fresh cache on the same file) needs no probe either.
  auto next = std::make_shared<VersionCache>(file);
  EXPECT_EQ(ExecDelegate("bridge", {}, next).supported_versions(probe), want);
  EXPECT_EQ(next->hits(), 1u);
  EXPECT_EQ(next->misses(), 0u);
}

TEST_F(ExecDelegateTest, CachedVersionsAreUsedWithoutRunningTheBinary) {
  const std::string copy = copy_fake("bin");
  const std::string file = dir_ + "/versions.json";
  VersionCache(file).store(*BinaryId::of(copy), {"0.9.9"});
  ExecDelegate d(kFake, {dir_ + "/bin"}, std::make_shared<VersionCache>(file));
  DelegateRequest probe = request(Verb::kVersion, {});
  EXPECT_EQ(d.supported_versions(probe), std::vector<std::string>{"0.9.9"});
  EXPECT_FALSE(fs::exists(log_)) << "VERSION ran despite the cache";
}

TEST_F(ExecDelegateTest, ChangedBinaryIsProbedAgain) {
  const std::string copy = copy_fake("bin");
  ExecDelegate d(kFake, {dir_ + "/bin"}, std::make_shared<VersionCache>(dir_ + "/versions.json"));
  DelegateRequest probe = request(Verb::kVersion, {});
  const auto versions = d.supported_versions(probe);
  EXPECT_EQ(versions.back(), "1.0.0");
  d.supported_versions(probe);
  EXPECT_EQ(count_lines_starting(log_, "VERSION dummy"), 1u);
  std::ofstream(copy, std::ios::app) << '\0';  // size changes; ELF ignores trailing bytes
  EXPECT_EQ(d.supported_versions(probe), versions);
  EXPECT_EQ(count_lines_starting(log_, "VERSION dummy"), 2u);
  fs::last_write_time(copy, fs::last_write_time(copy) - 1h);  // mtime alone changes
  EXPECT_EQ(d.supported_versions(probe), versions);
  EXPECT_EQ(count_lines_starting(log_, "VERSION dummy"), 3u);
}

TEST_F(ExecDelegateTest, LegacyAndBrokenVersionAnswers) {
  ExecDelegate d(kFake, {});
  EXPECT_EQ(d.supported_versions(request(Verb::kVersion, {{"version", "legacy"}})),
            std::vector<std::string>{"0.1.0"});
  try {
    d.supported_versions(request(Verb::kVersion, {{"version", "nothing"}}));
    ADD_FAILURE() << "an empty VERSION answer was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), kDecodeFailure);
    EXPECT_THAT(e.msg(), StartsWith(kFake + ": VERSION"));
  }
}

// ---- Prestart: a delegate started before its call. ----

// Prestarts `req` and checks that exactly one delegate process now waits: its pid.
void prestart_one(ExecDelegate& d, const DelegateRequest& req, std::unique_ptr<Prestart>& early,
                  pid_t& pid) {
  early = d.prestart(req);
  ASSERT_NE(early, nullptr);
  const std::vector<pid_t> waiting = children_pids_named(kFake.substr(0, 15));
  ASSERT_EQ(waiting.size(), 1u);
  pid = waiting[0];
}

// The call whose binary and environment match takes the prestarted process over: no second
// exec, and the process got its config only from that call.
TEST_F(ExecDelegateTest, TheMatchingCallTakesOverThePrestartedDelegate) {
  ExecDelegate d(kFake, {});
  DelegateRequest req = request(Verb::kAdd, json::object());
  std::unique_ptr<Prestart> early;
  pid_t started = 0;
  ASSERT_NO_FATAL_FAILURE(prestart_one(d, req, early, started));
  EXPECT_TRUE(process_alive(started)) << "the prestarted delegate waits for its config";
  EXPECT_EQ(count_lines_starting(log_, "ADD"), 0u) << "it acted before it had its config";
  std::vector<pid_t> seen_by_hook;
  req.before_input = [&] { seen_by_hook = children_pids_named(kFake.substr(0, 15)); };
  json out = d.invoke(req);
  EXPECT_EQ(out["interfaces"][0]["name"], "net1");
  EXPECT_EQ(seen_by_hook, std::vector<pid_t>{started}) << "the call started a delegate of its own";
  EXPECT_EQ(count_lines_starting(log_, "ADD"), 1u) << read_file(log_);
  EXPECT_FALSE(process_alive(started));
  early.reset();  // taken: nothing left to kill
  EXPECT_EQ(count_lines_starting(log_, "ADD"), 1u) << read_file(log_);
}

// Another environment (here another CNI_IFNAME) is another call: it starts its own delegate,
// and the prestarted one, never taken, dies unfed when its handle goes.
TEST_F(ExecDelegateTest, APrestartedDelegateNotTakenOverDiesUnfed) {
  ExecDelegate d(kFake, {});
  DelegateRequest req = request(Verb::kAdd, json::object());
  std::unique_ptr<Prestart> early;
  pid_t started = 0;
  ASSERT_NO_FATAL_FAILURE(prestart_one(d, req, early, started));
  req.ifname = "net2";
  size_t running_at_hook = 0;
  req.before_input = [&] { running_at_hook = children_named(kFake.substr(0, 15)); };
  json out = d.invoke(req);
  EXPECT_EQ(out["interfaces"][0]["name"], "net2");
  EXPECT_EQ(running_at_hook, 2u) << "the call should have started a delegate of its own";
  EXPECT_TRUE(process_alive(started)) << "the prestarted delegate was taken by another call";
  early.reset();
  EXPECT_FALSE(process_alive(started));
  EXPECT_EQ(children_named(kFake.substr(0, 15)), 0u);  // and reaped (TearDown)
  EXPECT_EQ(count_lines_starting(log_, "ADD"), 1u) << read_file(log_);
  EXPECT_EQ(count_lines_starting(log_, "ADD net2"), 1u) << read_file(log_);
}

// Another verb is another environment too (CNI_COMMAND): a DEL never takes an ADD's process.
TEST_F(ExecDelegateTest, AnotherVerbDoesNotTakeOverThePrestartedDelegate) {
  ExecDelegate d(kFake, {});
  std::unique_ptr<Prestart> early = d.prestart(request(Verb::kAdd, json::object()));
  ASSERT_NE(early, nullptr);
  EXPECT_TRUE(d.invoke(request(Verb::kDel, json::object())).is_null());
  EXPECT_EQ(children_named(kFake.substr(0, 15)), 1u);
  early.reset();
  EXPECT_EQ(children_named(kFake.substr(0, 15)), 0u);
  EXPECT_EQ(count_lines_starting(log_, "ADD"), 0u) << read_file(log_);
  EXPECT_EQ(count_lines_starting(log_, "DEL"), 1u) << read_file(log_);
}

// A prestart fails as the call would: a missing binary is code 7 naming it.
TEST_F(ExecDelegateTest, PrestartOfAMissingPluginFailsLikeTheCall) {
  ExecDelegate d("no-such-plugin", {});
  try {
    d.prestart(request(Verb::kAdd, json::object()));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), kInvalidConfig);
    EXPECT_THAT(e.msg(), HasSubstr("no-such-plugin"));
  }
  EXPECT_EQ(children_named(kFake.substr(0, 15)), 0u);
}

// A stop (SIGTERM's path) reaches a prestarted delegate too, and the call that takes it over
// reports the stop instead of running it.
TEST_F(ExecDelegateTest, KillRunningDelegatesStopsAPrestartedDelegate) {
  ExecDelegate d(kFake, {});
  DelegateRequest req = request(Verb::kAdd, json::object());
  std::unique_ptr<Prestart> early;
  pid_t started = 0;
  ASSERT_NO_FATAL_FAILURE(prestart_one(d, req, early, started));
  kill_running_delegates();
  EXPECT_TRUE(eventually([&] { return !process_alive(started); }));
  const Error e = failure(d, req);
  EXPECT_EQ(e.code(), kDelegateFailed);
  EXPECT_EQ(e.msg(), kFake + ": stopped: cnimux is terminating");
  EXPECT_EQ(count_lines_starting(log_, "ADD"), 0u) << read_file(log_);
}

}  // namespace
}  // namespace cni
