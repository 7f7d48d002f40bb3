// Tests of cni::Result: reading and writing every version, the 7x7 conversion matrix, the
// failing conversions, and the shape rules (IPAM results, no empty-field noise).
#include "cni/result.h"

#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "cni/error.h"
#include "cni/version.h"

namespace cni {
namespace {

// The same attachment written in each result shape. "Full" is what a 1.x plugin returns:
// two IPv4 addresses (only the first survives 0.1.0/0.2.0), one IPv6, 1.x-only interface
// fields and route attributes.
constexpr const char* kFull1x = R"({
  "interfaces": [
    {"name": "eth0", "mac": "0a:58:0a:01:00:05", "mtu": 1450, "sandbox": "/var/run/netns/p1",
     "socketPath": "/run/vhost.sock", "pciID": "0000:03:00.1"},
    {"name": "vethab12", "mac": "ee:ee:ee:ee:ee:01"}
  ],
  "ips": [
    {"address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 0},
    {"address": "10.2.0.5/16", "interface": 0},
    {"address": "fd00::5/64", "gateway": "fd00::1", "interface": 0}
  ],
  "routes": [
    {"dst": "0.0.0.0/0", "gw": "10.1.0.1", "mtu": 1400, "priority": 10, "table": 100},
    {"dst": "::/0", "gw": "fd00::1", "advmss": 1300, "scope": 0},
    {"dst": "192.168.0.0/16"}
  ],
  "dns": {"nameservers": ["10.96.0.10"], "domain": "cluster.local",
          "search": ["default.svc.cluster.local"], "options": ["ndots:5"]}
})";

// 0.3.x/0.4.0: per-IP version, interfaces without mtu/socketPath/pciID.
constexpr const char* kFullOld = R"({
  "interfaces": [
    {"name": "eth0", "mac": "0a:58:0a:01:00:05", "sandbox": "/var/run/netns/p1"},
    {"name": "vethab12", "mac": "ee:ee:ee:ee:ee:01"}
  ],
  "ips": [
    {"version": "4", "address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 0},
    {"version": "4", "address": "10.2.0.5/16", "interface": 0},
    {"version": "6", "address": "fd00::5/64", "gateway": "fd00::1", "interface": 0}
  ],
  "routes": [
    {"dst": "0.0.0.0/0", "gw": "10.1.0.1", "mtu": 1400, "priority": 10, "table": 100},
    {"dst": "::/0", "gw": "fd00::1", "advmss": 1300, "scope": 0},
    {"dst": "192.168.0.0/16"}
  ],
  "dns": {"nameservers": ["10.96.0.10"], "domain": "cluster.local",
          "search": ["default.svc.cluster.local"], "options": ["ndots:5"]}
})";

// 1.x read from 0.3.x/0.4.0: the fields that version never had are gone.
constexpr const char* kOldAs1x = R"({
  "interfaces": [
    {"name": "eth0", "mac": "0a:58:0a:01:00:05", "sandbox": "/var/run/netns/p1"},
    {"name": "vethab12", "mac": "ee:ee:ee:ee:ee:01"}
  ],
  "ips": [
    {"address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 0},
    {"address": "10.2.0.5/16", "interface": 0},
    {"address": "fd00::5/64", "gateway": "fd00::1", "interface": 0}
  ],
  "routes": [
    {"dst": "0.0.0.0/0", "gw": "10.1.0.1", "mtu": 1400, "priority": 10, "table": 100},
    {"dst": "::/0", "gw": "fd00::1", "advmss": 1300, "scope": 0},
    {"dst": "192.168.0.0/16"}
  ],
  "dns": {"nameservers": ["10.96.0.10"], "domain": "cluster.local",
          "search": ["default.svc.cluster.local"], "options": ["ndots:5"]}
})";

// 0.1.0/0.2.0: first address per family, routes by family with dst and gw only.
constexpr const char* kFullLegacy = R"({
  "ip4": {"ip": "10.1.0.5/24", "gateway": "10.1.0.1",
          "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}, {"dst": "192.168.0.0/16"}]},
  "ip6": {"ip": "fd00::5/64", "gateway": "fd00::1",
          "routes": [{"dst": "::/0", "gw": "fd00::1"}]},
  "dns": {"nameservers": ["10.96.0.10"], "domain": "cluster.local",
          "search": ["default.svc.cluster.local"], "options": ["ndots:5"]}
})";

// 1.x read from 0.1.0/0.2.0: no interfaces, no interface index, routes in family order.
constexpr const char* kLegacyAs1x = R"({
  "ips": [
    {"address": "10.1.0.5/24", "gateway": "10.1.0.1"},
    {"address": "fd00::5/64", "gateway": "fd00::1"}
  ],
  "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}, {"dst": "192.168.0.0/16"},
             {"dst": "::/0", "gw": "fd00::1"}],
  "dns": {"nameservers": ["10.96.0.10"], "domain": "cluster.local",
          "search": ["default.svc.cluster.local"], "options": ["ndots:5"]}
})";

constexpr const char* kLegacyAsOld = R"({
  "ips": [
    {"version": "4", "address": "10.1.0.5/24", "gateway": "10.1.0.1"},
    {"version": "6", "address": "fd00::5/64", "gateway": "fd00::1"}
  ],
  "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}, {"dst": "192.168.0.0/16"},
             {"dst": "::/0", "gw": "fd00::1"}],
  "dns": {"nameservers": ["10.96.0.10"], "domain": "cluster.local",
          "search": ["default.svc.cluster.local"], "options": ["ndots:5"]}
})";

enum class Shape { kLegacy, kOld, kNew };

Shape shape_of(const std::string& v) {
  if (v == "0.1.0" || v == "0.2.0") return Shape::kLegacy;
  if (v == "1.0.0" || v == "1.1.0") return Shape::kNew;
  return Shape::kOld;
}

Json with_version(const char* text, const std::string& version) {
  Json j = Json::parse(text);
  j["cniVersion"] = version;
  return j;
}

// What `version` prints for an attachment first written at `source`.
Json expected(const std::string& source, const std::string& target) {
  static const char* kTable[3][3] = {
      // target:    legacy       old           new           (source below)
      {kFullLegacy, kLegacyAsOld, kLegacyAs1x},  // legacy
      {kFullLegacy, kFullOld, kOldAs1x},         // old
      {kFullLegacy, kFullOld, kFull1x},          // new
  };
  return with_version(
      kTable[static_cast<int>(shape_of(source))][static_cast<int>(shape_of(target))], target);
}

Json source_document(const std::string& version) {
  static const char* kBySource[3] = {kFullLegacy, kFullOld, kFull1x};
  return with_version(kBySource[static_cast<int>(shape_of(version))], version);
}

class ConversionMatrix : public testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(ConversionMatrix, ConvertsEveryPairOfVersions) {
  const auto& [source, target] = GetParam();
  Result r = Result::from_json(source_document(source), "1.1.0");
  EXPECT_EQ(r.cni_version, source);
  Json out = r.to_json(target);
  EXPECT_EQ(out, expected(source, target)) << "got " << out.dump(2);
}

std::string pair_name(const testing::TestParamInfo<ConversionMatrix::ParamType>& info) {
  std::string name = std::get<0>(info.param) + "_to_" + std::get<1>(info.param);
  for (char& c : name) {
    if (c == '.') c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(AllVersions, ConversionMatrix,
                         testing::Combine(testing::ValuesIn(supported_versions()),
                                          testing::ValuesIn(supported_versions())),
                         pair_name);

// An address-less result cannot be written as 0.1.0/0.2.0, from any source version; the
// other targets accept it.
class NoAddressMatrix : public testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(NoAddressMatrix, FailsOnlyForLegacyTargets) {
  const auto& [source, target] = GetParam();
  Json doc = {{"cniVersion", source}, {"dns", {{"nameservers", {"10.96.0.10"}}}}};
  if (shape_of(source) != Shape::kLegacy) doc["interfaces"] = {{{"name", "eth0"}}};
  Result r = Result::from_json(doc, "");
  if (shape_of(target) != Shape::kLegacy) {
    Json out = r.to_json(target);
    EXPECT_FALSE(out.contains("ips"));
    EXPECT_EQ(out["dns"]["nameservers"], Json({"10.96.0.10"}));
    return;
  }
  try {
    r.to_json(target);
    FAIL() << "expected a conversion error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), kIncompatibleVersion);
    EXPECT_EQ(e.msg(), "cannot convert: no valid IP addresses");
  }
}

INSTANTIATE_TEST_SUITE_P(AllVersions, NoAddressMatrix,
                         testing::Combine(testing::ValuesIn(supported_versions()),
                                          testing::ValuesIn(supported_versions())),
                         pair_name);

int code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return 0;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.msg();
  }
  return "";
}

TEST(ResultVersion, UnknownVersionsAreRefusedBothWays) {
  Json doc = Json::parse(kFull1x);
  doc["cniVersion"] = "0.5.0";
  EXPECT_EQ(code_of([&] { Result::from_json(doc, "1.1.0"); }), kIncompatibleVersion);
  EXPECT_NE(message_of([&] { Result::from_json(doc, "1.1.0"); }).find("0.5.0"), std::string::npos);
  Result r = Result::from_json(with_version(kFull1x, "1.1.0"), "");
  EXPECT_EQ(code_of([&] { r.to_json("2.0.0"); }), kIncompatibleVersion);
  EXPECT_EQ(code_of([&] { r.to_json("garbage"); }), kIncompatibleVersion);
  EXPECT_NE(message_of([&] { r.to_json("2.0.0"); }).find("2.0.0"), std::string::npos);
}

TEST(ResultVersion, MissingVersionIsTheAssumedOne) {
  Json doc = Json::parse(kFullOld);
  Result r = Result::from_json(doc, "0.4.0");
  EXPECT_EQ(r.cni_version, "0.4.0");
  EXPECT_EQ(r.interfaces.size(), 2u);
}

TEST(ResultVersion, EmptyAssumedVersionMeansLegacy010) {
  Result r = Result::from_json(Json::parse(kFullLegacy), "");
  EXPECT_EQ(r.cni_version, "0.1.0");
  ASSERT_EQ(r.ips.size(), 2u);
  EXPECT_EQ(r.ips[0].address, "10.1.0.5/24");
  Result e = Result::from_json(Json{{"cniVersion", ""}, {"ip4", {{"ip", "10.0.0.2/8"}}}}, "1.1.0");
  EXPECT_EQ(e.cni_version, "0.1.0");
  EXPECT_EQ(r.to_json("")["cniVersion"], "0.1.0");
}

TEST(ResultShape, IpamResultRoundTripsAtEveryNonLegacyVersion) {
  for (const auto& v : supported_versions()) {
    if (shape_of(v) == Shape::kLegacy) continue;
    Json doc = {{"cniVersion", v},
                {"ips", {{{"address", "10.5.0.7/24"}, {"gateway", "10.5.0.1"}}}},
                {"routes", {{{"dst", "0.0.0.0/0"}}}}};
    if (shape_of(v) == Shape::kOld) doc["ips"][0]["version"] = "4";
    Result r = Result::from_json(doc, "");
    EXPECT_TRUE(r.interfaces.empty());
    EXPECT_FALSE(r.ips.at(0).interface.has_value());
    EXPECT_EQ(r.to_json(v), doc) << v;
  }
}

// No null, {} or [] anywhere in the output: empty optional fields are left out.
void expect_no_empty_values(const Json& j, const std::string& where) {
  if (j.is_null()) ADD_FAILURE() << "null at " << where;
  if ((j.is_object() || j.is_array()) && j.empty()) ADD_FAILURE() << "empty value at " << where;
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      expect_no_empty_values(it.value(), where + "." + it.key());
      if (it->is_string() && it->get<std::string>().empty() && it.key() != "cniVersion") {
        ADD_FAILURE() << "empty string at " << where << "." << it.key();
      }
    }
  }
  if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i)
      expect_no_empty_values(j[i], where + "[" + std::to_string(i) + "]");
  }
}

TEST(ResultShape, OmitsEmptyOptionalFields) {
  Result r;
  r.ips.push_back({.address = "10.0.0.2/24"});
  r.interfaces.push_back({.name = "eth0"});
  for (const auto& v : supported_versions()) {
    Json out = r.to_json(v);
    expect_no_empty_values(out, v);
    EXPECT_FALSE(out.contains("dns")) << v;
    EXPECT_FALSE(out.contains("routes")) << v;
  }
  Json minimal = r.to_json("1.1.0");
  EXPECT_EQ(minimal, Json::parse(R"({"cniVersion": "1.1.0", "interfaces": [{"name": "eth0"}],
                                     "ips": [{"address": "10.0.0.2/24"}]})"));
}

TEST(ResultShape, Ipv6OnlyResultConvertsToLegacy) {
  Result r;
  r.ips.push_back({.address = "2001:db8::2/64", .gateway = "2001:db8::1"});
  r.routes.push_back({.dst = "10.0.0.0/8", .gw = "10.0.0.1"});  // no v4 address to file it under
  r.routes.push_back({.dst = "::/0", .gw = "2001:db8::1", .mtu = 1400});
  EXPECT_EQ(r.to_json("0.2.0"), Json::parse(R"({"cniVersion": "0.2.0",
      "ip6": {"ip": "2001:db8::2/64", "gateway": "2001:db8::1",
              "routes": [{"dst": "::/0", "gw": "2001:db8::1"}]}})"));
}

struct BadShape {
  std::string name;
  std::string doc;
  std::string field;  // the message must name it
};

void PrintTo(const BadShape& c, std::ostream* os) {
  *os << c.name;
}

class BadShapes : public testing::TestWithParam<BadShape> {};

TEST_P(BadShapes, AreDecodeFailuresNamingTheField) {
  const auto& c = GetParam();
  Json doc = Json::parse(c.doc);
  try {
    Result::from_json(doc, "1.1.0");
    FAIL() << "accepted " << c.doc;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), kDecodeFailure) << e.msg();
    EXPECT_NE(e.msg().find(c.field), std::string::npos) << e.msg();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadShapes,
    testing::Values(
        BadShape{"NotObject", R"([1, 2])", "not a JSON object"},
        BadShape{"VersionNotString", R"({"cniVersion": 1})", "cniVersion"},
        BadShape{"IpsNotArray", R"({"ips": {}})", "ips"},
        BadShape{"IpNotObject", R"({"ips": ["10.0.0.1/24"]})", "ips[0]"},
        BadShape{"AddressMissing", R"({"ips": [{"gateway": "10.0.0.1"}]})", "ips[0].address"},
        BadShape{"AddressNotCidr", R"({"ips": [{"address": "10.0.0.300/24"}]})", "10.0.0.300/24"},
        BadShape{"PrefixTooLong", R"({"ips": [{"address": "10.0.0.3/33"}]})", "10.0.0.3/33"},
        BadShape{"NoPrefix", R"({"ips": [{"address": "10.0.0.3"}]})", "ips[0].address"},
        BadShape{"BadGateway", R"({"ips": [{"address": "10.0.0.3/8", "gateway": "x"}]})",
                 "ips[0].gateway"},
        BadShape{"InterfaceNotInt", R"({"ips": [{"address": "10.0.0.3/8", "interface": "0"}]})",
                 "ips[0].interface"},
        BadShape{"RouteDstBad", R"({"routes": [{"dst": "default"}]})", "routes[0].dst"},
        BadShape{"RouteMtuNotInt", R"({"routes": [{"dst": "0.0.0.0/0", "mtu": "9000"}]})",
                 "routes[0].mtu"},
        BadShape{"IfaceMtuNotInt", R"({"interfaces": [{"name": "eth0", "mtu": "x"}]})",
                 "interfaces[0].mtu"},
        BadShape{"DnsNotObject", R"({"dns": []})", "dns"},
        BadShape{"NameserversNotStrings", R"({"dns": {"nameservers": [1]}})", "dns.nameservers"},
        BadShape{"LegacyIpMissing", R"({"cniVersion": "0.2.0", "ip4": {"gateway": "1.1.1.1"}})",
                 "ip4.ip"},
        BadShape{"LegacyRouteBad",
                 R"({"cniVersion": "0.2.0", "ip4": {"ip": "1.1.1.2/24", "routes": [{"dst": 5}]}})",
                 "ip4.routes[0].dst"}),
    [](const testing::TestParamInfo<BadShape>& info) { return info.param.name; });

}  // namespace
}  // namespace cni
