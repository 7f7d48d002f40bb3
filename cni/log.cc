// Installs the default spdlog logger: a file or stderr sink (never stdout) with a pattern
// that puts the program, container ID and verb on every line.
#include "cni/log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "cni/state_file.h"

namespace cni {
namespace {

// Values from the environment go into an spdlog pattern, where '%' is a flag.
std::string escape_pattern(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '%') out += '%';
    out += c;
  }
  return out;
}

std::string make_pattern(const LogOptions& opts) {
  std::string p = "%Y-%m-%dT%H:%M:%S.%e%z [%l] " + escape_pattern(opts.program) + "[%P]";
  p += " cid=" + escape_pattern(opts.container_id.empty() ? "-" : opts.container_id);
  p += " verb=" + escape_pattern(opts.verb.empty() ? "-" : opts.verb);
  return p + ": %v";
}

std::optional<spdlog::level::level_enum> lookup_level(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static const std::pair<const char*, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace},    {"debug", spdlog::level::debug},
      {"verbose", spdlog::level::debug},  {"info", spdlog::level::info},
      {"warn", spdlog::level::warn},      {"warning", spdlog::level::warn},
      {"error", spdlog::level::err},      {"critical", spdlog::level::critical},
      {"panic", spdlog::level::critical}, {"off", spdlog::level::off}};
  for (const auto& [label, level] : kLevels) {
    if (n == label) return level;
  }
  return std::nullopt;
}

// Appends to a log file opened without following a symlink (spdlog's own file sink would
// follow one planted in a state directory and append our lines to its target). Each line is
// one write() on an O_APPEND descriptor, so concurrent plugin processes do not interleave.
class AppendFileSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit AppendFileSink(int fd) : fd_(fd) {}
  ~AppendFileSink() override { ::close(fd_); }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    const char* p = line.data();
    size_t left = line.size();
    while (left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // a log line is never worth failing the verb
      p += n;
      left -= static_cast<size_t>(n);
    }
  }
  void flush_() override {}

 private:
  int fd_;
};

}  // namespace

spdlog::level::level_enum parse_log_level(const std::string& name) {
  return lookup_level(name).value_or(spdlog::level::warn);
}

void init_logging(const LogOptions& opts) {
  std::vector<spdlog::sink_ptr> sinks;
  std::string file_error;
  if (!opts.file.empty()) {
    int fd = open_append_file(opts.file);
    if (fd >= 0) {
      sinks.push_back(std::make_shared<AppendFileSink>(fd));
    } else {
      file_error = errno == ELOOP ? "it is a symlink" : std::strerror(errno);
    }
  }
  if (sinks.empty() || opts.also_stderr) {
    sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
  }
  auto logger = std::make_shared<spdlog::logger>(opts.program.empty() ? "cni" : opts.program,
                                                 sinks.begin(), sinks.end());
  logger->set_pattern(make_pattern(opts));
  logger->set_level(parse_log_level(opts.level));
  // A plugin process is short-lived and may be killed at its deadline: flush every line.
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  if (!file_error.empty()) {
    spdlog::warn("cannot open log file \"{}\" ({}); logging to stderr", opts.file, file_error);
  }
  if (!opts.level.empty() && !lookup_level(opts.level)) {
    spdlog::warn("unknown log level \"{}\"; using warn", opts.level);
  }
}

}  // namespace cni
