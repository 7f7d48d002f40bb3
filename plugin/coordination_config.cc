// Strict parsing and key-by-key merging of `coordination` objects.
#include "plugin/coordination_config.h"

#include <arpa/inet.h>

#include <cctype>
#include <charconv>
#include <functional>
#include <map>

#include "cni/error.h"
#include "cni/text.h"

namespace plugin {
namespace {

using Json = nlohmann::json;
using Handler = std::function<void(CoordinationSettings&, const std::string&, const Json&)>;

[[noreturn]] void bad(const std::string& where, const std::string& key, const Json& v,
                      const std::string& why) {
  std::string shown = v.dump();
  if (shown.size() > 80) shown = shown.substr(0, 77) + "...";
  throw cni::Error(cni::kInvalidConfig,
                   "invalid " + where + " \"coordination." + key + "\" = " + shown + ": " + why);
}

bool valid_ip(const std::string& s) {
  unsigned char buf[16];
  int family = s.find(':') == std::string::npos ? AF_INET : AF_INET6;
  return inet_pton(family, s.c_str(), buf) == 1;
}

bool valid_cidr(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos || !valid_ip(s.substr(0, slash))) return false;
  const int max = s.find(':') == std::string::npos ? 32 : 128;
  int prefix = -1;
  const char* b = s.data() + slash + 1;
  const char* e = s.data() + s.size();
  auto [end, ec] = std::from_chars(b, e, prefix);
  return b != e && ec == std::errc() && end == e && prefix >= 0 && prefix <= max;
}

std::vector<std::string> cidr_list(const std::string& where, const std::string& key,
                                   const Json& v) {
  if (!v.is_array()) bad(where, key, v, "expected a list of CIDRs");
  std::vector<std::string> out;
  for (const Json& item : v) {
    if (!item.is_string() || !valid_cidr(item.get<std::string>())) {
      bad(where, key, item, "expected a CIDR such as \"10.96.0.0/12\"");
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

bool boolean(const std::string& where, const std::string& key, const Json& v) {
  if (!v.is_boolean()) bad(where, key, v, "expected true or false");
  return v.get<bool>();
}

CoordinationMode mode_of(const std::string& where, const Json& v) {
  static const std::map<std::string, CoordinationMode> kModes = {
      {"off", CoordinationMode::kOff},
      {"underlay", CoordinationMode::kUnderlay},
      {"overlay", CoordinationMode::kOverlay},
      {"auto", CoordinationMode::kAuto}};
  auto it = v.is_string() ? kModes.find(v.get<std::string>()) : kModes.end();
  if (it == kModes.end()) bad(where, "mode", v, "expected underlay, overlay, auto or off");
  return it->second;
}

GatewayCheck gateway_check_of(const std::string& where, const Json& v) {
  static const std::map<std::string, GatewayCheck> kChecks = {
      {"off", GatewayCheck::kOff}, {"warn", GatewayCheck::kWarn}, {"fail", GatewayCheck::kFail}};
  auto it = v.is_string() ? kChecks.find(v.get<std::string>()) : kChecks.end();
  if (it == kChecks.end()) bad(where, "detectGateway", v, "expected \"fail\", \"warn\" or \"off\"");
  return it->second;
}

// Two bytes "xx:yy" whose first is unicast (bit 0 clear) and locally administered (bit 1 set),
// so a MAC made from it never collides with a vendor's.
std::string mac_prefix_of(const std::string& where, const Json& v) {
  const std::string s = v.is_string() ? v.get<std::string>() : "";
  auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  const bool shape =
      s.size() == 5 && hex(s[0]) && hex(s[1]) && s[2] == ':' && hex(s[3]) && hex(s[4]);
  if (!shape) bad(where, "macPrefix", v, "expected two bytes such as \"0a:1b\"");
  const int first = std::stoi(s.substr(0, 2), nullptr, 16);
  if ((first & 1) || !(first & 2)) {
    bad(where, "macPrefix", v,
        "the first byte must be unicast and locally administered (x2, x6, xa, xe)");
  }
  std::string lower = s;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

const std::map<std::string, Handler>& handlers() {
  using S = CoordinationSettings;
  using W = const std::string&;
  static const std::map<std::string, Handler> kHandlers = {
      {"mode", [](S& s, W w, const Json& v) { s.mode = mode_of(w, v); }},
      {"podCIDR", [](S& s, W w, const Json& v) { s.pod_cidr = cidr_list(w, "podCIDR", v); }},
      {"serviceCIDR",
       [](S& s, W w, const Json& v) { s.service_cidr = cidr_list(w, "serviceCIDR", v); }},
      {"hostRoutes",
       [](S& s, W w, const Json& v) { s.host_routes = cidr_list(w, "hostRoutes", v); }},
      {"vethLinkAddress",
       [](S& s, W w, const Json& v) {
         if (!v.is_string() || v.get<std::string>().find(':') != std::string::npos ||
             !valid_ip(v.get<std::string>())) {
           bad(w, "vethLinkAddress", v, "expected an IPv4 address such as \"169.254.100.1\"");
         }
         s.veth_link_address = v.get<std::string>();
       }},
      {"tableBase",
       [](S& s, W w, const Json& v) {
         // A pod's tables are base .. base+127 (at most 128 attachments); 253..255 are the
         // kernel's default, main and local tables.
         const int64_t n = v.is_number_integer() ? v.get<int64_t>() : -1;
         const bool ok = (n >= 1 && n + 127 <= 252) || (n >= 256 && n + 127 <= 0xffffffffLL);
         if (!ok) bad(w, "tableBase", v, "expected a table number in 1..125 or 256..4294967168");
         s.table_base = static_cast<uint32_t>(n);
       }},
      {"detectIPConflict",
       [](S& s, W w, const Json& v) { s.detect_ip_conflict = boolean(w, "detectIPConflict", v); }},
      {"detectGateway",
       [](S& s, W w, const Json& v) { s.detect_gateway = gateway_check_of(w, v); }},
      {"detectTimeout",
       [](S& s, W w, const Json& v) {
         if (!v.is_number() || v.get<double>() <= 0 || v.get<double>() > 30) {
           bad(w, "detectTimeout", v, "expected seconds, more than 0 and at most 30");
         }
         s.detect_timeout =
             std::chrono::milliseconds(static_cast<long long>(v.get<double>() * 1000.0 + 0.5));
       }},
      {"announce", [](S& s, W w, const Json& v) { s.announce = boolean(w, "announce", v); }},
      {"macPrefix", [](S& s, W w, const Json& v) { s.mac_prefix = mac_prefix_of(w, v); }},
  };
  return kHandlers;
}

template <class T>
void take(std::optional<T>& into, const std::optional<T>& from) {
  if (from) into = from;
}

}  // namespace

CoordinationSettings parse_coordination(const nlohmann::json& v, const std::string& where) {
  if (!v.is_object()) {
    throw cni::Error(cni::kInvalidConfig, "invalid " + where + " \"coordination\" = " + v.dump() +
                                              ": expected an object");
  }
  CoordinationSettings s;
  for (auto it = v.begin(); it != v.end(); ++it) {
    auto h = handlers().find(it.key());
    if (h == handlers().end()) {
      throw cni::Error(cni::kInvalidConfig,
                       "unknown " + where + " key \"coordination." + it.key() + "\"");
    }
    if (!it->is_null()) h->second(s, where, *it);
  }
  return s;
}

CoordinationSettings merge_coordination(const CoordinationSettings& base,
                                        const CoordinationSettings& over) {
  CoordinationSettings s = base;
  take(s.mode, over.mode);
  take(s.pod_cidr, over.pod_cidr);
  take(s.service_cidr, over.service_cidr);
  take(s.host_routes, over.host_routes);
  take(s.veth_link_address, over.veth_link_address);
  take(s.table_base, over.table_base);
  take(s.detect_ip_conflict, over.detect_ip_conflict);
  take(s.detect_gateway, over.detect_gateway);
  take(s.detect_timeout, over.detect_timeout);
  take(s.announce, over.announce);
  take(s.mac_prefix, over.mac_prefix);
  return s;
}

CoordinationSettings coordination_of_conflist(const std::string& conflist,
                                              const std::string& network) {
  // Most conflists say nothing of coordination: no need to parse them to find out.
  if (!cni::may_contain_json_string(conflist, "coordination")) return {};
  Json list = Json::parse(conflist, nullptr, false);
  if (!list.is_object()) return {};
  const std::string where = "network \"" + network + "\"";
  if (auto it = list.find("coordination"); it != list.end() && !it->is_null()) {
    return parse_coordination(*it, where);
  }
  const Json& plugins = list.value("plugins", Json::array());
  if (plugins.is_array() && !plugins.empty() && plugins[0].is_object()) {
    if (auto it = plugins[0].find("coordination"); it != plugins[0].end() && !it->is_null()) {
      return parse_coordination(*it, where);
    }
  }
  return {};
}

const char* mode_name(CoordinationMode m) {
  switch (m) {
    case CoordinationMode::kOff:
      return "off";
    case CoordinationMode::kUnderlay:
      return "underlay";
    case CoordinationMode::kOverlay:
      return "overlay";
    case CoordinationMode::kAuto:
      return "auto";
  }
  return "off";
}

}  // namespace plugin
