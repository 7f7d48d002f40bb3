// Tests for kubeconfig and in-cluster parsing: credentials, CA forms, token rotation, and
// errors that name the file and the field.
#include "plugin/kubeconfig.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "cni/error.h"

namespace plugin {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/cxkc" + std::to_string(getpid()) + "-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  // A kubeconfig with one context; `cluster` and `user` are the inner maps' YAML lines.
  static std::string config(const std::string& cluster, const std::string& user) {
    return "apiVersion: v1\nkind: Config\ncurrent-context: ctx\n"
           "clusters:\n- name: other\n  cluster:\n    server: https://wrong:1\n"
           "- name: c1\n  cluster:\n" +
           cluster + "users:\n- name: u1\n  user:\n" + user +
           "contexts:\n- name: ctx\n  context:\n    cluster: c1\n    user: u1\n"
           "- name: unused\n  context:\n    cluster: other\n";
  }

  // Expects load_kubeconfig(path) to fail with code 7 naming the file and `field`.
  void expect_error(const std::string& path, const std::string& field) {
    try {
      load_kubeconfig(path);
      FAIL() << "expected an error naming " << field;
    } catch (const cni::Error& e) {
      EXPECT_EQ(e.code(), cni::kInvalidConfig);
      EXPECT_THAT(e.msg(), HasSubstr(path));
      EXPECT_THAT(e.msg(), HasSubstr(field));
    }
  }

  std::string dir_;
};

TEST_F(KubeconfigTest, InlineTokenAndCaFileFromCurrentContext) {
  auto path = write("kc", config("    server: https://10.0.0.1:6443/\n"
                                 "    certificate-authority: /etc/ca.pem\n",
                                 "    token: abc123\n"));
  KubeConfig c = load_kubeconfig(path);
  EXPECT_EQ(c.server, "https://10.0.0.1:6443");  // trailing '/' dropped
  EXPECT_EQ(c.ca_file, "/etc/ca.pem");
  EXPECT_TRUE(c.ca_data.empty());
  EXPECT_EQ(c.bearer_token(), "abc123");
  EXPECT_FALSE(c.insecure_skip_tls_verify);
  EXPECT_EQ(c.origin, path);
}

TEST_F(KubeconfigTest, CaDataIsDecodedAndRelativePathsFollowTheFile) {
  // "-----BEGIN X-----\n" in base64.
  auto path = write("kc", config("    server: https://h:1\n"
                                 "    certificate-authority-data: LS0tLS1CRUdJTiBYLS0tLS0K\n"
                                 "    insecure-skip-tls-verify: true\n",
                                 "    client-certificate: certs/c.pem\n"
                                 "    client-key-data: a2V5\n"));
  KubeConfig c = load_kubeconfig(path);
  EXPECT_EQ(c.ca_data, "-----BEGIN X-----\n");
  EXPECT_TRUE(c.ca_file.empty());
  EXPECT_TRUE(c.insecure_skip_tls_verify);
  EXPECT_EQ(c.client_cert_file, dir_ + "/certs/c.pem");
  EXPECT_EQ(c.client_key_data, "key");
  EXPECT_EQ(c.bearer_token(), "");
}

TEST_F(KubeconfigTest, TokenFileIsReadAgainOnEveryCall) {
  auto token = write("token", "first\n");
  auto path = write("kc", config("    server: https://h:1\n", "    tokenFile: token\n"));
  KubeConfig c = load_kubeconfig(path);
  EXPECT_EQ(c.token_file, token);
  EXPECT_EQ(c.bearer_token(), "first");
  write("token", "second");
  EXPECT_EQ(c.bearer_token(), "second");
  fs::remove(token);
  try {
    c.bearer_token();
    FAIL() << "a vanished tokenFile must fail";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kInvalidConfig);
    EXPECT_THAT(e.msg(), HasSubstr("tokenFile " + token));
  }
}

TEST_F(KubeconfigTest, MissingFieldsNameTheField) {
  expect_error(write("a", config("    certificate-authority: x\n", "    token: t\n")),
               "clusters[name=\"c1\"].cluster.server is missing");
  expect_error(write("b",
                     "apiVersion: v1\nclusters: []\ncontexts:\n- name: a\n  context: {}\n"
                     "- name: b\n  context: {}\n"),
               "current-context is missing");
  expect_error(write("c", "current-context: x\ncontexts: []\n"), "contexts[name=\"x\"]");
  expect_error(write("d", "current-context: x\ncontexts:\n- name: x\n  context:\n    cluster: c\n"),
               "clusters[name=\"c\"] is missing");
  expect_error(write("e", config("    server: https://h:1\n    certificate-authority-data: '*'\n",
                                 "    token: t\n")),
               "certificate-authority-data is not valid base64");
  expect_error(write("f", config("    server: https://h:1\n", "    client-certificate: c.pem\n")),
               "users[name=\"u1\"].user.client-key is missing");
  expect_error(write("g", config("    server: https://h:1\n", "    exec:\n      command: x\n")),
               "exec/auth-provider is not supported");
  expect_error(write("h", "clusters: [\n"), "invalid YAML at line");
  expect_error(dir_ + "/absent", "cannot be read");
}

TEST_F(KubeconfigTest, InClusterUsesTheServiceAccountDirectory) {
  write("token", "sa-token\n");
  write("ca.crt", "pem");
  std::map<std::string, std::string> env = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                            {"KUBERNETES_SERVICE_PORT", "443"}};
  cni::EnvLookup getenv = [&](const char* k) -> std::optional<std::string> {
    auto it = env.find(k);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  auto c = resolve_kube_config("", getenv, dir_);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->server, "https://10.96.0.1:443");
  EXPECT_EQ(c->ca_file, dir_ + "/ca.crt");
  EXPECT_EQ(c->bearer_token(), "sa-token");

  env["KUBERNETES_SERVICE_HOST"] = "fd00::1";
  EXPECT_EQ(in_cluster_config(getenv, dir_)->server, "https://[fd00::1]:443");

  // A configured kubeconfig wins over the in-cluster variables.
  auto kc = write("kc", config("    server: https://h:1\n", "    token: t\n"));
  EXPECT_EQ(resolve_kube_config(kc, getenv, dir_)->server, "https://h:1");

  fs::remove(dir_ + "/token");
  EXPECT_THROW(in_cluster_config(getenv, dir_), cni::Error);

  env.clear();
  EXPECT_FALSE(resolve_kube_config("", getenv, dir_).has_value());
}

}  // namespace
}  // namespace plugin
