/* Sanitizer options compiled into every CNIMUX_SANITIZE executable (cmake/sanitize.cmake).
   Built in rather than read from ASAN_OPTIONS because the e2e tests start cnimux with a fresh
   environment (test/fakes/plugin_runner.h): every sanitized process, however deep, writes its
   reports as files under CNIMUX_SANITIZER_LOG_DIR, which `make test-sanitize` fails on when
   not empty.
   The environment's *SAN_OPTIONS still override these. */

/* Exit 86, not 1: 1 is the CNI error exit, which a test of an error path would accept. */
const char* __asan_default_options(void) {
  return "log_path=" CNIMUX_SANITIZER_LOG_DIR
         "/asan"
         ":exitcode=86:detect_leaks=1:check_initialization_order=1:strict_init_order=1"
         ":detect_stack_use_after_return=1";
}

const char* __ubsan_default_options(void) {
  return "log_path=" CNIMUX_SANITIZER_LOG_DIR
         "/ubsan:print_stacktrace=1:halt_on_error=1"
         ":exitcode=86";
}
