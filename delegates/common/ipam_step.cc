// IpamStep: cnimux-ipam called in-process through ipam::IpamPlugin (which calls
// ipam::Allocator), anything else executed like the reference plugins execute their IPAM.
#include "delegates/common/ipam_step.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "cni/delegate_resolver.h"
#include "cni/error.h"
#include "ipam/ipam_plugin.h"

namespace delegates {

namespace {
constexpr const char* kInProcessIpam = "cnimux-ipam";
// GC and STATUS exist from this version on.
constexpr const char* kGcVersion = "1.1.0";
}  // namespace

IpamStep::IpamStep(const cni::Request& req) {
  const nlohmann::json* ipam = req.conf.ipam();
  if (!ipam || ipam->is_null() || (ipam->is_object() && ipam->empty())) return;
  if (!ipam->is_object()) {
    throw cni::Error(cni::kInvalidConfig, "ipam " + ipam->dump() + ": not an object");
  }
  auto t = ipam->find("type");
  if (t == ipam->end() || !t->is_string() || t->get<std::string>().empty()) {
    throw cni::Error(cni::kInvalidConfig, "ipam.type: missing (\"ipam\": {} means no IPAM)");
  }
  type_ = t->get<std::string>();
  kind_ = type_ == kInProcessIpam ? Kind::kInProcess : Kind::kExecuted;
}

nlohmann::json IpamStep::run_executed(cni::Verb verb, const cni::Request& req) const {
  const cni::Invocation& inv = req.invocation;
  cni::DelegateRequest dreq;
  dreq.verb = verb;
  dreq.container_id = inv.container_id;
  dreq.netns = inv.netns;
  dreq.ifname = inv.ifname;
  dreq.cni_args = inv.args.encode();
  dreq.path = inv.path;
  dreq.config = req.stdin_bytes;  // an IPAM plugin reads its main plugin's whole config
  cni::DelegateRegistry registry(inv.path);
  std::unique_ptr<cni::Delegate> d = registry.resolve(type_);
  if (verb == cni::Verb::kGc || verb == cni::Verb::kStatus) {
    // A plugin older than 1.1.0 gets no GC or STATUS, as libcni and ChainRunner decide: it
    // would take the verb for one it knows (host-local 1.1.1 answers "missing containerID").
    // A useless VERSION answer (code 6) means the same; any other failure stands.
    cni::DelegateRequest probe = dreq;
    probe.verb = cni::Verb::kVersion;
    probe.config = "{}";
    std::vector<std::string> versions;
    try {
      versions = d->supported_versions(probe);
    } catch (const cni::Error& e) {
      if (e.code() != cni::kDecodeFailure) throw;
    }
    if (std::find(versions.begin(), versions.end(), kGcVersion) == versions.end()) return {};
  }
  return d->invoke(dreq);
}

cni::Result IpamStep::add(const cni::Request& req) const {
  switch (kind_) {
    case Kind::kNone:
      return {};
    case Kind::kInProcess:
      return ipam::IpamPlugin().add(req);
    case Kind::kExecuted:
      break;
  }
  return cni::Result::from_json(run_executed(cni::Verb::kAdd, req), req.conf.cni_version());
}

void IpamStep::del(const cni::Request& req) const {
  if (kind_ == Kind::kInProcess) ipam::IpamPlugin().del(req);
  if (kind_ == Kind::kExecuted) run_executed(cni::Verb::kDel, req);
}

void IpamStep::check(const cni::Request& req) const {
  if (kind_ == Kind::kInProcess) ipam::IpamPlugin().check(req);
  if (kind_ == Kind::kExecuted) run_executed(cni::Verb::kCheck, req);
}

void IpamStep::gc(const cni::Request& req) const {
  if (kind_ == Kind::kInProcess) ipam::IpamPlugin().gc(req);
  if (kind_ == Kind::kExecuted) run_executed(cni::Verb::kGc, req);
}

void IpamStep::status(const cni::Request& req) const {
  if (kind_ == Kind::kInProcess) ipam::IpamPlugin().status(req);
  if (kind_ == Kind::kExecuted) run_executed(cni::Verb::kStatus, req);
}

}  // namespace delegates
