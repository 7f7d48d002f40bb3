// `cnimuxctl pods`: the pods this node attached, from its journals.
#include <iostream>

#include "cli/commands.h"
#include "cli/journals.h"
#include "cli/output.h"

namespace cli {
namespace {

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// Container IDs are 64 hex digits; 12 tell them apart on a node, as `docker ps` shows them.
std::string short_id(const std::string& id) {
  return id.substr(0, 12);
}

void print_table(const std::vector<PodView>& pods) {
  Table t({"CONTAINER", "POD", "STATE", "IFACE", "NETWORK", "ADDRESSES"});
  std::vector<std::string> notes;
  for (const auto& p : pods) {
    const std::string pod = p.pod_name.empty() ? "-" : p.pod_namespace + "/" + p.pod_name;
    const std::string cid = short_id(p.container_id);
    if (p.interfaces.empty()) t.add({cid, pod, p.state, "-", "-", "-"});
    bool first = true;
    for (const auto& i : p.interfaces) {
      const std::string addrs = i.addresses.empty() ? "-" : join(i.addresses, ",");
      t.add({first ? cid : "", first ? pod : "", first ? p.state : "", i.ifname, i.network, addrs});
      first = false;
    }
    if (!p.owed.empty() && p.state != "attached") {
      notes.push_back(cid + ": a DEL is owed for " + join(p.owed, ", "));
    }
    for (const auto& a : p.abandoned) notes.push_back(cid + ": abandoned: " + a);
    if (!p.error.empty()) notes.push_back(cid + ": " + p.error);
  }
  if (t.empty()) {
    std::cout << "no pods\n";
    return;
  }
  t.print(std::cout);
  if (!notes.empty()) std::cout << "\n";
  for (const auto& n : notes) std::cout << n << "\n";
}

}  // namespace

int pods(const std::string& cni_dir, bool json) {
  std::vector<PodView> all = read_pods(cni_dir);
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& p : all) out.push_back(to_json(p));
    std::cout << out.dump() << "\n";
  } else {
    print_table(all);
  }
  return kExitOk;
}

}  // namespace cli
