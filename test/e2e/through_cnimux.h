// Runs one plugin config through the cnimux binary, as a runtime runs cnimux: the config is
// cnimux's cluster network (so cnimux's result is that plugin's result at the requested
// cniVersion), the binary runs inside a throwaway node netns (nsenter), and the bin dir maps
// each type name to a chosen binary. For the conformance tables' "through cnimux" ways.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "test/fakes/plugin_runner.h"

namespace cnimux_test {

class ThroughCnimux {
 public:
  // `dir` (its journal) is shared by the verbs of one attachment and removed by the caller; `bins`
  // maps a type name in the bin dir to the binary it runs; `meta` is merged into the cnimux entry
  // (e.g. inTree).
  ThroughCnimux(std::string dir, std::string node_netns,
                const std::map<std::string, std::string>& bins, nlohmann::json meta)
      : dir_(std::move(dir)), node_(std::move(node_netns)), meta_(std::move(meta)) {
    for (const char* sub : {"bin", "net.d", "journal", "pods"})
      std::filesystem::create_directories(dir_ + "/" + sub);
    for (const auto& [name, target] : bins) {  // idempotent: a later verb reuses the dir
      std::filesystem::remove(dir_ + "/bin/" + name);
      std::filesystem::create_symlink(target, dir_ + "/bin/" + name);
    }
    wrapper_ = dir_ + "/cnimux-in-node.sh";
    std::ofstream(wrapper_) << "#!/bin/sh\nexec nsenter --net=" << node_ << " " << CNIMUX_BINARY_DIR
                            << "/plugin/cnimux\n";
    ::chmod(wrapper_.c_str(), 0755);
  }

  // Runs `verb` of `plugin` (one plugin config with cniVersion and name) through cnimux. The
  // plugin's runtimeConfig becomes the runtime's (cnimux offers it to the cluster network for
  // the capabilities the plugin declares); its prevResult is dropped (cnimux keeps its own).
  testing_support::PluginRun run(const std::string& verb, const std::string& container_id,
                                 const std::string& netns, const std::string& ifname,
                                 nlohmann::json plugin, const std::string& args = "") const {
    const std::string version = plugin.value("cniVersion", "1.0.0");
    nlohmann::json runtime_config = plugin.value("runtimeConfig", nlohmann::json::object());
    for (const char* k : {"runtimeConfig", "prevResult", "cniVersion", "name"}) plugin.erase(k);
    const nlohmann::json list = {{"cniVersion", version},
                                 {"name", "conformance"},
                                 {"plugins", nlohmann::json::array({plugin})}};
    std::ofstream(dir_ + "/net.d/10-conformance.conflist") << list.dump();
    nlohmann::json meta = {{"cniVersion", version},
                           {"name", "cnimux"},
                           {"type", "cnimux"},
                           {"clusterNetwork", "conformance"},
                           {"confDir", dir_ + "/net.d"},
                           {"cniDir", dir_ + "/journal"},
                           {"binDir", dir_ + "/bin"},
                           {"podDir", dir_ + "/pods"},
                           {"delegateTimeout", 20},
                           {"logLevel", "debug"},
                           {"logFile", dir_ + "/cnimux.log"}};
    if (!runtime_config.empty()) meta["runtimeConfig"] = runtime_config;
    meta.merge_patch(meta_);
    testing_support::CniEnv env;
    env.command = verb;
    env.container_id = container_id;
    env.netns = netns;
    env.ifname = ifname;
    env.args = args;
    env.path = dir_ + "/bin";
    return testing_support::run_plugin(wrapper_, env, meta.dump());
  }

  std::string log() const {
    std::ifstream in(dir_ + "/cnimux.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  std::string dir_, node_;
  nlohmann::json meta_;
  std::string wrapper_;
};

}  // namespace cnimux_test
