// EtcdStore: the StoreTxn reads and writes as etcd keys, read at one revision and committed
// by one guarded txn. Keys (P = the configured prefix, components %-escaped):
//   P/pool/<pool>/addr/<32 hex digits>   the allocation record (JSON): the authority
//   P/pool/<pool>/cursor/<range set>     the round-robin cursor (address text)
//   P/cluster/<c>/node/<n>/own/<network>/<container>/<ifname>/<pool>/<hex>   node index
//   P/cluster/<c>/pod/<network>/<pod>/<ifname>/<pool>/<hex>   sticky index (pod identity)
// Index values are copies of the record, written in the same txn as the record.
// With per-node blocks (store.blockSize), also:
//   P/pool/<pool>/block/<hex of the block's first address>   the claim (JSON): who holds it
//   P/cluster/<c>/node/<n>/block/<pool>/<hex>                 a copy: this node's blocks
//   P/cluster/<c>/node/<n>/cursor/<pool>/<range set>          this node's round robin
// A block is a hint, not an authority: the address keys alone decide who holds an address.
#include "ipam/etcd_store.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <tuple>

#include "cni/error.h"
#include "cni/json_limits.h"

namespace ipam {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kPageSize = 512;

int64_t to_i64(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_string()) return std::stoll(it->get<std::string>());
  if (it->is_number_integer()) return it->get<int64_t>();
  return 0;
}

// A key component: bytes other than [A-Za-z0-9._:@-] as %XX, so '/' never splits one.
std::string esc(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == ':' || c == '@') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string unesc(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string hex_key(const Address& a) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (uint8_t b : a.key()) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

std::optional<Address> address_of_hex(const std::string& key) {
  if (key.size() < 32) return std::nullopt;
  std::array<uint8_t, 16> bytes{};
  for (size_t i = 0; i < 16; ++i) {
    bytes[i] = static_cast<uint8_t>(std::stoi(key.substr(key.size() - 32 + 2 * i, 2), nullptr, 16));
  }
  return Address::from_key(bytes);
}

// The first key after every key that starts with `prefix`.
std::string prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    unsigned char last = static_cast<unsigned char>(prefix.back());
    if (last < 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

json record_json(const Allocation& a) {
  return {{"pool", a.pool},
          {"address", a.address.str()},
          {"rangeSet", a.range_set},
          {"prefixLen", a.prefix_len},
          {"gateway", a.gateway ? a.gateway->str() : ""},
          {"network", a.owner.network},
          {"containerID", a.owner.container_id},
          {"ifname", a.owner.ifname},
          {"podRef", a.owner.pod_ref},
          {"created", a.created_unix},
          {"cluster", a.cluster},
          {"node", a.node}};
}

std::optional<Allocation> parse_record(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    Allocation a;
    a.pool = j.at("pool").get<std::string>();
    auto addr = Address::parse(j.at("address").get<std::string>());
    if (!addr) return std::nullopt;
    a.address = *addr;
    a.range_set = cni::json_integer<int>(j.at("rangeSet"), "rangeSet");
    a.prefix_len = cni::json_integer<int>(j.at("prefixLen"), "prefixLen");
    std::string gw = j.value("gateway", "");
    if (!gw.empty()) a.gateway = Address::parse(gw);
    a.owner.network = j.at("network").get<std::string>();
    a.owner.container_id = j.value("containerID", "");
    a.owner.ifname = j.value("ifname", "");
    a.owner.pod_ref = j.value("podRef", "");
    a.created_unix = cni::json_integer_or<int64_t>(j, "created", 0);
    a.cluster = j.value("cluster", "");
    a.node = j.value("node", "");
    return a;
  } catch (const std::exception&) {  // json's own, and json_integer's out_of_range
    return std::nullopt;
  }
}

// A block claim: which node of which cluster allocates in [first, first + size).
json block_json(const std::string& pool, const Address& first, int size,
                const EtcdStoreConfig& cfg) {
  return {{"pool", pool},     {"first", first.str()},
          {"size", size},     {"cluster", cfg.cluster},
          {"node", cfg.node}, {"claimed", static_cast<int64_t>(std::time(nullptr))}};
}

// One stretch of a range set to search, in round-robin order.
struct Segment {
  const RangeSpace* range;
  Address from;
  Address to;
};

// The range set in the order round robin visits it from `cursor` (the last address handed
// out): `after` is past the cursor to the end of its range, then the other ranges in order;
// `wrap` is the cursor's range from its start up to the cursor. No cursor (or one outside
// every range): every range in `after`, in order. As RangeSetSpace::find_free.
void round_robin_segments(const RangeSetSpace& space, const std::optional<Address>& cursor,
                          std::vector<Segment>& after, std::vector<Segment>& wrap) {
  const auto& ranges = space.ranges();
  const int n = static_cast<int>(ranges.size());
  const int i0 = cursor ? space.range_of(*cursor) : -1;
  if (i0 < 0) {
    for (const auto& r : ranges) after.push_back({&r, r.range().start, r.range().end});
    return;
  }
  const RangeSpace& r0 = ranges[i0];
  if (*cursor < r0.range().end) after.push_back({&r0, cursor->next(), r0.range().end});
  for (int k = 1; k < n; ++k) {
    const RangeSpace& r = ranges[(i0 + k) % n];
    after.push_back({&r, r.range().start, r.range().end});
  }
  wrap.push_back({&r0, r0.range().start, *cursor});
}

struct Kv {
  std::string key;
  std::string value;
  int64_t mod_revision = 0;
};

class EtcdTxn;

// Held addresses of one pool interval: etcd's keys at the transaction's revision, a page at
// a time, merged with the transaction's own writes.
class EtcdHeldScan : public HeldScan {
 public:
  EtcdHeldScan(EtcdTxn& txn, std::string from, std::string end);
  std::optional<Address> next() override;

 private:
  void fill();

  EtcdTxn& txn_;
  std::string next_from_;
  std::string end_;
  bool more_ = true;
  std::deque<std::string> page_;
  std::vector<std::string> written_;  // keys this txn put in [from, end), sorted
  size_t wi_ = 0;
};

class EtcdTxn : public StoreTxn {
 public:
  // `tried_claims`: the block keys the previous run of this transaction claimed (it lost a
  // conflict), empty on a first run.
  EtcdTxn(EtcdStore& store, EtcdDeadline deadline, std::set<std::string> tried_claims = {})
      : store_(store),
        cfg_(store.config()),
        deadline_(deadline),
        tried_claims_(std::move(tried_claims)) {}

  const std::set<std::string>& claims() const { return claims_; }

  // ---- the key-value layer: snapshot reads that record guards, buffered writes ----

  std::optional<Kv> get(const std::string& key) {
    if (auto w = writes_.find(key); w != writes_.end()) {
      if (!w->second) return std::nullopt;
      return Kv{key, *w->second, 0};
    }
    if (auto g = got_.find(key); g != got_.end()) {  // prefetched at the snapshot
      guards_.emplace(key, g->second ? g->second->mod_revision : 0);
      return g->second;
    }
    if (known_absent(key)) {  // a range read at the snapshot lacked it: no request
      guards_.emplace(key, 0);
      return std::nullopt;
    }
    json req = {{"key", base64_encode(key)}};
    pin(req);
    json resp = call("/v3/kv/range", req);
    std::optional<Kv> out;
    if (auto kvs = resp.find("kvs"); kvs != resp.end() && !kvs->empty()) out = decode((*kvs)[0]);
    guards_.emplace(key, out ? out->mod_revision : 0);
    return out;
  }

  // Keys in [start, end) at the snapshot (one page of at most `limit` when limit > 0, with
  // `more` set when there are others), without this txn's writes. The caller guards it.
  std::vector<Kv> range_page(const std::string& start, const std::string& end, bool keys_only,
                             int limit, bool* more) {
    if (keys_only) {
      if (auto cached = from_covered(start, end, limit, more)) return *cached;
    }
    json req = range_request(start, end, keys_only, limit);
    json resp = call("/v3/kv/range", req);
    return page_of(resp, start, end, more);
  }

  // Reads `keys` and the keys (only) of `ranges` in one request, an etcd txn without
  // compares (so all at one revision), for get() and range_page() to answer from. Guards
  // are recorded when those use the answers, as for any read.
  void prefetch(const std::vector<std::string>& keys,
                const std::vector<std::pair<std::string, std::string>>& ranges) {
    json ops = json::array();
    for (const auto& k : keys) {
      json req = {{"key", base64_encode(k)}};
      pin(req);
      ops.push_back({{"request_range", req}});
    }
    for (const auto& [start, end] : ranges) {
      ops.push_back({{"request_range", range_request(start, end, true, kPageSize)}});
    }
    json resp = call("/v3/kv/txn", {{"success", ops}});
    const json& answers = resp.value("responses", json::array());
    if (answers.size() != ops.size()) return;  // nothing cached: the reads go one by one
    for (size_t i = 0; i < keys.size(); ++i) {
      const json& r = answers[i].value("response_range", json::object());
      std::optional<Kv> kv;
      if (auto kvs = r.find("kvs"); kvs != r.end() && !kvs->empty()) kv = decode((*kvs)[0]);
      got_.emplace(keys[i], std::move(kv));
    }
    for (size_t i = 0; i < ranges.size(); ++i) {
      page_of(answers[keys.size() + i].value("response_range", json::object()), ranges[i].first,
              ranges[i].second, nullptr);
    }
  }

  // Every key in [start, end) as this txn sees it (its own writes applied), sorted.
  std::vector<Kv> range(const std::string& start, const std::string& end, bool keys_only) {
    std::map<std::string, Kv> seen;
    std::string from = start;
    bool more = true;
    while (more) {
      auto page = range_page(from, end, keys_only, kPageSize, &more);
      for (auto& kv : page) seen[kv.key] = kv;
      if (page.empty()) break;
      from = page.back().key + std::string(1, '\0');
    }
    range_guards_.emplace(start, end);
    for (auto it = writes_.lower_bound(start); it != writes_.end() && it->first < end; ++it) {
      if (it->second) {
        seen[it->first] = Kv{it->first, *it->second, 0};
      } else {
        seen.erase(it->first);
      }
    }
    std::vector<Kv> out;
    for (auto& [k, kv] : seen) out.push_back(std::move(kv));
    return out;
  }

  // A guarded key (one this txn read) or a key derived from one (an index key of a record
  // this txn read): the guard of its record covers it.
  void put(const std::string& key, std::string value) { writes_[key] = std::move(value); }
  void del(const std::string& key) { writes_[key] = std::nullopt; }

  const std::map<std::string, std::optional<std::string>>& writes() const { return writes_; }

  // Commits the writes, guarded by everything read. False on a conflict.
  bool commit() {
    if (writes_.empty()) return true;  // reads only: consistent at the snapshot
    json compare = json::array();
    for (const auto& [key, mod] : guards_) {
      compare.push_back({{"key", base64_encode(key)},
                         {"target", "MOD"},
                         {"result", "EQUAL"},
                         {"mod_revision", std::to_string(mod)}});
    }
    for (const auto& [start, end] : range_guards_) {
      compare.push_back({{"key", base64_encode(start)},
                         {"range_end", base64_encode(end)},
                         {"target", "MOD"},
                         {"result", "LESS"},
                         {"mod_revision", std::to_string(revision_ + 1)}});
    }
    json success = json::array();
    for (const auto& [key, value] : writes_) {
      if (value) {
        success.push_back(
            {{"request_put", {{"key", base64_encode(key)}, {"value", base64_encode(*value)}}}});
      } else {
        success.push_back({{"request_delete_range", {{"key", base64_encode(key)}}}});
      }
    }
    json resp = call("/v3/kv/txn", {{"compare", compare}, {"success", success}});
    return resp.value("succeeded", false);
  }

  // ---- keys ----

  std::string pool_dir(const std::string& pool) const {
    return cfg_.prefix + "/pool/" + esc(pool) + "/";
  }
  std::string addr_key(const std::string& pool, const Address& a) const {
    return pool_dir(pool) + "addr/" + hex_key(a);
  }
  std::string own_dir(const std::string& cluster, const std::string& node) const {
    return cfg_.prefix + "/cluster/" + esc(cluster) + "/node/" + esc(node) + "/own/";
  }
  std::string own_key(const Allocation& a) const {
    return own_dir(a.cluster, a.node) + esc(a.owner.network) + "/" + esc(a.owner.container_id) +
           "/" + esc(a.owner.ifname) + "/" + esc(a.pool) + "/" + hex_key(a.address);
  }
  std::string pod_dir(const std::string& cluster) const {
    return cfg_.prefix + "/cluster/" + esc(cluster) + "/pod/";
  }
  std::string pod_key(const Allocation& a) const {
    return pod_dir(a.cluster) + esc(a.owner.network) + "/" + esc(a.owner.pod_ref) + "/" +
           esc(a.owner.ifname) + "/" + esc(a.pool) + "/" + hex_key(a.address);
  }

  // ---- StoreTxn ----

  std::vector<Allocation> find_by_container(const std::string& network,
                                            const std::string& container_id,
                                            const std::string& ifname) override {
    std::string dir = own_dir(cfg_.cluster, cfg_.node) + esc(network) + "/" + esc(container_id) +
                      "/" + esc(ifname) + "/";
    // An ADD reads this first: with blocks, read what its allocation will read in the same
    // request (for the pools this handle allocated from before).
    // (At most 8 pools and range sets: one etcd txn holds 128 operations by default.)
    const auto& hinted = store_.cursor_hints();
    if (cfg_.block_size > 0 && got_.empty() && !hinted.empty() && hinted.size() <= 8) {
      read_ahead(hinted, {{dir, prefix_end(dir)}});
    }
    return authoritative(range(dir, prefix_end(dir), true));
  }

  std::vector<Allocation> find_by_pod(const std::string& network, const std::string& pod_ref,
                                      const std::string& ifname) override {
    std::string dir =
        pod_dir(cfg_.cluster) + esc(network) + "/" + esc(pod_ref) + "/" + esc(ifname) + "/";
    return authoritative(range(dir, prefix_end(dir), true));
  }

  std::vector<Allocation> list_network(const std::string& network) override {
    std::string dir = own_dir(cfg_.cluster, cfg_.node) + esc(network) + "/";
    std::vector<Allocation> out;
    for (const auto& kv : range(dir, prefix_end(dir), false)) {
      if (auto a = parse_record(kv.value)) out.push_back(std::move(*a));
    }
    return out;
  }

  std::vector<std::string> list_networks() override {
    std::string dir = own_dir(cfg_.cluster, cfg_.node);
    std::set<std::string> names;
    for (const auto& kv : range(dir, prefix_end(dir), true)) {
      names.insert(unesc(kv.key.substr(dir.size(), kv.key.find('/', dir.size()) - dir.size())));
    }
    return {names.begin(), names.end()};
  }

  std::optional<Allocation> find_address(const std::string& pool, const Address& a) override {
    auto kv = get(addr_key(pool, a));
    if (!kv) return std::nullopt;
    return parse_record(kv->value);
  }

  std::unique_ptr<HeldScan> scan_held(const std::string& pool, const Address& from,
                                      const Address& to) override {
    std::string start = addr_key(pool, from);
    std::string end = addr_key(pool, to) + std::string(1, '\0');
    return std::make_unique<EtcdHeldScan>(*this, start, end);
  }

  std::optional<Address> cursor(const std::string& pool, int range_set) override {
    auto kv = get(cursor_key(pool, range_set));
    if (!kv) return std::nullopt;
    return Address::parse(kv->value);
  }

  void set_cursor(const std::string& pool, int range_set, const Address& a) override {
    std::string key = cursor_key(pool, range_set);
    if (!guards_.count(key) && !writes_.count(key)) get(key);
    put(key, a.str());
  }

  void insert(const Allocation& a) override {
    if (get(addr_key(a.pool, a.address))) {
      throw cni::Error(
          cni::kIpamAddressTaken,
          "address " + a.address.str() + " is already allocated in pool \"" + a.pool + "\"");
    }
    Allocation rec = a;
    rec.cluster = cfg_.cluster;
    rec.node = cfg_.node;
    write_record(rec);
  }

  void bind(const std::string& pool, const Address& a, const std::string& container_id) override {
    auto kv = get(addr_key(pool, a));
    if (!kv) return;
    auto rec = parse_record(kv->value);
    if (!rec) return;
    del(own_key(*rec));
    rec->owner.container_id = container_id;
    if (!container_id.empty()) rec->node = cfg_.node;  // the node that runs it now owns it
    write_record(*rec);
  }

  void erase(const std::string& pool, const Address& a) override {
    std::string key = addr_key(pool, a);
    auto kv = get(key);
    if (!kv) return;
    if (auto rec = parse_record(kv->value)) {
      del(own_key(*rec));
      if (rec->owner.sticky()) del(pod_key(*rec));
    }
    del(key);
    if (cfg_.block_size > 0) emptied_.emplace(pool, block_first(a));
  }

  // ---- per-node blocks ----

  std::optional<Address> pick_free(const std::string& pool, int set,
                                   const RangeSetSpace& space) override {
    if (cfg_.block_size == 0) return StoreTxn::pick_free(pool, set, space);
    const std::string cursor_at = node_cursor_key(pool, set);
    if (!got_.count(cursor_at)) read_ahead({{pool, set}}, {});
    std::optional<Address> cursor;
    if (auto kv = get(cursor_at)) cursor = Address::parse(kv->value);
    std::vector<Segment> after, wrap;
    round_robin_segments(space, cursor, after, wrap);
    const std::vector<Address> own = own_blocks(pool);
    std::optional<Address> found = in_blocks(pool, own, after);  // 1: this node's, onwards
    if (!found) {                                                // 2: a new block
      std::vector<Segment> c_after = after, c_wrap = wrap;
      if (lost_claim_race(pool)) {
        // Another node took the block this one tried to claim in the previous run: nodes
        // that start together (no cursor yet) all try the same first free block, and would
        // go on racing for each next one in step. Look from a point of the range set that
        // this node's name decides instead, so that they spread out.
        c_after.clear();
        c_wrap.clear();
        round_robin_segments(space, spread_point(space), c_after, c_wrap);
      }
      found = claim_free_block(pool, c_after);
      if (!found) found = claim_free_block(pool, c_wrap);
    }
    if (!found) found = in_blocks(pool, own, wrap);  // 3: this node's, wrapped around
    // 4: every block is claimed and this node's are full: borrow a free address from another
    // node's block (its address key makes it ours alone), so a pool with free addresses is
    // never exhausted for want of a block.
    for (const auto* segs : {&after, &wrap}) {
      for (const auto& s : *segs) {
        if (!found) found = first_free(pool, *s.range, s.from, s.to);
      }
    }
    if (found) {
      put(cursor_at, found->str());
      store_.set_cursor_hint(pool, set, *found);  // a guess only: right once this commits
    }
    return found;
  }

  // One request for what allocating in a block reads in the common case, for each (pool,
  // range set) of `sets`: the node's cursor, its blocks, and the held addresses after the
  // cursor in the cursor's block, taking the cursor this handle last wrote as the guess (it
  // is this node's: only another process of the node moves it); plus `ranges`.
  void read_ahead(const std::vector<std::pair<std::string, int>>& sets,
                  std::vector<std::pair<std::string, std::string>> ranges) {
    std::vector<std::string> keys;
    std::set<std::string> pools;
    for (const auto& [pool, set] : sets) {
      keys.push_back(node_cursor_key(pool, set));
      if (pools.insert(pool).second) {
        const std::string dir = node_dir() + "block/" + esc(pool) + "/";
        ranges.emplace_back(dir, prefix_end(dir));
      }
      const std::optional<Address> hint = store_.cursor_hint(pool, set);
      if (hint && !hint->is_family_max()) {
        ranges.emplace_back(addr_key(pool, hint->next()),
                            addr_key(pool, block_last(block_first(*hint))) + '\0');
      }
    }
    prefetch(keys, ranges);
  }

  void release_empty_blocks() override {
    if (cfg_.block_size == 0) return;
    const std::string dir = node_dir() + "block/";
    for (const auto& kv : range(dir, prefix_end(dir), true)) {
      size_t slash = kv.key.rfind('/');
      auto first = address_of_hex(kv.key);
      if (!first || slash <= dir.size()) continue;
      std::string pool = unesc(kv.key.substr(dir.size(), slash - dir.size()));
      if (block_empty(pool, *first)) hand_back(pool, *first);
    }
  }

  // Before commit: a block of this node that the txn's releases left empty goes back to the
  // pool, unless it is the node's last block of its family in the pool (kept, so that a node
  // cycling one pod does not claim and hand back a block at every ADD and DEL).
  void settle_blocks() {
    for (const auto& [pool, first] : emptied_) {
      if (!get(node_block_key(pool, first))) continue;  // another node's: borrowed from it
      size_t same_family = 0;
      for (const auto& b : own_blocks(pool)) same_family += b.is_v4() == first.is_v4();
      if (same_family > 1 && block_empty(pool, first)) hand_back(pool, first);
    }
    emptied_.clear();
  }

  // Every record under the prefix, for list_all and verify.
  std::vector<Kv> everything() {
    std::string dir = cfg_.prefix + "/";
    return range(dir, prefix_end(dir), false);
  }

 private:
  friend class EtcdHeldScan;

  std::string cursor_key(const std::string& pool, int set) const {
    return pool_dir(pool) + "cursor/" + std::to_string(set);
  }

  std::string node_dir() const {
    return cfg_.prefix + "/cluster/" + esc(cfg_.cluster) + "/node/" + esc(cfg_.node) + "/";
  }
  std::string block_key(const std::string& pool, const Address& first) const {
    return pool_dir(pool) + "block/" + hex_key(first);
  }
  std::string node_block_key(const std::string& pool, const Address& first) const {
    return node_dir() + "block/" + esc(pool) + "/" + hex_key(first);
  }
  std::string node_cursor_key(const std::string& pool, int set) const {
    return node_dir() + "cursor/" + esc(pool) + "/" + std::to_string(set);
  }

  // The block holding `a`: blocks are aligned to their size, so every node (and cluster)
  // agrees on them whatever its ranges.
  Address block_first(const Address& a) const {
    const U128 v = a.value() - a.value() % static_cast<U128>(cfg_.block_size);
    return a.is_v4() ? Address::v4(static_cast<uint32_t>(v)) : Address::v6(v);
  }
  Address block_last(const Address& first) const { return first.plus(cfg_.block_size - 1); }

  // This node's blocks of `pool`, ascending (the range is guarded: only this node writes it).
  std::vector<Address> own_blocks(const std::string& pool) {
    const std::string dir = node_dir() + "block/" + esc(pool) + "/";
    std::vector<Address> out;
    for (const auto& kv : range(dir, prefix_end(dir), true)) {
      if (auto a = address_of_hex(kv.key)) out.push_back(*a);
    }
    return out;
  }

  std::optional<Address> first_free(const std::string& pool, const RangeSpace& range,
                                    const Address& from, const Address& to) {
    return range.first_free(
        from, to, [&](const Address& f, const Address& t) { return scan_held(pool, f, t); });
  }

  // The first free address in `segs` that lies in one of `blocks` (this node's).
  std::optional<Address> in_blocks(const std::string& pool, const std::vector<Address>& blocks,
                                   const std::vector<Segment>& segs) {
    for (const auto& s : segs) {
      for (const auto& first : blocks) {
        const Address last = block_last(first);
        if (first.is_v4() != s.from.is_v4() || last < s.from || s.to < first) continue;
        if (auto a = first_free(pool, *s.range, std::max(first, s.from), std::min(last, s.to))) {
          return a;
        }
      }
    }
    return std::nullopt;
  }

  // The first free address in `segs` whose block nobody has claimed; claims that block for
  // this node in this txn (created only if still absent at commit).
  std::optional<Address> claim_free_block(const std::string& pool,
                                          const std::vector<Segment>& segs) {
    for (const auto& s : segs) {
      const std::set<std::string> claimed =
          keys_in(block_key(pool, block_first(s.from)), block_key(pool, s.to) + '\0');
      for (auto c = s.range->first_allowed(s.from, s.to); c;) {
        const Address first = block_first(*c);
        const Address last = block_last(first);
        if (!claimed.count(block_key(pool, first))) {
          if (auto a = first_free(pool, *s.range, *c, std::min(last, s.to))) {
            claim(pool, first);
            return a;
          }
        }
        if (!(last < s.to)) break;
        c = s.range->first_allowed(last.next(), s.to);  // skips blocks with nothing to hand out
      }
    }
    return std::nullopt;
  }

  // Whether a block key the previous run claimed in `pool` is now another node's (a claim
  // this node just lost to it).
  bool lost_claim_race(const std::string& pool) {
    const std::string dir = pool_dir(pool) + "block/";
    for (const auto& key : tried_claims_) {
      if (key.rfind(dir, 0) != 0) continue;
      auto first = address_of_hex(key);
      if (first && get(key) && !get(node_block_key(pool, *first))) return true;
    }
    return false;
  }

  // An address of the range set that only this node's name decides (FNV-1a, so every
  // build agrees): racing nodes get different ones.
  std::optional<Address> spread_point(const RangeSetSpace& space) const {
    uint64_t h = 14695981039346656037ull;
    for (unsigned char c : cfg_.cluster + "/" + cfg_.node) h = (h ^ c) * 1099511628211ull;
    const auto& ranges = space.ranges();
    const Range& r = ranges[h % ranges.size()].range();
    const U128 span = r.end.value() - r.start.value();
    const U128 wide = (U128{h} << 64) | (h * 0x9E3779B97F4A7C15ull);
    return span == ~U128{0} ? r.start.plus(wide) : r.start.plus(wide % (span + 1));
  }

  void claim(const std::string& pool, const Address& first) {
    const std::string key = block_key(pool, first);
    claims_.insert(key);
    get(key);  // the guard: the claim commits only while the block key is still absent
    std::string text = block_json(pool, first, cfg_.block_size, cfg_).dump();
    put(key, text);
    put(node_block_key(pool, first), text);
  }

  void hand_back(const std::string& pool, const Address& first) {
    get(block_key(pool, first));  // guarded: deleted only as this txn saw it
    del(block_key(pool, first));
    del(node_block_key(pool, first));
  }

  // Whether no address of the block is held, as this txn sees it (the block's address keys
  // are guarded: an address another txn takes in it meanwhile is a conflict).
  bool block_empty(const std::string& pool, const Address& first) {
    const std::string start = addr_key(pool, first);
    const std::string end = addr_key(pool, block_last(first)) + '\0';
    int deleted = 0;
    for (auto it = writes_.lower_bound(start); it != writes_.end() && it->first < end; ++it) {
      if (it->second) return false;  // this txn allocated in it
      ++deleted;
    }
    range_guards_.emplace(start, end);
    bool more = false;
    for (const auto& kv : range_page(start, end, true, deleted + 1, &more)) {
      if (!writes_.count(kv.key)) return false;  // held, and not released by this txn
    }
    return true;
  }

  // Keys in [start, end) as this txn sees them, unguarded (a decision taken on them is
  // guarded by a get() of the key it acts on).
  std::set<std::string> keys_in(const std::string& start, const std::string& end) {
    std::set<std::string> out;
    std::string from = start;
    for (bool more = true; more;) {
      auto page = range_page(from, end, true, kPageSize, &more);
      for (auto& kv : page) out.insert(kv.key);
      if (page.empty()) break;
      from = page.back().key + std::string(1, '\0');
    }
    for (auto it = writes_.lower_bound(start); it != writes_.end() && it->first < end; ++it) {
      if (it->second) {
        out.insert(it->first);
      } else {
        out.erase(it->first);
      }
    }
    return out;
  }

  void write_record(const Allocation& rec) {
    std::string text = record_json(rec).dump();
    put(addr_key(rec.pool, rec.address), text);
    put(own_key(rec), text);
    if (rec.owner.sticky()) put(pod_key(rec), text);
  }

  // The records behind index keys, each read from (and guarded on) its address key, so that
  // a record returned unchanged is still held when the txn commits.
  std::vector<Allocation> authoritative(const std::vector<Kv>& index) {
    std::vector<Allocation> out;
    for (const auto& kv : index) {
      size_t hex_at = kv.key.rfind('/');
      size_t pool_at = kv.key.rfind('/', hex_at - 1);
      std::string pool = unesc(kv.key.substr(pool_at + 1, hex_at - pool_at - 1));
      auto addr = address_of_hex(kv.key);
      if (!addr) continue;
      if (auto a = find_address(pool, *addr)) out.push_back(std::move(*a));
    }
    std::sort(out.begin(), out.end(),
              [](const Allocation& a, const Allocation& b) { return a.range_set < b.range_set; });
    return out;
  }

  void pin(json& req) {
    if (revision_ > 0) req["revision"] = std::to_string(revision_);
  }

  json range_request(const std::string& start, const std::string& end, bool keys_only, int limit) {
    json req = {{"key", base64_encode(start)}, {"range_end", base64_encode(end)}};
    if (keys_only) req["keys_only"] = true;
    if (limit > 0) req["limit"] = std::to_string(limit);
    pin(req);
    return req;
  }

  // The kvs of a range answer for [start, end), remembered as covering the interval they
  // span (all of it unless more follow).
  std::vector<Kv> page_of(const json& resp, const std::string& start, const std::string& end,
                          bool* more_out) {
    std::vector<Kv> out;
    if (auto kvs = resp.find("kvs"); kvs != resp.end()) {
      for (const auto& kv : *kvs) out.push_back(decode(kv));
    }
    const bool more = resp.value("more", false);
    if (more_out) *more_out = more;
    if (!more || !out.empty()) {
      Covered c{start, more ? out.back().key + std::string(1, '\0') : end, {}};
      for (const auto& kv : out) c.keys.push_back(kv.key);
      covered_.push_back(std::move(c));
    }
    return out;
  }

  // A page of [start, end) from an interval read before at the snapshot, if one holds it.
  std::optional<std::vector<Kv>> from_covered(const std::string& start, const std::string& end,
                                              int limit, bool* more) {
    for (const auto& c : covered_) {
      if (start < c.start || c.end < end) continue;
      std::vector<Kv> out;
      bool truncated = false;
      for (auto it = std::lower_bound(c.keys.begin(), c.keys.end(), start);
           it != c.keys.end() && *it < end; ++it) {
        if (limit > 0 && static_cast<int>(out.size()) == limit) {
          truncated = true;
          break;
        }
        out.push_back(Kv{*it, "", 0});
      }
      if (more) *more = truncated;
      return out;
    }
    return std::nullopt;
  }

  bool known_absent(const std::string& key) const {
    for (const auto& c : covered_) {
      if (key < c.start || !(key < c.end)) continue;
      if (!std::binary_search(c.keys.begin(), c.keys.end(), key)) return true;
    }
    return false;
  }

  json call(const std::string& path, const json& req) {
    store_.count_request();
    json resp = store_.client().call(path, req, deadline_);
    if (revision_ == 0) {
      if (auto h = resp.find("header"); h != resp.end()) revision_ = to_i64(*h, "revision");
    }
    return resp;
  }

  static Kv decode(const json& kv) {
    return Kv{base64_decode(kv.value("key", "")), base64_decode(kv.value("value", "")),
              to_i64(kv, "mod_revision")};
  }

  EtcdStore& store_;
  const EtcdStoreConfig& cfg_;
  EtcdDeadline deadline_;
  int64_t revision_ = 0;  // the snapshot: 0 until the first read
  std::map<std::string, int64_t> guards_;
  std::set<std::pair<std::string, std::string>> range_guards_;
  std::map<std::string, std::optional<std::string>> writes_;
  std::set<std::pair<std::string, Address>> emptied_;  // blocks this txn released in
  std::set<std::string> tried_claims_;                 // claimed by the previous run
  std::set<std::string> claims_;                       // claimed by this run
  // Reads at the snapshot that later reads are answered from: point reads (prefetch) and
  // key intervals read completely (sorted keys).
  struct Covered {
    std::string start, end;
    std::vector<std::string> keys;
  };
  std::map<std::string, std::optional<Kv>> got_;
  std::vector<Covered> covered_;
};

EtcdHeldScan::EtcdHeldScan(EtcdTxn& txn, std::string from, std::string end)
    : txn_(txn), next_from_(std::move(from)), end_(std::move(end)) {
  for (auto it = txn_.writes().lower_bound(next_from_);
       it != txn_.writes().end() && it->first < end_; ++it) {
    if (it->second) written_.push_back(it->first);
  }
  // The whole interval is guarded: an address another txn takes in it conflicts with us.
  txn_.range_guards_.emplace(next_from_, end_);
}

void EtcdHeldScan::fill() {
  while (page_.empty() && more_) {
    bool more = false;
    auto kvs = txn_.range_page(next_from_, end_, true, kPageSize, &more);
    more_ = more && !kvs.empty();
    if (!kvs.empty()) next_from_ = kvs.back().key + std::string(1, '\0');
    for (auto& kv : kvs) {
      auto w = txn_.writes().find(kv.key);
      if (w != txn_.writes().end() && !w->second) continue;  // erased by this txn
      page_.push_back(std::move(kv.key));
    }
  }
}

std::optional<Address> EtcdHeldScan::next() {
  fill();
  std::optional<std::string> key;
  bool from_page = !page_.empty();
  bool from_written = wi_ < written_.size();
  if (from_page && from_written) {
    if (page_.front() < written_[wi_]) {
      from_written = false;
    } else if (written_[wi_] < page_.front()) {
      from_page = false;
    }
  }
  if (from_page) {
    key = page_.front();
    page_.pop_front();
  }
  if (from_written) {
    key = written_[wi_];
    ++wi_;
  }
  if (!key) return std::nullopt;
  return address_of_hex(*key);
}

}  // namespace

EtcdStore::EtcdStore(const EtcdStoreConfig& cfg) : cfg_(cfg), client_(cfg) {}

std::string EtcdStore::describe() const {
  return "etcd:" + client_.endpoints() + cfg_.prefix + " (cluster \"" + cfg_.cluster +
         "\", node \"" + cfg_.node + "\")";
}

void EtcdStore::transact(const std::function<void(StoreTxn&)>& fn) {
  std::lock_guard<std::mutex> lock(mu_);
  const EtcdDeadline deadline = Clock::now() + std::chrono::milliseconds(cfg_.timeout_ms);
  thread_local std::minstd_rand jitter(std::random_device{}());
  ++stats_.transactions;
  std::set<std::string> tried_claims;
  for (int attempt = 1;; ++attempt) {
    ++stats_.runs;
    EtcdTxn txn(*this, deadline, std::move(tried_claims));
    try {
      fn(txn);
      txn.settle_blocks();
      if (txn.commit()) return;
    } catch (const EtcdCompacted&) {
      // The snapshot revision is gone: read again at the current one.
    }
    tried_claims = txn.claims();
    if (Clock::now() >= deadline) {
      throw cni::Error(cni::kTryAgainLater, "ipam store " + describe() +
                                                ": transaction still conflicting after " +
                                                std::to_string(attempt) + " attempts in " +
                                                std::to_string(cfg_.timeout_ms) + " ms");
    }
    // Concurrent writers of one pool conflict on its cursor: spread their retries.
    int cap = std::min(attempt, 10) * 2;
    std::this_thread::sleep_for(std::chrono::microseconds(jitter() % (cap * 1000 + 1)));
  }
}

std::vector<Allocation> EtcdStore::list_all() {
  std::vector<Allocation> out;
  transact([&](StoreTxn& t) {
    out.clear();
    for (const auto& kv : static_cast<EtcdTxn&>(t).everything()) {
      if (kv.key.find("/addr/") == std::string::npos ||
          kv.key.rfind(cfg_.prefix + "/pool/", 0) != 0) {
        continue;
      }
      if (auto a = parse_record(kv.value)) out.push_back(std::move(*a));
    }
  });
  std::sort(out.begin(), out.end(), [](const Allocation& a, const Allocation& b) {
    return std::tie(a.pool, a.address) < std::tie(b.pool, b.address);
  });
  return out;
}

void EtcdStore::probe() {
  std::lock_guard<std::mutex> lock(mu_);
  const EtcdDeadline deadline = Clock::now() + std::chrono::milliseconds(cfg_.timeout_ms);
  std::string key = cfg_.prefix + "/probe/" + esc(cfg_.cluster) + "/" + esc(cfg_.node);
  try {
    client_.call(
        "/v3/kv/put",
        {{"key", base64_encode(key)}, {"value", base64_encode(std::to_string(std::time(nullptr)))}},
        deadline);
  } catch (const cni::Error& e) {
    throw cni::Error(cni::kNotAvailable, "ipam store " + describe() + " not writable: " + e.msg());
  }
}

std::vector<std::string> EtcdStore::verify() {
  std::vector<Kv> all;
  std::string own_marker = "/own/";
  transact([&](StoreTxn& t) { all = static_cast<EtcdTxn&>(t).everything(); });
  std::map<std::string, std::string> by_key;
  for (const auto& kv : all) by_key[kv.key] = kv.value;
  EtcdTxn keys(*this, Clock::now());  // for key names only; never reads
  std::vector<std::string> problems;
  const std::string pool_root = cfg_.prefix + "/pool/";
  std::set<std::string> expected_index;
  for (const auto& [key, value] : by_key) {
    if (key.rfind(pool_root, 0) != 0 || key.find("/addr/") == std::string::npos) continue;
    auto rec = parse_record(value);
    if (!rec) {
      problems.push_back("unreadable record " + key);
      continue;
    }
    if (keys.addr_key(rec->pool, rec->address) != key) {
      problems.push_back("record " + key + " names " + rec->pool + " " + rec->address.str());
    }
    if (rec->owner.container_id.empty() && rec->owner.pod_ref.empty()) {
      problems.push_back("no owner: " + key);
    }
    std::vector<std::string> index = {keys.own_key(*rec)};
    if (rec->owner.sticky()) index.push_back(keys.pod_key(*rec));
    for (const auto& ik : index) {
      expected_index.insert(ik);
      auto it = by_key.find(ik);
      if (it == by_key.end()) {
        problems.push_back("record " + key + " has no index key " + ik);
      } else if (it->second != value) {
        problems.push_back("index key " + ik + " differs from record " + key);
      }
    }
  }
  // Block claims: each pool block key has its copy under the owner node, and back.
  for (const auto& [key, value] : by_key) {
    if (key.rfind(pool_root, 0) != 0 || key.find("/block/") == std::string::npos) continue;
    auto rec = json::parse(value, nullptr, false);
    auto first = address_of_hex(key);
    if (!rec.is_object() || !first || !rec.contains("cluster") || !rec.contains("node") ||
        !rec.contains("pool")) {
      problems.push_back("unreadable block " + key);
      continue;
    }
    std::string copy = cfg_.prefix + "/cluster/" + esc(rec["cluster"].get<std::string>()) +
                       "/node/" + esc(rec["node"].get<std::string>()) + "/block/" +
                       esc(rec["pool"].get<std::string>()) + "/" + hex_key(*first);
    expected_index.insert(copy);
    auto it = by_key.find(copy);
    if (it == by_key.end()) {
      problems.push_back("block " + key + " has no node key " + copy);
    } else if (it->second != value) {
      problems.push_back("node key " + copy + " differs from block " + key);
    }
  }
  // Every index and node block key has its record; a node's cursors are its own state.
  const std::string cluster_root = cfg_.prefix + "/cluster/";
  for (const auto& [key, value] : by_key) {
    if (key.rfind(cluster_root, 0) != 0 || expected_index.count(key)) continue;
    // <c>/node/<n>/cursor/...: components are escaped, so '/' splits them exactly.
    size_t c_end = key.find('/', cluster_root.size());
    size_t n_end = c_end == std::string::npos ? c_end : key.find('/', c_end + 6);
    bool node_cursor = n_end != std::string::npos && key.compare(c_end, 6, "/node/") == 0 &&
                       key.compare(n_end, 8, "/cursor/") == 0;
    if (!node_cursor) problems.push_back("index key without a record: " + key);
  }
  return problems;
}

}  // namespace ipam
