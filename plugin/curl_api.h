// libcurl, loaded with dlopen() the first time the Kubernetes API is used. Linked normally it
// drags ~30 libraries (TLS, Kerberos, LDAP, SSH...) into every cnimux invocation, costing
// ~4 ms of start-up and ~6 MB of RSS even when no API server is configured.
#pragma once

#include <curl/curl.h>

namespace plugin {

// The libcurl entry points HttpKubeClient uses, resolved from libcurl.so.4.
struct CurlApi {
  CURLcode (*global_init)(long flags);
  CURL* (*easy_init)();
  CURLcode (*easy_setopt)(CURL* handle, CURLoption option, ...);
  CURLcode (*easy_perform)(CURL* handle);
  CURLcode (*easy_getinfo)(CURL* handle, CURLINFO info, ...);
  void (*easy_cleanup)(CURL* handle);
  const char* (*easy_strerror)(CURLcode code);
  char* (*easy_escape)(CURL* handle, const char* s, int length);
  void (*free)(void* p);
  curl_slist* (*slist_append)(curl_slist* list, const char* s);
  void (*slist_free_all)(curl_slist* list);
};

// Loads libcurl once (thread-safe; a failed load is retried on the next call) and returns
// its entry points. Throws cni::Error(kKubeApiFailure) naming the library or symbol and
// dlerror()'s reason when it cannot be loaded.
const CurlApi& curl_api();

}  // namespace plugin
