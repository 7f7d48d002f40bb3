// Hostile input on ADD: bad annotations, interface and network names, NADs whose config is
// not JSON or whose type escapes binDir, JSON nested 100,000 deep in stdin, a NAD or the
// annotation, names the kernel would rewrite, too many networks. Each is a CNI error naming
// the field and the value (never a crash), and nothing runs: the cluster network is the fake
// delegate, whose log must stay empty. A DEL afterwards must not crash either.
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
  std::string stdin_member;     // `"key": value` spliced into the runtime's config as text
  int del_code = 0;             // what a DEL with the same input answers
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

// JSON arrays nested `depth` deep: far past the limit, small enough for an annotation.
std::string deep_json(int depth = 100000) {
  return std::string(depth, '[') + std::string(depth, ']');
}

// The runtime's config with a key whose value is nested 100,000 deep, spliced in as text:
// building it as a json would overflow this test's own stack.
Hostile deep_stdin(std::string name, const std::string& key) {
  Hostile h{std::move(name), "n1", {"stdin: JSON nested deeper than 128 levels"}, 6};
  h.stdin_member = "\"" + key + "\": " + deep_json();
  h.del_code = 6;
  return h;
}

// containerd's CRI pod annotations in runtimeConfig, whose networks annotation is `value`.
Hostile cri_annotation(std::string name, const std::string& value,
                       std::vector<std::string> in_msg) {
  Hostile h{std::move(name), "", std::move(in_msg)};
  h.stdin_member = R"("runtimeConfig": {"io.kubernetes.cri.pod-annotations": )" +
                   json{{"k8s.v1.cni.cncf.io/networks", value}}.dump() + "}";
  return h;
}

// The pod selecting network n1 `n` times.
std::string many_networks(int n) {
  std::string out = "n1";
  for (int i = 1; i < n; ++i) out += ",n1";
  return out;
}

// Files a hostile name would create if any part of cnimux handed it to a shell.
std::string canary() {
  return "/tmp/" + test_prefix() + "-pwned";
}

std::vector<Hostile> cases() {
  const std::string key = "k8s.v1.cni.cncf.io/networks";
  const std::string touch = "touch " + canary();
  Hostile runtime_ifname = annotation("runtimeIfnameWithSpace", "n1", {"CNI_IFNAME", "\"eth 0\""});
  runtime_ifname.ifname = "eth 0";
  runtime_ifname.expected_code = 4;  // CNI_IFNAME is the runtime's environment
  runtime_ifname.del_code = 4;
  Hostile runtime_percent = annotation("runtimeIfnamePercent", "n1", {"CNI_IFNAME", "eth%d"});
  runtime_percent.ifname = "eth%d";
  runtime_percent.expected_code = 4;
  Hostile runtime_lo = annotation("runtimeIfnameLo", "n1", {"CNI_IFNAME", "\"lo\"", "loopback"});
  runtime_lo.ifname = "lo";
  runtime_lo.expected_code = 4;
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
      // Limits (docs/configuration.md, "Limits").
      deep_stdin("deepArgsInStdin", "args"),
      deep_stdin("deepRuntimeConfigInStdin", "runtimeConfig"),
      deep_stdin("deepPrevResultInStdin", "prevResult"),
      cri_annotation("deepCriAnnotation", deep_json(), {key, "nested deeper than 128 levels"}),
      annotation("deepCniArgs", R"([{"name": "n1", "cni-args": {"x": )" + deep_json() + "}}]",
                 {key, "nested deeper than 128 levels"}),
      annotation("deepAnnotation", deep_json(), {key, "nested deeper than 128 levels"}),
      nad("deepNadConfig", "deep",
          R"({"cniVersion": "1.0.0", "type": "macvlan", "x": )" + deep_json() + "}",
          {"NAD default/deep spec.config", "nested deeper than 128 levels"}),
      annotation("tooManyNetworks", many_networks(129),
                 {key, "selects 129 networks, more than the limit of 128"}),
      annotation("interfacePercentComma", "n1@net%d", {"\"net%d\"", "'%'"}),
      annotation("interfacePercentJson", R"([{"name": "n1", "interface": "macvlan-a@net%d"}])",
                 {"macvlan-a@net%d"}),
      annotation("interfaceLo", "n1@lo", {"\"lo\"", "loopback"}),
      runtime_percent,
      runtime_lo,
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

  auto run = [&](const std::string& verb) {
    if (h.stdin_member.empty())
      return node.run(verb, "ch1", pod.path(), meta, "default", "web", h.ifname);
    std::string conf = meta.dump();
    conf.insert(1, h.stdin_member + ", ");
    return node.run_raw(verb, "ch1", pod.path(), conf, "default", "web", h.ifname);
  };
  auto add = run("ADD");
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

  // Nothing was attached, so DEL has nothing to undo; above all it must not crash.
  auto del = run("DEL");
  EXPECT_EQ(del.exit_code, h.del_code == 0 ? 0 : 1) << del.out << del.err;
  if (h.del_code != 0) {
    EXPECT_EQ(del.json().value("code", 0), h.del_code) << del.out;
  }
}

INSTANTIATE_TEST_SUITE_P(EachInput, HostileInput, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Hostile>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace cnimux_test
