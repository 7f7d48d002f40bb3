// `cnimuxctl annotation parse`: the networks annotation through the plugin's own parser.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "plugin/selection.h"

namespace cli {
namespace {

using Json = nlohmann::json;

// The element in the multi-net spec's own keys; absent requests are left out.
Json element_json(const plugin::NetworkSelection& s) {
  Json j = {{"namespace", s.ns}, {"name", s.name}};
  if (!s.interface.empty()) j["interface"] = s.interface;
  if (s.ips) j["ips"] = *s.ips;
  if (s.mac) j["mac"] = *s.mac;
  if (!s.default_route.empty()) j["default-route"] = s.default_route;
  if (!s.port_mappings.is_null()) j["portMappings"] = s.port_mappings;
  if (!s.bandwidth.is_null()) j["bandwidth"] = s.bandwidth;
  if (!s.cni_args.is_null()) j["cni-args"] = s.cni_args;
  if (s.infiniband_guid) j["infiniband-guid"] = *s.infiniband_guid;
  if (s.ipam_claim_reference) j["ipam-claim-reference"] = *s.ipam_claim_reference;
  return j;
}

}  // namespace

int annotation_parse(const std::string& value, const std::string& ns, bool json) {
  Json out = Json::array();
  for (const auto& s : plugin::parse_network_selection(value, ns)) out.push_back(element_json(s));
  // The elements are JSON for people too: that is the form an annotation is written in.
  std::cout << (json ? out.dump() : out.dump(2)) << "\n";
  return 0;
}

}  // namespace cli
