// What the cnimux binary loads at start: libcurl (and its ~30 dependencies) only when a
// Kubernetes API is used, never for a call without one.
#include <gtest/gtest.h>

#include <string>

#include "test/fakes/plugin_runner.h"

namespace {

std::string cnimux_binary() {
  return std::string(CNIMUX_BINARY_DIR) + "/plugin/cnimux";
}

TEST(StartupE2e, VersionCallLoadsNoLibcurl) {
  testing_support::CniEnv env;
  env.command = "VERSION";
  env.extra["LD_DEBUG"] = "libs";  // the dynamic loader lists every library it initialises
  auto run = testing_support::run_plugin(cnimux_binary(), env, R"({"cniVersion":"1.0.0"})");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("supportedVersions"), std::string::npos) << run.out;
  ASSERT_NE(run.err.find("calling init: /lib"), std::string::npos)
      << "LD_DEBUG=libs printed nothing; cannot tell what was loaded:\n"
      << run.err;
  EXPECT_EQ(run.err.find("libcurl"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find("libssl"), std::string::npos) << run.err;
}

}  // namespace
