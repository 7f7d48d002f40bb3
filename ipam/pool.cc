// Allocatable space of ranges and range sets, and the round-robin free-address search.
#include "ipam/pool.h"

#include <algorithm>

namespace ipam {
namespace {

// Adds [first, last] ∩ [lo, hi] to `out` when they meet and share a family.
void add_clipped(std::vector<Interval>& out, Address first, Address last, const Address& lo,
                 const Address& hi) {
  if (first.is_v4() != lo.is_v4()) return;
  if (last < lo || hi < first) return;
  out.push_back({std::max(first, lo), std::min(last, hi)});
}

// Sorts and merges overlapping or adjacent intervals.
std::vector<Interval> merge(std::vector<Interval> in) {
  std::sort(in.begin(), in.end(),
            [](const Interval& a, const Interval& b) { return a.first < b.first; });
  std::vector<Interval> out;
  for (const auto& iv : in) {
    bool touches =
        !out.empty() && (out.back().last.is_family_max() || iv.first <= out.back().last.next());
    if (touches) {
      out.back().last = std::max(out.back().last, iv.last);
    } else {
      out.push_back(iv);
    }
  }
  return out;
}

U128 saturating_add(U128 a, U128 b) {
  return a + b < a ? ~U128(0) : a + b;
}

}  // namespace

RangeSpace::RangeSpace(const Range& range, const std::vector<Address>& gateways,
                       const std::vector<Prefix>& exclude)
    : range_(range), gateways_(gateways), exclude_(exclude) {
  std::vector<Interval> reserved;
  for (const auto& g : gateways) add_clipped(reserved, g, g, range.start, range.end);
  if (range.subnet.addr.is_v4()) {
    Address net = range.subnet.network();
    Address bcast = range.subnet.last();
    add_clipped(reserved, net, net, range.start, range.end);
    add_clipped(reserved, bcast, bcast, range.start, range.end);
  }
  for (const auto& p : exclude)
    add_clipped(reserved, p.network(), p.last(), range.start, range.end);
  reserved_ = merge(std::move(reserved));
  size_ = range.end.value() - range.start.value() + 1;
  for (const auto& iv : reserved_) size_ -= iv.last.value() - iv.first.value() + 1;
}

std::optional<std::string> RangeSpace::reserved_reason(const Address& a) const {
  for (const auto& g : gateways_) {
    if (g == a) return "is a gateway";
  }
  if (a.is_v4() && a == range_.subnet.network()) {
    return "is the network address of " + range_.subnet.str();
  }
  if (a.is_v4() && a == range_.subnet.last()) {
    return "is the broadcast address of " + range_.subnet.str();
  }
  for (const auto& p : exclude_) {
    if (p.contains(a)) return "is excluded by \"" + p.str() + "\"";
  }
  return std::nullopt;
}

std::optional<Address> RangeSpace::first_allowed(const Address& from_in,
                                                 const Address& to_in) const {
  Address from = std::max(from_in, range_.start);
  Address to = std::min(to_in, range_.end);
  if (to < from) return std::nullopt;
  // The last reserved interval starting at or before `from` is the only one that can hold it.
  auto it = std::upper_bound(reserved_.begin(), reserved_.end(), from,
                             [](const Address& a, const Interval& iv) { return a < iv.first; });
  if (it != reserved_.begin()) {
    const Interval& iv = *std::prev(it);
    if (from <= iv.last) {
      if (iv.last.is_family_max()) return std::nullopt;
      from = iv.last.next();
    }
  }
  if (to < from) return std::nullopt;
  return from;
}

RangeSetSpace::RangeSetSpace(const RangeSet& set, const std::vector<Address>& gateways,
                             const std::vector<Prefix>& exclude) {
  for (const auto& r : set.ranges) ranges_.emplace_back(r, gateways, exclude);
}

int RangeSetSpace::range_of(const Address& a) const {
  for (size_t i = 0; i < ranges_.size(); ++i) {
    if (ranges_[i].in_range(a)) return static_cast<int>(i);
  }
  return -1;
}

U128 RangeSetSpace::size() const {
  U128 total = 0;
  for (const auto& r : ranges_) total = saturating_add(total, r.size());
  return total;
}

std::string RangeSetSpace::describe() const {
  std::string out;
  for (const auto& r : ranges_) {
    if (!out.empty()) out += ", ";
    out += r.range().start.str() + "-" + r.range().end.str();
  }
  return out;
}

namespace {

// The first free address of `space` in [from, to]: walk allocatable candidates and the
// ascending held stream together; the first candidate the stream skips is free.
std::optional<Address> search(const RangeSpace& space, const Address& from, const Address& to,
                              const HeldScanFactory& held) {
  auto c = space.first_allowed(from, to);
  if (!c) return std::nullopt;
  auto scan = held(*c, to);
  auto h = scan->next();
  while (true) {
    while (h && *h < *c) h = scan->next();
    if (!h || *c < *h) return c;
    if (*c == to) return std::nullopt;
    c = space.first_allowed(c->next(), to);
    if (!c) return std::nullopt;
  }
}

}  // namespace

std::optional<Address> RangeSpace::first_free(const Address& from, const Address& to,
                                              const HeldScanFactory& held) const {
  return search(*this, from, to, held);
}

std::optional<Address> RangeSetSpace::find_free(const std::optional<Address>& cursor,
                                                const HeldScanFactory& held) const {
  const int n = static_cast<int>(ranges_.size());
  const int i0 = cursor ? range_of(*cursor) : -1;
  if (i0 < 0) {
    for (const auto& r : ranges_) {
      if (auto a = search(r, r.range().start, r.range().end, held)) return a;
    }
    return std::nullopt;
  }
  const RangeSpace& r0 = ranges_[i0];
  if (*cursor < r0.range().end) {
    if (auto a = search(r0, cursor->next(), r0.range().end, held)) return a;
  }
  for (int k = 1; k < n; ++k) {
    const RangeSpace& r = ranges_[(i0 + k) % n];
    if (auto a = search(r, r.range().start, r.range().end, held)) return a;
  }
  // Wrapped around: the cursor's own range up to and including the cursor.
  return search(r0, r0.range().start, *cursor, held);
}

std::vector<RangeSetSpace> build_spaces(const IpamConfig& cfg) {
  std::vector<Address> gateways;
  for (const auto& set : cfg.range_sets) {
    for (const auto& r : set.ranges) gateways.push_back(r.gateway);
  }
  std::vector<RangeSetSpace> out;
  for (const auto& set : cfg.range_sets) out.emplace_back(set, gateways, cfg.exclude);
  return out;
}

}  // namespace ipam
