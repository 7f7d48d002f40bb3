// The phase trace: off without CNIMUX_PHASE_TRACE; with it, the marks in order, then "exit"
// and "--", appended at exit. Each case runs in a child, since the trace is written by an
// atexit handler.
#include "cni/phase_trace.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "test/fakes/temp_dir.h"

namespace cni {
namespace {

using cnimux_test::TempDir;

// Runs `body` in a child that leaves by exit(0) (running atexit handlers).
void in_child(const std::function<void()>& body) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    body();
    std::exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

struct Line {
  std::string name;
  double ms = 0;
};

std::vector<Line> lines_of(const std::string& path) {
  std::vector<Line> out;
  std::ifstream in(path);
  for (std::string l; std::getline(in, l);) {
    std::istringstream fields(l);
    Line line;
    fields >> line.name >> line.ms;
    out.push_back(line);
  }
  return out;
}

TEST(PhaseTraceTest, WritesNothingWhenTheVariableIsUnset) {
  TempDir tmp("phase");
  in_child([&] {
    ::unsetenv("CNIMUX_PHASE_TRACE");
    phase_trace_start();
    phase_mark("locked");
  });
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
}

TEST(PhaseTraceTest, AppendsTheMarksInOrderAtExit) {
  TempDir tmp("phase");
  const std::string file = tmp.file("trace");
  for (int call = 0; call < 2; ++call) {
    in_child([&] {
      ::setenv("CNIMUX_PHASE_TRACE", file.c_str(), 1);
      phase_trace_start();
      phase_mark("locked");
      phase_mark("delegate-started");
      phase_mark("delegate-started");
    });
  }
  const std::vector<Line> lines = lines_of(file);
  const std::vector<std::string> one = {"main", "locked", "delegate-started", "delegate-started",
                                        "exit", "--"};
  ASSERT_EQ(lines.size(), 2 * one.size());  // appended, the second call's after the first's
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].name, one[i % one.size()]) << "line " << i;
    if (i % one.size() != 0 && lines[i].name != "--") {
      EXPECT_GE(lines[i].ms, lines[i - 1].ms) << "time went back at line " << i;
    }
  }
  EXPECT_GT(lines[0].ms, 0);
}

TEST(PhaseTraceTest, NeverWritesThroughASymlink) {
  TempDir tmp("phase");
  const std::string target = tmp.file("precious");
  { std::ofstream(target) << "keep me\n"; }
  const std::string link = tmp.file("trace");
  std::filesystem::create_symlink(target, link);
  in_child([&] {
    ::setenv("CNIMUX_PHASE_TRACE", link.c_str(), 1);
    phase_trace_start();
    phase_mark("locked");
  });
  std::ifstream in(target);
  std::stringstream content;
  content << in.rdbuf();
  EXPECT_EQ(content.str(), "keep me\n");
}

TEST(PhaseTraceTest, KeepsAtMostSixtyFourMarks) {
  TempDir tmp("phase");
  const std::string file = tmp.file("trace");
  in_child([&] {
    ::setenv("CNIMUX_PHASE_TRACE", file.c_str(), 1);
    phase_trace_start();
    for (int i = 0; i < 100; ++i) phase_mark("delegate-started");
  });
  const std::vector<Line> lines = lines_of(file);
  ASSERT_EQ(lines.size(), 65u);  // 64 marks ("main" and 63 of ours; "exit" too is dropped)
  EXPECT_EQ(lines.front().name, "main");
  EXPECT_EQ(lines[63].name, "delegate-started");
  EXPECT_EQ(lines.back().name, "--");
}

}  // namespace
}  // namespace cni
