// cnimux-fake-delegate: a CNI plugin that misbehaves on request, for delegate tests.
// Its stdin config says how: "fake": {"<verb, lowercase>": "<mode>", ...options}.
//
// Modes (default "ok"):
//   ok        ADD prints a result: interface CNI_IFNAME, address fake.address (default
//             10.99.0.2/24); VERSION answers as a plugin supporting 0.1.0-1.0.0; others
//             print nothing.
//   noversion ADD prints a result without cniVersion.
//   error     prints {"code": fake.code (11), "msg": fake.msg, "details": fake.details}, exit 1.
//   stderr    writes fake.msg to stderr, nothing to stdout, exit 1.
//   garbage   prints non-JSON, exit 0.        two      prints two JSON objects, exit 0.
//   nothing   prints nothing, exit 0.         segv     raise(SIGSEGV).
//   flood     2 MiB on stdout, exit 0.        stderrflood  1 MiB on stderr, exit 1.
//   env       prints {"env": {every CNI_* and FAKE_* variable}}, exit 0.
//   deep      prints a result holding arrays nested 100,000 deep, exit 0.
//   deeperror prints an error object whose details are nested 100,000 deep, exit 1.
//   legacy    (VERSION) prints an object without cniVersion.
//   hang      starts a grandchild `sleep` (same process group), writes "<pid> <grandchild
//             pid>" to fake.pidfile, then sleeps forever.
//   waiter    like a plugin whose IPAM child waits on a lock: starts a grandchild (same process
//             group, stdio on /dev/null) that blocks opening the fifo fake.fifo and, once a
//             writer opens it, writes fake.marker; writes the pidfile as `hang` does, then
//             sleeps forever, or with fake.exit true prints the ADD result and exits 0.
//   fds       prints {"fds": [every open descriptor number]}, exit 0.
//   orphan    ADD: starts a grandchild `sleep` (same process group) that inherits stdout and
//             stderr, writes the pidfile as `hang` does, prints the result and exits 0: the
//             grandchild keeps the pipes open and keeps running after its parent is gone.
// fake.armed: a path; while it does not exist, every verb runs mode "ok" instead, so a test
// can make a failure transient (e.g. a DEL that fails until the file is removed).
// fake.log: every invocation appends "<VERB> <CNI_IFNAME> <CNI_CONTAINERID>\n".
// Env FAKE_DELEGATE_SKIP_STDIN=1: exit at once without reading stdin, printing {} .
#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

namespace {

using nlohmann::json;

std::string env_or(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

void write_fd(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

void append_log(const json& fake) {
  const std::string path = fake.value("log", "");
  if (path.empty()) return;
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  write_fd(fd, env_or("CNI_COMMAND") + " " + env_or("CNI_IFNAME") + " " +
                   env_or("CNI_CONTAINERID") + "\n");
  ::close(fd);
}

json add_result(const json& conf, const json& fake, bool with_version) {
  json r = {{"interfaces", {{{"name", env_or("CNI_IFNAME")}, {"sandbox", env_or("CNI_NETNS")}}}},
            {"ips", {{{"address", fake.value("address", "10.99.0.2/24")}, {"interface", 0}}}}};
  if (with_version) r["cniVersion"] = conf.value("cniVersion", "1.0.0");
  return r;
}

json version_answer(const json& conf) {
  return {{"cniVersion", conf.value("cniVersion", "1.0.0")},
          {"supportedVersions", {"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"}}};
}

json cni_env() {
  json out = json::object();
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    if (kv.rfind("CNI_", 0) != 0 && kv.rfind("FAKE_", 0) != 0) continue;
    size_t eq = kv.find('=');
    out[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  }
  return out;
}

void write_pidfile(const json& fake, pid_t grandchild) {
  const std::string pidfile = fake.value("pidfile", "");
  if (pidfile.empty()) return;
  const std::string tmp = pidfile + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  write_fd(fd, std::to_string(::getpid()) + " " + std::to_string(grandchild) + "\n");
  ::close(fd);
  ::rename(tmp.c_str(), pidfile.c_str());  // readers see the whole line or nothing
}

pid_t start_sleeper() {
  pid_t grandchild = ::fork();
  if (grandchild == 0) {
    ::execlp("sleep", "sleep", "100000", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return grandchild;
}

[[noreturn]] void hang(const json& fake) {
  write_pidfile(fake, start_sleeper());
  while (true) ::pause();
}

// The grandchild is started before the result is written, so it holds the pipes open when
// the plugin exits: a reader that waits for EOF would wait as long as it runs.
int orphan(const std::string& verb, const json& conf, const json& fake) {
  write_pidfile(fake, start_sleeper());
  if (verb == "add") write_fd(1, add_result(conf, fake, true).dump());
  if (verb == "version") write_fd(1, version_answer(conf).dump());
  return 0;
}

// The grandchild of `waiter`: detached from our pipes (so our exit ends the run), it stays in
// our process group and acts only once fake.fifo is opened for writing, as an IPAM plugin
// commits an allocation once it gets its lock.
[[noreturn]] void wait_then_mark(const json& fake) {
  const int null = ::open("/dev/null", O_RDWR);
  for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
  const int fifo = ::open(fake.value("fifo", "").c_str(), O_RDONLY);
  if (fifo < 0) ::_exit(1);
  const std::string marker = fake.value("marker", "");
  const int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  write_fd(fd, "committed after the wait\n");
  ::_exit(0);
}

int waiter(const json& conf, const json& fake) {
  pid_t grandchild = ::fork();
  if (grandchild == 0) wait_then_mark(fake);
  write_pidfile(fake, grandchild);
  if (!fake.value("exit", false)) {
    while (true) ::pause();
  }
  write_fd(1, add_result(conf, fake, true).dump());
  return 0;
}

json open_fds() {
  json out = json::array();
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return out;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd != ::dirfd(dir)) out.push_back(fd);
  }
  ::closedir(dir);
  return out;
}

int run_mode(const std::string& mode, const std::string& verb, const json& conf, const json& fake) {
  if (mode == "ok" || mode == "noversion") {
    if (verb == "add") write_fd(1, add_result(conf, fake, mode == "ok").dump());
    if (verb == "version") write_fd(1, version_answer(conf).dump());
    return 0;
  }
  if (mode == "error") {
    json e = {{"cniVersion", conf.value("cniVersion", "1.0.0")},
              {"code", fake.value("code", 11)},
              {"msg", fake.value("msg", "fake failure")}};
    if (fake.contains("details")) e["details"] = fake["details"];
    write_fd(1, e.dump());
    return 1;
  }
  if (mode == "stderr") {
    write_fd(2, "  " + fake.value("msg", "fake stderr failure") + "\n\n");
    return 1;
  }
  if (mode == "garbage") return write_fd(1, "this is not json {"), 0;
  if (mode == "deep" || mode == "deeperror") {
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    if (mode == "deep") return write_fd(1, R"({"cniVersion":"1.0.0","x":)" + deep + "}"), 0;
    return write_fd(1, R"({"cniVersion":"1.0.0","code":11,"msg":"m","details":)" + deep + "}"), 1;
  }
  if (mode == "two") return write_fd(1, R"({"cniVersion":"1.0.0"} {"cniVersion":"1.0.0"})"), 0;
  if (mode == "nothing") return 0;
  if (mode == "flood") return write_fd(1, std::string(2 << 20, ' ')), 0;
  if (mode == "stderrflood") return write_fd(2, std::string(1 << 20, 'x')), 1;
  if (mode == "env") return write_fd(1, json{{"env", cni_env()}}.dump()), 0;
  if (mode == "legacy") return write_fd(1, R"({"supportedVersions":["0.1.0"]})"), 0;
  if (mode == "hang") hang(fake);
  if (mode == "waiter") return waiter(conf, fake);
  if (mode == "orphan") return orphan(verb, conf, fake);
  if (mode == "fds") return write_fd(1, json{{"fds", open_fds()}}.dump()), 0;
  if (mode == "segv") {
    struct rlimit none {};
    ::setrlimit(RLIMIT_CORE, &none);
    std::signal(SIGSEGV, SIG_DFL);  // a sanitizer's handler would turn it into an exit
    std::raise(SIGSEGV);
  }
  write_fd(2, "cnimux-fake-delegate: unknown mode \"" + mode + "\"\n");
  return 2;
}

}  // namespace

int main() {
  if (env_or("FAKE_DELEGATE_SKIP_STDIN") == "1") return write_fd(1, "{}"), 0;
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  json conf = json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (!conf.is_object()) conf = json::object();
  const json fake = conf.value("fake", json::object());
  std::string verb = env_or("CNI_COMMAND");
  std::transform(verb.begin(), verb.end(), verb.begin(), ::tolower);
  append_log(fake);
  const std::string armed = fake.value("armed", "");
  if (!armed.empty() && ::access(armed.c_str(), F_OK) != 0) return run_mode("ok", verb, conf, fake);
  return run_mode(fake.value(verb, "ok"), verb, conf, fake);
}
