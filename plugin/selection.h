// Network selection: the pod annotation `k8s.v1.cni.cncf.io/networks` (comma form or JSON
// form, multi-net-spec v1.3) and `v1.multus-cni.io/default-network`, parsed and validated.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plugin {

inline constexpr const char* kNetworksAnnotation = "k8s.v1.cni.cncf.io/networks";
inline constexpr const char* kDefaultNetworkAnnotation = "v1.multus-cni.io/default-network";

// One request that travels to the delegates through runtimeConfig.
struct RuntimeRequest {
  std::string field;       // the annotation's key, e.g. "infiniband-guid"
  std::string capability;  // the runtimeConfig key and capability, e.g. "infinibandGUID"
  nlohmann::json value;
};

// One element of the selection, validated.
struct NetworkSelection {
  std::string ns;         // the pod's namespace (or the caller's default) when not given
  std::string name;       // the NAD name
  std::string interface;  // "" = assigned by position (net1, net2, ...)
  std::optional<std::vector<std::string>> ips;  // each an IP or a CIDR
  std::optional<std::string> mac;
  std::vector<std::string> default_route;  // gateways; non-empty = wants the default route
  nlohmann::json port_mappings;            // null or a list of objects
  nlohmann::json bandwidth;                // null or an object
  nlohmann::json cni_args;                 // null or an object
  std::optional<std::string> infiniband_guid;
  std::optional<std::string> ipam_claim_reference;
  bool namespace_given = false;  // the annotation named the namespace itself
  std::string origin;            // how errors name it: `item 2 "a/b"` or `element 1 ("net1")`

  std::string key() const { return ns + "/" + name; }
  bool wants_default_route() const { return !default_route.empty(); }
  // ips, mac, portMappings, bandwidth and infiniband-guid as runtimeConfig entries.
  std::vector<RuntimeRequest> runtime_requests() const;
};

// Parses the networks annotation. An empty (or all-blank) value selects nothing. A value
// containing '[', '{' or '"' is the JSON form (a list of elements), else the comma form
// "[namespace/]name[@ifname]". Every problem throws cni::Error(kInvalidConfig) whose message
// starts with the annotation key and names the offending item; invalid JSON names the
// parser's byte position. A value past kMaxNetworksAnnotationBytes, with invalid UTF-8, or
// with JSON past the limits of cni/json_limits.h is refused whole. Interface names follow
// cni/ifname.h. The count of networks is the planner's to cap.
std::vector<NetworkSelection> parse_network_selection(std::string_view value,
                                                      const std::string& default_namespace);

// Parses `v1.multus-cni.io/default-network`: either form, exactly one element; its namespace
// defaults to `default_namespace` (the multusNamespace). Errors as above.
NetworkSelection parse_default_network(std::string_view value,
                                       const std::string& default_namespace);

// DNS-1123 label: ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$, at most 63 characters.
bool is_dns1123_label(std::string_view s);

}  // namespace plugin
