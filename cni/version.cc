// CNI version strings: the supported set and semantic ordering.
#include "cni/version.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "cni/error.h"

namespace cni {
namespace {

std::array<int, 3> parse_triplet(std::string_view v) {
  std::array<int, 3> out{0, 0, 0};
  size_t part = 0;
  const char* p = v.data();
  const char* end = v.data() + v.size();
  while (true) {
    if (part >= out.size()) break;
    auto [next, ec] = std::from_chars(p, end, out[part]);
    if (ec != std::errc() || next == p) {
      throw Error(kIncompatibleVersion, "invalid cniVersion \"" + std::string(v) + "\"");
    }
    ++part;
    p = next;
    if (p == end) break;
    if (*p != '.')
      throw Error(kIncompatibleVersion, "invalid cniVersion \"" + std::string(v) + "\"");
    ++p;
  }
  if (part != 3 || p != end) {
    throw Error(kIncompatibleVersion, "invalid cniVersion \"" + std::string(v) + "\"");
  }
  return out;
}

}  // namespace

const std::vector<std::string>& supported_versions() {
  static const std::vector<std::string> kVersions = {"0.1.0", "0.2.0", "0.3.0", "0.3.1",
                                                     "0.4.0", "1.0.0", "1.1.0"};
  return kVersions;
}

const std::string& latest_version() {
  return supported_versions().back();
}

int compare_versions(std::string_view a, std::string_view b) {
  auto x = parse_triplet(a);
  auto y = parse_triplet(b);
  for (size_t i = 0; i < 3; ++i) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

bool is_supported_version(std::string_view v) {
  const auto& all = supported_versions();
  return std::find(all.begin(), all.end(), v) != all.end();
}

std::string newest_common_version(const std::vector<std::string>& ours,
                                  const std::vector<std::string>& theirs) {
  std::string best;
  for (const auto& v : ours) {
    if (std::find(theirs.begin(), theirs.end(), v) == theirs.end()) continue;
    try {
      compare_versions(v, v);  // a malformed version is never a candidate, even the first
      if (best.empty() || compare_versions(v, best) > 0) best = v;
    } catch (const Error&) {
      // A malformed version in someone's list is simply not a candidate.
    }
  }
  return best;
}

}  // namespace cni
