// Tests of the net:: libnl helpers in a real namespace: a veth pair with one end inside, configured
// and read back from inside the namespace, macvlan, moves, deletes and error messages.
#include "net/netlink.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/if_link.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <memory>

#include "net/netns.h"
#include "test/fakes/test_netns.h"

namespace net {
namespace {

using cni::Error;
using cni::kInvalidConfig;
using cni::kIoFailure;
using cnimux_test::run_shell;
using cnimux_test::test_prefix;
using cnimux_test::TestNetns;
using cnimux_test::TestVeth;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

std::vector<std::string> names(const std::vector<LinkInfo>& links) {
  std::vector<std::string> out;
  for (const auto& l : links) out.push_back(l.name);
  return out;
}

// Writes /proc/sys/net/<key> of the calling thread's current namespace.
void write_sysctl(const std::string& key, const std::string& value) {
  std::ofstream f("/proc/sys/net/" + key);
  f << value;
  f.close();
  ASSERT_TRUE(f) << "cannot write sysctl net/" << key;
}

// A namespace "cxt<pid>a" holding the peer end "cxt<pid>p0" of a veth pair created with the
// code under test; the host end is "cxt<pid>h0". Everything is removed in TearDown, and the
// namespace's destructor removes the pair even if the host-end delete never runs.
class NetlinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ns_ = std::make_unique<TestNetns>("a");
    netns_ = std::make_unique<Netns>(Netns::open(ns_->path()));
    host_ = test_prefix() + "h0";
    peer_ = test_prefix() + "p0";
    create_veth(host_sk_, host_, peer_, netns_->fd());
    pod_sk_ = std::make_unique<NetlinkSocket>(NetlinkSocket::in(*netns_));
  }
  void TearDown() override {
    run_shell("ip link delete " + host_ + " 2>/dev/null");
    pod_sk_.reset();
    netns_.reset();
    ns_.reset();
  }
  std::string name(const std::string& suffix) const { return test_prefix() + suffix; }

  std::unique_ptr<TestNetns> ns_;
  std::unique_ptr<Netns> netns_;
  NetlinkSocket host_sk_;
  std::unique_ptr<NetlinkSocket> pod_sk_;  // opened inside the namespace
  std::string host_;
  std::string peer_;
};

TEST_F(NetlinkTest, VethPeerIsInsideTheNamespaceOnly) {
  EXPECT_TRUE(link_exists(host_sk_, host_));
  EXPECT_FALSE(link_exists(host_sk_, peer_));
  // From inside, through the enter guard and a socket opened there.
  with_netns(*netns_, [&] {
    NetlinkSocket inside;
    EXPECT_TRUE(link_exists(inside, peer_));
    EXPECT_FALSE(link_exists(inside, host_));
    EXPECT_EQ(get_link_info(inside, peer_).kind, "veth");
  });
  EXPECT_EQ(ns_->exec("ip link show " + peer_ + " >/dev/null"), 0);
}

TEST_F(NetlinkTest, SocketOpenedInsideListsTheNamespacesLinks) {
  // The calling thread stays home; the socket alone decides where requests go.
  EXPECT_THAT(names(list_links(*pod_sk_)), UnorderedElementsAre("lo", peer_));
  EXPECT_TRUE(link_exists(host_sk_, host_));
}

TEST_F(NetlinkTest, RenameMtuMacUpInsideTheNamespace) {
  std::string eth = name("e0");
  rename_link(*pod_sk_, peer_, eth);
  set_mtu(*pod_sk_, eth, 1400);
  set_mac(*pod_sk_, eth, "02:00:00:AB:cd:01");
  set_up(*pod_sk_, eth);
  LinkInfo info = get_link_info(*pod_sk_, eth);
  LinkInfo want{link_index(*pod_sk_, eth), eth, "02:00:00:ab:cd:01", 1400, true, "veth"};
  EXPECT_EQ(info, want);
  EXPECT_FALSE(link_exists(*pod_sk_, peer_));
  // Cross-check with iproute2 inside the namespace.
  EXPECT_EQ(ns_->exec("ip link show " + eth + " | grep -q \"mtu 1400\""), 0);
  EXPECT_EQ(ns_->exec("ip link show " + eth + " | grep -q 02:00:00:ab:cd:01"), 0);
  set_down(*pod_sk_, eth);
  EXPECT_FALSE(get_link_info(*pod_sk_, eth).up);
}

// Brings the peer up as "e0" with IPv6 on and no autoconfigured link-local address, so the
// address and route tables hold exactly what the test adds plus the kernel's prefix routes.
void prepare_pod_link(NetlinkSocket& host, NetlinkSocket& pod, const Netns& netns,
                      const std::string& host_end, const std::string& peer,
                      const std::string& eth) {
  rename_link(pod, peer, eth);
  with_netns(netns, [&] {
    write_sysctl("ipv6/conf/" + eth + "/disable_ipv6", "0");
    write_sysctl("ipv6/conf/" + eth + "/addr_gen_mode", "1");
  });
  set_up(pod, eth);
  set_up(host, host_end);  // carrier, so gateways are reachable
}

TEST_F(NetlinkTest, AddressesAndRoutesReadBackExactly) {
  std::string eth = name("e0");
  prepare_pod_link(host_sk_, *pod_sk_, *netns_, host_, peer_, eth);
  add_address(*pod_sk_, eth, "10.99.0.2/24");
  add_address(*pod_sk_, eth, "fd00:99::2/64");
  EXPECT_EQ(list_addresses(*pod_sk_, eth),
            (std::vector<std::string>{"10.99.0.2/24", "fd00:99::2/64"}));
  EXPECT_EQ(
      ns_->exec("ip -o -4 addr show dev " + eth + " | grep -q \"10.99.0.2/24 brd 10.99.0.255\""),
      0);
  EXPECT_EQ(ns_->exec("ip -o -6 addr show dev " + eth + " | grep fd00:99::2 | grep -vq tentative"),
            0);

  add_route(*pod_sk_, Route{"10.98.0.0/16", "10.99.0.1", eth, 50});
  add_route(*pod_sk_, Route{"0.0.0.0/0", "10.99.0.1", eth});
  add_route(*pod_sk_, Route{"::/0", "fd00:99::1", eth});
  add_route(*pod_sk_, Route{"fd00:98::/64", "", eth, 0, 254, 4});
  EXPECT_THAT(
      list_routes(*pod_sk_, AF_INET),
      UnorderedElementsAre(
          Route{"0.0.0.0/0", "10.99.0.1", eth, 0}, Route{"10.98.0.0/16", "10.99.0.1", eth, 50},
          Route{"10.99.0.0/24", "", eth, 0, 254, kProtoKernel, false, "10.99.0.2"}));
  EXPECT_THAT(list_routes(*pod_sk_, AF_INET6),
              UnorderedElementsAre(Route{"::/0", "fd00:99::1", eth, 1024},
                                   Route{"fd00:98::/64", "", eth, 1024, 254, 4},
                                   Route{"fd00:99::/64", "", eth, 256, 254, kProtoKernel}));
  EXPECT_EQ(ns_->exec("ip route show default | grep -q \"via 10.99.0.1 dev " + eth + "\""), 0);

  EXPECT_TRUE(del_route(*pod_sk_, Route{"10.98.0.0/16", "10.99.0.1", eth}));
  EXPECT_FALSE(del_route(*pod_sk_, Route{"10.98.0.0/16", "10.99.0.1", eth}));
  EXPECT_TRUE(del_route(*pod_sk_, Route{"::/0", "", eth}));
  EXPECT_EQ(list_routes(*pod_sk_, AF_INET6).size(), 2u);
  EXPECT_TRUE(del_address(*pod_sk_, eth, "fd00:99::2/64"));
  EXPECT_FALSE(del_address(*pod_sk_, eth, "fd00:99::2/64"));
  EXPECT_EQ(list_addresses(*pod_sk_, eth), (std::vector<std::string>{"10.99.0.2/24"}));
}

TEST_F(NetlinkTest, OnlinkSourceAndTableRoutesReadBack) {
  std::string eth = name("e0");
  prepare_pod_link(host_sk_, *pod_sk_, *netns_, host_, peer_, eth);
  add_address(*pod_sk_, eth, "10.99.0.2/24");
  // A gateway no address of the link covers: refused without onlink, accepted with it.
  Route via{"10.96.0.0/16", "169.254.1.1", eth};
  EXPECT_THROW(add_route(*pod_sk_, via), NetlinkError);
  via.onlink = true;
  via.src = "10.99.0.2";
  add_route(*pod_sk_, via);
  Route in_table{"0.0.0.0/0", "10.99.0.1", eth, 0, 101};
  add_route(*pod_sk_, in_table);
  EXPECT_THAT(list_routes(*pod_sk_, AF_INET, 101), UnorderedElementsAre(in_table));
  auto main_routes = list_routes(*pod_sk_, AF_INET);
  EXPECT_NE(std::find(main_routes.begin(), main_routes.end(), via), main_routes.end());
  EXPECT_EQ(ns_->exec("ip route show 10.96.0.0/16 | grep -q \"onlink\""), 0);
  EXPECT_TRUE(del_route(*pod_sk_, via));
  EXPECT_TRUE(del_route(*pod_sk_, in_table));
  EXPECT_TRUE(list_routes(*pod_sk_, AF_INET, 101).empty());
}

TEST_F(NetlinkTest, SourceRulesAddListDelete) {
  Rule v4{"10.99.0.2/32", 101, 1001};
  Rule v6{"fd00:99::2/128", 102, 1002};
  add_rule(*pod_sk_, v4);
  add_rule(*pod_sk_, v6);
  try {
    add_rule(*pod_sk_, v4);
    ADD_FAILURE() << "a second identical rule was accepted";
  } catch (const NetlinkError& e) {
    EXPECT_EQ(e.sys_errno(), EEXIST);
    EXPECT_THAT(e.msg(), HasSubstr("rule from 10.99.0.2/32 lookup 101"));
  }
  EXPECT_THAT(list_rules(*pod_sk_, AF_UNSPEC), UnorderedElementsAre(v4, v6));
  EXPECT_THAT(list_rules(*pod_sk_, AF_INET), UnorderedElementsAre(v4));
  EXPECT_EQ(ns_->exec("ip rule | grep -q \"1001:.*from 10.99.0.2 lookup 101\""), 0);
  EXPECT_TRUE(del_rule(*pod_sk_, v4));
  EXPECT_FALSE(del_rule(*pod_sk_, v4));
  EXPECT_TRUE(del_rule(*pod_sk_, v6));
  EXPECT_TRUE(list_rules(*pod_sk_, AF_UNSPEC).empty());
  EXPECT_THROW(add_rule(*pod_sk_, Rule{"10.99.0.2", 101, 1}), Error);  // no prefix
}

TEST_F(NetlinkTest, LinkScopeAddressesOnlyOnRequest) {
  std::string eth = name("e0");
  rename_link(*pod_sk_, peer_, eth);
  with_netns(*netns_, [&] {
    write_sysctl("ipv6/conf/" + eth + "/disable_ipv6", "0");
    write_sysctl("ipv6/conf/" + eth + "/addr_gen_mode", "1");
  });
  add_address(*pod_sk_, eth, "fe80::1234/64");
  add_address(*pod_sk_, eth, "192.0.2.7/32");
  EXPECT_EQ(list_addresses(*pod_sk_, eth), (std::vector<std::string>{"192.0.2.7/32"}));
  EXPECT_EQ(list_addresses(*pod_sk_, eth, true),
            (std::vector<std::string>{"192.0.2.7/32", "fe80::1234/64"}));
}

TEST_F(NetlinkTest, MacvlanOverAVethUplinkMovedIntoTheNamespace) {
  TestVeth uplink("u0", "u1");  // both ends up, in the host
  std::string mv = name("m0");
  create_macvlan(host_sk_, mv, uplink.host(), "bridge", netns_->fd(), 1400);
  EXPECT_FALSE(link_exists(host_sk_, mv));
  LinkInfo info = get_link_info(*pod_sk_, mv);
  EXPECT_EQ(info.kind, "macvlan");
  EXPECT_EQ(info.mtu, 1400u);
  set_up(*pod_sk_, mv);
  add_address(*pod_sk_, mv, "10.97.0.5/24");
  EXPECT_EQ(list_addresses(*pod_sk_, mv), (std::vector<std::string>{"10.97.0.5/24"}));
  EXPECT_EQ(ns_->exec("ip -d link show " + mv + " | grep -q \"macvlan mode bridge\""), 0);
  EXPECT_TRUE(delete_link(*pod_sk_, mv));
  EXPECT_FALSE(link_exists(*pod_sk_, mv));
}

TEST_F(NetlinkTest, MacvlanModesAreValidated) {
  TestVeth uplink("u0", "u1");
  for (const char* mode : {"private", "vepa"}) {
    std::string mv = name("m0");
    create_macvlan(host_sk_, mv, uplink.host(), mode);
    EXPECT_EQ(run_shell("ip -d link show " + mv + " | grep -q \"macvlan mode " + mode + "\""), 0);
    EXPECT_TRUE(delete_link(host_sk_, mv));
  }
  try {
    create_macvlan(host_sk_, name("m0"), uplink.host(), "bridgey");
    FAIL() << "bad mode accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), kInvalidConfig);
    EXPECT_THAT(e.msg(), HasSubstr("\"bridgey\""));
    EXPECT_THAT(e.msg(), HasSubstr(name("m0")));
  }
}

TEST_F(NetlinkTest, IpvlanIsCreatedOrReportedUnsupported) {
  TestVeth uplink("u0", "u1");
  std::string iv = name("i0");
  try {
    create_ipvlan(host_sk_, iv, uplink.host(), "l2", netns_->fd());
  } catch (const NetlinkError& e) {
    ASSERT_EQ(e.sys_errno(), EOPNOTSUPP) << e.what();
    EXPECT_THAT(e.msg(), HasSubstr(iv));
    GTEST_SKIP() << "kernel lacks ipvlan: " << e.what();
  }
  EXPECT_EQ(get_link_info(*pod_sk_, iv).kind, "ipvlan");
  EXPECT_TRUE(delete_link(*pod_sk_, iv));
}

TEST_F(NetlinkTest, MoveToNetnsAndBack) {
  TestVeth pair("v0", "v1");
  move_to_netns(host_sk_, pair.peer(), netns_->fd());
  EXPECT_FALSE(link_exists(host_sk_, pair.peer()));
  EXPECT_TRUE(link_exists(*pod_sk_, pair.peer()));
  Netns home = Netns::current();
  move_to_netns(*pod_sk_, pair.peer(), home.fd());
  EXPECT_TRUE(link_exists(host_sk_, pair.peer()));
  EXPECT_FALSE(link_exists(*pod_sk_, pair.peer()));
}

TEST_F(NetlinkTest, VethMtuAppliesToBothEnds) {
  std::string a = name("x0");
  std::string b = name("x1");
  create_veth(host_sk_, a, b, std::nullopt, 1300);
  EXPECT_EQ(get_link_info(host_sk_, a).mtu, 1300u);
  EXPECT_EQ(get_link_info(host_sk_, b).mtu, 1300u);
  EXPECT_THAT(names(list_links(host_sk_)), ::testing::IsSupersetOf({a, b, host_}));
  EXPECT_TRUE(delete_link(host_sk_, b));  // takes its peer with it
  EXPECT_FALSE(link_exists(host_sk_, a));
}

TEST_F(NetlinkTest, DeletingAnAbsentLinkReturnsFalse) {
  EXPECT_FALSE(delete_link(host_sk_, name("zz")));
  EXPECT_TRUE(delete_link(host_sk_, host_));
  EXPECT_FALSE(delete_link(host_sk_, host_));
  EXPECT_FALSE(link_exists(*pod_sk_, peer_));
}

// Runs `f`, which must throw cni::Error; returns it for inspection.
template <class F>
Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error thrown";
  return Error(0, "");
}

TEST_F(NetlinkTest, EveryErrorNamesTheLink) {
  std::string absent = name("zz");
  for (auto op : std::vector<std::function<void()>>{
           [&] { set_mtu(host_sk_, absent, 1400); },
           [&] { set_up(host_sk_, absent); },
           [&] { set_down(host_sk_, absent); },
           [&] { set_mac(host_sk_, absent, "02:00:00:00:00:01"); },
           [&] { rename_link(host_sk_, absent, name("zy")); },
           [&] { move_to_netns(host_sk_, absent, netns_->fd()); },
           [&] { link_index(host_sk_, absent); },
           [&] { get_link_info(host_sk_, absent); },
           [&] { add_address(host_sk_, absent, "10.0.0.1/24"); },
           [&] { list_addresses(host_sk_, absent); },
           [&] {
             add_route(host_sk_, Route{"10.0.0.0/8", "", absent});
           },
           [&] { create_macvlan(host_sk_, name("m0"), absent, "bridge"); },
       }) {
    Error e = error_of(op);
    EXPECT_EQ(e.code(), kIoFailure) << e.msg();
    EXPECT_THAT(e.msg(), HasSubstr("\"" + absent + "\""));
    EXPECT_THAT(e.msg(), HasSubstr("No such device"));
  }
}

TEST_F(NetlinkTest, KernelRefusalsCarryTheKernelsTextAndTheLink) {
  Error dup = error_of([&] { create_veth(host_sk_, host_, name("q1")); });
  EXPECT_THAT(dup.msg(), HasSubstr("\"" + host_ + "\""));
  EXPECT_THAT(dup.msg(), HasSubstr("File exists"));
  try {
    create_veth(host_sk_, host_, name("q1"));
    FAIL() << "duplicate veth created";
  } catch (const NetlinkError& e) {
    EXPECT_EQ(e.sys_errno(), EEXIST);
  }

  Error mtu = error_of([&] { set_mtu(*pod_sk_, peer_, 10); });
  EXPECT_THAT(mtu.msg(), HasSubstr("\"" + peer_ + "\""));
  EXPECT_THAT(mtu.msg(), HasSubstr("Invalid argument"));

  // A second pair inside the namespace (removed with it) gives the rename a taken name.
  create_veth(*pod_sk_, name("x0"), name("x1"));
  Error taken = error_of([&] { rename_link(*pod_sk_, peer_, name("x0")); });
  EXPECT_THAT(taken.msg(), HasSubstr("\"" + peer_ + "\" to \"" + name("x0") + "\""));
  EXPECT_THAT(taken.msg(), HasSubstr("File exists"));

  add_address(*pod_sk_, peer_, "10.96.0.1/24");
  Error twice = error_of([&] { add_address(*pod_sk_, peer_, "10.96.0.1/24"); });
  EXPECT_THAT(twice.msg(), HasSubstr("10.96.0.1/24"));
  EXPECT_THAT(twice.msg(), HasSubstr("\"" + peer_ + "\""));
  EXPECT_THAT(twice.msg(), HasSubstr("File exists"));
}

TEST_F(NetlinkTest, BadArgumentsAreConfigErrorsNamingTheValue) {
  struct Case {
    std::function<void()> op;
    std::string named;
  };
  for (const Case& c : std::vector<Case>{
           {[&] { add_address(*pod_sk_, peer_, "10.0.0.1"); }, "\"10.0.0.1\""},
           {[&] { add_address(*pod_sk_, peer_, "10.0.0.1/33"); }, "\"10.0.0.1/33\""},
           {[&] { add_address(*pod_sk_, peer_, "fd00::g/64"); }, "\"fd00::g/64\""},
           {[&] { set_mac(*pod_sk_, peer_, "02:00:00:00:00"); }, "\"02:00:00:00:00\""},
           {[&] { rename_link(*pod_sk_, peer_, "this-name-is-too-long"); },
            "\"this-name-is-too-long\""},
           {[&] { create_veth(host_sk_, "bad name", "x"); }, "\"bad name\""},
           // The kernel would expand these into a free name the caller never learns.
           {[&] { create_veth(host_sk_, name("%d"), name("q%d")); }, "contains '%'"},
           {[&] { rename_link(*pod_sk_, peer_, "eth%d"); }, "\"eth%d\""},
           {[&] { rename_link(*pod_sk_, peer_, "lo"); }, "loopback"},
           {[&] {
              add_route(*pod_sk_, Route{"0.0.0.0/0", "fd00::1", peer_});
            },
            "families differ"},
           {[&] {
              add_route(*pod_sk_, Route{"0.0.0.0/0", "", ""});
            },
            "needs a gateway or a device"},
       }) {
    Error e = error_of(c.op);
    EXPECT_EQ(e.code(), kInvalidConfig) << e.msg();
    EXPECT_THAT(e.msg(), HasSubstr(c.named));
  }
}

}  // namespace
}  // namespace net
