// Hostile input on ADD: bad annotations, interface and network names, NADs whose config is
// not JSON or whose type escapes binDir. Each is a CNI error naming the field and the value,
// and nothing runs: the cluster network is the fake delegate, whose log must stay empty.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "test/e2e/e2e_node.h"

namespace cnimux_test {
namespace {

struct Hostile {
  std::string name;
  std::string networks;             // the pod's networks annotation
  std::vector<std::string> in_msg;  // field and value the message must name
  int expected_code = 7;
  std::string nad_name;         // an extra NAD written with `nad_config` as is ("" = none)
  std::string nad_config;       // raw spec.config text
  std::string ifname = "eth0";  // CNI_IFNAME
};

void PrintTo(const Hostile& h, std::ostream* os) {
  *os << h.name;
}

// A pod annotation that must be refused.
Hostile annotation(std::string name, std::string networks, std::vector<std::string> in_msg) {
  return {std::move(name), std::move(networks), std::move(in_msg)};
}
// A NAD, selected by the pod, whose spec.config is `config` verbatim.
Hostile nad(std::string name, std::string nad_name, std::string config,
            std::vector<std::string> in_msg) {
  Hostile h{std::move(name), nad_name, std::move(in_msg)};
  h.nad_name = nad_name;
  h.nad_config = std::move(config);
  return h;
}

// Files a hostile name would create if any part of cnimux handed it to a shell.
std::string canary() {
  return "/tmp/" + test_prefix() + "-pwned";
}

std::vector<Hostile> cases() {
  const std::string key = "k8s.v1.cni.cncf.io/networks";
  const std::string touch = "touch " + canary();
  Hostile runtime_ifname = annotation("runtimeIfnameWithSpace", "n1", {"ifname", "\"eth 0\""});
  runtime_ifname.ifname = "eth 0";
  runtime_ifname.expected_code = 4;  // CNI_IFNAME is the runtime's environment
  return {
      annotation("garbageAnnotationJson", R"([{"name": "n1",)", {key}),
      annotation("annotationNotAList", R"({"name": 5})", {key}),
      annotation("interfaceWithSpaceJson", R"([{"name": "n1", "interface": "net 1"}])",
                 {"interface", "\"net 1\""}),
      annotation("interfaceWithSpaceComma", "n1@net 1", {"net 1"}),
      annotation("interfaceTooLong", R"([{"name": "n1", "interface": "abcdefghijklmnop"}])",
                 {"abcdefghijklmnop"}),
      annotation("interfaceSlash", R"([{"name": "n1", "interface": "../eth0"}])", {"../eth0"}),
      annotation("networkNameShellComma", "n1;id", {"\"n1;id\""}),
      annotation("networkNameBackticks", "`id`", {"\"`id`\""}),
      annotation("networkNamespaceShell", "$(id)/n1", {"$(id)"}),
      annotation("networkNameShellJson", "[{\"name\": \"$(" + touch + ")\"}]",
                 {"$(" + touch + ")"}),
      nad("nadConfigNotJson", "bad", "{not json", {"bad", "JSON"}),
      nad("nadConfigNotObject", "bad", "[1, 2]", {"bad"}),
      nad("nadTypeWithSlash", "evil", R"({"cniVersion": "1.0.0", "type": "../../bin/sh"})",
          {"evil", "type", "../../bin/sh"}),
      nad("nadTypeEmpty", "evil", R"({"cniVersion": "1.0.0", "type": ""})", {"evil", "type"}),
      runtime_ifname,
  };
}

class HostileInput : public ::testing::TestWithParam<Hostile> {};

TEST_P(HostileInput, RejectedWithTheFieldAndValueAndNothingRuns) {
  const Hostile& h = GetParam();
  E2eNode node("h");
  TestNetns pod("h");
  std::filesystem::remove(canary());
  node.write_cluster_network(node.fake_config({}));
  node.write_nad("default", "n1", node.macvlan_config("10.232.0.0/24"));
  if (!h.nad_name.empty()) {
    json nad = {{"apiVersion", "k8s.cni.cncf.io/v1"},
                {"kind", "NetworkAttachmentDefinition"},
                {"metadata", {{"name", h.nad_name}, {"namespace", "default"}}},
                {"spec", {{"config", h.nad_config}}}};
    E2eNode::write(node.dir() + "/nads/default-" + h.nad_name + ".json", nad.dump());
  }
  node.write_pod("default", "web", "uid-h", {{"k8s.v1.cni.cncf.io/networks", h.networks}});
  const json meta = node.meta_config();

  auto add = node.run("ADD", "ch1", pod.path(), meta, "default", "web", h.ifname);
  EXPECT_EQ(add.exit_code, 1) << add.out << add.err;
  json err;
  ASSERT_NO_THROW(err = add.json()) << "stdout must be exactly one JSON object: " << add.out;
  EXPECT_EQ(err.value("code", 0), h.expected_code) << err.dump();
  const std::string msg = err.value("msg", "");
  RecordProperty("msg", msg);
  for (const auto& part : h.in_msg)
    EXPECT_NE(msg.find(part), std::string::npos) << part << " in " << msg;

  EXPECT_TRUE(node.fake_calls().empty()) << node.read("fake.log");
  EXPECT_TRUE(E2eNode::links_in(pod).empty());
  EXPECT_TRUE(node.stray_host_links().empty());
  EXPECT_TRUE(node.held_addresses().empty());
  EXPECT_FALSE(node.has_live_journal("ch1"));
  EXPECT_FALSE(std::filesystem::exists(canary()));
  std::filesystem::remove(canary());
}

INSTANTIATE_TEST_SUITE_P(EachInput, HostileInput, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Hostile>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace cnimux_test
