// `cnimuxctl ipam`: the node's IPAM store (ipam::Store, ipam::Allocator) seen by pool, with
// manual release and a GC against the live journals (and, with --kubeconfig, the live pods).
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "cli/commands.h"
#include "cli/journals.h"
#include "cli/live_pods.h"
#include "cli/output.h"
#include "ipam/allocator.h"
#include "ipam/config.h"
#include "ipam/pool.h"
#include "ipam/store.h"

namespace cli {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

std::shared_ptr<ipam::Store> open_existing_store(const std::string& path) {
  std::error_code ec;
  // open_store would create an empty database; a mistyped path must not look like an empty node.
  if (!fs::exists(path, ec)) throw StateError("no IPAM store at \"" + path + "\"");
  ipam::StoreConfig sc;
  sc.path = path;
  try {
    return ipam::open_store(sc);
  } catch (const std::exception& e) {
    throw StateError(e.what());
  }
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

// Pool sizes from the configs the journals recorded (the pools in use), for this store only.
// A pool no journal names has an unknown size (0).
std::map<std::string, uint64_t> pool_sizes(const std::string& store, const std::string& cni_dir) {
  std::map<std::string, uint64_t> sizes;
  for (const auto& pod : read_pods(cni_dir)) {
    for (const auto& i : pod.interfaces) {
      Json conflist = Json::parse(i.conflist, nullptr, false);
      if (!conflist.is_object() || !conflist["plugins"].is_array()) continue;
      for (const auto& plugin : conflist["plugins"]) {
        try {
          std::optional<ipam::StoreConfig> sc = ipam::cnimux_ipam_store(plugin);
          if (!sc || !same_file(sc->path, store)) continue;
          ipam::IpamConfig cfg = ipam::parse_ipam_config(plugin);
          if (sizes.count(cfg.pool)) continue;
          ipam::U128 total = 0;
          for (const auto& space : ipam::build_spaces(cfg)) total += space.size();
          sizes[cfg.pool] = total > std::numeric_limits<uint64_t>::max()
                                ? std::numeric_limits<uint64_t>::max()
                                : static_cast<uint64_t>(total);
        } catch (const std::exception&) {
          // A config that no longer parses tells nothing about the pool's size.
        }
      }
    }
  }
  return sizes;
}

Json allocation_json(const ipam::Allocation& a) {
  return {{"pool", a.pool},
          {"address", a.address.str()},
          {"cidr", a.cidr()},
          {"network", a.owner.network},
          {"containerID", a.owner.container_id},
          {"ifname", a.owner.ifname},
          {"podRef", a.owner.pod_ref},
          {"created", a.created_unix}};
}

std::string or_dash(const std::string& s) {
  return s.empty() ? "-" : s;
}

void add_row(Table& t, const ipam::Allocation& a) {
  t.add({a.address.str(), a.pool, a.owner.network, or_dash(a.owner.container_id),
         or_dash(a.owner.ifname), or_dash(a.owner.pod_ref)});
}

Table allocation_table() {
  return Table({"ADDRESS", "POOL", "NETWORK", "CONTAINER", "IFNAME", "STICKY POD"});
}

}  // namespace

int ipam_pools(const IpamOptions& o) {
  auto store = open_existing_store(o.store);
  std::map<std::string, std::vector<ipam::Allocation>> by_pool;
  for (auto& a : store->list_all()) by_pool[a.pool].push_back(std::move(a));
  const auto sizes = pool_sizes(o.store, o.cni_dir);
  Json out = Json::array();
  Table t({"POOL", "USED", "FREE", "SIZE", "USAGE", "NETWORKS"});
  for (const auto& [pool, allocs] : by_pool) {
    std::set<std::string> networks;
    for (const auto& a : allocs) networks.insert(a.owner.network);
    const uint64_t used = allocs.size();
    auto it = sizes.find(pool);
    const uint64_t size = it == sizes.end() ? 0 : it->second;
    Json j = {{"pool", pool}, {"used", used}, {"networks", networks}};
    j["size"] = size ? Json(size) : Json();
    j["free"] = size ? Json(size > used ? size - used : 0) : Json();
    out.push_back(j);
    std::string nets;
    for (const auto& n : networks) nets += (nets.empty() ? "" : ",") + n;
    t.add({pool, std::to_string(used), size ? std::to_string(size > used ? size - used : 0) : "?",
           size ? std::to_string(size) : "?", usage_bar(used, size), nets});
  }
  if (o.json) {
    std::cout << out.dump() << "\n";
  } else if (t.empty()) {
    std::cout << "no allocations in " << store->describe() << "\n";
  } else {
    t.print(std::cout);
  }
  return kExitOk;
}

int ipam_show(const IpamOptions& o, const std::string& pool) {
  auto store = open_existing_store(o.store);
  std::vector<ipam::Allocation> held;
  for (auto& a : store->list_all()) {
    if (a.pool == pool) held.push_back(std::move(a));
  }
  if (held.empty())
    throw Refused("pool \"" + pool + "\" holds no allocation in " + store->describe());
  std::sort(held.begin(), held.end(),
            [](const auto& x, const auto& y) { return x.address < y.address; });
  if (o.json) {
    Json out = Json::array();
    for (const auto& a : held) out.push_back(allocation_json(a));
    std::cout << out.dump() << "\n";
    return kExitOk;
  }
  Table t = allocation_table();
  for (const auto& a : held) add_row(t, a);
  t.print(std::cout);
  return kExitOk;
}

namespace {

// The live journal attachment holding `a`, if any ("container ifname (network)").
std::optional<std::string> live_holder(const ipam::Allocation& a, const std::string& cni_dir) {
  for (const auto& pod : read_pods(cni_dir)) {
    if (pod.container_id != a.owner.container_id) continue;
    for (const auto& i : pod.interfaces) {
      if (i.state != "pending" && i.ifname == a.owner.ifname && i.config_name == a.owner.network) {
        return pod.container_id + " " + i.ifname + " (" + i.network + ", pod " + pod.pod_namespace +
               "/" + pod.pod_name + ", " + pod.state + ")";
      }
    }
  }
  return std::nullopt;
}

}  // namespace

int ipam_release(const IpamOptions& o, const std::string& addr, const std::string& pool,
                 bool force) {
  std::optional<ipam::Address> address = ipam::Address::parse(addr);
  if (!address) throw Refused("\"" + addr + "\" is not an IP address");
  auto store = open_existing_store(o.store);
  std::vector<ipam::Allocation> matches;
  for (auto& a : store->list_all()) {
    if (a.address == *address && (pool.empty() || a.pool == pool)) matches.push_back(std::move(a));
  }
  const std::string where = pool.empty() ? "" : " in pool \"" + pool + "\"";
  if (matches.empty()) throw Refused(addr + " is not allocated" + where);
  if (matches.size() > 1) {
    std::string pools;
    for (const auto& m : matches) pools += (pools.empty() ? "" : ", ") + m.pool;
    throw Refused(addr + " is held in several pools (" + pools + "): name one with --pool");
  }
  const ipam::Allocation& a = matches.front();
  if (!force) {
    if (auto holder = live_holder(a, o.cni_dir)) {
      throw Refused(addr + " belongs to a live attachment: " + *holder +
                    "; DEL the pod instead, or use --force");
    }
  }
  store->transact([&](ipam::StoreTxn& txn) {
    if (txn.find_address(a.pool, a.address)) txn.erase(a.pool, a.address);
  });
  if (o.json) {
    std::cout << Json{{"released", allocation_json(a)}}.dump() << "\n";
  } else {
    std::cout << "released " << a.cidr() << " from pool " << a.pool << " (network "
              << a.owner.network << ", container " << or_dash(a.owner.container_id) << " "
              << or_dash(a.owner.ifname) << ")\n";
  }
  return kExitOk;
}

namespace {

// What the GC keeps: every live journal attachment, less (with --kubeconfig) those of the
// journals whose pod the API no longer has. `gone` gets why each such journal was dropped.
ipam::LiveAttachments gc_live_set(const IpamOptions& o, const std::set<std::string>& listed_before,
                                  const std::optional<ApiPods>& api,
                                  std::map<std::string, std::string>& gone) {
  std::vector<PodView> now = read_pods(o.cni_dir);
  ipam::LiveAttachments live = live_attachments(now);  // refuses a corrupt journal first
  if (!api) return live;
  ApiVerdict verdict = judge_journals(now, listed_before, *api);
  gone = std::move(verdict.gone);
  return live_attachments(verdict.keep);
}

std::string gc_reason(const ipam::Allocation& a, const std::map<std::string, std::string>& gone) {
  auto it = gone.find(a.owner.container_id);
  if (it != gone.end()) return it->second;
  return a.owner.container_id.empty() ? "sticky, bound to no container" : "no live journal";
}

}  // namespace

int ipam_gc(const IpamOptions& o, const GcOptions& g) {
  std::error_code ec;
  // With no journals every allocation would look dead: a mistyped --cni-dir must not free them.
  if (!fs::is_directory(o.cni_dir, ec)) {
    throw StateError("cniDir \"" + o.cni_dir + "\" is not a directory; GC needs the live journals");
  }
  auto store = open_existing_store(o.store);
  // Freeing on the API's word overrides the node's own journals: without --yes it only shows.
  const bool dry_run = g.dry_run || (!g.kubeconfig.empty() && !g.yes);
  // The journals are read before the API is asked, so that a journal written after the list
  // (its pod may be newer than the list) is never judged by it; the API is asked before the
  // fence is taken, so that no ADD waits on the API server.
  std::set<std::string> listed_before;
  std::optional<ApiPods> api;
  if (!g.kubeconfig.empty()) {
    for (const auto& pod : read_pods(o.cni_dir)) listed_before.insert(pod.container_id);
    api = list_api_pods(g.kubeconfig, g.node);
  }
  plugin::Journal journal(o.cni_dir);
  plugin::Journal::Lock fence;
  if (!dry_run) fence = journal.gc_fence(true);  // as the plugin's GC: no ADD allocates meanwhile
  std::map<std::string, std::string> gone;
  const ipam::LiveAttachments live = gc_live_set(o, listed_before, api, gone);
  std::vector<ipam::Allocation> dead;
  for (auto& a : store->list_all()) {
    if (!live.count({a.owner.network, a.owner.container_id, a.owner.ifname})) {
      dead.push_back(std::move(a));
    }
  }
  size_t freed = 0;
  if (!dry_run) {
    for (const auto& [network, n] : ipam::Allocator(*store).gc_store(live)) freed += n;
  }
  if (o.json) {
    Json list = Json::array();
    for (const auto& a : dead) {
      Json j = allocation_json(a);
      j["reason"] = gc_reason(a, gone);
      list.push_back(j);
    }
    Json out = {{"dryRun", dry_run}, {"freed", dry_run ? 0 : freed}, {"dead", list}};
    if (api) out["podsListed"] = api->uids.size();
    std::cout << out.dump() << "\n";
    return kExitOk;
  }
  if (api) std::cout << api->uids.size() << " pod(s) listed by " << api->source << "\n";
  if (dead.empty()) {
    std::cout << "nothing to free: every allocation belongs to a live attachment\n";
    return kExitOk;
  }
  Table t({"ADDRESS", "POOL", "NETWORK", "CONTAINER", "IFNAME", "STICKY POD", "WHY"});
  for (const auto& a : dead) {
    t.add({a.address.str(), a.pool, a.owner.network, or_dash(a.owner.container_id),
           or_dash(a.owner.ifname), or_dash(a.owner.pod_ref), gc_reason(a, gone)});
  }
  t.print(std::cout);
  std::cout << "\n"
            << (dry_run ? "would free " + std::to_string(dead.size())
                        : "freed " + std::to_string(freed))
            << " allocation(s) held by no live attachment"
            << (api ? " or by a pod the API no longer has" : "") << "\n";
  if (dry_run && !g.dry_run) std::cout << "nothing was freed: rerun with --yes to free them\n";
  return kExitOk;
}

}  // namespace cli
