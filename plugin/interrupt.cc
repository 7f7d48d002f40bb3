// Signal handling for ADD: record the signal and kill the running delegate's process group.
#include "plugin/interrupt.h"

#include <atomic>

#include "cni/exec_delegate.h"

namespace plugin {
namespace {

std::atomic<int> g_received{0};

extern "C" void on_terminate(int sig) {
  g_received.store(sig);
  cni::kill_running_delegates();  // async-signal-safe: atomics and killpg only
}

}  // namespace

InterruptGuard::InterruptGuard() {
  struct sigaction sa {};
  sa.sa_handler = on_terminate;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, &old_term_);
  sigaction(SIGINT, &sa, &old_int_);
}

InterruptGuard::~InterruptGuard() {
  sigaction(SIGTERM, &old_term_, nullptr);
  sigaction(SIGINT, &old_int_, nullptr);
}

int InterruptGuard::received() {
  return g_received.load();
}

}  // namespace plugin
