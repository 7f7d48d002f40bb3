// Aligned tables and usage bars for cnimuxctl's human output.
#include "cli/output.h"

#include <algorithm>

namespace cli {

void Table::print(std::ostream& out) const {
  std::vector<size_t> width;
  for (const auto& row : rows_) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

std::string usage_bar(uint64_t used, uint64_t size, int width) {
  if (size == 0) return "-";
  const double share = std::min(1.0, static_cast<double>(used) / static_cast<double>(size));
  int full = static_cast<int>(share * width + 0.5);
  if (used > 0 && full == 0) full = 1;  // a used pool never looks empty
  std::string pct = std::to_string(static_cast<int>(share * 100 + 0.5)) + "%";
  return "[" + std::string(full, '#') + std::string(width - full, '.') + "] " +
         std::string(4 - std::min<size_t>(4, pct.size()), ' ') + pct;
}

}  // namespace cli
