// map_executable_on_demand(): afterwards every read-only mapping of this test's own
// executable carries the kernel's "rr" flag (MADV_RANDOM) in /proc/self/smaps, and the
// writable ones do not.
#include "cni/startup.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace cni {
namespace {

struct Mapping {
  std::string perms;
  std::vector<std::string> flags;
};

// The mappings of the file `path` in /proc/self/smaps, with their VmFlags.
std::vector<Mapping> mappings_of(const std::string& path) {
  std::vector<Mapping> out;
  std::ifstream smaps("/proc/self/smaps");
  bool ours = false;
  for (std::string line; std::getline(smaps, line);) {
    std::istringstream f(line);
    std::string first;
    f >> first;
    if (first.find('-') != std::string::npos && first.back() != ':') {  // a mapping's header
      std::string perms, offset, dev, inode, file;
      f >> perms >> offset >> dev >> inode >> file;
      ours = file == path;
      if (ours) out.push_back({perms, {}});
    } else if (ours && first == "VmFlags:") {
      for (std::string flag; f >> flag;) out.back().flags.push_back(flag);
    }
  }
  return out;
}

bool has(const std::vector<std::string>& flags, const std::string& flag) {
  for (const auto& f : flags)
    if (f == flag) return true;
  return false;
}

std::string own_executable() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

TEST(StartupTest, ReadOnlySegmentsOfTheExecutableAreMappedOnDemand) {
  const std::string exe = own_executable();
  ASSERT_FALSE(exe.empty());
  map_executable_on_demand();
  const std::vector<Mapping> maps = mappings_of(exe);
  ASSERT_FALSE(maps.empty()) << "no mapping of " << exe << " in /proc/self/smaps";
  bool code_seen = false;
  for (const auto& m : maps) {
    if (m.perms.find('w') != std::string::npos) {
      EXPECT_FALSE(has(m.flags, "rr")) << "a writable mapping (" << m.perms << ") was advised";
      continue;
    }
    // Read-only data left read-only after relocation (RELRO) belongs to a writable segment.
    if (m.perms == "r--p" && !has(m.flags, "rr")) continue;
    EXPECT_TRUE(has(m.flags, "rr")) << "a " << m.perms << " mapping is not advised";
    if (m.perms.find('x') != std::string::npos) code_seen = true;
  }
  EXPECT_TRUE(code_seen) << "no code mapping of " << exe << " was advised";
}

}  // namespace
}  // namespace cni
