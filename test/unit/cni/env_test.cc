// Tests of the CNI_* environment rules: required variables per verb, container ID, ifname
// and network name validation, CNI_ARGS and CNI_PATH parsing.
#include "cni/env.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "cni/error.h"

namespace cni {
namespace {

using EnvMap = std::map<std::string, std::string>;

EnvLookup lookup_in(const EnvMap& env) {
  return [env](const char* name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

EnvMap full_env(const std::string& verb) {
  return {{"CNI_COMMAND", verb},
          {"CNI_CONTAINERID", "c0ffee"},
          {"CNI_NETNS", "/var/run/netns/p1"},
          {"CNI_IFNAME", "eth0"},
          {"CNI_ARGS", "IgnoreUnknown=1"},
          {"CNI_PATH", "/opt/cni/bin:/usr/lib/cni"}};
}

// Runs `f` and returns the Error it threw; fails the test when it throws nothing.
Error error_from(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no cni::Error thrown";
  return Error(0, "");
}

struct VerbRule {
  std::string verb;
  std::vector<std::string> required;  // besides CNI_COMMAND
};

void PrintTo(const VerbRule& r, std::ostream* os) {
  *os << r.verb;
}

class RequiredVariables : public testing::TestWithParam<VerbRule> {};

TEST_P(RequiredVariables, EachMissingRequiredVariableIsCode4NamingIt) {
  const auto& rule = GetParam();
  for (const auto& var : rule.required) {
    EnvMap env = full_env(rule.verb);
    env.erase(var);
    Error e = error_from([&] { parse_invocation(lookup_in(env)); });
    EXPECT_EQ(e.code(), kInvalidEnvironment) << var;
    EXPECT_NE(e.msg().find(var), std::string::npos) << e.msg();
  }
}

TEST_P(RequiredVariables, OptionalVariablesMayBeAbsent) {
  const auto& rule = GetParam();
  EnvMap env = {{"CNI_COMMAND", rule.verb}};
  for (const auto& var : rule.required) env[var] = full_env(rule.verb)[var];
  // Only CNI_COMMAND and the verb's required variables are set: parsing must succeed.
  Invocation inv = parse_invocation(lookup_in(env));
  EXPECT_EQ(verb_name(inv.verb), rule.verb);
}

INSTANTIATE_TEST_SUITE_P(
    SpecTable, RequiredVariables,
    testing::Values(VerbRule{"ADD", {"CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"}},
                    VerbRule{"DEL", {"CNI_CONTAINERID", "CNI_IFNAME"}},
                    VerbRule{"CHECK", {"CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"}},
                    VerbRule{"STATUS", {}}, VerbRule{"GC", {"CNI_PATH"}}, VerbRule{"VERSION", {}}),
    [](const testing::TestParamInfo<VerbRule>& info) { return info.param.verb; });

TEST(Invocation, MissingCommandIsCode4) {
  Error e = error_from([] { parse_invocation(lookup_in({})); });
  EXPECT_EQ(e.code(), kInvalidEnvironment);
  EXPECT_NE(e.msg().find("CNI_COMMAND"), std::string::npos);
}

TEST(Invocation, UnknownCommandIsCode4NamingIt) {
  Error e = error_from([] { parse_invocation(lookup_in(full_env("FROB"))); });
  EXPECT_EQ(e.code(), kInvalidEnvironment);
  EXPECT_NE(e.msg().find("\"FROB\""), std::string::npos) << e.msg();
  EXPECT_EQ(error_from([] { parse_verb("add"); }).code(), kInvalidEnvironment);
}

TEST(Invocation, ReadsEveryVariable) {
  EnvMap env = full_env("ADD");
  env["CNI_ARGS"] =
      "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web-0;"
      "K8S_POD_INFRA_CONTAINER_ID=c0ffee;K8S_POD_UID=1234-5678";
  Invocation inv = parse_invocation(lookup_in(env));
  EXPECT_EQ(inv.verb, Verb::kAdd);
  EXPECT_EQ(inv.container_id, "c0ffee");
  EXPECT_EQ(inv.netns, "/var/run/netns/p1");
  EXPECT_EQ(inv.ifname, "eth0");
  EXPECT_EQ(inv.path, (std::vector<std::string>{"/opt/cni/bin", "/usr/lib/cni"}));
  EXPECT_EQ(inv.pod_namespace(), "ns1");
  EXPECT_EQ(inv.pod_name(), "web-0");
  EXPECT_EQ(inv.pod_uid(), "1234-5678");
  EXPECT_EQ(inv.pod_infra_container_id(), "c0ffee");
}

TEST(Invocation, PodAccessorsAreEmptyWithoutArgs) {
  EnvMap env = full_env("ADD");
  env.erase("CNI_ARGS");
  Invocation inv = parse_invocation(lookup_in(env));
  EXPECT_EQ(inv.pod_namespace(), "");
  EXPECT_EQ(inv.pod_name(), "");
  EXPECT_TRUE(inv.args.pairs().empty());
}

TEST(Invocation, DelAcceptsEmptyNetns) {
  EnvMap env = full_env("DEL");
  env["CNI_NETNS"] = "";
  EXPECT_EQ(parse_invocation(lookup_in(env)).netns, "");
}

TEST(Invocation, AddRefusesEmptyNetns) {
  EnvMap env = full_env("ADD");
  env["CNI_NETNS"] = "";
  Error e = error_from([&] { parse_invocation(lookup_in(env)); });
  EXPECT_EQ(e.code(), kInvalidEnvironment);
  EXPECT_NE(e.msg().find("CNI_NETNS"), std::string::npos);
}

TEST(Invocation, EmptyContainerIdIsCode3) {
  EnvMap env = full_env("ADD");
  env["CNI_CONTAINERID"] = "";
  EXPECT_EQ(error_from([&] { parse_invocation(lookup_in(env)); }).code(), kUnknownContainer);
}

TEST(Invocation, ValidatesIdAndIfnameOfAddDelCheck) {
  for (const char* verb : {"ADD", "DEL", "CHECK"}) {
    EnvMap env = full_env(verb);
    env["CNI_CONTAINERID"] = "-bad";
    EXPECT_EQ(error_from([&] { parse_invocation(lookup_in(env)); }).code(), kInvalidEnvironment)
        << verb;
    env = full_env(verb);
    env["CNI_IFNAME"] = "eth 0";
    Error e = error_from([&] { parse_invocation(lookup_in(env)); });
    EXPECT_EQ(e.code(), kInvalidEnvironment) << verb;
    EXPECT_NE(e.msg().find("\"eth 0\""), std::string::npos) << e.msg();
  }
}

TEST(Invocation, VersionIgnoresLibcniDummyValues) {
  EnvMap env = {{"CNI_COMMAND", "VERSION"}, {"CNI_NETNS", "dummy"},    {"CNI_IFNAME", "dummy"},
                {"CNI_PATH", "dummy"},      {"CNI_CONTAINERID", "#!"}, {"CNI_ARGS", "junk"}};
  EXPECT_EQ(parse_invocation(lookup_in(env)).verb, Verb::kVersion);
}

TEST(Invocation, BadCniArgsAreCode4) {
  EnvMap env = full_env("ADD");
  env["CNI_ARGS"] = "K8S_POD_NAME";
  Error e = error_from([&] { parse_invocation(lookup_in(env)); });
  EXPECT_EQ(e.code(), kInvalidEnvironment);
  EXPECT_NE(e.msg().find("K8S_POD_NAME"), std::string::npos);
}

TEST(Invocation, PathDropsEmptySegments) {
  EnvMap env = full_env("GC");
  env["CNI_PATH"] = "/a::/b/c:";
  EXPECT_EQ(parse_invocation(lookup_in(env)).path, (std::vector<std::string>{"/a", "/b/c"}));
}

TEST(Invocation, ReadsTheProcessEnvironment) {
  struct Restore {
    std::map<std::string, std::optional<std::string>> saved;
    ~Restore() {
      for (const auto& [k, v] : saved) {
        if (v) {
          setenv(k.c_str(), v->c_str(), 1);
        } else {
          unsetenv(k.c_str());
        }
      }
    }
  } restore;
  for (const auto& [k, v] : full_env("CHECK")) {
    const char* old = std::getenv(k.c_str());
    restore.saved[k] = old ? std::optional<std::string>(old) : std::nullopt;
    setenv(k.c_str(), v.c_str(), 1);
  }
  Invocation inv = parse_invocation_from_process_env();
  EXPECT_EQ(inv.verb, Verb::kCheck);
  EXPECT_EQ(inv.ifname, "eth0");
}

TEST(Verb, NamesRoundTrip) {
  for (Verb v : {Verb::kAdd, Verb::kDel, Verb::kCheck, Verb::kStatus, Verb::kGc, Verb::kVersion}) {
    EXPECT_EQ(parse_verb(verb_name(v)), v);
  }
}

// ---- validators ----

struct BadValue {
  std::string value;
  int code;
  std::string why;  // part of the message
};

TEST(ContainerId, AcceptsThePattern) {
  for (const char* id :
       {"a", "0", "A-b_c.d", "f1e2d3c4b5a6978812345678901234567890abcdef0123456789abcdef012345"}) {
    EXPECT_NO_THROW(validate_container_id(id)) << id;
  }
}

TEST(ContainerId, RefusesEachBadForm) {
  const BadValue cases[] = {{"", kUnknownContainer, "missing container ID"},
                            {"-abc", kInvalidEnvironment, "\"-abc\""},
                            {"_abc", kInvalidEnvironment, "\"_abc\""},
                            {".abc", kInvalidEnvironment, "\".abc\""},
                            {"a b", kInvalidEnvironment, "\"a b\""},
                            {"a/b", kInvalidEnvironment, "\"a/b\""},
                            {"a:b", kInvalidEnvironment, "\"a:b\""},
                            {"a\xc3\xa4", kInvalidEnvironment, "must match"}};
  for (const auto& c : cases) {
    Error e = error_from([&] { validate_container_id(c.value); });
    EXPECT_EQ(e.code(), c.code) << c.value;
    EXPECT_NE(e.msg().find(c.why), std::string::npos) << e.msg();
  }
}

TEST(Ifname, AcceptsValidNames) {
  for (const char* name : {"eth0", "net1", "a", "a.b", "abcdefghijklmno", "vlan-10_x"}) {
    EXPECT_NO_THROW(validate_ifname(name)) << name;
  }
}

TEST(Ifname, RefusesEachBadForm) {
  const BadValue cases[] = {{"", kInvalidEnvironment, "empty"},
                            {"abcdefghijklmnop", kInvalidEnvironment, "longer than 15"},
                            {".", kInvalidEnvironment, "must not be"},
                            {"..", kInvalidEnvironment, "must not be"},
                            {"a/b", kInvalidEnvironment, "'/'"},
                            {"a:b", kInvalidEnvironment, "':'"},
                            {"eth 0", kInvalidEnvironment, "whitespace"},
                            {"eth\t0", kInvalidEnvironment, "whitespace"},
                            {"eth0\n", kInvalidEnvironment, "whitespace"},
                            // The kernel would expand these into a free "eth<N>".
                            {"eth%d", kInvalidEnvironment, "'%'"},
                            {"%s", kInvalidEnvironment, "'%'"},
                            {"lo", kInvalidEnvironment, "loopback"},
                            {"eth\xff", kInvalidEnvironment, "UTF-8"}};
  for (const auto& c : cases) {
    Error e = error_from([&] { validate_ifname(c.value); });
    EXPECT_EQ(e.code(), c.code) << c.value;
    EXPECT_NE(e.msg().find("\"" + c.value + "\""), std::string::npos) << e.msg();
    EXPECT_NE(e.msg().find(c.why), std::string::npos) << e.msg();
  }
}

TEST(ContainerId, AcceptsUpTo240CharactersAndRefusesMoreWithCode4) {
  EXPECT_NO_THROW(validate_container_id(std::string(240, 'a')));
  // 251-4096 characters used to pass and then fail with code 5 (file name too long).
  for (size_t n : {241, 251, 4096}) {
    Error e = error_from([&] { validate_container_id(std::string(n, 'a')); });
    EXPECT_EQ(e.code(), kInvalidEnvironment) << n;
    EXPECT_NE(e.msg().find(std::to_string(n) + " characters, more than the limit of 240"),
              std::string::npos)
        << e.msg();
  }
}

TEST(Invocation, InvalidUtf8IsCode4NamingTheVariable) {
  for (const char* var : {"CNI_IFNAME", "CNI_NETNS", "CNI_ARGS"}) {
    for (const char* verb : {"ADD", "DEL", "CHECK"}) {
      EnvMap env = full_env(verb);
      env[var] = std::string(var) == "CNI_ARGS" ? "K8S_POD_NAME=w\xc3" : "/var/run/\xff";
      if (std::string(var) == "CNI_IFNAME") env[var] = "eth\xc0\xaf";
      Error e = error_from([&] { parse_invocation(lookup_in(env)); });
      EXPECT_EQ(e.code(), kInvalidEnvironment) << var << " " << verb;
      EXPECT_NE(e.msg().find(var), std::string::npos) << e.msg();
      EXPECT_NE(e.msg().find("UTF-8"), std::string::npos) << e.msg();
    }
  }
  EnvMap env = full_env("ADD");
  env["CNI_ARGS"] =
      "K8S_POD_NAME=w\xc3\xa4"
      "b";  // valid UTF-8 is fine
  EXPECT_EQ(parse_invocation(lookup_in(env)).pod_name(),
            "w\xc3\xa4"
            "b");
}

TEST(Invocation, DelChecksOnlyTheKernelsRulesOnIfname) {
  // A container an older release added as "lo" or "eth%d" must still be deletable.
  for (const char* name : {"lo", "eth%d"}) {
    EnvMap env = full_env("DEL");
    env["CNI_IFNAME"] = name;
    EXPECT_EQ(parse_invocation(lookup_in(env)).ifname, name);
    for (const char* verb : {"ADD", "CHECK"}) {
      env["CNI_COMMAND"] = verb;
      EXPECT_EQ(error_from([&] { parse_invocation(lookup_in(env)); }).code(), kInvalidEnvironment)
          << verb << " " << name;
    }
  }
  EnvMap env = full_env("DEL");
  env["CNI_IFNAME"] = "eth 0";
  EXPECT_EQ(error_from([&] { parse_invocation(lookup_in(env)); }).code(), kInvalidEnvironment);
}

TEST(NetworkName, FollowsTheContainerIdPatternWithCode7) {
  EXPECT_NO_THROW(validate_network_name("cluster-net.v1_a"));
  for (const char* bad : {"", "-x", "a b", "net/1", "net:1", "*"}) {
    Error e = error_from([&] { validate_network_name(bad); });
    EXPECT_EQ(e.code(), kInvalidConfig) << bad;
    if (*bad) {
      EXPECT_NE(e.msg().find(std::string("\"") + bad + "\""), std::string::npos) << e.msg();
    }
  }
}

// ---- CNI_ARGS ----

TEST(CniArgs, ParsesContainerdFormInAnyOrder) {
  CniArgs a = CniArgs::parse(
      "K8S_POD_UID=u1;IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;"
      "K8S_POD_INFRA_CONTAINER_ID=abc");
  EXPECT_EQ(a.get("K8S_POD_NAME"), "web");
  EXPECT_EQ(a.get("K8S_POD_NAMESPACE"), "default");
  EXPECT_EQ(a.get("K8S_POD_UID"), "u1");
  EXPECT_EQ(a.get("MISSING"), std::nullopt);
  EXPECT_TRUE(a.ignore_unknown());
  EXPECT_EQ(a.pairs().size(), 5u);
}

TEST(CniArgs, ParsesPodmanFormWithEmptyValue) {
  CniArgs a = CniArgs::parse("IgnoreUnknown=1;K8S_POD_NAME=c1;IP=;MAC=aa:bb:cc:dd:ee:ff;");
  EXPECT_EQ(a.get("IP"), "");
  EXPECT_EQ(a.get("MAC"), "aa:bb:cc:dd:ee:ff");
  EXPECT_EQ(a.pairs().size(), 4u);
}

TEST(CniArgs, KeepsEqualsSignsInValues) {
  EXPECT_EQ(CniArgs::parse("X=a=b").get("X"), "a=b");
}

TEST(CniArgs, EmptyStringHasNoPairs) {
  EXPECT_TRUE(CniArgs::parse("").pairs().empty());
}

TEST(CniArgs, RefusesPairsWithoutEqualsOrKey) {
  for (const char* bad : {"FOO", "A=1;BAR", "=v", "A=1;=2"}) {
    Error e = error_from([&] { CniArgs::parse(bad); });
    EXPECT_EQ(e.code(), kInvalidEnvironment) << bad;
    EXPECT_NE(e.msg().find("CNI_ARGS"), std::string::npos) << e.msg();
  }
}

TEST(CniArgs, IgnoreUnknownAcceptsOneAndTrue) {
  EXPECT_TRUE(CniArgs::parse("IgnoreUnknown=1").ignore_unknown());
  EXPECT_TRUE(CniArgs::parse("IgnoreUnknown=true").ignore_unknown());
  EXPECT_TRUE(CniArgs::parse("IgnoreUnknown=True").ignore_unknown());
  EXPECT_FALSE(CniArgs::parse("IgnoreUnknown=0").ignore_unknown());
  EXPECT_FALSE(CniArgs::parse("IgnoreUnknown=false").ignore_unknown());
  EXPECT_FALSE(CniArgs::parse("K8S_POD_NAME=x").ignore_unknown());
}

TEST(CniArgs, CheckKnownRefusesUnknownKeysUnlessIgnored) {
  std::vector<std::string> known = {"K8S_POD_NAME"};
  EXPECT_NO_THROW(CniArgs::parse("K8S_POD_NAME=x").check_known(known));
  Error e = error_from([&] { CniArgs::parse("K8S_POD_NAME=x;FOO=1").check_known(known); });
  EXPECT_EQ(e.code(), kInvalidEnvironment);
  EXPECT_NE(e.msg().find("\"FOO\""), std::string::npos) << e.msg();
  EXPECT_NO_THROW(CniArgs::parse("IgnoreUnknown=1;FOO=1").check_known(known));
  EXPECT_NO_THROW(CniArgs::parse("IgnoreUnknown=0;K8S_POD_NAME=x").check_known(known));
}

TEST(CniArgs, SetReplacesAndEncodeKeepsOrder) {
  CniArgs a = CniArgs::parse("B=2;A=1");
  a.set("B", "3");
  a.set("C", "4");
  EXPECT_EQ(a.encode(), "B=3;A=1;C=4");
  EXPECT_EQ(CniArgs::parse(a.encode()).pairs(), a.pairs());
}

}  // namespace
}  // namespace cni
