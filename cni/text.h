// Small text helpers every stage needs, kept once: trimming, IP literals, UTF-8 validity.
#pragma once

#include <string>
#include <string_view>

namespace cni {

// `s` without leading and trailing spaces, tabs, CRs and LFs.
std::string trim(std::string_view s);

// True for an IPv4 dotted quad or an IPv6 literal (inet_pton's rules); no prefix length.
bool is_ip(const std::string& s);

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF). Text that fails this cannot travel in JSON, so it is refused where it enters.
bool is_valid_utf8(std::string_view s);

// False only when the JSON text `json_text` certainly holds no string (key or value) equal
// to `word`: with no backslash in the text, every such string appears as `"word"` verbatim.
// Lets a caller skip parsing a document for a key or a value it does not contain; true
// means "parse and look".
bool may_contain_json_string(std::string_view json_text, std::string_view word);

}  // namespace cni
