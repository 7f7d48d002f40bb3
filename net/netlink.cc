// Link, address and route helpers over libnl. Every libnl object is owned by a unique_ptr;
// kernel errors are captured per socket so messages carry errno text and extended ACK text.
#include "net/netlink.h"

#include <arpa/inet.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netlink/addr.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/ipvlan.h>
#include <netlink/route/link/macvlan.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "cni/ifname.h"
#include "net/netns.h"

namespace net {

using cni::check_ifname;
using cni::Error;
using cni::IfnameUse;
using cni::kInvalidConfig;

struct NetlinkSocket::State {
  nl_sock* sock = nullptr;
  int last_errno = 0;       // the kernel's errno from the last NLMSG_ERROR, 0 if none
  std::string last_extack;  // the kernel's extended-ACK message, if it sent one
  ~State() {
    if (sock) nl_socket_free(sock);
  }
  void clear() {
    last_errno = 0;
    last_extack.clear();
  }
};

namespace {

using State = NetlinkSocket::State;

// Extended ACK: with NETLINK_CAP_ACK the kernel echoes only the request's header, followed by
// attributes; NLMSGERR_ATTR_MSG is a human-readable reason ("Unknown device type").
std::string extack_message(const nlmsgerr* e) {
  auto* hdr = reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(e) - NLMSG_HDRLEN);
  if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  size_t offset = NLMSG_HDRLEN + sizeof(nlmsgerr);
  if (!(hdr->nlmsg_flags & NLM_F_CAPPED)) offset += e->msg.nlmsg_len - sizeof(nlmsghdr);
  if (hdr->nlmsg_len <= offset) return {};
  auto* attrs = reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(hdr) + offset);
  const nlattr* msg = nla_find(attrs, static_cast<int>(hdr->nlmsg_len - offset), NLMSGERR_ATTR_MSG);
  return msg ? std::string(nla_get_string(msg)) : std::string();
}

int record_kernel_error(sockaddr_nl*, nlmsgerr* e, void* arg) {
  auto* st = static_cast<State*>(arg);
  st->last_errno = -e->error;
  st->last_extack = extack_message(e);
  return NL_STOP;  // libnl then returns the error mapped to its own code, as by default
}

// Best-effort errno for failures whose NLMSG_ERROR libnl consumed itself.
int errno_from_nl(int nlerr) {
  switch (nlerr < 0 ? -nlerr : nlerr) {
    case NLE_OBJ_NOTFOUND:
      return ENODEV;
    case NLE_NODEV:
      return ENODEV;
    case NLE_EXIST:
      return EEXIST;
    case NLE_OPNOTSUPP:
      return EOPNOTSUPP;
    case NLE_PERM:
      return EPERM;
    case NLE_BUSY:
      return EBUSY;
    case NLE_INVAL:
      return EINVAL;
    case NLE_RANGE:
      return ERANGE;
    case NLE_NOADDR:
      return EADDRNOTAVAIL;
    case NLE_NOMEM:
      return ENOMEM;
    default:
      return 0;
  }
}

std::string q(const std::string& s) {
  return "\"" + s + "\"";
}

[[noreturn]] void fail(NetlinkSocket& sk, int nlerr, const std::string& what) {
  const State& st = sk.state();
  int sys = st.last_errno ? st.last_errno : errno_from_nl(nlerr);
  std::string text = st.last_errno ? std::strerror(st.last_errno) : nl_geterror(nlerr);
  if (!st.last_extack.empty()) text += " (" + st.last_extack + ")";
  throw NetlinkError(what + ": " + text, sys);
}

// Runs one libnl request with a clean error record and returns libnl's result.
template <class F>
int run(NetlinkSocket& sk, F&& request) {
  sk.state().clear();
  return request(sk.get());
}

template <class F>
void run_or_throw(NetlinkSocket& sk, const std::string& what, F&& request) {
  int rc = run(sk, std::forward<F>(request));
  if (rc < 0) fail(sk, rc, what);
}

// The kernel's errno of the last failed request, for "absent is fine" cases.
int failure_errno(NetlinkSocket& sk, int rc) {
  return sk.state().last_errno ? sk.state().last_errno : errno_from_nl(rc);
}

template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T* p) const {
    if (p) Free(p);
  }
};
using LinkPtr = std::unique_ptr<rtnl_link, Deleter<rtnl_link_put>>;
using AddrPtr = std::unique_ptr<rtnl_addr, Deleter<rtnl_addr_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, Deleter<rtnl_route_put>>;
using NexthopPtr = std::unique_ptr<rtnl_nexthop, Deleter<rtnl_route_nh_free>>;
using NlAddrPtr = std::unique_ptr<nl_addr, Deleter<nl_addr_put>>;
using CachePtr = std::unique_ptr<nl_cache, Deleter<nl_cache_free>>;
using RulePtr = std::unique_ptr<rtnl_rule, Deleter<rtnl_rule_put>>;

template <class T>
T* checked_alloc(T* p) {
  if (!p) throw NetlinkError("libnl: out of memory", ENOMEM);
  return p;
}

}  // namespace

// ---- socket ----

NetlinkSocket::NetlinkSocket() : state_(std::make_unique<State>()) {
  state_->sock = nl_socket_alloc();
  if (!state_->sock) throw NetlinkError("netlink: cannot allocate socket", ENOMEM);
  int rc = nl_connect(state_->sock, NETLINK_ROUTE);
  if (rc < 0) throw NetlinkError(std::string("netlink: connect: ") + nl_geterror(rc), 0);
  nl_socket_modify_err_cb(state_->sock, NL_CB_CUSTOM, record_kernel_error, state_.get());
  // Ask for the kernel's reason text, and only the header of our request echoed back.
  int one = 1;
  int fd = nl_socket_get_fd(state_->sock);
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
}

NetlinkSocket NetlinkSocket::in(const Netns& ns) {
  return with_netns(ns, [] { return NetlinkSocket(); });
}

NetlinkSocket::NetlinkSocket(NetlinkSocket&&) noexcept = default;
NetlinkSocket& NetlinkSocket::operator=(NetlinkSocket&&) noexcept = default;
NetlinkSocket::~NetlinkSocket() = default;

nl_sock* NetlinkSocket::get() const {
  return state_->sock;
}

namespace {

// A name a link is about to get (create, rename) meets every rule of cni/ifname.h; a name
// looked up may be any the kernel allows ("lo" included).
void validate_name(const std::string& name, IfnameUse use = IfnameUse::kNew) {
  check_ifname(name, kInvalidConfig, "link name", use);
}

// nullptr when the link does not exist.
LinkPtr find_link(NetlinkSocket& sk, const std::string& name) {
  validate_name(name, IfnameUse::kExisting);
  rtnl_link* raw = nullptr;
  int rc = run(sk, [&](nl_sock* s) { return rtnl_link_get_kernel(s, 0, name.c_str(), &raw); });
  if (rc < 0 && failure_errno(sk, rc) == ENODEV) return nullptr;
  if (rc < 0) fail(sk, rc, "look up link " + q(name));
  return LinkPtr(raw);
}

LinkPtr get_link(NetlinkSocket& sk, const std::string& name) {
  LinkPtr link = find_link(sk, name);
  if (!link) throw NetlinkError("link " + q(name) + ": " + std::strerror(ENODEV), ENODEV);
  return link;
}

std::string format_mac(const nl_addr* addr) {
  if (!addr) return {};
  auto* bytes = static_cast<const unsigned char*>(nl_addr_get_binary_addr(addr));
  std::string out;
  char buf[4];
  for (unsigned i = 0; i < nl_addr_get_len(addr); ++i) {
    std::snprintf(buf, sizeof(buf), i ? ":%02x" : "%02x", bytes[i]);
    out += buf;
  }
  return out;
}

LinkInfo to_info(rtnl_link* link) {
  LinkInfo info;
  info.index = rtnl_link_get_ifindex(link);
  const char* name = rtnl_link_get_name(link);
  info.name = name ? name : "";
  info.mac = format_mac(rtnl_link_get_addr(link));
  info.mtu = rtnl_link_get_mtu(link);
  info.up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
  const char* kind = rtnl_link_get_type(link);
  info.kind = kind ? kind : "";
  const char* alias = rtnl_link_get_ifalias(link);
  info.alias = alias ? alias : "";
  return info;
}

// Applies `changes` to the existing link `name` (RTM_NEWLINK on its index).
void change_link(NetlinkSocket& sk, const std::string& name, rtnl_link* changes,
                 const std::string& what) {
  LinkPtr orig = get_link(sk, name);
  run_or_throw(sk, what, [&](nl_sock* s) { return rtnl_link_change(s, orig.get(), changes, 0); });
}

LinkPtr new_change() {
  return LinkPtr(checked_alloc(rtnl_link_alloc()));
}

// Creates a macvlan/ipvlan-style child of `master` from a typed, named link object.
void add_child_link(NetlinkSocket& sk, rtnl_link* link, const std::string& master,
                    std::optional<int> netns_fd, std::optional<unsigned> mtu,
                    const std::string& what) {
  rtnl_link_set_link(link, link_index(sk, master));
  if (netns_fd) rtnl_link_set_ns_fd(link, *netns_fd);
  if (mtu) rtnl_link_set_mtu(link, *mtu);
  run_or_throw(sk, what,
               [&](nl_sock* s) { return rtnl_link_add(s, link, NLM_F_CREATE | NLM_F_EXCL); });
}

}  // namespace

// ---- links ----

void create_veth(NetlinkSocket& sk, const std::string& name, const std::string& peer,
                 std::optional<int> peer_netns_fd, std::optional<unsigned> mtu) {
  validate_name(name);
  validate_name(peer);
  LinkPtr link(checked_alloc(rtnl_link_veth_alloc()));
  LinkPtr peer_link(rtnl_link_veth_get_peer(link.get()));  // takes a reference
  rtnl_link_set_name(link.get(), name.c_str());
  rtnl_link_set_name(peer_link.get(), peer.c_str());
  if (peer_netns_fd) rtnl_link_set_ns_fd(peer_link.get(), *peer_netns_fd);
  if (mtu) {
    rtnl_link_set_mtu(link.get(), *mtu);
    rtnl_link_set_mtu(peer_link.get(), *mtu);
  }
  run_or_throw(sk, "create veth " + q(name) + " (peer " + q(peer) + ")",
               [&](nl_sock* s) { return rtnl_link_add(s, link.get(), NLM_F_CREATE | NLM_F_EXCL); });
}

void create_macvlan(NetlinkSocket& sk, const std::string& name, const std::string& master,
                    const std::string& mode, std::optional<int> netns_fd,
                    std::optional<unsigned> mtu) {
  validate_name(name);
  if (mode != "bridge" && mode != "private" && mode != "vepa" && mode != "passthru") {
    throw Error(kInvalidConfig, "invalid macvlan mode " + q(mode) + " for link " + q(name) +
                                    ": want bridge, private, vepa or passthru");
  }
  LinkPtr link(checked_alloc(rtnl_link_macvlan_alloc()));
  rtnl_link_set_name(link.get(), name.c_str());
  rtnl_link_macvlan_set_mode(link.get(), rtnl_link_macvlan_str2mode(mode.c_str()));
  add_child_link(sk, link.get(), master, netns_fd, mtu,
                 "create macvlan " + q(name) + " on " + q(master));
}

std::string link_mode(NetlinkSocket& sk, const std::string& name) {
  LinkPtr link = get_link(sk, name);
  const char* kind = rtnl_link_get_type(link.get());
  char buf[32] = "";
  if (kind && std::strcmp(kind, "macvlan") == 0) {
    rtnl_link_macvlan_mode2str(rtnl_link_macvlan_get_mode(link.get()), buf, sizeof buf);
  } else if (kind && std::strcmp(kind, "ipvlan") == 0) {
    uint16_t mode = 0;
    if (rtnl_link_ipvlan_get_mode(link.get(), &mode) == 0) {
      // Not rtnl_link_ipvlan_mode2str: older libnl has no name for l3s.
      if (mode == IPVLAN_MODE_L2) return "l2";
      if (mode == IPVLAN_MODE_L3) return "l3";
      if (mode == IPVLAN_MODE_L3S) return "l3s";
    }
  }
  return buf;
}

namespace {

// A named ipvlan link object in `mode`; Error(7) naming the mode when it is not l2, l3 or l3s.
LinkPtr ipvlan_link(const std::string& name, const std::string& mode) {
  validate_name(name);
  if (mode != "l2" && mode != "l3" && mode != "l3s") {
    throw Error(kInvalidConfig,
                "invalid ipvlan mode " + q(mode) + " for link " + q(name) + ": want l2, l3 or l3s");
  }
  LinkPtr link(checked_alloc(rtnl_link_ipvlan_alloc()));
  rtnl_link_set_name(link.get(), name.c_str());
  // Mapped here, not by rtnl_link_ipvlan_str2mode: libnl before 3.8 knows no "l3s" and
  // returns an error code that would be sent as the mode.
  const uint16_t value =
      mode == "l2" ? IPVLAN_MODE_L2 : (mode == "l3" ? IPVLAN_MODE_L3 : IPVLAN_MODE_L3S);
  rtnl_link_ipvlan_set_mode(link.get(), value);
  return link;
}

}  // namespace

void create_ipvlan(NetlinkSocket& sk, const std::string& name, const std::string& master,
                   const std::string& mode, std::optional<int> netns_fd,
                   std::optional<unsigned> mtu) {
  LinkPtr link = ipvlan_link(name, mode);
  add_child_link(sk, link.get(), master, netns_fd, mtu,
                 "create ipvlan " + q(name) + " on " + q(master));
}

std::vector<uint8_t> build_ipvlan_request(const std::string& name, int master_index,
                                          const std::string& mode, std::optional<int> netns_fd,
                                          std::optional<unsigned> mtu) {
  LinkPtr link = ipvlan_link(name, mode);
  // The same steps as add_child_link, and the request rtnl_link_add builds from them.
  rtnl_link_set_link(link.get(), master_index);
  if (netns_fd) rtnl_link_set_ns_fd(link.get(), *netns_fd);
  if (mtu) rtnl_link_set_mtu(link.get(), *mtu);
  nl_msg* msg = nullptr;
  if (int err = rtnl_link_build_add_request(link.get(), NLM_F_CREATE | NLM_F_EXCL, &msg); err < 0) {
    throw NetlinkError("build ipvlan request " + q(name) + ": " + nl_geterror(err), 0);
  }
  const nlmsghdr* hdr = nlmsg_hdr(msg);
  const auto* bytes = reinterpret_cast<const uint8_t*>(hdr);
  std::vector<uint8_t> out(bytes, bytes + hdr->nlmsg_len);
  nlmsg_free(msg);
  return out;
}

bool link_exists(NetlinkSocket& sk, const std::string& name) {
  return find_link(sk, name) != nullptr;
}

int link_index(NetlinkSocket& sk, const std::string& name) {
  return rtnl_link_get_ifindex(get_link(sk, name).get());
}

LinkInfo get_link_info(NetlinkSocket& sk, const std::string& name) {
  return to_info(get_link(sk, name).get());
}

std::vector<LinkInfo> list_links(NetlinkSocket& sk) {
  nl_cache* raw = nullptr;
  run_or_throw(sk, "list links",
               [&](nl_sock* s) { return rtnl_link_alloc_cache(s, AF_UNSPEC, &raw); });
  CachePtr cache(raw);
  std::vector<LinkInfo> out;
  for (nl_object* o = nl_cache_get_first(raw); o; o = nl_cache_get_next(o)) {
    out.push_back(to_info(reinterpret_cast<rtnl_link*>(o)));
  }
  return out;
}

void move_to_netns(NetlinkSocket& sk, const std::string& name, int netns_fd) {
  LinkPtr changes = new_change();
  rtnl_link_set_ns_fd(changes.get(), netns_fd);
  change_link(sk, name, changes.get(), "move link " + q(name) + " to another netns");
}

void rename_link(NetlinkSocket& sk, const std::string& name, const std::string& new_name) {
  validate_name(new_name);
  LinkPtr changes = new_change();
  rtnl_link_set_name(changes.get(), new_name.c_str());
  change_link(sk, name, changes.get(), "rename link " + q(name) + " to " + q(new_name));
}

void set_up(NetlinkSocket& sk, const std::string& name) {
  LinkPtr changes = new_change();
  rtnl_link_set_flags(changes.get(), IFF_UP);
  change_link(sk, name, changes.get(), "set link " + q(name) + " up");
}

void set_down(NetlinkSocket& sk, const std::string& name) {
  LinkPtr changes = new_change();
  rtnl_link_unset_flags(changes.get(), IFF_UP);
  change_link(sk, name, changes.get(), "set link " + q(name) + " down");
}

void set_mtu(NetlinkSocket& sk, const std::string& name, unsigned mtu) {
  LinkPtr changes = new_change();
  rtnl_link_set_mtu(changes.get(), mtu);
  change_link(sk, name, changes.get(), "set mtu " + std::to_string(mtu) + " on link " + q(name));
}

namespace {

// "aa:bb:cc:dd:ee:ff" (either case) -> 6 bytes; nullopt if malformed.
std::optional<std::array<unsigned char, 6>> parse_mac(const std::string& mac) {
  std::array<unsigned char, 6> out{};
  if (mac.size() != 17) return std::nullopt;
  for (size_t i = 0; i < 6; ++i) {
    const char* p = mac.data() + i * 3;
    if (i < 5 && p[2] != ':') return std::nullopt;
    auto [end, ec] = std::from_chars(p, p + 2, out[i], 16);
    if (ec != std::errc() || end != p + 2) return std::nullopt;
  }
  return out;
}

}  // namespace

void set_mac(NetlinkSocket& sk, const std::string& name, const std::string& mac) {
  auto bytes = parse_mac(mac);
  if (!bytes) {
    throw Error(kInvalidConfig,
                "invalid mac " + q(mac) + " for link " + q(name) + ": want aa:bb:cc:dd:ee:ff");
  }
  NlAddrPtr addr(checked_alloc(nl_addr_build(AF_LLC, bytes->data(), bytes->size())));
  LinkPtr changes = new_change();
  rtnl_link_set_addr(changes.get(), addr.get());  // takes its own reference
  change_link(sk, name, changes.get(), "set mac " + mac + " on link " + q(name));
}

void set_alias(NetlinkSocket& sk, const std::string& name, const std::string& alias) {
  if (alias.size() > 255) {
    throw Error(kInvalidConfig, "alias for link " + q(name) + " is longer than 255 bytes");
  }
  LinkPtr changes = new_change();
  rtnl_link_set_ifalias(changes.get(), alias.c_str());
  change_link(sk, name, changes.get(), "set alias " + q(alias) + " on link " + q(name));
}

bool delete_link(NetlinkSocket& sk, const std::string& name) {
  validate_name(name, IfnameUse::kExisting);
  LinkPtr link = new_change();
  rtnl_link_set_name(link.get(), name.c_str());  // the kernel deletes by name
  int rc = run(sk, [&](nl_sock* s) { return rtnl_link_delete(s, link.get()); });
  if (rc < 0 && failure_errno(sk, rc) == ENODEV) return false;
  if (rc < 0) fail(sk, rc, "delete link " + q(name));
  return true;
}

// ---- addresses and routes ----

namespace {

struct Ip {
  int family = AF_UNSPEC;
  std::array<unsigned char, 16> bytes{};
  int prefix = -1;  // -1: none given
  size_t len() const { return family == AF_INET ? 4 : 16; }
};

// Strict "a.b.c.d[/n]" or "x::y[/n]"; `want_prefix` requires the "/n".
Ip parse_ip(const std::string& text, bool want_prefix, const std::string& what) {
  Ip ip;
  auto slash = text.find('/');
  std::string host = text.substr(0, slash);
  ip.family = host.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  bool ok = inet_pton(ip.family, host.c_str(), ip.bytes.data()) == 1;
  if (ok && slash != std::string::npos) {
    const char* b = text.data() + slash + 1;
    const char* e = text.data() + text.size();
    auto [end, ec] = std::from_chars(b, e, ip.prefix);
    ok = b != e && ec == std::errc() && end == e && ip.prefix >= 0 &&
         ip.prefix <= static_cast<int>(ip.len() * 8);
  }
  if (ok && want_prefix != (slash != std::string::npos)) ok = false;
  if (!ok) {
    throw Error(kInvalidConfig, "invalid " + what + " " + q(text) +
                                    (want_prefix ? ": want address/prefix" : ": want an IP"));
  }
  return ip;
}

NlAddrPtr to_nl(const Ip& ip) {
  NlAddrPtr a(checked_alloc(nl_addr_build(ip.family, ip.bytes.data(), ip.len())));
  if (ip.prefix >= 0) nl_addr_set_prefixlen(a.get(), ip.prefix);
  return a;
}

// Formats an nl_addr as an IP, with "/prefix" when `prefix` >= 0. A zero-length address
// (a default route's dst) prints as the family's all-zeros address.
std::string format_ip(const nl_addr* addr, int family, int prefix) {
  std::array<unsigned char, 16> bytes{};
  if (addr) {
    size_t n = std::min<size_t>(nl_addr_get_len(addr), bytes.size());
    std::memcpy(bytes.data(), nl_addr_get_binary_addr(addr), n);
  }
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, bytes.data(), buf, sizeof(buf));
  return prefix >= 0 ? std::string(buf) + "/" + std::to_string(prefix) : std::string(buf);
}

AddrPtr build_addr(NetlinkSocket& sk, const std::string& link, const Ip& ip) {
  AddrPtr a(checked_alloc(rtnl_addr_alloc()));
  rtnl_addr_set_ifindex(a.get(), link_index(sk, link));
  NlAddrPtr local = to_nl(ip);
  rtnl_addr_set_local(a.get(), local.get());
  return a;
}

// The IPv4 subnet broadcast (host bits all ones), as `ip addr add ... brd +` sets it.
NlAddrPtr v4_broadcast(const Ip& ip) {
  Ip brd = ip;
  brd.prefix = -1;
  uint32_t host = ntohl(*reinterpret_cast<const uint32_t*>(ip.bytes.data()));
  uint32_t mask = ip.prefix == 0 ? 0 : ~uint32_t{0} << (32 - ip.prefix);
  uint32_t value = htonl(host | ~mask);
  std::memcpy(brd.bytes.data(), &value, 4);
  return to_nl(brd);
}

}  // namespace

void add_address(NetlinkSocket& sk, const std::string& link, const std::string& cidr, bool nodad) {
  Ip ip = parse_ip(cidr, true, "address for link " + q(link));
  AddrPtr a = build_addr(sk, link, ip);
  if (ip.family == AF_INET && ip.prefix < 31) {
    rtnl_addr_set_broadcast(a.get(), v4_broadcast(ip).get());
  }
  if (ip.family == AF_INET6 && nodad) rtnl_addr_set_flags(a.get(), IFA_F_NODAD);
  run_or_throw(sk, "add address " + cidr + " to link " + q(link),
               [&](nl_sock* s) { return rtnl_addr_add(s, a.get(), NLM_F_EXCL); });
}

bool del_address(NetlinkSocket& sk, const std::string& link, const std::string& cidr) {
  Ip ip = parse_ip(cidr, true, "address for link " + q(link));
  AddrPtr a = build_addr(sk, link, ip);
  int rc = run(sk, [&](nl_sock* s) { return rtnl_addr_delete(s, a.get(), 0); });
  if (rc < 0 && failure_errno(sk, rc) == EADDRNOTAVAIL) return false;
  if (rc < 0) fail(sk, rc, "delete address " + cidr + " from link " + q(link));
  return true;
}

std::vector<std::string> list_addresses(NetlinkSocket& sk, const std::string& link,
                                        bool include_link_scope) {
  int index = link_index(sk, link);
  nl_cache* raw = nullptr;
  run_or_throw(sk, "list addresses of link " + q(link),
               [&](nl_sock* s) { return rtnl_addr_alloc_cache(s, &raw); });
  CachePtr cache(raw);
  std::vector<std::string> out;
  for (nl_object* o = nl_cache_get_first(raw); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_ifindex(a) != index) continue;
    if (!include_link_scope && rtnl_addr_get_scope(a) == RT_SCOPE_LINK) continue;
    out.push_back(
        format_ip(rtnl_addr_get_local(a), rtnl_addr_get_family(a), rtnl_addr_get_prefixlen(a)));
  }
  return out;
}

namespace {

std::string describe(const Route& r) {
  std::string s = "route " + r.dst;
  if (!r.gw.empty()) s += " via " + r.gw;
  if (!r.dev.empty()) s += " dev " + q(r.dev);
  return s;
}

// A route object for add/delete. `protocol` 0 matches any protocol on delete.
RoutePtr build_route(NetlinkSocket& sk, const Route& r, uint8_t protocol) {
  Ip dst = parse_ip(r.dst, true, "destination of " + describe(r));
  if (r.gw.empty() && r.dev.empty()) {
    throw Error(kInvalidConfig, describe(r) + ": needs a gateway or a device");
  }
  RoutePtr route(checked_alloc(rtnl_route_alloc()));
  rtnl_route_set_family(route.get(), dst.family);
  rtnl_route_set_dst(route.get(), to_nl(dst).get());
  rtnl_route_set_table(route.get(), r.table);
  rtnl_route_set_protocol(route.get(), protocol);
  rtnl_route_set_type(route.get(), RTN_UNICAST);
  if (r.metric) rtnl_route_set_priority(route.get(), r.metric);
  NexthopPtr nh(checked_alloc(rtnl_route_nh_alloc()));
  if (!r.dev.empty()) rtnl_route_nh_set_ifindex(nh.get(), link_index(sk, r.dev));
  if (!r.gw.empty()) {
    Ip gw = parse_ip(r.gw, false, "gateway of " + describe(r));
    if (gw.family != dst.family) {
      throw Error(kInvalidConfig, describe(r) + ": gateway and destination families differ");
    }
    rtnl_route_nh_set_gateway(nh.get(), to_nl(gw).get());
  }
  if (r.onlink) rtnl_route_nh_set_flags(nh.get(), RTNH_F_ONLINK);
  if (!r.src.empty()) {
    Ip src = parse_ip(r.src, false, "source of " + describe(r));
    rtnl_route_set_pref_src(route.get(), to_nl(src).get());
  }
  rtnl_route_add_nexthop(route.get(), nh.release());  // the route owns it now
  return route;
}

}  // namespace

void add_route(NetlinkSocket& sk, const Route& r) {
  RoutePtr route = build_route(sk, r, r.protocol);
  run_or_throw(sk, "add " + describe(r),
               [&](nl_sock* s) { return rtnl_route_add(s, route.get(), NLM_F_EXCL); });
}

bool del_route(NetlinkSocket& sk, const Route& r) {
  RoutePtr route = build_route(sk, r, 0);
  int rc = run(sk, [&](nl_sock* s) { return rtnl_route_delete(s, route.get(), 0); });
  if (rc < 0 && failure_errno(sk, rc) == ESRCH) return false;
  if (rc < 0) fail(sk, rc, "delete " + describe(r));
  return true;
}

namespace {

Route to_route(rtnl_route* r, nl_cache* links) {
  Route out;
  int family = rtnl_route_get_family(r);
  nl_addr* dst = rtnl_route_get_dst(r);
  out.dst = format_ip(dst, family, dst ? nl_addr_get_prefixlen(dst) : 0);
  out.metric = rtnl_route_get_priority(r);
  out.table = rtnl_route_get_table(r);
  out.protocol = rtnl_route_get_protocol(r);
  if (nl_addr* src = rtnl_route_get_pref_src(r)) out.src = format_ip(src, family, -1);
  if (rtnl_route_get_nnexthops(r) > 0) {
    rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
    if (nl_addr* gw = rtnl_route_nh_get_gateway(nh)) out.gw = format_ip(gw, family, -1);
    char name[IFNAMSIZ] = {};
    int index = rtnl_route_nh_get_ifindex(nh);
    if (index > 0 && rtnl_link_i2name(links, index, name, sizeof(name))) out.dev = name;
    out.onlink = (rtnl_route_nh_get_flags(nh) & RTNH_F_ONLINK) != 0;
  }
  return out;
}

}  // namespace

std::vector<Route> list_routes(NetlinkSocket& sk, int family, uint32_t table) {
  nl_cache* raw_links = nullptr;
  run_or_throw(sk, "list links",
               [&](nl_sock* s) { return rtnl_link_alloc_cache(s, AF_UNSPEC, &raw_links); });
  CachePtr links(raw_links);
  nl_cache* raw = nullptr;
  run_or_throw(sk, "list routes",
               [&](nl_sock* s) { return rtnl_route_alloc_cache(s, family, 0, &raw); });
  CachePtr cache(raw);
  std::vector<Route> out;
  for (nl_object* o = nl_cache_get_first(raw); o; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    int f = rtnl_route_get_family(r);
    if (f != AF_INET && f != AF_INET6) continue;
    if (family != AF_UNSPEC && f != family) continue;
    if (rtnl_route_get_table(r) != table || rtnl_route_get_type(r) != RTN_UNICAST) continue;
    out.push_back(to_route(r, raw_links));
  }
  return out;
}

// ---- policy rules ----

namespace {

std::string describe(const Rule& r) {
  return "rule from " + r.src + " lookup " + std::to_string(r.table) + " priority " +
         std::to_string(r.priority);
}

RulePtr build_rule(const Rule& r) {
  Ip src = parse_ip(r.src, true, "source of " + describe(r));
  RulePtr rule(checked_alloc(rtnl_rule_alloc()));
  rtnl_rule_set_family(rule.get(), src.family);
  rtnl_rule_set_src(rule.get(), to_nl(src).get());
  rtnl_rule_set_table(rule.get(), r.table);
  rtnl_rule_set_prio(rule.get(), r.priority);
  rtnl_rule_set_action(rule.get(), FR_ACT_TO_TBL);
  return rule;
}

}  // namespace

void add_rule(NetlinkSocket& sk, const Rule& r) {
  RulePtr rule = build_rule(r);
  run_or_throw(sk, "add " + describe(r),
               [&](nl_sock* s) { return rtnl_rule_add(s, rule.get(), NLM_F_EXCL); });
}

bool del_rule(NetlinkSocket& sk, const Rule& r) {
  RulePtr rule = build_rule(r);
  int rc = run(sk, [&](nl_sock* s) { return rtnl_rule_delete(s, rule.get(), 0); });
  if (rc < 0 && failure_errno(sk, rc) == ENOENT) return false;
  if (rc < 0) fail(sk, rc, "delete " + describe(r));
  return true;
}

std::vector<Rule> list_rules(NetlinkSocket& sk, int family) {
  nl_cache* raw = nullptr;
  run_or_throw(sk, "list rules",
               [&](nl_sock* s) { return rtnl_rule_alloc_cache(s, family, &raw); });
  CachePtr cache(raw);
  std::vector<Rule> out;
  for (nl_object* o = nl_cache_get_first(raw); o; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_rule*>(o);
    if (family != AF_UNSPEC && rtnl_rule_get_family(r) != family) continue;  // libnl dumps all
    nl_addr* src = rtnl_rule_get_src(r);
    if (!src || nl_addr_get_prefixlen(src) == 0) continue;
    out.push_back({format_ip(src, rtnl_rule_get_family(r), nl_addr_get_prefixlen(src)),
                   rtnl_rule_get_table(r), rtnl_rule_get_prio(r)});
  }
  return out;
}

}  // namespace net
