// Resolves libcurl's entry points from libcurl.so.4 on first use.
#include "cni/curl_api.h"

#include <dlfcn.h>

#include <string>

#include "cni/error.h"

namespace cni {
namespace {

// The SONAME of libcurl 7.16+ and 8.x: the ABI these prototypes were checked against.
constexpr const char* kLibcurl = "libcurl.so.4";

std::string dl_reason() {
  const char* e = ::dlerror();
  return e ? e : "unknown error";
}

template <typename F>
void resolve(void* lib, const char* name, F& out) {
  void* p = ::dlsym(lib, name);
  if (!p) {
    throw cni::Error(cni::kIoFailure,
                     std::string(kLibcurl) + ": symbol " + name + " not found: " + dl_reason());
  }
  out = reinterpret_cast<F>(p);
}

CurlApi load() {
  // Never unloaded: handles and the global state live until exit.
  void* lib = ::dlopen(kLibcurl, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    throw cni::Error(
        cni::kIoFailure,
        std::string("cannot load ") + kLibcurl +
            " (needed for the Kubernetes API and the etcd IPAM store): " + dl_reason());
  }
  CurlApi api{};
  resolve(lib, "curl_global_init", api.global_init);
  resolve(lib, "curl_easy_init", api.easy_init);
  resolve(lib, "curl_easy_setopt", api.easy_setopt);
  resolve(lib, "curl_easy_perform", api.easy_perform);
  resolve(lib, "curl_easy_getinfo", api.easy_getinfo);
  resolve(lib, "curl_easy_cleanup", api.easy_cleanup);
  resolve(lib, "curl_easy_strerror", api.easy_strerror);
  resolve(lib, "curl_easy_escape", api.easy_escape);
  resolve(lib, "curl_free", api.free);
  resolve(lib, "curl_slist_append", api.slist_append);
  resolve(lib, "curl_slist_free_all", api.slist_free_all);
  // Here, under the static's initialisation lock: curl_global_init is not thread-safe in
  // older libcurl, and every user needs it.
  api.global_init(CURL_GLOBAL_DEFAULT);
  return api;
}

}  // namespace

const CurlApi& curl_api() {
  static const CurlApi api = load();  // an exception leaves it uninitialised: retried later
  return api;
}

}  // namespace cni
