// `cnimuxctl pod add|del|check`: act as the container runtime for one pod, the way containerd
// drives CNI (cli/cni_runtime.h), with the pod's annotations read from its manifest by the
// plugin's own manifest code and handed over as containerd hands them over.
#include <iostream>

#include "cli/cni_runtime.h"
#include "cli/commands.h"
#include "cli/journals.h"
#include "cli/named_netns.h"
#include "cli/output.h"
#include "cni/error.h"
#include "plugin/manifests.h"
#include "plugin/meta_config.h"
#include "plugin/pod_source.h"

namespace cli {
namespace {

using Json = nlohmann::json;

// Collects the Pod objects of one manifest document (items of a List included).
void collect_pods(const Json& doc, std::vector<Json>& out) {
  if (!doc.is_object()) return;
  const std::string kind = doc.value("kind", "");
  if (kind == "Pod") out.push_back(doc);
  if (kind.size() > 4 && kind.ends_with("List") && doc.contains("items") &&
      doc["items"].is_array()) {
    for (const Json& item : doc["items"]) collect_pods(item, out);
  }
}

// The pod of a manifest file, read as the plugin's podDir reads it.
plugin::PodInfo load_pod(const std::string& manifest) {
  std::vector<Json> pods;
  for (const Json& doc : plugin::read_manifest(manifest)) collect_pods(doc, pods);
  if (pods.size() != 1) {
    throw cni::Error(cni::kInvalidConfig, "manifest \"" + manifest + "\" holds " +
                                              std::to_string(pods.size()) +
                                              " Pod objects; want exactly one");
  }
  plugin::PodInfo pod = plugin::pod_info_from_object(pods.front(), "manifest");
  if (pod.name.empty()) {
    throw cni::Error(cni::kInvalidConfig, "manifest \"" + manifest + "\": no metadata.name");
  }
  if (pod.ns.empty()) pod.ns = "default";
  return pod;
}

std::string pod_ref(const plugin::PodInfo& p) {
  return p.ns + "/" + p.name;
}

std::string default_netns(const plugin::PodInfo& p) {
  return "cnimux-" + p.ns + "-" + p.name;
}

// The journal directory of the list's cnimux plugin, if the list has one.
std::optional<std::string> cnimux_cni_dir(const NetworkList& list) {
  for (const Json& p : list.plugins) {
    if (p.value("type", "") == "cnimux") {
      return p.contains("cniDir") && p["cniDir"].is_string() ? p["cniDir"].get<std::string>()
                                                             : plugin::MetaConfig().cni_dir;
    }
  }
  return std::nullopt;
}

bool declares(const NetworkList& list, const std::string& capability) {
  for (const Json& p : list.plugins) {
    if (p.contains("capabilities") && p["capabilities"].is_object() &&
        p["capabilities"].value(capability, false) == true) {
      return true;
    }
  }
  return false;
}

// The attachments of one sandbox: from cnimux's journal when the list runs cnimux (every
// network), else from the list's result (its interfaces in the pod and their addresses).
std::vector<PodInterface> attachments(const NetworkList& list, const std::string& cid,
                                      const Json& result) {
  if (auto dir = cnimux_cni_dir(list)) {
    if (auto view = read_pod(*dir, cid)) return view->interfaces;
  }
  std::vector<PodInterface> out;
  if (!result.is_object()) return out;
  const Json ifaces = result.value("interfaces", Json::array());
  for (size_t i = 0; i < ifaces.size(); ++i) {
    if (!ifaces[i].is_object() || ifaces[i].value("sandbox", "").empty()) continue;
    PodInterface pi{ifaces[i].value("name", ""), list.name, list.name, "added", {}, ""};
    for (const Json& ip : result.value("ips", Json::array())) {
      if (ip.is_object() && ip.value("interface", -1) == static_cast<int>(i)) {
        pi.addresses.push_back(ip.value("address", ""));
      }
    }
    out.push_back(std::move(pi));
  }
  return out;
}

Json attachments_json(const std::vector<PodInterface>& list) {
  Json out = Json::array();
  for (const auto& i : list) {
    out.push_back({{"ifname", i.ifname},
                   {"network", i.network},
                   {"state", i.state},
                   {"addresses", i.addresses}});
  }
  return out;
}

void print_attachments(const std::vector<PodInterface>& list) {
  Table t({"IFACE", "NETWORK", "STATE", "ADDRESSES"});
  for (const auto& i : list) {
    std::string addrs;
    for (const auto& a : i.addresses) addrs += (addrs.empty() ? "" : ",") + a;
    t.add({i.ifname, i.network, i.state, addrs.empty() ? "-" : addrs});
  }
  t.print(std::cout);
}

Json pod_json(const plugin::PodInfo& p) {
  return {{"namespace", p.ns}, {"name", p.name}, {"uid", p.uid}};
}

RuntimeConf runtime_of(const SandboxRecord& r, const PodOptions& o) {
  RuntimeConf rt;
  rt.container_id = r.container_id;
  rt.netns = netns_path(r.netns_name);
  rt.ifname = r.ifname;
  rt.cni_args = r.cni_args;
  for (const auto& [k, v] : r.capability_args.items()) rt.capability_args[k] = v;
  rt.bin_dirs = o.bin_dirs;
  rt.timeout_seconds = o.timeout_seconds;
  return rt;
}

NetworkList list_of(const SandboxRecord& r) {
  try {
    return parse_network_list(r.conflist.dump(), r.conflist_file);
  } catch (const cni::Error& e) {
    throw StateError("the sandbox record of " + r.pod_namespace + "/" + r.pod_name + ": " +
                     e.msg());
  }
}

// A failed verb: the plugin's error on stderr (and as {"error": ...} in `out` for --json).
int plugin_failed(const std::string& what, const cni::Error& e, Json out, bool json) {
  if (json) {
    out["error"] = {{"code", e.code()}, {"msg", e.msg()}};
    if (!e.details().empty()) out["error"]["details"] = e.details();
    std::cout << out.dump() << "\n";
  }
  std::cerr << "cnimuxctl: " << what << " failed (CNI error " << e.code() << "): " << e.msg()
            << "\n";
  if (!e.details().empty()) std::cerr << "  details: " << e.details() << "\n";
  return kExitPlugin;
}

// containerd's teardown of a sandbox whose ADD failed: DEL with the netns and no prevResult
// (nothing was cached), then the netns and the record go. Returns the DEL's error, if any.
std::optional<cni::Error> teardown_failed_add(const NetworkList& list, const RuntimeConf& rt,
                                              const SandboxRecord& rec, const PodOptions& o) {
  std::optional<cni::Error> err;
  try {
    del_network_list(list, rt, Json());
  } catch (const cni::Error& e) {
    err = e;  // the record stays, so `pod del` can retry
  }
  if (!err) {
    if (rec.created_netns) delete_netns(rec.netns_name);
    remove_sandbox(o.cache_dir, rec.pod_namespace, rec.pod_name);
  }
  return err;
}

// The record of a new sandbox for `pod`, before its ADD: a fresh ID and what containerd
// would pass (CNI_ARGS, the annotations as runtimeConfig).
SandboxRecord new_record(const plugin::PodInfo& pod, const NetworkList& list,
                         const std::string& file, const std::string& netns,
                         const std::string& ifname) {
  SandboxRecord rec;
  rec.pod_namespace = pod.ns;
  rec.pod_name = pod.name;
  rec.pod_uid = pod.uid;
  rec.container_id = new_sandbox_id();
  rec.netns_name = netns;
  rec.ifname = ifname;
  rec.cni_args = k8s_cni_args(pod.ns, pod.name, pod.uid, rec.container_id);
  rec.capability_args[plugin::kCriPodAnnotationsKey] = pod.annotations;
  rec.conflist = list.raw;
  rec.conflist_file = file;
  rec.state = "adding";
  return rec;
}

// Prints a failed ADD (`e`) and how its teardown went (`td`: the teardown DEL's error, if any).
int report_failed_add(const NetworkList& list, const SandboxRecord& rec, const cni::Error& e,
                      const std::optional<cni::Error>& td, Json out, bool json) {
  out["teardown"] = td ? Json{{"code", td->code()}, {"msg", td->msg()}} : Json("done");
  out["attachments"] = attachments_json(attachments(list, rec.container_id, Json()));
  const std::string pod = rec.pod_namespace + "/" + rec.pod_name;
  const int rc = plugin_failed("pod add " + pod + ": ADD", e, out, json);
  if (td) {
    std::cerr << "cnimuxctl: the DEL that tears the sandbox down failed too: " << td->msg()
              << "\n  the sandbox record stays; run `cnimuxctl pod del` again\n";
  } else {
    std::cerr << "cnimuxctl: sandbox torn down as containerd does: DEL sent"
              << (rec.created_netns ? ", netns " + rec.netns_name + " removed" : "") << "\n";
  }
  return rc;
}

}  // namespace

int pod_add(const PodOptions& o) {
  const plugin::PodInfo pod = load_pod(o.manifest);
  const std::string file = o.conflist.empty() ? first_conflist(o.conf_dir) : o.conflist;
  const NetworkList list = parse_network_list(plugin::read_config_file(file), file);
  const std::string netns = o.netns.empty() ? default_netns(pod) : o.netns;
  validate_netns_name(netns);
  const SandboxLock lock(o.cache_dir, pod.ns, pod.name);
  if (auto old = load_sandbox(o.cache_dir, pod.ns, pod.name)) {
    throw Refused("pod " + pod_ref(pod) + " already has sandbox " + old->container_id +
                  (old->state == "added" ? " attached" : " whose ADD did not finish") +
                  "; run `cnimuxctl pod del` first");
  }
  if (!declares(list, plugin::kCriPodAnnotationsKey)) {
    std::cerr << "cnimuxctl: warning: no plugin of \"" << file << "\" declares the "
              << plugin::kCriPodAnnotationsKey
              << " capability, so the manifest's annotations are not passed (as with "
                 "containerd); the plugin looks the pod up itself\n";
  }

  SandboxRecord rec = new_record(pod, list, file, netns, o.ifname);
  rec.created_netns = !netns_exists(netns);
  if (rec.created_netns) create_netns(netns);
  // Recorded before ADD runs: an interrupted ADD still leaves what `pod del` needs.
  try {
    save_sandbox(o.cache_dir, rec);
  } catch (...) {
    if (rec.created_netns) delete_netns(netns);
    throw;
  }
  const RuntimeConf rt = runtime_of(rec, o);
  Json out = {{"pod", pod_json(pod)},
              {"containerID", rec.container_id},
              {"netns", netns_path(netns)},
              {"network", list.name}};
  try {
    rec.result = add_network_list(list, rt);
  } catch (const cni::Error& e) {
    const std::optional<cni::Error> td = teardown_failed_add(list, rt, rec, o);
    return report_failed_add(list, rec, e, td, std::move(out), o.json);
  }
  rec.state = "added";
  save_sandbox(o.cache_dir, rec);
  const std::vector<PodInterface> att = attachments(list, rec.container_id, rec.result);
  if (o.json) {
    out["result"] = rec.result;
    out["attachments"] = attachments_json(att);
    std::cout << out.dump() << "\n";
  } else {
    std::cout << "pod " << pod_ref(pod) << ": attached by \"" << list.name << "\", sandbox "
              << rec.container_id.substr(0, 12) << ", netns " << netns << "\n";
    print_attachments(att);
  }
  return kExitOk;
}

int pod_del(const PodOptions& o) {
  const plugin::PodInfo pod = load_pod(o.manifest);
  const SandboxLock lock(o.cache_dir, pod.ns, pod.name);
  const std::optional<SandboxRecord> rec = load_sandbox(o.cache_dir, pod.ns, pod.name);
  Json out = {{"pod", pod_json(pod)}};
  if (!rec) {
    out["deleted"] = false;
    if (o.json)
      std::cout << out.dump() << "\n";
    else
      std::cout << "pod " << pod_ref(pod) << ": no sandbox, nothing to delete\n";
    return kExitOk;
  }
  const NetworkList list = list_of(*rec);
  RuntimeConf rt = runtime_of(*rec, o);
  out["containerID"] = rec->container_id;
  out["netns"] = rt.netns;
  // StopPodSandbox: DEL with the netns and the cached result; then the netns goes.
  try {
    del_network_list(list, rt, rec->state == "added" ? rec->result : Json());
  } catch (const cni::Error& e) {
    return plugin_failed("pod del " + pod_ref(pod) + ": DEL", e, out, o.json);
  }
  if (rec->created_netns) delete_netns(rec->netns_name);
  // RemovePodSandbox: DEL again, without a netns and without prevResult.
  rt.netns.clear();
  try {
    del_network_list(list, rt, Json());
  } catch (const cni::Error& e) {
    return plugin_failed("pod del " + pod_ref(pod) + ": second DEL (no netns)", e, out, o.json);
  }
  remove_sandbox(o.cache_dir, pod.ns, pod.name);
  out["deleted"] = true;
  out["netnsRemoved"] = rec->created_netns;
  if (o.json) {
    std::cout << out.dump() << "\n";
  } else {
    std::cout << "pod " << pod_ref(pod) << ": detached, sandbox " << rec->container_id.substr(0, 12)
              << ": DEL with netns, "
              << (rec->created_netns ? "netns " + rec->netns_name + " removed, " : "")
              << "DEL without netns\n";
  }
  return kExitOk;
}

int pod_check(const PodOptions& o) {
  const plugin::PodInfo pod = load_pod(o.manifest);
  const SandboxLock lock(o.cache_dir, pod.ns, pod.name);
  const std::optional<SandboxRecord> rec = load_sandbox(o.cache_dir, pod.ns, pod.name);
  if (!rec || rec->state != "added") {
    throw Refused("pod " + pod_ref(pod) + " is not attached (no finished ADD in \"" + o.cache_dir +
                  "\")");
  }
  const NetworkList list = list_of(*rec);
  Json out = {{"pod", pod_json(pod)},
              {"containerID", rec->container_id},
              {"netns", netns_path(rec->netns_name)}};
  if (list.disable_check) {
    out["checked"] = false;
    if (o.json)
      std::cout << out.dump() << "\n";
    else
      std::cout << "pod " << pod_ref(pod) << ": \"" << list.name << "\" sets disableCheck\n";
    return kExitOk;
  }
  try {
    check_network_list(list, runtime_of(*rec, o), rec->result);
  } catch (const cni::Error& e) {
    return plugin_failed("pod check " + pod_ref(pod) + ": CHECK", e, out, o.json);
  }
  const std::vector<PodInterface> att = attachments(list, rec->container_id, rec->result);
  out["checked"] = true;
  out["attachments"] = attachments_json(att);
  if (o.json) {
    std::cout << out.dump() << "\n";
  } else {
    std::cout << "pod " << pod_ref(pod) << ": CHECK passed, sandbox "
              << rec->container_id.substr(0, 12) << "\n";
    print_attachments(att);
  }
  return kExitOk;
}

}  // namespace cli
