// The CNI_* environment of one call: verb names, CNI_ARGS, and the per-verb validation
// rules of the CNI specification (required variables, container ID, ifname, network name).
#include "cni/env.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "cni/error.h"
#include "cni/ifname.h"
#include "cni/limits.h"
#include "cni/text.h"

namespace cni {
namespace {

struct VerbName {
  Verb verb;
  std::string_view name;
};

constexpr VerbName kVerbs[] = {{Verb::kAdd, "ADD"},     {Verb::kDel, "DEL"},
                               {Verb::kCheck, "CHECK"}, {Verb::kStatus, "STATUS"},
                               {Verb::kGc, "GC"},       {Verb::kVersion, "VERSION"}};

std::string in_quotes(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

// ^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$ without std::regex (the pattern is fixed and tiny).
bool matches_id_pattern(std::string_view s) {
  if (s.empty() || !is_alnum(s.front())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; });
}

constexpr std::string_view kIdPattern = "^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$";

// Which variables a verb needs, per the table in cni-spec.md.
struct Requirements {
  bool container_id = false;
  bool netns = false;
  bool ifname = false;
  bool path = false;
};

Requirements requirements_for(Verb verb) {
  switch (verb) {
    case Verb::kAdd:
    case Verb::kCheck:
      return {true, true, true, false};
    case Verb::kDel:
      return {true, false, true, false};
    case Verb::kGc:
      return {false, false, false, true};
    case Verb::kStatus:
    case Verb::kVersion:
      return {};
  }
  return {};
}

// Returns the variable's value; a required variable that is unset (or empty, except
// CNI_CONTAINERID whose emptiness is the container-ID rule's code 3) is code 4.
std::string read_var(const EnvLookup& getenv, const char* var, bool required) {
  std::optional<std::string> value = getenv(var);
  bool missing = !value || (value->empty() && std::string_view(var) != "CNI_CONTAINERID");
  if (required && missing) {
    throw Error(kInvalidEnvironment,
                "required environment variable " + std::string(var) + " is missing");
  }
  return value.value_or("");
}

std::vector<std::string> split_path(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(':', start);
    if (end == std::string::npos) end = s.size();
    // Empty segments ("a::b", a trailing ':') name no directory; Go's filepath.SplitList
    // would yield "" there, which means nothing useful to a plugin search.
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

void require_utf8(const char* var, std::string_view value) {
  if (!is_valid_utf8(value)) {
    throw Error(kInvalidEnvironment, std::string(var) + " is not valid UTF-8");
  }
}

}  // namespace

Verb parse_verb(std::string_view s) {
  for (const auto& v : kVerbs) {
    if (v.name == s) return v.verb;
  }
  throw Error(kInvalidEnvironment, "unknown CNI_COMMAND " + in_quotes(s));
}

std::string_view verb_name(Verb v) {
  for (const auto& entry : kVerbs) {
    if (entry.verb == v) return entry.name;
  }
  return "UNKNOWN";
}

CniArgs CniArgs::parse(std::string_view s) {
  CniArgs args;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(';', start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view item = s.substr(start, end - start);
    start = end + 1;
    if (item.empty()) continue;  // "A=1;" and ";;" carry no pair
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      throw Error(kInvalidEnvironment,
                  "invalid CNI_ARGS pair " + in_quotes(item) + ": missing '='");
    }
    if (eq == 0) {
      throw Error(kInvalidEnvironment, "invalid CNI_ARGS pair " + in_quotes(item) + ": empty key");
    }
    args.set(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
  }
  return args;
}

std::optional<std::string> CniArgs::get(std::string_view key) const {
  for (const auto& [k, v] : pairs_) {
    if (k == key) return v;
  }
  return std::nullopt;
}

bool CniArgs::ignore_unknown() const {
  auto v = get("IgnoreUnknown");
  return v && (*v == "1" || equals_ignore_case(*v, "true"));
}

void CniArgs::set(std::string key, std::string value) {
  for (auto& [k, v] : pairs_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  pairs_.emplace_back(std::move(key), std::move(value));
}

void CniArgs::check_known(const std::vector<std::string>& known) const {
  if (ignore_unknown()) return;
  for (const auto& [k, v] : pairs_) {
    if (k == "IgnoreUnknown") continue;
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      throw Error(kInvalidEnvironment,
                  "unknown CNI_ARGS key " + in_quotes(k) + " (set IgnoreUnknown=1 to allow it)");
    }
  }
}

std::string CniArgs::encode() const {
  std::string out;
  for (const auto& [k, v] : pairs_) {
    if (!out.empty()) out += ';';
    out += k + "=" + v;
  }
  return out;
}

std::string Invocation::pod_namespace() const {
  return args.get("K8S_POD_NAMESPACE").value_or("");
}
std::string Invocation::pod_name() const {
  return args.get("K8S_POD_NAME").value_or("");
}
std::string Invocation::pod_uid() const {
  return args.get("K8S_POD_UID").value_or("");
}
std::string Invocation::pod_infra_container_id() const {
  return args.get("K8S_POD_INFRA_CONTAINER_ID").value_or("");
}

Invocation parse_invocation(const EnvLookup& getenv) {
  Invocation inv;
  inv.verb = parse_verb(read_var(getenv, "CNI_COMMAND", true));
  Requirements req = requirements_for(inv.verb);
  inv.container_id = read_var(getenv, "CNI_CONTAINERID", req.container_id);
  inv.netns = read_var(getenv, "CNI_NETNS", req.netns);
  inv.ifname = read_var(getenv, "CNI_IFNAME", req.ifname);
  inv.path = split_path(read_var(getenv, "CNI_PATH", req.path));
  // VERSION must answer whatever the environment holds (libcni probes it with "dummy"
  // values), so only verbs that act on a container have their variables checked.
  if (inv.verb == Verb::kVersion) return inv;
  // These values are copied into JSON (results, the journal, delegate configs), which
  // cannot hold invalid UTF-8; refuse it here, naming the variable, instead of later.
  require_utf8("CNI_NETNS", inv.netns);
  std::string args = read_var(getenv, "CNI_ARGS", false);
  require_utf8("CNI_ARGS", args);
  inv.args = CniArgs::parse(args);
  if (req.container_id) validate_container_id(inv.container_id);
  if (req.ifname) {
    // DEL must finish for what an older release added, so it checks only the kernel's rules.
    check_ifname(inv.ifname, kInvalidEnvironment, "CNI_IFNAME",
                 inv.verb == Verb::kDel ? IfnameUse::kExisting : IfnameUse::kNew);
  }
  return inv;
}

Invocation parse_invocation_from_process_env() {
  return parse_invocation([](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  });
}

void validate_container_id(std::string_view id) {
  if (id.empty()) throw Error(kUnknownContainer, "missing container ID (CNI_CONTAINERID is empty)");
  if (!matches_id_pattern(id)) {
    throw Error(kInvalidEnvironment, "invalid container ID " + in_quotes(id) + ": must match " +
                                         std::string(kIdPattern));
  }
  // State files are named "<prefix><id><suffix>"; a file name holds at most 255 bytes.
  if (id.size() > kMaxContainerIdLength) {
    throw Error(kInvalidEnvironment, "invalid container ID \"" + std::string(id.substr(0, 16)) +
                                         "...\": " + std::to_string(id.size()) +
                                         " characters, more than the limit of " +
                                         std::to_string(kMaxContainerIdLength));
  }
}

void validate_ifname(std::string_view ifname) {
  check_ifname(ifname, kInvalidEnvironment, "CNI_IFNAME");
}

void validate_network_name(std::string_view name) {
  if (name.empty()) throw Error(kInvalidConfig, "missing network name");
  if (!matches_id_pattern(name)) {
    throw Error(kInvalidConfig, "invalid network name " + in_quotes(name) + ": must match " +
                                    std::string(kIdPattern));
  }
}

}  // namespace cni
