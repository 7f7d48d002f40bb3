// IP addresses and prefixes as 128-bit integers, so range arithmetic is exact for IPv6 /64
// and wider. IPv4 lives in the IPv4-mapped space (::ffff:a.b.c.d) for storage and ordering.
#pragma once

#include <array>
#include <compare>
#include <optional>
#include <string>
#include <string_view>

namespace ipam {

using U128 = unsigned __int128;

class Address {
 public:
  Address() = default;
  // `value` is the address inside its family: 0..2^32-1 for IPv4.
  static Address v4(uint32_t value) { return Address(value, true); }
  static Address v6(U128 value) { return Address(value, false); }

  // Parses "10.1.2.3" or "fd00::1"; nullopt for anything else (no prefix, no zone).
  static std::optional<Address> parse(std::string_view text);
  // 16 bytes, big endian; IPv4 as ::ffff:a.b.c.d (parse() folds IPv4-mapped IPv6 text into
  // IPv4, so keys never collide). Byte order of keys equals address order within a family.
  static Address from_key(const std::array<uint8_t, 16>& key);
  std::array<uint8_t, 16> key() const;

  bool is_v4() const { return v4_; }
  int bits() const { return v4_ ? 32 : 128; }
  U128 value() const { return value_; }
  // The last address of the family: 255.255.255.255 or ffff:...:ffff.
  U128 family_max() const;
  std::string str() const;

  // Saturating neighbours: next() of the family's last address is itself (callers check
  // is_family_max() first), prev() of zero is zero.
  Address next() const;
  Address prev() const;
  bool is_family_max() const { return value_ == family_max(); }
  // `this + n`, which must not leave the family (callers check with family_max()).
  Address plus(U128 n) const { return Address(value_ + n, v4_); }

  friend bool operator==(const Address&, const Address&) = default;
  // Orders IPv4 before IPv6, then by value.
  friend std::strong_ordering operator<=>(const Address& a, const Address& b);

 private:
  Address(U128 value, bool v4) : value_(value), v4_(v4) {}
  U128 value_ = 0;
  bool v4_ = true;
};

// An address with a prefix length, e.g. 10.1.0.0/16.
struct Prefix {
  Address addr;
  int len = 0;

  // Parses "10.1.0.0/16", keeping host bits as given (see is_network()).
  static std::optional<Prefix> parse(std::string_view text);
  // A bare address as a host prefix (/32 or /128).
  static Prefix host(const Address& a) { return Prefix{a, a.bits()}; }

  Address network() const;  // host bits cleared
  Address last() const;     // host bits set (the IPv4 broadcast)
  bool is_network() const { return addr == network(); }
  bool contains(const Address& a) const;
  // Number of addresses, 2^(bits-len); saturates at 2^128-1 for ::/0.
  U128 size() const;
  std::string str() const;
};

// Decimal rendering of a 128-bit count (for "pool of N addresses" messages).
std::string to_decimal(U128 n);

}  // namespace ipam
