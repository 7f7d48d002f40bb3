// The libcurl implementation of plugin::KubeClient (plus list_pods, for cnimuxctl), sending only
// the requests plugin/kube_api_grants.h lists: TLS verified by default, bearer token read
// per request, one keep-alive connection per client, retries inside one overall time budget.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "plugin/kube_api_grants.h"
#include "plugin/kube_client.h"
#include "plugin/kubeconfig.h"

namespace plugin {

struct HttpKubeOptions {
  // The budget of one call, retries and backoff included; never exceeded (the meta
  // config's apiTimeout).
  std::chrono::milliseconds api_timeout{10000};
  // Per attempt, clipped to what is left of the budget.
  std::chrono::milliseconds connect_timeout{2000};
  // First backoff between attempts; doubles each retry.
  std::chrono::milliseconds backoff{50};
  int max_attempts = 5;
};

// What the client did, so callers and tests can count API round trips.
struct KubeRequestStats {
  int pod_gets = 0;
  int nad_gets = 0;
  int patches = 0;
  int pod_lists = 0;  // pages of list_pods
  int attempts = 0;   // HTTP requests sent, retries included
};

class HttpKubeClient : public KubeClient {
 public:
  explicit HttpKubeClient(KubeConfig config, HttpKubeOptions options = {});
  ~HttpKubeClient() override;
  HttpKubeClient(const HttpKubeClient&) = delete;
  HttpKubeClient& operator=(const HttpKubeClient&) = delete;

  // Errors are cni::Error(kKubeApiFailure) naming the method, path and cause: the HTTP status
  // (401/403 and others are not retried), "no answer within apiTimeout N ms", or the
  // connection error. 5xx, refused and timed-out connects are retried while budget remains.
  // Tokens and keys never appear in errors or logs.
  std::optional<nlohmann::json> get_pod(const std::string& ns, const std::string& name) override;
  std::optional<nlohmann::json> get_nad(const std::string& ns, const std::string& name) override;
  // A merge patch ({"metadata":{"annotations":{key:value}}}) of the pod's status subresource.
  // A 404 is an error here: there is no pod to annotate.
  void patch_pod_annotation(const std::string& ns, const std::string& name, const std::string& key,
                            const std::string& value) override;

  // GET /api/v1/pods (every namespace), page by page (`page_size` items, following
  // metadata.continue), restricted by `field_selector` (e.g. "spec.nodeName=n1") when
  // non-empty. Returns every pod, or throws: a partial list is never returned, since its
  // callers free what is missing from it. Each page must be a PodList whose items carry
  // metadata.namespace and metadata.name (kKubeApiFailure naming the page otherwise); other
  // failures as get_pod, a 404 included. Not part of KubeClient: only cnimuxctl lists.
  std::vector<nlohmann::json> list_pods(const std::string& field_selector, int page_size = 100);

  KubeRequestStats stats() const;

 private:
  struct Response;
  struct Curl;
  // One logical request with retries; returns the final response (2xx or 404).
  Response request(const std::string& method, const std::string& path, const std::string& body,
                   const std::string& content_type);
  Response attempt(const std::string& method, const std::string& path, const std::string& body,
                   const std::string& content_type, std::chrono::milliseconds remaining);
  void apply_tls();

  KubeConfig config_;
  HttpKubeOptions options_;
  std::unique_ptr<Curl> curl_;
  mutable std::mutex mu_;  // one easy handle: requests are serialised
  KubeRequestStats stats_;
};

}  // namespace plugin
