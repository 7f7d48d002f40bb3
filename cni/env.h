// The invocation: the CNI_* environment of one call, validated by the spec's rules per verb.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cni {

enum class Verb { kAdd, kDel, kCheck, kStatus, kGc, kVersion };

// "ADD" -> Verb::kAdd; throws Error(kInvalidEnvironment) naming the value otherwise.
Verb parse_verb(std::string_view s);
std::string_view verb_name(Verb v);

// CNI_ARGS: "K=V;K2=V2". Keeps insertion order for re-encoding.
class CniArgs {
 public:
  // Throws Error(kInvalidEnvironment) on a pair without '=' or an empty key.
  static CniArgs parse(std::string_view s);

  std::optional<std::string> get(std::string_view key) const;
  bool ignore_unknown() const;  // IgnoreUnknown=1|true
  const std::vector<std::pair<std::string, std::string>>& pairs() const { return pairs_; }
  void set(std::string key, std::string value);  // replaces an existing key
  // Fails with Error(kInvalidEnvironment) naming the first key not in `known`, unless
  // IgnoreUnknown is set.
  void check_known(const std::vector<std::string>& known) const;
  std::string encode() const;

 private:
  std::vector<std::pair<std::string, std::string>> pairs_;
};

struct Invocation {
  Verb verb = Verb::kVersion;
  std::string container_id;
  std::string netns;  // may be empty on DEL
  std::string ifname;
  CniArgs args;
  std::vector<std::string> path;  // CNI_PATH split on ':'

  // Pod identity from CNI_ARGS, empty when absent.
  std::string pod_namespace() const;
  std::string pod_name() const;
  std::string pod_uid() const;
  std::string pod_infra_container_id() const;  // K8S_POD_INFRA_CONTAINER_ID
};

// Reads CNI_* through `getenv` (injectable for tests) and applies the rules of each verb:
// required variables (code 4 naming the variable), container ID pattern (code 3 if empty,
// 4 if malformed), interface name rules (code 4), valid UTF-8 in CNI_IFNAME, CNI_NETNS and
// CNI_ARGS (code 4 naming the variable). An empty required variable counts as
// missing, except CNI_CONTAINERID, whose emptiness is code 3. VERSION checks only
// CNI_COMMAND. Never touches anything but the lookup.
using EnvLookup = std::function<std::optional<std::string>(const char*)>;
Invocation parse_invocation(const EnvLookup& getenv);
Invocation parse_invocation_from_process_env();

// Validators shared with the meta plugin; each throws Error with the given code and a
// message naming the value.
// Container IDs: code 3 if empty, else 4 unless they match the pattern and have at most
// kMaxContainerIdLength characters.
void validate_container_id(std::string_view id);
void validate_ifname(std::string_view ifname);      // cni/ifname.h's rule, code 4
void validate_network_name(std::string_view name);  // code 7

}  // namespace cni
