// ProcessGroupGuard in both of its forms (a CLONE_VM child, a fork): it leads a group, holds
// only its pipe, shares our memory only when cloned, and kills its group when its owner dies.
#include "cni/process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "cni/scope_guard.h"

namespace cni {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Start = ProcessGroupGuard::Start;

bool eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

// Alive and not a zombie: a zombie still answers kill(pid, 0).
bool process_alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] != 'Z';
}

size_t descriptors_of(pid_t pid) {
  size_t n = 0;
  std::error_code ec;
  for (fs::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end; !ec && it != end;
       it.increment(ec))
    ++n;
  return n;
}

std::string comm_of(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/comm");
  std::string s;
  std::getline(f, s);
  return s;
}

class ProcessGroupGuardTest : public ::testing::TestWithParam<Start> {};

TEST_P(ProcessGroupGuardTest, LeadsItsGroupAndHoldsOnlyItsPipe) {
  pid_t guard_pid = 0;
  {
    ProcessGroupGuard guard(GetParam());
    guard_pid = guard.pgid();
    ASSERT_GT(guard_pid, 0);
    EXPECT_EQ(::getpgid(guard_pid), guard_pid);
    EXPECT_NE(::getpgid(guard_pid), ::getpgrp());
    EXPECT_TRUE(eventually([&] { return comm_of(guard_pid) == "cnimux-guard"; }))
        << comm_of(guard_pid);
    EXPECT_TRUE(eventually([&] { return descriptors_of(guard_pid) == 1; }))
        << "the guard holds " << descriptors_of(guard_pid) << " descriptors";
  }
  // The destructor killed it; it stays a zombie (keeping its group id) until reaped.
  EXPECT_TRUE(eventually([&] { return !process_alive(guard_pid); }));
  reap_killed_guards();
  EXPECT_EQ(::waitpid(guard_pid, nullptr, WNOHANG), -1) << "reap_killed_guards() left it";
  EXPECT_EQ(errno, ECHILD);
}

// Runs `body` in a child that then leaves by exit(0), inside a subreaper of our own: true
// when no process was left to the subreaper (an unreaped guard would be reparented to it).
bool leaves_nothing_to_a_subreaper(const std::function<void()>& body) {
  const pid_t reaper = ::fork();
  if (reaper == 0) {
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    const pid_t worker = ::fork();
    if (worker == 0) {
      body();
      std::exit(0);  // not _exit: the atexit handler is what reaps
    }
    int status = 0;
    if (::waitpid(worker, &status, 0) != worker || !WIFEXITED(status)) ::_exit(2);
    // Anything the worker left is now our child; give a slow death time to arrive.
    std::this_thread::sleep_for(200ms);
    ::_exit(::waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD ? 0 : 1);
  }
  int status = 0;
  ::waitpid(reaper, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST_P(ProcessGroupGuardTest, AKilledGuardIsReapedAtExitNotLeftToASubreaper) {
  const Start how = GetParam();
  EXPECT_TRUE(leaves_nothing_to_a_subreaper([how] {
    for (int i = 0; i < 20; ++i) ProcessGroupGuard guard(how);  // more than the list holds
  }));
}

TEST_P(ProcessGroupGuardTest, AForkedCallReapsTheGuardsItKilled) {
  const Start how = GetParam();
  EXPECT_TRUE(leaves_nothing_to_a_subreaper([how] {
    const ForkOutcome out = run_in_fork(
        [how] {
          ProcessGroupGuard guard(how);
          return std::string("done");
        },
        10s, 64);
    if (!out.finished) std::exit(3);
  }));
}

// Which form each start gives: the clone shares our memory (a write of ours shows in its
// /proc/<pid>/mem), the fork does not.
TEST_P(ProcessGroupGuardTest, SharesOurMemoryOnlyWhenCloned) {
  ProcessGroupGuard guard(GetParam());
#if defined(__x86_64__) || defined(__aarch64__)
  const bool expect_shared = GetParam() == Start::kCloneWherePossible;
#else
  const bool expect_shared = false;
#endif
  EXPECT_EQ(guard.shares_memory(), expect_shared);
  static long runs = 0;
  static volatile long probe = 0;
  const long written = 0x5eed00 + ++runs;  // a value no earlier test wrote, after the start
  probe = written;
  long seen = 0;
  std::ifstream mem("/proc/" + std::to_string(guard.pgid()) + "/mem", std::ios::binary);
  mem.seekg(static_cast<std::streamoff>(reinterpret_cast<uintptr_t>(&probe)));
  mem.read(reinterpret_cast<char*>(&seen), sizeof seen);
  ASSERT_TRUE(mem) << "cannot read the guard's memory";
  EXPECT_EQ(seen == written, expect_shared) << "the guard sees " << seen;
}

// The guard's whole point: its owner is SIGKILLed, so it kills every process in its group.
TEST_P(ProcessGroupGuardTest, KillsItsGroupWhenItsOwnerDies) {
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  const pid_t owner = ::fork();
  ASSERT_GE(owner, 0);
  if (owner == 0) {
    ::close(report[0]);
    ProcessGroupGuard guard(GetParam());
    const pid_t member = ::fork();
    if (member == 0) {
      // A delegate execs, which closes the guard's pipe (O_CLOEXEC); a bare fork would keep
      // it open and hide our death.
      ::setpgid(0, guard.pgid());
      ::execl("/bin/sleep", "sleep", "600", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::setpgid(member, guard.pgid());
    const pid_t pids[2] = {guard.pgid(), member};
    if (::write(report[1], pids, sizeof pids) != sizeof pids) ::_exit(1);
    for (;;) ::pause();
  }
  ::close(report[1]);
  ScopeGuard reap_owner([owner] {
    ::kill(owner, SIGKILL);
    ::waitpid(owner, nullptr, 0);
  });
  pid_t pids[2] = {0, 0};
  ASSERT_EQ(::read(report[0], pids, sizeof pids), static_cast<ssize_t>(sizeof pids));
  ::close(report[0]);
  const pid_t guard_pid = pids[0], member = pids[1];
  ASSERT_TRUE(process_alive(member));
  ASSERT_EQ(::getpgid(member), guard_pid);
  ::kill(owner, SIGKILL);
  ::waitpid(owner, nullptr, 0);
  reap_owner.commit();
  // Orphans are reaped by init (or our subreaper, if the test runner is one): wait for
  // both to be gone or zombies.
  EXPECT_TRUE(eventually([&] { return !process_alive(member); }))
      << "member " << member << " outlived its guard's owner";
  EXPECT_TRUE(eventually([&] { return !process_alive(guard_pid); }));
  if (process_alive(member)) ::kill(member, SIGKILL);
}

INSTANTIATE_TEST_SUITE_P(BothForms, ProcessGroupGuardTest,
                         ::testing::Values(Start::kCloneWherePossible, Start::kFork),
                         [](const auto& info) {
                           return info.param == Start::kFork ? "Fork" : "Clone";
                         });

}  // namespace
}  // namespace cni
