// The CNI result: reading every version 0.1.0..1.1.0 into the canonical 1.x model and
// writing it back at any version, with the conversion rules of cni-spec.md.
#include "cni/result.h"

#include <arpa/inet.h>

#include <charconv>

#include "cni/error.h"
#include "cni/text.h"
#include "cni/version.h"

namespace cni {
namespace {

// ---- reading helpers: every failure is code 6 naming the JSON path ----

[[noreturn]] void bad_shape(const std::string& path, const std::string& why) {
  throw Error(kDecodeFailure, "invalid result field \"" + path + "\": " + why);
}

const Json& require_object(const Json& j, const std::string& path) {
  if (!j.is_object()) bad_shape(path, "must be an object, got " + std::string(j.type_name()));
  return j;
}

std::string opt_string(const Json& j, const char* key, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_string()) bad_shape(path + key, "must be a string");
  return it->get<std::string>();
}

std::optional<int> opt_int(const Json& j, const char* key, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) bad_shape(path + key, "must be an integer");
  return it->get<int>();
}

std::vector<std::string> opt_strings(const Json& j, const char* key, const std::string& path) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) bad_shape(path + key, "must be an array of strings");
  for (const auto& s : *it) {
    if (!s.is_string()) bad_shape(path + key, "must be an array of strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

// Elements of an optional array member, each checked to be an object.
std::vector<Json> opt_objects(const Json& j, const char* key, const std::string& path) {
  std::vector<Json> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) bad_shape(path + key, "must be an array");
  for (size_t i = 0; i < it->size(); ++i) {
    out.push_back(require_object((*it)[i], path + key + "[" + std::to_string(i) + "]"));
  }
  return out;
}

bool is_cidr(const std::string& s) {
  size_t slash = s.find('/');
  if (slash == std::string::npos) return false;
  std::string ip = s.substr(0, slash);
  std::string_view len(s.data() + slash + 1, s.size() - slash - 1);
  int bits = -1;
  auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), bits);
  if (ec != std::errc() || end != len.data() + len.size() || len.empty()) return false;
  unsigned char buf[16];
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1) return bits >= 0 && bits <= 32;
  return inet_pton(AF_INET6, ip.c_str(), buf) == 1 && bits >= 0 && bits <= 128;
}

// An address or route destination must be a CIDR; a gateway, a bare IP.
std::string read_cidr(const Json& j, const char* key, const std::string& path) {
  std::string v = opt_string(j, key, path);
  if (v.empty()) bad_shape(path + key, "missing");
  if (!is_cidr(v)) bad_shape(path + key, "\"" + v + "\" is not a CIDR");
  return v;
}

std::string read_gateway(const Json& j, const char* key, const std::string& path) {
  std::string v = opt_string(j, key, path);
  if (!v.empty() && !is_ip(v)) bad_shape(path + key, "\"" + v + "\" is not an IP address");
  return v;
}

Route read_route(const Json& j, const std::string& path) {
  Route r;
  r.dst = read_cidr(j, "dst", path);
  r.gw = read_gateway(j, "gw", path);
  r.mtu = opt_int(j, "mtu", path);
  r.advmss = opt_int(j, "advmss", path);
  r.priority = opt_int(j, "priority", path);
  r.table = opt_int(j, "table", path);
  r.scope = opt_int(j, "scope", path);
  return r;
}

Dns read_dns(const Json& j) {
  Dns d;
  auto it = j.find("dns");
  if (it == j.end() || it->is_null()) return d;
  require_object(*it, "dns");
  d.nameservers = opt_strings(*it, "nameservers", "dns.");
  d.domain = opt_string(*it, "domain", "dns.");
  d.search = opt_strings(*it, "search", "dns.");
  d.options = opt_strings(*it, "options", "dns.");
  return d;
}

// 0.1.0/0.2.0: {ip4: {ip, gateway, routes}, ip6: {...}, dns}.
void read_legacy_family(const Json& j, const char* key, Result& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  const std::string path = std::string(key) + ".";
  require_object(*it, key);
  IpConfig ip;
  ip.address = read_cidr(*it, "ip", path);
  ip.gateway = read_gateway(*it, "gateway", path);
  out.ips.push_back(std::move(ip));
  auto routes = opt_objects(*it, "routes", path);
  for (size_t i = 0; i < routes.size(); ++i) {
    out.routes.push_back(read_route(routes[i], path + "routes[" + std::to_string(i) + "]."));
  }
}

// 0.3.0 and later: interfaces, ips (a per-IP "version" is ignored), routes.
void read_current(const Json& j, Result& out) {
  auto ifaces = opt_objects(j, "interfaces", "");
  for (size_t i = 0; i < ifaces.size(); ++i) {
    const std::string path = "interfaces[" + std::to_string(i) + "].";
    Interface iface;
    iface.name = opt_string(ifaces[i], "name", path);
    iface.mac = opt_string(ifaces[i], "mac", path);
    iface.mtu = opt_int(ifaces[i], "mtu", path);
    iface.sandbox = opt_string(ifaces[i], "sandbox", path);
    iface.socket_path = opt_string(ifaces[i], "socketPath", path);
    iface.pci_id = opt_string(ifaces[i], "pciID", path);
    out.interfaces.push_back(std::move(iface));
  }
  auto ips = opt_objects(j, "ips", "");
  for (size_t i = 0; i < ips.size(); ++i) {
    const std::string path = "ips[" + std::to_string(i) + "].";
    IpConfig ip;
    ip.address = read_cidr(ips[i], "address", path);
    ip.gateway = read_gateway(ips[i], "gateway", path);
    ip.interface = opt_int(ips[i], "interface", path);
    out.ips.push_back(std::move(ip));
  }
  auto routes = opt_objects(j, "routes", "");
  for (size_t i = 0; i < routes.size(); ++i) {
    out.routes.push_back(read_route(routes[i], "routes[" + std::to_string(i) + "]."));
  }
}

bool is_legacy(const std::string& v) {
  return v == "0.1.0" || v == "0.2.0";
}
bool is_pre_1(const std::string& v) {
  return v.front() == '0';
}

// IPv6 text always has a ':', IPv4 text never does.
bool is_v6(const std::string& addr) {
  return addr.find(':') != std::string::npos;
}

void require_supported(const std::string& version) {
  if (!is_supported_version(version)) {
    throw Error(kIncompatibleVersion, "unsupported result cniVersion \"" + version + "\"");
  }
}

// ---- writing ----

Json route_json(const Route& r, bool minimal) {
  Json j = {{"dst", r.dst}};
  if (!r.gw.empty()) j["gw"] = r.gw;
  if (minimal) return j;
  if (r.mtu) j["mtu"] = *r.mtu;
  if (r.advmss) j["advmss"] = *r.advmss;
  if (r.priority) j["priority"] = *r.priority;
  if (r.table) j["table"] = *r.table;
  if (r.scope) j["scope"] = *r.scope;
  return j;
}

Json dns_json(const Dns& d) {
  Json j = Json::object();
  if (!d.nameservers.empty()) j["nameservers"] = d.nameservers;
  if (!d.domain.empty()) j["domain"] = d.domain;
  if (!d.search.empty()) j["search"] = d.search;
  if (!d.options.empty()) j["options"] = d.options;
  return j;
}

Json interface_json(const Interface& i, bool pre_1) {
  Json j = {{"name", i.name}};
  if (!i.mac.empty()) j["mac"] = i.mac;
  if (!pre_1 && i.mtu) j["mtu"] = *i.mtu;
  if (!i.sandbox.empty()) j["sandbox"] = i.sandbox;
  if (!pre_1 && !i.socket_path.empty()) j["socketPath"] = i.socket_path;
  if (!pre_1 && !i.pci_id.empty()) j["pciID"] = i.pci_id;
  return j;
}

Json ip_json(const IpConfig& ip, bool pre_1) {
  Json j = Json::object();
  if (pre_1) j["version"] = is_v6(ip.address) ? "6" : "4";
  if (ip.interface) j["interface"] = *ip.interface;
  j["address"] = ip.address;
  if (!ip.gateway.empty()) j["gateway"] = ip.gateway;
  return j;
}

// 0.3.0 .. 1.1.0: the same shape, minus the 1.x-only fields below 1.0.0.
Json current_json(const Result& r, const std::string& version) {
  const bool pre_1 = is_pre_1(version);
  Json j = {{"cniVersion", version}};
  if (!r.interfaces.empty()) {
    Json& out = j["interfaces"] = Json::array();
    for (const auto& i : r.interfaces) out.push_back(interface_json(i, pre_1));
  }
  if (!r.ips.empty()) {
    Json& out = j["ips"] = Json::array();
    for (const auto& ip : r.ips) out.push_back(ip_json(ip, pre_1));
  }
  if (!r.routes.empty()) {
    Json& out = j["routes"] = Json::array();
    for (const auto& route : r.routes) out.push_back(route_json(route, false));
  }
  if (!r.dns.empty()) j["dns"] = dns_json(r.dns);
  return j;
}

// 0.1.0/0.2.0: the first address of each family; routes filed by family, dst and gw only.
Json legacy_json(const Result& r, const std::string& version) {
  Json j = {{"cniVersion", version}};
  for (const auto& ip : r.ips) {
    const char* key = is_v6(ip.address) ? "ip6" : "ip4";
    if (j.contains(key)) continue;
    j[key] = {{"ip", ip.address}};
    if (!ip.gateway.empty()) j[key]["gateway"] = ip.gateway;
  }
  if (!j.contains("ip4") && !j.contains("ip6")) {
    throw Error(kIncompatibleVersion, "cannot convert: no valid IP addresses");
  }
  for (const auto& route : r.routes) {
    const char* key = is_v6(route.dst) ? "ip6" : "ip4";
    // A route of a family with no address has nowhere to go in this shape (as in libcni).
    if (!j.contains(key)) continue;
    j[key]["routes"].push_back(route_json(route, true));
  }
  if (!r.dns.empty()) j["dns"] = dns_json(r.dns);
  return j;
}

}  // namespace

bool Dns::empty() const {
  return nameservers.empty() && domain.empty() && search.empty() && options.empty();
}

Result Result::from_json(const Json& j, const std::string& assumed_version) {
  if (!j.is_object()) {
    throw Error(kDecodeFailure, "result is not a JSON object but " + std::string(j.type_name()));
  }
  Result r;
  auto v = j.find("cniVersion");
  if (v != j.end() && !v->is_null() && !v->is_string()) bad_shape("cniVersion", "must be a string");
  r.cni_version = v != j.end() && v->is_string() ? v->get<std::string>() : assumed_version;
  if (r.cni_version.empty()) r.cni_version = "0.1.0";
  require_supported(r.cni_version);
  if (is_legacy(r.cni_version)) {
    read_legacy_family(j, "ip4", r);
    read_legacy_family(j, "ip6", r);
  } else {
    read_current(j, r);
  }
  r.dns = read_dns(j);
  return r;
}

Json Result::to_json(const std::string& requested) const {
  const std::string version = requested.empty() ? "0.1.0" : requested;
  require_supported(version);
  return is_legacy(version) ? legacy_json(*this, version) : current_json(*this, version);
}

}  // namespace cni
