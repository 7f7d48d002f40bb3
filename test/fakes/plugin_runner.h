// Runs a CNI plugin binary the way a runtime does (CNI_* environment + stdin config) and
// captures its exit status, stdout and stderr. Header-only, for tests.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace testing_support {

struct PluginRun {
  int exit_code = -1;  // -1 when killed by a signal or the deadline
  std::string out;
  std::string err;

  // stdout parsed; fails the caller's expectations loudly if it is not exactly one object.
  nlohmann::json json() const {
    auto j = nlohmann::json::parse(out);  // throws on trailing garbage or two objects
    if (!j.is_object()) throw std::runtime_error("stdout is not a JSON object: " + out);
    return j;
  }
};

// The CNI environment of one call. Unset fields are not exported.
struct CniEnv {
  std::string command;
  std::string container_id;
  std::string netns;
  std::string ifname;
  std::string args;
  std::string path;
  std::map<std::string, std::string> extra;  // e.g. CNIMUX_LOG_LEVEL
};

inline PluginRun run_plugin(const std::string& binary, const CniEnv& env,
                            const std::string& stdin_bytes,
                            std::chrono::seconds deadline = std::chrono::seconds(120)) {
  std::vector<std::string> vars;
  auto put = [&](const char* k, const std::string& v) {
    if (!v.empty()) vars.push_back(std::string(k) + "=" + v);
  };
  put("CNI_COMMAND", env.command);
  put("CNI_CONTAINERID", env.container_id);
  put("CNI_NETNS", env.netns);
  put("CNI_IFNAME", env.ifname);
  put("CNI_ARGS", env.args);
  put("CNI_PATH", env.path);
  put("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
  for (const auto& [k, v] : env.extra) vars.push_back(k + "=" + v);

  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
    throw std::runtime_error("pipe failed");
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    std::vector<char*> envp;
    for (auto& v : vars) envp.push_back(v.data());
    envp.push_back(nullptr);
    char* argv[] = {const_cast<char*>(binary.c_str()), nullptr};
    execve(binary.c_str(), argv, envp.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  // Small configs fit in the pipe buffer; write before reading.
  (void)!write(in[1], stdin_bytes.data(), stdin_bytes.size());
  close(in[1]);

  PluginRun run;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  const auto until = std::chrono::steady_clock::now() + deadline;
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      break;
    }
    if (poll(fds, 2, static_cast<int>(left.count())) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? run.out : run.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  return run;
}

}  // namespace testing_support
