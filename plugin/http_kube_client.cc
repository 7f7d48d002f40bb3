// HttpKubeClient: one libcurl easy handle (its connection cache gives keep-alive), TLS options
// set once, and a retry loop that never outlives the caller's apiTimeout.
#include "plugin/http_kube_client.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "cni/curl_api.h"
#include "cni/error.h"
#include "cni/json_limits.h"
#include "cni/limits.h"

namespace plugin {

using cni::curl_api;

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

struct HttpKubeClient::Response {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::string curl_error;

  bool transport_ok() const { return code == CURLE_OK; }
  bool final() const {
    return transport_ok() && ((status >= 200 && status < 300) || status == 404);
  }
};

struct HttpKubeClient::Curl {
  CURL* handle = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {};
  ~Curl() {
    if (handle) curl_api().easy_cleanup(handle);
  }
};

namespace {

// Keeps an answer up to the JSON size limit; returning short makes libcurl abort the
// transfer (CURLE_WRITE_ERROR), so a wrong or hostile server cannot fill memory.
size_t append_body(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() + size * n > cni::kMaxJsonBytes) return 0;
  body->append(data, size * n);
  return size * n;
}

// Frees a header list on every path out of one attempt.
struct HeaderList {
  curl_slist* list = nullptr;
  void add(const std::string& h) { list = curl_api().slist_append(list, h.c_str()); }
  ~HeaderList() { curl_api().slist_free_all(list); }
};

bool retryable(CURLcode code, long status) {
  switch (code) {
    case CURLE_OK:
      return status >= 500 || status == 429;
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
      return true;
    default:
      return false;
  }
}

// A short reason from a failed answer: the Status message when the body is a Status object.
std::string describe_status(long status, const std::string& body) {
  std::string out = "HTTP " + std::to_string(status);
  nlohmann::json j = cni::try_parse_json(body).value.value_or(nullptr);
  if (j.is_object() && j.value("kind", "") == "Status") {
    if (j.contains("reason") && j["reason"].is_string())
      out += " " + j["reason"].get<std::string>();
    if (j.contains("message") && j["message"].is_string())
      out += ": " + j["message"].get<std::string>();
  } else if (!body.empty()) {
    out += ": " + body.substr(0, 200);
  }
  return out;
}

void set_blob(CURL* h, CURLoption opt, const std::string& data) {
  curl_blob blob{const_cast<char*>(data.data()), data.size(), CURL_BLOB_COPY};
  curl_api().easy_setopt(h, opt, &blob);
}

}  // namespace

HttpKubeClient::HttpKubeClient(KubeConfig config, HttpKubeOptions options)
    : config_(std::move(config)), options_(options), curl_(std::make_unique<Curl>()) {
  static std::once_flag once;
  std::call_once(once, [] { curl_api().global_init(CURL_GLOBAL_DEFAULT); });
  curl_->handle = curl_api().easy_init();
  if (!curl_->handle) throw cni::Error(cni::kKubeApiFailure, "libcurl: curl_easy_init failed");
  apply_tls();
}

HttpKubeClient::~HttpKubeClient() = default;

void HttpKubeClient::apply_tls() {
  CURL* h = curl_->handle;
  curl_api().easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_api().easy_setopt(h, CURLOPT_ERRORBUFFER, curl_->errbuf);
  curl_api().easy_setopt(h, CURLOPT_USERAGENT, "cnimux/0.1");
  curl_api().easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
  curl_api().easy_setopt(h, CURLOPT_SSL_VERIFYPEER, config_.insecure_skip_tls_verify ? 0L : 1L);
  curl_api().easy_setopt(h, CURLOPT_SSL_VERIFYHOST, config_.insecure_skip_tls_verify ? 0L : 2L);
  if (config_.insecure_skip_tls_verify)
    spdlog::warn("kube API {}: insecure-skip-tls-verify is set; the server is not verified",
                 config_.server);
  if (!config_.ca_data.empty())
    set_blob(h, CURLOPT_CAINFO_BLOB, config_.ca_data);
  else if (!config_.ca_file.empty())
    curl_api().easy_setopt(h, CURLOPT_CAINFO, config_.ca_file.c_str());
  if (!config_.client_cert_data.empty())
    set_blob(h, CURLOPT_SSLCERT_BLOB, config_.client_cert_data);
  else if (!config_.client_cert_file.empty())
    curl_api().easy_setopt(h, CURLOPT_SSLCERT, config_.client_cert_file.c_str());
  if (!config_.client_key_data.empty())
    set_blob(h, CURLOPT_SSLKEY_BLOB, config_.client_key_data);
  else if (!config_.client_key_file.empty())
    curl_api().easy_setopt(h, CURLOPT_SSLKEY, config_.client_key_file.c_str());
}

HttpKubeClient::Response HttpKubeClient::attempt(const std::string& method, const std::string& path,
                                                 const std::string& body,
                                                 const std::string& content_type,
                                                 milliseconds remaining) {
  CURL* h = curl_->handle;
  Response r;
  const std::string url = config_.server + path;
  curl_api().easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_api().easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
  if (method == "GET") {
    curl_api().easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_api().easy_setopt(h, CURLOPT_CUSTOMREQUEST, nullptr);
  } else {
    curl_api().easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_api().easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_api().easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  HeaderList headers;
  headers.add("Accept: application/json");
  headers.add("Expect:");
  if (!content_type.empty()) headers.add("Content-Type: " + content_type);
  const std::string token = config_.bearer_token();  // re-read: tokens rotate
  if (!token.empty()) headers.add("Authorization: Bearer " + token);
  curl_api().easy_setopt(h, CURLOPT_HTTPHEADER, headers.list);
  curl_api().easy_setopt(h, CURLOPT_TIMEOUT_MS,
                         static_cast<long>(std::max<int64_t>(1, remaining.count())));
  curl_api().easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                         static_cast<long>(std::max<int64_t>(
                             1, std::min(remaining, options_.connect_timeout).count())));
  curl_->errbuf[0] = '\0';
  r.code = curl_api().easy_perform(h);
  curl_api().easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);  // the list dies with this frame
  ++stats_.attempts;
  if (r.code == CURLE_OK) {
    curl_api().easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
  } else {
    r.curl_error = r.code == CURLE_WRITE_ERROR
                       ? "answer larger than " + std::to_string(cni::kMaxJsonBytes) + " bytes"
                       : (curl_->errbuf[0] ? curl_->errbuf : curl_api().easy_strerror(r.code));
  }
  return r;
}

HttpKubeClient::Response HttpKubeClient::request(const std::string& method, const std::string& path,
                                                 const std::string& body,
                                                 const std::string& content_type) {
  const auto deadline = Clock::now() + options_.api_timeout;
  const std::string what = method + " " + config_.server + path;
  milliseconds backoff = options_.backoff;
  Response last;
  int attempts = 0;
  for (;;) {
    auto remaining = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (remaining.count() <= 0 || attempts >= options_.max_attempts) break;
    last = attempt(method, path, body, content_type, remaining);
    ++attempts;
    if (last.final()) {
      spdlog::debug("kube API {} -> {} after {} attempt(s)", what, last.status, attempts);
      return last;
    }
    if (!retryable(last.code, last.status)) {
      throw cni::Error(
          cni::kKubeApiFailure,
          what + ": " +
              (last.transport_ok() ? describe_status(last.status, last.body) : last.curl_error));
    }
    spdlog::debug("kube API {} attempt {} failed: {}", what, attempts,
                  last.transport_ok() ? describe_status(last.status, last.body) : last.curl_error);
    remaining = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    std::this_thread::sleep_for(std::min(backoff, std::max(remaining, milliseconds(0))));
    backoff *= 2;
  }
  const std::string cause = attempts == 0         ? "not attempted"
                            : last.transport_ok() ? describe_status(last.status, last.body)
                                                  : last.curl_error;
  const std::string budget = std::to_string(options_.api_timeout.count());
  const std::string n = std::to_string(attempts);
  throw cni::Error(
      cni::kKubeApiFailure,
      what +
          (attempts >= options_.max_attempts
               ? ": failed " + n + " attempt(s) within apiTimeout " + budget + " ms"
               : ": no answer within apiTimeout " + budget + " ms after " + n + " attempt(s)") +
          "; last error: " + cause);
}

namespace {

std::string escape(CURL* h, const std::string& segment) {
  char* e = curl_api().easy_escape(h, segment.c_str(), static_cast<int>(segment.size()));
  std::string out = e ? e : "";
  curl_api().free(e);
  return out;
}

// A garbled answer is the API's failure (120); one past the limits of cni/limits.h is refused
// as undecodable (6), whoever sent it, before anything copies it.
std::optional<nlohmann::json> parse_answer(const std::string& what, const std::string& body) {
  cni::JsonParse parsed = cni::try_parse_json(body);
  if (parsed.refusal == cni::JsonRefusal::kTooDeep || parsed.refusal == cni::JsonRefusal::kTooLarge)
    throw cni::Error(cni::kDecodeFailure, what + ": " + parsed.why);
  if (!parsed.value || !parsed.value->is_object())
    throw cni::Error(cni::kKubeApiFailure, what + ": the answer is not a JSON object");
  return std::move(parsed.value);
}

}  // namespace

std::optional<nlohmann::json> HttpKubeClient::get_pod(const std::string& ns,
                                                      const std::string& name) {
  std::lock_guard lock(mu_);
  ++stats_.pod_gets;
  const std::string path =
      "/api/v1/namespaces/" + escape(curl_->handle, ns) + "/pods/" + escape(curl_->handle, name);
  Response r = request("GET", path, "", "");
  if (r.status == 404) return std::nullopt;
  return parse_answer("GET " + path, r.body);
}

std::optional<nlohmann::json> HttpKubeClient::get_nad(const std::string& ns,
                                                      const std::string& name) {
  std::lock_guard lock(mu_);
  ++stats_.nad_gets;
  const std::string path = "/apis/k8s.cni.cncf.io/v1/namespaces/" + escape(curl_->handle, ns) +
                           "/network-attachment-definitions/" + escape(curl_->handle, name);
  Response r = request("GET", path, "", "");
  if (r.status == 404) return std::nullopt;
  return parse_answer("GET " + path, r.body);
}

void HttpKubeClient::patch_pod_annotation(const std::string& ns, const std::string& name,
                                          const std::string& key, const std::string& value) {
  std::lock_guard lock(mu_);
  ++stats_.patches;
  const std::string path = "/api/v1/namespaces/" + escape(curl_->handle, ns) + "/pods/" +
                           escape(curl_->handle, name) + "/status";
  const nlohmann::json patch = {{"metadata", {{"annotations", {{key, value}}}}}};
  Response r = request("PATCH", path, patch.dump(), "application/merge-patch+json");
  if (r.status == 404)
    throw cni::Error(cni::kKubeApiFailure,
                     "PATCH " + path + ": HTTP 404: pod " + ns + "/" + name + " not found");
}

namespace {

// The items of one PodList page, checked: a caller frees what the list lacks, so an answer
// that is not a list of named pods must fail rather than read as "no pods".
std::vector<nlohmann::json> pod_items(const std::string& what, nlohmann::json page) {
  if (page.value("kind", "") != "PodList" || !page.contains("items") ||
      !(page["items"].is_array() || page["items"].is_null()))
    throw cni::Error(cni::kKubeApiFailure, what + ": the answer is not a PodList");
  std::vector<nlohmann::json> out;
  if (page["items"].is_null()) return out;
  for (auto& pod : page["items"]) {
    const nlohmann::json& meta = pod.contains("metadata") ? pod["metadata"] : nlohmann::json();
    if (!meta.is_object() || !meta.contains("namespace") || !meta["namespace"].is_string() ||
        !meta.contains("name") || !meta["name"].is_string())
      throw cni::Error(cni::kKubeApiFailure,
                       what + ": a PodList item lacks metadata.namespace or metadata.name");
    out.push_back(std::move(pod));
  }
  return out;
}

}  // namespace

std::vector<nlohmann::json> HttpKubeClient::list_pods(const std::string& field_selector,
                                                      int page_size) {
  std::lock_guard lock(mu_);
  std::vector<nlohmann::json> pods;
  std::string cont;
  do {
    ++stats_.pod_lists;
    std::string path = "/api/v1/pods?limit=" + std::to_string(std::max(1, page_size));
    if (!field_selector.empty()) path += "&fieldSelector=" + escape(curl_->handle, field_selector);
    if (!cont.empty()) path += "&continue=" + escape(curl_->handle, cont);
    Response r = request("GET", path, "", "");
    if (r.status == 404)
      throw cni::Error(cni::kKubeApiFailure, "GET " + path + ": HTTP 404: no pod list here");
    nlohmann::json page = *parse_answer("GET " + path, r.body);
    for (auto& pod : pod_items("GET " + path, page)) pods.push_back(std::move(pod));
    const nlohmann::json& meta = page.contains("metadata") ? page["metadata"] : nlohmann::json();
    std::string next = meta.is_object() && meta.contains("continue") && meta["continue"].is_string()
                           ? meta["continue"].get<std::string>()
                           : "";
    if (!next.empty() && next == cont)
      throw cni::Error(cni::kKubeApiFailure, "GET " + path + ": the same continue token again");
    cont = std::move(next);
  } while (!cont.empty());
  return pods;
}

KubeRequestStats HttpKubeClient::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace plugin
