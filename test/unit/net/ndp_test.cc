// Tests of net/ndp against real namespaces: two namespaces joined by a veth pair, IPv6 on.
// DAD probes find a holder (and only a holder), solicitations find a neighbour that answers,
// and an unsolicited advertisement replaces a neighbour's stale entry.
#include "net/ndp.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "net/netns.h"
#include "test/fakes/test_netns.h"

namespace net {
namespace {

using cnimux_test::run_shell;
using cnimux_test::TestNetns;
using std::chrono::milliseconds;

std::string output_of(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (size_t n = std::fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
    ::pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// "a0" in namespace a and "b0" in namespace b, a veth pair, both up with IPv6 enabled; b0
// holds fd00:77::2/64 (no DAD, so it answers at once).
class NdpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const TestNetns* ns : {&a_, &b_}) {
      ASSERT_EQ(ns->exec("sysctl -qw net.ipv6.conf.all.disable_ipv6=0 "
                         "net.ipv6.conf.default.disable_ipv6=0 && ip link set lo up"),
                0);
    }
    ASSERT_EQ(a_.exec("ip link add a0 type veth peer name b0 netns " + b_.name()), 0);
    ASSERT_EQ(a_.exec("ip link set a0 up"), 0);
    ASSERT_EQ(b_.exec("ip link set b0 up && ip -6 addr add fd00:77::2/64 dev b0 nodad"), 0);
    ASSERT_EQ(output_of("ip netns exec " + b_.name() + " sysctl -n net.ipv6.conf.b0.disable_ipv6"),
              "0");
  }

  std::string mac_of(const TestNetns& ns, const std::string& link) const {
    return output_of("ip -n " + ns.name() + " -o link show " + link +
                     " | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2");
  }

  template <class F>
  auto in_a(F&& f) {
    return with_netns(Netns::open(a_.path()), std::forward<F>(f));
  }

  TestNetns a_{"ndpa"};
  TestNetns b_{"ndpb"};
};

TEST_F(NdpTest, ProbeFindsTheHolderAndItsMac) {
  auto holder = in_a([] { return ndp_probe("a0", "fd00:77::2", milliseconds(3000)); });
  ASSERT_TRUE(holder.has_value());
  EXPECT_EQ(*holder, mac_of(b_, "b0"));
}

TEST_F(NdpTest, ProbeOfAFreeAddressFindsNobody) {
  EXPECT_EQ(in_a([] { return ndp_probe("a0", "fd00:77::3", milliseconds(300)); }), std::nullopt);
}

TEST_F(NdpTest, ProbeSeesAHolderEvenWhenItsOwnAddressIsConfiguredHere) {
  // The external-delegate case: the pod already holds the address (kernel DAD off); the probe
  // still reports the other host and never the pod itself.
  ASSERT_EQ(a_.exec("ip -6 addr add fd00:77::2/64 dev a0 nodad"), 0);
  auto holder = in_a([] { return ndp_probe("a0", "fd00:77::2", milliseconds(3000)); });
  ASSERT_TRUE(holder.has_value());
  EXPECT_EQ(*holder, mac_of(b_, "b0"));
}

TEST_F(NdpTest, ProbeSeesAnotherProberOfTheSameAddress) {
  // b holds nothing but keeps probing fd00:77::5 itself (two pods handed the same address at
  // once): its DAD solicitation from :: is a conflict for a too.
  std::atomic<bool> done{false};
  std::thread other([&] {
    with_netns(Netns::open(b_.path()), [&] {
      while (!done) ndp_probe("b0", "fd00:77::5", milliseconds(90));
    });
  });
  std::optional<std::string> holder;
  try {
    holder = in_a([] { return ndp_probe("a0", "fd00:77::5", milliseconds(3000)); });
  } catch (...) {
    done = true;
    other.join();
    throw;
  }
  done = true;
  other.join();
  ASSERT_TRUE(holder.has_value());
  EXPECT_EQ(*holder, mac_of(b_, "b0"));
}

TEST_F(NdpTest, ResolveFindsANeighbourThatAnswers) {
  auto mac = in_a([] { return ndp_resolve("a0", "fd00:77::1", "fd00:77::2", milliseconds(3000)); });
  ASSERT_TRUE(mac.has_value());
  EXPECT_EQ(*mac, mac_of(b_, "b0"));
  EXPECT_EQ(in_a([] { return ndp_resolve("a0", "fd00:77::1", "fd00:77::9", milliseconds(300)); }),
            std::nullopt);
}

TEST_F(NdpTest, AnnounceReplacesAStaleNeighbourEntry) {
  ASSERT_EQ(b_.exec("ip -6 neigh replace fd00:77::1 lladdr 02:00:00:00:00:99 dev b0 nud stale"), 0);
  in_a([] { ndp_announce("a0", "fd00:77::1"); });
  // The advertisement is processed by b's softirq after sendto returns: wait for the state,
  // bounded, rather than for a time.
  const std::string want = mac_of(a_, "a0");
  std::string got;
  for (int i = 0; i < 500; ++i) {
    got = output_of("ip -n " + b_.name() + " -6 neigh show fd00:77::1 dev b0");
    if (got.find(want) != std::string::npos) break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_NE(got.find(want), std::string::npos) << got;
}

TEST_F(NdpTest, RejectsAnIpv4Address) {
  EXPECT_THROW(in_a([] { return ndp_probe("a0", "10.0.0.1", milliseconds(10)); }), cni::Error);
}

size_t open_descriptors() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// A link that does not exist is an I/O error naming it, and the socket opened before the
// lookup is closed (the constructor's throw used to leak it).
TEST_F(NdpTest, AMissingLinkIsAnErrorNamingItAndLeavesNoDescriptor) {
  const size_t before = open_descriptors();
  try {
    in_a([] { return ndp_probe("no-such-link", "fd00::1", milliseconds(10)); });
    FAIL() << "no error";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kIoFailure);
    EXPECT_NE(e.msg().find("ndp on link \"no-such-link\": no such link"), std::string::npos)
        << e.msg();
  }
  EXPECT_EQ(open_descriptors(), before);
}

}  // namespace
}  // namespace net
