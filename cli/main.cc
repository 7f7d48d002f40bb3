// cnimuxctl: the operator's command line. Parses the command line (CLI11) and hands each
// command to cli/commands.h; failures become exit statuses (docs/cnimuxctl.md).
#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/output.h"
#include "cni/error.h"
#include "ipam/config.h"
#include "plugin/journal.h"

namespace {

constexpr const char* kFooter = R"(Examples:
  cnimuxctl pod add examples/pods/web.yaml --conflist /etc/cni/net.d/00-cnimux.conflist
  cnimuxctl pod del examples/pods/web.yaml
  cnimuxctl annotation parse 'default/macvlan-a@net5,ns2/sriov' --namespace web
  cnimuxctl nad validate examples/nads/*.yaml
  cnimuxctl pods --cni-dir /var/lib/cni/cnimux
  cnimuxctl ipam pools
  cnimuxctl ipam show macvlan-a --json
  cnimuxctl ipam release 10.77.0.7 --pool macvlan-a
  cnimuxctl ipam gc --dry-run
  cnimuxctl ipam gc --kubeconfig ~/.kube/config --node node-1 --yes

Exit status: 0 success; 1 invalid input or refused action (the plugin's message on stderr);
2 bad command line; 3 the node's journals, IPAM store, sandbox records or (ipam gc --kubeconfig)
API cannot be read; 4 (pod) a CNI plugin failed the verb, its error on stderr.
Reference: docs/cnimuxctl.md)";

std::string default_store() {
  return std::string(ipam::kDefaultStoreDir) + "/" + ipam::kDefaultStoreFile;
}

// Prints a failure on stderr (and as {"error": ...} on stdout with --json) and maps it to an
// exit status.
int fail(int status, int code, const std::string& msg, bool json) {
  if (json) std::cout << nlohmann::json{{"error", {{"code", code}, {"msg", msg}}}}.dump() << "\n";
  std::cerr << "cnimuxctl: " << msg << "\n";
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cnimuxctl: inspect and repair a cnimux node offline"};
  app.footer(kFooter);
  app.require_subcommand(1);
  bool json = false;
  app.add_flag("--json", json, "Print JSON instead of tables (every command)");

  auto* annotation = app.add_subcommand("annotation", "The k8s.v1.cni.cncf.io/networks annotation");
  annotation->require_subcommand(1);
  auto* parse = annotation->add_subcommand(
      "parse", "Print the selection elements the plugin resolves VALUE to, as JSON");
  std::string value, ns = "default";
  parse->add_option("VALUE", value, "The annotation's value (comma or JSON form)")->required();
  parse->add_option("--namespace,-n", ns, "The pod's namespace")->capture_default_str();
  parse->footer(
      "Example: cnimuxctl annotation parse '[{\"name\":\"mv\",\"ips\":[\"10.1.0.5/24\"]}]' -n web");

  auto* nad = app.add_subcommand("nad", "NetworkAttachmentDefinition manifests");
  nad->require_subcommand(1);
  auto* validate =
      nad->add_subcommand("validate", "Check NAD manifests as the plugin's nadDir reads them");
  std::vector<std::string> files;
  std::string conf_dir = "/etc/cni/net.d";
  validate->add_option("FILE", files, "YAML or JSON manifests (.yaml, .yml, .json)")->required();
  validate->add_option("--conf-dir", conf_dir, "Where a NAD without spec.config is looked up")
      ->capture_default_str();
  validate->footer("Example: cnimuxctl nad validate examples/nads/macvlan-a.yaml nads/*.json");

  std::string cni_dir = "/var/lib/cni/cnimux";
  auto* pods = app.add_subcommand("pods", "The pods this node attached, from the journals");
  pods->add_option("--cni-dir", cni_dir, "The plugin's cniDir")->capture_default_str();
  pods->footer("Example: cnimuxctl pods --cni-dir /var/lib/cni/cnimux --json");

  cli::IpamOptions io;
  io.store = default_store();
  auto* ipam_cmd = app.add_subcommand("ipam", "The node's cnimux-ipam store");
  ipam_cmd->require_subcommand(1);
  ipam_cmd->add_option("--store", io.store, "The SQLite database")->capture_default_str();
  ipam_cmd->add_option("--cni-dir", cni_dir, "The plugin's cniDir (live attachments, pool sizes)")
      ->capture_default_str();
  auto* pools = ipam_cmd->add_subcommand("pools", "Usage per pool: used, free, size");
  auto* show = ipam_cmd->add_subcommand("show", "The allocations of one pool");
  std::string pool;
  show->add_option("POOL", pool, "The pool's name")->required();
  auto* release = ipam_cmd->add_subcommand("release", "Free one address by hand");
  std::string addr;
  bool force = false;
  release->add_option("ADDR", addr, "The address")->required();
  release->add_option("--pool", pool, "The pool, when several hold ADDR");
  release->add_flag("--force", force, "Free it even though a live journal holds it");
  auto* gc = ipam_cmd->add_subcommand(
      "gc", "Free what no live journal attachment (and, with --kubeconfig, no live pod) holds");
  cli::GcOptions go;
  gc->add_flag("--dry-run", go.dry_run, "Only list what would be freed");
  auto* kubeconfig = gc->add_option(
      "--kubeconfig", go.kubeconfig,
      "Also free what journals of pods the API no longer has hold (needs list pods)");
  gc->add_option("--node", go.node, "With --kubeconfig: only pods on this node count as live")
      ->needs(kubeconfig);
  gc->add_flag("--yes", go.yes, "With --kubeconfig: free (without it, only list)")
      ->needs(kubeconfig);
  gc->footer(
      "Examples:\n  cnimuxctl ipam gc --dry-run\n"
      "  cnimuxctl ipam gc --kubeconfig ~/.kube/config --node $(hostname)\n"
      "  cnimuxctl ipam gc --kubeconfig ~/.kube/config --node $(hostname) --yes");
  ipam_cmd->footer(
      "Examples:\n  cnimuxctl ipam pools\n  cnimuxctl ipam show macvlan-a\n"
      "  cnimuxctl ipam release 10.77.0.7 --pool macvlan-a\n"
      "  cnimuxctl ipam gc --dry-run --cni-dir /var/lib/cni/cnimux");

  cli::PodOptions po;
  auto* pod = app.add_subcommand(
      "pod", "Act as the container runtime for one pod (containerd's CNI calls)");
  pod->require_subcommand(1);
  pod->add_option("--conflist", po.conflist,
                  "The network config to run (default: the first in --conf-dir)");
  pod->add_option("--conf-dir", po.conf_dir, "Where the node's network configs are")
      ->capture_default_str();
  pod->add_option("--bin-dir", po.bin_dirs, "Where plugins are found (repeatable); also CNI_PATH")
      ->capture_default_str()
      ->delimiter(':');
  pod->add_option("--cache-dir", po.cache_dir, "The runtime's sandbox records and cached results")
      ->capture_default_str();
  pod->add_option("--timeout", po.timeout_seconds, "Seconds each plugin may take")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  pod->footer(
      "Examples:\n"
      "  cnimuxctl pod add examples/pods/web.yaml --conflist net.d/00-cnimux.conflist\n"
      "  cnimuxctl pod check examples/pods/web.yaml --json\n"
      "  cnimuxctl pod del examples/pods/web.yaml\n"
      "ADD: create or reuse the netns, ADD with K8S_POD_* CNI_ARGS and the manifest's annotations\n"
      "(runtimeConfig io.kubernetes.cri.pod-annotations), cache the result; on failure DEL and\n"
      "remove the netns. DEL: DEL with netns and prevResult, remove the netns, DEL without netns.\n"
      "CHECK: CHECK with the cached result. Exit 4 when a plugin fails (docs/cnimuxctl.md).");
  auto* pod_add = pod->add_subcommand("add", "Create the sandbox's netns and ADD its networks");
  auto* pod_del = pod->add_subcommand("del", "DEL the pod's networks and remove its netns");
  auto* pod_check =
      pod->add_subcommand("check", "CHECK the pod's networks against the cached result");
  for (CLI::App* verb : {pod_add, pod_del, pod_check}) {
    verb->add_option("POD_MANIFEST", po.manifest, "The Pod (YAML or JSON)")->required();
  }
  pod_add->add_option("--netns", po.netns, "The netns name (default cnimux-<namespace>-<name>)");
  pod_add->add_option("--ifname", po.ifname, "CNI_IFNAME")->capture_default_str();

  // --json (and ipam's --store, --cni-dir, pod's options) may follow the subcommand.
  for (CLI::App* sub : {annotation, parse, nad, validate, pods, ipam_cmd, pools, show, release, gc,
                        pod, pod_add, pod_del, pod_check}) {
    sub->fallthrough();
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help or the usage error
    return rc == 0 ? cli::kExitOk : cli::kExitUsage;
  }
  io.cni_dir = cni_dir;
  io.json = json;
  po.json = json;
  try {
    if (*parse) return cli::annotation_parse(value, ns, json);
    if (*validate) return cli::nad_validate(files, conf_dir, json);
    if (*pods) return cli::pods(cni_dir, json);
    if (*pools) return cli::ipam_pools(io);
    if (*show) return cli::ipam_show(io, pool);
    if (*release) return cli::ipam_release(io, addr, pool, force);
    if (*gc) return cli::ipam_gc(io, go);
    if (*pod_add) return cli::pod_add(po);
    if (*pod_del) return cli::pod_del(po);
    if (*pod_check) return cli::pod_check(po);
  } catch (const cni::Error& e) {
    return fail(cli::kExitInvalid, e.code(), e.msg(), json);
  } catch (const cli::Refused& e) {
    return fail(cli::kExitInvalid, cni::kInvalidConfig, e.what(), json);
  } catch (const cli::StateError& e) {
    return fail(cli::kExitState, cni::kIoFailure, e.what(), json);
  } catch (const std::exception& e) {
    return fail(cli::kExitState, cni::kIoFailure, e.what(), json);
  }
  return cli::kExitUsage;
}
