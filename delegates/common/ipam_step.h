// The IPAM step of an in-tree delegate: none ("ipam": {} or absent: layer 2 only), in-process
// (ipam.type "cnimux-ipam": the ipam library, same store, keys, results and GC as the binary),
// or executed (any other ipam.type, through a cni::DelegateRegistry over CNI_PATH).
#pragma once

#include <string>

#include "cni/plugin.h"
#include "cni/result.h"

namespace delegates {

class IpamStep {
 public:
  enum class Kind { kNone, kInProcess, kExecuted };

  // Reads `ipam` of req.conf. Error(7) naming ipam.type when the object has keys but no type.
  explicit IpamStep(const cni::Request& req);

  Kind kind() const { return kind_; }
  const std::string& type() const { return type_; }

  // ADD: the IPAM result (ips, routes, dns; no interfaces); an empty result for kNone.
  // Errors keep the IPAM plugin's code; an executed one's message starts with its type.
  cni::Result add(const cni::Request& req) const;
  // DEL, CHECK, GC, STATUS: forwarded with the same config; nothing for kNone.
  void del(const cni::Request& req) const;
  void check(const cni::Request& req) const;
  void gc(const cni::Request& req) const;
  void status(const cni::Request& req) const;

 private:
  nlohmann::json run_executed(cni::Verb verb, const cni::Request& req) const;

  Kind kind_ = Kind::kNone;
  std::string type_;
};

}  // namespace delegates
