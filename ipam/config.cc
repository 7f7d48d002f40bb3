// Parsing and validation of the cnimux-ipam configuration (host-local's keys plus ours).
#include "ipam/config.h"

#include <unistd.h>

#include <climits>
#include <cmath>
#include <fstream>
#include <sstream>

#include "cni/error.h"

namespace ipam {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& field, const std::string& why) {
  throw cni::Error(cni::kInvalidConfig, field + ": " + why);
}

[[noreturn]] void bad_value(const std::string& field, const std::string& value,
                            const std::string& why) {
  throw cni::Error(cni::kInvalidConfig, field + " \"" + value + "\": " + why);
}

// The string at obj[key], or "" when absent; a non-string is an error naming the field.
std::string opt_string(const json& obj, const char* key, const std::string& field) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "";
  if (!it->is_string()) bad(field + "." + key, "must be a string, got " + it->dump());
  return it->get<std::string>();
}

Address parse_address(const std::string& text, const std::string& field) {
  auto a = Address::parse(text);
  if (!a) bad_value(field, text, "not an IP address");
  return *a;
}

// "10.1.0.5" or "10.1.0.5/24" (the prefix is ignored), as runtimeConfig.ips sends them.
Address parse_address_maybe_cidr(const std::string& text, const std::string& field) {
  if (text.find('/') == std::string::npos) return parse_address(text, field);
  auto p = Prefix::parse(text);
  if (!p) bad_value(field, text, "not an IP address or CIDR");
  return p->addr;
}

Address checked_in_subnet(const json& obj, const char* key, const std::string& field,
                          const Prefix& subnet, Address fallback) {
  std::string text = opt_string(obj, key, field);
  if (text.empty()) return fallback;
  Address a = parse_address(text, field + "." + key);
  if (!subnet.contains(a)) {
    bad_value(field + "." + key, text, "not in subnet " + subnet.str());
  }
  return a;
}

// The gateway may lie outside the subnet (an off-link router), as host-local allows, but
// must be of the subnet's family.
Address parse_gateway(const json& obj, const std::string& field, Address fallback) {
  std::string text = opt_string(obj, "gateway", field);
  if (text.empty()) return fallback;
  Address gw = parse_address(text, field + ".gateway");
  if (gw.is_v4() != fallback.is_v4()) {
    bad_value(field + ".gateway", text, "not of the subnet's address family");
  }
  return gw;
}

Range parse_range(const json& obj, const std::string& field) {
  if (!obj.is_object()) bad(field, "must be an object, got " + obj.dump());
  std::string subnet_text = opt_string(obj, "subnet", field);
  if (subnet_text.empty()) bad(field + ".subnet", "missing");
  auto subnet = Prefix::parse(subnet_text);
  if (!subnet) bad_value(field + ".subnet", subnet_text, "not a CIDR");
  if (!subnet->is_network()) {
    bad_value(field + ".subnet", subnet_text,
              "host bits set; did you mean " + Prefix{subnet->network(), subnet->len}.str());
  }
  if (subnet->len > subnet->addr.bits() - 2) {
    bad_value(field + ".subnet", subnet_text, "too small to allocate from");
  }
  Range r;
  r.subnet = *subnet;
  Address second = subnet->addr.next();
  Address last = subnet->addr.is_v4() ? subnet->last().prev() : subnet->last();
  r.start = checked_in_subnet(obj, "rangeStart", field, r.subnet, second);
  r.end = checked_in_subnet(obj, "rangeEnd", field, r.subnet, last);
  r.gateway = parse_gateway(obj, field, second);
  if (r.end < r.start) {
    bad(field, "rangeStart " + r.start.str() + " is after rangeEnd " + r.end.str());
  }
  return r;
}

RangeSet parse_range_set(const json& arr, const std::string& field) {
  if (!arr.is_array() || arr.empty()) bad(field, "must be a non-empty list of ranges");
  RangeSet set;
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string f = field + "[" + std::to_string(i) + "]";
    set.ranges.push_back(parse_range(arr[i], f));
    if (set.ranges.back().subnet.addr.is_v4() != set.ranges.front().subnet.addr.is_v4()) {
      bad(f, "mixes IPv4 and IPv6 in one range set");
    }
  }
  return set;
}

bool overlaps(const Range& a, const Range& b) {
  if (a.start.is_v4() != b.start.is_v4()) return false;
  return !(a.end < b.start || b.end < a.start);
}

void check_no_overlap(const std::vector<RangeSet>& sets) {
  std::vector<std::pair<std::string, const Range*>> all;
  for (size_t s = 0; s < sets.size(); ++s) {
    for (size_t r = 0; r < sets[s].ranges.size(); ++r) {
      all.emplace_back("ipam.ranges[" + std::to_string(s) + "][" + std::to_string(r) + "]",
                       &sets[s].ranges[r]);
    }
  }
  for (size_t i = 0; i < all.size(); ++i) {
    for (size_t j = i + 1; j < all.size(); ++j) {
      if (overlaps(*all[i].second, *all[j].second)) bad(all[j].first, "overlaps " + all[i].first);
    }
  }
}

std::vector<RangeSet> parse_range_sets(const json& ipam) {
  std::vector<RangeSet> sets;
  auto it = ipam.find("ranges");
  if (it != ipam.end() && !it->is_null()) {
    if (!it->is_array()) bad("ipam.ranges", "must be a list of range sets");
    for (size_t i = 0; i < it->size(); ++i) {
      sets.push_back(parse_range_set((*it)[i], "ipam.ranges[" + std::to_string(i) + "]"));
    }
  }
  // host-local's legacy form: one range at the top level, used as the first range set.
  if (ipam.contains("subnet")) sets.insert(sets.begin(), RangeSet{{parse_range(ipam, "ipam")}});
  if (sets.empty()) bad("ipam.ranges", "missing: give \"ranges\" or \"subnet\"");
  check_no_overlap(sets);
  return sets;
}

std::vector<std::string> string_list(const json& obj, const char* key, const std::string& field) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) bad(field + "." + key, "must be a list of strings");
  for (const auto& v : *it) {
    if (!v.is_string()) bad(field + "." + key, "must be a list of strings, got " + v.dump());
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::vector<Prefix> parse_exclude(const json& ipam) {
  std::vector<Prefix> out;
  for (const auto& text : string_list(ipam, "exclude", "ipam")) {
    if (text.find('/') == std::string::npos) {
      out.push_back(Prefix::host(parse_address(text, "ipam.exclude")));
      continue;
    }
    auto p = Prefix::parse(text);
    if (!p) bad_value("ipam.exclude", text, "not an IP address or CIDR");
    out.push_back(Prefix{p->network(), p->len});
  }
  return out;
}

std::vector<cni::Route> parse_routes(const json& ipam) {
  std::vector<cni::Route> out;
  auto it = ipam.find("routes");
  if (it == ipam.end() || it->is_null()) return out;
  if (!it->is_array()) bad("ipam.routes", "must be a list of {dst, gw}");
  for (size_t i = 0; i < it->size(); ++i) {
    std::string field = "ipam.routes[" + std::to_string(i) + "]";
    const json& r = (*it)[i];
    if (!r.is_object()) bad(field, "must be an object, got " + r.dump());
    cni::Route route;
    route.dst = opt_string(r, "dst", field);
    if (!Prefix::parse(route.dst)) bad_value(field + ".dst", route.dst, "not a CIDR");
    route.gw = opt_string(r, "gw", field);
    if (!route.gw.empty()) parse_address(route.gw, field + ".gw");
    out.push_back(route);
  }
  return out;
}

cni::Dns parse_dns(const json& ipam) {
  cni::Dns dns;
  auto it = ipam.find("dns");
  if (it == ipam.end() || it->is_null()) return dns;
  if (!it->is_object()) bad("ipam.dns", "must be an object");
  dns.nameservers = string_list(*it, "nameservers", "ipam.dns");
  dns.domain = opt_string(*it, "domain", "ipam.dns");
  dns.search = string_list(*it, "search", "ipam.dns");
  dns.options = string_list(*it, "options", "ipam.dns");
  return dns;
}

int parse_busy_timeout(const json& store) {
  auto it = store.find("busyTimeoutMs");
  if (it == store.end() || it->is_null()) return StoreConfig{}.busy_timeout_ms;
  if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 3600000) {
    bad("ipam.store.busyTimeoutMs", "must be an integer from 0 to 3600000, got " + it->dump());
  }
  return it->get<int>();
}

std::string host_name() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

// A key that must be a non-empty string without '/' (it names a key component in etcd).
std::string parse_name(const json& store, const char* key, std::string fallback) {
  std::string field = std::string("ipam.store.") + key;
  std::string v = opt_string(store, key, "ipam.store");
  if (v.empty()) v = std::move(fallback);
  if (v.empty()) bad(field, "missing, and no default applies");
  if (v.find('/') != std::string::npos) bad_value(field, v, "must not contain '/'");
  return v;
}

// store.blockSize: 0 (off) or a power of two from 2 to 65536, so that blocks are aligned
// CIDRs (a block of 64 is a /26) and every block lies inside one address family.
int parse_block_size(const json& store) {
  auto it = store.find("blockSize");
  if (it == store.end() || it->is_null()) return 0;
  const bool integer = it->is_number_integer();
  const int64_t n = integer ? it->get<int64_t>() : -1;
  if (!integer || (n != 0 && (n < 2 || n > 65536 || (n & (n - 1)) != 0))) {
    bad("ipam.store.blockSize",
        "must be 0 (no blocks) or a power of two from 2 to 65536, got " + it->dump());
  }
  return static_cast<int>(n);
}

EtcdStoreConfig parse_etcd_store(const json& store) {
  EtcdStoreConfig cfg;
  cfg.endpoints = string_list(store, "endpoints", "ipam.store");
  if (cfg.endpoints.empty()) bad("ipam.store.endpoints", "missing: the etcd store needs one");
  for (const auto& e : cfg.endpoints) {
    if (e.rfind("http://", 0) != 0 && e.rfind("https://", 0) != 0) {
      bad_value("ipam.store.endpoints", e, "must start with http:// or https://");
    }
  }
  std::string prefix = opt_string(store, "prefix", "ipam.store");
  if (!prefix.empty()) {
    if (prefix.front() != '/') bad_value("ipam.store.prefix", prefix, "must start with '/'");
    while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
    cfg.prefix = prefix == "/" ? "" : prefix;
  }
  cfg.cluster = parse_name(store, "cluster", cfg.cluster);
  cfg.node = parse_name(store, "node", host_name());
  if (auto tls = store.find("tls"); tls != store.end() && !tls->is_null()) {
    if (!tls->is_object()) bad("ipam.store.tls", "must be an object, got " + tls->dump());
    cfg.ca_file = opt_string(*tls, "ca", "ipam.store.tls");
    cfg.cert_file = opt_string(*tls, "cert", "ipam.store.tls");
    cfg.key_file = opt_string(*tls, "key", "ipam.store.tls");
    if (cfg.cert_file.empty() != cfg.key_file.empty()) {
      bad("ipam.store.tls", "cert and key must be given together");
    }
  }
  cfg.username = opt_string(store, "username", "ipam.store");
  cfg.password = opt_string(store, "password", "ipam.store");
  if (auto t = store.find("timeout"); t != store.end() && !t->is_null()) {
    if (!t->is_number() || !(t->get<double>() > 0) || t->get<double>() > 3600) {
      bad("ipam.store.timeout",
          "must be a number of seconds above 0, at most 3600, got " + t->dump());
    }
    cfg.timeout_ms = std::max(1, static_cast<int>(std::lround(t->get<double>() * 1000)));
  }
  cfg.block_size = parse_block_size(store);
  return cfg;
}

StoreConfig parse_store(const json& ipam) {
  StoreConfig cfg;
  std::string data_dir = opt_string(ipam, "dataDir", "ipam");
  cfg.path = (data_dir.empty() ? std::string(kDefaultStoreDir) : data_dir) + "/" +
             (data_dir.empty() ? kDefaultStoreFile : "cnimux-ipam.db");
  auto it = ipam.find("store");
  if (it == ipam.end() || it->is_null()) return cfg;
  if (!it->is_object()) bad("ipam.store", "must be an object, got " + it->dump());
  std::string type = opt_string(*it, "type", "ipam.store");
  if (!type.empty()) cfg.type = type;
  if (cfg.type == "etcd") {
    cfg.path.clear();
    cfg.etcd = parse_etcd_store(*it);
    return cfg;
  }
  if (cfg.type != "sqlite") {
    bad_value("ipam.store.type", cfg.type, "unknown store (known: sqlite, etcd)");
  }
  if (auto b = it->find("blockSize"); b != it->end() && !b->is_null() && *b != 0) {
    bad("ipam.store.blockSize", "per-node blocks are a shared store's (type \"etcd\"), not " +
                                    cfg.type + "'s; got " + b->dump());
  }
  std::string path = opt_string(*it, "path", "ipam.store");
  if (!path.empty()) {
    if (path.front() != '/') bad_value("ipam.store.path", path, "must be an absolute path");
    cfg.path = path;
  }
  std::string sync = opt_string(*it, "synchronous", "ipam.store");
  if (!sync.empty()) {
    if (sync != "full" && sync != "normal") {
      bad_value("ipam.store.synchronous", sync, "must be \"full\" or \"normal\"");
    }
    cfg.synchronous = sync;
  }
  cfg.busy_timeout_ms = parse_busy_timeout(*it);
  return cfg;
}

bool opt_bool(const json& obj, const char* key, const std::string& field) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return false;
  if (!it->is_boolean()) bad(field + "." + key, "must be true or false, got " + it->dump());
  return it->get<bool>();
}

// runtimeConfig.ips (the "ips" capability) and args.cni.ips, in that order.
std::vector<Address> parse_requests(const json& netconf) {
  std::vector<Address> out;
  if (auto rc = netconf.find("runtimeConfig"); rc != netconf.end() && rc->is_object()) {
    for (const auto& s : string_list(*rc, "ips", "runtimeConfig")) {
      out.push_back(parse_address_maybe_cidr(s, "runtimeConfig.ips"));
    }
  }
  auto args = netconf.find("args");
  if (args == netconf.end() || !args->is_object()) return out;
  auto cni_args = args->find("cni");
  if (cni_args == args->end() || !cni_args->is_object()) return out;
  for (const auto& s : string_list(*cni_args, "ips", "args.cni")) {
    out.push_back(parse_address_maybe_cidr(s, "args.cni.ips"));
  }
  return out;
}

// args.cni.podRef as given, or "" when absent. Not validated here: only a
// sticky ADD uses it (owner_for), and DEL, CHECK and GC must not fail over it.
std::string parse_pod_ref(const json& netconf) {
  auto args = netconf.find("args");
  if (args == netconf.end() || !args->is_object()) return "";
  auto cni_args = args->find("cni");
  if (cni_args == args->end() || !cni_args->is_object()) return "";
  auto ref = cni_args->find("podRef");
  if (ref == cni_args->end() || ref->is_null()) return "";
  // A non-string keeps its type name, so that a sticky ADD can name what it got.
  return ref->is_string() ? ref->get<std::string>() : "<" + std::string(ref->type_name()) + ">";
}

}  // namespace

IpamConfig parse_ipam_config(const nlohmann::json& netconf) {
  if (!netconf.is_object()) bad("config", "must be a JSON object");
  auto it = netconf.find("ipam");
  if (it == netconf.end() || !it->is_object()) bad("ipam", "missing or not an object");
  const json& ipam = *it;
  IpamConfig cfg;
  cfg.network = opt_string(netconf, "name", "config");
  cfg.pool = opt_string(ipam, "pool", "ipam");
  if (cfg.pool.empty()) cfg.pool = cfg.network;
  if (cfg.pool.empty()) bad("ipam.pool", "missing, and the network has no \"name\" to default to");
  cfg.range_sets = parse_range_sets(ipam);
  cfg.exclude = parse_exclude(ipam);
  cfg.routes = parse_routes(ipam);
  cfg.dns = parse_dns(ipam);
  cfg.store = parse_store(ipam);
  cfg.sticky = opt_bool(ipam, "sticky", "ipam");
  cfg.requested = parse_requests(netconf);
  cfg.pod_ref = parse_pod_ref(netconf);
  cfg.resolv_conf = opt_string(ipam, "resolvConf", "ipam");
  return cfg;
}

std::optional<StoreConfig> cnimux_ipam_store(const nlohmann::json& plugin_conf) {
  if (!plugin_conf.is_object()) return std::nullopt;
  auto ipam = plugin_conf.find("ipam");
  if (ipam == plugin_conf.end() || !ipam->is_object()) return std::nullopt;
  auto type = ipam->find("type");
  if (type == ipam->end() || *type != "cnimux-ipam") return std::nullopt;
  return parse_store(*ipam);
}

StoreConfig default_store_config() {
  return parse_store(json::object());
}

cni::Dns effective_dns(const IpamConfig& cfg) {
  cni::Dns dns;
  if (!cfg.resolv_conf.empty()) {
    std::ifstream in(cfg.resolv_conf);
    if (!in) bad_value("ipam.resolvConf", cfg.resolv_conf, "cannot be read");
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream words(line);
      std::string key, word;
      words >> key;
      std::vector<std::string> values;
      while (words >> word) values.push_back(word);
      if (values.empty()) continue;
      if (key == "nameserver") dns.nameservers.push_back(values.front());
      if (key == "domain") dns.domain = values.front();
      if (key == "search") dns.search = values;
      if (key == "options") dns.options.insert(dns.options.end(), values.begin(), values.end());
    }
  }
  if (!cfg.dns.nameservers.empty()) dns.nameservers = cfg.dns.nameservers;
  if (!cfg.dns.domain.empty()) dns.domain = cfg.dns.domain;
  if (!cfg.dns.search.empty()) dns.search = cfg.dns.search;
  if (!cfg.dns.options.empty()) dns.options = cfg.dns.options;
  return dns;
}

std::vector<Address> parse_ip_list(std::string_view value) {
  std::vector<Address> out;
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = value.find(',', pos);
    if (comma == std::string_view::npos) comma = value.size();
    std::string item(value.substr(pos, comma - pos));
    pos = comma + 1;
    if (item.empty()) continue;
    std::string addr_text = item.substr(0, item.find('/'));
    auto a = Address::parse(addr_text);
    if (!a) throw cni::Error(cni::kInvalidEnvironment, "CNI_ARGS IP \"" + item + "\": not an IP");
    out.push_back(*a);
  }
  return out;
}

}  // namespace ipam
