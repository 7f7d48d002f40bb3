// Plan building: cheap checks on the selection first (isolation, interface names, default
// route), then NAD resolution, then per-attachment injection and capability checks.
#include "plugin/planner.h"

#include <algorithm>
#include <map>
#include <optional>

#include "cni/error.h"
#include "cni/ifname.h"
#include "cni/limits.h"
#include "plugin/selection.h"

namespace plugin {
namespace {

using Json = nlohmann::json;

[[noreturn]] void invalid(const std::string& msg) {
  throw cni::Error(cni::kInvalidConfig, msg);
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

struct PodContext {
  std::string ns;  // "default" when no source knows it, as kubectl would assume
  std::string name;
  std::string uid;
  std::map<std::string, std::string> annotations;
};

// One attachment before its network is resolved.
struct Draft {
  enum class Source { kNad, kReference, kInline };
  Source source = Source::kNad;
  std::string reference;                      // kReference: a clusterNetwork/defaultNetworks value
  Json inline_conf;                           // kInline: a legacy delegates entry
  std::optional<NetworkSelection> selection;  // kNad: which NAD, plus the requests
  bool cluster = false;
  std::string ifname;
  std::string label;  // how errors name a legacy delegate: "delegates[1]"
  ResolvedNetwork net;

  std::string describe() const {
    std::string what = selection                      ? selection->key()
                       : source == Source::kReference ? "\"" + reference + "\""
                                                      : label;
    if (cluster) return "the cluster network " + what;
    return source == Source::kReference ? "network " + what : what;
  }
};

PodContext pod_context(const PlanInputs& in) {
  PodContext ctx;
  if (in.pod) {
    ctx.ns = in.pod->ns;
    ctx.name = in.pod->name;
    ctx.uid = in.pod->uid;
    ctx.annotations = in.pod->annotations;
  }
  if (ctx.ns.empty()) ctx.ns = in.invocation.pod_namespace();
  if (ctx.name.empty()) ctx.name = in.invocation.pod_name();
  if (ctx.uid.empty()) ctx.uid = in.invocation.pod_uid();
  if (ctx.ns.empty()) ctx.ns = "default";
  return ctx;
}

std::string annotation(const PodContext& ctx, const char* key) {
  auto it = ctx.annotations.find(key);
  return it == ctx.annotations.end() ? std::string() : it->second;
}

// Under namespaceIsolation a pod may use NADs of its own namespace and the global ones;
// the cluster network may also come from the multusNamespace.
void check_isolation(const MetaConfig& meta, const PodContext& ctx, const NetworkSelection& sel,
                     bool cluster) {
  if (!meta.namespace_isolation || sel.ns == ctx.ns || contains(meta.global_namespaces, sel.ns)) {
    return;
  }
  if (cluster && sel.ns == meta.multus_namespace) return;
  invalid("namespace isolation: pod in namespace \"" + ctx.ns + "\" may not use NAD " + sel.key() +
          " (" + sel.origin + "); allowed: its own namespace and globalNamespaces");
}

Draft cluster_draft(const PlanInputs& in, const PodContext& ctx) {
  Draft d;
  d.cluster = true;
  d.ifname = in.invocation.ifname;
  std::string override_value = annotation(ctx, kDefaultNetworkAnnotation);
  if (override_value.find_first_not_of(" \t\r\n") != std::string::npos) {
    NetworkSelection sel = parse_default_network(override_value, in.meta.multus_namespace);
    if (!sel.interface.empty() && sel.interface != d.ifname) {
      invalid(std::string(kDefaultNetworkAnnotation) + ": " + sel.origin + ": interface \"" +
              sel.interface + "\" differs from CNI_IFNAME \"" + d.ifname +
              "\"; the cluster network is always on CNI_IFNAME");
    }
    check_isolation(in.meta, ctx, sel, true);
    d.selection = std::move(sel);
  } else if (!in.meta.cluster_network.empty()) {
    d.source = Draft::Source::kReference;
    d.reference = in.meta.cluster_network;
  } else {
    d.source = Draft::Source::kInline;
    d.inline_conf = in.meta.cluster_delegate;
    d.label = "delegates[0]";
  }
  return d;
}

// defaultNetworks (not for system namespaces), legacy delegates, then the selections.
std::vector<Draft> secondary_drafts(const PlanInputs& in, const PodContext& ctx) {
  std::vector<Draft> out;
  if (!contains(in.meta.system_namespaces, ctx.ns)) {
    for (const std::string& ref : in.meta.default_networks) {
      Draft d;
      d.source = Draft::Source::kReference;
      d.reference = ref;
      out.push_back(std::move(d));
    }
  }
  for (size_t i = 0; i < in.meta.extra_delegates.size(); ++i) {
    Draft d;
    d.source = Draft::Source::kInline;
    d.inline_conf = in.meta.extra_delegates[i];
    d.label = "delegates[" + std::to_string(i + 1) + "]";
    out.push_back(std::move(d));
  }
  std::vector<NetworkSelection> selections =
      parse_network_selection(annotation(ctx, kNetworksAnnotation), ctx.ns);
  // Each network is a delegate run and journal writes, inside the runtime's deadline.
  if (selections.size() > cni::kMaxNetworksPerPod) {
    invalid(std::string(kNetworksAnnotation) + ": selects " + std::to_string(selections.size()) +
            " networks, more than the limit of " + std::to_string(cni::kMaxNetworksPerPod) +
            " per pod");
  }
  for (NetworkSelection& sel : selections) {
    check_isolation(in.meta, ctx, sel, false);
    Draft d;
    d.selection = std::move(sel);
    out.push_back(std::move(d));
  }
  return out;
}

// net<N> by position among the non-cluster attachments, unless the selection names one.
void assign_interfaces(std::vector<Draft>& drafts) {
  std::map<std::string, const Draft*> seen;
  for (size_t i = 0; i < drafts.size(); ++i) {
    Draft& d = drafts[i];
    if (!d.cluster) {
      bool named = d.selection && !d.selection->interface.empty();
      d.ifname = named ? d.selection->interface : "net" + std::to_string(i);
      // Every name a link will get meets the one rule before anything runs. The cluster
      // network's is CNI_IFNAME, which the invocation checked per verb (code 4).
      cni::check_ifname(d.ifname, cni::kInvalidConfig, "interface name for " + d.describe());
    }
    auto [it, fresh] = seen.emplace(d.ifname, &d);
    if (!fresh) {
      invalid("interface \"" + d.ifname + "\" requested twice: by " + it->second->describe() +
              " and by " + d.describe());
    }
  }
}

// At most one attachment may ask for the default route; without a request the cluster
// network keeps it.
const Draft* default_route_owner(const std::vector<Draft>& drafts) {
  const Draft* owner = nullptr;
  for (const Draft& d : drafts) {
    if (!d.selection || !d.selection->wants_default_route()) continue;
    if (owner) {
      invalid("default-route requested by both " + owner->describe() + " (" +
              owner->selection->origin + ") and " + d.describe() + " (" + d.selection->origin +
              "); at most one attachment may take the default route");
    }
    owner = &d;
  }
  return owner ? owner : &drafts.front();
}

void resolve(Draft& d, const PlanInputs& in) {
  switch (d.source) {
    case Draft::Source::kNad:
      d.net = in.nads.nad(d.selection->ns, d.selection->name);
      break;
    case Draft::Source::kReference:
      d.net = in.nads.reference(d.reference);
      break;
    case Draft::Source::kInline:
      d.net = in.nads.inline_config(d.inline_conf);
      break;
  }
}

// Hands out each resource's devices to attachments in plan order.
class DeviceHandout {
 public:
  DeviceHandout(const PlanInputs& in, const PodContext& ctx) : in_(in), ctx_(ctx) {}

  std::string next(const std::string& resource, const Draft& d) {
    if (ctx_.uid.empty()) {
      invalid(d.describe() + " needs a device of resource \"" + resource +
              "\" but the pod's UID is unknown (no K8S_POD_UID and no pod source)");
    }
    const DeviceCheckpoint& cp = checkpoint();
    std::vector<std::string> ids = cp.devices(ctx_.uid, resource);
    size_t& used = used_[resource];
    if (used >= ids.size()) {
      invalid("pod " + ctx_.ns + "/" + ctx_.name + " has " + std::to_string(ids.size()) +
              " device(s) of resource \"" + resource + "\" but " + d.describe() + " on " +
              d.ifname + " needs device #" + std::to_string(used + 1));
    }
    return ids[used++];
  }

 private:
  const DeviceCheckpoint& checkpoint() {
    if (in_.devices) return *in_.devices;
    if (!loaded_) loaded_ = DeviceCheckpoint::load(in_.meta.device_checkpoint);
    return *loaded_;
  }

  const PlanInputs& in_;
  const PodContext& ctx_;
  std::optional<DeviceCheckpoint> loaded_;
  std::map<std::string, size_t> used_;
};

bool declares(const Json& plugin, const std::string& cap) {
  auto caps = plugin.find("capabilities");
  if (caps == plugin.end() || !caps->is_object()) return false;
  auto it = caps->find(cap);
  return it != caps->end() && it->is_boolean() && it->get<bool>();
}

// multi-net-spec: a request no plugin can honour fails the ADD (Multus skips this check).
void check_capability(const Json& conflist, const RuntimeRequest& req, const Draft& d) {
  const Json& plugins = conflist["plugins"];
  bool ok = std::any_of(plugins.begin(), plugins.end(),
                        [&](const Json& p) { return declares(p, req.capability); });
  if (!ok) {
    throw cni::Error(cni::kUnsupportedField,
                     "\"" + req.field + "\" = " + req.value.dump() + " requested for " +
                         d.describe() + ", but no plugin of network \"" + d.net.network +
                         "\" declares the \"" + req.capability + "\" capability");
  }
}

void inject_runtime_config(Json& plugin, const Json& offered, const Draft& d) {
  for (auto it = offered.begin(); it != offered.end(); ++it) {
    if (!declares(plugin, it.key())) continue;
    Json& rc = plugin["runtimeConfig"];
    if (rc.is_null()) rc = Json::object();
    if (!rc.is_object()) invalid(d.describe() + ": a plugin's runtimeConfig is not an object");
    rc[it.key()] = it.value();
  }
}

void merge_cni_args(Json& plugin, const Json& cni_args, const Draft& d) {
  Json& args = plugin["args"];
  if (args.is_null()) args = Json::object();
  if (!args.is_object()) invalid(d.describe() + ": a plugin's \"args\" is not an object");
  Json& cni = args["cni"];
  if (cni.is_null()) cni = Json::object();
  if (!cni.is_object()) invalid(d.describe() + ": a plugin's \"args.cni\" is not an object");
  for (auto it = cni_args.begin(); it != cni_args.end(); ++it) cni[it.key()] = it.value();
}

// The pod identity every delegate receives as args.cni.podRef ("namespace/name"), which
// cnimux-ipam uses for sticky addresses; a selection's own cni-args may override it.
Json pod_ref_args(const PodContext& ctx) {
  if (ctx.name.empty()) return Json::object();
  return {{"podRef", ctx.ns + "/" + ctx.name}};
}

PlannedAttachment finalize(const Draft& d, const PlanInputs& in, const PodContext& ctx,
                           DeviceHandout& devices) {
  Json conf = d.net.conflist;
  Json offered = d.cluster && in.runtime_config.is_object() ? in.runtime_config : Json::object();
  if (d.selection) {
    for (const RuntimeRequest& req : d.selection->runtime_requests()) {
      check_capability(conf, req, d);
      offered[req.capability] = req.value;  // the pod's request beats the runtime's
    }
  }
  PlannedAttachment a;
  if (!d.net.resource_name.empty()) {
    a.device_id = devices.next(d.net.resource_name, d);
    offered["deviceID"] = a.device_id;
  }
  for (Json& p : conf["plugins"]) {
    if (!a.device_id.empty()) {
      p["deviceID"] = a.device_id;
      p["pciBusID"] = a.device_id;
    }
    inject_runtime_config(p, offered, d);
    if (Json ref = pod_ref_args(ctx); !ref.empty()) merge_cni_args(p, ref, d);
    if (d.selection && d.selection->cni_args.is_object())
      merge_cni_args(p, d.selection->cni_args, d);
  }
  a.network = d.net.network;
  a.ifname = d.ifname;
  a.conflist = conf.dump();
  a.cluster_network = d.cluster;
  return a;
}

}  // namespace

Plan build_plan(const PlanInputs& in) {
  PodContext ctx = pod_context(in);
  std::vector<Draft> drafts;
  drafts.push_back(cluster_draft(in, ctx));
  for (Draft& d : secondary_drafts(in, ctx)) drafts.push_back(std::move(d));
  assign_interfaces(drafts);
  const Draft* route_owner = default_route_owner(drafts);
  for (Draft& d : drafts) resolve(d, in);

  DeviceHandout devices(in, ctx);
  Plan plan;
  for (const Draft& d : drafts) {
    PlannedAttachment a = finalize(d, in, ctx, devices);
    if (&d == route_owner) {
      a.default_route = true;
      if (d.selection) a.gateways = d.selection->default_route;
    }
    plan.attachments.push_back(std::move(a));
  }
  return plan;
}

}  // namespace plugin
