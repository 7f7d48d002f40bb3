// Tests of cni::dispatch with a recording test plugin: version negotiation, per-verb
// output, and how every kind of failure becomes one error object.
#include "cni/skeleton.h"

#include <gtest/gtest.h>

#include <system_error>

#include "cni/error.h"
#include "cni/version.h"

namespace cni {
namespace {

class RecordingPlugin : public Plugin {
 public:
  Result add(const Request& req) override {
    record(req, "add");
    if (add_throws) add_throws();
    return result;
  }
  void del(const Request& req) override { record(req, "del"); }
  void check(const Request& req) override { record(req, "check"); }
  void status(const Request& req) override { record(req, "status"); }
  void gc(const Request& req) override { record(req, "gc"); }
  std::vector<std::string> versions() const override { return supported; }

  std::vector<std::string> supported = supported_versions();
  std::function<void()> add_throws;
  Result result;
  std::vector<std::string> calls;
  std::optional<Request> last;

 private:
  void record(const Request& req, const char* verb) {
    calls.push_back(verb);
    last = req;
  }
};

Invocation invocation(Verb verb) {
  Invocation inv;
  inv.verb = verb;
  inv.container_id = "c1";
  inv.netns = "/var/run/netns/c1";
  inv.ifname = "eth0";
  return inv;
}

std::string config(const std::string& version, const std::string& extra = "") {
  return R"({"cniVersion": ")" + version + R"(", "name": "net1", "type": "test")" + extra + "}";
}

Json parsed(const DispatchOutcome& out) {
  return Json::parse(out.stdout_json);
}

class SkeletonTest : public testing::Test {
 protected:
  SkeletonTest() {
    plugin.result.interfaces.push_back({.name = "eth0", .mtu = 1500});
    plugin.result.ips.push_back({.address = "10.9.0.2/24", .gateway = "10.9.0.1", .interface = 0});
  }
  DispatchOutcome run(Verb verb, const std::string& stdin_bytes) {
    return dispatch(plugin, invocation(verb), stdin_bytes);
  }
  // Asserts an error outcome and returns its object.
  Json expect_error(const DispatchOutcome& out, int code) {
    EXPECT_EQ(out.exit_code, 1);
    Json j = parsed(out);
    EXPECT_EQ(j["code"], code) << out.stdout_json;
    return j;
  }
  RecordingPlugin plugin;
};

TEST_F(SkeletonTest, VersionEchoesTheAskedVersion) {
  plugin.supported = {"0.4.0", "1.0.0"};
  DispatchOutcome out = run(Verb::kVersion, R"({"cniVersion": "0.4.0"})");
  EXPECT_EQ(out.exit_code, 0);
  EXPECT_EQ(parsed(out),
            Json::parse(R"({"cniVersion": "0.4.0", "supportedVersions": ["0.4.0", "1.0.0"]})"));
  EXPECT_TRUE(plugin.calls.empty());
}

TEST_F(SkeletonTest, VersionWithoutAskedVersionAnswersThePluginsNewest) {
  plugin.supported = {"0.3.1", "1.0.0", "0.4.0"};
  for (const char* in : {"", "  \n", "not json", R"({"name": "x"})", R"({"cniVersion": ""})"}) {
    DispatchOutcome out = run(Verb::kVersion, in);
    EXPECT_EQ(out.exit_code, 0) << in;
    EXPECT_EQ(parsed(out)["cniVersion"], "1.0.0") << in;
    EXPECT_EQ(parsed(out)["supportedVersions"], Json({"0.3.1", "1.0.0", "0.4.0"}));
  }
}

TEST_F(SkeletonTest, AddPrintsTheResultInTheConfigVersion) {
  for (const auto& v : supported_versions()) {
    DispatchOutcome out = run(Verb::kAdd, config(v));
    ASSERT_EQ(out.exit_code, 0) << out.stdout_json;
    EXPECT_EQ(parsed(out), plugin.result.to_json(v)) << v;
  }
}

TEST_F(SkeletonTest, MissingConfigVersionMeans010) {
  DispatchOutcome out = run(Verb::kAdd, R"({"name": "net1", "type": "test"})");
  ASSERT_EQ(out.exit_code, 0) << out.stdout_json;
  EXPECT_EQ(parsed(out), plugin.result.to_json("0.1.0"));
  EXPECT_TRUE(parsed(out).contains("ip4"));
}

TEST_F(SkeletonTest, ConversionFailureIsAnErrorInTheConfigVersion) {
  plugin.result.ips.clear();
  Json j = expect_error(run(Verb::kAdd, config("0.2.0")), kIncompatibleVersion);
  EXPECT_EQ(j["msg"], "cannot convert: no valid IP addresses");
  EXPECT_EQ(j["cniVersion"], "0.2.0");
}

TEST_F(SkeletonTest, SilentVerbsPrintNothing) {
  for (Verb v : {Verb::kDel, Verb::kCheck, Verb::kStatus, Verb::kGc}) {
    DispatchOutcome out = run(v, config("1.1.0"));
    EXPECT_EQ(out.exit_code, 0) << verb_name(v);
    EXPECT_EQ(out.stdout_json, "") << verb_name(v);
  }
  EXPECT_EQ(plugin.calls, (std::vector<std::string>{"del", "check", "status", "gc"}));
}

TEST_F(SkeletonTest, PluginSeesTheExactRequest) {
  const std::string in = config("1.0.0", R"(, "vendor": {"k": [1]})");
  Invocation inv = invocation(Verb::kDel);
  inv.args.set("K8S_POD_NAME", "web");
  ASSERT_EQ(dispatch(plugin, inv, in).exit_code, 0);
  ASSERT_TRUE(plugin.last.has_value());
  EXPECT_EQ(plugin.last->stdin_bytes, in);
  EXPECT_EQ(plugin.last->conf.raw, Json::parse(in));
  EXPECT_EQ(plugin.last->invocation.pod_name(), "web");
  EXPECT_EQ(plugin.last->invocation.ifname, "eth0");
}

TEST_F(SkeletonTest, UnsupportedConfigVersionIsCode1NamingIt) {
  plugin.supported = {"0.3.1", "0.4.0", "1.0.0"};
  Json j = expect_error(run(Verb::kAdd, config("1.1.0")), kIncompatibleVersion);
  EXPECT_NE(j["msg"].get<std::string>().find("\"1.1.0\""), std::string::npos) << j;
  EXPECT_EQ(j["cniVersion"], "1.1.0");  // a version the runtime speaks
  EXPECT_TRUE(plugin.calls.empty());
}

TEST_F(SkeletonTest, UnknownConfigVersionErrorIsWrittenInTheLatest) {
  Json j = expect_error(run(Verb::kAdd, config("9.9.9")), kIncompatibleVersion);
  EXPECT_NE(j["msg"].get<std::string>().find("9.9.9"), std::string::npos);
  EXPECT_EQ(j["cniVersion"], latest_version());
}

TEST_F(SkeletonTest, CheckNeeds040) {
  for (const char* v : {"0.1.0", "0.2.0", "0.3.0", "0.3.1"}) {
    Json j = expect_error(run(Verb::kCheck, config(v)), kIncompatibleVersion);
    EXPECT_NE(j["msg"].get<std::string>().find("config version does not allow CHECK"),
              std::string::npos)
        << j;
    EXPECT_EQ(j["cniVersion"], v);
  }
  EXPECT_TRUE(plugin.calls.empty());
  for (const char* v : {"0.4.0", "1.0.0", "1.1.0"})
    EXPECT_EQ(run(Verb::kCheck, config(v)).exit_code, 0);
  EXPECT_EQ(plugin.calls.size(), 3u);
}

TEST_F(SkeletonTest, StatusAndGcNeed110) {
  for (Verb verb : {Verb::kStatus, Verb::kGc}) {
    for (const char* v : {"0.4.0", "1.0.0"}) {
      Json j = expect_error(run(verb, config(v)), kIncompatibleVersion);
      EXPECT_NE(j["msg"].get<std::string>().find(std::string(verb_name(verb))), std::string::npos);
    }
    EXPECT_EQ(run(verb, config("1.1.0")).exit_code, 0);
  }
  EXPECT_EQ(plugin.calls, (std::vector<std::string>{"status", "gc"}));
}

TEST_F(SkeletonTest, EmptyStdinIsCode6) {
  for (const char* in : {"", " \n\t"}) {
    Json j = expect_error(run(Verb::kAdd, in), kDecodeFailure);
    EXPECT_NE(j["msg"].get<std::string>().find("stdin"), std::string::npos);
    EXPECT_EQ(j["cniVersion"], latest_version());
  }
}

TEST_F(SkeletonTest, BadConfigsAreCode6Or7) {
  expect_error(run(Verb::kAdd, R"({"cniVersion": "1.0.0", "type": )"), kDecodeFailure);
  Json j = expect_error(run(Verb::kAdd, R"({"cniVersion": "0.4.0", "name": "n"})"), kInvalidConfig);
  EXPECT_EQ(j["cniVersion"], "0.4.0");  // the config's version is known even though it's bad
  EXPECT_NE(j["msg"].get<std::string>().find("type"), std::string::npos);
  j = expect_error(run(Verb::kAdd, R"({"cniVersion": "1.0.0", "name": "bad name", "type": "t"})"),
                   kInvalidConfig);
  EXPECT_NE(j["msg"].get<std::string>().find("\"bad name\""), std::string::npos);
  EXPECT_TRUE(plugin.calls.empty());
}

TEST_F(SkeletonTest, CniErrorsKeepCodeMessageAndDetails) {
  plugin.add_throws = [] { throw Error(kTryAgainLater, "busy", "lock held by pid 7"); };
  Json j = expect_error(run(Verb::kAdd, config("1.0.0")), kTryAgainLater);
  EXPECT_EQ(j, Json::parse(R"({"cniVersion": "1.0.0", "code": 11, "msg": "busy",
                               "details": "lock held by pid 7"})"));
}

TEST_F(SkeletonTest, OtherExceptionsMapToDocumentedCodes) {
  struct Case {
    std::function<void()> thrower;
    int code;
  } cases[] = {
      {[] { throw std::runtime_error("boom"); }, kInternalError},
      {[] { throw 42; }, kInternalError},
      {[] { throw std::system_error(ENOSPC, std::generic_category(), "write state"); }, kIoFailure},
      {[] { Json::parse("{").dump(); }, kDecodeFailure},
      {[] { Json(5).get<std::string>(); }, kDecodeFailure},
  };
  for (const auto& c : cases) {
    plugin.add_throws = c.thrower;
    Json j = expect_error(run(Verb::kAdd, config("1.1.0")), c.code);
    EXPECT_FALSE(j["msg"].get<std::string>().empty());
  }
}

TEST_F(SkeletonTest, InvalidUtf8InAMessageStillPrintsOneObject) {
  plugin.add_throws = [] { throw Error(7, "invalid ifname \"eth\xff\""); };
  DispatchOutcome out = run(Verb::kAdd, config("1.1.0"));
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_EQ(parsed(out)["code"], 7);
}

}  // namespace
}  // namespace cni
