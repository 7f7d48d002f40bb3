// Hostile manifest directories: alias bombs, oversized files, deep nesting and cyclic aliases
// in podDir and nadDir are refused naming the file (code 7 when it is the object's own
// manifest, logged and skipped otherwise), and lookups by name leave other files unread.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cni/error.h"
#include "cni/limits.h"
#include "plugin/manifests.h"
#include "plugin/meta_config.h"
#include "plugin/nad_source.h"
#include "plugin/pod_source.h"

namespace plugin {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

// Routes spdlog's default logger into a string for the test's lifetime.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

const std::string kPodHead = "kind: Pod\nmetadata: {name: web, namespace: shop}\n";
const std::string kNadHead =
    "kind: NetworkAttachmentDefinition\nmetadata: {name: x, namespace: test}\n"
    "spec: {config: '{\"cniVersion\": \"1.0.0\", \"type\": \"ptp\"}'}\n";

// The classic "billion laughs": 9 anchored levels of 9 aliases, 9^9 strings once expanded.
std::string billion_laughs(const std::string& head) {
  std::string y = head + "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    y += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 9; ++i) y += std::string(i ? ", *" : "*") + static_cast<char>(c - 1);
    y += "]\n";
  }
  return y;
}

std::string deep_flow(const std::string& head, int depth) {
  return head + "spec: " + std::string(depth, '[') + std::string(depth, ']') + "\n";
}

std::string deep_block(const std::string& head, int depth) {
  std::string y = head + "spec:\n  ";
  for (int i = 0; i < depth; ++i) y += "- ";
  return y + "x\n";
}

// Valid YAML one byte over kMaxManifestBytes: a real manifest padded with a comment.
std::string oversized(const std::string& head) {
  std::string y = head + "# ";
  return y + std::string(kMaxManifestBytes + 1 - y.size() - 1, 'x') + "\n";
}

cni::Invocation web_invocation() {
  cni::Invocation inv;
  inv.verb = cni::Verb::kAdd;
  inv.container_id = "cxm" + std::to_string(getpid());
  inv.ifname = "eth0";
  inv.args = cni::CniArgs::parse("K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web");
  return inv;
}

cni::Error error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const cni::Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected a cni::Error";
  return cni::Error(0, "");
}

class ManifestDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/cxmd" + std::to_string(getpid()) + "-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    meta_.nad_dir = dir_;
    meta_.conf_dir = dir_ + "/no-conf";
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  std::optional<PodInfo> find_web() { return PodDirSource(dir_).find(web_invocation(), nullptr); }
  // A pod lookup that must fail with code 7 naming `file` and `why`.
  void expect_pod_refused(const std::string& file, const std::string& why) {
    cni::Error e = error_of([&] { find_web(); });
    EXPECT_EQ(e.code(), cni::kInvalidConfig) << e.msg();
    EXPECT_THAT(e.msg(), HasSubstr(dir_ + "/" + file));
    EXPECT_THAT(e.msg(), HasSubstr(why));
  }
  void expect_nad_refused(const std::string& file, const std::string& why) {
    NadSource src(meta_, nullptr);
    cni::Error e = error_of([&] { src.nad("test", "x"); });
    EXPECT_EQ(e.code(), cni::kInvalidConfig) << e.msg();
    EXPECT_THAT(e.msg(), HasSubstr(dir_ + "/" + file));
    EXPECT_THAT(e.msg(), HasSubstr(why));
  }

  std::string dir_;
  MetaConfig meta_;
};

TEST_F(ManifestDirTest, BillionLaughsInThePodsOwnManifestIsRefusedNamingIt) {
  write("shop_web.yaml", billion_laughs(kPodHead));
  expect_pod_refused("shop_web.yaml", "nodes (aliases expanded)");
}

TEST_F(ManifestDirTest, BillionLaughsElsewhereInPodDirIsLoggedAndSkipped) {
  // It spells "web", so a lookup that misses the named files must read it.
  write("a-bomb.yaml", billion_laughs(kPodHead));
  write("b-pods.yaml", kPodHead + "  # the real one\n");
  LogCapture log;
  auto web = find_web();
  ASSERT_TRUE(web.has_value());
  EXPECT_EQ(web->name, "web");
  EXPECT_THAT(log.text(), HasSubstr(dir_ + "/a-bomb.yaml"));
  EXPECT_THAT(log.text(), HasSubstr("nodes (aliases expanded)"));
}

TEST_F(ManifestDirTest, BillionLaughsInTheNadsOwnManifestIsRefusedNamingIt) {
  write("test-x.yaml", billion_laughs(kNadHead));
  expect_nad_refused("test-x.yaml", "nodes (aliases expanded)");
}

TEST_F(ManifestDirTest, BillionLaughsElsewhereInNadDirIsNamedOnlyWhenTheNadIsMissing) {
  write("a-bomb.yaml", billion_laughs(kNadHead));
  write("b-nads.yaml", kNadHead);
  LogCapture log;
  NadSource src(meta_, nullptr);
  EXPECT_EQ(src.nad("test", "x").conflist["plugins"][0]["type"], "ptp");
  EXPECT_THAT(log.text(), HasSubstr(dir_ + "/a-bomb.yaml"));
  // A NAD the bomb might have held: "not found" says which file could not be read.
  fs::remove(dir_ + "/b-nads.yaml");
  NadSource again(meta_, nullptr);
  cni::Error e = error_of([&] { again.nad("test", "x"); });
  EXPECT_EQ(e.code(), cni::kInvalidConfig);
  EXPECT_THAT(e.msg(), HasSubstr("not found"));
  EXPECT_THAT(e.msg(), HasSubstr(dir_ + "/a-bomb.yaml"));
}

TEST_F(ManifestDirTest, OversizedFileIsRefusedNamingIt) {
  write("web.yaml", oversized(kPodHead));
  expect_pod_refused("web.yaml", std::to_string(kMaxManifestBytes));
  write("x.yaml", oversized(kNadHead));
  expect_nad_refused("x.yaml", std::to_string(kMaxManifestBytes));
}

TEST_F(ManifestDirTest, OversizedFileElsewhereIsSkippedWithAnErrorNamingIt) {
  write("a-big.yaml", oversized(kPodHead));
  write("b-pods.yaml", kPodHead);
  LogCapture log;
  ASSERT_TRUE(find_web().has_value());
  EXPECT_THAT(log.text(), HasSubstr(dir_ + "/a-big.yaml"));
  EXPECT_THAT(log.text(), HasSubstr(std::to_string(kMaxManifestBytes)));
}

TEST_F(ManifestDirTest, DeeplyNestedPodManifestFailsTheLookupNamingIt) {
  // Both YAML forms and JSON, 100,000 deep: refused, not skipped and not a crash.
  write("shop_web.yaml", deep_flow(kPodHead, 100000));
  expect_pod_refused("shop_web.yaml", "nested");
  fs::remove(dir_ + "/shop_web.yaml");
  write("shop-web.yaml", deep_block(kPodHead, 100000));
  expect_pod_refused("shop-web.yaml", "nested");
  fs::remove(dir_ + "/shop-web.yaml");
  write("web.json", R"({"kind": "Pod", "metadata": {"name": "web", "namespace": "shop",
                      "annotations": {"x": )" +
                        std::string(100000, '[') + std::string(100000, ']') + "}}}");
  expect_pod_refused("web.json", "nested deeper than 128 levels");
}

TEST_F(ManifestDirTest, NestingUpToTheLimitIsAccepted) {
  // The pod's own map is the first level; spec's sequences add the rest.
  write("shop_web.yaml", deep_flow(kPodHead, kMaxManifestDepth - 1));
  ASSERT_TRUE(find_web().has_value());
  write("shop_web.yaml", deep_flow(kPodHead, kMaxManifestDepth));
  expect_pod_refused("shop_web.yaml", "nested deeper than 128 levels");
}

TEST_F(ManifestDirTest, SelfReferencingAliasIsRefusedNotRecursedInto) {
  write("shop_web.yaml", kPodHead + "spec: &loop [1, *loop]\n");
  expect_pod_refused("shop_web.yaml", "alias refers to a node that contains it");
}

TEST_F(ManifestDirTest, UnrelatedBadFilesDoNotAffectOtherPodsOrNads) {
  // None of these is named after web or x; each spells both names.
  write("a-syntax.yaml", kPodHead + kNadHead + "kind: [unclosed\n");
  write("b-deep.yaml", deep_flow("# web x\n", 100000));
  write("c-bomb.yaml", billion_laughs("# web x\n"));
  write("d-pod.yaml", kPodHead);
  write("e-nad.yaml", kNadHead);
  LogCapture log;
  ASSERT_TRUE(find_web().has_value());
  NadSource src(meta_, nullptr);
  EXPECT_EQ(src.nad("test", "x").network, "test/x");
  for (const char* f : {"a-syntax.yaml", "b-deep.yaml", "c-bomb.yaml"})
    EXPECT_THAT(log.text(), HasSubstr(dir_ + "/" + f));
}

TEST_F(ManifestDirTest, FileNamedAfterTheObjectLeavesTheOthersUnread) {
  write("a-broken.yaml", kPodHead + kNadHead + "kind: [unclosed\n");
  write("shop_web.yaml",
        "kind: Pod\nmetadata: {name: web, namespace: shop, annotations: {from: named}}\n");
  write("test_x.yaml", kNadHead);
  LogCapture log;
  EXPECT_EQ(find_web()->annotations.at("from"), "named");
  NadSource src(meta_, nullptr);
  EXPECT_EQ(src.nad("test", "x").network, "test/x");
  EXPECT_THAT(log.text(), Not(HasSubstr("a-broken.yaml")));
}

TEST_F(ManifestDirTest, NameSpelledOnlyThroughAnEscapeIsStillFound) {
  // The text pre-filter must not hide a file whose name is written as escapes.
  write("a.json", R"({"kind": "Pod", "metadata": {"name": "\u0077eb", "namespace": "shop"}})");
  write("b.yaml", "kind: Pod\nmetadata: {name: \"w\\x65b\", namespace: other}\n");
  ASSERT_TRUE(find_web().has_value());
  auto other = PodDirSource(dir_).find(
      [] {
        cni::Invocation inv = web_invocation();
        inv.args = cni::CniArgs::parse("K8S_POD_NAMESPACE=other;K8S_POD_NAME=web");
        return inv;
      }(),
      nullptr);
  EXPECT_TRUE(other.has_value());
}

TEST_F(ManifestDirTest, AliasesWithinTheLimitExpand) {
  write("shop_web.yaml",
        "kind: Pod\nmetadata:\n  name: &n web\n  namespace: shop\n"
        "  annotations: {k8s.v1.cni.cncf.io/networks: *n, again: *n}\n");
  auto web = find_web();
  ASSERT_TRUE(web.has_value());
  EXPECT_EQ(web->annotations.at("again"), "web");
}

TEST(ReadManifest, FifoIsRefusedWithoutBlocking) {
  std::string path = "/tmp/cxmf" + std::to_string(getpid()) + ".yaml";
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  cni::Error e = error_of([&] { read_manifest(path); });
  fs::remove(path);
  EXPECT_THAT(e.msg(), HasSubstr(path));
  EXPECT_THAT(e.msg(), HasSubstr("not a regular file"));
}

TEST(ReadConfigFile, FifoAndOversizedFilesAreRefusedNamingThem) {
  // confDir files, kubeconfigs and tokens were read whole, and a FIFO was waited on forever.
  std::string fifo = "/tmp/cxcf" + std::to_string(getpid()) + ".conflist";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  cni::Error e = error_of([&] { read_config_file(fifo); });
  fs::remove(fifo);
  EXPECT_EQ(e.code(), cni::kIoFailure);
  EXPECT_THAT(e.msg(), HasSubstr(fifo));
  EXPECT_THAT(e.msg(), HasSubstr("not a regular file"));

  std::string big = "/tmp/cxcf" + std::to_string(getpid()) + ".json";
  std::ofstream(big) << std::string(cni::kMaxJsonBytes + 1, ' ');
  e = error_of([&] { read_config_file(big); });
  fs::remove(big);
  EXPECT_THAT(e.msg(), HasSubstr(big));
  EXPECT_THAT(e.msg(), HasSubstr("more than the limit"));
}

}  // namespace
}  // namespace plugin
