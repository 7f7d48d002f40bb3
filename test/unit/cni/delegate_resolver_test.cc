// DelegateRegistry: registered types run in-process, the rest are executed from the search
// dirs; invalid types are refused; one VersionCache serves every exec delegate.
#include "cni/delegate_resolver.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cni/error.h"
#include "cni/inprocess_delegate.h"

namespace cni {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kFakeDir = std::string(CNIMUX_BINARY_DIR) + "/test/fakes/delegates";
const std::string kFake = "cnimux-fake-delegate";

class NullPlugin : public Plugin {
 public:
  Result add(const Request&) override { return Result{}; }
  void del(const Request&) override {}
  void check(const Request&) override {}
  void status(const Request&) override {}
  void gc(const Request&) override {}
  std::vector<std::string> versions() const override { return {"1.0.0"}; }
};

class DelegateRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/cxt" + std::to_string(::getpid()) + "-registry";
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  DelegateRequest probe(const std::string& log) const {
    DelegateRequest req;
    req.verb = Verb::kVersion;
    req.config = json{{"fake", {{"log", log}}}}.dump();
    return req;
  }

  std::string dir_;
};

TEST_F(DelegateRegistryTest, RegisteredTypesRunInProcessWithAFreshPlugin) {
  DelegateRegistry registry({kFakeDir});
  int made = 0;
  registry.register_inprocess("macvlan", [&] {
    ++made;
    return std::make_unique<NullPlugin>();
  });
  EXPECT_TRUE(registry.is_inprocess("macvlan"));
  auto a = registry.resolve("macvlan");
  auto b = registry.resolve("macvlan");
  EXPECT_NE(dynamic_cast<InProcessDelegate*>(a.get()), nullptr);
  EXPECT_EQ(a->type(), "macvlan");
  EXPECT_EQ(made, 2);
  EXPECT_EQ(a->supported_versions({}), std::vector<std::string>{"1.0.0"});
}

TEST_F(DelegateRegistryTest, OtherTypesAreExecutedFromTheSearchDirs) {
  DelegateRegistry registry({kFakeDir});
  EXPECT_FALSE(registry.is_inprocess(kFake));
  auto d = registry.resolve(kFake);
  ASSERT_NE(dynamic_cast<ExecDelegate*>(d.get()), nullptr);
  DelegateRequest req;
  req.verb = Verb::kAdd;
  req.container_id = "cxt-registry";
  req.netns = "/var/run/netns/cxt-registry";
  req.ifname = "net3";
  req.config = R"({"cniVersion":"1.0.0","name":"n","type":"cnimux-fake-delegate"})";
  EXPECT_EQ(d->invoke(req)["interfaces"][0]["name"], "net3");
}

TEST_F(DelegateRegistryTest, InvalidTypesAreRefused) {
  DelegateRegistry registry({kFakeDir});
  for (const std::string type : {"../x", "a/b", "", ".."}) {
    try {
      registry.resolve(type);
      ADD_FAILURE() << "resolved \"" << type << "\"";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), kInvalidConfig);
    }
    EXPECT_THROW(registry.register_inprocess(type, [] { return std::make_unique<NullPlugin>(); }),
                 Error);
  }
  EXPECT_THROW(registry.register_inprocess("ok", nullptr), Error);
}

TEST_F(DelegateRegistryTest, ExecDelegatesShareTheVersionCache) {
  auto cache = std::make_shared<VersionCache>(dir_ + "/versions.json");
  DelegateRegistry registry({kFakeDir}, cache);
  const std::string log = dir_ + "/calls.log";
  EXPECT_EQ(registry.resolve(kFake)->supported_versions(probe(log)).back(), "1.0.0");
  EXPECT_EQ(registry.resolve(kFake)->supported_versions(probe(log)).back(), "1.0.0");
  std::ifstream f(log);
  size_t version_calls = 0;
  for (std::string line; std::getline(f, line);) version_calls += line.rfind("VERSION", 0) == 0;
  EXPECT_EQ(version_calls, 1u);
  EXPECT_EQ(cache->hits(), 1u);
}

}  // namespace
}  // namespace cni
