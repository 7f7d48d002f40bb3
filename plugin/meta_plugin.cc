// The meta plugin's verbs: the ADD transaction with its rollback, and DEL, CHECK, GC and
// STATUS over the journal.
#include "plugin/meta_plugin.h"

#include <spdlog/spdlog.h>
#include <string.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "cni/error.h"
#include "cni/gc_request.h"
#include "cni/phase_trace.h"
#include "cni/process.h"
#include "cni/skeleton.h"
#include "cni/version.h"
#include "ipam/allocator.h"
#include "ipam/config.h"
#include "ipam/store.h"
#include "net/netns.h"
#include "plugin/coordination.h"
#include "plugin/default_route.h"
#include "plugin/interrupt.h"
#include "plugin/meta_config.h"
#include "plugin/network_status.h"
#include "plugin/session.h"

namespace plugin {
namespace {

using nlohmann::json;

std::string describe(const PlannedAttachment& a) {
  return "network \"" + a.network + "\" (" + a.ifname + ")";
}

// The outcome of undoing attachments: what was removed and what could not be.
struct UndoOutcome {
  std::vector<std::string> undone;
  std::vector<cni::Error> failures;
  // Attachments whose stored config could no longer run or parse: given up, not owed.
  std::vector<std::string> abandoned;

  std::string report() const {
    std::string s;
    for (const auto& u : undone) s += (s.empty() ? "" : ", ") + u;
    s = "rollback: removed [" + s + "]";
    for (const auto& f : failures) s += "; failed: " + f.msg();
    for (const auto& a : abandoned) s += "; given up: " + a;
    return s;
  }
};

// The netns a DEL hands its delegates: "" when the namespace is gone, as a runtime passes it
// then. The reference plugins fail on a path that is no longer an nsfs mount (the empty file
// left after an unmount), although there is nothing left in it to clean up.
std::string netns_for_del(const std::string& path) {
  if (path.empty()) return path;
  try {
    net::Netns::open(path);
  } catch (const net::NetnsGoneError& e) {
    spdlog::info("{}; deleting with an empty CNI_NETNS", e.msg());
    return "";
  } catch (const cni::Error&) {
    // Not provably gone (e.g. permissions): let the delegates see the path and report.
  }
  return path;
}

// DELs every attachment the record says was started or added, newest first, in `netns`
// (handed to the delegates empty when it is gone). Each one that succeeds goes back to
// kPending, so the record always says what is owed.
UndoOutcome undo_attachments(Session& s, JournalRecord& rec, const std::string& netns_path) {
  UndoOutcome out;
  // Coordination ran last, after every delegate: it is undone first.
  if (!rec.coordination.is_null()) {
    try {
      undo_coordination(rec, netns_path);
      out.undone.push_back("coordination");
    } catch (const cni::Error& e) {
      out.failures.push_back(e);
    }
  }
  const std::string netns = netns_for_del(netns_path);
  for (auto it = rec.attachments.rbegin(); it != rec.attachments.rend(); ++it) {
    if (it->state == AttachmentState::kPending) continue;
    ChainContext ctx = s.chain_context(it->planned.ifname);
    // GC undoes other containers' records: the invocation names none, the record does.
    ctx.container_id = rec.container_id;
    ctx.netns = netns;
    try {
      for (const std::string& why : s.chain().del(it->planned.conflist, ctx, it->result)) {
        spdlog::warn("{}: cannot be undone as stored: {}", describe(it->planned), why);
        out.abandoned.push_back(describe(it->planned) + ": " + why);
      }
      it->state = AttachmentState::kPending;
      it->result = nullptr;
      out.undone.push_back(describe(it->planned));
    } catch (const cni::Error& e) {
      out.failures.emplace_back(e.code(), describe(it->planned) + ": " + e.msg(), e.details());
    } catch (const std::exception& e) {
      out.failures.emplace_back(cni::kIoFailure, describe(it->planned) + ": " + e.what());
    }
  }
  return out;
}

// Saves what an undo left behind: nothing owed becomes a tombstone that the runtime's DEL
// clears; anything still owed stays for the next DEL to finish.
void record_undo(Session& s, JournalRecord& rec) {
  rec.state = JournalState::kFailed;
  rec.result = nullptr;
  // An undo only ever shrinks what is owed, so the durable record before it stays correct.
  s.journal().save(rec, Journal::Sync::kOrdered);
}

// Runs the ADD rollback when an ADD leaves its scope without commit(); the report lands in
// `report` before the caller's catch block attaches it to the error.
class AddRollback {
 public:
  AddRollback(Session& s, JournalRecord& rec, std::string& report)
      : s_(s), rec_(rec), report_(report) {}
  AddRollback(const AddRollback&) = delete;
  AddRollback& operator=(const AddRollback&) = delete;
  ~AddRollback() {
    if (committed_) return;
    try {
      UndoOutcome out = undo_attachments(s_, rec_, rec_.netns);
      report_ = out.report();
      record_undo(s_, rec_);
    } catch (const std::exception& e) {
      report_ += std::string("; rollback could not be recorded: ") + e.what();
    }
  }
  void commit() { committed_ = true; }

 private:
  Session& s_;
  JournalRecord& rec_;
  std::string& report_;
  bool committed_ = false;
};

JournalRecord new_record(Session& s, const std::optional<PodInfo>& pod, const Plan& plan) {
  const cni::Invocation& inv = s.invocation();
  JournalRecord rec;
  rec.container_id = inv.container_id;
  rec.netns = inv.netns;
  rec.ifname = inv.ifname;
  rec.cni_version = s.request().conf.cni_version();
  if (pod) {
    rec.pod_namespace = pod->ns;
    rec.pod_name = pod->name;
    rec.pod_uid = pod->uid;
  } else {
    rec.pod_namespace = inv.pod_namespace();
    rec.pod_name = inv.pod_name();
    rec.pod_uid = inv.pod_uid();
  }
  for (const auto& a : plan.attachments)
    rec.attachments.push_back({a, AttachmentState::kPending, nullptr});
  return rec;
}

std::string interruption(int sig) {
  return "interrupted by " + cni::signal_name(sig);
}

void check_interrupted() {
  if (int sig = InterruptGuard::received())
    throw cni::Error(cni::kTryAgainLater, interruption(sig));
}

// The next attachment's first delegate, started while this one runs; null when it cannot be
// started ahead (in-process, or its start failed: its own call then reports that).
std::unique_ptr<cni::Prestart> prestart_next(Session& s, const JournalRecord& rec, size_t i) {
  if (i + 1 >= rec.attachments.size() || !s.config().start_delegates_ahead) return nullptr;
  const PlannedAttachment& next = rec.attachments[i + 1].planned;
  try {
    return s.chain().prestart_first(next.conflist, s.chain_context(next.ifname));
  } catch (const std::exception& e) {
    spdlog::debug("{} is not started ahead: {}", describe(next), e.what());
    return nullptr;
  }
}

// Runs every attachment in order. Each start is durable before its delegate gets its config,
// and each finish is recorded together with the next start.
void run_attachments(Session& s, JournalRecord& rec) {
  std::unique_ptr<cni::Prestart> next;  // killed unfed if this loop ends before its turn
  for (size_t i = 0; i < rec.attachments.size(); ++i) {
    auto& a = rec.attachments[i];
    check_interrupted();
    a.state = AttachmentState::kStarted;
    try {
      s.journal().save(rec, Journal::Sync::kDeferred);
    } catch (...) {
      a.state = AttachmentState::kPending;  // never ran: the rollback must not DEL it
      throw;
    }
    // The record is made durable while the delegate execs and starts up, and before it is
    // given its config, so it is on disk before the delegate can act (docs/journal.md).
    bool sync_failed = false;
    ChainContext ctx = s.chain_context(a.planned.ifname);
    ctx.before_first_input = [&] {
      try {
        s.journal().sync(rec.container_id);
      } catch (...) {
        sync_failed = true;
        throw;
      }
    };
    // Like the cluster network's (MetaPlugin::add), the next delegate execs and starts up
    // while this one runs, and gets its config only after its own record is durable.
    std::unique_ptr<cni::Prestart> starting;
    ctx.after_first_input = [&] { starting = prestart_next(s, rec, i); };
    try {
      cni::Result r = s.chain().add(a.planned.conflist, ctx);
      a.result = r.to_json(cni::latest_version());
      a.state = AttachmentState::kAdded;
    } catch (const cni::Error& e) {
      // The delegate was stopped before it got its config: the rollback must not DEL it.
      if (sync_failed) a.state = AttachmentState::kPending;
      // A delegate our signal handler stopped failed because of the signal, not on its own:
      // report the interruption (as between attachments), with the delegate's words as details.
      if (int sig = InterruptGuard::received()) {
        throw cni::Error(cni::kTryAgainLater, describe(a.planned) + ": " + interruption(sig),
                         e.msg());
      }
      throw cni::Error(e.code(), describe(a.planned) + ": " + e.msg(), e.details());
    }
    next = std::move(starting);
  }
  check_interrupted();
}

// Writes network-status to the pod (one PATCH). It is logged too, so a node without an API
// server still shows what the pod got.
void publish_status(Session& s, const JournalRecord& rec) {
  json entries = json::array();
  for (const auto& a : rec.attachments) {
    entries.push_back(network_status_entry(a.planned, cni::Result::from_json(a.result, "")));
  }
  if (json veth = coordination_status_entry(rec); !veth.is_null()) entries.push_back(veth);
  spdlog::info("network-status of {}/{}: {}", rec.pod_namespace, rec.pod_name, entries.dump());
  if (rec.pod_namespace.empty() || rec.pod_name.empty()) return;
  KubeClient* kube = s.kube();
  if (!kube) return;
  try {
    kube->patch_pod_annotation(rec.pod_namespace, rec.pod_name, kNetworkStatusAnnotation,
                               entries.dump());
  } catch (const cni::Error& e) {
    if (s.status_required()) throw;
    spdlog::warn("network-status not written (statusPolicy bestEffort): {}", e.msg());
  }
}

// A repeated ADD: a complete record is returned as is; a partial one is undone first.
std::optional<cni::Result> resume_previous(Session& s) {
  const cni::Invocation& inv = s.invocation();
  std::optional<JournalRecord> prev;
  try {
    prev = s.journal().load(inv.container_id);
  } catch (const CorruptJournal& c) {
    throw cni::Error(cni::kIoFailure, "journal " + c.path + " is corrupt (" + c.reason +
                                          "); DEL the container before adding it again");
  }
  if (!prev || prev->state == JournalState::kDeleted) return std::nullopt;
  if (prev->state == JournalState::kComplete) {
    if (prev->ifname != inv.ifname) {
      // cnimux attaches one set of networks per container, named by the runtime's first ADD;
      // undoing it because another interface name arrived would tear down a live pod.
      throw cni::Error(cni::kInvalidEnvironment,
                       "container \"" + inv.container_id + "\" is already attached on \"" +
                           prev->ifname + "\"; CNI_IFNAME \"" + inv.ifname +
                           "\" would be a second attachment: DEL the first one");
    }
    spdlog::info("ADD repeated for an attached container: returning the recorded result");
    return cni::Result::from_json(prev->result, "");
  }
  UndoOutcome out = undo_attachments(s, *prev, inv.netns);
  record_undo(s, *prev);
  if (!out.failures.empty()) {
    throw cni::Error(out.failures.front().code(),
                     "cannot undo the previous ADD of this container: " + out.report());
  }
  return std::nullopt;
}

bool nothing_started(const JournalRecord& rec) {
  return std::all_of(rec.attachments.begin(), rec.attachments.end(),
                     [](const auto& a) { return a.state == AttachmentState::kPending; });
}

// An ADD that failed before any delegate ran leaves a tombstone when no record exists, so the
// runtime's DEL owes nothing instead of rebuilding the plan from NADs that may have changed
// since (a NAD edited to name a delegate whose DEL fails would wedge the pod). Best effort:
// without it (the disk is full) DEL rebuilds the plan, as for a pod Multus attached.
void bury_if_unrecorded(Session& s, const JournalRecord& rec) noexcept {
  try {
    // A record says more than nothing; the ADD marker says as much as a tombstone, which
    // also names the pod (when the disk takes it).
    if (auto found = s.journal().load(rec.container_id); found && !found->marker) return;
    s.journal().bury(rec, {});
  } catch (const std::exception& e) {
    spdlog::warn("ADD failed before any delegate ran; no tombstone written: {}", e.what());
  }
}

}  // namespace

MetaPlugin::MetaPlugin() = default;
MetaPlugin::~MetaPlugin() = default;

cni::Result MetaPlugin::add(const cni::Request& req) {
  Session s(req);
  // The cluster network's delegate execs and starts up while this ADD locks, plans and
  // records; it is given its config only once its record is durable, and it is killed unfed
  // when the ADD ends before that (docs/journal.md, "Durability").
  std::unique_ptr<cni::Prestart> early = s.prestart_cluster_delegate();
  Journal::Lock fence = s.journal().gc_fence(false);
  Journal::Lock lock = s.journal().lock(req.invocation.container_id, true);
  cni::phase_mark("locked");
  if (auto recorded = resume_previous(s)) return *recorded;
  // Before anything can fail: a DEL finding only the marker knows no delegate ran, even when
  // the disk was too full for any record (docs/journal.md, "The ADD marker").
  if (!s.journal().mark_adding(req.invocation.container_id)) {
    spdlog::warn("no ADD marker for {}: {}", req.invocation.container_id, std::strerror(errno));
  }
  JournalRecord rec;
  try {
    s.wait_until_ready();
    std::optional<PodInfo> pod = s.find_pod(PodLookup::kForAdd);
    Plan plan = s.make_plan(pod);
    // In-tree delegates probe their addresses before configuring them (docs/coordination.md).
    plan_in_tree_probes(s.config().coordination, s.config().in_tree, plan.attachments);
    rec = new_record(s, pod, plan);
    cni::phase_mark("planned");
  } catch (const cni::Error&) {
    bury_if_unrecorded(s, new_record(s, std::nullopt, Plan{}));
    throw;
  }

  InterruptGuard interrupts;
  std::string rollback_report;
  try {
    AddRollback rollback(s, rec, rollback_report);
    run_attachments(s, rec);
    apply_default_route(rec);
    const bool runtime_mac =
        s.config().runtime_config.contains("mac") || s.invocation().args.get("MAC").has_value();
    coordinate(
        s.config().coordination, rec, [&](const JournalRecord& r) { s.journal().save(r); },
        runtime_mac);
    publish_status(s, rec);
    rec.state = JournalState::kComplete;
    rec.result = rec.attachments.front().result;
    // Completion needs no fsync: after a power loss the durable record saying the last
    // attachment "started" stands, and DEL or a repeated ADD replays it correctly.
    s.journal().save(rec, Journal::Sync::kOrdered);
    cni::phase_mark("completed");
    rollback.commit();
  } catch (cni::Error& e) {
    if (nothing_started(rec)) bury_if_unrecorded(s, rec);
    e.set_details(e.details().empty() ? rollback_report : e.details() + "; " + rollback_report);
    throw;
  } catch (const std::exception& e) {
    // Not a cni::Error: a bug of ours, reported as the skeleton reports any other.
    throw cni::Error(cni::kInternalError, std::string("internal error: ") + e.what(),
                     rollback_report);
  }
  return cni::Result::from_json(rec.result, "");
}

namespace {

// The plan a DEL rebuilds without a journal. The pod's plan may no longer resolve (a NAD was
// deleted, kubelet released the pod's devices); then the cluster and default networks, which
// the config alone determines, are still released, unless a corrupt journal says more was
// attached, which must fail loudly instead.
Plan rebuild_plan(Session& s, const std::optional<PodInfo>& pod, bool journal_corrupt) {
  try {
    return s.make_plan(pod);
  } catch (const cni::Error& e) {
    if (!pod || journal_corrupt) throw;
    spdlog::warn("cannot rebuild the pod's plan ({}); deleting the cluster network only", e.msg());
    return s.make_plan(std::nullopt);
  }
}

// A journal that leaves this DEL nothing to do: the ADD marker (an ADD that recorded nothing,
// so no delegate ran: the NADs of now must not be replayed), a tombstone (a DEL already
// finished), or a record of another interface name. Nothing is written: the disk may be full.
bool owes_this_del_nothing(const JournalRecord& rec, const cni::Invocation& inv) {
  if (rec.marker) {
    spdlog::info("DEL after an ADD that recorded nothing (ADD marker): no delegate ran");
    return true;
  }
  if (rec.state == JournalState::kDeleted) {
    spdlog::debug("DEL repeated for a deleted container: nothing to do");
    return true;
  }
  if (rec.ifname != inv.ifname) {
    // The spec names an attachment by (container ID, CNI_IFNAME): this DEL is for an
    // attachment cnimux never made, and the one it did make stays.
    spdlog::warn(
        "DEL for interface \"{}\" but cnimux attached this container on \"{}\": "
        "nothing of {} to delete",
        inv.ifname, rec.ifname, inv.ifname);
    return true;
  }
  return false;
}

// The record a DEL works from: the journal, or a plan rebuilt from the pod source when the
// journal is missing or unreadable; nullopt when the journal says nothing is owed. A corrupt
// journal that cannot be rebuilt fails loudly.
std::optional<JournalRecord> record_for_del(Session& s) {
  const cni::Invocation& inv = s.invocation();
  std::optional<std::string> corrupt;
  try {
    if (auto rec = s.journal().load(inv.container_id)) {
      if (owes_this_del_nothing(*rec, inv)) return std::nullopt;
      return rec;
    }
  } catch (const CorruptJournal& c) {
    corrupt = c.path + ": " + c.reason;
    spdlog::error("journal {} is corrupt; rebuilding the plan from the pod source", *corrupt);
  }
  std::optional<PodInfo> pod;
  try {
    pod = s.find_pod(PodLookup::kForRebuild);
  } catch (const cni::Error& e) {
    if (corrupt) {
      throw cni::Error(
          cni::kIoFailure,
          "journal " + *corrupt + " is corrupt and the pod cannot be looked up: " + e.msg());
    }
    spdlog::warn("no journal and no pod source ({}); deleting the cluster network only", e.msg());
  }
  // A "none" answer only echoes CNI_ARGS: it knows no annotations, so a plan rebuilt from it
  // would DEL the cluster network alone, leak the rest and then drop the journal.
  if (corrupt && (!pod || pod->source == "none")) {
    throw cni::Error(cni::kIoFailure,
                     "journal " + *corrupt + " is corrupt and no pod source knows the pod");
  }
  JournalRecord rec = new_record(s, pod, rebuild_plan(s, pod, corrupt.has_value()));
  for (auto& a : rec.attachments) a.state = AttachmentState::kStarted;  // DEL them all
  rec.coordination = coordination_for_rebuilt_record(inv.container_id);
  return rec;
}

}  // namespace

void MetaPlugin::del(const cni::Request& req) {
  Session s(req);
  const std::string& cid = req.invocation.container_id;
  Journal::Lock lock = s.journal().lock(cid, true);
  cni::phase_mark("locked");
  std::optional<JournalRecord> found = record_for_del(s);
  if (!found) return;
  JournalRecord& rec = *found;
  cni::phase_mark("planned");
  UndoOutcome out = undo_attachments(s, rec, req.invocation.netns);
  if (out.failures.empty()) {
    // The tombstone lets the runtime's next DEL (containerd sends two) return at once.
    s.journal().bury(rec, out.abandoned);
    cni::phase_mark("buried");
    lock = Journal::Lock();
    s.journal().sweep_now_and_then();
    return;
  }
  record_undo(s, rec);
  std::string msg;
  for (const auto& f : out.failures) msg += (msg.empty() ? "" : "; ") + f.msg();
  throw cni::Error(out.failures.front().code(), msg);
}

void MetaPlugin::check(const cni::Request& req) {
  Session s(req);
  const std::string& cid = req.invocation.container_id;
  std::optional<JournalRecord> rec;
  try {
    rec = s.journal().load(cid);
  } catch (const CorruptJournal& c) {
    throw cni::Error(cni::kIoFailure, c.what());
  }
  if (!rec || rec->state != JournalState::kComplete || rec->ifname != req.invocation.ifname) {
    throw cni::Error(cni::kUnknownContainer,
                     "container \"" + cid + "\" has no complete attachment");
  }
  for (const auto& a : rec->attachments) {
    try {
      s.chain().check(a.planned.conflist, s.chain_context(a.planned.ifname), a.result);
    } catch (const cni::Error& e) {
      throw cni::Error(e.code(), describe(a.planned) + ": " + e.msg(), e.details());
    }
  }
  check_coordination(*rec);
}

void MetaPlugin::status(const cni::Request& req) {
  Session s(req);
  s.journal().ensure_usable();
  s.check_ready();
  Plan plan = s.make_plan(std::nullopt);
  const PlannedAttachment& cluster = plan.attachments.front();
  s.chain().status(cluster.conflist, s.chain_context(cluster.ifname));
}

namespace {

using ValidSet = cni::ValidAttachments;

// Forwarded GC is grouped by the network name the delegates see (the conflist's "name"):
// an IPAM plugin keys allocations by that name, so its valid list must hold every attachment
// using the name, whichever NAD namespace each came from. Distinct configs sharing a name
// (two namespaces' NADs "mv1" with other subnets) each get the whole list.
struct GcTarget {
  std::set<std::string> conflists;
  json valid = json::array();
};
using GcTargets = std::map<std::string, GcTarget>;

GcTarget& target_for(GcTargets& targets, const std::string& conflist) {
  GcTarget& t = targets[json::parse(conflist).value("name", "")];
  t.conflists.insert(conflist);
  return t;
}

// One journaled container: still valid, it is listed for the forwarded GC; stale, its
// attachments are undone and its files removed as DEL would.
void collect_container(Session& s, const std::string& cid, const ValidSet& valid,
                       GcTargets& targets, std::vector<std::string>& errors) {
  Journal::Lock lock = s.journal().lock(cid, false);
  if (!lock.held()) return;  // an ADD or DEL of this container is running right now
  std::optional<JournalRecord> rec = s.journal().load(cid);
  if (!rec || rec->state == JournalState::kDeleted) return;  // Journal::sweep's job
  if (valid.count({cid, rec->ifname})) {
    for (const auto& a : rec->attachments) {
      target_for(targets, a.planned.conflist)
          .valid.push_back({{"containerID", cid}, {"ifname", a.planned.ifname}});
    }
    return;
  }
  UndoOutcome out = undo_attachments(s, *rec, rec->netns);
  if (out.failures.empty()) {
    s.journal().remove(cid);
    s.journal().remove_lock_file(cid);  // as DEL does: nothing of the container is left
    return;
  }
  record_undo(s, *rec);
  for (const auto& f : out.failures) errors.push_back(cid + ": " + f.msg());
}

// The cnimux-ipam stores GC must sweep: every store a known config names (the cluster and
// default networks, every journalled attachment), plus the default store when it lives in
// this cniDir (both defaults are /var/lib/cni/cnimux). A SQLite store whose database does
// not exist holds nothing and is not created. Keyed by the store's description, so a store
// named by many configs is swept once.
std::map<std::string, std::shared_ptr<ipam::Store>> ipam_stores(const GcTargets& targets,
                                                                const std::string& cni_dir,
                                                                std::vector<std::string>& errors) {
  std::map<std::string, std::shared_ptr<ipam::Store>> stores;
  auto add = [&](const ipam::StoreConfig& cfg) {
    try {
      if (auto store = ipam::open_store(cfg, ipam::OpenMode::kExisting)) {
        stores.emplace(store->describe(), store);
      }
    } catch (const cni::Error& e) {
      errors.push_back("IPAM store " + (cfg.path.empty() ? cfg.type : cfg.path) + ": " + e.msg());
    }
  };
  const ipam::StoreConfig fallback = ipam::default_store_config();
  if (std::filesystem::path(fallback.path).parent_path() == std::filesystem::path(cni_dir)) {
    add(fallback);
  }
  for (const auto& [name, target] : targets) {
    for (const std::string& conflist : target.conflists) {
      json list = json::parse(conflist, nullptr, false);
      if (!list.is_object() || !list["plugins"].is_array()) continue;
      for (const json& plugin : list["plugins"]) {
        try {
          if (auto cfg = ipam::cnimux_ipam_store(plugin)) add(*cfg);
        } catch (const cni::Error& e) {
          spdlog::warn("network \"{}\": IPAM store not swept: {}", name, e.msg());
        }
      }
    }
  }
  return stores;
}

// Forwarded GC reaches only the networks some config names. Addresses on a network no live
// pod uses (a NAD's last pod gone, a stopped StatefulSet's sticky addresses) are freed here:
// each store keeps what a still-valid journal's attachment holds and frees the rest (an etcd
// store only this node's and this cluster's).
void collect_ipam_stores(const GcTargets& targets, const std::string& cni_dir,
                         std::vector<std::string>& errors) {
  ipam::LiveAttachments live;
  for (const auto& [name, target] : targets) {
    for (const json& v : target.valid) {
      live.insert({name, v.value("containerID", ""), v.value("ifname", "")});
    }
  }
  for (const auto& [where, store] : ipam_stores(targets, cni_dir, errors)) {
    try {
      for (const auto& [network, freed] : ipam::Allocator(*store).gc_store(live)) {
        spdlog::info("gc: IPAM store {}: freed {} address(es) of network \"{}\"", where, freed,
                     network);
      }
    } catch (const cni::Error& e) {
      errors.push_back("IPAM store " + where + ": " + e.msg());
    }
  }
}

}  // namespace

void MetaPlugin::gc(const cni::Request& req) {
  Session s(req);
  const ValidSet valid = cni::valid_attachments(req.conf);
  Journal::Lock fence = s.journal().gc_fence(true);  // no ADD allocates while GC runs
  GcTargets targets;
  for (const auto& a : s.make_plan(std::nullopt).attachments) target_for(targets, a.conflist);
  std::vector<std::string> errors;
  for (const std::string& cid : s.journal().list()) {
    try {
      collect_container(s, cid, valid, targets, errors);
    } catch (const CorruptJournal& c) {
      errors.push_back(c.what());
    } catch (const std::exception& e) {
      errors.push_back(cid + ": " + e.what());
    }
  }
  // Tombstones of containers the runtime no longer lists, and files of no running verb.
  std::vector<std::string> keep;
  for (const auto& [cid, ifname] : valid) keep.push_back(cid);
  s.journal().sweep(true, keep);
  for (const auto& [name, target] : targets) {
    for (const auto& conflist : target.conflists) {
      try {
        s.chain().gc(conflist, s.chain_context(""), target.valid);
      } catch (const cni::Error& e) {
        errors.push_back("network \"" + name + "\": " + e.msg());
      }
    }
  }
  collect_ipam_stores(targets, s.journal().dir(), errors);
  if (errors.empty()) return;
  std::string msg;
  for (const auto& e : errors) msg += (msg.empty() ? "" : "; ") + e;
  throw cni::Error(cni::kIoFailure, "gc: " + msg);
}

}  // namespace plugin
