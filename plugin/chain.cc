// Conflist execution over cni::Delegate: version negotiation, prevResult threading and
// error joining.
#include "plugin/chain.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>
#include <memory>
#include <set>

#include "cni/config.h"
#include "cni/env.h"
#include "cni/error.h"
#include "cni/version.h"
#include "net/netlink.h"
#include "net/netns.h"

namespace plugin {
namespace {

using nlohmann::json;

constexpr const char* kGcVersion = "1.1.0";

cni::DelegateRequest make_request(cni::Verb verb, const ChainContext& ctx, std::string config) {
  cni::DelegateRequest req;
  req.verb = verb;
  req.container_id = ctx.container_id;
  req.netns = ctx.netns;
  req.ifname = ctx.ifname;
  req.cni_args = ctx.cni_args;
  req.path = ctx.path;
  req.config = std::move(config);
  req.timeout = ctx.timeout;
  return req;
}

// What the plugin says it speaks. An answer that is empty or not JSON (code 6) yields
// `fallback`: such a plugin predates or ignores VERSION, and libcni would have run it at the
// list's version without asking. Any other failure (not found, crash, timeout) stands.
std::vector<std::string> delegate_versions(cni::Delegate& d, const ChainContext& ctx,
                                           const std::string& type,
                                           const std::vector<std::string>& fallback) {
  try {
    return d.supported_versions(make_request(cni::Verb::kVersion, ctx, "{}"));
  } catch (const cni::Error& e) {
    if (e.code() != cni::kDecodeFailure) throw;
    spdlog::warn("{}: unusable VERSION answer ({}); {}", type, e.msg(),
                 fallback.empty() ? "it gets no GC or STATUS"
                                  : "running it at the config's cniVersion " + fallback.front());
    return fallback;
  }
}

// ADD, DEL and CHECK run a plugin with a useless VERSION answer at the list's version.
std::vector<std::string> list_fallback(const std::string& list_version) {
  return {list_version.empty() ? "0.1.0" : list_version};
}

bool speaks(const std::vector<std::string>& versions, const std::string& v) {
  return std::find(versions.begin(), versions.end(), v) != versions.end();
}

// The version to hand a plugin: the list's own when the plugin speaks it, else the newest
// both sides know. The reference plugins stop at 1.0.0 while a list may say 1.1.0.
std::string negotiate(const std::string& wanted, const std::vector<std::string>& theirs,
                      const std::string& type) {
  const std::string v = wanted.empty() ? "0.1.0" : wanted;
  if (speaks(theirs, v)) return v;
  std::string common = cni::newest_common_version(cni::supported_versions(), theirs);
  if (common.empty()) {
    throw cni::Error(
        cni::kIncompatibleVersion,
        type + ": plugin supports none of the versions cnimux speaks (config wants " + v + ")");
  }
  return common;
}

// One step of the list: the plugin's object with the negotiated version and prevResult.
std::string plugin_stdin(json plugin, const std::string& version, const json& prev_result) {
  plugin["cniVersion"] = version;
  plugin.erase("prevResult");
  if (!prev_result.is_null()) {
    try {
      plugin["prevResult"] = cni::Result::from_json(prev_result, version).to_json(version);
    } catch (const cni::Error& e) {
      // A result that cannot be expressed at this version (no IPs for 0.2.0) is left out
      // rather than failing a DEL that must still release resources.
      spdlog::warn("prevResult omitted for {}: {}", plugin.value("type", ""), e.msg());
    }
  }
  return plugin.dump();
}

}  // namespace

struct ChainRunner::ParsedList {
  std::string version;
  json name;
  std::vector<json> plugins;
  bool disable_check = false;
  bool disable_gc = false;
};

namespace {

std::string type_of(const json& plugin) {
  return plugin.value("type", std::string());
}

// Joins failures into one error that keeps the first failure's code.
class ErrorCollector {
 public:
  void add(const cni::Error& e) {
    if (errors_.empty()) code_ = e.code();
    errors_.push_back(e.msg());
  }
  void add(const std::string& who, const std::exception& e) {
    if (errors_.empty()) code_ = cni::kIoFailure;
    errors_.push_back(who + ": " + e.what());
  }
  void throw_if_any() const {
    if (errors_.empty()) return;
    std::string msg;
    for (const auto& m : errors_) msg += (msg.empty() ? "" : "; ") + m;
    throw cni::Error(code_, msg);
  }

 private:
  int code_ = 0;
  std::vector<std::string> errors_;
};

}  // namespace

std::string forwarded_cni_args(const cni::CniArgs& runtime_args, bool cluster_network) {
  if (cluster_network) return runtime_args.encode();
  cni::CniArgs out;
  for (const auto& [key, value] : runtime_args.pairs()) {
    if (std::find(kPrimaryOnlyCniArgs.begin(), kPrimaryOnlyCniArgs.end(), key) ==
        kPrimaryOnlyCniArgs.end())
      out.set(key, value);
  }
  return out.encode();
}

ChainRunner::ParsedList ChainRunner::parse_list(const std::string& conflist) {
  cni::NetConfList list = cni::NetConfList::parse(conflist);
  ChainRunner::ParsedList p;
  p.version = list.cni_version;
  p.name = list.raw.value("name", json());
  p.plugins = list.plugins;
  p.disable_check = list.raw.value("disableCheck", false);
  p.disable_gc = list.raw.value("disableGC", false);
  return p;
}

const ChainRunner::ParsedList& ChainRunner::parsed(const std::string& conflist) {
  auto it = parsed_.find(conflist);
  if (it == parsed_.end()) {
    // A list that does not parse throws here and is not remembered.
    it = parsed_.emplace(conflist, std::make_shared<const ParsedList>(parse_list(conflist))).first;
  }
  return *it->second;
}

cni::Result ChainRunner::add(const std::string& conflist, const ChainContext& ctx) {
  const ParsedList& list = parsed(conflist);
  json prev;  // null for the first plugin
  std::string prev_version;
  for (const json& plugin : list.plugins) {
    const std::string type = type_of(plugin);
    std::unique_ptr<cni::Delegate> d = resolver_.resolve(type);
    const std::string version = negotiate(
        list.version, delegate_versions(*d, ctx, type, list_fallback(list.version)), type);
    cni::DelegateRequest req =
        make_request(cni::Verb::kAdd, ctx, plugin_stdin(plugin, version, prev));
    if (&plugin == &list.plugins.front()) {
      req.before_input = ctx.before_first_input;
      req.after_input = ctx.after_first_input;
    }
    json out = d->invoke(req);
    if (!out.is_object()) {
      throw cni::Error(cni::kDecodeFailure, type + ": ADD succeeded but printed no result");
    }
    // Normalise to the newest shape so the next step and the journal see one form.
    prev = cni::Result::from_json(out, version).to_json(cni::latest_version());
  }
  return cni::Result::from_json(prev, cni::latest_version());
}

std::unique_ptr<cni::Prestart> ChainRunner::prestart_first(const json& conflist,
                                                           const ChainContext& ctx) {
  return prestart_plugin(conflist.at("plugins").at(0), ctx);
}

std::unique_ptr<cni::Prestart> ChainRunner::prestart_first(const std::string& conflist,
                                                           const ChainContext& ctx) {
  return prestart_plugin(parsed(conflist).plugins.at(0), ctx);
}

std::unique_ptr<cni::Prestart> ChainRunner::prestart_plugin(const json& plugin,
                                                            const ChainContext& ctx) {
  return resolver_.resolve(type_of(plugin))->prestart(make_request(cni::Verb::kAdd, ctx, ""));
}

namespace {

// The plugin's IPAM type, or "" when it has none.
std::string ipam_type_of(const json& plugin) {
  auto it = plugin.find("ipam");
  if (it == plugin.end() || !it->is_object()) return "";
  auto t = it->find("type");
  return t != it->end() && t->is_string() ? t->get<std::string>() : "";
}

// Plugin types whose whole footprint is the pod's link plus its IPAM: once the link is gone,
// only the addresses can be left. Others keep state elsewhere (bridge and ptp masquerade
// rules, an overlay's endpoint in its datastore), so a failed DEL of theirs stays owed.
bool keeps_state_only_on_its_link(const std::string& type) {
  static const std::set<std::string> kTypes = {
      "macvlan", "ipvlan",         "vlan",          "host-device",        "sriov",
      "dummy",   "cnimux-macvlan", "cnimux-ipvlan", "cnimux-host-device", "cnimux-sriov"};
  return kTypes.count(type) != 0;
}

// True when the attachment's interface cannot exist: the netns is gone (handed over empty)
// or holds no link of that name. Unknown (permissions, netlink trouble) counts as present.
bool interface_absent(const ChainContext& ctx) {
  if (ctx.netns.empty()) return true;
  try {
    net::Netns ns = net::Netns::open(ctx.netns);
    net::NetlinkSocket sk = net::NetlinkSocket::in(ns);
    return !net::link_exists(sk, ctx.ifname);
  } catch (const net::NetnsGoneError&) {
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

void ChainRunner::validate(const std::string& conflist, const ChainContext& ctx) {
  const ParsedList& list = parsed(conflist);
  cni::validate_network_name(list.name.is_string() ? list.name.get<std::string>()
                                                   : list.name.dump());
  for (const json& plugin : list.plugins) {
    resolver_.ensure_runnable(type_of(plugin), ctx.path);
    if (plugin.contains("ipam") && plugin["ipam"].is_object() && !plugin["ipam"].empty()) {
      const std::string ipam = ipam_type_of(plugin);
      try {
        resolver_.ensure_runnable(ipam, ctx.path);
      } catch (const cni::Error& e) {
        throw cni::Error(e.code(), "ipam.type: " + e.msg());
      }
    }
  }
}

std::vector<std::string> ChainRunner::del(const std::string& conflist, const ChainContext& ctx,
                                          const json& prev_result) {
  ParsedList list;
  try {
    list = parse_list(conflist);
  } catch (const cni::Error& e) {
    return {"stored config cannot be parsed, nothing to run: " + e.msg()};
  }
  std::vector<std::string> abandoned;
  ErrorCollector errors;
  for (auto it = list.plugins.rbegin(); it != list.plugins.rend(); ++it) {
    const std::string type = type_of(*it);
    try {
      resolver_.ensure_runnable(type, ctx.path);
    } catch (const cni::Error& e) {
      std::string how;
      release_ipam_only(*it, ctx, prev_result, list.version, how);
      abandoned.push_back(e.msg() + how);
      continue;
    }
    json plugin = *it;
    if (const std::string ipam = ipam_type_of(plugin); !ipam.empty()) {
      try {
        resolver_.ensure_runnable(ipam, ctx.path);
      } catch (const cni::Error& e) {
        // The plugin would fail on its IPAM step and never undo the rest: let it undo what it
        // can without one.
        abandoned.push_back(type + ": ipam.type: " + e.msg() + "; DEL ran without IPAM");
        plugin.erase("ipam");
      }
    }
    try {
      std::unique_ptr<cni::Delegate> d = resolver_.resolve(type);
      std::string version = list.version;
      try {
        version = negotiate(list.version,
                            delegate_versions(*d, ctx, type, list_fallback(list.version)), type);
      } catch (const cni::Error& e) {
        // Still attempt the DEL at the list's version: a leak is worse than a refusal.
        spdlog::warn("{}", e.msg());
      }
      d->invoke(make_request(cni::Verb::kDel, ctx, plugin_stdin(plugin, version, prev_result)));
    } catch (const cni::Error& e) {
      // The interface's own plugin failed, but if the interface does not exist there is
      // nothing of it left to undo but its addresses (a macvlan whose master vanished fails
      // every DEL; the kernel took its link with it, or the ADD never made one).
      std::string how;
      if (std::next(it) == list.plugins.rend() && keeps_state_only_on_its_link(type) &&
          interface_absent(ctx) && release_ipam_only(*it, ctx, prev_result, list.version, how)) {
        abandoned.push_back(e.msg() + "; " + ctx.ifname + " does not exist in the pod" + how);
        continue;
      }
      errors.add(e);
    } catch (const std::exception& e) {
      errors.add(type, e);
    }
  }
  errors.throw_if_any();
  return abandoned;
}

bool ChainRunner::release_ipam_only(const json& plugin, const ChainContext& ctx,
                                    const json& prev_result, const std::string& version,
                                    std::string& how) {
  const std::string ipam = ipam_type_of(plugin);
  if (ipam.empty()) {
    how = "; it has no IPAM to release";
    return true;
  }
  try {
    resolver_.ensure_runnable(ipam, ctx.path);
    std::unique_ptr<cni::Delegate> d = resolver_.resolve(ipam);
    std::string v = version;
    try {
      v = negotiate(version, delegate_versions(*d, ctx, ipam, list_fallback(version)), ipam);
    } catch (const cni::Error&) {
    }
    // An IPAM plugin reads the whole plugin config, as when its main plugin calls it.
    d->invoke(make_request(cni::Verb::kDel, ctx, plugin_stdin(plugin, v, prev_result)));
    how = "; its IPAM (" + ipam + ") released the addresses";
    return true;
  } catch (const cni::Error& e) {
    how = "; its IPAM could not release the addresses either: " + e.msg();
    return false;
  }
}

void ChainRunner::check(const std::string& conflist, const ChainContext& ctx,
                        const json& prev_result) {
  ParsedList list = parse_list(conflist);
  const std::string list_version = list.version.empty() ? "0.1.0" : list.version;
  if (list.disable_check || cni::compare_versions(list_version, "0.4.0") < 0) return;
  for (const json& plugin : list.plugins) {
    const std::string type = type_of(plugin);
    std::unique_ptr<cni::Delegate> d = resolver_.resolve(type);
    const std::string version = negotiate(
        list.version, delegate_versions(*d, ctx, type, list_fallback(list.version)), type);
    if (cni::compare_versions(version, "0.4.0") < 0) continue;
    d->invoke(make_request(cni::Verb::kCheck, ctx, plugin_stdin(plugin, version, prev_result)));
  }
}

void ChainRunner::gc(const std::string& conflist, const ChainContext& ctx, const json& valid) {
  ParsedList list = parse_list(conflist);
  if (list.disable_gc) return;
  ErrorCollector errors;
  for (json plugin : list.plugins) {
    try {
      std::string type = type_of(plugin);
      std::unique_ptr<cni::Delegate> d = resolver_.resolve(type);
      if (!speaks(delegate_versions(*d, ctx, type, {}), kGcVersion)) {
        // An IPAM plugin reads the whole config; only its binary changes.
        const json* ipam = plugin.contains("ipam") ? &plugin["ipam"] : nullptr;
        if (!ipam || !ipam->is_object() || ipam->value("type", "").empty()) continue;
        type = ipam->value("type", "");
        d = resolver_.resolve(type);
        if (!speaks(delegate_versions(*d, ctx, type, {}), kGcVersion)) continue;
      }
      plugin["cniVersion"] = kGcVersion;
      plugin["cni.dev/valid-attachments"] = valid;
      d->invoke(make_request(cni::Verb::kGc, ctx, plugin.dump()));
    } catch (const cni::Error& e) {
      errors.add(e);
    } catch (const std::exception& e) {
      errors.add(type_of(plugin), e);
    }
  }
  errors.throw_if_any();
}

void ChainRunner::status(const std::string& conflist, const ChainContext& ctx) {
  ParsedList list = parse_list(conflist);
  for (json plugin : list.plugins) {
    const std::string type = type_of(plugin);
    std::unique_ptr<cni::Delegate> d = resolver_.resolve(type);
    if (!speaks(delegate_versions(*d, ctx, type, {}), kGcVersion)) {
      // As for GC: a plugin too old for STATUS still depends on its IPAM plugin, whose
      // store may be unusable; ask the IPAM plugin directly when it speaks 1.1.0.
      const std::string ipam = ipam_type_of(plugin);
      if (ipam.empty()) continue;
      d = resolver_.resolve(ipam);
      if (!speaks(delegate_versions(*d, ctx, ipam, {}), kGcVersion)) continue;
    }
    plugin["cniVersion"] = kGcVersion;
    d->invoke(make_request(cni::Verb::kStatus, ctx, plugin.dump()));
  }
}

}  // namespace plugin
