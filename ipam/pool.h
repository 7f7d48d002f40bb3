// Which addresses a range set may hand out, and the round-robin search for a free one.
// Store-agnostic: a store supplies the held addresses as a sorted stream (HeldScan).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ipam/address.h"
#include "ipam/config.h"

namespace ipam {

// An inclusive address interval within one family.
struct Interval {
  Address first;
  Address last;
};

// The held addresses of a pool in some [from, to], ascending, read lazily so that finding a
// free address after the round-robin cursor costs one indexed seek in the common case.
class HeldScan {
 public:
  virtual ~HeldScan() = default;
  virtual std::optional<Address> next() = 0;  // nullopt at the end
};
using HeldScanFactory =
    std::function<std::unique_ptr<HeldScan>(const Address& from, const Address& to)>;

// One range's allocatable space: [rangeStart, rangeEnd] minus every gateway of the config,
// the IPv4 network and broadcast addresses, and the `exclude` list.
class RangeSpace {
 public:
  RangeSpace(const Range& range, const std::vector<Address>& gateways,
             const std::vector<Prefix>& exclude);

  const Range& range() const { return range_; }
  bool in_range(const Address& a) const { return range_.start <= a && a <= range_.end; }
  // Why `a` (inside the range) may not be handed out, e.g. "is the gateway of 10.1.0.0/24";
  // nullopt when it may.
  std::optional<std::string> reserved_reason(const Address& a) const;
  // The first allocatable address in [from, to], if any.
  std::optional<Address> first_allowed(const Address& from, const Address& to) const;
  U128 size() const { return size_; }  // number of allocatable addresses
  // The first allocatable address in [from, to] that `held` does not list, if any.
  std::optional<Address> first_free(const Address& from, const Address& to,
                                    const HeldScanFactory& held) const;

 private:
  Range range_;
  std::vector<Interval> reserved_;  // sorted, disjoint, non-adjacent, inside the range
  std::vector<Address> gateways_;
  std::vector<Prefix> exclude_;
  U128 size_ = 0;
};

// The allocatable space of one range set: its ranges in configured order.
class RangeSetSpace {
 public:
  RangeSetSpace(const RangeSet& set, const std::vector<Address>& gateways,
                const std::vector<Prefix>& exclude);

  const std::vector<RangeSpace>& ranges() const { return ranges_; }
  // Index of the range whose [rangeStart, rangeEnd] holds `a`, or -1.
  int range_of(const Address& a) const;
  U128 size() const;             // allocatable addresses over all ranges (saturating)
  std::string describe() const;  // "10.1.0.2-10.1.0.254, 10.2.0.2-10.2.0.254"

  // Round robin: the first free address after `cursor` (the last one handed out), in
  // range order, wrapping around once; nullopt when every allocatable address is held.
  std::optional<Address> find_free(const std::optional<Address>& cursor,
                                   const HeldScanFactory& held) const;

 private:
  std::vector<RangeSpace> ranges_;
};

// The spaces of every range set of `cfg`, indexed like cfg.range_sets.
std::vector<RangeSetSpace> build_spaces(const IpamConfig& cfg);

}  // namespace ipam
