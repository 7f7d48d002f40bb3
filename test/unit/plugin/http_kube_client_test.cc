// HttpKubeClient against the real fake API server over TLS: reads, 404, auth failures,
// retries, timeouts, silence, refused connections, PATCH, keep-alive and token rotation.
#include "plugin/http_kube_client.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>

#include "cni/error.h"
#include "test/fakes/fake_kube_api.h"

namespace plugin {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;

nlohmann::json fixtures() {
  const std::string nad_config = R"({"cniVersion":"1.0.0","type":"macvlan","master":"eth0"})";
  return {{"pods",
           {fakes::FakeKubeApi::make_pod("default", "web", "uid-web",
                                         {{"k8s.v1.cni.cncf.io/networks", "net1"}})}},
          {"nads", {fakes::FakeKubeApi::make_nad("default", "net1", nad_config)}}};
}

class HttpKubeClientTest : public ::testing::Test {
 protected:
  HttpKubeClientTest() : api_(fakes::FakeKubeApi::Options{.fixtures = fixtures()}) {}

  std::unique_ptr<HttpKubeClient> client(const fakes::KubeconfigStyle& style = {},
                                         HttpKubeOptions options = {}) {
    return std::make_unique<HttpKubeClient>(load_kubeconfig(api_.write_kubeconfig(style)), options);
  }

  // Runs `call`, expecting cni::Error(kKubeApiFailure); returns its message.
  template <typename F>
  static std::string api_failure(F&& call) {
    try {
      call();
    } catch (const cni::Error& e) {
      EXPECT_EQ(e.code(), cni::kKubeApiFailure) << e.msg();
      return e.msg();
    }
    ADD_FAILURE() << "expected cni::Error(kKubeApiFailure)";
    return {};
  }

  fakes::FakeKubeApi api_;
};

TEST_F(HttpKubeClientTest, GetsPodAndNadWithTheBearerToken) {
  auto c = client();
  auto pod = c->get_pod("default", "web");
  ASSERT_TRUE(pod.has_value());
  EXPECT_EQ((*pod)["metadata"]["uid"], "uid-web");
  EXPECT_EQ((*pod)["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"], "net1");
  auto nad = c->get_nad("default", "net1");
  ASSERT_TRUE(nad.has_value());
  EXPECT_EQ(nlohmann::json::parse((*nad)["spec"]["config"].get<std::string>())["type"], "macvlan");

  auto log = api_.request_log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].method, "GET");
  EXPECT_EQ(log[0].path, "/api/v1/namespaces/default/pods/web");
  EXPECT_EQ(log[1].path,
            "/apis/k8s.cni.cncf.io/v1/namespaces/default/network-attachment-definitions/net1");
  EXPECT_TRUE(log[0].auth && log[1].auth);
  EXPECT_EQ(c->stats().pod_gets, 1);
  EXPECT_EQ(c->stats().nad_gets, 1);
}

TEST_F(HttpKubeClientTest, MissingObjectsAreNullopt) {
  auto c = client({.ca_data = true});  // the CA passed as a blob works too
  EXPECT_FALSE(c->get_pod("default", "absent").has_value());
  EXPECT_FALSE(c->get_nad("other", "net1").has_value());
  EXPECT_EQ(api_.request_log().size(), 2u);  // 404 is an answer, not retried
}

TEST_F(HttpKubeClientTest, WrongTokenIsAn401ErrorWithoutTheToken) {
  auto c = client({.token = "cxt-wrong-secret"});
  const std::string msg = api_failure([&] { c->get_pod("default", "web"); });
  EXPECT_THAT(msg, HasSubstr("401"));
  EXPECT_THAT(msg, HasSubstr("/api/v1/namespaces/default/pods/web"));
  EXPECT_THAT(msg, Not(HasSubstr("cxt-wrong-secret")));
  EXPECT_EQ(api_.request_log().size(), 1u);  // not retried
}

TEST_F(HttpKubeClientTest, DeeplyNestedAnswersAreRefusedNotCrashed) {
  api_.set_mode("deep");  // every answer holds arrays nested 100,000 deep
  auto c = client();
  for (auto get : {&HttpKubeClient::get_pod, &HttpKubeClient::get_nad}) {
    try {
      (c.get()->*get)("default", "web");
      ADD_FAILURE() << "no error";
    } catch (const cni::Error& e) {
      EXPECT_EQ(e.code(), cni::kDecodeFailure);
      EXPECT_THAT(e.msg(), HasSubstr("GET /ap"));
      EXPECT_THAT(e.msg(), HasSubstr(": JSON nested deeper than 128 levels"));
    }
  }
}

TEST_F(HttpKubeClientTest, RetriesAfter500) {
  api_.fail_next(2, 500);
  auto c = client();
  auto pod = c->get_pod("default", "web");
  ASSERT_TRUE(pod.has_value());
  EXPECT_EQ((*pod)["metadata"]["name"], "web");
  EXPECT_EQ(api_.request_log().size(), 3u);
  EXPECT_EQ(c->stats().attempts, 3);
}

TEST_F(HttpKubeClientTest, Persistent500FailsAfterBoundedAttempts) {
  api_.set_mode("500");
  auto c = client({}, {.api_timeout = milliseconds(5000), .max_attempts = 3});
  const std::string msg = api_failure([&] { c->get_nad("default", "net1"); });
  EXPECT_THAT(msg, HasSubstr("HTTP 500"));
  EXPECT_THAT(msg, HasSubstr("network-attachment-definitions/net1"));
  EXPECT_EQ(api_.request_log().size(), 3u);
}

TEST_F(HttpKubeClientTest, SlowAnswerBeyondApiTimeoutFails) {
  api_.set_mode("slow", 5000);
  auto c = client({}, {.api_timeout = milliseconds(300)});
  const std::string msg = api_failure([&] { c->get_pod("default", "web"); });
  EXPECT_THAT(msg, HasSubstr("apiTimeout 300 ms"));
}

TEST_F(HttpKubeClientTest, SilentServerFailsWithinTheBudget) {
  api_.set_mode("hang");
  auto c = client({}, {.api_timeout = milliseconds(300)});
  const std::string msg = api_failure([&] { c->get_pod("default", "web"); });
  EXPECT_THAT(msg, HasSubstr("apiTimeout 300 ms"));
  EXPECT_GE(api_.request_log().size(), 1u);  // the request did arrive
}

TEST(HttpKubeClientNoServer, ConnectionRefusedIsAnError) {
  // A port that was free a moment ago: nothing listens there.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  KubeConfig cfg;
  cfg.server = "https://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  cfg.token = "t";
  HttpKubeClient c(cfg, {.api_timeout = milliseconds(400)});
  try {
    c.get_pod("default", "web");
    FAIL() << "expected an error";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kKubeApiFailure);
    EXPECT_THAT(e.msg(), HasSubstr(cfg.server));
  }
  EXPECT_GE(c.stats().attempts, 1);
}

TEST_F(HttpKubeClientTest, UnknownCaIsRejected) {
  KubeConfig cfg = load_kubeconfig(api_.write_kubeconfig());
  cfg.ca_file.clear();  // the system trust store does not know the fake's CA
  HttpKubeClient strict(cfg, {.api_timeout = milliseconds(2000)});
  api_failure([&] { strict.get_pod("default", "web"); });
  EXPECT_TRUE(api_.request_log().empty());

  cfg.insecure_skip_tls_verify = true;
  HttpKubeClient insecure(cfg);
  EXPECT_TRUE(insecure.get_pod("default", "web").has_value());
}

TEST_F(HttpKubeClientTest, PatchSetsTheAnnotation) {
  auto c = client();
  const std::string status = R"([{"name":"cluster","interface":"eth0","default":true}])";
  c->patch_pod_annotation("default", "web", "k8s.v1.cni.cncf.io/network-status", status);
  auto pod = c->get_pod("default", "web");
  ASSERT_TRUE(pod.has_value());
  EXPECT_EQ((*pod)["metadata"]["annotations"]["k8s.v1.cni.cncf.io/network-status"], status);
  EXPECT_EQ((*pod)["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"], "net1");

  auto log = api_.request_log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].method, "PATCH");
  EXPECT_EQ(log[0].path, "/api/v1/namespaces/default/pods/web/status");
  EXPECT_EQ(log[0].content_type, "application/merge-patch+json");

  const std::string msg =
      api_failure([&] { c->patch_pod_annotation("default", "gone", "k", "v"); });
  EXPECT_THAT(msg, HasSubstr("404"));
}

TEST_F(HttpKubeClientTest, RequestsReuseOneConnection) {
  auto c = client();
  c->get_pod("default", "web");
  c->get_nad("default", "net1");
  c->patch_pod_annotation("default", "web", "a", "b");
  c->get_pod("default", "absent");
  std::set<int> conns;
  for (const auto& r : api_.request_log()) conns.insert(r.conn);
  EXPECT_EQ(api_.request_log().size(), 4u);
  EXPECT_EQ(conns.size(), 1u);
}

TEST_F(HttpKubeClientTest, RuntimeFixturesAndNotFoundMode) {
  auto c = client();
  EXPECT_FALSE(c->get_pod("shop", "late").has_value());
  api_.add_pod(fakes::FakeKubeApi::make_pod("shop", "late", "uid-late"));
  EXPECT_EQ((*c->get_pod("shop", "late"))["metadata"]["uid"], "uid-late");
  api_.set_mode("404");
  EXPECT_FALSE(c->get_pod("shop", "late").has_value());
  api_.set_mode("normal");
  EXPECT_TRUE(c->get_pod("shop", "late").has_value());
}

TEST_F(HttpKubeClientTest, RotatedTokenFileKeepsWorking) {
  api_.set_tokens({"cxt-token-a"});
  auto c = client({.token_file = true, .token = "cxt-token-a"});
  EXPECT_TRUE(c->get_pod("default", "web").has_value());
  api_.write_token_file("cxt-token-b");
  api_.set_tokens({"cxt-token-b"});
  EXPECT_TRUE(c->get_pod("default", "web").has_value());
}

}  // namespace
}  // namespace plugin
