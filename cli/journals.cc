// Reads the node's journals through plugin::Journal into PodViews for cnimuxctl.
#include "cli/journals.h"

#include <algorithm>
#include <filesystem>

#include "cli/output.h"

namespace cli {
namespace {

using Json = nlohmann::json;
using plugin::AttachmentState;
using plugin::JournalState;

std::vector<std::string> addresses_of(const Json& result) {
  std::vector<std::string> out;
  if (!result.is_object() || !result.contains("ips") || !result["ips"].is_array()) return out;
  for (const auto& ip : result["ips"]) {
    if (ip.is_object() && ip.contains("address") && ip["address"].is_string()) {
      out.push_back(ip["address"].get<std::string>());
    }
  }
  return out;
}

std::string config_name(const std::string& conflist) {
  try {
    return Json::parse(conflist).value("name", "");
  } catch (const std::exception&) {
    return "";
  }
}

PodView view_of(const plugin::JournalRecord& rec) {
  PodView v;
  v.container_id = rec.container_id;
  v.pod_namespace = rec.pod_namespace;
  v.pod_name = rec.pod_name;
  v.pod_uid = rec.pod_uid;
  v.netns = rec.netns;
  v.abandoned = rec.abandoned;
  v.deleted_at = rec.deleted_at;
  for (const auto& a : rec.attachments) {
    PodInterface i{a.planned.ifname,
                   a.planned.network,
                   config_name(a.planned.conflist),
                   plugin::state_name(a.state),
                   addresses_of(a.result),
                   a.planned.conflist};
    if (a.state != AttachmentState::kPending) {
      v.owed.push_back(a.planned.ifname + " (" + a.planned.network + ")");
    }
    v.interfaces.push_back(std::move(i));
  }
  switch (rec.state) {
    case JournalState::kComplete:
      v.state = "attached";
      v.owed.clear();
      break;
    case JournalState::kAdding:
      v.state = "adding";
      break;
    case JournalState::kFailed:
      v.state = v.owed.empty() ? "rolled back" : "failed";
      break;
    case JournalState::kDeleted:
      v.state = "deleted";
      break;
  }
  return v;
}

}  // namespace

std::vector<PodView> read_pods(const std::string& cni_dir) {
  std::error_code ec;
  if (!std::filesystem::exists(cni_dir, ec)) return {};
  if (!std::filesystem::is_directory(cni_dir, ec)) {
    throw StateError("cniDir \"" + cni_dir + "\" is not a directory");
  }
  plugin::Journal journal(cni_dir);
  std::vector<std::string> ids = journal.list();
  std::sort(ids.begin(), ids.end());
  std::vector<PodView> pods;
  for (const std::string& cid : ids) {
    try {
      std::optional<plugin::JournalRecord> rec = journal.load(cid);
      if (rec) pods.push_back(view_of(*rec));  // gone meanwhile: a DEL or GC removed it
    } catch (const plugin::CorruptJournal& c) {
      PodView v;
      v.container_id = cid;
      v.state = "corrupt";
      v.error = c.what();
      pods.push_back(std::move(v));
    }
  }
  return pods;
}

std::optional<PodView> read_pod(const std::string& cni_dir, const std::string& container_id) {
  std::error_code ec;
  if (!std::filesystem::is_directory(cni_dir, ec)) return std::nullopt;
  try {
    std::optional<plugin::JournalRecord> rec = plugin::Journal(cni_dir).load(container_id);
    if (!rec) return std::nullopt;
    return view_of(*rec);
  } catch (const plugin::CorruptJournal& c) {
    PodView v;
    v.container_id = container_id;
    v.state = "corrupt";
    v.error = c.what();
    return v;
  }
}

Json to_json(const PodView& pod) {
  Json j = {{"containerID", pod.container_id},
            {"pod", {{"namespace", pod.pod_namespace}, {"name", pod.pod_name}}},
            {"netns", pod.netns},
            {"state", pod.state},
            {"interfaces", Json::array()},
            {"owed", pod.owed},
            {"abandoned", pod.abandoned}};
  for (const auto& i : pod.interfaces) {
    j["interfaces"].push_back({{"ifname", i.ifname},
                               {"network", i.network},
                               {"configName", i.config_name},
                               {"state", i.state},
                               {"addresses", i.addresses}});
  }
  if (pod.state == "deleted") j["deletedAt"] = pod.deleted_at;
  if (!pod.error.empty()) j["error"] = pod.error;
  return j;
}

ipam::LiveAttachments live_attachments(const std::vector<PodView>& pods) {
  ipam::LiveAttachments live;
  for (const auto& pod : pods) {
    if (pod.state == "corrupt") {
      throw StateError(pod.error + " (its attachments are unknown; repair or remove it first)");
    }
    for (const auto& i : pod.interfaces) {
      if (i.state != "pending") live.insert({i.config_name, pod.container_id, i.ifname});
    }
  }
  return live;
}

}  // namespace cli
