// CNI specification versions: parsing, ordering and what each verb needs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cni {

// Every version this library reads and writes, oldest first.
const std::vector<std::string>& supported_versions();
// The newest version in supported_versions().
const std::string& latest_version();

// Semantic comparison of "a.b.c" strings: negative, zero or positive like strcmp.
// Throws Error(kIncompatibleVersion) when either side is not a version string.
int compare_versions(std::string_view a, std::string_view b);

bool is_supported_version(std::string_view v);

// The newest version in both lists, or "" when they share none.
std::string newest_common_version(const std::vector<std::string>& ours,
                                  const std::vector<std::string>& theirs);

}  // namespace cni
