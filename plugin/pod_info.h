// What cnimux knows about the pod being attached, whichever source it came from.
#pragma once

#include <map>
#include <string>

namespace plugin {

struct PodInfo {
  std::string ns;
  std::string name;
  std::string uid;
  std::map<std::string, std::string> annotations;
  // Where the annotations came from: "cri", "api", "podDir" or "none".
  std::string source = "none";
};

}  // namespace plugin
