// The CNI result in its canonical (1.x) shape, and conversions to and from every version
// from 0.1.0 to 1.1.0, following cni-spec.md.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace cni {

using Json = nlohmann::json;

struct Interface {
  std::string name;
  std::string mac;
  std::optional<int> mtu;
  std::string sandbox;
  std::string socket_path;
  std::string pci_id;
};

struct IpConfig {
  std::string address;           // CIDR, e.g. "10.1.0.5/24"
  std::string gateway;           // may be empty
  std::optional<int> interface;  // index into Result::interfaces
};

struct Route {
  std::string dst;  // CIDR
  std::string gw;   // may be empty
  std::optional<int> mtu;
  std::optional<int> advmss;
  std::optional<int> priority;
  std::optional<int> table;
  std::optional<int> scope;
};

struct Dns {
  std::vector<std::string> nameservers;
  std::string domain;
  std::vector<std::string> search;
  std::vector<std::string> options;
  bool empty() const;
};

struct Result {
  std::string cni_version;
  std::vector<Interface> interfaces;
  std::vector<IpConfig> ips;
  std::vector<Route> routes;
  Dns dns;

  // Reads a result of any supported version. A missing cniVersion means `assumed_version`
  // (the config's); an empty one of those means 0.1.0. Bad shapes (not a CIDR, wrong types)
  // are Error(kDecodeFailure) naming the field; an unknown version, kIncompatibleVersion.
  static Result from_json(const Json& j, const std::string& assumed_version);
  // Writes the result at `version` ("" means 0.1.0), leaving out empty optional fields;
  // Error(kIncompatibleVersion) for an unknown version and "cannot convert: no valid IP
  // addresses" when 0.1.0/0.2.0 is asked of an address-less result.
  Json to_json(const std::string& version) const;
};

}  // namespace cni
