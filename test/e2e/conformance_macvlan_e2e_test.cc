// Conformance of cnimux-macvlan with the reference macvlan (/usr/lib/cni/macvlan): one scenario
// table, run in a throwaway node netns for cniVersion 0.3.1, 0.4.0, 1.0.0 and 1.1.0 (ours only;
// compared with the reference's 1.0.0 outcome), five ways: the reference; cnimux-macvlan
// executed; cnimux-macvlan in-process as cnimux's registry runs it for "type": "macvlan" with
// inTree: ["macvlan"]; and through the cnimux binary, executing cnimux-macvlan installed as
// "macvlan", and with inTree: ["macvlan"] (in-process). Visible outcomes must match; the
// documented differences (docs/delegation.md): the reference fails with code 999, we with 7,
// and the reference's DEL fails when the master or MTU is wrong.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

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

struct Outcome {
  bool ok = false;
  int code = 0;
  json result;
};

// What a scenario left in the pod, compared across implementations.
struct LinkView {
  bool present = false;
  std::string kind, mode, mac;
  unsigned mtu = 0;
  bool up = false;
  std::vector<std::string> addresses;
  bool operator==(const LinkView&) const = default;
};

class ConformanceMacvlan : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ASSERT_EQ(node_.exec("ip link add up0 type veth peer name up1 && ip link set up0 up && "
                         "ip link set up1 up && ip addr add 192.168.77.2/24 dev up0 && "
                         "ip route add default via 192.168.77.1 dev up0"),
              0);
    dir_ = fs::temp_directory_path() / (cnimux_test::test_prefix() + "-conf");
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The ways under test, by label; the last two run the cnimux binary.
  static constexpr const char* kWays[] = {"reference", "executed", "inprocess", "cnimux-exec",
                                          "cnimux-intree"};
  static bool through_cnimux(const std::string& impl) { return impl.rfind("cnimux-", 0) == 0; }

  // The reference knows cniVersion up to 1.0.0; for 1.1.0 it runs at 1.0.0.
  std::string version_for(const std::string& impl) const {
    return impl == "reference" && GetParam() == "1.1.0" ? "1.0.0" : GetParam();
  }

  // cnimux with the config as its cluster network: "cnimux-exec" executes cnimux-macvlan
  // installed under the reference's name, "cnimux-intree" runs it in-process (inTree).
  cnimux_test::ThroughCnimux cnimux(const std::string& impl) {
    const bool in_tree = impl == "cnimux-intree";
    return cnimux_test::ThroughCnimux(
        (dir_ / (impl + "-" + std::to_string(runs_))).string(), node_.path(),
        {{"macvlan",
          in_tree ? "/nonexistent/macvlan" : CNIMUX_BINARY_DIR "/delegates/cnimux-macvlan"},
         {"cnimux-ipam", CNIMUX_BINARY_DIR "/ipam/cnimux-ipam"}},
        in_tree ? json{{"inTree", {"macvlan"}}} : json::object());
  }

  // The three implementations run without cnimux, by label.
  std::unique_ptr<cni::Delegate> make(const std::string& impl) {
    if (impl == "reference") return cni::DelegateRegistry({"/usr/lib/cni"}).resolve("macvlan");
    if (impl == "executed") {
      return cni::DelegateRegistry({CNIMUX_BINARY_DIR "/delegates"}).resolve("cnimux-macvlan");
    }
    cni::DelegateRegistry registry({"/nonexistent"});
    delegates::register_in_tree(registry, {"macvlan"});
    return registry.resolve("macvlan");
  }

  json config(const std::string& impl, json extra) {
    json c = {
        {"cniVersion", version_for(impl)},
        {"name", "mv"},
        {"type", "macvlan"},
        {"ipam",
         {{"type", "cnimux-ipam"},
          {"subnet", "10.9.0.0/24"},
          {"store", {{"path", (dir_ / (impl + "-" + std::to_string(runs_) + ".db")).string()}}}}}};
    c.update(extra);
    return c;
  }

  Outcome run(const std::string& impl, cni::Verb verb, const json& conf,
              const std::string& args = "") {
    cni::DelegateRequest req;
    req.verb = verb;
    req.container_id = "conf-" + impl;
    req.netns = pod_.path();
    req.ifname = "net1";
    req.cni_args = args;
    req.path = {CNIMUX_BINARY_DIR "/ipam", "/usr/lib/cni"};
    req.config = conf.dump();
    req.timeout = std::chrono::seconds(30);
    Outcome o;
    if (through_cnimux(impl)) {
      auto r = cnimux(impl).run(std::string(cni::verb_name(verb)), req.container_id, req.netns,
                                req.ifname, conf, args);
      o.ok = r.exit_code == 0;
      if (!r.out.empty()) o.result = r.json();
      if (!o.ok) o.code = o.result.value("code", 0);
      return o;
    }
    net::Netns node = net::Netns::open(node_.path());
    try {
      o.result = net::with_netns(node, [&] { return make(impl)->invoke(req); });
      o.ok = true;
    } catch (const cni::Error& e) {
      o.code = e.code();
      o.result = json{{"msg", e.msg()}};
    }
    return o;
  }

  LinkView link() {
    LinkView v;
    net::Netns ns = net::Netns::open(pod_.path());
    net::NetlinkSocket sk = net::NetlinkSocket::in(ns);
    if (!net::link_exists(sk, "net1")) return v;
    const net::LinkInfo info = net::get_link_info(sk, "net1");
    v = {true,     info.kind, net::link_mode(sk, "net1"),     info.mac,
         info.mtu, info.up,   net::list_addresses(sk, "net1")};
    return v;
  }

  // A result with random MACs masked, an empty dns left out (the reference prints {}), and
  // cniVersion checked against the requested one, then left out (see version_for).
  json shape(json r, const std::string& impl) const {
    EXPECT_EQ(r.value("cniVersion", ""), version_for(impl)) << impl;
    r.erase("cniVersion");
    if (r.contains("interfaces"))
      for (auto& i : r["interfaces"]) i["mac"] = "<mac>";
    if (r.contains("dns") && r["dns"].empty()) r.erase("dns");
    return r;
  }

  // Runs ADD (and CHECK, DEL) of `extra` against every implementation and compares.
  // `reference_del_fails`: Debian's reference 1.1.1 validates master and MTU on DEL too, so
  // its DEL fails where ours succeeds (docs/delegation.md).
  void scenario(const std::string& what, const json& extra, const std::string& args = "",
                const std::string& want_mac = "", bool reference_del_fails = false) {
    SCOPED_TRACE(what + " cniVersion " + GetParam());
    std::map<std::string, std::pair<Outcome, LinkView>> seen;
    for (const std::string impl : kWays) {
      SCOPED_TRACE(impl);
      ++runs_;
      const json conf = config(impl, extra);
      Outcome add = run(impl, cni::Verb::kAdd, conf, args);
      LinkView view = link();
      if (add.ok) {
        if (!want_mac.empty()) {
          EXPECT_EQ(view.mac, want_mac);
        }
        view.mac.clear();  // random unless requested
        if (GetParam() != "0.3.1") {
          json c = conf;
          c["prevResult"] = add.result;
          Outcome check = run(impl, cni::Verb::kCheck, c, args);
          EXPECT_TRUE(check.ok) << check.result.dump();
        }
        add.result = shape(add.result, impl);
      }
      Outcome del = run(impl, cni::Verb::kDel, conf, args);
      EXPECT_EQ(del.ok, !(reference_del_fails && impl == "reference")) << del.result.dump();
      EXPECT_FALSE(link().present) << "DEL left net1";
      if (!add.ok && impl != "reference") {
        EXPECT_EQ(add.code, cni::kInvalidConfig) << add.result.dump();
      }
      seen[impl] = {add, view};
    }
    const auto& ref = seen["reference"];
    for (const std::string impl : kWays) {
      if (impl == "reference") continue;
      const auto& got = seen[impl];
      EXPECT_EQ(got.first.ok, ref.first.ok)
          << impl << ": " << got.first.result.dump() << " vs reference " << ref.first.result.dump();
      if (ref.first.ok) {
        EXPECT_EQ(got.first.result, ref.first.result) << impl;
      }
      EXPECT_TRUE(got.second == ref.second) << impl << " link differs: " << got.second.kind << " "
                                            << got.second.mode << " " << got.second.mtu;
    }
  }

  TestNetns node_{"cn"};
  TestNetns pod_{"cp"};
  fs::path dir_;
  int runs_ = 0;
};

TEST_P(ConformanceMacvlan, AddCheckDelWithMasterFromTheDefaultRoute) {
  scenario("default", json::object());
}
TEST_P(ConformanceMacvlan, ModesAndMtu) {
  scenario("private mtu", {{"master", "up0"}, {"mode", "private"}, {"mtu", 1400}});
}
TEST_P(ConformanceMacvlan, LayerTwoOnly) {
  scenario("l2", {{"ipam", json::object()}});
}
TEST_P(ConformanceMacvlan, MacFromCniArgs) {
  scenario("mac args", json::object(), "IgnoreUnknown=1;MAC=02:11:22:33:44:55",
           "02:11:22:33:44:55");
}
TEST_P(ConformanceMacvlan, MacFromRuntimeConfigWins) {
  scenario("mac runtimeConfig",
           {{"capabilities", {{"mac", true}}}, {"runtimeConfig", {{"mac", "02:11:22:33:44:66"}}}},
           "IgnoreUnknown=1;MAC=02:11:22:33:44:55", "02:11:22:33:44:66");
}
TEST_P(ConformanceMacvlan, MissingMaster) {
  scenario("missing master", {{"master", "nosuch0"}}, "", "", true);
}
TEST_P(ConformanceMacvlan, MtuAboveTheMasters) {
  scenario("mtu too large", {{"mtu", 9000}}, "", "", true);
}
TEST_P(ConformanceMacvlan, UnknownMode) {
  scenario("unknown mode", {{"mode", "foo"}});
}
TEST_P(ConformanceMacvlan, DelWithoutAdd) {
  for (const std::string impl : kWays) {
    Outcome del = run(impl, cni::Verb::kDel, config(impl, json::object()));
    EXPECT_TRUE(del.ok) << impl << ": " << del.result.dump();
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, ConformanceMacvlan,
                         ::testing::Values("0.3.1", "0.4.0", "1.0.0", "1.1.0"),
                         [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '.', '_');
                           return "v" + s;
                         });

}  // namespace
