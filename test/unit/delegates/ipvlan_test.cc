// cnimux-ipvlan: config parsing (modes, bad mode, MAC refused), the RTM_NEWLINK request
// checked attribute by attribute without sending it (this kernel may lack ipvlan), and a real
// ADD/CHECK/DEL that skips, naming the module, when the kernel has no ipvlan.
#include "delegates/ipvlan/ipvlan.h"

#include <gtest/gtest.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "cni/error.h"
#include "net/netlink.h"
#include "net/netns.h"
#include "test/fakes/test_netns.h"

namespace {

using nlohmann::json;

cni::Request request(const json& conf, const std::string& cni_args = "",
                     const std::string& netns = "/run/netns/none") {
  cni::Request r;
  r.invocation.verb = cni::Verb::kAdd;
  r.invocation.container_id = "ipvlan-test";
  r.invocation.netns = netns;
  r.invocation.ifname = "net1";
  r.invocation.args = cni::CniArgs::parse(cni_args);
  r.stdin_bytes = conf.dump();
  r.conf = cni::NetConf::parse(r.stdin_bytes);
  return r;
}

json conf(const json& extra) {
  json c = {{"cniVersion", "1.0.0"}, {"name", "ipv"}, {"type", "cnimux-ipvlan"}};
  c.update(extra);
  return c;
}

// The error code and message of parse_ipvlan_conf, or {0, ""} when it accepts.
std::pair<int, std::string> parse_error(const cni::Request& req) {
  try {
    delegates::parse_ipvlan_conf(req);
  } catch (const cni::Error& e) {
    return {e.code(), e.what()};
  }
  return {0, ""};
}

TEST(IpvlanConf, ModesAndDefault) {
  EXPECT_EQ(delegates::parse_ipvlan_conf(request(conf(json::object()))).mode, "l2");
  for (const char* m : {"l2", "l3", "l3s"}) {
    EXPECT_EQ(delegates::parse_ipvlan_conf(request(conf({{"mode", m}}))).mode, m);
  }
  const auto c = delegates::parse_ipvlan_conf(
      request(conf({{"master", "eth9"}, {"mtu", 1400}, {"linkInContainer", true}})));
  EXPECT_EQ(c.kind, "ipvlan");
  EXPECT_EQ(c.master, "eth9");
  EXPECT_EQ(c.mtu, 1400);
  EXPECT_TRUE(c.link_in_container);
}

TEST(IpvlanConf, UnknownModeIsCode7NamingIt) {
  auto [code, msg] = parse_error(request(conf({{"mode", "bridge"}})));
  EXPECT_EQ(code, cni::kInvalidConfig);
  EXPECT_NE(msg.find("mode \"bridge\""), std::string::npos) << msg;
}

TEST(IpvlanConf, WrongTypeNamesKey) {
  auto [code, msg] = parse_error(request(conf({{"mtu", "big"}})));
  EXPECT_EQ(code, cni::kInvalidConfig);
  EXPECT_NE(msg.find("mtu \"big\""), std::string::npos) << msg;
}

TEST(IpvlanConf, MacRefusedFromEverySource) {
  auto [c1, m1] = parse_error(request(conf({{"mac", "02:00:00:00:00:01"}})));
  EXPECT_EQ(c1, cni::kInvalidConfig);
  EXPECT_NE(m1.find("mac \"02:00:00:00:00:01\""), std::string::npos) << m1;
  auto [c2, m2] = parse_error(request(conf(json::object()), "MAC=02:00:00:00:00:02"));
  EXPECT_EQ(c2, cni::kInvalidConfig);
  EXPECT_NE(m2.find("CNI_ARGS MAC \"02:00:00:00:00:02\""), std::string::npos) << m2;
  auto [c3, m3] = parse_error(request(conf({{"runtimeConfig", {{"mac", "02:00:00:00:00:03"}}}})));
  EXPECT_EQ(c3, cni::kInvalidConfig);
  EXPECT_NE(m3.find("runtimeConfig.mac \"02:00:00:00:00:03\""), std::string::npos) << m3;
}

// Top-level attributes of an RTM_NEWLINK message, and nested ones of a payload.
using Attrs = std::map<int, std::string>;

Attrs parse_attrs(const char* data, size_t len) {
  Attrs out;
  while (len >= sizeof(nlattr)) {
    const auto* a = reinterpret_cast<const nlattr*>(data);
    if (a->nla_len < sizeof(nlattr) || a->nla_len > len) break;
    out[a->nla_type & NLA_TYPE_MASK] = std::string(data + NLA_HDRLEN, a->nla_len - NLA_HDRLEN);
    const size_t step = NLA_ALIGN(a->nla_len);
    if (step >= len) break;
    data += step;
    len -= step;
  }
  return out;
}

template <class T>
T as(const std::string& payload) {
  T v{};
  EXPECT_GE(payload.size(), sizeof v);
  std::memcpy(&v, payload.data(), std::min(sizeof v, payload.size()));
  return v;
}

TEST(IpvlanRequest, AttributesOfTheNewlinkMessage) {
  const std::vector<uint8_t> msg = net::build_ipvlan_request("cmx0001", 7, "l3", 42, 1400u);
  ASSERT_GE(msg.size(), NLMSG_HDRLEN + sizeof(ifinfomsg));
  const auto* hdr = reinterpret_cast<const nlmsghdr*>(msg.data());
  EXPECT_EQ(hdr->nlmsg_len, msg.size());
  EXPECT_EQ(hdr->nlmsg_type, RTM_NEWLINK);
  EXPECT_EQ(hdr->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL), NLM_F_CREATE | NLM_F_EXCL);
  const char* body = reinterpret_cast<const char*>(msg.data()) + NLMSG_HDRLEN;
  const size_t off = NLMSG_ALIGN(sizeof(ifinfomsg));
  const Attrs top = parse_attrs(body + off, msg.size() - NLMSG_HDRLEN - off);

  ASSERT_TRUE(top.count(IFLA_IFNAME));
  EXPECT_EQ(std::string(top.at(IFLA_IFNAME).c_str()), "cmx0001");
  ASSERT_TRUE(top.count(IFLA_LINK));
  EXPECT_EQ(as<uint32_t>(top.at(IFLA_LINK)), 7u);
  ASSERT_TRUE(top.count(IFLA_MTU));
  EXPECT_EQ(as<uint32_t>(top.at(IFLA_MTU)), 1400u);
  ASSERT_TRUE(top.count(IFLA_NET_NS_FD));
  EXPECT_EQ(as<uint32_t>(top.at(IFLA_NET_NS_FD)), 42u);

  ASSERT_TRUE(top.count(IFLA_LINKINFO));
  const std::string& li = top.at(IFLA_LINKINFO);
  const Attrs info = parse_attrs(li.data(), li.size());
  ASSERT_TRUE(info.count(IFLA_INFO_KIND));
  EXPECT_EQ(std::string(info.at(IFLA_INFO_KIND).c_str()), "ipvlan");
  ASSERT_TRUE(info.count(IFLA_INFO_DATA));
  const std::string& d = info.at(IFLA_INFO_DATA);
  const Attrs data = parse_attrs(d.data(), d.size());
  ASSERT_TRUE(data.count(IFLA_IPVLAN_MODE));
  EXPECT_EQ(as<uint16_t>(data.at(IFLA_IPVLAN_MODE)), IPVLAN_MODE_L3);
}

TEST(IpvlanRequest, EachModeAndNoOptionalAttributes) {
  const std::map<std::string, uint16_t> modes = {
      {"l2", IPVLAN_MODE_L2}, {"l3", IPVLAN_MODE_L3}, {"l3s", IPVLAN_MODE_L3S}};
  for (const auto& [name, value] : modes) {
    const std::vector<uint8_t> msg = net::build_ipvlan_request("cmx0002", 3, name);
    const char* body = reinterpret_cast<const char*>(msg.data()) + NLMSG_HDRLEN;
    const size_t off = NLMSG_ALIGN(sizeof(ifinfomsg));
    const Attrs top = parse_attrs(body + off, msg.size() - NLMSG_HDRLEN - off);
    EXPECT_FALSE(top.count(IFLA_MTU)) << name;
    EXPECT_FALSE(top.count(IFLA_NET_NS_FD)) << name;
    const Attrs info = parse_attrs(top.at(IFLA_LINKINFO).data(), top.at(IFLA_LINKINFO).size());
    const Attrs data = parse_attrs(info.at(IFLA_INFO_DATA).data(), info.at(IFLA_INFO_DATA).size());
    EXPECT_EQ(as<uint16_t>(data.at(IFLA_IPVLAN_MODE)), value) << name;
  }
}

TEST(IpvlanRequest, BadModeIsCode7) {
  try {
    net::build_ipvlan_request("cmx0003", 3, "vepa");
    FAIL() << "accepted mode vepa";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kInvalidConfig);
    EXPECT_NE(std::string(e.what()).find("\"vepa\""), std::string::npos) << e.what();
  }
}

// A real ipvlan on a veth master inside a throwaway netns (linkInContainer: nothing touches
// the host). Skips when the kernel has no ipvlan module.
TEST(IpvlanPlugin, AddCheckDelOnARealLink) {
  cnimux_test::TestNetns pod("ipvl");
  ASSERT_EQ(pod.exec("ip link add master0 type veth peer name master0p && ip link set master0 up"),
            0);
  {
    net::Netns ns = net::Netns::open(pod.path());
    net::NetlinkSocket sk = net::NetlinkSocket::in(ns);
    try {
      net::create_ipvlan(sk, "probe0", "master0", "l2");
      net::delete_link(sk, "probe0");
    } catch (const net::NetlinkError& e) {
      if (e.sys_errno() == EOPNOTSUPP) {
        GTEST_SKIP() << "kernel module ipvlan missing (modprobe ipvlan): " << e.what();
      }
      throw;
    }
  }
  delegates::IpvlanPlugin plugin;
  const json c = conf({{"master", "master0"}, {"mode", "l3"}, {"linkInContainer", true}});
  cni::Request add = request(c, "", pod.path());
  const cni::Result r = plugin.add(add);
  ASSERT_EQ(r.interfaces.size(), 1u);
  EXPECT_EQ(r.interfaces[0].name, "net1");
  json withprev = c;
  withprev["prevResult"] = r.to_json("1.0.0");
  cni::Request check = request(withprev, "", pod.path());
  plugin.check(check);
  plugin.del(add);
  EXPECT_NE(pod.exec("ip link show net1"), 0);
  plugin.del(add);  // idempotent
}

}  // namespace
