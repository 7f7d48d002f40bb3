// Ethernet addresses (net/mac.h).
#include "net/mac.h"

#include <cstdio>

namespace net {

std::string format_mac(const unsigned char* b) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4],
                b[5]);
  return buf;
}

}  // namespace net
