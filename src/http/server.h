#pragma once
// HttpServer: the HTTP/1.1 (over TLS) server core of the fleet manager and the agent, on
// Boost.Beast/Asio and OpenSSL (both kept out of this header: pimpl).
//
// Model: each of the `io_threads` threads runs its own event loop; the first also accepts, and
// new connections are handed to the threads round-robin. A connection lives on one thread for
// its whole life and serves its requests one after the other (keep-alive; pipelined requests
// wait in the read buffer). A request is read in full (header, then a body of at most
// max_body_bytes), routed by a Router and handed to a Handler together with a Responder. The
// handler may answer inline (the response is then written as soon as the handler returns) or
// later from any thread (e.g. from Store::WriteAsync's callback; the response is handed to the
// connection's thread): the I/O threads never wait on the database. Since a connection never
// changes thread, a handler that blocks stalls every connection of its thread (and, on the
// first thread, accepting): handlers must not block.
//
// Limits and their answers (each closes the connection after answering, because the rest of the
// stream cannot be trusted or was not read):
//   - header section larger than max_header_bytes            -> 431
//   - Content-Length (or chunked body) over max_body_bytes   -> 413, without reading the body
//   - malformed request line / header / chunked framing      -> 400
//   - read_timeout elapsed while reading a request            -> connection closed, no answer
//   - idle_timeout elapsed between keep-alive requests        -> connection closed
//   - write_timeout elapsed while writing a response          -> connection closed
//   - max_connections connections open: a new connection is accepted and closed at once
//     (no 503: answering over TLS would cost a full handshake to the overloaded server); the
//     client sees EOF/reset and retries with backoff; stats().connections_rejected counts it.
// Errors the server itself answers carry the JSON body {"error":{"code":..,"message":..}}.
// TCP_NODELAY is set on every connection. "Expect: 100-continue" is honoured.
//
// SECURITY: request and response bodies and the Authorization / Cookie / X-Vigie-* header values
// are never logged. With tls = false the traffic is plain text: only for a loopback listener
// (the agent's local admin API) and tests; Start() refuses plain HTTP on a non-loopback address
// unless allow_plaintext_non_loopback is set. The TLS server accepts TLS 1.2 and 1.3 only.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "http/client.h"
#include "http/tls_material.h"

namespace vigie::http {

struct ServerRequest {
  std::string method;  // "GET", "POST", ... as sent (case-sensitive, RFC 9110)
  std::string target;  // request-target as sent: "/v1/sites/abc/heartbeat?x=1"
  std::string path;    // target without the query
  std::string query;   // after '?', undecoded; "" when absent
  Headers headers;     // in arrival order
  // SECURITY: untrusted input; never logged by the server.
  std::string body;
  std::string remote_address;  // "127.0.0.1:54321" / "[::1]:54321"
  // Filled by the router: the matched pattern ("/v1/sites/{id}/heartbeat") and its parameters,
  // percent-decoded ({"id": "abc"}).
  std::string route;
  std::map<std::string, std::string> params;

  // First header named `name` (ASCII case-insensitive), "" when absent.
  std::string Header(std::string_view name) const;
  // Path parameter `name`, "" when the route has none of that name.
  std::string Param(std::string_view name) const;
};

struct ServerResponse {
  int status = 200;
  // Content-Length, Transfer-Encoding and Connection are the server's: given here they are
  // ignored. Headers whose name or value holds CR, LF or NUL are dropped (response splitting).
  Headers headers;
  std::string body;

  // `body` with Content-Type: application/json.
  static ServerResponse Json(int status, std::string body);
  // {"error":{"code":"<ErrorCodeName>","message":"<message>"}} with HttpStatusFor(error.code).
  // SECURITY: the message goes to the client; it must not hold a secret (Error never does).
  static ServerResponse Error(const vigie::Error& error);
  // Same envelope with an explicit status (404/405/413/431 answered by the server itself).
  static ServerResponse ErrorWithStatus(int status, ErrorCode code, std::string_view message);
};

// Delivers the response for one request. Callable from any thread, once: later calls are
// ignored. If every copy of a Responder is destroyed without being called, the client gets a
// 500 ("the handler dropped the request"). Calling it after the server stopped is harmless.
using Responder = std::function<void(ServerResponse)>;
// Runs on an I/O thread: must not block (no database wait, no outbound HTTP); hand the work off
// and respond later. An exception escaping a handler is caught and answered 500.
// The request reference is valid only during the call: an asynchronous handler copies or moves
// out what it needs before returning.
using Handler = std::function<void(const ServerRequest&, Responder)>;

// Routes by method and path pattern. Patterns are absolute paths whose segments are literals or
// "{name}" (matches one non-empty segment). Literal segments win over parameters when both
// match. Unmatched path -> 404; path matched under another method -> 405 with an Allow header.
// Thread-safety: built before Start(), then read-only (Dispatch is const and thread-safe).
class Router {
 public:
  // Errors: kInvalidArgument (pattern not absolute, empty or duplicated parameter name, a
  // segment mixing literal text and braces), kAlreadyExists (same method and pattern twice).
  Status Add(std::string method, std::string pattern, Handler handler);

  // Routes `request` (fills route and params) and calls the handler or responds 404/405/400 (a
  // malformed percent-encoding in a parameter).
  void Dispatch(ServerRequest& request, Responder respond) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;  // "{name}" kept verbatim
    Handler handler;
  };
  std::vector<Route> routes_;
};

// One finished exchange, for the metrics layer (counters, latency histogram).
struct RequestObservation {
  std::string_view method;
  // The matched route pattern, or "" for requests that matched no route or were rejected
  // before routing (400, 404, 405, 413, 431): keeps label cardinality bounded.
  std::string_view route;
  int status = 0;
  // From the first byte of the request being available to the end of the response write.
  std::chrono::nanoseconds duration{0};
};

struct ServerOptions {
  // "host:port" to bind; "[::1]:0" for IPv6. Port 0: the kernel picks (tests), see port().
  std::string listen_address = "127.0.0.1:0";
  // TLS on by default: `tls_material` (cert_pem + key_pem), e.g. from LoadTlsMaterial() or
  // GenerateSelfSignedCertificate(). Set tls = false for plain HTTP (see SECURITY above).
  bool tls = true;
  TlsMaterial tls_material;
  bool allow_plaintext_non_loopback = false;

  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 1024 * 1024;
  size_t max_connections = 1024;
  // Deadline for the TLS handshake of a new connection, and for reading one request once its
  // first byte has arrived.
  std::chrono::milliseconds read_timeout{10000};
  // Deadline for writing one response (and the interim 100 Continue).
  std::chrono::milliseconds write_timeout{10000};
  // How long a connection may wait for the first byte of its next request (keep-alive), and a
  // new plain-HTTP / freshly handshaken TLS connection for its first request.
  std::chrono::milliseconds idle_timeout{75000};
  int io_threads = 2;
  // Called on an I/O thread after each response is written (or failed to be written). Must be
  // thread-safe and cheap. Never given bodies or header values.
  std::function<void(const RequestObservation&)> observer;
};

struct ServerStats {
  uint64_t connections_accepted = 0;  // accepted and served (cap rejections not included)
  uint64_t connections_rejected = 0;  // closed at once because max_connections were open
  uint64_t connections_open = 0;
  uint64_t requests = 0;  // responses written or attempted
  uint64_t tls_handshake_failures = 0;
};

class HttpServer {
 public:
  // Binds, starts the I/O threads and returns a running server.
  // Errors: kInvalidArgument (bad listen_address, zero limits, io_threads < 1, bad TLS material,
  // plain HTTP on a non-loopback address without allow_plaintext_non_loopback), kUnavailable
  // (bind/listen failed: the message names the address and the OS error).
  static Result<std::unique_ptr<HttpServer>> Start(ServerOptions options, Router router);

  // Stops with a 5 s grace deadline if still running.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port (the kernel's choice when listen_address asked for port 0).
  uint16_t port() const;
  ServerStats stats() const;

  // Graceful stop: stops accepting, closes idle connections, lets in-flight requests finish
  // (their responses go out with Connection: close) until `grace` has elapsed, then closes
  // everything and joins the I/O threads. Responders called afterwards are ignored.
  // Idempotent. REQUIRES: not called from a handler or an I/O thread.
  void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));

  struct Impl;  // opaque: defined in server.cc (public only so its connection types can name it)

 private:
  explicit HttpServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace vigie::http
