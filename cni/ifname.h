// The one rule for interface names, shared by CNI_IFNAME, the networks annotation, the plan
// and the netlink helpers. Each caller picks the CNI code: 4 for the environment, 7 for config.
#pragma once

#include <string>
#include <string_view>

namespace cni {

enum class IfnameUse {
  kNew,       // a name a link will be given (ADD, CHECK, the plan, create/rename): every rule
  kExisting,  // a link that may already exist (a lookup, a DEL): the kernel's rules and UTF-8
};

// "" when `name` is acceptable, else why not. The kernel's own rules: not empty, at most 15
// bytes (IFNAMSIZ - 1), not "." or "..", no '/', ':' or whitespace. Then valid UTF-8 (names
// travel in JSON results and state). For kNew also: no '%' (the kernel expands "eth%d" into
// the first free "ethN", so the link would carry a name cnimux never learns, and leak), and
// not "lo" (every netns has it; DEL could never remove it). kExisting lets those two pass:
// looking one up finds nothing or loopback, and a DEL must still finish for a container
// that an older cnimux added under such a name.
std::string ifname_problem(std::string_view name, IfnameUse use = IfnameUse::kNew);

// Throws Error(code, "invalid <field> \"<name>\": <problem>") when ifname_problem finds one.
void check_ifname(std::string_view name, int code, std::string_view field,
                  IfnameUse use = IfnameUse::kNew);

}  // namespace cni
