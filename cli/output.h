// cnimuxctl's output: aligned tables and usage bars for people, and the errors that decide
// the exit status (docs/cnimuxctl.md, "Exit codes").
#pragma once

#include <cstdint>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace cli {

// Exit statuses, documented in docs/cnimuxctl.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitInvalid = 1;  // what was checked is invalid, or the action was refused
inline constexpr int kExitUsage = 2;    // bad command line
inline constexpr int kExitState = 3;    // the node's state (journals, store) cannot be read
inline constexpr int kExitPlugin = 4;   // `pod`: a CNI plugin failed the verb (its error shown)

// The action was refused or what was checked is invalid (exit 1). A cni::Error from the
// plugin's own code means the same.
struct Refused : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// The node's state cannot be read or used (exit 3).
struct StateError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Columns padded to their widest cell; the last column is not padded.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.size() == 1; }
  void print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// "[#####.....]  50%" for `used` of `size` (`width` cells); "-" when size is unknown (0).
std::string usage_bar(uint64_t used, uint64_t size, int width = 20);

}  // namespace cli
