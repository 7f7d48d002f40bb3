// The `coordination` settings (docs/coordination.md): parsed strictly from the cnimux entry
// (the node's default) and from a network's config, then merged key by key, the network's
// keys winning. Pure parsing: nothing here touches the node.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace plugin {

enum class CoordinationMode {
  kOff,       // the stage does nothing: cnimux behaves as without coordination
  kUnderlay,  // the default route is on an underlay link; a veth to the node carries the rest
  kOverlay,   // eth0 is the overlay; extra links get source-based policy routing only
  kAuto,      // underlay or overlay, from the link holding the default route after delegates
};

enum class GatewayCheck { kOff, kWarn, kFail };

// One `coordination` object as written. Every key is optional, so a network's object overrides
// the node's key by key (merge_coordination); the getters below apply the defaults.
struct CoordinationSettings {
  std::optional<CoordinationMode> mode;
  std::optional<std::vector<std::string>> pod_cidr;         // "podCIDR"
  std::optional<std::vector<std::string>> service_cidr;     // "serviceCIDR"
  std::optional<std::vector<std::string>> host_routes;      // "hostRoutes"
  std::optional<std::string> veth_link_address;             // "vethLinkAddress"
  std::optional<uint32_t> table_base;                       // "tableBase"
  std::optional<bool> detect_ip_conflict;                   // "detectIPConflict"
  std::optional<GatewayCheck> detect_gateway;               // "detectGateway"
  std::optional<std::chrono::milliseconds> detect_timeout;  // "detectTimeout" (seconds)
  std::optional<bool> announce;                             // "announce"
  std::optional<std::string> mac_prefix;                    // "macPrefix": "0a:1b", lowercased

  CoordinationMode mode_or_default() const { return mode.value_or(CoordinationMode::kOff); }
  uint32_t table_base_or_default() const { return table_base.value_or(100); }
  bool detect_ip_conflict_or_default() const { return detect_ip_conflict.value_or(false); }
  GatewayCheck detect_gateway_or_default() const {
    return detect_gateway.value_or(GatewayCheck::kOff);
  }
  std::chrono::milliseconds detect_timeout_or_default() const {
    return detect_timeout.value_or(std::chrono::milliseconds(1000));
  }
  bool announce_or_default() const { return announce.value_or(true); }
  // True when any key that acts per network (detection, announce, macPrefix) is set.
  bool sets_network_keys() const {
    return detect_ip_conflict || detect_gateway || detect_timeout || announce || mac_prefix;
  }
};

// Parses one `coordination` object. `where` names its origin in messages ("cnimux config",
// "network \"default/mv\""). Throws cni::Error(kInvalidConfig) naming the key and value for an
// unknown key, a wrong type, a bad CIDR or address, or a table base outside 1..125 or
// 256..4294967168.
CoordinationSettings parse_coordination(const nlohmann::json& v, const std::string& where);

// `over`'s keys replace `base`'s; keys `over` leaves unset keep `base`'s value.
CoordinationSettings merge_coordination(const CoordinationSettings& base,
                                        const CoordinationSettings& over);

// The `coordination` object of a planned conflist: its top level, else its first plugin's
// (a NAD holding a single plugin config). Unset when neither has one.
CoordinationSettings coordination_of_conflist(const std::string& conflist,
                                              const std::string& network);

const char* mode_name(CoordinationMode m);

}  // namespace plugin
