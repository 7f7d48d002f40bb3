// Conversion of cni::Error to and from the spec's error object.
#include "cni/error.h"

namespace cni {

nlohmann::json Error::to_json(const std::string& cni_version) const {
  nlohmann::json j = {{"cniVersion", cni_version}, {"code", code_}, {"msg", msg_}};
  if (!details_.empty()) j["details"] = details_;
  return j;
}

Error Error::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("code") || !j["code"].is_number_integer()) {
    throw Error(kDecodeFailure, "not a CNI error object: missing integer \"code\"");
  }
  std::string msg = j.value("msg", std::string());
  std::string details;
  if (auto it = j.find("details"); it != j.end()) {
    details = it->is_string() ? it->get<std::string>() : it->dump();
  }
  return Error(j["code"].get<int>(), std::move(msg), std::move(details));
}

}  // namespace cni
