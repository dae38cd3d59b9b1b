#include "http/server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "http/curl_client.h"
#include "http/tls_material.h"
#include "testing/temp_dir.h"

namespace vigie::http {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

const TlsMaterial& TestCert() {
  static const TlsMaterial* cert = [] {
    auto m = GenerateSelfSignedCertificate("localhost", 2);
    if (!m) std::abort();
    return new TlsMaterial(std::move(*m));
  }();
  return *cert;
}

TlsMaterial CloneCert() {
  const TlsMaterial& m = TestCert();
  return TlsMaterial{m.cert_pem, m.key_pem.Clone(), m.spki_pin};
}

ServerOptions PlainOptions() {
  ServerOptions o;
  o.tls = false;
  o.read_timeout = 2000ms;
  o.write_timeout = 2000ms;
  o.idle_timeout = 5000ms;
  return o;
}

ServerOptions TlsOptions() {
  ServerOptions o = PlainOptions();
  o.tls = true;
  o.tls_material = CloneCert();
  return o;
}

Router EchoRouter() {
  Router r;
  EXPECT_TRUE(
      r.Add("POST", "/v1/sites/{id}/heartbeat", [](const ServerRequest& req, Responder respond) {
        nlohmann::json j = {{"id", req.Param("id")},
                            {"body", req.body},
                            {"query", req.query},
                            {"route", req.route},
                            {"x", req.Header("x-test")}};
        respond(ServerResponse::Json(200, j.dump()));
      }));
  EXPECT_TRUE(r.Add("GET", "/v1/ping", [](const ServerRequest&, Responder respond) {
    ServerResponse resp;
    resp.body = "pong";
    resp.headers = {{"Content-Type", "text/plain"}, {"X-Evil", "a\r\nSet-Cookie: x=1"}};
    respond(std::move(resp));
  }));
  return r;
}

std::unique_ptr<HttpServer> MustStart(ServerOptions options, Router router) {
  auto server = HttpServer::Start(std::move(options), std::move(router));
  if (!server) ADD_FAILURE() << server.error().ToString();
  return server ? std::move(*server) : nullptr;
}

// A CurlClient that trusts the test certificate (as its CA file) and maps localhost:PORT to
// 127.0.0.1 so that host-name verification runs against the certificate's SAN.
class TlsClient {
 public:
  explicit TlsClient(uint16_t port) : port_(port) {
    std::ofstream(dir_.File("ca.pem")) << TestCert().cert_pem;
    CurlClientOptions o;
    o.ca_file = dir_.File("ca.pem");
    o.connect_to = {fmt::format("localhost:{}:127.0.0.1:{}", port, port)};
    client_ = std::make_unique<CurlClient>(std::move(o));
  }
  Result<HttpResponse> Send(std::string method, std::string path, std::string body = "",
                            Headers headers = {}) {
    HttpRequest req;
    req.method = std::move(method);
    req.url = fmt::format("https://localhost:{}{}", port_, path);
    req.body = std::move(body);
    req.headers = std::move(headers);
    req.timeout = 5000ms;
    return client_->Send(req);
  }

 private:
  uint16_t port_;
  vigie::testing::TempDir dir_;
  std::unique_ptr<CurlClient> client_;
};

Result<HttpResponse> PlainSend(CurlClient& client, uint16_t port, std::string method,
                               std::string path, std::string body = "") {
  HttpRequest req;
  req.method = std::move(method);
  req.url = fmt::format("http://127.0.0.1:{}{}", port, path);
  req.body = std::move(body);
  req.timeout = 5000ms;
  return client.Send(req);
}

// Raw TCP client for what a well-behaved HTTP client cannot send.
class RawConn {
 public:
  explicit RawConn(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawConn() {
    if (fd_ >= 0) close(fd_);
  }
  bool connected() const { return connected_; }
  void SendAll(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      data.remove_prefix(static_cast<size_t>(n));
    }
  }
  // Reads until the peer closes or `timeout` passes; sets *closed when EOF/reset was seen.
  std::string ReadUntilClose(std::chrono::milliseconds timeout, bool* closed) {
    std::string out;
    *closed = false;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now())
                                      .count());
      if (poll(&p, 1, std::max(left, 1)) <= 0) break;
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        *closed = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  // Reads until `needle` appears (or timeout).
  std::string ReadUntil(std::string_view needle, std::chrono::milliseconds timeout) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds timeout = 3000ms) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

nlohmann::json ErrorOf(const HttpResponse& r) { return nlohmann::json::parse(r.body)["error"]; }

TEST(HttpServerTest, TlsRoundTripWithSelfSignedCertificate) {
  auto server = MustStart(TlsOptions(), EchoRouter());
  ASSERT_NE(server, nullptr);
  ASSERT_NE(server->port(), 0);
  TlsClient client(server->port());
  auto resp = client.Send("POST", "/v1/sites/site%2D7/heartbeat?seq=3", "{\"up\":true}",
                          {{"X-Test", "hello"}});
  ASSERT_TRUE(resp) << resp.error().ToString();
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(resp->Header("content-type"), "application/json");
  auto j = nlohmann::json::parse(resp->body);
  EXPECT_EQ(j["id"], "site-7");  // percent-decoded path parameter
  EXPECT_EQ(j["body"], "{\"up\":true}");
  EXPECT_EQ(j["query"], "seq=3");
  EXPECT_EQ(j["route"], "/v1/sites/{id}/heartbeat");
  EXPECT_EQ(j["x"], "hello");
}

TEST(HttpServerTest, ClientTrustingAnotherCertificateIsRefused) {
  auto server = MustStart(TlsOptions(), EchoRouter());
  ASSERT_NE(server, nullptr);
  auto other = GenerateSelfSignedCertificate("localhost", 1);
  ASSERT_TRUE(other);
  vigie::testing::TempDir dir;
  std::ofstream(dir.File("other.pem")) << other->cert_pem;
  CurlClient client({.ca_file = dir.File("other.pem"),
                     .connect_to = {fmt::format("localhost:{0}:127.0.0.1:{0}", server->port())}});
  HttpRequest req{.method = "GET",
                  .url = fmt::format("https://localhost:{}/v1/ping", server->port())};
  auto resp = client.Send(req);
  ASSERT_FALSE(resp);
  EXPECT_EQ(resp.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(WaitFor([&] { return server->stats().tls_handshake_failures == 1; }));
}

TEST(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  std::atomic<int> observed{0};
  ServerOptions options = TlsOptions();
  options.observer = [&](const RequestObservation& o) {
    EXPECT_EQ(o.route, "/v1/ping");
    EXPECT_EQ(o.method, "GET");
    EXPECT_EQ(o.status, 200);
    EXPECT_GT(o.duration.count(), 0);
    observed.fetch_add(1);
  };
  auto server = MustStart(std::move(options), EchoRouter());
  ASSERT_NE(server, nullptr);
  TlsClient client(server->port());
  for (int i = 0; i < 5; ++i) {
    auto resp = client.Send("GET", "/v1/ping");
    ASSERT_TRUE(resp) << resp.error().ToString();
    EXPECT_EQ(resp->body, "pong");
    // A header carrying CR/LF from the handler is dropped, not split into two headers.
    EXPECT_EQ(resp->Header("X-Evil"), "");
    EXPECT_EQ(resp->Header("Set-Cookie"), "");
  }
  EXPECT_TRUE(WaitFor([&] { return observed.load() == 5; }));
  auto stats = server->stats();
  EXPECT_EQ(stats.connections_accepted, 1u);
  EXPECT_EQ(stats.requests, 5u);
}

TEST(HttpServerTest, BodyOverLimitGets413AndServerKeepsServing) {
  ServerOptions options = TlsOptions();
  options.max_body_bytes = 1024;
  auto server = MustStart(std::move(options), EchoRouter());
  ASSERT_NE(server, nullptr);
  {
    TlsClient client(server->port());
    auto ok = client.Send("POST", "/v1/sites/a/heartbeat", std::string(1024, 'x'));
    ASSERT_TRUE(ok) << ok.error().ToString();
    EXPECT_EQ(ok->status, 200);
    auto resp = client.Send("POST", "/v1/sites/a/heartbeat", std::string(256 * 1024, 'x'));
    ASSERT_TRUE(resp) << resp.error().ToString();
    EXPECT_EQ(resp->status, 413);
    EXPECT_EQ(ErrorOf(*resp)["code"], "resource_exhausted");
    EXPECT_THAT(ErrorOf(*resp)["message"].get<std::string>(), HasSubstr("1024 bytes"));
    EXPECT_EQ(resp->Header("Connection"), "close");
  }
  TlsClient again(server->port());
  auto resp = again.Send("GET", "/v1/ping");
  ASSERT_TRUE(resp) << resp.error().ToString();
  EXPECT_EQ(resp->status, 200);
}

TEST(HttpServerTest, DeclaredHugeBodyIsRefusedBeforeItIsSent) {
  ServerOptions options = PlainOptions();
  options.max_body_bytes = 1024;
  auto server = MustStart(std::move(options), EchoRouter());
  ASSERT_NE(server, nullptr);
  RawConn conn(server->port());
  ASSERT_TRUE(conn.connected());
  // Only the header: the server must answer from Content-Length alone.
  conn.SendAll(
      "POST /v1/sites/a/heartbeat HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n");
  std::string reply = conn.ReadUntil("\r\n\r\n", 2000ms);
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 413"));
}

TEST(HttpServerTest, ExpectContinueGetsInterimResponseThenFinal) {
  auto server = MustStart(PlainOptions(), EchoRouter());
  ASSERT_NE(server, nullptr);
  RawConn conn(server->port());
  conn.SendAll(
      "POST /v1/sites/b/heartbeat HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
      "Expect: 100-continue\r\n\r\n");
  EXPECT_THAT(conn.ReadUntil("\r\n\r\n", 2000ms), StartsWith("HTTP/1.1 100 Continue"));
  conn.SendAll("hi");
  std::string reply = conn.ReadUntil("\"hi\"", 2000ms);
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200"));
}

TEST(HttpServerTest, MalformedRequestGets400AndCloseAndServerKeepsServing) {
  auto server = MustStart(PlainOptions(), EchoRouter());
  ASSERT_NE(server, nullptr);
  for (std::string_view garbage :
       {"GARBAGE\r\n\r\n", "GET /v1/ping HTTP/9.9\r\n\r\n",
        "POST /v1/sites/a/heartbeat HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        "GET /v1/ping HTTP/1.1\r\nBad Header\r\n\r\n",
        "GET http://evil.example/v1/ping HTTP/1.1\r\nHost: x\r\n\r\n"}) {
    RawConn conn(server->port());
    conn.SendAll(garbage);
    bool closed = false;
    std::string reply = conn.ReadUntilClose(2000ms, &closed);
    EXPECT_THAT(reply, StartsWith("HTTP/1.1 400")) << garbage;
    EXPECT_THAT(reply, HasSubstr("\"code\":\"invalid_argument\"")) << garbage;
    EXPECT_TRUE(closed) << garbage;
  }
  CurlClient client;
  auto resp = PlainSend(client, server->port(), "GET", "/v1/ping");
  ASSERT_TRUE(resp) << resp.error().ToString();
  EXPECT_EQ(resp->status, 200);
}

TEST(HttpServerTest, HeaderSectionOverLimitGets431) {
  ServerOptions options = PlainOptions();
  options.max_header_bytes = 1024;
  auto server = MustStart(std::move(options), EchoRouter());
  ASSERT_NE(server, nullptr);
  RawConn conn(server->port());
  conn.SendAll("GET /v1/ping HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n");
  bool closed = false;
  EXPECT_THAT(conn.ReadUntilClose(2000ms, &closed), StartsWith("HTTP/1.1 431"));
  EXPECT_TRUE(closed);
}

TEST(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  auto server = MustStart(PlainOptions(), EchoRouter());
  ASSERT_NE(server, nullptr);
  RawConn conn(server->port());
  conn.SendAll(
      "POST /v1/sites/one/heartbeat HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nA"
      "POST /v1/sites/two/heartbeat HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nB");
  std::string reply = conn.ReadUntil("\"two\"", 2000ms);
  size_t first = reply.find("\"one\"");
  size_t second = reply.find("\"two\"");
  ASSERT_NE(first, std::string::npos) << reply;
  ASSERT_NE(second, std::string::npos) << reply;
  EXPECT_LT(first, second);
  EXPECT_EQ(server->stats().connections_accepted, 1u);
}

TEST(HttpServerTest, UnknownRouteIs404AndWrongMethodIs405WithAllow) {
  auto server = MustStart(PlainOptions(), EchoRouter());
  ASSERT_NE(server, nullptr);
  CurlClient client;
  auto missing = PlainSend(client, server->port(), "GET", "/v1/nothing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(ErrorOf(*missing)["code"], "not_found");
  EXPECT_EQ(missing->Header("Content-Type"), "application/json");

  auto wrong = PlainSend(client, server->port(), "DELETE", "/v1/sites/x/heartbeat");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 405);
  EXPECT_EQ(wrong->Header("Allow"), "POST");
  EXPECT_EQ(ErrorOf(*wrong)["code"], "invalid_argument");

  // The parameter matches exactly one non-empty segment.
  auto empty = PlainSend(client, server->port(), "POST", "/v1/sites//heartbeat");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 404);
}

TEST(HttpServerTest, ErrorResponseMapsErrorCodeToStatus) {
  Router router;
  ASSERT_TRUE(router.Add("GET", "/v1/conflict", [](const ServerRequest&, Responder respond) {
    respond(ServerResponse::Error(Error{ErrorCode::kConflict, "licence before health (PROV_022)"}));
  }));
  auto server = MustStart(PlainOptions(), std::move(router));
  ASSERT_NE(server, nullptr);
  CurlClient client;
  auto resp = PlainSend(client, server->port(), "GET", "/v1/conflict");
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->status, HttpStatusFor(ErrorCode::kConflict));
  EXPECT_EQ(ErrorOf(*resp)["code"], "conflict");
  EXPECT_EQ(ErrorOf(*resp)["message"], "licence before health (PROV_022)");
}

// The I/O thread is not blocked by a handler that answers later: with a single I/O thread, a
// second request is served while the first one waits for its (simulated) database write.
TEST(HttpServerTest, AsyncHandlerAnswersFromAnotherThreadWithoutBlockingIo) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Responder> pending;
  Router router;
  ASSERT_TRUE(router.Add("POST", "/v1/slow", [&](const ServerRequest& req, Responder respond) {
    std::lock_guard<std::mutex> lock(mu);
    pending = std::move(respond);
    cv.notify_all();
  }));
  ASSERT_TRUE(router.Add("GET", "/v1/fast", [](const ServerRequest&, Responder respond) {
    respond(ServerResponse::Json(200, "{\"fast\":true}"));
  }));
  ServerOptions options = TlsOptions();
  options.io_threads = 1;
  auto server = MustStart(std::move(options), std::move(router));
  ASSERT_NE(server, nullptr);

  auto slow = std::async(std::launch::async, [port = server->port()] {
    TlsClient client(port);
    return client.Send("POST", "/v1/slow", "write me");
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return pending.has_value(); }));
  }
  TlsClient fast(server->port());
  auto fast_resp = fast.Send("GET", "/v1/fast");
  ASSERT_TRUE(fast_resp) << fast_resp.error().ToString();
  EXPECT_EQ(fast_resp->status, 200);
  EXPECT_EQ(slow.wait_for(0s), std::future_status::timeout);  // still waiting for its answer

  // Answer from a "store callback" thread; a second call is ignored.
  std::thread writer([&] {
    std::lock_guard<std::mutex> lock(mu);
    (*pending)(ServerResponse::Json(201, "{\"stored\":true}"));
    (*pending)(ServerResponse::Json(500, "{}"));
  });
  writer.join();
  auto slow_resp = slow.get();
  ASSERT_TRUE(slow_resp) << slow_resp.error().ToString();
  EXPECT_EQ(slow_resp->status, 201);
  EXPECT_EQ(slow_resp->body, "{\"stored\":true}");
}

TEST(HttpServerTest, DroppedResponderAnswers500AndThrowingHandlerAnswers500) {
  Router router;
  ASSERT_TRUE(router.Add("GET", "/v1/drop", [](const ServerRequest&, Responder) {}));
  ASSERT_TRUE(router.Add("GET", "/v1/throw", [](const ServerRequest&, Responder) {
    throw std::runtime_error("boom");
  }));
  auto server = MustStart(PlainOptions(), std::move(router));
  ASSERT_NE(server, nullptr);
  CurlClient client;
  for (const char* path : {"/v1/drop", "/v1/throw"}) {
    auto resp = PlainSend(client, server->port(), "GET", path);
    ASSERT_TRUE(resp) << path;
    EXPECT_EQ(resp->status, 500) << path;
    EXPECT_EQ(ErrorOf(*resp)["code"], "internal") << path;
  }
}

TEST(HttpServerTest, ConnectionsBeyondTheCapAreClosedAtOnce) {
  ServerOptions options = PlainOptions();
  options.max_connections = 2;
  auto server = MustStart(std::move(options), EchoRouter());
  ASSERT_NE(server, nullptr);
  RawConn a(server->port());
  RawConn b(server->port());
  ASSERT_TRUE(WaitFor([&] { return server->stats().connections_open == 2; }));
  RawConn c(server->port());
  bool closed = false;
  EXPECT_EQ(c.ReadUntilClose(2000ms, &closed), "");
  EXPECT_TRUE(closed);
  EXPECT_EQ(server->stats().connections_rejected, 1u);
  // The admitted connections still work.
  a.SendAll("GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(a.ReadUntil("pong", 2000ms), StartsWith("HTTP/1.1 200"));
}

TEST(HttpServerTest, ReadTimeoutClosesASlowSenderAndIdleTimeoutAQuietOne) {
  ServerOptions options = PlainOptions();
  options.read_timeout = 200ms;
  options.idle_timeout = 300ms;
  auto server = MustStart(std::move(options), EchoRouter());
  ASSERT_NE(server, nullptr);
  RawConn slow(server->port());
  RawConn quiet(server->port());
  auto t0 = std::chrono::steady_clock::now();
  slow.SendAll("GET /v1/ping HTTP/1.1\r\nHost:");  // and never finishes the header
  bool closed = false;
  EXPECT_EQ(slow.ReadUntilClose(3000ms, &closed), "");
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
  closed = false;
  EXPECT_EQ(quiet.ReadUntilClose(3000ms, &closed), "");
  EXPECT_TRUE(closed);
  EXPECT_TRUE(WaitFor([&] { return server->stats().connections_open == 0; }));
}

TEST(HttpServerTest, StopLetsInFlightRequestFinishThenClosesIdleConnections) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Responder> pending;
  Router router = EchoRouter();
  ASSERT_TRUE(router.Add("POST", "/v1/slow", [&](const ServerRequest&, Responder respond) {
    std::lock_guard<std::mutex> lock(mu);
    pending = std::move(respond);
    cv.notify_all();
  }));
  auto server = MustStart(TlsOptions(), std::move(router));
  ASSERT_NE(server, nullptr);
  RawConn idle(server->port());
  auto in_flight = std::async(std::launch::async, [port = server->port()] {
    TlsClient client(port);
    return client.Send("POST", "/v1/slow", "x");
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return pending.has_value(); }));
  }
  auto stopping = std::async(std::launch::async, [&] { server->Stop(5000ms); });
  bool closed = false;
  idle.ReadUntilClose(2000ms, &closed);
  EXPECT_TRUE(closed);  // idle connection closed at once
  EXPECT_EQ(stopping.wait_for(50ms), std::future_status::timeout);  // waiting for in-flight
  {
    std::lock_guard<std::mutex> lock(mu);
    (*pending)(ServerResponse::Json(200, "{\"done\":true}"));
  }
  auto resp = in_flight.get();
  ASSERT_TRUE(resp) << resp.error().ToString();
  EXPECT_EQ(resp->status, 200);
  EXPECT_EQ(resp->Header("Connection"), "close");
  EXPECT_EQ(stopping.wait_for(3s), std::future_status::ready);
  // New connections are refused after Stop.
  RawConn late(server->port());
  EXPECT_FALSE(late.connected());
}

TEST(HttpServerTest, StopForcesHandlersThatNeverAnswerAfterTheGracePeriod) {
  std::promise<Responder> got;
  Router router;
  ASSERT_TRUE(router.Add("GET", "/v1/hang", [&](const ServerRequest&, Responder respond) {
    got.set_value(std::move(respond));
  }));
  auto server = MustStart(PlainOptions(), std::move(router));
  ASSERT_NE(server, nullptr);
  auto in_flight = std::async(std::launch::async, [port = server->port()] {
    CurlClient client;
    return PlainSend(client, port, "GET", "/v1/hang");
  });
  Responder late = got.get_future().get();
  auto t0 = std::chrono::steady_clock::now();
  server->Stop(200ms);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  auto resp = in_flight.get();
  EXPECT_FALSE(resp);  // the connection was closed without an answer
  // Answering after the server stopped (even after it is destroyed) is harmless.
  server.reset();
  late(ServerResponse::Json(200, "{}"));
}

TEST(HttpServerTest, StartRejectsBadOptions) {
  ServerOptions plain_public = PlainOptions();
  plain_public.listen_address = "0.0.0.0:0";
  auto r1 = HttpServer::Start(std::move(plain_public), Router());
  ASSERT_FALSE(r1);
  EXPECT_THAT(r1.error().message, HasSubstr("refusing plain HTTP"));

  ServerOptions bad_address = PlainOptions();
  bad_address.listen_address = "localhost:80";
  EXPECT_FALSE(HttpServer::Start(std::move(bad_address), Router()));

  ServerOptions no_cert;
  EXPECT_FALSE(HttpServer::Start(std::move(no_cert), Router()));

  ServerOptions mismatched = TlsOptions();
  auto other = GenerateSelfSignedCertificate("localhost", 1);
  ASSERT_TRUE(other);
  mismatched.tls_material.key_pem = std::move(other->key_pem);
  auto r2 = HttpServer::Start(std::move(mismatched), Router());
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code, ErrorCode::kInvalidArgument);

  auto first = MustStart(PlainOptions(), Router());
  ASSERT_NE(first, nullptr);
  ServerOptions taken = PlainOptions();
  taken.listen_address = fmt::format("127.0.0.1:{}", first->port());
  auto r3 = HttpServer::Start(std::move(taken), Router());
  ASSERT_FALSE(r3);
  EXPECT_EQ(r3.error().code, ErrorCode::kUnavailable);
}

// curl's own pinning (CURLOPT_PINNEDPUBLICKEY through the curl tool) accepts the server with the
// pin GenerateSelfSignedCertificate reported and refuses it with another key's pin.
TEST(HttpServerTest, CurlPinnedPublicKeyMatchesReportedPin) {
  if (system("command -v curl >/dev/null 2>&1") != 0) GTEST_SKIP() << "curl tool not installed";
  auto server = MustStart(TlsOptions(), EchoRouter());
  ASSERT_NE(server, nullptr);
  auto other = GenerateSelfSignedCertificate("localhost", 1);
  ASSERT_TRUE(other);
  auto run = [&](const std::string& pin) {
    std::string cmd = fmt::format(
        "curl -sS --max-time 5 -k --pinnedpubkey '{}' https://127.0.0.1:{}/v1/ping "
        ">/dev/null 2>&1",
        pin, server->port());
    int rc = system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  EXPECT_EQ(run(TestCert().spki_pin), 0);
  EXPECT_EQ(run(other->spki_pin), 90);  // CURLE_SSL_PINNEDPUBKEYNOTMATCH
}

// CurlClient's pin-only mode (how agents trust their fleet manager's self-signed certificate):
// the pinned key is accepted without a CA; any other key is refused before a byte is sent.
TEST(HttpServerTest, CurlClientPinnedPublicKeyReplacesTheCa) {
  auto server = MustStart(TlsOptions(), EchoRouter());
  ASSERT_NE(server, nullptr);
  auto other = GenerateSelfSignedCertificate("localhost", 1);
  ASSERT_TRUE(other);
  HttpRequest req{.method = "GET",
                  .url = fmt::format("https://127.0.0.1:{}/v1/ping", server->port())};
  CurlClient pinned({.pinned_public_key = TestCert().spki_pin});
  auto ok = pinned.Send(req);
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(ok->status, 200);
  CurlClient wrong({.pinned_public_key = other->spki_pin});
  EXPECT_FALSE(wrong.Send(req));
  CurlClient neither;  // no pin, no CA: the self-signed certificate is refused
  EXPECT_FALSE(neither.Send(req));
}

// Raw HTTP/1.1 exchange helpers for the tests below.
std::string HeartbeatRequest(std::string_view site, std::string_view body) {
  return fmt::format(
      "POST /v1/sites/{}/heartbeat HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{}", site,
      body.size(), body);
}

// A handler answering inline (during the call, on the I/O thread) and one answering from another
// thread, alternately on one keep-alive connection: every answer goes out once, in order, and is
// observed under its route.
TEST(HttpServerTest, InlineAndOtherThreadAnswersShareAConnection) {
  std::mutex mu;
  std::vector<std::string> routes;
  ServerOptions options = TlsOptions();
  options.observer = [&](const RequestObservation& o) {
    std::lock_guard<std::mutex> lock(mu);
    routes.emplace_back(o.route);
  };
  Router router;
  ASSERT_TRUE(router.Add("GET", "/v1/inline/{n}", [](const ServerRequest& req, Responder respond) {
    respond(ServerResponse::Json(200, fmt::format("{{\"inline\":\"{}\"}}", req.Param("n"))));
    respond(ServerResponse::Json(500, "{}"));  // ignored: a Responder answers once
  }));
  ASSERT_TRUE(router.Add("GET", "/v1/later/{n}", [](const ServerRequest& req, Responder respond) {
    std::thread([respond = std::move(respond), n = req.Param("n")] {
      respond(ServerResponse::Json(202, fmt::format("{{\"later\":\"{}\"}}", n)));
    }).detach();
  }));
  auto server = MustStart(std::move(options), std::move(router));
  ASSERT_NE(server, nullptr);
  TlsClient client(server->port());
  for (int i = 0; i < 6; ++i) {
    bool inline_answer = i % 2 == 0;
    auto resp = client.Send("GET", fmt::format("/v1/{}/{}", inline_answer ? "inline" : "later", i));
    ASSERT_TRUE(resp) << resp.error().ToString();
    EXPECT_EQ(resp->status, inline_answer ? 200 : 202);
    EXPECT_EQ(resp->body, fmt::format("{{\"{}\":\"{}\"}}", inline_answer ? "inline" : "later", i));
  }
  EXPECT_TRUE(WaitFor([&] { return server->stats().requests == 6; }));
  EXPECT_EQ(server->stats().connections_accepted, 1u);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_THAT(routes, ::testing::ElementsAre("/v1/inline/{n}", "/v1/later/{n}", "/v1/inline/{n}",
                                             "/v1/later/{n}", "/v1/inline/{n}", "/v1/later/{n}"));
}

// The exact bytes of an inline answer and of a Connection: close answer (status line with the
// standard reason phrase, the handler's headers, Content-Length, no body for 204).
TEST(HttpServerTest, ResponseBytesAreWellFormed) {
  Router router = EchoRouter();
  ASSERT_TRUE(router.Add("GET", "/v1/empty", [](const ServerRequest&, Responder respond) {
    ServerResponse r;
    r.status = 204;
    r.body = "dropped";
    r.headers = {{"X-A", "  padded\t"}, {"Content-Length", "99"}, {"Bad Name", "x"}};
    respond(std::move(r));
  }));
  auto server = MustStart(PlainOptions(), std::move(router));
  ASSERT_NE(server, nullptr);
  RawConn conn(server->port());
  conn.SendAll("GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(conn.ReadUntil("pong", 2000ms),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\npong");
  conn.SendAll("GET /v1/empty HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  bool closed = false;
  EXPECT_EQ(conn.ReadUntilClose(2000ms, &closed),
            "HTTP/1.1 204 No Content\r\nX-A: padded\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(closed);
}

// A request (header, then a chunked body) dribbled in many small TCP segments is reassembled.
TEST(HttpServerTest, RequestSplitAcrossManySegmentsIsReassembled) {
  auto server = MustStart(PlainOptions(), EchoRouter());
  ASSERT_NE(server, nullptr);
  RawConn conn(server->port());
  ASSERT_TRUE(conn.connected());
  const std::string request =
      "POST /v1/sites/split/heartbeat?q=1 HTTP/1.1\r\nHost: x\r\nX-Test: pieces\r\n"
      "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
  for (size_t i = 0; i < request.size(); i += 3) {
    conn.SendAll(request.substr(i, 3));
    std::this_thread::sleep_for(1ms);  // pacing, so the pieces arrive as separate segments
  }
  std::string reply = conn.ReadUntil("pieces\"}", 3000ms);
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(reply, HasSubstr("\"body\":\"hello, world\""));
  EXPECT_THAT(reply, HasSubstr("\"id\":\"split\""));
  EXPECT_THAT(reply, HasSubstr("\"query\":\"q=1\""));
  // The connection stays usable.
  conn.SendAll("GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(conn.ReadUntil("pong", 2000ms), StartsWith("HTTP/1.1 200 OK"));
}

TEST(HttpServerTest, ChunkedBodyOverLimitGets413) {
  ServerOptions options = PlainOptions();
  options.max_body_bytes = 8;
  auto server = MustStart(std::move(options), EchoRouter());
  ASSERT_NE(server, nullptr);
  RawConn conn(server->port());
  conn.SendAll(
      "POST /v1/sites/a/heartbeat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nabcd\r\n10\r\n");
  bool closed = false;
  std::string reply = conn.ReadUntilClose(2000ms, &closed);
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 413 Payload Too Large\r\n"));
  EXPECT_THAT(reply, HasSubstr("Connection: close\r\n"));
  EXPECT_TRUE(closed);
}

// Pipelined requests wait in the read buffer while the first one is answered from another
// thread; the answers go out in request order.
TEST(HttpServerTest, PipelinedRequestsWaitBehindAnAsynchronousAnswer) {
  std::promise<Responder> got;
  Router router = EchoRouter();
  ASSERT_TRUE(router.Add("POST", "/v1/slow", [&](const ServerRequest&, Responder respond) {
    got.set_value(std::move(respond));
  }));
  auto server = MustStart(PlainOptions(), std::move(router));
  ASSERT_NE(server, nullptr);
  RawConn conn(server->port());
  conn.SendAll("POST /v1/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nS" +
               HeartbeatRequest("two", "B") + "GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n");
  Responder respond = got.get_future().get();
  std::thread([&] { respond(ServerResponse::Json(201, "{\"slow\":1}")); }).join();
  std::string reply = conn.ReadUntil("pong", 3000ms);
  size_t slow = reply.find("{\"slow\":1}");
  size_t two = reply.find("\"two\"");
  size_t pong = reply.find("pong");
  ASSERT_NE(slow, std::string::npos) << reply;
  ASSERT_NE(two, std::string::npos) << reply;
  ASSERT_NE(pong, std::string::npos) << reply;
  EXPECT_LT(slow, two);
  EXPECT_LT(two, pong);
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 201 Created\r\n"));
}

// Connections are handed round-robin to the I/O threads' contexts: while one thread is stuck in
// a handler, new connections are still accepted and those handed to the other thread are served;
// the stuck thread's connections are served once it returns.
TEST(HttpServerTest, RoundRobinKeepsServingWhileOneThreadIsBusy) {
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  Router router = EchoRouter();
  ASSERT_TRUE(router.Add("GET", "/v1/busy", [&](const ServerRequest&, Responder respond) {
    entered.set_value();
    released.wait();  // a handler that blocks its I/O thread (forbidden in production code)
    respond(ServerResponse::Json(200, "{\"busy\":true}"));
  }));
  ServerOptions options = PlainOptions();
  options.io_threads = 2;
  auto server = MustStart(std::move(options), std::move(router));
  ASSERT_NE(server, nullptr);
  RawConn busy(server->port());
  busy.SendAll("GET /v1/busy HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(entered.get_future().wait_for(3s), std::future_status::ready);

  std::vector<std::unique_ptr<RawConn>> conns;
  for (int i = 0; i < 4; ++i) {
    conns.push_back(std::make_unique<RawConn>(server->port()));
    ASSERT_TRUE(conns.back()->connected());
    conns.back()->SendAll("GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  ASSERT_TRUE(WaitFor([&] { return server->stats().connections_accepted == 5; }));
  // The connections on the free thread are answered while the other thread is stuck.
  int answered = 0;
  std::vector<bool> done(conns.size(), false);
  for (size_t i = 0; i < conns.size(); ++i) {
    if (conns[i]->ReadUntil("pong", 500ms).find("pong") != std::string::npos) {
      done[i] = true;
      ++answered;
    }
  }
  EXPECT_GE(answered, 2);
  release.set_value();
  EXPECT_THAT(busy.ReadUntil("true}", 3000ms), StartsWith("HTTP/1.1 200 OK"));
  for (size_t i = 0; i < conns.size(); ++i) {
    if (!done[i]) {
      EXPECT_THAT(conns[i]->ReadUntil("pong", 3000ms), HasSubstr("pong")) << i;
    }
  }
  EXPECT_TRUE(WaitFor([&] { return server->stats().requests == 5; }));
}

TEST(RouterTest, RejectsBadPatternsAndDuplicates) {
  Router r;
  auto h = [](const ServerRequest&, Responder) {};
  EXPECT_FALSE(r.Add("GET", "v1/x", h));
  EXPECT_FALSE(r.Add("GET", "/v1/{}", h));
  EXPECT_FALSE(r.Add("GET", "/v1/{a}/{a}", h));
  EXPECT_FALSE(r.Add("GET", "/v1/x{a}", h));
  EXPECT_TRUE(r.Add("GET", "/v1/{a}", h));
  auto dup = r.Add("GET", "/v1/{a}", h);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
}

TEST(RouterTest, LiteralSegmentBeatsParameterAndBadEncodingIs400) {
  Router r;
  std::string hit;
  ASSERT_TRUE(r.Add("GET", "/v1/sites/{id}", [&](const ServerRequest& req, Responder respond) {
    hit = "param:" + req.Param("id");
    respond(ServerResponse::Json(200, "{}"));
  }));
  ASSERT_TRUE(r.Add("GET", "/v1/sites/summary", [&](const ServerRequest&, Responder respond) {
    hit = "literal";
    respond(ServerResponse::Json(200, "{}"));
  }));
  int status = 0;
  auto capture = [&](ServerResponse resp) { status = resp.status; };
  ServerRequest req;
  req.method = "GET";
  req.path = "/v1/sites/summary";
  r.Dispatch(req, capture);
  EXPECT_EQ(hit, "literal");
  req.path = "/v1/sites/a%20b";
  r.Dispatch(req, capture);
  EXPECT_EQ(hit, "param:a b");
  EXPECT_EQ(status, 200);
  req.path = "/v1/sites/bad%2";
  r.Dispatch(req, capture);
  EXPECT_EQ(status, 400);
  req.path = "/v1/sites/summary/extra";
  r.Dispatch(req, capture);
  EXPECT_EQ(status, 404);
}

}  // namespace
}  // namespace vigie::http
