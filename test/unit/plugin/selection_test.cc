// Tests for the network selection annotations: every row of the multi-net-spec validation
// table, every JSON-form field and every validation rule.
#include "plugin/selection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cni/error.h"

namespace plugin {
namespace {

using ::testing::HasSubstr;

// Runs `parse` expecting a cni::Error; returns it for inspection.
cni::Error error_of(const std::string& value, const std::string& ns = "test") {
  try {
    parse_network_selection(value, ns);
  } catch (const cni::Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error for " << value;
  return cni::Error(0, "");
}

void expect_error(const std::string& value, const std::string& fragment) {
  cni::Error e = error_of(value);
  EXPECT_EQ(e.code(), cni::kInvalidConfig) << e.msg();
  EXPECT_THAT(e.msg(), HasSubstr(kNetworksAnnotation));
  EXPECT_THAT(e.msg(), HasSubstr(fragment));
}

// --- The reference table, row by row (pod namespace "test"). ---

TEST(SelectionTable, PlainNameTakesPodNamespaceAndNoInterface) {
  auto s = parse_network_selection("net1", "test");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].ns, "test");
  EXPECT_EQ(s[0].name, "net1");
  EXPECT_EQ(s[0].interface, "");
  EXPECT_FALSE(s[0].namespace_given);
}

TEST(SelectionTable, NamespaceNameAndInterface) {
  auto s = parse_network_selection("default/net1@my_interface", "test");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].key(), "default/net1");
  EXPECT_EQ(s[0].interface, "my_interface");
  EXPECT_TRUE(s[0].namespace_given);
}

TEST(SelectionTable, TwoSlashesRejected) {
  expect_error("a/b/c", "more than one \"/\"");
}

TEST(SelectionTable, TwoAtsRejected) {
  expect_error("a@b@c", "more than one \"@\"");
}

TEST(SelectionTable, WhitespaceInInterfaceRejected) {
  expect_error("default/net1@my if", "contains whitespace");
}

TEST(SelectionTable, LongInterfaceRejected) {
  expect_error("default/net1@averyveryverylongname", "longer than 15 bytes");
}

TEST(SelectionTable, UpperCaseNameRejected) {
  expect_error("Net1", "\"Net1\" is not a DNS-1123 label");
}

TEST(SelectionTable, JsonIpsAndMac) {
  auto s = parse_network_selection(
      R"([{"name":"net1","ips":["10.1.1.5/24"],"mac":"c2:11:22:33:44:55"}])", "test");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].key(), "test/net1");
  ASSERT_TRUE(s[0].ips.has_value());
  EXPECT_EQ(*s[0].ips, std::vector<std::string>{"10.1.1.5/24"});
  EXPECT_EQ(s[0].mac.value_or(""), "c2:11:22:33:44:55");
  auto reqs = s[0].runtime_requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].capability, "ips");
  EXPECT_EQ(reqs[0].value, nlohmann::json::array({"10.1.1.5/24"}));
  EXPECT_EQ(reqs[1].capability, "mac");
}

TEST(SelectionTable, InvalidJsonNamesParserPosition) {
  cni::Error e = error_of("[garbage");
  EXPECT_EQ(e.code(), cni::kInvalidConfig);
  EXPECT_THAT(e.msg(), HasSubstr("invalid JSON at byte"));
  EXPECT_THAT(e.msg(), HasSubstr("column"));
}

TEST(SelectionTable, SameNetworkTwiceIsTwoAttachments) {
  auto s = parse_network_selection("net-a,net-a", "test");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].key(), "test/net-a");
  EXPECT_EQ(s[1].key(), "test/net-a");
}

// --- Comma form details. ---

TEST(SelectionComma, EmptyValueSelectsNothing) {
  EXPECT_TRUE(parse_network_selection("", "test").empty());
  EXPECT_TRUE(parse_network_selection("   ", "test").empty());
}

TEST(SelectionComma, ItemsAreTrimmedAndOrdered) {
  auto s = parse_network_selection(" a , other/b@eth9 ,c", "test");
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].key(), "test/a");
  EXPECT_EQ(s[1].key(), "other/b");
  EXPECT_EQ(s[1].interface, "eth9");
  EXPECT_EQ(s[2].key(), "test/c");
}

TEST(SelectionComma, ErrorsNameTheItemAndPosition) {
  cni::Error e = error_of("good,a/b/c");
  EXPECT_THAT(e.msg(), HasSubstr("item 2 \"a/b/c\""));
}

TEST(SelectionComma, EmptyItemRejected) {
  expect_error("a,,b", "item 2");
}

TEST(SelectionComma, TrailingCommaRejected) {
  expect_error("a,", "empty network name");
}

TEST(SelectionComma, EmptyInterfaceAfterAtRejected) {
  expect_error("net1@", "after \"@\" is empty");
}

TEST(SelectionComma, EmptyNamespaceRejected) {
  expect_error("/net1", "namespace \"\"");
}

TEST(SelectionComma, BadNamespaceRejected) {
  expect_error("Kube_System/net1", "namespace \"Kube_System\"");
}

TEST(SelectionComma, NameMayNotStartOrEndWithDash) {
  expect_error("-net", "not a DNS-1123 label");
  expect_error("net-", "not a DNS-1123 label");
}

TEST(SelectionComma, FifteenCharacterInterfaceIsFine) {
  auto s = parse_network_selection("net1@abcdefghijklmno", "test");
  EXPECT_EQ(s[0].interface, "abcdefghijklmno");
  expect_error("net1@abcdefghijklmnop", "longer than 15");
}

TEST(SelectionComma, InterfaceWithColonOrDotsRejected) {
  expect_error("net1@a:b", "contains ':'");
  expect_error("net1@..", "must not be \".\" or \"..\"");
}

TEST(Dns1123, Labels) {
  EXPECT_TRUE(is_dns1123_label("a"));
  EXPECT_TRUE(is_dns1123_label("a-1"));
  EXPECT_FALSE(is_dns1123_label(""));
  EXPECT_FALSE(is_dns1123_label("a.b"));
  EXPECT_FALSE(is_dns1123_label(std::string(64, 'a')));
  EXPECT_TRUE(is_dns1123_label(std::string(63, 'a')));
}

// --- JSON form fields. ---

TEST(SelectionJson, EveryField) {
  auto s = parse_network_selection(R"([{
    "name": "sriov", "namespace": "other", "interface": "east0",
    "ips": ["10.1.1.5", "fd00::5/64"], "mac": "02-11-22-33-44-55",
    "default-route": ["10.1.1.1"],
    "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
    "bandwidth": {"ingressRate": 1000, "ingressBurst": 100, "egressRate": 2000, "egressBurst": 200},
    "cni-args": {"foo": "bar", "n": 1},
    "infiniband-guid": "c2:11:22:33:44:55:66:77",
    "io.example.com/future": {"ignored": true}
  }])",
                                   "test");
  ASSERT_EQ(s.size(), 1u);
  const NetworkSelection& e = s[0];
  EXPECT_EQ(e.key(), "other/sriov");
  EXPECT_TRUE(e.namespace_given);
  EXPECT_EQ(e.interface, "east0");
  EXPECT_EQ(*e.ips, (std::vector<std::string>{"10.1.1.5", "fd00::5/64"}));
  EXPECT_EQ(*e.mac, "02-11-22-33-44-55");
  EXPECT_TRUE(e.wants_default_route());
  EXPECT_EQ(e.default_route, std::vector<std::string>{"10.1.1.1"});
  EXPECT_EQ(e.port_mappings[0]["hostPort"], 8080);
  EXPECT_EQ(e.bandwidth["egressBurst"], 200);
  EXPECT_EQ(e.cni_args["foo"], "bar");
  EXPECT_EQ(e.infiniband_guid.value_or(""), "c2:11:22:33:44:55:66:77");
  std::vector<std::string> caps;
  for (const auto& r : e.runtime_requests()) caps.push_back(r.capability);
  EXPECT_EQ(caps, (std::vector<std::string>{"ips", "mac", "portMappings", "bandwidth",
                                            "infinibandGUID"}));
}

TEST(SelectionJson, NamespaceDefaultsToPods) {
  auto s = parse_network_selection(R"([{"name":"a"},{"name":"b","namespace":"x"}])", "test");
  EXPECT_EQ(s[0].key(), "test/a");
  EXPECT_EQ(s[1].key(), "x/b");
}

TEST(SelectionJson, NameMayBeADns1123Subdomain) {
  auto s = parse_network_selection(R"([{"name":"macvlan.conf"}])", "test");
  EXPECT_EQ(s[0].name, "macvlan.conf");
}

TEST(SelectionJson, IpamClaimReferenceAlone) {
  auto s = parse_network_selection(R"([{"name":"a","ipam-claim-reference":"claim-1"}])", "test");
  EXPECT_EQ(s[0].ipam_claim_reference.value_or(""), "claim-1");
  EXPECT_TRUE(s[0].runtime_requests().empty());
}

TEST(SelectionJson, IpamClaimReferenceWithIpsRejected) {
  expect_error(R"([{"name":"a","ips":["10.0.0.1"],"ipam-claim-reference":"c"}])",
               "\"ips\" and \"ipam-claim-reference\" cannot be used together");
}

TEST(SelectionJson, EmptyDefaultRouteIsNoRequest) {
  auto s = parse_network_selection(R"([{"name":"a","default-route":[]}])", "test");
  EXPECT_FALSE(s[0].wants_default_route());
}

TEST(SelectionJson, ErrorsNameTheElement) {
  cni::Error e = error_of(R"([{"name":"ok"},{"name":"bad","mac":"zz"}])");
  EXPECT_THAT(e.msg(), HasSubstr("element 2 (\"bad\")"));
  EXPECT_THAT(e.msg(), HasSubstr("\"mac\" = \"zz\" is not a MAC address"));
}

TEST(SelectionJson, Validation) {
  expect_error(R"({"name":"a"})", "must be a list");
  expect_error(R"(["a"])", "element 1: not an object");
  expect_error(R"([{"namespace":"x"}])", "missing \"name\"");
  expect_error(R"([{"name":5}])", "\"name\" must be a non-empty string");
  expect_error(R"([{"name":"A"}])", "not a DNS-1123 name");
  expect_error(R"([{"name":"a","namespace":"a.b"}])", "namespace \"a.b\"");
  expect_error(R"([{"name":"a","interface":"way-too-long-name"}])", "longer than 15");
  expect_error(R"([{"name":"a","interface":"a b"}])", "whitespace");
  expect_error(R"([{"name":"a","ips":"10.0.0.1"}])", "\"ips\" must be a list");
  expect_error(R"([{"name":"a","ips":["10.0.0.300"]}])",
               "\"10.0.0.300\" is not an IP address or CIDR");
  expect_error(R"([{"name":"a","ips":["10.0.0.1/33"]}])", "is not an IP address or CIDR");
  expect_error(R"([{"name":"a","default-route":["10.0.0.0/8"]}])", "is not an IP address");
  expect_error(R"([{"name":"a","portMappings":{}}])", "\"portMappings\" must be a list");
  expect_error(R"([{"name":"a","portMappings":[{"hostPort":80}]}])", "lacks \"containerPort\"");
  expect_error(R"([{"name":"a","portMappings":[{"hostPort":0,"containerPort":80}]}])",
               "is not a port number");
  expect_error(R"([{"name":"a","portMappings":[{"hostPort":1,"containerPort":80,"hostIP":"x"}]}])",
               "\"hostIP\"");
  expect_error(R"([{"name":"a","bandwidth":[]}])", "\"bandwidth\" must be an object");
  expect_error(R"([{"name":"a","bandwidth":{"ingressRate":-1}}])", "non-negative integer");
  expect_error(R"([{"name":"a","cni-args":"x=y"}])", "\"cni-args\" must be an object");
  expect_error(R"([{"name":"a","infiniband-guid":7}])", "\"infiniband-guid\" must be");
}

// --- Limits and hostile input. ---

TEST(SelectionLimits, InterfaceNamesFollowTheOneRule) {
  for (const char* sel : {"net1@eth%d", R"([{"name":"a","interface":"macvlan-a%d"}])"})
    expect_error(sel, "contains '%'");
  for (const char* sel : {"net1@lo", R"([{"name":"a","interface":"lo"}])"})
    expect_error(sel, "loopback");
}

TEST(SelectionLimits, InvalidUtf8IsCode7NamingTheAnnotation) {
  // The comma form used to accept it; the name then broke every JSON encoding later.
  for (const char* sel : {"net1@eth\xff", "net1@\xc0\xaf", "net\xe2\x82"})
    expect_error(sel, "not valid UTF-8");
  expect_error("[{\"name\":\"a\",\"interface\":\"e\xff\"}]", "not valid UTF-8");
  EXPECT_EQ(parse_network_selection("net1@\xc3\xa4th0", "t")[0].interface, "\xc3\xa4th0");
}

TEST(SelectionLimits, DeepJsonIsRefusedNotCrashed) {
  // Unbounded, the first copy of such a value overflowed the stack (SIGSEGV). 40,000 nested
  // objects are about 240 KB, under the annotation size limit, so the depth limit must act.
  std::string nested;
  for (int i = 0; i < 40000; ++i) nested += "{\"a\":";
  nested += "1" + std::string(40000, '}');
  for (const std::string& sel :
       {R"([{"name":"a","cni-args":)" + nested + "}]", std::string(100000, '['),
        R"([{"name":"a","cni-args":{"x":)" + std::string(100000, '[') + "}}]"}) {
    cni::Error e = error_of(sel);
    EXPECT_EQ(e.code(), cni::kInvalidConfig);
    EXPECT_EQ(e.msg(), std::string(kNetworksAnnotation) + ": JSON nested deeper than 128 levels");
  }
}

TEST(SelectionLimits, SixtyFourLevelsOfCniArgsAreAccepted) {
  std::string args = std::string(64, '[') + std::string(64, ']');
  auto s = parse_network_selection(R"([{"name":"a","cni-args":{"x":)" + args + "}}]", "t");
  EXPECT_EQ(s[0].cni_args["x"].dump(), args);
}

TEST(SelectionLimits, TheAnnotationMayHoldKubernetesLimitAndNoMore) {
  // A JSON-form value of exactly 256 KiB, padded inside cni-args.
  const std::string head = R"([{"name":"a","cni-args":{"pad":")", tail = R"("}}])";
  std::string value = head + std::string((256 << 10) - head.size() - tail.size(), 'x') + tail;
  ASSERT_EQ(value.size(), size_t{256} << 10);
  EXPECT_EQ(parse_network_selection(value, "t").size(), 1u);
  value.insert(head.size(), "x");
  expect_error(value, "262145 bytes, more than the limit of 262144 bytes (256 KiB)");
}

TEST(SelectionJson, PortMappingKeysMatchWithoutCase) {
  auto s = parse_network_selection(
      R"([{"name":"a","portMappings":[{"HostPort":8080,"ContainerPort":80}]}])", "test");
  EXPECT_EQ(s[0].port_mappings[0]["HostPort"], 8080);
}

TEST(SelectionJson, QuoteAloneMeansJson) {
  // A '"' switches to the JSON form, so a quoted scalar is not a list.
  expect_error(R"("net1")", "must be a list");
}

// --- v1.multus-cni.io/default-network ---

TEST(DefaultNetwork, NamespaceDefaultsToMultusNamespace) {
  NetworkSelection s = parse_default_network("calico", "kube-system");
  EXPECT_EQ(s.key(), "kube-system/calico");
  EXPECT_EQ(parse_default_network("other/calico", "kube-system").key(), "other/calico");
  EXPECT_EQ(parse_default_network(R"([{"name":"calico"}])", "kube-system").key(),
            "kube-system/calico");
}

TEST(DefaultNetwork, ExactlyOne) {
  try {
    parse_default_network("a,b", "kube-system");
    FAIL() << "two networks accepted";
  } catch (const cni::Error& e) {
    EXPECT_EQ(e.code(), cni::kInvalidConfig);
    EXPECT_THAT(e.msg(), HasSubstr(kDefaultNetworkAnnotation));
    EXPECT_THAT(e.msg(), HasSubstr("exactly one"));
  }
}

}  // namespace
}  // namespace plugin
