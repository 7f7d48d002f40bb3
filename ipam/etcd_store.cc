// EtcdStore: the StoreTxn reads and writes as etcd keys, read at one revision and committed
// by one guarded txn. Keys (P = the configured prefix, components %-escaped):
//   P/pool/<pool>/addr/<32 hex digits>   the allocation record (JSON): the authority
//   P/pool/<pool>/cursor/<range set>     the round-robin cursor (address text)
//   P/cluster/<c>/node/<n>/own/<network>/<container>/<ifname>/<pool>/<hex>   node index
//   P/cluster/<c>/pod/<network>/<pod>/<ifname>/<pool>/<hex>   sticky index (pod identity)
// Index values are copies of the record, written in the same txn as the record.
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
    a.range_set = j.at("rangeSet").get<int>();
    a.prefix_len = j.at("prefixLen").get<int>();
    std::string gw = j.value("gateway", "");
    if (!gw.empty()) a.gateway = Address::parse(gw);
    a.owner.network = j.at("network").get<std::string>();
    a.owner.container_id = j.value("containerID", "");
    a.owner.ifname = j.value("ifname", "");
    a.owner.pod_ref = j.value("podRef", "");
    a.created_unix = j.value("created", int64_t{0});
    a.cluster = j.value("cluster", "");
    a.node = j.value("node", "");
    return a;
  } catch (const json::exception&) {
    return std::nullopt;
  }
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
  EtcdTxn(EtcdStore& store, EtcdDeadline deadline)
      : store_(store), cfg_(store.config()), deadline_(deadline) {}

  // ---- the key-value layer: snapshot reads that record guards, buffered writes ----

  std::optional<Kv> get(const std::string& key) {
    if (auto w = writes_.find(key); w != writes_.end()) {
      if (!w->second) return std::nullopt;
      return Kv{key, *w->second, 0};
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
    json req = {{"key", base64_encode(start)}, {"range_end", base64_encode(end)}};
    if (keys_only) req["keys_only"] = true;
    if (limit > 0) req["limit"] = std::to_string(limit);
    pin(req);
    json resp = call("/v3/kv/range", req);
    std::vector<Kv> out;
    if (auto kvs = resp.find("kvs"); kvs != resp.end()) {
      for (const auto& kv : *kvs) out.push_back(decode(kv));
    }
    if (more) *more = resp.value("more", false);
    return out;
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

  json call(const std::string& path, const json& req) {
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
  for (int attempt = 1;; ++attempt) {
    EtcdTxn txn(*this, deadline);
    try {
      fn(txn);
      if (txn.commit()) return;
    } catch (const EtcdCompacted&) {
      // The snapshot revision is gone: read again at the current one.
    }
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
  const std::string cluster_root = cfg_.prefix + "/cluster/";
  for (const auto& [key, value] : by_key) {
    if (key.rfind(cluster_root, 0) == 0 && !expected_index.count(key)) {
      problems.push_back("index key without a record: " + key);
    }
  }
  return problems;
}

}  // namespace ipam
