// 64 cnimux-ipam ADD processes released at once against a pool of 62 usable addresses:
// exactly 62 succeed, 2 fail with the exhaustion error, and no address is handed out twice.
#include <gtest/gtest.h>

#include <set>

#include "../ipam_test_util.h"
#include "cni/error.h"
#include "ipam/sqlite_store.h"
#include "plugin_process.h"

namespace ipam {
namespace {

using nlohmann::json;

TEST(IpamConcurrencyTest, SixtyFourAddsAgainstSixtyTwoAddresses) {
  ipam_test::TempDir dir;
  // .1 - .62 with the gateway outside the range: 62 allocatable addresses.
  json conf = ipam_test::netconf("cxconc",
                                 {{{{"subnet", "10.77.0.0/24"},
                                    {"rangeStart", "10.77.0.1"},
                                    {"rangeEnd", "10.77.0.62"},
                                    {"gateway", "10.77.0.254"}}}},
                                 dir.file("ipam.db"));
  constexpr int kProcs = 64;
  std::vector<std::unique_ptr<ipam_test::PluginProcess>> procs;
  for (int i = 0; i < kProcs; ++i) {
    procs.push_back(std::make_unique<ipam_test::PluginProcess>(
        ipam_test::ipam_binary(), ipam_test::cni_env("ADD", "cxconc" + std::to_string(i)),
        dir.file("out" + std::to_string(i))));
  }
  // Every process is started and blocked on stdin; release them together.
  for (auto& p : procs) p->feed(conf.dump());
  for (auto& p : procs) ASSERT_TRUE(p->wait(std::chrono::seconds(120))) << "an ADD hung";

  std::set<std::string> addresses;
  int ok = 0;
  int exhausted = 0;
  for (auto& p : procs) {
    json out = json::parse(p->output());
    if (p->succeeded()) {
      ++ok;
      std::string a = out["ips"][0]["address"];
      EXPECT_TRUE(addresses.insert(a).second) << a << " handed out twice";
    } else {
      EXPECT_EQ(out["code"], cni::kIpamExhausted) << out.dump();
      EXPECT_NE(out["msg"].get<std::string>().find("all 62 addresses"), std::string::npos)
          << out.dump();
      ++exhausted;
    }
  }
  EXPECT_EQ(ok, 62);
  EXPECT_EQ(exhausted, 2);
  StoreConfig sc;
  sc.path = dir.file("ipam.db");
  SqliteStore store(sc);
  auto all = store.list_all();
  EXPECT_EQ(all.size(), 62u);
  std::set<std::string> stored;
  for (const auto& a : all) stored.insert(a.cidr());
  EXPECT_EQ(stored, addresses);
  EXPECT_TRUE(store.verify().empty());
}

}  // namespace
}  // namespace ipam
