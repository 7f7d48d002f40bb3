// parse_ipam_config: host-local's keys and defaults, cnimux's additions, and errors that
// name the offending field.
#include <gtest/gtest.h>

#include <fstream>

#include "cni/error.h"
#include "ipam/config.h"
#include "ipam_test_util.h"

namespace ipam {
namespace {

using nlohmann::json;

json conf(json ipam) {
  return {{"cniVersion", "1.0.0"}, {"name", "net1"}, {"type", "bridge"}, {"ipam", ipam}};
}

// The code and message of the cni::Error that parsing `j` throws.
std::pair<int, std::string> parse_error(const json& j) {
  try {
    parse_ipam_config(j);
  } catch (const cni::Error& e) {
    return {e.code(), e.msg()};
  }
  return {0, "no error"};
}

TEST(IpamConfigTest, AppliesHostLocalDefaults) {
  auto cfg = parse_ipam_config(conf({{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}}}));
  EXPECT_EQ(cfg.network, "net1");
  EXPECT_EQ(cfg.pool, "net1");
  ASSERT_EQ(cfg.range_sets.size(), 1u);
  const Range& r = cfg.range_sets[0].ranges[0];
  EXPECT_EQ(r.subnet.str(), "10.1.0.0/24");
  EXPECT_EQ(r.start.str(), "10.1.0.1");
  EXPECT_EQ(r.end.str(), "10.1.0.254");
  EXPECT_EQ(r.gateway.str(), "10.1.0.1");
  EXPECT_EQ(cfg.store.type, "sqlite");
  EXPECT_EQ(cfg.store.path, "/var/lib/cni/cnimux/ipam.db");
  EXPECT_EQ(cfg.store.synchronous, "normal");
  EXPECT_FALSE(cfg.sticky);
}

TEST(IpamConfigTest, Ipv6RangeEndsAtTheLastAddress) {
  auto cfg = parse_ipam_config(conf({{"ranges", {{{{"subnet", "fd00::/64"}}}}}}));
  const Range& r = cfg.range_sets[0].ranges[0];
  EXPECT_EQ(r.start.str(), "fd00::1");
  EXPECT_EQ(r.end.str(), "fd00::ffff:ffff:ffff:ffff");
  EXPECT_EQ(r.gateway.str(), "fd00::1");
}

TEST(IpamConfigTest, ReadsEveryKey) {
  json ipam = {{"type", "cnimux-ipam"},
               {"pool", "shared"},
               {"ranges",
                {{{{"subnet", "10.1.0.0/24"},
                   {"rangeStart", "10.1.0.10"},
                   {"rangeEnd", "10.1.0.20"},
                   {"gateway", "10.1.0.254"}},
                  {{"subnet", "10.2.0.0/24"}}},
                 {{{"subnet", "fd00::/64"}}}}},
               {"exclude", {"10.1.0.15", "10.1.0.16/30"}},
               {"routes", {{{"dst", "0.0.0.0/0"}}, {{"dst", "10.9.0.0/16"}, {"gw", "10.1.0.254"}}}},
               {"dns",
                {{"nameservers", {"10.1.0.53"}},
                 {"domain", "cluster.local"},
                 {"search", {"a.local"}},
                 {"options", {"ndots:5"}}}},
               {"store",
                {{"type", "sqlite"},
                 {"path", "/tmp/x/ipam.db"},
                 {"synchronous", "full"},
                 {"busyTimeoutMs", 500}}},
               {"sticky", true}};
  json j = conf(ipam);
  j["runtimeConfig"] = {{"ips", {"10.1.0.12/24"}}};
  j["args"] = {{"cni", {{"ips", {"fd00::9"}}, {"podRef", "ns1/web-0"}}}};
  auto cfg = parse_ipam_config(j);
  EXPECT_EQ(cfg.pool, "shared");
  ASSERT_EQ(cfg.range_sets.size(), 2u);
  EXPECT_EQ(cfg.range_sets[0].ranges.size(), 2u);
  EXPECT_EQ(cfg.range_sets[0].ranges[0].start.str(), "10.1.0.10");
  EXPECT_EQ(cfg.range_sets[0].ranges[0].end.str(), "10.1.0.20");
  EXPECT_EQ(cfg.range_sets[0].ranges[0].gateway.str(), "10.1.0.254");
  EXPECT_FALSE(cfg.range_sets[1].is_v4());
  ASSERT_EQ(cfg.exclude.size(), 2u);
  EXPECT_EQ(cfg.exclude[0].str(), "10.1.0.15/32");
  EXPECT_EQ(cfg.exclude[1].str(), "10.1.0.16/30");
  ASSERT_EQ(cfg.routes.size(), 2u);
  EXPECT_EQ(cfg.routes[1].gw, "10.1.0.254");
  EXPECT_EQ(cfg.dns.nameservers, std::vector<std::string>{"10.1.0.53"});
  EXPECT_EQ(cfg.dns.domain, "cluster.local");
  EXPECT_EQ(cfg.dns.options, std::vector<std::string>{"ndots:5"});
  EXPECT_EQ(cfg.store.path, "/tmp/x/ipam.db");
  EXPECT_EQ(cfg.store.synchronous, "full");
  EXPECT_EQ(cfg.store.busy_timeout_ms, 500);
  EXPECT_TRUE(cfg.sticky);
  ASSERT_EQ(cfg.requested.size(), 2u);
  EXPECT_EQ(cfg.requested[0].str(), "10.1.0.12");
  EXPECT_EQ(cfg.requested[1].str(), "fd00::9");
  EXPECT_EQ(cfg.pod_ref, "ns1/web-0");
}

TEST(IpamConfigTest, AcceptsHostLocalLegacySingleRange) {
  auto cfg = parse_ipam_config(conf({{"type", "host-local"},
                                     {"subnet", "10.3.0.0/16"},
                                     {"rangeStart", "10.3.1.0"},
                                     {"rangeEnd", "10.3.1.255"},
                                     {"gateway", "10.3.0.1"},
                                     {"ranges", {{{{"subnet", "fd01::/64"}}}}}}));
  ASSERT_EQ(cfg.range_sets.size(), 2u);
  EXPECT_EQ(cfg.range_sets[0].ranges[0].subnet.str(), "10.3.0.0/16");
  EXPECT_EQ(cfg.range_sets[0].ranges[0].start.str(), "10.3.1.0");
  EXPECT_EQ(cfg.range_sets[1].ranges[0].subnet.str(), "fd01::/64");
}

TEST(IpamConfigTest, DataDirPlacesTheStore) {
  auto cfg = parse_ipam_config(
      conf({{"dataDir", "/run/ipam-state"}, {"ranges", {{{{"subnet", "10.1.0.0/24"}}}}}}));
  EXPECT_EQ(cfg.store.path, "/run/ipam-state/cnimux-ipam.db");
}

TEST(IpamConfigTest, ErrorsNameTheField) {
  struct Case {
    json ipam;
    std::string expect;
  };
  std::vector<Case> cases = {
      {{{"type", "x"}}, "ipam.ranges: missing"},
      {{{"ranges", {{{{"subnet", "10.1.0.0"}}}}}}, "ipam.ranges[0][0].subnet \"10.1.0.0\""},
      {{{"ranges", {{{{"subnet", "10.1.0.5/24"}}}}}}, "host bits set"},
      {{{"ranges", {{{{"subnet", "10.1.0.0/31"}}}}}}, "too small"},
      {{{"ranges", {{{{"subnet", "10.1.0.0/24"}, {"rangeStart", "10.2.0.1"}}}}}},
       "ipam.ranges[0][0].rangeStart \"10.2.0.1\": not in subnet 10.1.0.0/24"},
      {{{"ranges",
         {{{{"subnet", "10.1.0.0/24"}, {"rangeStart", "10.1.0.9"}, {"rangeEnd", "10.1.0.3"}}}}}},
       "is after rangeEnd"},
      {{{"ranges", {{{{"subnet", "10.1.0.0/24"}}, {{"subnet", "fd00::/64"}}}}}},
       "ipam.ranges[0][1]: mixes IPv4 and IPv6"},
      {{{"ranges", {{{{"subnet", "10.1.0.0/24"}}}, {{{"subnet", "10.1.0.0/25"}}}}}},
       "ipam.ranges[1][0]: overlaps ipam.ranges[0][0]"},
      {{{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}}, {"exclude", {"10.1.0"}}},
       "ipam.exclude \"10.1.0\""},
      {{{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}}, {"store", {{"type", "etcd2"}}}},
       "ipam.store.type \"etcd2\""},
      {{{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}}, {"store", {{"path", "rel/ipam.db"}}}},
       "ipam.store.path \"rel/ipam.db\": must be an absolute path"},
      {{{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}}, {"sticky", "yes"}}, "ipam.sticky"},
      {{{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}}, {"routes", {{{"dst", "x"}}}}},
       "ipam.routes[0].dst \"x\""},
      {{{"ranges", "10.1.0.0/24"}}, "ipam.ranges"},
      {{{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}}, {"store", {{"type", "etcd"}}}},
       "ipam.store.endpoints: missing"},
      {{{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}},
        {"store", {{"type", "etcd"}, {"endpoints", {"10.0.0.1:2379"}}}}},
       "ipam.store.endpoints \"10.0.0.1:2379\": must start with http:// or https://"},
      {{{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}},
        {"store", {{"type", "etcd"}, {"endpoints", {"http://e:2379"}}, {"cluster", "a/b"}}}},
       "ipam.store.cluster \"a/b\": must not contain '/'"},
      {{{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}},
        {"store", {{"type", "etcd"}, {"endpoints", {"http://e:2379"}}, {"timeout", 0}}}},
       "ipam.store.timeout"},
      {{{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}},
        {"store", {{"type", "etcd"}, {"endpoints", {"http://e:2379"}}, {"tls", {{"cert", "/c"}}}}}},
       "ipam.store.tls: cert and key must be given together"},
      {{{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}},
        {"store", {{"type", "etcd"}, {"endpoints", {"http://e:2379"}}, {"blockSize", 48}}}},
       "ipam.store.blockSize: must be 0 (no blocks) or a power of two from 2 to 65536, got 48"},
      {{{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}},
        {"store", {{"type", "etcd"}, {"endpoints", {"http://e:2379"}}, {"blockSize", 1}}}},
       "ipam.store.blockSize: must be 0 (no blocks) or a power of two from 2 to 65536, got 1"},
      {{{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}},
        {"store", {{"type", "etcd"}, {"endpoints", {"http://e:2379"}}, {"blockSize", 131072}}}},
       "ipam.store.blockSize: must be 0 (no blocks) or a power of two from 2 to 65536, got 131072"},
      {{{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}},
        {"store", {{"type", "etcd"}, {"endpoints", {"http://e:2379"}}, {"blockSize", -64}}}},
       "ipam.store.blockSize: must be 0 (no blocks) or a power of two from 2 to 65536, got -64"},
      {{{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}},
        {"store", {{"type", "etcd"}, {"endpoints", {"http://e:2379"}}, {"blockSize", "64"}}}},
       "ipam.store.blockSize: must be 0 (no blocks) or a power of two from 2 to 65536, got \"64\""},
      {{{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}},
        {"store", {{"type", "sqlite"}, {"blockSize", 64}}}},
       "ipam.store.blockSize: per-node blocks are a shared store's (type \"etcd\"), not sqlite's; "
       "got 64"},
  };
  for (const auto& c : cases) {
    auto [code, msg] = parse_error(conf(c.ipam));
    EXPECT_EQ(code, cni::kInvalidConfig) << c.ipam.dump() << " -> " << msg;
    EXPECT_NE(msg.find(c.expect), std::string::npos) << "\"" << msg << "\" lacks " << c.expect;
  }
}

TEST(IpamConfigTest, MissingIpamAndBadRequestsAreErrors) {
  EXPECT_EQ(parse_error({{"name", "n"}}).first, cni::kInvalidConfig);
  json j = conf({{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}}});
  j["runtimeConfig"] = {{"ips", {"not-an-ip"}}};
  auto [code, msg] = parse_error(j);
  EXPECT_EQ(code, cni::kInvalidConfig);
  EXPECT_NE(msg.find("runtimeConfig.ips \"not-an-ip\""), std::string::npos) << msg;
}

TEST(IpamConfigTest, ResolvConfFillsDnsAndDnsOverridesIt) {
  ipam_test::TempDir dir;
  {
    std::ofstream f(dir.file("resolv.conf"));
    f << "# comment\nnameserver 10.0.0.53\nnameserver 10.0.0.54\ndomain corp.example\n"
         "search a.example b.example\noptions ndots:2 edns0\n";
  }
  json j = conf({{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}},
                 {"resolvConf", dir.file("resolv.conf")},
                 {"dns", {{"domain", "cluster.local"}}}});
  cni::Dns dns = effective_dns(parse_ipam_config(j));
  EXPECT_EQ(dns.nameservers, (std::vector<std::string>{"10.0.0.53", "10.0.0.54"}));
  EXPECT_EQ(dns.domain, "cluster.local");
  EXPECT_EQ(dns.search, (std::vector<std::string>{"a.example", "b.example"}));
  EXPECT_EQ(dns.options, (std::vector<std::string>{"ndots:2", "edns0"}));
  j["ipam"]["resolvConf"] = dir.file("missing.conf");
  auto cfg = parse_ipam_config(j);  // read at ADD, not at parse: DEL never needs it
  try {
    effective_dns(cfg);
    FAIL() << "missing resolvConf accepted";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kInvalidConfig);
    EXPECT_NE(e.msg().find("ipam.resolvConf"), std::string::npos) << e.msg();
  }
}

TEST(IpListTest, ParsesCniArgsIpValues) {
  auto ips = parse_ip_list("10.1.0.5,fd00::5/64");
  ASSERT_EQ(ips.size(), 2u);
  EXPECT_EQ(ips[0].str(), "10.1.0.5");
  EXPECT_EQ(ips[1].str(), "fd00::5");
  try {
    parse_ip_list("10.1.0.5,bogus");
    FAIL() << "bogus accepted";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kInvalidEnvironment);
    EXPECT_NE(e.msg().find("bogus"), std::string::npos);
  }
}

TEST(IpamConfigTest, StoreOfACnimuxIpamPluginConfig) {
  json bridge = {{"name", "n"},
                 {"type", "bridge"},
                 {"ipam",
                  {{"type", "cnimux-ipam"},
                   {"ranges", "broken"},
                   {"store", {{"path", "/srv/ipam/x.db"}, {"busyTimeoutMs", 5}}}}}};
  auto store = cnimux_ipam_store(bridge);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->path, "/srv/ipam/x.db");
  EXPECT_EQ(store->busy_timeout_ms, 5);
  bridge["ipam"].erase("store");
  EXPECT_EQ(cnimux_ipam_store(bridge)->path, default_store_config().path);
  EXPECT_EQ(default_store_config().path, "/var/lib/cni/cnimux/ipam.db");
  bridge["ipam"]["dataDir"] = "/srv/hl";
  EXPECT_EQ(cnimux_ipam_store(bridge)->path, "/srv/hl/cnimux-ipam.db");
  EXPECT_FALSE(cnimux_ipam_store({{"type", "bridge"}, {"ipam", {{"type", "host-local"}}}}));
  EXPECT_FALSE(cnimux_ipam_store({{"type", "loopback"}}));
  bridge["ipam"]["store"] = {{"path", "relative.db"}};
  EXPECT_THROW(cnimux_ipam_store(bridge), cni::Error);
}

TEST(IpamConfig, EtcdStoreKeys) {
  json ipam = {{"ranges", {{{{"subnet", "10.1.0.0/24"}}}}},
               {"store",
                {{"type", "etcd"},
                 {"endpoints", {"https://10.0.0.1:2379", "https://10.0.0.2:2379"}},
                 {"prefix", "/ipam/"},
                 {"cluster", "east"},
                 {"node", "node-1"},
                 {"tls", {{"ca", "/etc/ca.pem"}, {"cert", "/etc/c.pem"}, {"key", "/etc/k.pem"}}},
                 {"username", "cni"},
                 {"password", "s3cret"},
                 {"timeout", 2.5},
                 {"blockSize", 64}}}};
  auto cfg = parse_ipam_config({{"name", "n"}, {"ipam", ipam}});
  EXPECT_EQ(cfg.store.type, "etcd");
  const auto& e = cfg.store.etcd;
  EXPECT_EQ(e.endpoints,
            (std::vector<std::string>{"https://10.0.0.1:2379", "https://10.0.0.2:2379"}));
  EXPECT_EQ(e.prefix, "/ipam");
  EXPECT_EQ(e.cluster, "east");
  EXPECT_EQ(e.node, "node-1");
  EXPECT_EQ(e.ca_file, "/etc/ca.pem");
  EXPECT_EQ(e.key_file, "/etc/k.pem");
  EXPECT_EQ(e.username, "cni");
  EXPECT_EQ(e.password, "s3cret");
  EXPECT_EQ(e.timeout_ms, 2500);
  EXPECT_EQ(e.block_size, 64);
  // Defaults: prefix /cnimux, cluster "default", the host name as node, 10 s.
  ipam["store"] = {{"type", "etcd"}, {"endpoints", {"http://127.0.0.1:2379"}}};
  auto d = parse_ipam_config({{"name", "n"}, {"ipam", ipam}}).store.etcd;
  EXPECT_EQ(d.prefix, "/cnimux");
  EXPECT_EQ(d.cluster, "default");
  EXPECT_FALSE(d.node.empty());
  EXPECT_EQ(d.timeout_ms, 10000);
  EXPECT_EQ(d.block_size, 0);  // no blocks
}

}  // namespace
}  // namespace ipam
