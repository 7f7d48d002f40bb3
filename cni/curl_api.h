// libcurl, loaded with dlopen() the first time a network peer is used (the Kubernetes API, the
// etcd IPAM store). Linked normally it drags ~30 libraries (TLS, Kerberos, LDAP, SSH...) into
// every invocation, costing ~4 ms of start-up and ~6 MB of RSS even when nothing needs it.
#pragma once

#include <curl/curl.h>

namespace cni {

// The libcurl entry points cnimux uses, resolved from libcurl.so.4.
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

// Loads libcurl once and calls curl_global_init (thread-safe; a failed load is retried on the
// next call), and returns its entry points. Throws cni::Error(kIoFailure) naming the library
// or symbol and dlerror()'s reason when it cannot be loaded.
const CurlApi& curl_api();

}  // namespace cni
