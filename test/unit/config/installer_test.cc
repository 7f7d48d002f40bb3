// Runs config/install-cnimux.sh (the DaemonSet's entrypoint) against a fake host root and a
// fake service-account dir: files appear only by rename (inotify shows it), binaries and the
// kubeconfig before the conflist, the conflist only once the cluster network's own config
// exists, the token refresh, and a second installer over a running one. Never touches the
// real /etc/cni or /opt/cni: every path is under a temporary root.
#include <fcntl.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "test/fakes/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::string kInstaller = std::string(CNIMUX_SOURCE_DIR) + "/config/install-cnimux.sh";
const std::string kConflist = std::string(CNIMUX_SOURCE_DIR) + "/config/00-cnimux.conflist";
const std::vector<std::string> kBinaries = {"cnimux",        "cnimux-ipam",        "cnimux-macvlan",
                                            "cnimux-ipvlan", "cnimux-host-device", "cnimux-sriov"};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Writes `text` to `path` by rename, as kubelet swaps a projected token and a CNI installs
// its config.
void put(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path + ".t") << text;
  fs::rename(path + ".t", path);
}

// Polls `done` until it holds or 30 s pass: waiting for an event, not for time.
template <typename F>
bool eventually(F&& done) {
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

// One run of the installer; killed (SIGKILL) and reaped when the test ends, also on failure.
class Installer {
 public:
  Installer(const std::vector<std::string>& env, const std::string& log,
            const std::vector<std::string>& prefix = {}) {
    std::vector<std::string> argv = prefix;
    argv.insert(argv.end(), {"/bin/sh", kInstaller});
    std::vector<char*> args, envp;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    for (auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      dup2(fd, 2);
      dup2(fd, 1);
      execve(args[0], args.data(), envp.data());
      _exit(127);
    }
  }
  ~Installer() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // The exit status once it exits (within 30 s), else -1.
  int wait() {
    int status = 0;
    if (!eventually([&] { return waitpid(pid_, &status, WNOHANG) == pid_; })) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  void signal(int sig) const { kill(pid_, sig); }

 private:
  pid_t pid_ = -1;
};

// inotify events on a few directories, in the order they happened.
class Watch {
 public:
  Watch() : fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {}
  ~Watch() { close(fd_); }
  void add(const std::string& dir) {
    wd_[inotify_add_watch(fd_, dir.c_str(), IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO)] =
        dir;
  }
  struct Event {
    std::string path;
    uint32_t mask;
  };
  std::vector<Event> drain() {
    std::vector<Event> out;
    alignas(inotify_event) char buf[65536];
    for (ssize_t n; (n = read(fd_, buf, sizeof buf)) > 0;) {
      for (char* p = buf; p < buf + n;) {
        auto* e = reinterpret_cast<inotify_event*>(p);
        out.push_back({wd_[e->wd] + "/" + (e->len ? e->name : ""), e->mask});
        p += sizeof(inotify_event) + e->len;
      }
    }
    return out;
  }

 private:
  int fd_;
  std::map<int, std::string> wd_;
};

class InstallerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = dir_.file("src");
    for (const auto& b : kBinaries) put(src_ + "/" + b, "#!/bin/sh\necho " + b + " v1\n");
    put(src_ + "/cnimuxctl", "#!/bin/sh\necho cnimuxctl v1\n");
    put(src_ + "/lib/libfake.so.1", "not really a library\n");
    put(sa_ + "/token", "token-1\n");
    put(sa_ + "/ca.crt", "-----BEGIN CERTIFICATE-----\nfake\n");
    fs::create_directories(bin_ + "/cnimux.d/lib");
    fs::create_directories(conf_ + "/cnimux.d");
  }

  std::vector<std::string> env(bool once, const std::string& refresh = "60") const {
    return {"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "CNIMUX_HOST_ROOT=" + host_,
            "CNIMUX_SOURCE_DIR=" + src_,
            "CNIMUX_CONFLIST=" + kConflist,
            "CNIMUX_SA_DIR=" + sa_,
            "CNIMUX_INSTALL_ONCE=" + std::string(once ? "true" : "false"),
            "CNIMUX_TOKEN_REFRESH_SECONDS=" + refresh,
            "CNIMUX_POLL_SECONDS=0.02",
            "KUBERNETES_SERVICE_HOST=10.96.0.1",
            "KUBERNETES_SERVICE_PORT=443"};
  }

  // The cluster network's own config, named as config/00-cnimux.conflist's clusterNetwork.
  void cluster_network_config() {
    put(conf_ + "/10-calico.conflist",
        R"({"name": "k8s-pod-network", "cniVersion": "1.0.0", "plugins": [{"type": "calico"}]})");
  }

  // Everything the installer writes, with the content it must have.
  void expect_installed() const {
    for (const auto& b : kBinaries) {
      EXPECT_EQ(slurp(bin_ + "/" + b), slurp(src_ + "/" + b)) << b;
      EXPECT_EQ(fs::status(bin_ + "/" + b).permissions() & fs::perms::all, fs::perms(0755));
    }
    EXPECT_EQ(slurp(bin_ + "/cnimux.d/lib/libfake.so.1"), slurp(src_ + "/lib/libfake.so.1"));
    // cnimuxctl runs on the host (its loader is in cnimux.d/lib), but is no CNI plugin.
    EXPECT_EQ(slurp(bin_ + "/cnimux.d/cnimuxctl"), slurp(src_ + "/cnimuxctl"));
    EXPECT_FALSE(fs::exists(bin_ + "/cnimuxctl"));
    EXPECT_EQ(slurp(conf_ + "/00-cnimux.conflist"), slurp(kConflist));
    const std::string kc = slurp(conf_ + "/cnimux.d/cnimux.kubeconfig");
    EXPECT_THAT(kc, ::testing::HasSubstr("server: https://10.96.0.1:443"));
    EXPECT_THAT(kc, ::testing::HasSubstr("tokenFile: /etc/cni/net.d/cnimux.d/token"));
    EXPECT_EQ(fs::status(conf_ + "/cnimux.d/token").permissions() & fs::perms::all,
              fs::perms(0600));
    EXPECT_EQ(fs::status(conf_ + "/cnimux.d").permissions() & fs::perms::all, fs::perms(0700));
  }

  // No temporary file is left behind in a directory the runtime reads.
  void expect_no_leftovers() const {
    for (const auto& d :
         {bin_, bin_ + "/cnimux.d", bin_ + "/cnimux.d/lib", conf_, conf_ + "/cnimux.d"}) {
      for (const auto& e : fs::directory_iterator(d)) {
        EXPECT_NE(e.path().filename().string()[0], '.') << e.path();
      }
    }
  }

  cnimux_test::TempDir dir_{"inst"};
  std::string host_ = dir_.file("host");
  std::string bin_ = host_ + "/opt/cni/bin";
  std::string conf_ = host_ + "/etc/cni/net.d";
  std::string sa_ = dir_.file("sa");
  std::string src_;
  std::string log_ = dir_.file("install.log");
};

TEST_F(InstallerTest, EveryFileAppearsByRenameAndTheConflistLast) {
  cluster_network_config();
  Watch watch;
  for (const auto& d :
       {bin_, bin_ + "/cnimux.d", bin_ + "/cnimux.d/lib", conf_, conf_ + "/cnimux.d"})
    watch.add(d);
  Installer run(env(true), log_);
  ASSERT_EQ(run.wait(), 0) << slurp(log_);
  expect_installed();
  expect_no_leftovers();
  std::vector<std::string> finals = {
      conf_ + "/00-cnimux.conflist", conf_ + "/cnimux.d/cnimux.kubeconfig",
      conf_ + "/cnimux.d/token", bin_ + "/cnimux.d/lib/libfake.so.1", bin_ + "/cnimux.d/cnimuxctl"};
  for (const auto& b : kBinaries) finals.push_back(bin_ + "/" + b);
  std::vector<std::string> moved;
  for (const auto& e : watch.drain()) {
    if (e.mask & IN_MOVED_TO) {
      moved.push_back(e.path);
    } else {
      // Created or written under its final name: a runtime could read it half-written.
      for (const auto& f : finals)
        EXPECT_NE(e.path, f) << "written in place (mask " << e.mask << ")";
    }
  }
  for (const auto& f : finals) {
    EXPECT_NE(std::find(moved.begin(), moved.end(), f), moved.end()) << f << " not renamed in";
  }
  // The conflist is the last file renamed in: what it names is there before a runtime sees it.
  ASSERT_FALSE(moved.empty());
  EXPECT_EQ(moved.back(), conf_ + "/00-cnimux.conflist");
}

TEST_F(InstallerTest, TheConflistWaitsForTheClusterNetworksOwnConfig) {
  put(conf_ + "/05-other.conflist", R"({"name": "other-net", "plugins": [{"type": "bridge"}]})");
  Installer run(env(true), log_);
  // The installer says it waits; until the cluster network's config exists, no conflist.
  ASSERT_TRUE(eventually([&] {
    return slurp(log_).find("waiting for the cluster network") != std::string::npos;
  })) << slurp(log_);
  EXPECT_THAT(slurp(log_), ::testing::HasSubstr("k8s-pod-network"));
  EXPECT_FALSE(fs::exists(conf_ + "/00-cnimux.conflist"))
      << "a node must not start pods through cnimux before its cluster network is there";
  EXPECT_TRUE(fs::exists(bin_ + "/cnimux"));  // the binaries need not wait
  cluster_network_config();
  ASSERT_EQ(run.wait(), 0) << slurp(log_);
  expect_installed();
}

TEST_F(InstallerTest, TheRefreshRewritesTheTokenByRename) {
  cluster_network_config();
  Installer run(env(false, "0.02"), log_);
  ASSERT_TRUE(eventually([&] { return fs::exists(conf_ + "/00-cnimux.conflist"); })) << slurp(log_);
  const std::string kubeconfig = slurp(conf_ + "/cnimux.d/cnimux.kubeconfig");
  put(sa_ + "/token", "token-2\n");  // kubelet rotated the projected token
  ASSERT_TRUE(eventually([&] { return slurp(conf_ + "/cnimux.d/token") == "token-2\n"; }))
      << slurp(log_);
  EXPECT_EQ(fs::status(conf_ + "/cnimux.d/token").permissions() & fs::perms::all, fs::perms(0600));
  EXPECT_EQ(slurp(conf_ + "/cnimux.d/cnimux.kubeconfig"), kubeconfig);  // names it by file
  run.signal(SIGTERM);
  EXPECT_EQ(run.wait(), 0) << slurp(log_);
  expect_installed();  // stopping the DaemonSet's pod leaves the node working
  expect_no_leftovers();
}

TEST_F(InstallerTest, ASecondRunOverARunningInstallIsSafe) {
  cluster_network_config();
  Installer first(env(false, "0.02"), log_);
  ASSERT_TRUE(eventually([&] { return fs::exists(conf_ + "/00-cnimux.conflist"); })) << slurp(log_);
  // An upgrade: new binaries, run again while the first installer still refreshes.
  for (const auto& b : kBinaries) put(src_ + "/" + b, "#!/bin/sh\necho " + b + " v2\n");
  Installer second(env(true), log_);
  ASSERT_EQ(second.wait(), 0) << slurp(log_);
  expect_installed();
  expect_no_leftovers();
  put(sa_ + "/token", "token-3\n");
  ASSERT_TRUE(eventually([&] { return slurp(conf_ + "/cnimux.d/token") == "token-3\n"; }))
      << slurp(log_);
  first.signal(SIGTERM);
  EXPECT_EQ(first.wait(), 0) << slurp(log_);
}

// Every container's installer is PID 1, so a temporary name made from $$ is the same in the
// old and the new pod of a rolling update, and a leftover of that name (or a symlink planted
// there) would be written through. Temporary files must be fresh (mktemp).
TEST_F(InstallerTest, ALeftoverTemporaryNameIsNeverWrittenThrough) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for a PID namespace (unshare --pid)";
  cluster_network_config();
  const std::string canary = dir_.file("canary");
  put(canary, "untouched\n");
  std::vector<std::string> names;
  for (const auto& b : kBinaries) names.push_back(bin_ + "/." + b + ".tmp.1");
  names.push_back(bin_ + "/cnimux.d/lib/.libfake.so.1.tmp.1");
  names.push_back(conf_ + "/.00-cnimux.conflist.tmp.1");
  names.push_back(conf_ + "/cnimux.d/.token.tmp.1");
  names.push_back(conf_ + "/cnimux.d/.ca.crt.tmp.1");
  names.push_back(conf_ + "/cnimux.d/.cnimux.kubeconfig.tmp");
  for (const auto& n : names) fs::create_symlink(canary, n);
  Installer run(env(true), log_, {"/usr/bin/unshare", "--pid", "--fork"});
  EXPECT_EQ(run.wait(), 0) << slurp(log_);
  EXPECT_EQ(slurp(canary), "untouched\n");
  for (const auto& n : names) fs::remove(n);
  expect_installed();
}

}  // namespace
