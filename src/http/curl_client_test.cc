#include "http/curl_client.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testing/loopback_server.h"

namespace vigie::http {
namespace {

using ::testing::HasSubstr;
using vigie::testing::LoopbackHttpServer;

TEST(CurlClientTest, SendsMethodHeadersAndBodyAndReadsReply) {
  LoopbackHttpServer server;
  server.SetReply({201, {{"X-Reply", "yes"}, {"Content-Type", "application/json"}}, "{\"ok\":1}"});
  CurlClient client;
  HttpRequest req;
  req.method = "PUT";
  req.url = server.Url("/v1/thing?x=1");
  req.headers = {{"X-Custom", "value one"}, {"Content-Type", "application/json"}};
  req.body = "{\"a\":2}";
  auto resp = client.Send(req);
  ASSERT_TRUE(resp) << resp.error().ToString();
  EXPECT_EQ(resp->status, 201);
  EXPECT_EQ(resp->body, "{\"ok\":1}");
  EXPECT_EQ(resp->Header("x-reply"), "yes");

  auto got = server.Requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].method, "PUT");
  EXPECT_EQ(got[0].target, "/v1/thing?x=1");
  EXPECT_EQ(got[0].Header("X-Custom"), "value one");
  EXPECT_EQ(got[0].body, "{\"a\":2}");
  EXPECT_EQ(got[0].Header("Expect"), "");  // no 100-continue round trip
}

TEST(CurlClientTest, PostWithoutContentTypeGetsNoImplicitFormType) {
  LoopbackHttpServer server;
  CurlClient client;
  HttpRequest req{.method = "POST", .url = server.Url("/"), .headers = {}, .body = "abc"};
  ASSERT_TRUE(client.Send(req));
  auto got = server.Requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_THAT(got[0].All("Content-Type"), ::testing::IsEmpty());
  EXPECT_EQ(got[0].Header("Content-Length"), "3");
}

TEST(CurlClientTest, ExplicitHostHeaderIsSentVerbatim) {
  LoopbackHttpServer server;
  CurlClient client;
  HttpRequest req{
      .method = "GET", .url = server.Url("/"), .headers = {{"Host", "iam.amazonaws.com"}}};
  ASSERT_TRUE(client.Send(req));
  EXPECT_THAT(server.Requests().at(0).All("Host"), ::testing::ElementsAre("iam.amazonaws.com"));
}

TEST(CurlClientTest, ReusesOneConnectionAcrossRequests) {
  LoopbackHttpServer server;
  CurlClient client;
  for (int i = 0; i < 3; ++i) {
    auto resp = client.Send({.method = "GET", .url = server.Url("/ping")});
    ASSERT_TRUE(resp) << resp.error().ToString();
    EXPECT_EQ(resp->status, 200);
  }
  EXPECT_EQ(server.Requests().size(), 3u);
  EXPECT_EQ(server.ConnectionsAccepted(), 1);
}

TEST(CurlClientTest, ErrorStatusIsAResponseNotAnError) {
  LoopbackHttpServer server;
  server.SetReply({503, {}, "busy"});
  CurlClient client;
  auto resp = client.Send({.method = "GET", .url = server.Url("/")});
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->status, 503);
  EXPECT_EQ(resp->body, "busy");
}

// A port that was free a moment ago and has no listener: connect() is refused.
uint16_t ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(CurlClientTest, ConnectionRefusedIsUnavailableAndNamesTheEndpoint) {
  CurlClient client;
  uint16_t port = ClosedPort();
  auto resp = client.Send(
      {.method = "GET", .url = "http://127.0.0.1:" + std::to_string(port) + "/x?secret=1"});
  ASSERT_FALSE(resp);
  EXPECT_EQ(resp.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(resp.error().message, HasSubstr("127.0.0.1:" + std::to_string(port)));
  EXPECT_THAT(resp.error().message, HasSubstr("check the endpoint URL"));
  EXPECT_THAT(resp.error().message, ::testing::Not(HasSubstr("secret=1")));
}

TEST(CurlClientTest, UnresolvableHostIsUnavailable) {
  CurlClient client;
  // .invalid is reserved (RFC 6761) and never resolves.
  auto resp = client.Send({.method = "GET", .url = "http://vigie-test.invalid/"});
  ASSERT_FALSE(resp);
  EXPECT_EQ(resp.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(resp.error().message, HasSubstr("vigie-test.invalid"));
}

TEST(CurlClientTest, SilentServerIsDeadlineExceeded) {
  LoopbackHttpServer server;
  server.SetHang(true);
  CurlClient client;
  auto resp = client.Send(
      {.method = "GET", .url = server.Url("/slow"), .timeout = std::chrono::milliseconds(300)});
  ASSERT_FALSE(resp);
  EXPECT_EQ(resp.error().code, ErrorCode::kDeadlineExceeded);
  EXPECT_THAT(resp.error().message, HasSubstr("300 ms"));
}

TEST(CurlClientTest, RejectsBadInputBeforeSending) {
  CurlClient client;
  EXPECT_EQ(client.Send({.method = "GET", .url = "ftp://example.com/"}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(client.Send({.method = "G T", .url = "http://127.0.0.1/"}).error().code,
            ErrorCode::kInvalidArgument);
  HttpRequest injected{
      .method = "GET", .url = "http://127.0.0.1:1/", .headers = {{"X-A", "v\r\nX-Injected: 1"}}};
  EXPECT_EQ(client.Send(injected).error().code, ErrorCode::kInvalidArgument);
}

TEST(CurlClientTest, ResponseLargerThanTheCapIsResourceExhausted) {
  LoopbackHttpServer server;
  server.SetReply({200, {}, std::string(4096, 'x')});
  CurlClient client({.max_response_bytes = 1024});
  auto resp = client.Send({.method = "GET", .url = server.Url("/")});
  ASSERT_FALSE(resp);
  EXPECT_EQ(resp.error().code, ErrorCode::kResourceExhausted);
}

TEST(CurlClientTest, ConnectToPinsANameToTheLoopbackServer) {
  LoopbackHttpServer server;
  CurlClient client(
      {.connect_to = {"example.amazonaws.com:80:127.0.0.1:" + std::to_string(server.port())}});
  auto resp = client.Send({.method = "GET", .url = "http://example.amazonaws.com/a"});
  ASSERT_TRUE(resp) << resp.error().ToString();
  EXPECT_EQ(server.Requests().at(0).Header("Host"), "example.amazonaws.com");
}

}  // namespace
}  // namespace vigie::http
