// SpawnedChild: the program runs with our environment block and pipes, in the given group,
// with default signal handling and only fds 0 to 2; exec failures come back as their errno;
// the child dies with the thread that started it; nothing is left unreaped.
#include "cni/spawn.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cni/process.h"
#include "cni/scope_guard.h"

namespace cni {
namespace {

namespace fs = std::filesystem;

// A pipe whose ends close with it.
struct Pipe {
  Pipe() {
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::system_category());
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  void close_read() {
    if (fds[0] >= 0) ::close(fds[0]);
    fds[0] = -1;
  }
  void close_write() {
    if (fds[1] >= 0) ::close(fds[1]);
    fds[1] = -1;
  }
  std::string read_all() {
    std::string s;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
    return s;
  }
  int fds[2] = {-1, -1};
};

// An environment block over `vars`, which must outlive it.
std::vector<char*> env_block(std::vector<std::string>& vars) {
  std::vector<char*> block;
  for (auto& v : vars) block.push_back(v.data());
  block.push_back(nullptr);
  return block;
}

class SpawnedChildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cnimux-spawn-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // An executable shell script in the test's directory.
  std::string script(const std::string& name, const std::string& body, mode_t mode = 0755) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    ::chmod(path.c_str(), mode);
    return path;
  }

  std::string dir_;
  ProcessGroupGuard guard_;
  std::vector<std::string> vars_ = {"PATH=/usr/bin:/bin", "GREETING=hello from the env"};
  std::vector<char*> envp_ = env_block(vars_);
};

TEST_F(SpawnedChildTest, RunsTheProgramWithItsEnvironmentAndPipes) {
  const std::string prog =
      script("echoer", "read line; echo \"$GREETING / $line\"; echo \"to stderr\" >&2; exit 3");
  Pipe in, out, err;
  SpawnedChild child(prog, envp_.data(), {in.fds[0], out.fds[1], err.fds[1]}, guard_.pgid());
  in.close_read();
  out.close_write();
  err.close_write();
  ASSERT_EQ(::write(in.fds[1], "from stdin\n", 11), 11);
  in.close_write();
  EXPECT_EQ(out.read_all(), "hello from the env / from stdin\n");
  EXPECT_EQ(err.read_all(), "to stderr\n");
  const int status = child.wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
  EXPECT_EQ(child.exec_errno(), 0);
}

TEST_F(SpawnedChildTest, AFailedExecIsItsErrnoAndExit127) {
  struct Case {
    std::string binary;
    int expected;
  };
  const std::vector<Case> cases = {
      {dir_ + "/missing", ENOENT},
      {script("not-executable", "exit 0", 0644), EACCES},
      {dir_, EACCES},  // a directory
  };
  for (const Case& c : cases) {
    Pipe in;
    SpawnedChild child(c.binary, envp_.data(), {in.fds[0], in.fds[1], in.fds[1]}, guard_.pgid());
    EXPECT_EQ(child.exec_errno(), c.expected) << c.binary;
    const int status = child.wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 127) << c.binary;
  }
}

TEST_F(SpawnedChildTest, TheExecErrnoIsStillThereAfterTheChildIsReaped) {
  Pipe in;
  SpawnedChild child(dir_ + "/missing", envp_.data(), {in.fds[0], in.fds[1], in.fds[1]},
                     guard_.pgid());
  child.wait();
  EXPECT_EQ(child.exec_errno(), ENOENT);
  EXPECT_EQ(child.exec_errno(), ENOENT);  // asked again
}

TEST_F(SpawnedChildTest, IsInTheGroupWhenConstructedAndHoldsOnlyItsStdio) {
  // A descriptor of ours that is not close-on-exec must not reach the program.
  const int leaky = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leaky, 0);
  ScopeGuard close_leaky([leaky] { ::close(leaky); });
  Pipe in, out;
  SpawnedChild child("/bin/cat", envp_.data(), {in.fds[0], out.fds[1], out.fds[1]}, guard_.pgid());
  EXPECT_EQ(::getpgid(child.pid()), guard_.pgid());
  in.close_read();
  out.close_write();
  ASSERT_EQ(child.exec_errno(), 0);
  std::vector<std::string> fds;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(child.pid()) + "/fd")) {
    fds.push_back(e.path().filename());
  }
  std::sort(fds.begin(), fds.end());
  EXPECT_EQ(fds, (std::vector<std::string>{"0", "1", "2"}));
  in.close_write();  // cat ends at EOF
  EXPECT_EQ(child.wait(), 0);
}

// SigBlk, SigIgn and SigCgt of the program, as hex masks.
std::string signal_masks(const std::string& status) {
  std::string masks;
  std::istringstream lines(status);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("SigBlk:", 0) == 0 || line.rfind("SigIgn:", 0) == 0) masks += line + "\n";
  }
  return masks;
}

uint64_t mask_of(const std::string& masks, const std::string& name) {
  const size_t at = masks.find(name + ":");
  return at == std::string::npos ? ~0ULL
                                 : std::stoull(masks.substr(at + name.size() + 1), nullptr, 16);
}

TEST_F(SpawnedChildTest, TheProgramBlocksNothingAndIgnoresOnlyWhatWeIgnoredBesidesSigpipe) {
  // Ours: a handler for SIGUSR1, SIGPIPE and SIGHUP ignored, SIGUSR2 blocked.
  struct sigaction handler {};
  handler.sa_handler = [](int) {};
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction old_usr1 {
  }, old_pipe{}, old_hup{};
  ::sigaction(SIGUSR1, &handler, &old_usr1);
  ::sigaction(SIGPIPE, &ignore, &old_pipe);
  ::sigaction(SIGHUP, &ignore, &old_hup);
  sigset_t usr2, old_mask;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &usr2, &old_mask);
  ScopeGuard restore([&] {
    ::sigaction(SIGUSR1, &old_usr1, nullptr);
    ::sigaction(SIGPIPE, &old_pipe, nullptr);
    ::sigaction(SIGHUP, &old_hup, nullptr);
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  });

  Pipe in, out;
  SpawnedChild child("/bin/cat", envp_.data(), {in.fds[0], out.fds[1], out.fds[1]}, guard_.pgid());
  in.close_read();
  out.close_write();
  ASSERT_EQ(child.exec_errno(), 0);
  std::ifstream status_file("/proc/" + std::to_string(child.pid()) + "/status");
  const std::string masks =
      signal_masks(std::string(std::istreambuf_iterator<char>(status_file), {}));
  in.close_write();
  child.wait();
  const auto bit = [](int sig) { return 1ULL << (sig - 1); };
  EXPECT_EQ(mask_of(masks, "SigBlk"), 0u) << masks;
  EXPECT_EQ(mask_of(masks, "SigIgn") & bit(SIGPIPE), 0u) << masks;
  EXPECT_NE(mask_of(masks, "SigIgn") & bit(SIGHUP), 0u) << masks;
  EXPECT_EQ(mask_of(masks, "SigIgn") & bit(SIGUSR1), 0u) << masks;
}

TEST_F(SpawnedChildTest, DiesWithTheThreadThatStartedIt) {
  Pipe in;
  std::unique_ptr<SpawnedChild> child;
  std::thread starter([&] {
    child = std::make_unique<SpawnedChild>("/bin/cat", envp_.data(),
                                           SpawnedChild::Stdio{in.fds[0], in.fds[1], in.fds[1]},
                                           guard_.pgid());
    ASSERT_EQ(child->exec_errno(), 0);
  });
  starter.join();  // the thread has exited: PR_SET_PDEATHSIG fires
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (child->running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_FALSE(child->running()) << "still running after the thread that started it exited";
  const int status = child->wait();
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

TEST_F(SpawnedChildTest, DestroyingItKillsAndReapsTheChild) {
  Pipe in;
  pid_t pid = 0;
  {
    SpawnedChild child("/bin/cat", envp_.data(), {in.fds[0], in.fds[1], in.fds[1]}, guard_.pgid());
    pid = child.pid();
    ASSERT_EQ(child.exec_errno(), 0);
  }
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1) << "left unreaped";
  EXPECT_EQ(errno, ECHILD);
}

}  // namespace
}  // namespace cni
