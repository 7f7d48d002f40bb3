// Tests of bounded JSON parsing: the depth and size limits, the error codes and sources, and
// that a 100,000-deep document is refused without building (or recursing into) it.
#include "cni/json_limits.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cni/error.h"

namespace cni {
namespace {

using ::testing::HasSubstr;

// `depth` arrays nested in each other: depth 1 is "[]".
std::string nested_arrays(int depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

// `depth` objects nested under the key "a": depth 1 is {"a":0}.
std::string nested_objects(int depth) {
  std::string out;
  for (int i = 0; i < depth; ++i) out += "{\"a\":";
  out += "0";
  out += std::string(depth, '}');
  return out;
}

TEST(JsonLimits, TheDocumentedLimitsKeepTheirPromises) {
  EXPECT_GE(kMaxJsonDepth, 64);
  EXPECT_GE(kMaxStdinBytes, size_t{1} << 20);
  EXPECT_GE(kMaxNetworksAnnotationBytes, size_t{256} << 10);
  EXPECT_GE(kMaxNetworksPerPod, 64u);
}

TEST(JsonLimits, AcceptsNestingUpToTheLimit) {
  for (const std::string& doc : {nested_arrays(kMaxJsonDepth), nested_objects(kMaxJsonDepth)}) {
    JsonParse p = try_parse_json(doc);
    ASSERT_TRUE(p.value) << p.why;
    EXPECT_EQ(p.refusal, JsonRefusal::kNone);
    EXPECT_EQ(p.value->dump(), doc);
  }
  EXPECT_TRUE(try_parse_json("7").value);
  EXPECT_TRUE(try_parse_json(R"({"a": [1, {"b": "c"}], "d": null})").value);
}

TEST(JsonLimits, RefusesOneLevelPastTheLimit) {
  for (const std::string& doc :
       {nested_arrays(kMaxJsonDepth + 1), nested_objects(kMaxJsonDepth + 1)}) {
    JsonParse p = try_parse_json(doc);
    EXPECT_FALSE(p.value);
    EXPECT_EQ(p.refusal, JsonRefusal::kTooDeep);
    EXPECT_EQ(p.why, "JSON nested deeper than 128 levels");
  }
}

TEST(JsonLimits, RefusesAHundredThousandLevelsWithoutCrashing) {
  // Unbounded, this parses, and the first copy or dump overflows the stack.
  for (const std::string& doc : {nested_arrays(100000), nested_objects(100000)}) {
    EXPECT_EQ(try_parse_json(doc).refusal, JsonRefusal::kTooDeep);
  }
  // Unterminated, too: the limit is hit before the syntax error.
  EXPECT_EQ(try_parse_json(std::string(100000, '[')).refusal, JsonRefusal::kTooDeep);
}

TEST(JsonLimits, DepthCountsContainersInsideStrings) {
  // Brackets inside strings are text, not nesting.
  std::string doc = "[\"" + std::string(1000, '[') + "\"]";
  EXPECT_TRUE(try_parse_json(doc).value);
}

TEST(JsonLimits, ACallerMayAskForAnotherDepth) {
  EXPECT_TRUE(try_parse_json(nested_arrays(3), {.max_depth = 3}).value);
  EXPECT_EQ(try_parse_json(nested_arrays(4), {.max_depth = 3}).refusal, JsonRefusal::kTooDeep);
  EXPECT_EQ(try_parse_json(nested_arrays(4), {.max_depth = 3}).why,
            "JSON nested deeper than 3 levels");
}

TEST(JsonLimits, RefusesTextPastTheSizeLimitBeforeParsing) {
  JsonParse p = try_parse_json("[1, 2, 3]", {.max_bytes = 8});
  EXPECT_EQ(p.refusal, JsonRefusal::kTooLarge);
  EXPECT_EQ(p.why, "9 bytes of JSON, more than the limit of 8");
  EXPECT_TRUE(try_parse_json("[1, 2, 3]", {.max_bytes = 9}).value);
  // Garbage past the limit is a size refusal, not a syntax error: it was never read.
  EXPECT_EQ(try_parse_json("not json", {.max_bytes = 3}).refusal, JsonRefusal::kTooLarge);
}

TEST(JsonLimits, AcceptsOneMebibyteByDefault) {
  std::string doc = "{\"blob\": \"" + std::string((size_t{1} << 20) - 12, 'x') + "\"}";
  ASSERT_GE(doc.size(), size_t{1} << 20);
  EXPECT_TRUE(try_parse_json(doc).value);
}

TEST(JsonLimits, SyntaxErrorsNameTheBytePosition) {
  JsonParse p = try_parse_json(R"({"a": x})");
  EXPECT_EQ(p.refusal, JsonRefusal::kSyntax);
  EXPECT_THAT(p.why, HasSubstr("invalid JSON at byte 7: "));
  EXPECT_EQ(try_parse_json("").refusal, JsonRefusal::kSyntax);
  // Invalid UTF-8 inside a string is a syntax error, not an exception later.
  EXPECT_EQ(try_parse_json("\"eth\xff\"").refusal, JsonRefusal::kSyntax);
}

TEST(JsonLimits, ParseJsonThrowsTheCallersCodeNamingTheSource) {
  try {
    parse_json(nested_arrays(100000), "NAD default/foo spec.config", kInvalidConfig);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), kInvalidConfig);
    EXPECT_EQ(e.msg(), "NAD default/foo spec.config: JSON nested deeper than 128 levels");
  }
  try {
    parse_json("{", "stdin", kDecodeFailure);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), kDecodeFailure);
    EXPECT_THAT(e.msg(), HasSubstr("stdin: invalid JSON at byte 2"));
  }
  EXPECT_EQ(parse_json(R"({"a": 1})", "x", kDecodeFailure)["a"], 1);
}

TEST(JsonLimits, NumberTooLargeForADoubleIsRefusedNotAnAbort) {
  // nlohmann throws out_of_range (not parse_error) for these; the fuzzers found it.
  for (const char* text : {R"({"x": 1e999})", R"({"x": -3e544})", "1111111E1111"}) {
    JsonParse parsed = try_parse_json(text);
    EXPECT_FALSE(parsed.value.has_value()) << text;
    EXPECT_EQ(parsed.refusal, JsonRefusal::kSyntax) << text;
  }
  try {
    parse_json(R"({"x": 1e999})", "stdin", kDecodeFailure);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), kDecodeFailure);
    EXPECT_THAT(e.msg(), HasSubstr("stdin: invalid JSON"));
  }
}

}  // namespace
}  // namespace cni
