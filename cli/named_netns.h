// Named network namespaces (/run/netns/NAME), as `ip netns` and container runtimes keep them:
// whether one exists, and creating and deleting one through iproute2, so the bind mount and
// the shared /run/netns mount are made exactly as every other tool on the node expects.
#pragma once

#include <string>

namespace cli {

inline constexpr const char* kNetnsRunDir = "/run/netns";

// Throws cni::Error(kInvalidConfig) naming `name` unless it can name a netns: 1 to 255 bytes
// of [A-Za-z0-9_.-], not "." or "..".
void validate_netns_name(const std::string& name);

std::string netns_path(const std::string& name);  // /run/netns/<name>

// True when /run/netns/<name> is a live namespace (an nsfs mount); false when absent or only
// the empty file a removed namespace leaves.
bool netns_exists(const std::string& name);

// `ip netns add NAME`; cli::StateError with ip's message on failure.
void create_netns(const std::string& name);
// `ip netns delete NAME` when it exists (a leftover empty file is removed too).
void delete_netns(const std::string& name);

}  // namespace cli
