// The cnimux-ipam configuration: a superset of host-local's, parsed from a network config's
// "ipam" object plus the address requests the runtime passes in runtimeConfig and args.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cni/result.h"
#include "ipam/address.h"

namespace ipam {

// One range of a range set. After parsing every field is set: rangeStart defaults to the
// subnet's second address, rangeEnd to its last (IPv4: the one before the broadcast), and
// the gateway to the subnet's second address, as host-local does.
struct Range {
  Prefix subnet;  // network form, e.g. 10.1.0.0/24
  Address start;  // inclusive
  Address end;    // inclusive
  Address gateway;
};

// A range set yields one address; its ranges are tried in order. All share one family.
struct RangeSet {
  std::vector<Range> ranges;
  bool is_v4() const { return ranges.front().subnet.addr.is_v4(); }
};

// The etcd store's settings (docs/ipam.md, "The etcd store").
struct EtcdStoreConfig {
  std::vector<std::string> endpoints;        // "http://10.0.0.1:2379" or https; tried in order
  std::string prefix = "/cnimux";            // every key lives below it
  std::string cluster = "default";           // clusters sharing one etcd must use distinct names
  std::string node;                          // this node's name; defaults to the host name
  std::string ca_file, cert_file, key_file;  // tls.ca, tls.cert, tls.key
  std::string username, password;            // etcd authentication; never logged
  int timeout_ms = 10000;  // bounds a whole transaction, retries and failover included
  // Addresses per node block (docs/ipam.md, "Per-node blocks"): 0 = off, else a power of two
  // from 2 to 65536. Blocks are aligned to their size, so a block of 64 is an IPv4 /26.
  int block_size = 0;
};

// Where allocations live: "sqlite" (one node, embedded) or "etcd" (shared by nodes and
// clusters), both behind ipam::Store.
struct StoreConfig {
  std::string type = "sqlite";
  std::string path;                    // the database file
  std::string synchronous = "normal";  // SQLite PRAGMA synchronous: "normal" or "full"
  int busy_timeout_ms = 30000;         // how long a writer waits for another process's lock
  EtcdStoreConfig etcd;                // when type is "etcd"
};

inline constexpr const char* kDefaultStoreDir = "/var/lib/cni/cnimux";
inline constexpr const char* kDefaultStoreFile = "ipam.db";

struct IpamConfig {
  std::string network;  // the network config's "name"; recorded with every allocation
  std::string pool;     // allocations are unique per pool; defaults to `network`
  std::vector<RangeSet> range_sets;
  std::vector<Prefix> exclude;  // never handed out (bare addresses become /32 or /128)
  std::vector<cni::Route> routes;
  cni::Dns dns;
  std::string resolv_conf;  // host-local's resolvConf: a resolv.conf file read at ADD
  StoreConfig store;
  bool sticky = false;  // bind addresses to the pod's identity instead of the container
  // Requested addresses, from runtimeConfig.ips and args.cni.ips (callers add CNI_ARGS IP=).
  std::vector<Address> requested;
  // args.cni.podRef as given ("namespace/name", set by the meta plugin in every delegate
  // config it runs), or "". Validated only where it is used: a sticky ADD (owner_for).
  std::string pod_ref;
};

// Parses and validates `netconf` (the whole network config object, whose "ipam" key holds
// the IPAM settings). Error(kInvalidConfig) names the field and value, e.g.
// `ipam.ranges[0][1].rangeStart "10.2.0.9": not in subnet 10.1.0.0/24`.
IpamConfig parse_ipam_config(const nlohmann::json& netconf);

// The store a plugin config allocates from when its "ipam.type" is "cnimux-ipam" (the store
// keys only: a config whose ranges are broken still names its store), else nullopt. For
// the meta plugin's node-wide GC, which must reach every store its delegates used.
// Error(kInvalidConfig) naming the field when the store keys are malformed.
std::optional<StoreConfig> cnimux_ipam_store(const nlohmann::json& plugin_conf);

// The store of a config that names none: /var/lib/cni/cnimux/ipam.db.
StoreConfig default_store_config();

// The result's DNS: the entries of `resolv_conf` (nameserver, domain, search and options
// lines, as host-local reads them), each field overridden by `dns` when that sets it.
// Error(kInvalidConfig) naming ipam.resolvConf when the file cannot be read.
cni::Dns effective_dns(const IpamConfig& cfg);

// Parses a CNI_ARGS "IP=" value: addresses separated by ',', each optionally with a
// prefix length that is ignored. Error(kInvalidEnvironment) names a bad entry.
std::vector<Address> parse_ip_list(std::string_view value);

}  // namespace ipam
