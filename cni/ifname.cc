// The interface-name rule; see ifname.h for why each part exists.
#include "cni/ifname.h"

#include <cctype>

#include "cni/error.h"
#include "cni/text.h"

namespace cni {

namespace {
constexpr size_t kMaxIfnameBytes = 15;  // IFNAMSIZ (16) minus the terminating NUL
}  // namespace

std::string ifname_problem(std::string_view name, IfnameUse use) {
  if (name.empty()) return "empty";
  if (name.size() > kMaxIfnameBytes) return "longer than 15 bytes (IFNAMSIZ)";
  if (name == "." || name == "..") return "must not be \".\" or \"..\"";
  for (char c : name) {
    if (c == '/') return "contains '/'";
    if (c == ':') return "contains ':'";
    if (std::isspace(static_cast<unsigned char>(c))) return "contains whitespace";
  }
  if (!is_valid_utf8(name)) return "not valid UTF-8";
  if (use == IfnameUse::kExisting) return {};
  if (name.find('%') != std::string_view::npos) {
    return "contains '%' (the kernel would replace \"%d\" with a free number)";
  }
  if (name == "lo") return "is the loopback interface";
  return {};
}

void check_ifname(std::string_view name, int code, std::string_view field, IfnameUse use) {
  std::string why = ifname_problem(name, use);
  if (why.empty()) return;
  throw Error(code, "invalid " + std::string(field) + " \"" + std::string(name) + "\": " + why);
}

}  // namespace cni
