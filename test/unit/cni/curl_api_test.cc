// cni/curl_api: libcurl's entry points resolved at run time work like the linked ones.
#include "cni/curl_api.h"

#include <gtest/gtest.h>

#include <string>

namespace cni {
namespace {

TEST(CurlApi, ResolvesWorkingEntryPoints) {
  const CurlApi& api = curl_api();
  CURL* h = api.easy_init();
  ASSERT_NE(h, nullptr);
  char* escaped = api.easy_escape(h, "a b/c", 5);
  ASSERT_NE(escaped, nullptr);
  EXPECT_EQ(std::string(escaped), "a%20b%2Fc");
  api.free(escaped);
  EXPECT_EQ(api.easy_setopt(h, CURLOPT_URL, "http://127.0.0.1:1/"), CURLE_OK);
  EXPECT_NE(std::string(api.easy_strerror(CURLE_COULDNT_CONNECT)), "");
  curl_slist* list = api.slist_append(nullptr, "Accept: application/json");
  ASSERT_NE(list, nullptr);
  EXPECT_EQ(std::string(list->data), "Accept: application/json");
  api.slist_free_all(list);
  api.easy_cleanup(h);
}

TEST(CurlApi, LoadsOnce) {
  EXPECT_EQ(&curl_api(), &curl_api());
}

}  // namespace
}  // namespace cni
