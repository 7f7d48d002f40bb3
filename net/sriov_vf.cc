// IFLA_VF_* requests on the PF netdev: one RTM_SETLINK per attribute, and RTM_GETLINK with
// RTEXT_FILTER_VF to read every VF's settings back.
#include "net/sriov_vf.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>

#include <charconv>
#include <cstring>
#include <memory>

#include "cni/error.h"
#include "net/mac.h"
#include "net/netlink.h"

namespace net {

namespace {

using MsgPtr = std::unique_ptr<nl_msg, decltype(&nlmsg_free)>;

std::string vf_name(int vf) {
  return "VF " + std::to_string(vf);
}

[[noreturn]] void bad_value(const VfAttribute& a, const std::string& what) {
  throw cni::Error(cni::kInvalidConfig, vf_name(a.vf) + ": invalid " + what);
}

std::array<unsigned char, 6> parse_mac(const VfAttribute& a) {
  std::array<unsigned char, 6> out{};
  const std::string& m = a.mac;
  if (m.size() != 17) bad_value(a, "mac \"" + m + "\": want aa:bb:cc:dd:ee:ff");
  for (size_t i = 0; i < 6; ++i) {
    const char* p = m.data() + i * 3;
    auto [end, ec] = std::from_chars(p, p + 2, out[i], 16);
    if (ec != std::errc() || end != p + 2 || (i < 5 && p[2] != ':')) {
      bad_value(a, "mac \"" + m + "\": want aa:bb:cc:dd:ee:ff");
    }
  }
  return out;
}

uint32_t link_state_value(const VfAttribute& a) {
  if (a.link_state == "auto") return IFLA_VF_LINK_STATE_AUTO;
  if (a.link_state == "enable") return IFLA_VF_LINK_STATE_ENABLE;
  if (a.link_state == "disable") return IFLA_VF_LINK_STATE_DISABLE;
  bad_value(a, "link_state \"" + a.link_state + "\": want auto, enable or disable");
}

void put_vf_attribute(nl_msg* msg, const VfAttribute& a) {
  const uint32_t vf = static_cast<uint32_t>(a.vf);
  switch (a.kind) {
    case VfAttribute::kMac: {
      ifla_vf_mac m{};
      m.vf = vf;
      auto bytes = parse_mac(a);
      std::memcpy(m.mac, bytes.data(), bytes.size());
      nla_put(msg, IFLA_VF_MAC, sizeof m, &m);
      break;
    }
    case VfAttribute::kVlan: {
      if (a.vlan > 4094) bad_value(a, "vlan " + std::to_string(a.vlan) + ": want 0..4094");
      if (a.qos > 7) bad_value(a, "vlanQoS " + std::to_string(a.qos) + ": want 0..7");
      if (a.vlan_proto == "802.1q") {
        ifla_vf_vlan v{vf, a.vlan, a.qos};
        nla_put(msg, IFLA_VF_VLAN, sizeof v, &v);
      } else if (a.vlan_proto == "802.1ad") {
        ifla_vf_vlan_info v{vf, a.vlan, a.qos, htons(ETH_P_8021AD)};
        nlattr* list = nla_nest_start(msg, IFLA_VF_VLAN_LIST);
        nla_put(msg, IFLA_VF_VLAN_INFO, sizeof v, &v);
        nla_nest_end(msg, list);
      } else {
        bad_value(a, "vlanProto \"" + a.vlan_proto + "\": want 802.1q or 802.1ad");
      }
      break;
    }
    case VfAttribute::kSpoofchk: {
      ifla_vf_spoofchk s{vf, a.on ? 1u : 0u};
      nla_put(msg, IFLA_VF_SPOOFCHK, sizeof s, &s);
      break;
    }
    case VfAttribute::kTrust: {
      ifla_vf_trust t{vf, a.on ? 1u : 0u};
      nla_put(msg, IFLA_VF_TRUST, sizeof t, &t);
      break;
    }
    case VfAttribute::kLinkState: {
      ifla_vf_link_state l{vf, link_state_value(a)};
      nla_put(msg, IFLA_VF_LINK_STATE, sizeof l, &l);
      break;
    }
    case VfAttribute::kRate: {
      ifla_vf_rate r{vf, a.min_mbps, a.max_mbps};
      nla_put(msg, IFLA_VF_RATE, sizeof r, &r);
      break;
    }
  }
}

MsgPtr make_vf_msg(int pf_index, const VfAttribute& attr) {
  MsgPtr msg(nlmsg_alloc_simple(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK), &nlmsg_free);
  if (!msg) throw cni::Error(cni::kIoFailure, "netlink: out of memory");
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = pf_index;
  nlmsg_append(msg.get(), &ifi, sizeof ifi, NLMSG_ALIGNTO);
  nlattr* list = nla_nest_start(msg.get(), IFLA_VFINFO_LIST);
  nlattr* info = nla_nest_start(msg.get(), IFLA_VF_INFO);
  put_vf_attribute(msg.get(), attr);
  nla_nest_end(msg.get(), info);
  nla_nest_end(msg.get(), list);
  return msg;
}

std::optional<bool> setting(uint32_t v) {
  if (v == static_cast<uint32_t>(-1)) return std::nullopt;  // the driver does not report it
  return v != 0;
}

struct GetContext {
  int vf;
  bool found = false;
  VfSettings out;
};

// Reads the settings of ctx.vf from one IFLA_VF_INFO nest; returns false for another VF.
bool read_vf_info(nlattr* info, GetContext& ctx) {
  nlattr* tb[IFLA_VF_MAX + 1] = {};
  if (nla_parse_nested(tb, IFLA_VF_MAX, info, nullptr) < 0 || !tb[IFLA_VF_MAC]) return false;
  auto* mac = static_cast<ifla_vf_mac*>(nla_data(tb[IFLA_VF_MAC]));
  if (static_cast<int>(mac->vf) != ctx.vf) return false;
  VfSettings& s = ctx.out;
  s.mac = format_mac(mac->mac);
  if (tb[IFLA_VF_VLAN]) {
    auto* v = static_cast<ifla_vf_vlan*>(nla_data(tb[IFLA_VF_VLAN]));
    s.vlan = v->vlan;
    s.qos = v->qos;
  }
  if (tb[IFLA_VF_VLAN_LIST]) {
    nlattr* entry = static_cast<nlattr*>(nla_data(tb[IFLA_VF_VLAN_LIST]));
    if (nla_ok(entry, nla_len(tb[IFLA_VF_VLAN_LIST])) && nla_type(entry) == IFLA_VF_VLAN_INFO) {
      auto* v = static_cast<ifla_vf_vlan_info*>(nla_data(entry));
      s.vlan_proto = ntohs(v->vlan_proto) == ETH_P_8021AD ? "802.1ad" : "802.1q";
    }
  }
  if (tb[IFLA_VF_SPOOFCHK]) {
    s.spoofchk = setting(static_cast<ifla_vf_spoofchk*>(nla_data(tb[IFLA_VF_SPOOFCHK]))->setting);
  }
  if (tb[IFLA_VF_TRUST]) {
    s.trust = setting(static_cast<ifla_vf_trust*>(nla_data(tb[IFLA_VF_TRUST]))->setting);
  }
  if (tb[IFLA_VF_LINK_STATE]) {
    uint32_t l = static_cast<ifla_vf_link_state*>(nla_data(tb[IFLA_VF_LINK_STATE]))->link_state;
    s.link_state = l == IFLA_VF_LINK_STATE_ENABLE    ? "enable"
                   : l == IFLA_VF_LINK_STATE_DISABLE ? "disable"
                                                     : "auto";
  }
  if (tb[IFLA_VF_RATE]) {
    auto* r = static_cast<ifla_vf_rate*>(nla_data(tb[IFLA_VF_RATE]));
    s.min_tx_rate = r->min_tx_rate;
    s.max_tx_rate = r->max_tx_rate;
  }
  return true;
}

int on_link(nl_msg* msg, void* arg) {
  auto& ctx = *static_cast<GetContext*>(arg);
  nlattr* tb[IFLA_MAX + 1] = {};
  if (nlmsg_parse(nlmsg_hdr(msg), sizeof(ifinfomsg), tb, IFLA_MAX, nullptr) < 0) return NL_SKIP;
  if (!tb[IFLA_VFINFO_LIST]) return NL_SKIP;
  nlattr* info;
  int rem;
  nla_for_each_nested(info, tb[IFLA_VFINFO_LIST], rem) {
    if (nla_type(info) == IFLA_VF_INFO && read_vf_info(info, ctx)) {
      ctx.found = true;
      break;
    }
  }
  return NL_OK;
}

std::string where(const std::string& pf, int vf) {
  return vf_name(vf) + " of PF \"" + pf + "\"";
}

}  // namespace

std::vector<uint8_t> build_vf_request(int pf_index, const VfAttribute& attr) {
  MsgPtr msg = make_vf_msg(pf_index, attr);
  const nlmsghdr* hdr = nlmsg_hdr(msg.get());
  auto* p = reinterpret_cast<const uint8_t*>(hdr);
  return std::vector<uint8_t>(p, p + hdr->nlmsg_len);
}

void NetlinkVfControl::send(const std::string& pf, const VfAttribute& attr) {
  MsgPtr msg = make_vf_msg(link_index(sk_, pf), attr);
  int rc = nl_send_auto(sk_.get(), msg.get());
  if (rc >= 0) rc = nl_wait_for_ack(sk_.get());
  if (rc < 0) {
    throw NetlinkError("set " + where(pf, attr.vf) + ": " + nl_geterror(rc), 0);
  }
}

VfSettings NetlinkVfControl::get(const std::string& pf, int vf) {
  MsgPtr msg(nlmsg_alloc_simple(RTM_GETLINK, NLM_F_REQUEST), &nlmsg_free);
  if (!msg) throw cni::Error(cni::kIoFailure, "netlink: out of memory");
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = link_index(sk_, pf);
  nlmsg_append(msg.get(), &ifi, sizeof ifi, NLMSG_ALIGNTO);
  nla_put_u32(msg.get(), IFLA_EXT_MASK, RTEXT_FILTER_VF);
  GetContext ctx{vf};
  std::unique_ptr<nl_cb, decltype(&nl_cb_put)> cb(nl_cb_clone(nl_socket_get_cb(sk_.get())),
                                                  &nl_cb_put);
  if (!cb) throw cni::Error(cni::kIoFailure, "netlink: out of memory");
  nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, on_link, &ctx);
  int rc = nl_send_auto(sk_.get(), msg.get());
  if (rc >= 0) rc = nl_recvmsgs(sk_.get(), cb.get());
  if (rc < 0) throw NetlinkError("read " + where(pf, vf) + ": " + nl_geterror(rc), 0);
  if (!ctx.found) {
    throw cni::Error(cni::kInvalidConfig, "PF \"" + pf + "\" reports no " + vf_name(vf));
  }
  return ctx.out;
}

void NetlinkVfControl::set_mac(const std::string& pf, int vf, const std::string& mac) {
  send(pf, {.kind = VfAttribute::kMac, .vf = vf, .mac = mac});
}
void NetlinkVfControl::set_vlan(const std::string& pf, int vf, unsigned vlan, unsigned qos,
                                const std::string& proto) {
  send(pf, {.kind = VfAttribute::kVlan, .vf = vf, .vlan = vlan, .qos = qos, .vlan_proto = proto});
}
void NetlinkVfControl::set_spoofchk(const std::string& pf, int vf, bool on) {
  send(pf, {.kind = VfAttribute::kSpoofchk, .vf = vf, .on = on});
}
void NetlinkVfControl::set_trust(const std::string& pf, int vf, bool on) {
  send(pf, {.kind = VfAttribute::kTrust, .vf = vf, .on = on});
}
void NetlinkVfControl::set_link_state(const std::string& pf, int vf, const std::string& state) {
  send(pf, {.kind = VfAttribute::kLinkState, .vf = vf, .link_state = state});
}
void NetlinkVfControl::set_rate(const std::string& pf, int vf, unsigned min_mbps,
                                unsigned max_mbps) {
  send(pf, {.kind = VfAttribute::kRate, .vf = vf, .min_mbps = min_mbps, .max_mbps = max_mbps});
}

}  // namespace net
