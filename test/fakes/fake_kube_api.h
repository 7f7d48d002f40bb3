// RAII handle on the fake Kubernetes API server (test/fakes/kube_api/fake_kube_api.py): makes a
// CA and server cert, starts the server on 127.0.0.1:0, switches its modes, reads its log.
#pragma once

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace fakes {

// One line of the fake's request log (control requests are not logged).
struct KubeRequest {
  int seq = 0;
  int conn = 0;  // TCP connection number: equal numbers mean a reused (keep-alive) connection
  std::string method;
  std::string path;
  std::string query;
  std::string body;
  std::string content_type;
  bool auth = false;  // an Authorization header was present
};

// How write_kubeconfig() spells the credentials.
struct KubeconfigStyle {
  bool token_file = false;  // users[].user.tokenFile (dir()/token) instead of token
  bool ca_data = false;     // certificate-authority-data instead of certificate-authority
  std::string token;        // empty: the fake's token
};

class FakeKubeApi {
 public:
  struct Options {
    std::string token;            // empty: "cxt-token-<pid>"
    nlohmann::json fixtures;      // {"pods": [...], "nads": [...]}, or null
    std::string mode = "normal";  // normal, 404, 500, slow, hang, deep
    int delay_ms = 0;
    bool tls = true;
  };

  FakeKubeApi() : FakeKubeApi(Options{}) {}
  explicit FakeKubeApi(Options opts) : opts_(std::move(opts)) {
    if (opts_.token.empty()) opts_.token = "cxt-token-" + std::to_string(getpid());
    std::string tmpl = "/tmp/cxkapi" + std::to_string(getpid()) + "-XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    try {
      if (opts_.tls) make_certs();
      start();
    } catch (...) {
      stop();
      throw;
    }
  }
  ~FakeKubeApi() { stop(); }
  FakeKubeApi(const FakeKubeApi&) = delete;
  FakeKubeApi& operator=(const FakeKubeApi&) = delete;

  std::string url() const {
    return std::string(opts_.tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
  }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string ca_file() const { return dir_ + "/ca.crt"; }
  std::string ca_pem() const { return slurp(ca_file()); }
  const std::string& token() const { return opts_.token; }

  // Writes dir()/token (for tokenFile kubeconfigs) and returns its path.
  std::string write_token_file(const std::string& token) const {
    const std::string path = dir_ + "/token";
    write_atomic(path, token + "\n");
    return path;
  }

  // Writes a kubeconfig for this server into dir() and returns its path.
  std::string write_kubeconfig(const KubeconfigStyle& style = {}) const {
    const std::string token = style.token.empty() ? opts_.token : style.token;
    std::ostringstream y;
    y << "apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n- name: fake-cluster\n"
      << "  cluster:\n    server: " << url() << "\n";
    if (opts_.tls && style.ca_data)
      y << "    certificate-authority-data: " << base64(ca_pem()) << "\n";
    if (opts_.tls && !style.ca_data) y << "    certificate-authority: " << ca_file() << "\n";
    y << "users:\n- name: fake-user\n  user:\n";
    if (style.token_file) {
      y << "    tokenFile: " << write_token_file(token) << "\n";
    } else {
      y << "    token: " << token << "\n";
    }
    y << "contexts:\n- name: fake\n  context:\n    cluster: fake-cluster\n    user: fake-user\n";
    const std::string path = dir_ + "/kubeconfig";
    write_atomic(path, y.str());
    return path;
  }

  // Raw control request (see the server's docstring); returns the switches after it.
  nlohmann::json control(const nlohmann::json& cmd) const {
    const std::string answer = http_post(url() + "/_control", cmd.dump());
    return nlohmann::json::parse(answer);
  }
  void set_mode(const std::string& mode, int delay_ms = 0) {
    control({{"mode", mode}, {"delay_ms", delay_ms}});
  }
  // The next `n` Kubernetes requests get `status`, then the mode applies again.
  void fail_next(int n, int status = 500) { control({{"fail_next", n}, {"fail_status", status}}); }
  // Every request with one of these methods (e.g. {"PATCH"}) gets `status`; {} clears it.
  void fail_methods(const std::vector<std::string>& methods, int status = 500) {
    control({{"fail_methods", methods}, {"fail_status", status}});
  }
  void set_tokens(const std::vector<std::string>& tokens) { control({{"tokens", tokens}}); }
  void add_pod(const nlohmann::json& pod) { control({{"add_pods", {pod}}}); }
  void add_nad(const nlohmann::json& nad) { control({{"add_nads", {nad}}}); }
  void clear_log() { control({{"clear_log", true}}); }

  std::vector<KubeRequest> request_log() const {
    std::vector<KubeRequest> out;
    std::ifstream in(dir_ + "/requests.jsonl");
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      auto j = nlohmann::json::parse(line);
      out.push_back({j.value("seq", 0), j.value("conn", 0), j.value("method", ""),
                     j.value("path", ""), j.value("query", ""), j.value("body", ""),
                     j.value("content_type", ""), j.value("auth", false)});
    }
    return out;
  }

  // Real-shaped objects for fixtures and add_pod/add_nad.
  static nlohmann::json make_pod(const std::string& ns, const std::string& name,
                                 const std::string& uid,
                                 const std::map<std::string, std::string>& annotations = {}) {
    return {{"kind", "Pod"},
            {"apiVersion", "v1"},
            {"metadata",
             {{"name", name},
              {"namespace", ns},
              {"uid", uid},
              {"resourceVersion", "1"},
              {"annotations", annotations}}},
            {"spec", {{"containers", {{{"name", "app"}, {"image", "busybox"}}}}}},
            {"status", {{"phase", "Pending"}}}};
  }
  static nlohmann::json make_nad(const std::string& ns, const std::string& name,
                                 const std::string& config) {
    return {{"kind", "NetworkAttachmentDefinition"},
            {"apiVersion", "k8s.cni.cncf.io/v1"},
            {"metadata", {{"name", name}, {"namespace", ns}, {"resourceVersion", "1"}}},
            {"spec", {{"config", config}}}};
  }

 private:
  static std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static void write_atomic(const std::string& path, const std::string& text) {
    {
      std::ofstream out(path + ".tmp", std::ios::trunc);
      out << text;
    }
    std::filesystem::rename(path + ".tmp", path);
  }
  static std::string base64(const std::string& in) {
    static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    unsigned val = 0;
    int bits = -6;
    for (unsigned char c : in) {
      val = (val << 8) | c;
      bits += 8;
      for (; bits >= 0; bits -= 6) out.push_back(k[(val >> bits) & 0x3f]);
    }
    if (bits > -6) out.push_back(k[((val << 8) >> (bits + 8)) & 0x3f]);
    while (out.size() % 4) out.push_back('=');
    return out;
  }

  // Runs argv with stdout/stderr appended to dir()/setup.log; throws on a non-zero exit.
  void run(const std::vector<std::string>& argv) const {
    const auto args = c_argv(argv);
    const std::string log = dir_ + "/setup.log";
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) exec_child(args, log.c_str());
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      throw std::runtime_error(argv[0] + " failed: " + slurp(dir_ + "/setup.log"));
  }
  // argv as execvp wants it; built before fork so the child only makes async-signal-safe calls.
  static std::vector<char*> c_argv(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    return args;
  }
  [[noreturn]] static void exec_child(const std::vector<char*>& args, const char* log) {
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execvp(args[0], args.data());
    _exit(127);
  }

  // A throwaway CA and a server certificate for IP:127.0.0.1 (openssl CLI, EC P-256: fast).
  void make_certs() const {
    const std::string d = dir_ + "/";
    write_atomic(d + "server.ext",
                 "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                 "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n");
    const std::vector<std::string> ec = {"-newkey", "ec", "-pkeyopt",
                                         "ec_paramgen_curve:prime256v1", "-nodes"};
    auto with = [&](std::vector<std::string> head, const std::vector<std::string>& tail) {
      head.insert(head.begin() + 2, ec.begin(), ec.end());
      head.insert(head.end(), tail.begin(), tail.end());
      return head;
    };
    run(with({"openssl", "req", "-x509"}, {"-keyout", d + "ca.key", "-out", d + "ca.crt", "-days",
                                           "2", "-subj", "/CN=cxkapi-ca"}));
    run(with({"openssl", "req"},
             {"-keyout", d + "server.key", "-out", d + "server.csr", "-subj", "/CN=127.0.0.1"}));
    run({"openssl", "x509", "-req", "-in", d + "server.csr", "-CA", d + "ca.crt", "-CAkey",
         d + "ca.key", "-CAcreateserial", "-out", d + "server.crt", "-days", "2", "-extfile",
         d + "server.ext"});
  }

  void start() {
    std::vector<std::string> argv = {
        "/usr/bin/python3",
        std::string(CNIMUX_SOURCE_DIR) + "/test/fakes/kube_api/fake_kube_api.py",
        "--port-file",
        dir_ + "/port",
        "--log-file",
        dir_ + "/requests.jsonl",
        "--token",
        opts_.token,
        "--mode",
        opts_.mode,
        "--delay-ms",
        std::to_string(opts_.delay_ms)};
    if (opts_.tls)
      argv.insert(argv.end(), {"--cert", dir_ + "/server.crt", "--key", dir_ + "/server.key"});
    if (!opts_.fixtures.is_null()) {
      write_atomic(dir_ + "/fixtures.json", opts_.fixtures.dump());
      argv.insert(argv.end(), {"--fixtures", dir_ + "/fixtures.json"});
    }
    const auto args = c_argv(argv);
    const std::string log = dir_ + "/server.log";
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // a crashed test must not leave the server behind
      if (getppid() != parent) _exit(1);
      exec_child(args, log.c_str());
    }
    wait_for_port();
  }

  // Bounded polling for the port file, which the server writes once it listens.
  void wait_for_port() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("fake kube API exited: " + slurp(dir_ + "/server.log"));
      }
      std::ifstream in(dir_ + "/port");
      if (in >> port_ && port_ > 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("fake kube API did not write its port file within 20 s");
  }

  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      int status = 0;
      while (waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          kill(pid_, SIGKILL);
          waitpid(pid_, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      pid_ = -1;
    }
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  static size_t collect(char* data, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
  }
  std::string http_post(const std::string& url, const std::string& body) const {
    CURL* h = curl_easy_init();
    std::string answer;
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    const std::string ca = ca_file();
    if (opts_.tls) curl_easy_setopt(h, CURLOPT_CAINFO, ca.c_str());
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK || status != 200)
      throw std::runtime_error(
          "fake kube API control failed: " + std::string(curl_easy_strerror(rc)) + " status " +
          std::to_string(status) + " " + answer);
    return answer;
  }

  Options opts_;
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace fakes
