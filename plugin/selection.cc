// Parsing and validation of the network selection annotations. Every error names the
// annotation and the item, so the pod's owner can find the typo from `kubectl describe`.
#include "plugin/selection.h"

#include <algorithm>
#include <cctype>

#include "cni/config.h"
#include "cni/error.h"
#include "cni/ifname.h"
#include "cni/json_limits.h"
#include "cni/text.h"

namespace plugin {
namespace {

using Json = nlohmann::json;

// Raised with the annotation key and the item in front of the reason.
[[noreturn]] void fail(const std::string& annotation, const std::string& origin,
                       const std::string& why) {
  std::string msg = annotation + ": ";
  if (!origin.empty()) msg += origin + ": ";
  throw cni::Error(cni::kInvalidConfig, msg + why);
}

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// NAD names are object names: DNS-1123 subdomains (labels joined by dots, <= 253).
bool is_dns1123_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (!is_dns1123_label(label)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

using cni::is_ip;
using cni::trim;

// An address, or an address with a prefix length that fits its family.
bool is_ip_or_cidr(const std::string& s) {
  size_t slash = s.find('/');
  if (slash == std::string::npos) return is_ip(s);
  std::string addr = s.substr(0, slash), len = s.substr(slash + 1);
  if (!is_ip(addr) || len.empty() || len.size() > 3) return false;
  if (!std::all_of(len.begin(), len.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  int max = addr.find(':') == std::string::npos ? 32 : 128;
  return std::stoi(len) <= max;
}

// Six hex octets separated by ':' or '-' (one separator throughout).
bool is_mac(const std::string& s) {
  if (s.size() != 17) return false;
  char sep = s[2];
  if (sep != ':' && sep != '-') return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool ok = (i % 3 == 2) ? s[i] == sep : std::isxdigit(static_cast<unsigned char>(s[i])) != 0;
    if (!ok) return false;
  }
  return true;
}

void check_name_parts(const std::string& a, const std::string& origin, const NetworkSelection& s) {
  if (!is_dns1123_label(s.ns)) {
    fail(a, origin,
         "namespace \"" + s.ns + "\" is not a DNS-1123 label (lower case a-z, 0-9, '-')");
  }
  if (!s.interface.empty()) {
    if (std::string why = cni::ifname_problem(s.interface); !why.empty()) {
      fail(a, origin, "invalid interface name \"" + s.interface + "\": " + why);
    }
  }
}

// "[namespace/]name[@ifname]".
NetworkSelection parse_comma_item(const std::string& a, const std::string& item, size_t pos,
                                  const std::string& default_ns) {
  std::string origin = "item " + std::to_string(pos) + " \"" + item + "\"";
  if (item.empty()) fail(a, "item " + std::to_string(pos), "empty network name");
  if (std::count(item.begin(), item.end(), '/') > 1) fail(a, origin, "more than one \"/\"");
  if (std::count(item.begin(), item.end(), '@') > 1) fail(a, origin, "more than one \"@\"");
  NetworkSelection s;
  s.origin = origin;
  std::string rest = item;
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    s.ns = rest.substr(0, slash);
    s.namespace_given = true;
    rest = rest.substr(slash + 1);
  } else {
    s.ns = default_ns;
  }
  if (size_t at = rest.find('@'); at != std::string::npos) {
    s.interface = rest.substr(at + 1);
    if (s.interface.empty()) fail(a, origin, "interface name after \"@\" is empty");
    rest = rest.substr(0, at);
  }
  s.name = rest;
  if (!is_dns1123_label(s.name)) {
    fail(a, origin,
         "network name \"" + s.name + "\" is not a DNS-1123 label (lower case a-z, 0-9, '-')");
  }
  check_name_parts(a, origin, s);
  return s;
}

std::vector<NetworkSelection> parse_comma_form(const std::string& a, const std::string& value,
                                               const std::string& default_ns) {
  std::vector<NetworkSelection> out;
  size_t start = 0, pos = 1;
  while (true) {
    size_t comma = value.find(',', start);
    std::string item = trim(std::string_view(value).substr(
        start, comma == std::string::npos ? std::string::npos : comma - start));
    out.push_back(parse_comma_item(a, item, pos++, default_ns));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

std::string string_field(const std::string& a, const std::string& origin, const Json& el,
                         const char* key) {
  const Json& v = el.at(key);
  if (!v.is_string() || v.get_ref<const std::string&>().empty()) {
    fail(a, origin, std::string("\"") + key + "\" must be a non-empty string, got " + v.dump());
  }
  return v.get<std::string>();
}

std::vector<std::string> address_list(const std::string& a, const std::string& origin,
                                      const Json& el, const char* key, bool allow_cidr) {
  const Json& v = el.at(key);
  if (!v.is_array()) fail(a, origin, std::string("\"") + key + "\" must be a list of strings");
  std::vector<std::string> out;
  for (const Json& item : v) {
    bool ok = item.is_string() && (allow_cidr ? is_ip_or_cidr(item.get<std::string>())
                                              : is_ip(item.get<std::string>()));
    if (!ok) {
      fail(a, origin,
           std::string("\"") + key + "\" entry " + item.dump() + " is not " +
               (allow_cidr ? "an IP address or CIDR" : "an IP address"));
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

// Integer 1..65535 under a key matched without regard to case, like Go's decoder.
void check_port(const std::string& a, const std::string& origin, const Json& pm, const char* key,
                bool required) {
  const Json* v = cni::find_key_case_insensitive(pm, key);
  if (!v) {
    if (required)
      fail(a, origin, std::string("portMappings entry ") + pm.dump() + " lacks \"" + key + "\"");
    return;
  }
  if (!v->is_number_integer() || v->get<long long>() < 1 || v->get<long long>() > 65535) {
    fail(a, origin,
         std::string("portMappings \"") + key + "\" = " + v->dump() +
             " is not a port number (1-65535)");
  }
}

Json port_mappings(const std::string& a, const std::string& origin, const Json& v) {
  if (!v.is_array()) fail(a, origin, "\"portMappings\" must be a list of objects");
  for (const Json& pm : v) {
    if (!pm.is_object()) fail(a, origin, "portMappings entry " + pm.dump() + " is not an object");
    check_port(a, origin, pm, "containerPort", true);
    check_port(a, origin, pm, "hostPort", true);
    const Json* proto = cni::find_key_case_insensitive(pm, "protocol");
    if (proto && !proto->is_string()) {
      fail(a, origin, "portMappings \"protocol\" = " + proto->dump() + " is not a string");
    }
    const Json* host_ip = cni::find_key_case_insensitive(pm, "hostIP");
    if (host_ip && !(host_ip->is_string() &&
                     (host_ip->get<std::string>().empty() || is_ip(host_ip->get<std::string>())))) {
      fail(a, origin, "portMappings \"hostIP\" = " + host_ip->dump() + " is not an IP address");
    }
  }
  return v;
}

Json bandwidth(const std::string& a, const std::string& origin, const Json& v) {
  if (!v.is_object()) fail(a, origin, "\"bandwidth\" must be an object");
  for (const char* key : {"ingressRate", "ingressBurst", "egressRate", "egressBurst"}) {
    const Json* x = cni::find_key_case_insensitive(v, key);
    if (x && !(x->is_number_integer() && x->get<long long>() >= 0)) {
      fail(a, origin,
           std::string("bandwidth \"") + key + "\" = " + x->dump() +
               " is not a non-negative integer");
    }
  }
  return v;
}

void parse_runtime_fields(const std::string& a, const std::string& origin, const Json& el,
                          NetworkSelection& s) {
  if (el.contains("ips")) s.ips = address_list(a, origin, el, "ips", true);
  if (el.contains("mac")) {
    s.mac = string_field(a, origin, el, "mac");
    if (!is_mac(*s.mac)) fail(a, origin, "\"mac\" = \"" + *s.mac + "\" is not a MAC address");
  }
  if (el.contains("default-route")) {
    s.default_route = address_list(a, origin, el, "default-route", false);
  }
  if (el.contains("portMappings")) s.port_mappings = port_mappings(a, origin, el["portMappings"]);
  if (el.contains("bandwidth")) s.bandwidth = bandwidth(a, origin, el["bandwidth"]);
  if (el.contains("cni-args")) {
    if (!el["cni-args"].is_object()) fail(a, origin, "\"cni-args\" must be an object");
    s.cni_args = el["cni-args"];
  }
  if (el.contains("infiniband-guid")) {
    s.infiniband_guid = string_field(a, origin, el, "infiniband-guid");
  }
  if (el.contains("ipam-claim-reference")) {
    s.ipam_claim_reference = string_field(a, origin, el, "ipam-claim-reference");
    if (s.ips) fail(a, origin, "\"ips\" and \"ipam-claim-reference\" cannot be used together");
  }
}

NetworkSelection parse_json_element(const std::string& a, const Json& el, size_t pos,
                                    const std::string& default_ns) {
  std::string origin = "element " + std::to_string(pos);
  if (!el.is_object()) fail(a, origin, "not an object: " + el.dump());
  if (!el.contains("name")) fail(a, origin, "missing \"name\"");
  NetworkSelection s;
  s.name = string_field(a, origin, el, "name");
  origin += " (\"" + s.name + "\")";
  s.origin = origin;
  if (!is_dns1123_subdomain(s.name)) {
    fail(a, origin, "network name \"" + s.name + "\" is not a DNS-1123 name");
  }
  s.ns = default_ns;
  if (el.contains("namespace")) {
    s.ns = string_field(a, origin, el, "namespace");
    s.namespace_given = true;
  }
  if (el.contains("interface")) s.interface = string_field(a, origin, el, "interface");
  check_name_parts(a, origin, s);
  parse_runtime_fields(a, origin, el, s);
  return s;
}

std::vector<NetworkSelection> parse_json_form(const std::string& a, const std::string& value,
                                              const std::string& default_ns) {
  Json j = cni::parse_json(value, a, cni::kInvalidConfig);
  if (!j.is_array())
    fail(a, "", "JSON form must be a list of objects, got " + std::string(j.type_name()));
  std::vector<NetworkSelection> out;
  for (size_t i = 0; i < j.size(); ++i)
    out.push_back(parse_json_element(a, j[i], i + 1, default_ns));
  return out;
}

std::vector<NetworkSelection> parse_any(const std::string& annotation, std::string_view value,
                                        const std::string& default_ns) {
  // Kubernetes refuses more for all annotations together; other sources get the same bound.
  if (value.size() > cni::kMaxNetworksAnnotationBytes) {
    fail(annotation, "",
         std::to_string(value.size()) + " bytes, more than the limit of " +
             std::to_string(cni::kMaxNetworksAnnotationBytes) + " bytes (" +
             std::to_string(cni::kMaxNetworksAnnotationBytes >> 10) + " KiB)");
  }
  // Names from here travel in JSON; refuse bytes it cannot carry before anything uses them.
  if (!cni::is_valid_utf8(value)) fail(annotation, "", "not valid UTF-8");
  std::string v = trim(value);
  if (v.empty()) return {};
  if (v.find_first_of("[{\"") != std::string::npos)
    return parse_json_form(annotation, v, default_ns);
  return parse_comma_form(annotation, v, default_ns);
}

}  // namespace

bool is_dns1123_label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!is_lower_alnum(s.front()) || !is_lower_alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is_lower_alnum(c) || c == '-'; });
}

std::vector<RuntimeRequest> NetworkSelection::runtime_requests() const {
  std::vector<RuntimeRequest> out;
  if (ips) out.push_back({"ips", "ips", *ips});
  if (mac) out.push_back({"mac", "mac", *mac});
  if (!port_mappings.is_null()) out.push_back({"portMappings", "portMappings", port_mappings});
  if (!bandwidth.is_null()) out.push_back({"bandwidth", "bandwidth", bandwidth});
  if (infiniband_guid) out.push_back({"infiniband-guid", "infinibandGUID", *infiniband_guid});
  return out;
}

std::vector<NetworkSelection> parse_network_selection(std::string_view value,
                                                      const std::string& default_namespace) {
  return parse_any(kNetworksAnnotation, value, default_namespace);
}

NetworkSelection parse_default_network(std::string_view value,
                                       const std::string& default_namespace) {
  std::vector<NetworkSelection> all =
      parse_any(kDefaultNetworkAnnotation, value, default_namespace);
  if (all.size() != 1) {
    fail(kDefaultNetworkAnnotation, "",
         "must name exactly one network, got " + std::to_string(all.size()));
  }
  return all.front();
}

}  // namespace plugin
