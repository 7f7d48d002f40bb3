// What a child started with clone(CLONE_VM) may do. Such a child shares our memory, so it must
// not write any of it: it runs on a stack of its own, starts with every signal blocked (so
// none of our handlers runs in it), and makes raw system calls only, since glibc's wrappers
// write errno, which lives in the calling thread's TLS, i.e. in our memory. Its code must not be
// instrumented either (no sanitizer, no stack protector): their bookkeeping writes our memory.
#pragma once

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace cni {

// A system call with up to four arguments; returns the kernel's value (-errno on failure).
// Where it is not written for the architecture it is glibc's syscall(), which writes errno:
// there clone_vm_child_possible() is false, and only a child whose parent is suspended
// (CLONE_VFORK) or a fork may call it.
[[gnu::always_inline]] inline long raw_syscall(long nr, long a = 0, long b = 0, long c = 0,
                                               long d = 0) {
#if defined(__x86_64__)
  long ret;
  register long r10 asm("r10") = d;
  asm volatile("syscall"
               : "=a"(ret)
               : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
               : "rcx", "r11", "memory");
  return ret;
#elif defined(__aarch64__)
  register long x8 asm("x8") = nr;
  register long x0 asm("x0") = a;
  register long x1 asm("x1") = b;
  register long x2 asm("x2") = c;
  register long x3 asm("x3") = d;
  asm volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
  return x0;
#else
  const long ret = ::syscall(nr, a, b, c, d);
  return ret < 0 ? -errno : ret;
#endif
}

// True when a CLONE_VM child that runs alongside us can be started here: raw_syscall() is
// written for the architecture, close_range() exists (Linux 5.9), and we are not under
// valgrind, which ends the whole process at a CLONE_VM clone without CLONE_THREAD or
// CLONE_VFORK rather than failing it (valgrind always preloads its vgpreload_core library,
// which is how it is recognised). Computed once.
bool clone_vm_child_possible();

}  // namespace cni
