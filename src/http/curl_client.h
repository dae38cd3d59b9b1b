#pragma once
// CurlClient: the production HttpClient, over libcurl (kept out of this header: pimpl).
//
// One easy handle per client is reused across Send() calls so connections are kept alive (and
// TLS sessions resumed). Send() holds a mutex for the whole exchange: the client is safe to share
// between threads, but exchanges through one client are serialised; use one client per thread
// for parallel traffic.
//
// TLS: peer and host-name verification are on, against the system trust store or ca_file;
// only a public-key pin (pinned_public_key, without ca_file) replaces them, by something
// stricter: the server must hold exactly that key. Only http and https are allowed, redirects are not followed.
//
// SECURITY: nothing here logs a request body, a request header value or a response body; error
// messages name the method, scheme://host[:port] and path only (never the query, which may hold
// a presigned signature).

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/secret.h"
#include "http/client.h"

namespace vigie::http {

// Asks libcurl's built-in AWS Signature V4 signer (CURLOPT_AWS_SIGV4) to sign every request.
// vigie's AWS traffic uses its own signer instead (src/cloud/sigv4.h explains why); this exists
// so the two can be compared and for simple calls. In this mode the client does not suppress
// curl's default Content-Type/Expect headers (curl would sign the removal directives), and the
// request must not carry its own X-Amz-Date or Authorization.
struct CurlSigV4Spec {
  std::string region;   // "us-east-1"
  std::string service;  // "iam", "secretsmanager", ...
  std::string access_key_id;
  // SECURITY: handed to curl as CURLOPT_PASSWORD; curl keeps its own (unwiped) heap copy until
  // the next request resets the handle.
  SecretBytes secret_access_key;
  // Sent (and, by curl 7.88, signed) as x-amz-security-token when not empty.
  SecretBytes session_token;
};

struct CurlClientOptions {
  // PEM CA bundle used instead of the system store (private CAs, tests). Empty: system default.
  std::string ca_file;
  // Public-key pin of the server, "sha256//<base64 of SHA-256(SubjectPublicKeyInfo)>"
  // (CURLOPT_PINNEDPUBLICKEY), as packages carry for the fleet manager. With a pin and no
  // ca_file, the pin replaces CA and host-name verification (the fleet's self-signed
  // certificate): only a server holding that exact key is accepted. With both, both apply.
  std::string pinned_public_key;
  std::chrono::milliseconds connect_timeout{10000};
  // Responses larger than this fail with kResourceExhausted.
  size_t max_response_bytes = 64u << 20;
  // Like curl --connect-to: "HOST:PORT:CONNECT_HOST:CONNECT_PORT". Pins a name to an address
  // while the URL, Host header and TLS name stay unchanged (tests, endpoint pinning).
  std::vector<std::string> connect_to;
  std::optional<CurlSigV4Spec> aws_sigv4;
};

class CurlClient final : public HttpClient {
 public:
  explicit CurlClient(CurlClientOptions options = {});
  ~CurlClient() override;
  CurlClient(const CurlClient&) = delete;
  CurlClient& operator=(const CurlClient&) = delete;

  Result<HttpResponse> Send(const HttpRequest& request) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigie::http
