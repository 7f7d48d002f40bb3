// Per-namespace sysctls (/proc/sys/net/...): a sysctl file acts on the network namespace of
// the thread that opens it, so the write happens inside `ns` under an RAII NetnsEnter.
#pragma once

#include <string>

#include "net/netns.h"

namespace net {

// Writes `value` to /proc/sys/<key> (e.g. "net/ipv4/conf/eth0/arp_notify") inside `ns`; the
// calling thread is back in its own namespace on return. Error(5) naming the key otherwise.
void write_sysctl(const Netns& ns, const std::string& key, const std::string& value);

}  // namespace net
