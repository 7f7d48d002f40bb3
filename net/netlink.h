// Link, address and route helpers over libnl (rtnetlink). Every failure is a NetlinkError
// (code 5) whose message names the link and carries the kernel's error text.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cni/error.h"

struct nl_sock;

namespace net {

class Netns;

// A kernel (or libnl) failure. sys_errno() is the kernel's errno (e.g. EEXIST, ENODEV,
// EOPNOTSUPP for a link kind this kernel lacks), or 0 when the failure was not the kernel's.
class NetlinkError : public cni::Error {
 public:
  NetlinkError(std::string msg, int sys_errno)
      : cni::Error(cni::kIoFailure, std::move(msg)), errno_(sys_errno) {}
  int sys_errno() const { return errno_; }

 private:
  int errno_;
};

// An rtnetlink socket. A netlink socket belongs to the network namespace its creating thread
// was in at creation, for its whole life: a socket opened inside a pod's namespace operates
// there from any thread, with no setns around each call. Not thread-safe; move-only.
class NetlinkSocket {
 public:
  // Connects in the calling thread's current namespace. Throws NetlinkError.
  NetlinkSocket();
  // Connects inside `ns` (enters it only for the socket() call).
  static NetlinkSocket in(const Netns& ns);
  NetlinkSocket(NetlinkSocket&&) noexcept;
  NetlinkSocket& operator=(NetlinkSocket&&) noexcept;
  ~NetlinkSocket();

  // Internal to netlink.cc: the nl_sock plus the last kernel error seen on it.
  struct State;
  State& state() const { return *state_; }
  // The raw libnl socket, for requests this header lacks. Unusable after a move.
  nl_sock* get() const;

 private:
  std::unique_ptr<State> state_;
};

struct LinkInfo {
  int index = 0;
  std::string name;
  std::string mac;  // "aa:bb:cc:dd:ee:ff"; empty for links without one
  unsigned mtu = 0;
  bool up = false;    // administratively up (IFF_UP)
  std::string kind;   // "veth", "macvlan", ...; empty for physical links and lo
  std::string alias;  // IFLA_IFALIAS; empty when unset
  bool operator==(const LinkInfo&) const = default;
};

// Link names must be 1..15 bytes without '/', ':' or whitespace; others throw Error(7).
// A `netns_fd` is an open namespace fd (Netns::fd()), borrowed for the call only. Links are
// looked up in the socket's namespace.

// Creates a veth pair. The peer is created directly in `peer_netns_fd` when given; `mtu`
// applies to both ends.
void create_veth(NetlinkSocket& sk, const std::string& name, const std::string& peer,
                 std::optional<int> peer_netns_fd = {}, std::optional<unsigned> mtu = {});
// mode: "bridge", "private", "vepa" or "passthru" (else Error(7) naming it). `master` is
// looked up in the socket's namespace; the link is created directly in `netns_fd` if given.
void create_macvlan(NetlinkSocket& sk, const std::string& name, const std::string& master,
                    const std::string& mode, std::optional<int> netns_fd = {},
                    std::optional<unsigned> mtu = {});
// mode: "l2", "l3" or "l3s". A kernel without ipvlan fails with sys_errno() EOPNOTSUPP.
void create_ipvlan(NetlinkSocket& sk, const std::string& name, const std::string& master,
                   const std::string& mode, std::optional<int> netns_fd = {},
                   std::optional<unsigned> mtu = {});
// The RTM_NEWLINK request create_ipvlan sends (master given by index), as the message's bytes,
// built and not sent: for tests on kernels without ipvlan. Same mode check as create_ipvlan.
std::vector<uint8_t> build_ipvlan_request(const std::string& name, int master_index,
                                          const std::string& mode, std::optional<int> netns_fd = {},
                                          std::optional<unsigned> mtu = {});

bool link_exists(NetlinkSocket& sk, const std::string& name);
// The mode of a macvlan ("bridge", "private", "vepa", "passthru", "source") or ipvlan ("l2",
// "l3", "l3s") link; "" for other kinds. NetlinkError ENODEV when there is no such link.
std::string link_mode(NetlinkSocket& sk, const std::string& name);
int link_index(NetlinkSocket& sk, const std::string& name);  // ENODEV error if absent
LinkInfo get_link_info(NetlinkSocket& sk, const std::string& name);
std::vector<LinkInfo> list_links(NetlinkSocket& sk);

void move_to_netns(NetlinkSocket& sk, const std::string& name, int netns_fd);
void rename_link(NetlinkSocket& sk, const std::string& name, const std::string& new_name);
void set_up(NetlinkSocket& sk, const std::string& name);
void set_down(NetlinkSocket& sk, const std::string& name);
void set_mtu(NetlinkSocket& sk, const std::string& name, unsigned mtu);
void set_mac(NetlinkSocket& sk, const std::string& name, const std::string& mac);
// IFLA_IFALIAS (at most 255 bytes); host-device keeps a moved link's host name there.
void set_alias(NetlinkSocket& sk, const std::string& name, const std::string& alias);
// Returns false if there was no such link; deleting one end of a veth deletes both.
bool delete_link(NetlinkSocket& sk, const std::string& name);

// `cidr` is "address/prefix" (v4 or v6), e.g. "10.1.2.3/24". IPv4 gets the subnet's
// broadcast address (prefix < 31). IPv6 with `nodad` skips duplicate address detection so the
// address is usable at once instead of "tentative". An existing address fails with EEXIST.
void add_address(NetlinkSocket& sk, const std::string& link, const std::string& cidr,
                 bool nodad = true);
// Returns false if the link did not hold the address.
bool del_address(NetlinkSocket& sk, const std::string& link, const std::string& cidr);
// The link's addresses as CIDRs in kernel order (IPv4 first). Link-scope addresses (fe80::/64
// autoconfigured) are left out unless `include_link_scope`.
std::vector<std::string> list_addresses(NetlinkSocket& sk, const std::string& link,
                                        bool include_link_scope = false);

inline constexpr uint32_t kMainTable = 254;  // RT_TABLE_MAIN
inline constexpr uint8_t kProtoKernel = 2;   // RTPROT_KERNEL: routes the kernel adds itself
inline constexpr uint8_t kProtoBoot = 3;     // RTPROT_BOOT: `ip route add`'s default

// A unicast route with a single next hop.
struct Route {
  std::string dst;      // CIDR; "0.0.0.0/0" or "::/0" for a default route
  std::string gw;       // empty: on-link (no gateway)
  std::string dev;      // output link; may be empty on add when gw is given
  uint32_t metric = 0;  // 0: kernel default (IPv6 uses 1024)
  uint32_t table = kMainTable;
  uint8_t protocol = kProtoBoot;
  // The gateway is on-link on `dev` even though no address of `dev` covers it (`ip route
  // ... onlink`), e.g. a link-local next hop on an address-less veth.
  bool onlink = false;
  // The preferred source address for traffic the route carries (`ip route ... src`); empty:
  // the kernel picks one from the output link.
  std::string src;
  bool operator==(const Route&) const = default;
};

void add_route(NetlinkSocket& sk, const Route& route);
// Matches on dst, table and, when set, gw, dev and metric. Returns false if no route matched.
bool del_route(NetlinkSocket& sk, const Route& route);
// Unicast routes of `table`; family is AF_INET, AF_INET6 or AF_UNSPEC (both). Reports the
// first next hop of a multipath route. The kernel's IPv6 metric (1024) is reported as is.
std::vector<Route> list_routes(NetlinkSocket& sk, int family, uint32_t table = kMainTable);

// A policy-routing rule "from <src> lookup <table>" at `priority` (`ip rule`). Only the
// source selector is supported: that is what source-based policy routing needs.
struct Rule {
  std::string src;  // CIDR, e.g. "10.1.2.3/32"; its family is the rule's family
  uint32_t table = 0;
  uint32_t priority = 0;
  bool operator==(const Rule&) const = default;
};

// Adds the rule; an identical rule already present fails with EEXIST.
void add_rule(NetlinkSocket& sk, const Rule& rule);
// Deletes a rule matching src, table and priority. Returns false if none matched.
bool del_rule(NetlinkSocket& sk, const Rule& rule);
// Every "from <src> lookup <table>" rule of `family` (AF_INET, AF_INET6 or AF_UNSPEC) that has
// a source selector; rules without one (the kernel's local/main/default) are left out.
std::vector<Rule> list_rules(NetlinkSocket& sk, int family);

}  // namespace net
