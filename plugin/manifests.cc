// YAML/JSON manifest loading shared by the NAD and pod directory sources: bounded reading,
// an event-driven YAML-to-JSON builder that enforces the node and depth limits, and the
// name-first lookup.
#include "plugin/manifests.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "cni/error.h"
#include "cni/json_limits.h"
#include "cni/limits.h"

namespace plugin {
namespace fs = std::filesystem;
namespace {

using Json = nlohmann::json;

// Why a file cannot be used, without the file's name (the caller adds it).
struct ManifestProblem : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string at_line(const YAML::Mark& m) {
  return m.is_null() ? std::string() : " (line " + std::to_string(m.line + 1) + ")";
}

// Plain YAML scalars follow the core schema; quoted or tagged ones stay strings.
Json yaml_scalar(const std::string& tag, const std::string& s) {
  if (tag != "?") return s;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  long long i = 0;
  const char* end = s.data() + s.size();
  const char* begin = s.data() + (s[0] == '+' ? 1 : 0);
  if (auto r = std::from_chars(begin, end, i); r.ec == std::errc() && r.ptr == end) return i;
  double d = 0;
  if (auto r = std::from_chars(begin, end, d); r.ec == std::errc() && r.ptr == end) return d;
  return s;
}

// Builds JSON straight from yaml-cpp's parser events. yaml-cpp's own node tree costs about
// 500 bytes a node and shares aliased nodes, so expanding it is where alias bombs and
// self-referencing aliases blew up; here every node, aliases expanded, is counted before it
// is built, and nesting is bounded, so the limits hold before the memory is spent.
class JsonBuilder : public YAML::EventHandler {
 public:
  std::vector<Json> take() { return std::move(docs_); }

  void OnDocumentStart(const YAML::Mark&) override { anchors_.clear(); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t anchor) override {
    add(m, Value{nullptr, 1, 0, "null"}, anchor);
  }
  void OnScalar(const YAML::Mark& m, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    add(m, Value{yaml_scalar(tag, value), 1, 0, value}, anchor);
  }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t anchor) override;
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(m, Json::array(), anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(m, Json::object(), anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  // A finished node: its JSON, its size in nodes, its height in levels, and its text when it
  // is a scalar (a mapping key must be one; its JSON form would lose "010" or "1.0").
  struct Value {
    Json json;
    std::size_t nodes = 1;
    int height = 0;
    std::optional<std::string> text;
  };
  struct Frame {
    Json container;
    YAML::anchor_t anchor;
    YAML::Mark mark;
    std::size_t nodes = 1;
    int height = 1;
    std::optional<std::string> key;  // a map's key waiting for its value
    bool expecting_key = true;
  };

  void count(const YAML::Mark& m, std::size_t nodes, int height) {
    if (nodes > kMaxManifestNodes - nodes_) {
      throw ManifestProblem("more than " + std::to_string(kMaxManifestNodes) +
                            " nodes (aliases expanded)" + at_line(m));
    }
    if (static_cast<int>(stack_.size()) + height > kMaxManifestDepth) {
      throw ManifestProblem("nested deeper than " + std::to_string(kMaxManifestDepth) + " levels" +
                            at_line(m));
    }
    nodes_ += nodes;
  }
  void open(const YAML::Mark& m, Json container, YAML::anchor_t anchor) {
    count(m, 1, 1);
    stack_.push_back(Frame{std::move(container), anchor, m});
  }
  void close() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    place(f.mark, Value{std::move(f.container), f.nodes, f.height, std::nullopt}, f.anchor);
  }
  void add(const YAML::Mark& m, Value v, YAML::anchor_t anchor) {
    count(m, 1, 0);
    place(m, std::move(v), anchor);
  }
  void place(const YAML::Mark& m, Value v, YAML::anchor_t anchor);

  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, Value> anchors_;  // finished anchored nodes of this document
  std::vector<Json> docs_;
  std::size_t nodes_ = 0;
};

void JsonBuilder::OnAlias(const YAML::Mark& m, YAML::anchor_t anchor) {
  auto it = anchors_.find(anchor);
  if (it == anchors_.end()) {
    // yaml-cpp resolves an alias to an anchor that is still open: a cycle.
    throw ManifestProblem("alias refers to a node that contains it" + at_line(m));
  }
  count(m, it->second.nodes, it->second.height);
  place(m, it->second, 0);
}

void JsonBuilder::place(const YAML::Mark& m, Value v, YAML::anchor_t anchor) {
  if (anchor != 0) anchors_[anchor] = v;
  if (stack_.empty()) {
    docs_.push_back(std::move(v.json));
    return;
  }
  Frame& f = stack_.back();
  f.nodes += v.nodes;
  f.height = std::max(f.height, v.height + 1);
  if (f.container.is_array()) {
    f.container.push_back(std::move(v.json));
  } else if (f.expecting_key) {
    if (!v.text) throw ManifestProblem("a mapping key is not a scalar" + at_line(m));
    f.key = std::move(*v.text);
    f.expecting_key = false;
  } else {
    f.container[*f.key] = std::move(v.json);
    f.expecting_key = true;
  }
}

std::vector<Json> parse_yaml(const std::string& text) {
  std::istringstream in(text);
  JsonBuilder builder;
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(builder)) {
    }
  } catch (const YAML::DeepRecursion& e) {
    throw ManifestProblem("nested too deep for the YAML parser" + at_line(e.mark));
  } catch (const YAML::Exception& e) {
    throw ManifestProblem(std::string("invalid YAML: ") + e.what());
  }
  return builder.take();
}

Json parse_json(const std::string& text) {
  // The same bounded parser as every other outside JSON (copying and comparing the result
  // recurse, so depth is refused while parsing).
  cni::JsonParse parsed =
      cni::try_parse_json(text, {.max_bytes = kMaxManifestBytes, .max_depth = kMaxManifestDepth});
  if (!parsed.value) throw ManifestProblem(parsed.why);
  return std::move(*parsed.value);
}

// Closes a descriptor on scope exit.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// The text of a file, refused unread when it is not a regular file or is larger than
// `max_bytes`. O_NONBLOCK: a FIFO dropped into a directory must not hang the runtime.
std::string read_bounded(const std::string& path, std::size_t max_bytes = kMaxManifestBytes) {
  Fd f{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)};
  if (f.fd < 0) throw ManifestProblem(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    throw ManifestProblem("not a regular file");
  }
  auto too_big = [max_bytes](std::size_t n) {
    return ManifestProblem(std::to_string(n) + " bytes, more than the limit of " +
                           std::to_string(max_bytes));
  };
  if (static_cast<std::size_t>(st.st_size) > max_bytes) throw too_big(st.st_size);
  // One byte more than fstat said, so a file that grew since is noticed and read on up to
  // the limit.
  std::string text(static_cast<std::size_t>(st.st_size) + 1, '\0');
  std::size_t got = 0;
  for (;;) {
    ssize_t n = ::read(f.fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ManifestProblem(std::string("cannot read: ") + std::strerror(errno));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
    if (got > max_bytes) throw too_big(got);
    if (got == text.size()) text.resize(max_bytes + 1);
  }
  text.resize(got);
  return text;
}

std::vector<Json> documents(const std::string& path, const std::string& text) {
  if (fs::path(path).extension() == ".json") return {parse_json(text)};
  return parse_yaml(text);
}

bool is_manifest_name(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

// Names for which the text pre-filter and the file names are sound: Kubernetes names and
// namespaces are made of these characters only.
bool is_plain_name(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '.' || c == '_';
  });
}

// False only when the file cannot define an object called `name`: its text does not spell
// the name, has no escape that could spell a letter (\x, \u, \U) or join lines (a backslash
// before a line break), and no NUL byte (UTF-16 or UTF-32 text). Line folding without a
// backslash inserts a space, which a plain name cannot contain.
bool may_define(const std::string& text, const std::string& name) {
  if (!is_plain_name(name) || text.find(name) != std::string::npos) return true;
  if (text.find('\0') != std::string::npos) return true;
  for (auto i = text.find('\\'); i != std::string::npos; i = text.find('\\', i + 1)) {
    char next = i + 1 < text.size() ? text[i + 1] : '\0';
    if (next == 'x' || next == 'u' || next == 'U' || next == '\n' || next == '\r') return true;
  }
  return false;
}

// The manifest files of `dir`, sorted; none when it does not exist.
std::vector<std::string> listing(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::error_code type_ec;
    if (is_manifest_name(entry.path()) && entry.is_regular_file(type_ec)) {
      files.push_back(entry.path().string());
    }
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    throw cni::Error(cni::kIoFailure, "cannot list \"" + dir + "\": " + ec.message());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string metadata_string(const Json& obj, const char* key, const std::string& def) {
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object()) return def;
  auto it = md->find(key);
  return it != md->end() && it->is_string() ? it->get<std::string>() : def;
}

}  // namespace

std::vector<nlohmann::json> read_manifest(const std::string& path) {
  try {
    return documents(path, read_bounded(path));
  } catch (const ManifestProblem& e) {
    throw cni::Error(cni::kInvalidConfig, "manifest \"" + path + "\": " + e.what());
  }
}

const ManifestDir::Parsed& ManifestDir::parse(const std::string& path, const std::string* text) {
  auto it = parsed_.find(path);
  if (it != parsed_.end()) return it->second;
  Parsed p;
  try {
    p.docs = text ? documents(path, *text) : documents(path, read_bounded(path));
  } catch (const ManifestProblem& e) {
    p.error = e.what();
  }
  return parsed_.emplace(path, std::move(p)).first->second;
}

void ManifestDir::collect(const Json& doc, const std::string& ns, const std::string& name,
                          const std::string& file, std::vector<Manifest>& out) const {
  if (!doc.is_object()) return;
  auto kind = doc.find("kind");
  if (kind == doc.end() || !kind->is_string()) return;
  const std::string& k = kind->get_ref<const std::string&>();
  auto items = doc.find("items");
  if (k.ends_with("List") && items != doc.end() && items->is_array()) {
    for (const Json& item : *items) collect(item, ns, name, file, out);
  } else if (k == kind_ && metadata_string(doc, "name", "") == name &&
             metadata_string(doc, "namespace", "default") == ns) {
    out.push_back(Manifest{doc, file});
  }
}

void ManifestDir::skip(const std::string& path, const std::string& why, ManifestMatches& out) {
  out.skipped.push_back("\"" + path + "\": " + why);
  if (logged_.insert(path).second) spdlog::error("skipping manifest \"{}\": {}", path, why);
}

ManifestMatches ManifestDir::find(const std::string& ns, const std::string& name) {
  ManifestMatches out;
  if (dir_.empty()) return out;
  std::vector<std::string> named;
  if (is_plain_name(ns) && is_plain_name(name)) {
    for (const std::string& stem : {ns + "_" + name, ns + "-" + name, name}) {
      for (const char* ext : {".yaml", ".yml", ".json"}) named.push_back(dir_ + "/" + stem + ext);
    }
  }
  for (const std::string& path : named) {
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(path, ec))) continue;
    const Parsed& p = parse(path);
    if (p.error) {
      throw cni::Error(cni::kInvalidConfig, "manifest \"" + path + "\", named after " + kind_ +
                                                " " + ns + "/" + name + ": " + *p.error);
    }
    for (const Json& doc : p.docs) collect(doc, ns, name, path, out.found);
  }
  if (!out.found.empty()) return out;

  for (const std::string& path : listing(dir_)) {
    if (std::find(named.begin(), named.end(), path) != named.end()) continue;
    const Parsed* p = nullptr;
    if (auto it = parsed_.find(path); it != parsed_.end()) {
      p = &it->second;
    } else {
      std::string text;
      try {
        text = read_bounded(path);
      } catch (const ManifestProblem& e) {
        skip(path, e.what(), out);
        continue;
      }
      if (!may_define(text, name)) continue;
      p = &parse(path, &text);
    }
    if (p->error) {
      skip(path, *p->error, out);
      continue;
    }
    for (const Json& doc : p->docs) collect(doc, ns, name, path, out.found);
  }
  return out;
}

std::string read_config_file(const std::string& path) {
  try {
    return read_bounded(path, cni::kMaxJsonBytes);
  } catch (const ManifestProblem& e) {
    throw cni::Error(cni::kIoFailure, "cannot read \"" + path + "\": " + e.what());
  }
}

nlohmann::json yaml_to_json(const std::string& yaml_text) {
  try {
    std::vector<Json> docs = parse_yaml(yaml_text);
    return docs.empty() ? Json() : std::move(docs.front());
  } catch (const ManifestProblem& e) {
    throw cni::Error(cni::kInvalidConfig, e.what());
  }
}

}  // namespace plugin
