// How cnimux reaches the Kubernetes API: a kubeconfig file (current-context -> cluster + user)
// or the in-cluster service account. Parsing only; the HTTP client is plugin/http_kube_client.h.
#pragma once

#include <optional>
#include <string>

#include "cni/env.h"

namespace plugin {

// Where the service account's token and CA live inside a pod.
inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

struct KubeConfig {
  std::string server;  // e.g. "https://10.96.0.1:443", never with a trailing '/'
  // Certificate authority: a PEM file, or PEM bytes (certificate-authority-data, decoded).
  std::string ca_file;
  std::string ca_data;
  // Bearer token: inline, or a file re-read on every request so rotated tokens keep working.
  std::string token;
  std::string token_file;
  // Client certificate and key: a PEM file or PEM bytes each.
  std::string client_cert_file;
  std::string client_cert_data;
  std::string client_key_file;
  std::string client_key_data;
  bool insecure_skip_tls_verify = false;
  // Where this came from, for error messages: the kubeconfig path or "in-cluster".
  std::string origin;

  // The token to send now: token_file's content (trimmed) if set, else token; empty means
  // none. Throws cni::Error(kInvalidConfig) naming token_file when it cannot be read.
  std::string bearer_token() const;
};

// Parses kubeconfig YAML. Relative file paths are resolved against `base_dir` (the
// kubeconfig's directory, as kubectl does). Throws cni::Error(kInvalidConfig) naming `origin`
// and the missing or malformed field, e.g. `kubeconfig /etc/k: clusters[name="c"].cluster.server
// is missing`.
KubeConfig parse_kubeconfig(const std::string& yaml_text, const std::string& origin,
                            const std::string& base_dir);

// Reads and parses the kubeconfig file at `path`; unreadable files are kInvalidConfig too.
KubeConfig load_kubeconfig(const std::string& path);

// The in-cluster config when KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are set:
// https://HOST:PORT with `sa_dir`/token (as token_file) and `sa_dir`/ca.crt. nullopt when the
// variables are unset; kInvalidConfig when they are set but the token file is missing.
std::optional<KubeConfig> in_cluster_config(const cni::EnvLookup& getenv,
                                            const std::string& sa_dir = kServiceAccountDir);

// The API configuration in force: the kubeconfig at `kubeconfig_path` when non-empty, else the
// in-cluster config, else nullopt (no API: pod sources fall back to CRI/podDir only).
std::optional<KubeConfig> resolve_kube_config(const std::string& kubeconfig_path,
                                              const cni::EnvLookup& getenv,
                                              const std::string& sa_dir = kServiceAccountDir);

}  // namespace plugin
