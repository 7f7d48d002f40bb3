// RAII undo: a guard holds a compensating action and runs it on scope exit unless committed.
// This is the C++ form of the Go plugins' `defer func() { if err != nil { undo() } }()`.
#pragma once

#include <functional>
#include <utility>

namespace cni {

class ScopeGuard {
 public:
  explicit ScopeGuard(std::function<void()> undo) : undo_(std::move(undo)) {}
  ScopeGuard(ScopeGuard&& other) noexcept : undo_(std::exchange(other.undo_, nullptr)) {}
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;
  ScopeGuard& operator=(ScopeGuard&&) = delete;

  // Runs the undo unless commit() was called. An undo must not throw; if it does, the
  // exception is swallowed, because a destructor may run during another exception.
  ~ScopeGuard() {
    if (!undo_) return;
    try {
      undo_();
    } catch (...) {
    }
  }

  // The work succeeded: keep it.
  void commit() { undo_ = nullptr; }

 private:
  std::function<void()> undo_;
};

}  // namespace cni
