// Ethernet addresses as the net/ stage passes them around and prints them.
#pragma once

#include <array>
#include <string>

namespace net {

using Mac = std::array<unsigned char, 6>;

// "aa:bb:cc:dd:ee:ff" for the six bytes at `bytes`.
std::string format_mac(const unsigned char* bytes);

}  // namespace net
