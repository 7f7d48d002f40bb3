// Black-box tests of the skeleton: executes cnimux-test-skeleton the way a runtime does
// (a clean environment, config on stdin) and checks the exit status and that stdout holds
// exactly one JSON object, or nothing for a silent success.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using EnvMap = std::map<std::string, std::string>;

const char* kPluginBinary = CNIMUX_BINARY_DIR "/test/fakes/skeleton_plugin/cnimux-test-skeleton";

struct PluginRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class SkeletonBlackbox : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kPluginBinary))
        << kPluginBinary << " is missing: build the cnimux-test-skeleton target first";
    std::string tmpl = (fs::temp_directory_path() / ("cxt" + std::to_string(getpid()) + "-XXXXXX"));
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // Runs the plugin with exactly `env` and `stdin_bytes`; stdout and stderr go to files so
  // neither pipe can fill up. Waits at most 20 s, then kills it and fails.
  PluginRun run(const EnvMap& env, const std::string& stdin_bytes) {
    std::ofstream(dir_ / "stdin", std::ios::binary) << stdin_bytes;
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    pid_t pid = fork();
    if (pid == 0) exec_child(envp.data());
    PluginRun r;
    if (pid < 0) {
      ADD_FAILURE() << "fork failed";
      return r;
    }
    r.exit_code = wait_bounded(pid);
    r.out = slurp(dir_ / "stdout");
    r.err = slurp(dir_ / "stderr");
    return r;
  }

  // Parses stdout as exactly one JSON object on one line, followed by nothing.
  static Json one_object(const PluginRun& r) {
    EXPECT_FALSE(r.out.empty()) << "stderr: " << r.err;
    if (r.out.empty()) return Json();
    EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << "not exactly one line: " << r.out;
    Json j = Json::parse(r.out, nullptr, /*allow_exceptions=*/false);  // trailing text fails
    EXPECT_TRUE(j.is_object()) << "stdout is not one JSON object: " << r.out;
    return j;
  }

  static EnvMap env_for(const std::string& verb) {
    return {{"CNI_COMMAND", verb},
            {"CNI_CONTAINERID", "cxt-blackbox-1"},
            {"CNI_NETNS", "/var/run/netns/cxt-blackbox"},
            {"CNI_IFNAME", "eth0"},
            {"CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web"},
            {"CNI_PATH", "/opt/cni/bin:/usr/lib/cni"}};
  }

  static std::string config(const std::string& version, const std::string& extra = "") {
    return R"({"cniVersion": ")" + version +
           R"(", "name": "bbnet", "type": "cnimux-test-skeleton")" + extra + "}";
  }

 private:
  [[noreturn]] void exec_child(char** envp) {
    int in = open((dir_ / "stdin").c_str(), O_RDONLY);
    int out = open((dir_ / "stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open((dir_ / "stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0 || err < 0) _exit(127);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    char* argv[] = {const_cast<char*>(kPluginBinary), nullptr};
    execve(kPluginBinary, argv, envp);
    _exit(127);
  }

  static int wait_bounded(pid_t pid) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        ADD_FAILURE() << "plugin did not exit within 20 s";
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  fs::path dir_;
};

TEST_F(SkeletonBlackbox, VersionAnswersTheAskedVersion) {
  PluginRun r = run({{"CNI_COMMAND", "VERSION"}}, R"({"cniVersion": "1.0.0"})");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(one_object(r), Json::parse(R"({"cniVersion": "1.0.0", "supportedVersions":
      ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]})"));
}

TEST_F(SkeletonBlackbox, VersionProbeLikeLibcniWithEmptyStdin) {
  EnvMap env = {{"CNI_COMMAND", "VERSION"},
                {"CNI_NETNS", "dummy"},
                {"CNI_IFNAME", "dummy"},
                {"CNI_PATH", "dummy"}};
  PluginRun r = run(env, "");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(one_object(r)["cniVersion"], "1.1.0");
}

TEST_F(SkeletonBlackbox, AddPrintsOneResultInEveryVersion) {
  for (const char* v : {"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}) {
    PluginRun r = run(env_for("ADD"), config(v));
    EXPECT_EQ(r.exit_code, 0) << v << ": " << r.out;
    Json j = one_object(r);
    EXPECT_EQ(j["cniVersion"], v);
    if (std::string(v) < "0.3.0") {
      EXPECT_EQ(j["ip4"]["ip"], "10.99.0.5/24") << j;
    } else {
      EXPECT_EQ(j["ips"][0]["address"], "10.99.0.5/24") << j;
      EXPECT_EQ(j["interfaces"][0]["name"], "eth0");
      EXPECT_EQ(j["interfaces"][0]["sandbox"], "/var/run/netns/cxt-blackbox");
    }
  }
}

TEST_F(SkeletonBlackbox, AddAt110HasTheFullShape) {
  PluginRun r = run(env_for("ADD"), config("1.1.0"));
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(one_object(r), Json::parse(R"({"cniVersion": "1.1.0",
      "interfaces": [{"name": "eth0", "mac": "0a:58:0a:63:00:05", "mtu": 1500,
                      "sandbox": "/var/run/netns/cxt-blackbox"}],
      "ips": [{"address": "10.99.0.5/24", "gateway": "10.99.0.1", "interface": 0}],
      "routes": [{"dst": "0.0.0.0/0", "gw": "10.99.0.1"}],
      "dns": {"nameservers": ["10.99.0.10"]}})"));
}

TEST_F(SkeletonBlackbox, SilentVerbsPrintNothing) {
  for (const char* verb : {"DEL", "CHECK", "STATUS", "GC"}) {
    PluginRun r = run(env_for(verb), config("1.1.0"));
    EXPECT_EQ(r.exit_code, 0) << verb << ": " << r.out << r.err;
    EXPECT_EQ(r.out, "") << verb;
  }
}

TEST_F(SkeletonBlackbox, SecondDelWithoutNetnsSucceeds) {
  EnvMap env = env_for("DEL");
  env["CNI_NETNS"] = "";
  PluginRun r = run(env, config("1.0.0"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "");
}

TEST_F(SkeletonBlackbox, StatusAndGcNeedOnlyTheirVariables) {
  PluginRun status = run({{"CNI_COMMAND", "STATUS"}}, config("1.1.0"));
  EXPECT_EQ(status.exit_code, 0) << status.out;
  PluginRun gc = run({{"CNI_COMMAND", "GC"}, {"CNI_PATH", "/usr/lib/cni"}},
                     config("1.1.0", R"(, "cni.dev/valid-attachments": [])"));
  EXPECT_EQ(gc.exit_code, 0) << gc.out;
  EXPECT_EQ(status.out + gc.out, "");
}

struct BadCall {
  std::string name;
  std::string verb;
  EnvMap changes;  // "<unset>" removes the variable
  std::string stdin_bytes;
  int code;
  std::string in_msg;         // part of the message
  std::string error_version;  // the error object's cniVersion
};

void PrintTo(const BadCall& c, std::ostream* os) {
  *os << c.name;
}

class SkeletonBlackboxErrors : public SkeletonBlackbox,
                               public testing::WithParamInterface<BadCall> {};

TEST_P(SkeletonBlackboxErrors, PrintOneErrorObjectAndExit1) {
  const BadCall& c = GetParam();
  EnvMap env = env_for(c.verb);
  for (const auto& [k, v] : c.changes) {
    if (v == "<unset>") {
      env.erase(k);
    } else {
      env[k] = v;
    }
  }
  PluginRun r = run(env, c.stdin_bytes);
  EXPECT_EQ(r.exit_code, 1);
  Json j = one_object(r);
  EXPECT_EQ(j["code"], c.code) << j;
  EXPECT_NE(j.value("msg", "").find(c.in_msg), std::string::npos) << j;
  EXPECT_EQ(j["cniVersion"], c.error_version) << j;
  // The failure is logged on stderr with the container ID and verb, never on stdout.
  EXPECT_NE(r.err.find("verb=" + env["CNI_COMMAND"]), std::string::npos) << r.err;
}

const std::string kGood10 = R"({"cniVersion": "1.0.0", "name": "bbnet", "type": "t"})";
const std::string kGood11 = R"({"cniVersion": "1.1.0", "name": "bbnet", "type": "t"})";

// kGood10 with `key` holding arrays nested `depth` deep.
std::string nested_under(const std::string& key, int depth) {
  return R"({"cniVersion": "1.0.0", "name": "bbnet", "type": "t", ")" + key +
         "\": " + std::string(depth, '[') + std::string(depth, ']') + "}";
}

// kGood10 padded with trailing spaces to `size` bytes.
std::string padded(size_t size) {
  return kGood10 + std::string(size - kGood10.size(), ' ');
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SkeletonBlackboxErrors,
    testing::Values(
        BadCall{
            "NoCommand", "ADD", {{"CNI_COMMAND", "<unset>"}}, kGood10, 4, "CNI_COMMAND", "1.0.0"},
        BadCall{"UnknownCommand", "FROB", {}, kGood10, 4, "\"FROB\"", "1.0.0"},
        BadCall{"AddWithoutIfname",
                "ADD",
                {{"CNI_IFNAME", "<unset>"}},
                kGood10,
                4,
                "CNI_IFNAME",
                "1.0.0"},
        BadCall{
            "AddWithoutNetns", "ADD", {{"CNI_NETNS", "<unset>"}}, kGood10, 4, "CNI_NETNS", "1.0.0"},
        BadCall{"DelWithoutContainerId",
                "DEL",
                {{"CNI_CONTAINERID", "<unset>"}},
                kGood10,
                4,
                "CNI_CONTAINERID",
                "1.0.0"},
        BadCall{"EmptyContainerId",
                "ADD",
                {{"CNI_CONTAINERID", ""}},
                kGood10,
                3,
                "container ID",
                "1.0.0"},
        BadCall{
            "BadContainerId", "ADD", {{"CNI_CONTAINERID", "-x"}}, kGood10, 4, "\"-x\"", "1.0.0"},
        BadCall{"LongIfname",
                "CHECK",
                {{"CNI_IFNAME", "abcdefghijklmnop"}},
                kGood10,
                4,
                "\"abcdefghijklmnop\"",
                "1.0.0"},
        BadCall{
            "IfnameWithSpace", "ADD", {{"CNI_IFNAME", "eth 0"}}, kGood10, 4, "whitespace", "1.0.0"},
        BadCall{
            "BadCniArgs", "ADD", {{"CNI_ARGS", "K8S_POD_NAME"}}, kGood10, 4, "CNI_ARGS", "1.0.0"},
        BadCall{"GcWithoutPath", "GC", {{"CNI_PATH", "<unset>"}}, kGood11, 4, "CNI_PATH", "1.1.0"},
        BadCall{"EmptyStdin", "ADD", {}, "", 6, "stdin", "1.1.0"},
        BadCall{"BadJson", "ADD", {}, R"({"cniVersion": "1.0.0",)", 6, "byte", "1.1.0"},
        BadCall{"MissingType",
                "ADD",
                {},
                R"({"cniVersion": "0.4.0", "name": "n"})",
                7,
                "type",
                "0.4.0"},
        BadCall{"BadNetworkName",
                "ADD",
                {},
                R"({"cniVersion": "1.0.0", "name": "a b", "type": "t"})",
                7,
                "\"a b\"",
                "1.0.0"},
        BadCall{"UnknownVersion",
                "ADD",
                {},
                R"({"cniVersion": "9.9.9", "name": "n", "type": "t"})",
                1,
                "9.9.9",
                "1.1.0"},
        BadCall{"CheckBelow040",
                "CHECK",
                {},
                R"({"cniVersion": "0.3.1", "name": "n", "type": "t"})",
                1,
                "config version does not allow CHECK",
                "0.3.1"},
        BadCall{"StatusBelow110", "STATUS", {}, kGood10, 1, "STATUS", "1.0.0"},
        BadCall{"GcBelow110", "GC", {}, kGood10, 1, "GC", "1.0.0"},
        BadCall{"PluginError",
                "ADD",
                {},
                R"({"cniVersion": "0.4.0", "name": "n", "type": "t", "fail": 11})",
                11,
                "code 11",
                "0.4.0"},
        BadCall{"PluginErrorOnDel",
                "DEL",
                {},
                R"({"cniVersion": "1.1.0", "name": "n", "type": "t", "fail": 50})",
                50,
                "code 50",
                "1.1.0"},
        // Limits (docs/configuration.md, "Limits").
        BadCall{"StdinPastFourMiB",
                "ADD",
                {},
                padded(5 << 20),
                6,
                "stdin: 5242880 bytes, more than the limit of 4194304 bytes (4 MiB)",
                "1.1.0"},
        BadCall{"DeepArgs",
                "ADD",
                {},
                nested_under("args", 100000),
                6,
                "stdin: JSON nested deeper than 128 levels",
                "1.1.0"},
        BadCall{"DeepPrevResultOnDel",
                "DEL",
                {},
                nested_under("prevResult", 100000),
                6,
                "stdin: JSON nested deeper than 128 levels",
                "1.1.0"},
        BadCall{"IfnamePercent", "ADD", {{"CNI_IFNAME", "eth%d"}}, kGood10, 4, "'%'", "1.0.0"},
        BadCall{"IfnameLo", "ADD", {{"CNI_IFNAME", "lo"}}, kGood10, 4, "loopback", "1.0.0"},
        BadCall{
            "IfnameNotUtf8", "ADD", {{"CNI_IFNAME", "eth\xff"}}, kGood10, 4, "CNI_IFNAME", "1.0.0"},
        BadCall{"NetnsNotUtf8",
                "ADD",
                {{"CNI_NETNS", "/run/netns/\xff"}},
                kGood10,
                4,
                "CNI_NETNS is not valid UTF-8",
                "1.0.0"},
        BadCall{"ArgsNotUtf8",
                "DEL",
                {{"CNI_ARGS", "K8S_POD_NAME=\xff"}},
                kGood10,
                4,
                "CNI_ARGS is not valid UTF-8",
                "1.0.0"},
        BadCall{"ContainerIdPast240",
                "ADD",
                {{"CNI_CONTAINERID", std::string(251, 'c')}},
                kGood10,
                4,
                "251 characters, more than the limit of 240",
                "1.0.0"},
        BadCall{"PluginThrows",
                "ADD",
                {},
                R"({"cniVersion": "1.0.0", "name": "n", "type": "t", "throw": true})",
                199,
                "internal error",
                "1.0.0"}),
    [](const testing::TestParamInfo<BadCall>& info) { return info.param.name; });

TEST_F(SkeletonBlackbox, InputsWithinTheLimitsAreAccepted) {
  // 1 MiB of stdin, 64 levels under args, a 240-character container ID.
  for (const std::string& conf : {padded(1 << 20), nested_under("args", 64)}) {
    PluginRun r = run(env_for("ADD"), conf);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(one_object(r)["cniVersion"], "1.0.0");
  }
  EnvMap env = env_for("ADD");
  env["CNI_CONTAINERID"] = std::string(240, 'c');
  EXPECT_EQ(run(env, kGood10).exit_code, 0);
}

TEST_F(SkeletonBlackbox, DebugLoggingNeverReachesStdout) {
  EnvMap env = env_for("ADD");
  env["CNIMUX_LOG_LEVEL"] = "trace";
  PluginRun r = run(env, config("1.1.0", R"(, "fail": 7)"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(one_object(r)["code"], 7);
  EXPECT_NE(r.err.find("cnimux-test-skeleton["), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cid=cxt-blackbox-1 verb=ADD"), std::string::npos) << r.err;
}

}  // namespace
