// Tests of the shared text helpers and the one interface-name rule.
#include "cni/text.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "cni/error.h"
#include "cni/ifname.h"

namespace cni {
namespace {

TEST(Trim, StripsSpacesTabsAndLineEndsAtBothEnds) {
  EXPECT_EQ(trim("  a b \t\r\n"), "a b");
  EXPECT_EQ(trim("\n\t "), "");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim("x"), "x");
}

TEST(IsIp, AcceptsBothFamiliesWithoutPrefix) {
  for (const char* ip : {"10.0.0.1", "0.0.0.0", "fd00::1", "::", "::ffff:10.0.0.1"})
    EXPECT_TRUE(is_ip(ip)) << ip;
  for (const char* bad : {"", "10.0.0.256", "10.0.0.1/24", "fd00::g", "host", " 10.0.0.1"})
    EXPECT_FALSE(is_ip(bad)) << bad;
}

TEST(Utf8, AcceptsWellFormedText) {
  for (const char* ok :
       {"", "eth0", "\xc3\xa4", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf"})
    EXPECT_TRUE(is_valid_utf8(ok)) << ok;
}

TEST(Utf8, RefusesMalformedText) {
  for (const char* bad : {
           "\xff",              // never valid
           "\x80",              // continuation without a lead
           "\xc3",              // truncated
           "\xe2\x82",          // truncated
           "\xc0\xaf",          // overlong '/'
           "\xe0\x80\xaf",      // overlong '/'
           "\xed\xa0\x80",      // UTF-16 surrogate
           "\xf4\x90\x80\x80",  // past U+10FFFF
           "a\xc3(b",           // bad continuation
       })
    EXPECT_FALSE(is_valid_utf8(bad)) << bad;
}

TEST(Ifname, TheRuleForNewNames) {
  for (const char* ok :
       {"eth0", "net1", "a", "a.b", "abcdefghijklmno", "vlan-10_x", "lo0", "\xc3\xa4"})
    EXPECT_EQ(ifname_problem(ok), "") << ok;
  struct Bad {
    std::string name, why;
  };
  for (const Bad& b :
       std::vector<Bad>{{"", "empty"},
                        {"abcdefghijklmnop", "longer than 15 bytes"},
                        {"\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4",
                         "longer than 15 bytes"},
                        {".", "must not be"},
                        {"..", "must not be"},
                        {"a/b", "'/'"},
                        {"a:b", "':'"},
                        {"a b", "whitespace"},
                        {"a\vb", "whitespace"},
                        {"eth%d", "'%'"},
                        {"%", "'%'"},
                        {"lo", "loopback"},
                        {"e\xff", "UTF-8"}}) {
    EXPECT_NE(ifname_problem(b.name).find(b.why), std::string::npos)
        << b.name << ": " << ifname_problem(b.name);
  }
}

TEST(Ifname, ExistingNamesMayBeLoopbackOrCarryPercent) {
  EXPECT_EQ(ifname_problem("lo", IfnameUse::kExisting), "");
  EXPECT_EQ(ifname_problem("eth%d", IfnameUse::kExisting), "");
  for (const char* bad : {"", "a b", "a/b", "..", "abcdefghijklmnop", "e\xff"})
    EXPECT_NE(ifname_problem(bad, IfnameUse::kExisting), "") << bad;
}

TEST(Ifname, CheckThrowsTheCallersCodeNamingFieldAndValue) {
  try {
    check_ifname("eth%d", kInvalidConfig, "interface name");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), kInvalidConfig);
    EXPECT_EQ(e.msg().rfind("invalid interface name \"eth%d\": contains '%'", 0), 0u) << e.msg();
  }
  EXPECT_NO_THROW(check_ifname("eth0", kInvalidEnvironment, "CNI_IFNAME"));
}

// The skip test must never say "absent" for a string a parser would find, whatever the text.
TEST(MayContainJsonString, SaysAbsentOnlyWhenTheStringCannotBeThere) {
  EXPECT_TRUE(may_contain_json_string(R"({"coordination":{}})", "coordination"));
  EXPECT_TRUE(may_contain_json_string(R"({"type":"macvlan"})", "macvlan"));
  EXPECT_FALSE(may_contain_json_string(R"({"type":"bridge"})", "macvlan"));
  // A word inside a longer string is not that string.
  EXPECT_FALSE(may_contain_json_string(R"({"type":"macvlan2"})", "macvlan"));
  EXPECT_FALSE(may_contain_json_string(R"({"coordinationX":1})", "coordination"));
  // An escape could spell it any way: then only a parser can tell.
  EXPECT_TRUE(may_contain_json_string(R"({"type":"m\u0061cvlan"})", "macvlan"));
  EXPECT_TRUE(may_contain_json_string(R"({"x":"a\"b"})", "macvlan"));
  for (const auto& [text, word] : std::vector<std::pair<std::string, std::string>>{
           {R"({"a":["coordination"]})", "coordination"},
           {R"({"plugins":[{"type":"ipvlan","cnimuxProbe":{}}]})", "cnimuxProbe"},
           {R"({"plugins":[{"type":"ipvlan","cnimuxProbe":{}}]})", "ipvlan"}}) {
    EXPECT_TRUE(may_contain_json_string(text, word)) << text << " / " << word;
  }
}

}  // namespace
}  // namespace cni
