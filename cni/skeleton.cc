// The plugin skeleton: version negotiation, verb dispatch and error-object conversion, and
// the main() of every plugin binary. The only code that writes to stdout.
#include "cni/skeleton.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <system_error>

#include "cni/error.h"
#include "cni/json_limits.h"
#include "cni/log.h"
#include "cni/phase_trace.h"
#include "cni/version.h"

namespace cni {
namespace {

// Invalid UTF-8 (say, from a hostile CNI_IFNAME quoted in a message) must not abort output.
std::string serialize(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool is_blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); });
}

std::string newest_of(const std::vector<std::string>& versions) {
  std::string best;
  for (const auto& v : versions) {
    try {
      if (best.empty() || compare_versions(v, best) > 0) best = v;
    } catch (const Error&) {
      // A malformed entry in a plugin's list is not a candidate.
    }
  }
  return best.empty() ? latest_version() : best;
}

// The stdin's cniVersion if it parses and is a string, else "".
// stdin as a JSON object, when it is one within the limits of cni/limits.h.
std::optional<Json> stdin_object(const std::string& stdin_bytes) {
  std::optional<Json> j = try_parse_json(stdin_bytes).value;
  if (j && !j->is_object()) j.reset();
  return j;
}

std::string version_of(const Json& conf) {
  auto it = conf.find("cniVersion");
  return it != conf.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string stdin_version(const std::string& stdin_bytes) {
  std::optional<Json> j = stdin_object(stdin_bytes);
  return j ? version_of(*j) : std::string();
}

// The version an error object is written in: the config's when it is one we know.
std::string error_version(const std::string& stdin_bytes) {
  if (is_blank(stdin_bytes)) return latest_version();
  std::optional<Json> j = stdin_object(stdin_bytes);
  if (!j) return latest_version();
  std::string v = j->contains("cniVersion") ? version_of(*j) : "0.1.0";
  return is_supported_version(v) ? v : latest_version();
}

std::string version_answer(const Plugin& plugin, const std::string& stdin_bytes) {
  std::string asked = stdin_version(stdin_bytes);
  if (asked.empty()) asked = newest_of(plugin.versions());
  return serialize({{"cniVersion", asked}, {"supportedVersions", plugin.versions()}});
}

std::string quoted_list(const std::vector<std::string>& vs) {
  std::string out = "[";
  for (const auto& v : vs) out += (out.size() > 1 ? ", \"" : "\"") + v + "\"";
  return out + "]";
}

// Refuses a config version the plugin does not speak, and verbs its version predates.
void negotiate(const Plugin& plugin, Verb verb, const std::string& version) {
  auto ours = plugin.versions();
  if (std::find(ours.begin(), ours.end(), version) == ours.end()) {
    throw Error(kIncompatibleVersion, "incompatible CNI versions: config is \"" + version +
                                          "\", plugin supports " + quoted_list(ours));
  }
  auto require = [&](const char* minimum) {
    if (compare_versions(version, minimum) < 0) {
      throw Error(kIncompatibleVersion, "config version does not allow " +
                                            std::string(verb_name(verb)) + ": cniVersion \"" +
                                            version + "\" is older than " + minimum);
    }
  };
  if (verb == Verb::kCheck) require("0.4.0");
  if (verb == Verb::kStatus || verb == Verb::kGc) require("1.1.0");
}

std::string run_verb(Plugin& plugin, const Request& req, const std::string& version) {
  switch (req.invocation.verb) {
    case Verb::kAdd:
      return serialize(plugin.add(req).to_json(version));
    case Verb::kDel:
      plugin.del(req);
      return {};
    case Verb::kCheck:
      plugin.check(req);
      return {};
    case Verb::kStatus:
      plugin.status(req);
      return {};
    case Verb::kGc:
      plugin.gc(req);
      return {};
    case Verb::kVersion:
      break;  // answered before a config is parsed
  }
  return version_answer(plugin, req.stdin_bytes);
}

// Turns whatever was thrown into a CNI error; see kInternalError in skeleton.h.
Error to_cni_error(std::exception_ptr thrown) {
  try {
    std::rethrow_exception(thrown);
  } catch (const Error& e) {
    return e;
  } catch (const Json::exception& e) {
    return Error(kDecodeFailure, std::string("JSON handling failed: ") + e.what());
  } catch (const std::system_error& e) {
    return Error(kIoFailure, e.what());
  } catch (const std::exception& e) {
    return Error(kInternalError, std::string("internal error: ") + e.what());
  } catch (...) {
    return Error(kInternalError, "internal error: unknown exception");
  }
}

DispatchOutcome failure(std::exception_ptr thrown, const std::string& stdin_bytes) {
  return {1, serialize(to_cni_error(thrown).to_json(error_version(stdin_bytes)))};
}

// Reads stdin up to kMaxStdinBytes and refuses more without reading the rest: a runtime
// never sends a config that large, and reading it all is memory an attacker chooses.
std::string read_all_stdin() {
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0) return out;
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(kIoFailure, std::string("reading stdin: ") + std::strerror(errno));
    }
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxStdinBytes) {
      struct stat st {};
      bool sized = ::fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode);
      std::string size = sized ? std::to_string(st.st_size) + " bytes, " : "";
      throw Error(kDecodeFailure, "stdin: " + size + "more than the limit of " +
                                      std::to_string(kMaxStdinBytes) + " bytes (" +
                                      std::to_string(kMaxStdinBytes >> 20) + " MiB)");
    }
  }
}

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

}  // namespace

DispatchOutcome dispatch(Plugin& plugin, const Invocation& inv, const std::string& stdin_bytes) {
  try {
    if (inv.verb == Verb::kVersion) return {0, version_answer(plugin, stdin_bytes)};
    if (is_blank(stdin_bytes)) {
      throw Error(kDecodeFailure,
                  "no network config on stdin: " + std::string(verb_name(inv.verb)) + " needs one");
    }
    Request req{inv, stdin_bytes, NetConf::parse(stdin_bytes, "stdin")};
    std::string version = req.conf.cni_version();
    if (version.empty()) version = "0.1.0";  // the spec's reading of a missing version
    negotiate(plugin, inv.verb, version);
    if (!req.conf.name().empty()) validate_network_name(req.conf.name());
    return {0, run_verb(plugin, req, version)};
  } catch (...) {
    return failure(std::current_exception(), stdin_bytes);
  }
}

int run_plugin_main(Plugin& plugin, const std::string& program) {
  std::string stdin_bytes;
  DispatchOutcome out;
  init_logging({.program = program,
                .container_id = env_or("CNI_CONTAINERID", ""),
                .verb = env_or("CNI_COMMAND", ""),
                .level = env_or("CNIMUX_LOG_LEVEL", "warn")});
  try {
    stdin_bytes = read_all_stdin();
    phase_mark("stdin-read");
    out = dispatch(plugin, parse_invocation_from_process_env(), stdin_bytes);
  } catch (...) {
    out = failure(std::current_exception(), stdin_bytes);
  }
  if (out.exit_code != 0) spdlog::error("failed: {}", out.stdout_json);
  if (!out.stdout_json.empty()) {
    out.stdout_json += '\n';
    std::fwrite(out.stdout_json.data(), 1, out.stdout_json.size(), stdout);
  }
  const bool flushed = std::fflush(stdout) == 0;
  phase_mark("result-written");
  if (!flushed) {
    spdlog::error("writing the result to stdout failed: {}", std::strerror(errno));
    return 1;
  }
  return out.exit_code;
}

}  // namespace cni
