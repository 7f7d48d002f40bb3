// A fake CNI plugin for black-box tests of the skeleton. ADD returns a fixed result with one
// interface and one IP; every verb fails with config "fail": <code> or throws a plain
// std::runtime_error with "throw": true; otherwise every verb succeeds.
#include <stdexcept>

#include "cni/error.h"
#include "cni/skeleton.h"

namespace {

class SkeletonTestPlugin : public cni::Plugin {
 public:
  cni::Result add(const cni::Request& req) override {
    maybe_fail(req);
    cni::Result r;
    r.interfaces.push_back({.name = req.invocation.ifname,
                            .mac = "0a:58:0a:63:00:05",
                            .mtu = 1500,
                            .sandbox = req.invocation.netns});
    r.ips.push_back({.address = "10.99.0.5/24", .gateway = "10.99.0.1", .interface = 0});
    r.routes.push_back({.dst = "0.0.0.0/0", .gw = "10.99.0.1"});
    r.dns.nameservers = {"10.99.0.10"};
    return r;
  }
  void del(const cni::Request& req) override { maybe_fail(req); }
  void check(const cni::Request& req) override { maybe_fail(req); }
  void status(const cni::Request& req) override { maybe_fail(req); }
  void gc(const cni::Request& req) override { maybe_fail(req); }

 private:
  static void maybe_fail(const cni::Request& req) {
    const auto& raw = req.conf.raw;
    if (raw.contains("throw")) throw std::runtime_error("asked to throw");
    if (auto it = raw.find("fail"); it != raw.end() && it->is_number_integer()) {
      throw cni::Error(it->get<int>(), "asked to fail with code " + it->dump());
    }
  }
};

}  // namespace

int main() {
  SkeletonTestPlugin plugin;
  return cni::run_plugin_main(plugin, "cnimux-test-skeleton");
}
