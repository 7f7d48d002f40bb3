// Executes CNI plugin binaries with boost.process: lookup, environment, stdin, separate
// stdout/stderr capture with size caps, a process group led by a guard that kills it if we
// die, a deadline that kills the group, and reaping.
#include "cni/exec_delegate.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>
// Boost.Process 1.74 compiles its vfork() executor only when the feature macros say vfork
// exists, which _GNU_SOURCE's newer POSIX level hides; glibc has it.
#define BOOST_POSIX_HAS_VFORK 1
#include <boost/asio.hpp>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/posix.hpp>
#include <cerrno>
#include <system_error>
#include <thread>

#include "cni/error.h"
#include "cni/json_limits.h"
#include "cni/phase_trace.h"
#include "cni/process.h"
#include "cni/text.h"
#include "cni/version.h"

extern char** environ;

namespace cni {
namespace {

namespace asio = boost::asio;
namespace bp = boost::process;
using nlohmann::json;

// ---- Small text helpers. ----

// Cut to `n` bytes and make the text valid UTF-8, so it can travel in a JSON error object.
std::string shorten(const std::string& s, size_t n) {
  std::string cut =
      s.size() > n ? s.substr(0, n) + "... (" + std::to_string(s.size()) + " bytes)" : s;
  return json::parse(json(cut).dump(-1, ' ', false, json::error_handler_t::replace))
      .get<std::string>();
}

std::string quote(const std::string& s, size_t n) {
  return json(shorten(s, n)).dump();
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// ---- Output interpretation. ----

Error failure_error(const std::string& type, const DelegateOutput& o) {
  const std::string status = "exit status " + std::to_string(o.exit_code);
  const std::string out = trim(o.out);
  const std::string err = trim(o.err);
  if (out.empty()) {
    if (err.empty())
      return Error(kDelegateFailed, type + ": failed with " + status + " and no output");
    return Error(kDelegateFailed, type + ": " + shorten(err, 1024), status);
  }
  try {
    Error e = Error::from_json(parse_json(out, type, kDecodeFailure));
    const std::string msg = e.msg().empty() ? "failed with " + status : e.msg();
    return Error(e.code() > 0 ? e.code() : kDelegateFailed, type + ": " + msg, e.details());
  } catch (const std::exception&) {
    // Not an error object: fall through to quoting it.
  }
  return Error(
      kDelegateFailed,
      type + ": failed with " + status + "; stdout is not an error object: " + quote(out, 200),
      shorten(err, 1024));
}

json success_value(const std::string& type, Verb verb, const DelegateOutput& o) {
  if (o.out_truncated) {
    throw Error(kDecodeFailure, type + ": output exceeds " +
                                    std::to_string(ExecDelegate::Options::kMaxStdout) + " bytes");
  }
  const std::string out = trim(o.out);
  if (out.empty()) {
    if (verb == Verb::kAdd || verb == Verb::kVersion) {
      throw Error(kDecodeFailure,
                  type + ": " + std::string(verb_name(verb)) + " succeeded but printed no result");
    }
    return nullptr;
  }
  JsonParse parsed = try_parse_json(out);
  if (!parsed.value) {
    throw Error(kDecodeFailure,
                type + ": output is not one JSON object (" + parsed.why + "): " + quote(out, 200));
  }
  json j = std::move(*parsed.value);
  if (!j.is_object())
    throw Error(kDecodeFailure, type + ": output is not a JSON object: " + quote(out, 200));
  return j;
}

// ---- Child process plumbing. ----

// Blocks SIGPIPE in this thread while we write a child's stdin (a child that exits without
// reading must not kill us), then drops a SIGPIPE that we caused.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old_);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeBlock() {
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      sigset_t pipe_only;
      sigemptyset(&pipe_only);
      sigaddset(&pipe_only, SIGPIPE);
      const timespec zero{0, 0};
      sigtimedwait(&pipe_only, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t old_;
  bool was_pending_ = false;
};

// Runs in the vforked child before exec: it shares our memory and runs while we wait, so
// async-signal-safe calls only and no write to anything of ours. Every signal is blocked
// when it starts (SignalsBlocked), so none of our handlers can run in it, acting on our
// memory, before they are reset here.
void prepare_child(pid_t parent, pid_t pgid) {
  // The guard's group, so a timeout, a stop or our death kills grandchildren too.
  if (::setpgid(0, pgid) != 0) ::_exit(127);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);       // dies with us at once; the guard does the rest
  if (::getppid() != parent) ::_exit(127);  // we died before prctl took effect
  // Handlers back to the default (the delegate would get the default at exec anyway), and
  // SIGPIPE's too, then unblock.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction old {};
    if (sig == SIGKILL || sig == SIGSTOP || ::sigaction(sig, nullptr, &old) != 0) continue;
    if (sig == SIGPIPE || (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN))
      ::sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // Descriptors of other threads' children and of our files must not leak into plugins;
  // CLOEXEC rather than close keeps boost's exec-error pipe working.
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    struct rlimit lim {};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    const int max = static_cast<int>(std::min<rlim_t>(lim.rlim_cur, 65536));
    for (int fd = 3; fd < max; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
}

struct Pipes {
  explicit Pipes(asio::io_context& ioc) : in(ioc), out(ioc), err(ioc) {}
  bp::async_pipe in, out, err;
};

// Blocks every signal in this thread for its lifetime: a vforked child starts with our
// mask, so no handler of ours runs in it before prepare_child() resets them.
class SignalsBlocked {
 public:
  SignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old_);
  }
  ~SignalsBlocked() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  SignalsBlocked(const SignalsBlocked&) = delete;
  SignalsBlocked& operator=(const SignalsBlocked&) = delete;

 private:
  sigset_t old_;
};

// Starts `binary` in process group `pgid`; throws std::system_error with the exec errno.
// Never leaves a zombie: a child whose exec failed is reaped here. vfork(): the child
// borrows our address space until it execs, so starting it copies no page tables and
// leaves none of our pages copy-on-write (docs/performance.md).
bp::child spawn(const std::string& binary, char** envp, Pipes& p, pid_t pgid, RunningGroup& group) {
  const pid_t parent = ::getpid();
  std::error_code ec;
  SignalsBlocked blocked;
  bp::child c(
      bp::exe = binary, bp::posix::use_vfork, (bp::std_in < p.in), (bp::std_out > p.out),
      (bp::std_err > p.err), bp::error(ec),
      bp::extend::on_setup = [envp](auto& exec) { exec.env = envp; },
      bp::extend::on_exec_setup = [parent, pgid](auto&) { prepare_child(parent, pgid); },
      bp::extend::on_success =
          [pgid, &group](auto& exec) {
            ::setpgid(exec.pid, pgid);  // also here: no window where the group is unset
            group.set(pgid);
          },
      bp::extend::on_error =
          [](auto& exec, const std::error_code&) {
            if (exec.pid > 0) {
              while (::waitpid(exec.pid, nullptr, 0) < 0 && errno == EINTR) {
              }
            }
          });
  if (ec) throw std::system_error(ec, "execute " + binary);
  return c;
}

// Reads one pipe into `data`, keeping at most `cap` bytes and draining the rest.
struct Capture {
  Capture(bp::async_pipe& pipe, size_t cap) : pipe(pipe), cap(cap) {}
  void start() {
    pipe.async_read_some(asio::buffer(buf), [this](const boost::system::error_code& ec, size_t n) {
      const size_t room = cap - std::min(cap, data.size());
      data.append(buf.data(), std::min(n, room));
      if (n > room) truncated = true;
      if (ec) {
        done = true;
        return;
      }
      start();
    });
  }
  bp::async_pipe& pipe;
  size_t cap;
  std::string data;
  bool truncated = false;
  bool done = false;
  std::array<char, 16384> buf;
};

// Sets `exited` once the child has terminated (not reaped): a pidfd when the kernel has
// them (5.3+), else polling, never a SIGCHLD handler that would steal other children.
class ExitWatch {
 public:
  ExitWatch(asio::io_context& ioc, bp::child& c) : child_(c), poll_(ioc) {
    // syscall(): glibc 2.36's <sys/pidfd.h> lacks extern "C".
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, c.id(), 0));
    if (fd >= 0) {
      pidfd_.emplace(ioc, fd);
      pidfd_->async_wait(asio::posix::descriptor_base::wait_read,
                         [this](const boost::system::error_code& ec) { exited = exited || !ec; });
    } else {
      poll();
    }
  }
  bool exited = false;

 private:
  void poll() {
    std::error_code ec;
    if (!child_.running(ec)) {
      exited = true;
      return;
    }
    poll_.expires_after(std::chrono::milliseconds(10));
    poll_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) poll();
    });
  }
  bp::child& child_;
  asio::steady_timer poll_;
  std::optional<asio::posix::stream_descriptor> pidfd_;
};

// The environment block handed to execve: pointers into `vars`, which must outlive it.
class EnvBlock {
 public:
  explicit EnvBlock(std::vector<std::string>& vars) {
    ptrs_.reserve(vars.size() + 1);
    for (auto& v : vars) ptrs_.push_back(v.data());
    ptrs_.push_back(nullptr);
  }
  char** get() { return ptrs_.data(); }

 private:
  std::vector<char*> ptrs_;
};

std::vector<std::string> child_env(Verb verb, const DelegateRequest& req,
                                   const std::string& cni_path) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    if (std::strncmp(*e, "CNI_", 4) != 0) env.emplace_back(*e);
  }
  env.push_back("CNI_COMMAND=" + std::string(verb_name(verb)));
  env.push_back("CNI_CONTAINERID=" + req.container_id);
  env.push_back("CNI_NETNS=" + req.netns);
  env.push_back("CNI_IFNAME=" + req.ifname);
  env.push_back("CNI_ARGS=" + req.cni_args);
  env.push_back("CNI_PATH=" + cni_path);
  return env;
}

std::string probe_stdin(const std::string& config) {
  if (trim(config).empty()) return json{{"cniVersion", latest_version()}}.dump();
  std::optional<json> j = try_parse_json(config).value;
  if (j && j->is_object() && !j->contains("cniVersion")) {
    (*j)["cniVersion"] = latest_version();
    return j->dump();
  }
  return config;  // sent as is: the plugin decides what it makes of it
}

std::vector<std::string> parse_version_reply(const std::string& type, const json& reply) {
  const auto v = reply.find("cniVersion");
  if (v == reply.end() || (v->is_string() && v->get<std::string>().empty())) {
    return {"0.1.0"};  // a plugin from before VERSION existed, as libcni assumes
  }
  const auto s = reply.find("supportedVersions");
  if (s == reply.end() || !s->is_array() || s->empty() ||
      !std::all_of(s->begin(), s->end(), [](const json& x) { return x.is_string(); })) {
    throw Error(kDecodeFailure, type + ": VERSION answer has no list of supportedVersions: " +
                                    quote(reply.dump(), 200));
  }
  return s->get<std::vector<std::string>>();
}

// Feeds stdin, captures stdout and stderr, and waits for the child to terminate or the
// deadline to pass. Returns true when the deadline killed the group.
bool collect(asio::io_context& ioc, bp::child& child, const ProcessGroupGuard& guard, Pipes& pipes,
             const DelegateRequest& req, Capture& out, Capture& err) {
  out.start();
  err.start();
  if (req.config.empty()) {
    pipes.in.close();
  } else {
    asio::async_write(pipes.in, asio::buffer(req.config),
                      [&pipes](const boost::system::error_code&, size_t) {
                        boost::system::error_code ignored;
                        pipes.in.close(ignored);
                      });
  }
  // The config is in the pipe already when it fits (asio writes at once when it can).
  run_after_input(req);
  ExitWatch exit_watch(ioc, child);
  bool timed_out = false;
  asio::steady_timer deadline(ioc);
  deadline.expires_after(req.timeout);
  deadline.async_wait([&](const boost::system::error_code& ec) {
    if (ec) return;
    timed_out = true;
    guard.kill();
    // A grandchild that left the group may hold the pipes open: stop waiting for them.
    boost::system::error_code ignored;
    pipes.out.close(ignored);
    pipes.err.close(ignored);
    pipes.in.close(ignored);
  });
  bool group_killed = false;
  while (!(out.done && err.done && exit_watch.exited)) {
    if (exit_watch.exited && !group_killed) {
      // The plugin's exit ends its operation (docs/delegation.md): what it left in the group
      // dies now, so a grandchild holding stdout cannot keep us reading until the deadline.
      // What the plugin wrote before exiting is still in the pipes and is read to EOF.
      group_killed = true;
      guard.kill();
    }
    if (ioc.run_one() == 0) break;
  }
  return timed_out;
}

// spawn() with the ETXTBSY retry; exec failures become cni::Error naming the type.
bp::child start_child(const std::string& type, const ExecDelegate::Options& options,
                      const std::string& binary, char** envp, asio::io_context& ioc,
                      std::optional<Pipes>& pipes, pid_t pgid, RunningGroup& group) {
  bp::child child;
  try {
    retry_on_text_busy([&] { child = spawn(binary, envp, pipes.emplace(ioc), pgid, group); },
                       options.text_busy_attempts, options.text_busy_backoff);
  } catch (const std::system_error& e) {
    if (e.code() == std::errc::text_file_busy) {
      throw Error(kTryAgainLater, type + ": cannot execute " + binary + ": text file busy (tried " +
                                      std::to_string(options.text_busy_attempts) + " times)");
    }
    throw Error(kDelegateFailed, type + ": cannot execute " + binary + ": " + e.code().message());
  }
  return child;
}

// The guard of the group the delegate will join; its failure names the type.
void start_guard(const std::string& type, std::optional<ProcessGroupGuard>& guard) {
  try {
    guard.emplace();
  } catch (const std::system_error& e) {
    throw Error(kDelegateFailed,
                type + ": cannot start the guard of its process group: " + e.code().message());
  }
}

// One started delegate process and what watches it: its group's guard, its pipes (bound to
// its own io_context, so it can wait, unread, between a prestart and its call) and the
// child. Unless `reaped`, destroying it kills what is left of the group and reaps the child;
// the guard is reaped later (cni/process.h).
struct Launch {
  std::string binary;
  std::vector<std::string> env;  // with `binary`, what a prestarted launch is matched on
  asio::io_context ioc;
  // Declared before `group`, so the group is unregistered before the guard is reaped.
  std::optional<ProcessGroupGuard> guard;
  RunningGroup group;
  std::optional<Pipes> pipes;
  bp::child child;
  bool reaped = false;

  Launch() = default;
  Launch(const Launch&) = delete;
  Launch& operator=(const Launch&) = delete;
  ~Launch() {
    if (reaped || !guard) return;
    guard->kill();
    group.clear();
    std::error_code ec;
    if (child.valid()) child.wait(ec);
  }
};

// Starts `binary` with `env` in a new guarded process group; its stdin is not written yet.
std::unique_ptr<Launch> launch(const std::string& type, const ExecDelegate::Options& options,
                               const std::string& binary, std::vector<std::string> env) {
  auto l = std::make_unique<Launch>();
  l->binary = binary;
  l->env = std::move(env);
  EnvBlock block(l->env);
  start_guard(type, l->guard);
  l->child =
      start_child(type, options, binary, block.get(), l->ioc, l->pipes, l->guard->pgid(), l->group);
  phase_mark("delegate-started");
  return l;
}

// A prestarted delegate waiting for its call. Every live one is listed, so that run() finds
// the one it may take over; destroying one that was not taken kills it unfed.
class ExecPrestart final : public Prestart {
 public:
  explicit ExecPrestart(std::unique_ptr<Launch> launch) : launch_(std::move(launch)) {
    std::lock_guard<std::mutex> hold(mutex());
    waiting().push_back(this);
  }
  ~ExecPrestart() override {
    std::lock_guard<std::mutex> hold(mutex());
    auto& list = waiting();
    list.erase(std::remove(list.begin(), list.end(), this), list.end());
  }
  ExecPrestart(const ExecPrestart&) = delete;
  ExecPrestart& operator=(const ExecPrestart&) = delete;

  // The oldest waiting launch of `binary` with exactly `env`, now the caller's; else null.
  static std::unique_ptr<Launch> take(const std::string& binary,
                                      const std::vector<std::string>& env) {
    std::lock_guard<std::mutex> hold(mutex());
    for (ExecPrestart* p : waiting()) {
      if (p->launch_ && p->launch_->binary == binary && p->launch_->env == env) {
        return std::move(p->launch_);
      }
    }
    return nullptr;
  }

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static std::vector<ExecPrestart*>& waiting() {
    static std::vector<ExecPrestart*> list;
    return list;
  }

  std::unique_ptr<Launch> launch_;
};

// CNI_PATH as a delegate sees it.
std::string cni_path_value(const std::vector<std::string>& dirs) {
  return dirs.empty() ? "dummy" : join(dirs, ":");
}
}  // namespace

// ---- Public helpers. ----

void run_after_input(const DelegateRequest& req) noexcept {
  if (!req.after_input) return;
  try {
    req.after_input();
  } catch (const std::exception& e) {
    spdlog::warn("after a delegate's input: {}", e.what());
  } catch (...) {
    spdlog::warn("after a delegate's input: unknown error");
  }
}

void validate_plugin_type(const std::string& type) {
  if (type.empty()) throw Error(kInvalidConfig, "invalid plugin type \"\": empty");
  if (type == "." || type == "..") {
    throw Error(kInvalidConfig, "invalid plugin type \"" + type + "\": not a file name");
  }
  if (type.find('/') != std::string::npos) {
    throw Error(kInvalidConfig, "invalid plugin type \"" + type + "\": contains '/'");
  }
}

json interpret_delegate_output(const std::string& type, Verb verb, const DelegateOutput& o) {
  if (o.term_signal != 0) {
    throw Error(kDelegateFailed, type + ": killed by signal " + signal_name(o.term_signal),
                shorten(trim(o.err), 1024));
  }
  if (o.exit_code != 0) throw failure_error(type, o);
  if (!trim(o.err).empty()) spdlog::debug("{}: stderr: {}", type, shorten(trim(o.err), 1024));
  return success_value(type, verb, o);
}

void retry_on_text_busy(const std::function<void()>& launch, int attempts,
                        std::chrono::milliseconds backoff) {
  for (int i = 1;; ++i) {
    try {
      launch();
      return;
    } catch (const std::system_error& e) {
      if (e.code() != std::errc::text_file_busy || i >= attempts) throw;
      spdlog::debug("text file busy, retrying ({}/{}): {}", i, attempts, e.what());
      std::this_thread::sleep_for(backoff * (1 << std::min(i - 1, 10)));
    }
  }
}

// ---- ExecDelegate. ----

ExecDelegate::ExecDelegate(std::string type, std::vector<std::string> search_dirs,
                           std::shared_ptr<VersionCache> cache, Options options)
    : type_(std::move(type)),
      search_dirs_(std::move(search_dirs)),
      cache_(std::move(cache)),
      options_(options) {
  validate_plugin_type(type_);
}

std::string ExecDelegate::find_binary(const std::vector<std::string>& path) const {
  std::vector<std::string> dirs;
  for (const auto* list : {&search_dirs_, &path}) {
    for (const auto& d : *list) {
      if (!d.empty() && std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(d);
    }
  }
  for (const auto& dir : dirs) {
    const std::string candidate = dir + "/" + type_;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  throw Error(kInvalidConfig,
              "failed to find plugin \"" + type_ + "\" in path [" + join(dirs, " ") + "]");
}

json ExecDelegate::invoke(const DelegateRequest& req) {
  const std::string binary = find_binary(req.path);
  DelegateOutput out = run(binary, req);
  return interpret_delegate_output(type_, req.verb, out);
}

std::vector<std::string> ExecDelegate::supported_versions(const DelegateRequest& probe) {
  const std::string binary = find_binary(probe.path);
  const std::optional<BinaryId> id = BinaryId::of(binary);
  if (cache_ && id) {
    if (auto cached = cache_->lookup(*id)) return *cached;
  }
  DelegateRequest req = probe;
  req.verb = Verb::kVersion;
  req.netns = "dummy";
  req.ifname = "dummy";
  req.config = probe_stdin(probe.config);
  const std::vector<std::string> versions = parse_version_reply(
      type_, interpret_delegate_output(type_, Verb::kVersion, run(binary, req)));
  if (cache_ && id) cache_->store(*id, versions);
  return versions;
}

std::unique_ptr<Prestart> ExecDelegate::prestart(const DelegateRequest& req) {
  const std::string binary = find_binary(req.path);
  const std::vector<std::string>& dirs = req.path.empty() ? search_dirs_ : req.path;
  // No waiting out "text file busy" here: the call itself will, with the delegate's deadline.
  Options once = options_;
  once.text_busy_attempts = 1;
  std::unique_ptr<Launch> l =
      launch(type_, once, binary, child_env(req.verb, req, cni_path_value(dirs)));
  spdlog::debug("{}: prestarted {} {} pid {} (container {}, ifname {})", type_, binary,
                verb_name(req.verb), l->child.id(), req.container_id, req.ifname);
  return std::make_unique<ExecPrestart>(std::move(l));
}

DelegateOutput ExecDelegate::run(const std::string& binary, const DelegateRequest& req) {
  const std::vector<std::string>& dirs = req.path.empty() ? search_dirs_ : req.path;
  std::vector<std::string> env = child_env(req.verb, req, cni_path_value(dirs));
  SigpipeBlock no_sigpipe;
  // Whatever happens below, no member of the group outlives this call unreaped (~Launch).
  std::unique_ptr<Launch> l = ExecPrestart::take(binary, env);
  const bool prestarted = l != nullptr;
  if (!prestarted) l = launch(type_, options_, binary, std::move(env));
  bp::child& child = l->child;
  const pid_t pid = child.id();
  spdlog::debug("{}: {} {} {} pid {} group {} (container {}, ifname {})", type_,
                prestarted ? "took over the prestarted" : "started", binary, verb_name(req.verb),
                pid, l->guard->pgid(), req.container_id, req.ifname);
  if (req.before_input) req.before_input();  // a throw: ~Launch kills the unfed delegate
  phase_mark("delegate-may-read");
  Capture out(l->pipes->out, Options::kMaxStdout);
  Capture err(l->pipes->err, Options::kMaxStderr);
  const bool timed_out = collect(l->ioc, child, *l->guard, *l->pipes, req, out, err);
  l->group.clear();
  std::error_code ec;
  child.wait(ec);
  l->reaped = true;
  phase_mark("delegate-reaped");

  const int status = child.native_exit_code();
  DelegateOutput result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
  result.term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  result.out = std::move(out.data);
  result.out_truncated = out.truncated;
  result.err = std::move(err.data);
  spdlog::debug("{}: pid {} finished: exit {} signal {}", type_, pid, result.exit_code,
                result.term_signal);
  if (timed_out) {
    throw Error(kDelegateTimeout,
                type_ + ": timed out after " + std::to_string(req.timeout.count()) +
                    "ms; killed its process group",
                shorten(trim(result.err), 1024));
  }
  if (l->group.stop_requested() && result.term_signal == SIGKILL) {
    throw Error(kDelegateFailed, type_ + ": stopped: cnimux is terminating");
  }
  return result;
}

}  // namespace cni
