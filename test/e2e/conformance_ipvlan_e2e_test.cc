// Conformance of cnimux-ipvlan with the reference ipvlan (/usr/lib/cni/ipvlan): one scenario
// table in a throwaway node netns, cniVersion 0.3.1, 0.4.0, 1.0.0 and 1.1.0 (ours only;
// compared with the reference's 1.0.0 outcome), five ways as the macvlan table: the reference;
// cnimux-ipvlan executed; in-process via inTree ["ipvlan"]; and through the cnimux binary,
// executing cnimux-ipvlan installed as "ipvlan", and with inTree ["ipvlan"]. A kernel without
// the ipvlan module cannot run it: every case then skips, naming the module, so the table is
// reported as not run rather than missing (docs/delegation.md).
#include <gtest/gtest.h>

#include <filesystem>

#include "cni/delegate_resolver.h"
#include "cni/error.h"
#include "delegates/registry.h"
#include "net/netlink.h"
#include "net/netns.h"
#include "test/e2e/through_cnimux.h"
#include "test/fakes/test_netns.h"

namespace {

using cnimux_test::TestNetns;
using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kWays[] = {"reference", "executed", "inprocess", "cnimux-exec",
                                 "cnimux-intree"};

struct Outcome {
  bool ok = false;
  int code = 0;
  json result;
};

// What a scenario left in the pod: kind, mode, MTU and addresses (an ipvlan has its master's
// MAC, so the MAC is not compared).
struct LinkView {
  bool present = false;
  std::string kind, mode;
  unsigned mtu = 0;
  std::vector<std::string> addresses;
  bool operator==(const LinkView&) const = default;
};

class ConformanceIpvlan : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ASSERT_EQ(node_.exec("ip link add up0 type veth peer name up1 && ip link set up0 up && "
                         "ip link set up1 up && ip addr add 192.168.78.2/24 dev up0 && "
                         "ip route add default via 192.168.78.1 dev up0"),
              0);
    net::Netns node = net::Netns::open(node_.path());
    net::NetlinkSocket sk = net::NetlinkSocket::in(node);
    try {
      net::create_ipvlan(sk, "probe0", "up0", "l2");
      net::delete_link(sk, "probe0");
    } catch (const net::NetlinkError& e) {
      if (e.sys_errno() != EOPNOTSUPP) throw;
      GTEST_SKIP() << "kernel module ipvlan missing (modprobe ipvlan): the ipvlan conformance "
                      "table cannot run on this kernel ("
                   << e.what() << ")";
    }
    dir_ = fs::temp_directory_path() / (cnimux_test::test_prefix() + "-ipvconf");
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  std::string version_for(const std::string& way) const {
    return way == "reference" && GetParam() == "1.1.0" ? "1.0.0" : GetParam();
  }

  json config(const std::string& way, const json& extra) {
    json c = {
        {"cniVersion", version_for(way)},
        {"name", "ipv"},
        {"type", "ipvlan"},
        {"ipam",
         {{"type", "cnimux-ipam"},
          {"subnet", "10.9.1.0/24"},
          {"store", {{"path", (dir_ / (way + "-" + std::to_string(runs_) + ".db")).string()}}}}}};
    c.update(extra);
    return c;
  }

  Outcome run(const std::string& way, cni::Verb verb, const json& conf) {
    Outcome o;
    if (way.rfind("cnimux-", 0) == 0) {
      const bool in_tree = way == "cnimux-intree";
      cnimux_test::ThroughCnimux cnimux(
          (dir_ / (way + "-" + std::to_string(runs_))).string(), node_.path(),
          {{"ipvlan",
            in_tree ? "/nonexistent/ipvlan" : CNIMUX_BINARY_DIR "/delegates/cnimux-ipvlan"},
           {"cnimux-ipam", CNIMUX_BINARY_DIR "/ipam/cnimux-ipam"}},
          in_tree ? json{{"inTree", {"ipvlan"}}} : json::object());
      auto r =
          cnimux.run(std::string(cni::verb_name(verb)), "conf-" + way, pod_.path(), "net1", conf);
      o.ok = r.exit_code == 0;
      if (!r.out.empty()) o.result = r.json();
      if (!o.ok) o.code = o.result.value("code", 0);
      return o;
    }
    std::unique_ptr<cni::Delegate> d;
    if (way == "reference") d = cni::DelegateRegistry({"/usr/lib/cni"}).resolve("ipvlan");
    if (way == "executed") {
      d = cni::DelegateRegistry({CNIMUX_BINARY_DIR "/delegates"}).resolve("cnimux-ipvlan");
    }
    cni::DelegateRegistry registry({"/nonexistent"});
    if (way == "inprocess") {
      delegates::register_in_tree(registry, {"ipvlan"});
      d = registry.resolve("ipvlan");
    }
    cni::DelegateRequest req;
    req.verb = verb;
    req.container_id = "conf-" + way;
    req.netns = pod_.path();
    req.ifname = "net1";
    req.path = {CNIMUX_BINARY_DIR "/ipam", "/usr/lib/cni"};
    req.config = conf.dump();
    req.timeout = std::chrono::seconds(30);
    try {
      net::Netns node = net::Netns::open(node_.path());
      o.result = net::with_netns(node, [&] { return d->invoke(req); });
      o.ok = true;
    } catch (const cni::Error& e) {
      o.code = e.code();
      o.result = json{{"msg", e.msg()}};
    }
    return o;
  }

  LinkView link() {
    LinkView v;
    net::Netns pod = net::Netns::open(pod_.path());
    net::NetlinkSocket sk = net::NetlinkSocket::in(pod);
    if (!net::link_exists(sk, "net1")) return v;
    const net::LinkInfo info = net::get_link_info(sk, "net1");
    return {true, info.kind, net::link_mode(sk, "net1"), info.mtu, net::list_addresses(sk, "net1")};
  }

  json shape(json r, const std::string& way) const {
    EXPECT_EQ(r.value("cniVersion", ""), version_for(way)) << way;
    r.erase("cniVersion");
    if (r.contains("interfaces"))
      for (auto& i : r["interfaces"]) i["mac"] = "<mac>";
    if (r.contains("dns") && r["dns"].empty()) r.erase("dns");
    return r;
  }

  // ADD (CHECK from 0.4.0) and DEL of `extra` every way, compared with the reference. Our DEL
  // must succeed; the reference's DEL outcome is not compared (it validates the master).
  void scenario(const std::string& what, const json& extra) {
    SCOPED_TRACE(what + " cniVersion " + GetParam());
    std::map<std::string, std::pair<Outcome, LinkView>> seen;
    for (const std::string way : kWays) {
      SCOPED_TRACE(way);
      ++runs_;
      const json conf = config(way, extra);
      Outcome add = run(way, cni::Verb::kAdd, conf);
      const LinkView view = link();
      if (add.ok) {
        if (GetParam() != "0.3.1") {
          json c = conf;
          c["prevResult"] = add.result;
          Outcome check = run(way, cni::Verb::kCheck, c);
          EXPECT_TRUE(check.ok) << check.result.dump();
        }
        add.result = shape(add.result, way);
      }
      Outcome del = run(way, cni::Verb::kDel, conf);
      if (way != "reference") {
        EXPECT_TRUE(del.ok) << del.result.dump();
      }
      if (!add.ok && way != "reference") {
        EXPECT_EQ(add.code, cni::kInvalidConfig) << add.result.dump();
      }
      seen[way] = {add, view};
    }
    const auto& ref = seen["reference"];
    for (const std::string way : kWays) {
      const auto& got = seen[way];
      EXPECT_EQ(got.first.ok, ref.first.ok) << way << ": " << got.first.result.dump();
      if (ref.first.ok) {
        EXPECT_EQ(got.first.result, ref.first.result) << way;
      }
      EXPECT_TRUE(got.second == ref.second) << way << " link differs: " << got.second.kind << " "
                                            << got.second.mode << " " << got.second.mtu;
    }
  }

  TestNetns node_{"in"};
  TestNetns pod_{"ip"};
  fs::path dir_;
  int runs_ = 0;
};

TEST_P(ConformanceIpvlan, AddCheckDelWithMasterFromTheDefaultRoute) {
  scenario("default", json::object());
}
TEST_P(ConformanceIpvlan, L3ModeAndMtu) {
  scenario("l3 mtu", {{"master", "up0"}, {"mode", "l3"}, {"mtu", 1400}});
}
TEST_P(ConformanceIpvlan, LayerTwoOnly) {
  scenario("l2 only", {{"master", "up0"}, {"ipam", json::object()}});
}
TEST_P(ConformanceIpvlan, MissingMaster) {
  scenario("missing master", {{"master", "nosuch0"}});
}
TEST_P(ConformanceIpvlan, UnknownMode) {
  scenario("unknown mode", {{"master", "up0"}, {"mode", "vepa"}});
}
TEST_P(ConformanceIpvlan, DelWithoutAdd) {
  for (const std::string way : kWays) {
    if (way == "reference") continue;
    Outcome del = run(way, cni::Verb::kDel, config(way, {{"master", "up0"}}));
    EXPECT_TRUE(del.ok) << way << ": " << del.result.dump();
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, ConformanceIpvlan,
                         ::testing::Values("0.3.1", "0.4.0", "1.0.0", "1.1.0"),
                         [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '.', '_');
                           return "v" + s;
                         });

}  // namespace
