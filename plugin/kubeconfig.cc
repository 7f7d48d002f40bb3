// Kubeconfig and in-cluster service-account parsing with yaml-cpp. Every error names the file
// and the field so an operator can fix the config without reading code.
#include "plugin/kubeconfig.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cni/error.h"
#include "cni/text.h"
#include "plugin/manifests.h"

namespace plugin {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& origin, const std::string& what) {
  throw cni::Error(cni::kInvalidConfig, "kubeconfig " + origin + ": " + what);
}

// The file's text, bounded like every config file (plugin/manifests.h); nullopt when it
// cannot be read.
std::optional<std::string> read_file(const std::string& path) {
  try {
    return read_config_file(path);
  } catch (const cni::Error&) {
    return std::nullopt;
  }
}

// RFC 4648 base64, whitespace ignored; nullopt on any other non-alphabet character.
std::optional<std::string> base64_decode(const std::string& in) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ' || c == '\t') continue;
    auto pos = kAlphabet.find(c);
    if (pos == std::string::npos) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

// Finds the entry of a named list (clusters, users, contexts) whose `name` equals `name` and
// returns its `inner` map (cluster, user, context).
YAML::Node find_named(const YAML::Node& root, const std::string& list, const std::string& inner,
                      const std::string& name, const std::string& origin) {
  const YAML::Node entries = root[list];
  if (entries && !entries.IsSequence()) fail(origin, list + " is not a list");
  if (entries) {
    for (const auto& entry : entries) {
      if (entry["name"] && entry["name"].as<std::string>() == name) {
        const YAML::Node node = entry[inner];
        if (!node || !node.IsMap())
          fail(origin, list + "[name=\"" + name + "\"]." + inner + " is missing");
        return node;
      }
    }
  }
  fail(origin, list + "[name=\"" + name + "\"] is missing");
}

std::string scalar(const YAML::Node& map, const std::string& key, const std::string& field,
                   const std::string& origin) {
  const YAML::Node node = map[key];
  if (!node || node.IsNull()) return {};
  if (!node.IsScalar()) fail(origin, field + "." + key + " is not a string");
  return node.as<std::string>();
}

// A path field: resolved against base_dir when relative.
std::string path_field(const YAML::Node& map, const std::string& key, const std::string& field,
                       const std::string& origin, const std::string& base_dir) {
  std::string p = scalar(map, key, field, origin);
  if (p.empty() || fs::path(p).is_absolute() || base_dir.empty()) return p;
  return (fs::path(base_dir) / p).string();
}

std::string data_field(const YAML::Node& map, const std::string& key, const std::string& field,
                       const std::string& origin) {
  std::string encoded = scalar(map, key, field, origin);
  if (encoded.empty()) return {};
  auto decoded = base64_decode(encoded);
  if (!decoded) fail(origin, field + "." + key + " is not valid base64");
  return *decoded;
}

std::string current_context(const YAML::Node& root, const std::string& origin) {
  std::string name;
  if (root["current-context"] && root["current-context"].IsScalar())
    name = root["current-context"].as<std::string>();
  if (!name.empty()) return name;
  // kubectl refuses this; a file with exactly one context is unambiguous, so accept it.
  const YAML::Node contexts = root["contexts"];
  if (contexts && contexts.IsSequence() && contexts.size() == 1 && contexts[0]["name"])
    return contexts[0]["name"].as<std::string>();
  fail(origin, "current-context is missing");
}

void read_cluster(const YAML::Node& cluster, const std::string& field, const std::string& origin,
                  const std::string& base_dir, KubeConfig& cfg) {
  cfg.server = scalar(cluster, "server", field, origin);
  if (cfg.server.empty()) fail(origin, field + ".server is missing");
  while (cfg.server.ends_with('/')) cfg.server.pop_back();
  cfg.ca_file = path_field(cluster, "certificate-authority", field, origin, base_dir);
  cfg.ca_data = data_field(cluster, "certificate-authority-data", field, origin);
  const YAML::Node insecure = cluster["insecure-skip-tls-verify"];
  if (insecure && insecure.IsScalar()) {
    try {
      cfg.insecure_skip_tls_verify = insecure.as<bool>();
    } catch (const YAML::Exception&) {
      fail(origin, field + ".insecure-skip-tls-verify is not a boolean");
    }
  }
}

void read_user(const YAML::Node& user, const std::string& field, const std::string& origin,
               const std::string& base_dir, KubeConfig& cfg) {
  cfg.token = scalar(user, "token", field, origin);
  cfg.token_file = path_field(user, "tokenFile", field, origin, base_dir);
  cfg.client_cert_file = path_field(user, "client-certificate", field, origin, base_dir);
  cfg.client_cert_data = data_field(user, "client-certificate-data", field, origin);
  cfg.client_key_file = path_field(user, "client-key", field, origin, base_dir);
  cfg.client_key_data = data_field(user, "client-key-data", field, origin);
  const bool has_cert = !cfg.client_cert_file.empty() || !cfg.client_cert_data.empty();
  const bool has_key = !cfg.client_key_file.empty() || !cfg.client_key_data.empty();
  if (has_cert != has_key)
    fail(origin, field + (has_cert ? ".client-key" : ".client-certificate") +
                     " is missing (a client certificate needs both)");
  // exec and auth-provider plugins cannot run inside a CNI call; say so instead of sending
  // unauthenticated requests.
  if ((user["exec"] || user["auth-provider"]) && cfg.token.empty() && cfg.token_file.empty() &&
      !has_cert)
    fail(origin, field + ".exec/auth-provider is not supported; use token or tokenFile");
}

}  // namespace

std::string KubeConfig::bearer_token() const {
  if (token_file.empty()) return token;
  auto content = read_file(token_file);
  if (!content)
    throw cni::Error(cni::kInvalidConfig,
                     "kubeconfig " + origin + ": tokenFile " + token_file + " cannot be read");
  return cni::trim(*content);
}

KubeConfig parse_kubeconfig(const std::string& yaml_text, const std::string& origin,
                            const std::string& base_dir) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    fail(origin, "invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) fail(origin, "not a YAML map");
  KubeConfig cfg;
  cfg.origin = origin;
  try {
    const std::string ctx_name = current_context(root, origin);
    const YAML::Node ctx = find_named(root, "contexts", "context", ctx_name, origin);
    const std::string ctx_field = "contexts[name=\"" + ctx_name + "\"].context";
    const std::string cluster_name = scalar(ctx, "cluster", ctx_field, origin);
    if (cluster_name.empty()) fail(origin, ctx_field + ".cluster is missing");
    read_cluster(find_named(root, "clusters", "cluster", cluster_name, origin),
                 "clusters[name=\"" + cluster_name + "\"].cluster", origin, base_dir, cfg);
    const std::string user_name = scalar(ctx, "user", ctx_field, origin);
    if (!user_name.empty())
      read_user(find_named(root, "users", "user", user_name, origin),
                "users[name=\"" + user_name + "\"].user", origin, base_dir, cfg);
  } catch (const YAML::Exception& e) {
    fail(origin, std::string("unexpected structure: ") + e.what());
  }
  return cfg;
}

KubeConfig load_kubeconfig(const std::string& path) {
  auto text = read_file(path);
  if (!text) fail(path, "cannot be read");
  return parse_kubeconfig(*text, path, fs::path(path).parent_path().string());
}

std::optional<KubeConfig> in_cluster_config(const cni::EnvLookup& getenv,
                                            const std::string& sa_dir) {
  auto host = getenv("KUBERNETES_SERVICE_HOST");
  auto port = getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !port || host->empty() || port->empty()) return std::nullopt;
  KubeConfig cfg;
  cfg.origin = "in-cluster (" + sa_dir + ")";
  const bool ipv6 = host->find(':') != std::string::npos;
  cfg.server = "https://" + (ipv6 ? "[" + *host + "]" : *host) + ":" + *port;
  cfg.token_file = sa_dir + "/token";
  if (!fs::exists(cfg.token_file))
    fail(cfg.origin, "service account token " + cfg.token_file + " is missing");
  if (fs::exists(sa_dir + "/ca.crt")) cfg.ca_file = sa_dir + "/ca.crt";
  return cfg;
}

std::optional<KubeConfig> resolve_kube_config(const std::string& kubeconfig_path,
                                              const cni::EnvLookup& getenv,
                                              const std::string& sa_dir) {
  if (!kubeconfig_path.empty()) return load_kubeconfig(kubeconfig_path);
  return in_cluster_config(getenv, sa_dir);
}

}  // namespace plugin
