#pragma once
// The network seam: every HTTP exchange vigie makes goes through HttpClient, so production uses
// CurlClient (curl_client.h) and tests use a fake or a loopback server.
//
// Thread-safety: implementations document their own; HttpRequest/HttpResponse are plain values.

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"

namespace vigie::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";  // "GET", "POST", "PUT", "DELETE", "HEAD", ...
  // Absolute http:// or https:// URL, already percent-encoded as it must go on the wire.
  std::string url;
  // Sent in this order, exactly as given (an explicit Host header replaces the URL's authority).
  // SECURITY: may carry Authorization / X-Amz-Security-Token; implementations never log them.
  Headers headers;
  // SECURITY: never logged by any implementation.
  std::string body;
  // Whole-exchange deadline (connect + send + receive).
  std::chrono::milliseconds timeout{30000};
};

struct HttpResponse {
  int status = 0;
  Headers headers;  // in arrival order; names as the server spelled them
  std::string body;

  // Value of the first header named `name` (ASCII case-insensitive), or "" when absent.
  std::string Header(std::string_view name) const;
};

// ASCII case-insensitive equality, for header names.
bool HeaderNameEquals(std::string_view a, std::string_view b);

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Performs one exchange. Any HTTP status (including 4xx/5xx) is a successful Result: the caller
  // interprets it. Errors: kUnavailable (cannot resolve/connect/TLS, connection dropped),
  // kDeadlineExceeded (request.timeout elapsed; the outcome on the server is unknown),
  // kInvalidArgument (malformed URL or method), kResourceExhausted (response too large).
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
};

}  // namespace vigie::http
