// cnimux-ipam ADD processes SIGKILLed at random instants, round after round; then the store
// must be consistent: integrity check clean, no address twice, no half (one-family) record
// of a dual-stack owner, every record owned, and every ADD that reported success recorded.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>
#include <set>

#include "../ipam_test_util.h"
#include "ipam/sqlite_store.h"
#include "plugin_process.h"

namespace ipam {
namespace {

using nlohmann::json;

TEST(IpamCrashTest, KilledAddsLeaveNoPartialState) {
  ipam_test::TempDir dir;
  json conf =
      ipam_test::netconf("cxcrash", {{{{"subnet", "10.78.0.0/16"}}}, {{{"subnet", "fd78::/64"}}}},
                         dir.file("ipam.db"));
  constexpr int kRounds = 25;
  constexpr int kPerRound = 8;
  std::map<std::string, std::set<std::string>> reported;  // container -> addresses
  int killed = 0;
  // Starts a round of ADDs; `kill_after` (if set) is when they are all SIGKILLed.
  auto round = [&](const std::string& tag, std::optional<std::chrono::microseconds> kill_after) {
    std::vector<std::unique_ptr<ipam_test::PluginProcess>> procs;
    std::vector<std::string> ids;
    for (int i = 0; i < kPerRound; ++i) {
      ids.push_back("cxcrash-" + tag + "-" + std::to_string(i));
      procs.push_back(std::make_unique<ipam_test::PluginProcess>(
          ipam_test::ipam_binary(), ipam_test::cni_env("ADD", ids.back()),
          dir.file("out-" + ids.back())));
    }
    for (auto& p : procs) p->feed(conf.dump());
    // The random instant of the kill; this sleep chooses when, it waits for nothing.
    if (kill_after) std::this_thread::sleep_for(*kill_after);
    for (size_t i = 0; i < procs.size(); ++i) {
      if (kill_after) {
        procs[i]->kill();
      } else {
        ASSERT_TRUE(procs[i]->wait(std::chrono::seconds(60)));
      }
      if (procs[i]->killed()) ++killed;
      if (!procs[i]->succeeded()) continue;
      json out = json::parse(procs[i]->output());
      for (const auto& ip : out["ips"]) reported[ids[i]].insert(ip["address"].get<std::string>());
    }
  };
  // One undisturbed round tells how long a round of ADDs takes on this machine, so the kill
  // instants below spread over the whole of an ADD (start-up, open, transaction, output).
  auto t0 = std::chrono::steady_clock::now();
  round("calibrate", std::nullopt);
  auto round_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<long> delay_us(0, round_us / 2);
  for (int r = 0; r < kRounds; ++r) {
    round(std::to_string(r), std::chrono::microseconds(delay_us(rng)));
  }
  // Not an assertion on timing: just make visible how many were really cut short.
  std::cout << killed << " of " << kRounds * kPerRound << " ADDs were killed, " << reported.size()
            << " completed\n";

  StoreConfig sc;
  sc.path = dir.file("ipam.db");
  SqliteStore store(sc);
  EXPECT_EQ(store.verify(), std::vector<std::string>{});
  std::map<std::string, std::set<std::string>> stored;
  std::map<std::string, std::set<int>> sets;
  std::set<std::string> addresses;
  for (const auto& a : store.list_all()) {
    EXPECT_FALSE(a.owner.container_id.empty()) << a.cidr() << " has no owner";
    EXPECT_TRUE(addresses.insert(a.address.str()).second) << a.cidr() << " twice";
    stored[a.owner.container_id].insert(a.cidr());
    EXPECT_TRUE(sets[a.owner.container_id].insert(a.range_set).second);
  }
  for (const auto& [owner, s] : sets) {
    EXPECT_EQ(s, (std::set<int>{0, 1})) << owner << " holds a half allocation";
  }
  for (const auto& [owner, addrs] : reported) {
    EXPECT_EQ(stored[owner], addrs) << owner << " reported success but is not recorded";
  }
  // The store still serves ADDs after all that.
  ipam_test::PluginProcess after(ipam_test::ipam_binary(), ipam_test::cni_env("ADD", "cxafter"),
                                 dir.file("out-after"));
  after.feed(conf.dump());
  ASSERT_TRUE(after.wait(std::chrono::seconds(30)));
  EXPECT_TRUE(after.succeeded()) << after.output();
}

}  // namespace
}  // namespace ipam
