// SIGTERM/SIGINT during ADD: stop the running delegate at once, then let the ADD roll back
// before cnimux exits. Installed for the lifetime of an InterruptGuard.
#pragma once

#include <csignal>

namespace plugin {

class InterruptGuard {
 public:
  InterruptGuard();   // installs the handlers
  ~InterruptGuard();  // restores the previous ones
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  // The signal that arrived, or 0. Checked between attachments so no new one starts.
  static int received();

 private:
  struct sigaction old_term_ {};
  struct sigaction old_int_ {};
};

}  // namespace plugin
