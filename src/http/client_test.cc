#include "http/client.h"

#include <gtest/gtest.h>

namespace vigie::http {
namespace {

TEST(HttpResponseTest, HeaderLookupIgnoresCaseAndReturnsFirst) {
  HttpResponse r;
  r.headers = {{"Content-Type", "text/xml"}, {"X-Amzn-RequestId", "a"}, {"x-amzn-requestid", "b"}};
  EXPECT_EQ(r.Header("content-type"), "text/xml");
  EXPECT_EQ(r.Header("X-AMZN-REQUESTID"), "a");
  EXPECT_EQ(r.Header("Missing"), "");
}

TEST(HttpResponseTest, HeaderNameEqualsIsExact) {
  EXPECT_TRUE(HeaderNameEquals("Host", "hOST"));
  EXPECT_FALSE(HeaderNameEquals("Host", "Hosts"));
  EXPECT_FALSE(HeaderNameEquals("Host", "Hosz"));
}

}  // namespace
}  // namespace vigie::http
