// Fuzzes NAD resolution (plugin/nad_source.h): the input is a NAD's spec.config text, served by
// an in-memory API, so the JSON parse and the conflist normalisation run as in an ADD.
#include <exception>

#include "plugin/kube_client.h"
#include "plugin/nad_source.h"
#include "test/fuzz/fuzz_util.h"

namespace {

class OneNad : public plugin::KubeClient {
 public:
  explicit OneNad(nlohmann::json nad) : nad_(std::move(nad)) {}
  std::optional<nlohmann::json> get_pod(const std::string&, const std::string&) override {
    return std::nullopt;
  }
  std::optional<nlohmann::json> get_nad(const std::string&, const std::string&) override {
    return nad_;
  }
  void patch_pod_annotation(const std::string&, const std::string&, const std::string&,
                            const std::string&) override {}

 private:
  nlohmann::json nad_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::quiet();
  plugin::MetaConfig meta;
  meta.cni_version = "1.0.0";
  meta.conf_dir = "/nonexistent/cnimux-fuzz";  // an empty spec.config searches confDir
  nlohmann::json nad = {{"metadata", {{"name", "net"}, {"namespace", "ns"}}},
                        {"spec", {{"config", fuzz::text(data, size)}}}};
  OneNad api(std::move(nad));
  plugin::NadSource source(meta, &api);
  try {
    (void)source.nad("ns", "net").conflist.dump();
  } catch (const std::exception&) {
  }
  // The same bytes as an inline (legacy `delegates`) config.
  if (std::optional<nlohmann::json> j = fuzz::json(data, size)) {
    try {
      (void)source.inline_config(*j);
    } catch (const std::exception&) {
    }
  }
  return 0;
}
