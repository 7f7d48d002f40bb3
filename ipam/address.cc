// 128-bit address arithmetic, parsing and formatting (inet_pton/inet_ntop underneath).
#include "ipam/address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace ipam {
namespace {

constexpr U128 kV4MappedTag = U128(0xffff) << 32;
constexpr U128 kAllOnes = ~U128(0);

U128 from_bytes(const uint8_t* bytes, size_t n) {
  U128 v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | bytes[i];
  return v;
}

// Mask with the low `host_bits` bits set.
U128 host_mask(int host_bits) {
  if (host_bits <= 0) return 0;
  if (host_bits >= 128) return kAllOnes;
  return (U128(1) << host_bits) - 1;
}

}  // namespace

std::optional<Address> Address::parse(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  std::string s(text);
  if (s.find(':') == std::string::npos) {
    in_addr a4{};
    if (inet_pton(AF_INET, s.c_str(), &a4) != 1) return std::nullopt;
    return v4(ntohl(a4.s_addr));
  }
  in6_addr a6{};
  if (inet_pton(AF_INET6, s.c_str(), &a6) != 1) return std::nullopt;
  U128 v = from_bytes(a6.s6_addr, 16);
  // Go treats ::ffff:a.b.c.d as IPv4; so do we, which also keeps storage keys unique.
  if ((v >> 32) == 0xffff) return v4(static_cast<uint32_t>(v));
  return v6(v);
}

Address Address::from_key(const std::array<uint8_t, 16>& key) {
  U128 v = from_bytes(key.data(), key.size());
  if ((v >> 32) == 0xffff) return v4(static_cast<uint32_t>(v));
  return v6(v);
}

std::array<uint8_t, 16> Address::key() const {
  U128 v = v4_ ? (kV4MappedTag | value_) : value_;
  std::array<uint8_t, 16> out{};
  for (int i = 15; i >= 0; --i) {
    out[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
  return out;
}

U128 Address::family_max() const {
  return v4_ ? U128(0xffffffffu) : kAllOnes;
}

std::string Address::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (v4_) {
    in_addr a4{};
    a4.s_addr = htonl(static_cast<uint32_t>(value_));
    inet_ntop(AF_INET, &a4, buf, sizeof(buf));
  } else {
    in6_addr a6{};
    auto k = key();
    std::copy(k.begin(), k.end(), a6.s6_addr);
    inet_ntop(AF_INET6, &a6, buf, sizeof(buf));
  }
  return buf;
}

Address Address::next() const {
  return is_family_max() ? *this : Address(value_ + 1, v4_);
}
Address Address::prev() const {
  return value_ == 0 ? *this : Address(value_ - 1, v4_);
}

std::strong_ordering operator<=>(const Address& a, const Address& b) {
  if (a.v4_ != b.v4_) return a.v4_ ? std::strong_ordering::less : std::strong_ordering::greater;
  if (a.value_ == b.value_) return std::strong_ordering::equal;
  return a.value_ < b.value_ ? std::strong_ordering::less : std::strong_ordering::greater;
}

std::optional<Prefix> Prefix::parse(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto addr = Address::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  std::string_view len_text = text.substr(slash + 1);
  int len = -1;
  auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
  if (ec != std::errc() || end != len_text.data() + len_text.size() || len_text.empty()) {
    return std::nullopt;
  }
  // An IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) becomes the IPv4 prefix it names.
  bool mapped_text = text.substr(0, slash).find(':') != std::string_view::npos && addr->is_v4();
  if (mapped_text) len -= 96;
  if (len < 0 || len > addr->bits()) return std::nullopt;
  return Prefix{*addr, len};
}

Address Prefix::network() const {
  U128 host = host_mask(addr.bits() - len);
  U128 v = addr.value() & ~host & addr.family_max();
  return addr.is_v4() ? Address::v4(static_cast<uint32_t>(v)) : Address::v6(v);
}

Address Prefix::last() const {
  U128 host = host_mask(addr.bits() - len);
  U128 v = network().value() | host;
  return addr.is_v4() ? Address::v4(static_cast<uint32_t>(v)) : Address::v6(v);
}

bool Prefix::contains(const Address& a) const {
  if (a.is_v4() != addr.is_v4()) return false;
  return network() <= a && a <= last();
}

U128 Prefix::size() const {
  int host_bits = addr.bits() - len;
  if (host_bits >= 128) return kAllOnes;
  return U128(1) << host_bits;
}

std::string Prefix::str() const {
  return addr.str() + "/" + std::to_string(len);
}

std::string to_decimal(U128 n) {
  if (n == 0) return "0";
  std::string out;
  while (n > 0) {
    out.push_back(static_cast<char>('0' + static_cast<int>(n % 10)));
    n /= 10;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace ipam
