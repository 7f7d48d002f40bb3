// Tests of net::Netns and NetnsEnter against real namespaces: entering and leaving, the
// thread's return on exceptions, per-thread scope, and "gone" versus other open failures.
#include "net/netns.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <stdexcept>
#include <thread>

#include "test/fakes/test_netns.h"

namespace net {
namespace {

using cni::Error;
using cni::kInvalidConfig;
using cni::kIoFailure;
using cnimux_test::test_prefix;
using cnimux_test::TestNetns;
using ::testing::HasSubstr;

ino_t thread_netns_inode() {
  struct stat st {};
  EXPECT_EQ(stat("/proc/thread-self/ns/net", &st), 0);
  return st.st_ino;
}

// A scratch directory removed on destruction.
class TempDir {
 public:
  TempDir() : path_(std::filesystem::temp_directory_path() / (test_prefix() + "netns")) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directory(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(NetnsTest, CurrentIsTheThreadsNamespace) {
  Netns self = Netns::current();
  EXPECT_EQ(self.inode(), thread_netns_inode());
  EXPECT_TRUE(self.same_as(Netns::open("/proc/self/ns/net")));
}

TEST(NetnsTest, OpenByPathNamesADifferentNamespace) {
  TestNetns ns("a");
  Netns opened = Netns::open(ns.path());
  EXPECT_EQ(opened.path(), ns.path());
  EXPECT_GE(opened.fd(), 0);
  EXPECT_NE(opened.inode(), thread_netns_inode());
  EXPECT_FALSE(opened.same_as(Netns::current()));
}

TEST(NetnsTest, EnterMovesTheThreadAndLeavingRestoresIt) {
  TestNetns ns("a");
  Netns target = Netns::open(ns.path());
  ino_t home = thread_netns_inode();
  {
    NetnsEnter guard(target);
    EXPECT_EQ(thread_netns_inode(), target.inode());
  }
  EXPECT_EQ(thread_netns_inode(), home);
}

TEST(NetnsTest, WithNetnsReturnsTheResultComputedInside) {
  TestNetns ns("a");
  Netns target = Netns::open(ns.path());
  ino_t inside = with_netns(target, [] { return thread_netns_inode(); });
  EXPECT_EQ(inside, target.inode());
  EXPECT_NE(thread_netns_inode(), target.inode());
}

TEST(NetnsTest, ThreadReturnsHomeWhenTheBodyThrows) {
  TestNetns ns("a");
  Netns target = Netns::open(ns.path());
  ino_t home = thread_netns_inode();
  ino_t seen = 0;
  EXPECT_THROW(with_netns(target,
                          [&]() -> int {
                            seen = thread_netns_inode();
                            throw std::runtime_error("boom inside the pod");
                          }),
               std::runtime_error);
  EXPECT_EQ(seen, target.inode());
  EXPECT_EQ(thread_netns_inode(), home);
}

TEST(NetnsTest, EnteringAffectsOnlyTheCallingThread) {
  TestNetns ns("a");
  Netns target = Netns::open(ns.path());
  ino_t home = thread_netns_inode();
  std::promise<ino_t> entered;
  std::promise<void> release;
  std::thread worker([&] {
    NetnsEnter guard(target);
    entered.set_value(thread_netns_inode());
    release.get_future().wait();
  });
  EXPECT_EQ(entered.get_future().get(), target.inode());
  EXPECT_EQ(thread_netns_inode(), home);  // the worker is inside right now; we are not
  release.set_value();
  worker.join();
}

TEST(NetnsTest, DeletedNamespaceIsGone) {
  TestNetns ns("a");
  std::string path = ns.path();
  ns.remove();
  try {
    Netns::open(path);
    FAIL() << "opening a deleted netns succeeded";
  } catch (const NetnsGoneError& e) {
    EXPECT_EQ(e.code(), kIoFailure);
    EXPECT_EQ(e.path(), path);
    EXPECT_THAT(e.msg(), HasSubstr(path));
  }
}

TEST(NetnsTest, UnmountedMountPointIsGone) {
  // What a runtime leaves when it unmounts the namespace but not the file under it.
  TempDir dir;
  std::string path = dir.file("leftover");
  std::ofstream(path).close();
  EXPECT_THROW(Netns::open(path), NetnsGoneError);
}

TEST(NetnsTest, NamespaceOfAnotherTypeIsAnErrorButNotGone) {
  try {
    Netns::open("/proc/self/ns/uts");
    FAIL() << "a UTS namespace was accepted as a network namespace";
  } catch (const NetnsGoneError& e) {
    FAIL() << "reported as gone: " << e.what();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), kIoFailure);
    EXPECT_THAT(e.msg(), HasSubstr("\"/proc/self/ns/uts\""));
    EXPECT_THAT(e.msg(), HasSubstr("not a network namespace"));
  }
}

TEST(NetnsTest, BrokenPathIsAnErrorButNotGone) {
  TempDir dir;
  std::string file = dir.file("plain");
  std::ofstream(file).close();
  std::string path = file + "/net";  // ENOTDIR: the path itself is wrong, not the netns
  try {
    Netns::open(path);
    FAIL() << "opened " << path;
  } catch (const NetnsGoneError& e) {
    FAIL() << "reported as gone: " << e.what();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), kIoFailure);
    EXPECT_THAT(e.msg(), HasSubstr(path));
  }
}

// Child exit codes for the permission test.
enum ChildOutcome { kNotGoneError = 0, kGone = 1, kOpened = 2, kOther = 3, kNoDrop = 4 };

TEST(NetnsTest, PermissionDeniedIsAnErrorButNotGone) {
  // Root bypasses file permissions, so an unprivileged child makes the attempt.
  TestNetns ns("a");
  TempDir dir;
  std::string link = dir.file("net");
  std::filesystem::create_symlink(ns.path(), link);
  chmod(dir.path().c_str(), 0700);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) _exit(kNoDrop);
    try {
      Netns::open(link);
      _exit(kOpened);
    } catch (const NetnsGoneError&) {
      _exit(kGone);
    } catch (const Error& e) {
      _exit(e.code() == kIoFailure && e.msg().find(link) != std::string::npos ? kNotGoneError
                                                                              : kOther);
    } catch (...) {
      _exit(kOther);
    }
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), kNotGoneError);
}

TEST(NetnsTest, MovedNetnsKeepsItsFdAndCloses) {
  TestNetns ns("a");
  Netns a = Netns::open(ns.path());
  int fd = a.fd();
  Netns b = std::move(a);
  EXPECT_EQ(b.fd(), fd);
  EXPECT_EQ(a.fd(), -1);  // NOLINT(bugprone-use-after-move): moved-from state is specified
  { Netns gone = std::move(b); }
  EXPECT_EQ(fcntl(fd, F_GETFD), -1);  // closed by the destructor
}

}  // namespace
}  // namespace net
