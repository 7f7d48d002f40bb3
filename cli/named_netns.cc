// Named network namespaces for `cnimuxctl pod`, created and deleted with iproute2.
#include "cli/named_netns.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "cli/output.h"
#include "cni/error.h"
#include "net/netns.h"

extern char** environ;

namespace cli {
namespace {

// Runs `ip netns VERB NAME`; returns its exit status (stderr goes to ours, so ip's own
// message reaches the operator).
int ip_netns(const char* verb, const std::string& name) {
  std::vector<std::string> args{"ip", "netns", verb, name};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  // stdout is the command's answer (a table or JSON): keep ip's chatter off it.
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
  const int rc = posix_spawnp(&pid, "ip", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw StateError(std::string("cannot run ip: ") + std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw StateError("waiting for ip failed");
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

void validate_netns_name(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 255 && name != "." && name != "..";
  for (char c : name) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-');
  }
  if (!ok) {
    throw cni::Error(cni::kInvalidConfig,
                     "invalid netns name \"" + name + "\": want 1-255 of [A-Za-z0-9_.-]");
  }
}

std::string netns_path(const std::string& name) {
  return std::string(kNetnsRunDir) + "/" + name;
}

bool netns_exists(const std::string& name) {
  try {
    net::Netns::open(netns_path(name));
    return true;
  } catch (const net::NetnsGoneError&) {
    return false;
  } catch (const cni::Error& e) {
    throw StateError(e.msg());
  }
}

void create_netns(const std::string& name) {
  validate_netns_name(name);
  // A leftover empty file (a namespace removed without `ip netns delete`) makes ip refuse.
  if (!netns_exists(name)) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(netns_path(name), ec)) ip_netns("delete", name);
  }
  if (ip_netns("add", name) != 0) throw StateError("ip netns add " + name + " failed");
}

void delete_netns(const std::string& name) {
  validate_netns_name(name);
  std::error_code ec;
  if (!std::filesystem::exists(netns_path(name), ec)) return;
  if (ip_netns("delete", name) != 0) throw StateError("ip netns delete " + name + " failed");
}

}  // namespace cli
