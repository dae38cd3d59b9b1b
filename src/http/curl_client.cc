#include "http/curl_client.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <string_view>

#include "base/log.h"

namespace vigie::http {

namespace {

// curl_global_init is not thread-safe with respect to other curl calls; do it once, before the
// first handle exists. It is never undone: handles may live until exit.
void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

// Appends a copy of `line`; false when curl is out of memory.
bool Append(Slist& list, const std::string& line) {
  curl_slist* next = curl_slist_append(list.get(), line.c_str());
  if (next == nullptr) return false;
  list.release();
  list.reset(next);
  return true;
}

struct UrlParts {
  std::string endpoint;  // scheme://host[:port], for messages
  std::string host;
  std::string path;  // without the query
};

Result<UrlParts> ParseUrl(const std::string& url) {
  CURLU* u = curl_url();
  if (u == nullptr) return MakeError(ErrorCode::kInternal, "curl_url: out of memory");
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> guard(u, curl_url_cleanup);
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    // The URL itself is not echoed: it may carry a presigned query.
    return MakeError(ErrorCode::kInvalidArgument,
                     "HTTP request URL is malformed; expected http(s)://host[:port]/path");
  }
  auto get = [&](CURLUPart part, unsigned flags = 0) -> std::string {
    char* out = nullptr;
    if (curl_url_get(u, part, &out, flags) != CURLUE_OK || out == nullptr) return "";
    std::string s(out);
    curl_free(out);
    return s;
  };
  UrlParts p;
  std::string scheme = get(CURLUPART_SCHEME);
  if (scheme != "http" && scheme != "https") {
    return MakeError(
        ErrorCode::kInvalidArgument,
        fmt::format("HTTP request URL has scheme '{}'; only http and https are allowed", scheme));
  }
  p.host = get(CURLUPART_HOST);
  std::string port = get(CURLUPART_PORT);
  p.endpoint = scheme + "://" + p.host + (port.empty() ? "" : ":" + port);
  p.path = get(CURLUPART_PATH);
  return p;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

bool HasHeader(const Headers& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& h) { return HeaderNameEquals(h.first, name); });
}

struct Sink {
  HttpResponse* response;
  size_t max_bytes;
  bool overflow = false;
};

size_t WriteBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* sink = static_cast<Sink*>(user);
  size_t n = size * nmemb;
  if (sink->response->body.size() + n > sink->max_bytes) {
    sink->overflow = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  sink->response->body.append(data, n);
  return n;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

size_t WriteHeader(char* data, size_t size, size_t nmemb, void* user) {
  auto* sink = static_cast<Sink*>(user);
  size_t n = size * nmemb;
  std::string_view line(data, n);
  if (line.substr(0, 5) == "HTTP/") {
    // A new status line (after a 100 Continue): only the final response's headers count.
    sink->response->headers.clear();
    return n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;  // blank line ending the block
  sink->response->headers.emplace_back(std::string(Trim(line.substr(0, colon))),
                                       std::string(Trim(line.substr(colon + 1))));
  return n;
}

// A NUL-terminated copy in protected memory, for curl options that take a char*.
SecretBytes CString(const SecretBytes& s) {
  SecretBytes out(s.size() + 1);
  std::copy(s.data(), s.data() + s.size(), out.data());
  return out;
}

}  // namespace

struct CurlClient::Impl {
  CurlClientOptions options;
  std::mutex mu;
  CURL* handle = nullptr;  // guarded by mu
};

CurlClient::CurlClient(CurlClientOptions options) : impl_(std::make_unique<Impl>()) {
  GlobalInitOnce();
  impl_->options = std::move(options);
  impl_->handle = curl_easy_init();
}

CurlClient::~CurlClient() {
  if (impl_->handle != nullptr) curl_easy_cleanup(impl_->handle);
}

Result<HttpResponse> CurlClient::Send(const HttpRequest& request) {
  if (!IsToken(request.method)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("HTTP method '{}' is not a valid token", request.method));
  }
  VIGIE_ASSIGN_OR_RETURN(UrlParts parts, ParseUrl(request.url));
  const std::string what = fmt::format("{} {}{}", request.method, parts.endpoint, parts.path);

  std::lock_guard<std::mutex> lock(impl_->mu);
  CURL* h = impl_->handle;
  if (h == nullptr) return MakeError(ErrorCode::kInternal, what + ": curl_easy_init failed");
  // Reset clears every option but keeps the connection cache, so keep-alive survives.
  curl_easy_reset(h);
  const CurlClientOptions& opt = impl_->options;

  HttpResponse response;
  Sink sink{&response, opt.max_response_bytes};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min(opt.connect_timeout, request.timeout).count()));
  // A pin without a CA is the trust anchor itself (see CurlClientOptions::pinned_public_key).
  const bool pin_only = !opt.pinned_public_key.empty() && opt.ca_file.empty();
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, pin_only ? 0L : 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, pin_only ? 0L : 2L);
  if (!opt.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, opt.ca_file.c_str());
  if (!opt.pinned_public_key.empty()) {
    curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, opt.pinned_public_key.c_str());
  }
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, WriteHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &sink);

  Slist connect_to;
  for (const auto& c : opt.connect_to) {
    if (!Append(connect_to, c)) return MakeError(ErrorCode::kInternal, "curl: out of memory");
  }
  if (connect_to) curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to.get());

  const bool has_body_method = request.method == "POST" || request.method == "PUT" ||
                               request.method == "PATCH" || !request.body.empty();
  if (request.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (has_body_method) {
    // POSTFIELDS does not copy: request.body outlives curl_easy_perform below.
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
    if (request.method != "POST")
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  } else if (request.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  Slist headers;
  bool ok = true;
  for (const auto& [name, value] : request.headers) {
    if (!IsToken(name)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("{}: header name '{}' is not a valid token", what, name));
    }
    if (value.find_first_of("\r\n") != std::string::npos) {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("{}: header '{}' has a line break in its value", what, name));
    }
    // "Name;" is curl's spelling of a header with an empty value ("Name:" would remove it).
    std::string line = value.empty() ? name + ";" : name + ": " + value;
    ok = ok && Append(headers, line);
    WipeString(line);  // it may be an Authorization or token header
  }
  // Send exactly what the caller asked for: no implicit form Content-Type, no Expect: 100-continue.
  // Not with curl's signer: curl 7.88 signs a removal directive as an empty header it then does not
  // send, which breaks the signature (src/cloud/sigv4_curl_test.cc).
  if (!opt.aws_sigv4) {
    if (has_body_method && !HasHeader(request.headers, "Content-Type")) {
      ok = ok && Append(headers, "Content-Type:");
    }
    if (!HasHeader(request.headers, "Expect")) ok = ok && Append(headers, "Expect:");
  }

  SecretBytes user, password;
  std::string provider;
  if (opt.aws_sigv4) {
    const CurlSigV4Spec& s = *opt.aws_sigv4;
    provider = fmt::format("aws:amz:{}:{}", s.region, s.service);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, provider.c_str());
    user = CString(SecretBytes::CopyFrom(s.access_key_id));
    password = CString(s.secret_access_key);
    curl_easy_setopt(h, CURLOPT_USERNAME, reinterpret_cast<const char*>(user.data()));
    curl_easy_setopt(h, CURLOPT_PASSWORD, reinterpret_cast<const char*>(password.data()));
    if (!s.session_token.empty()) {
      std::string line = "x-amz-security-token: " + std::string(s.session_token.view());
      ok = ok && Append(headers, line);
      WipeString(line);
    }
  }
  if (!ok) return MakeError(ErrorCode::kInternal, "curl: out of memory building headers");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());

  CURLcode rc = curl_easy_perform(h);
  // Drop curl's pointers to buffers that die with this frame.
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(h, CURLOPT_CONNECT_TO, nullptr);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);

  if (rc != CURLE_OK) {
    std::string detail = errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(rc);
    log::Debug("http.request.failed", {{"method", request.method},
                                       {"endpoint", parts.endpoint},
                                       {"curl_code", static_cast<int>(rc)}});
    switch (rc) {
      case CURLE_COULDNT_RESOLVE_HOST:
        return MakeError(ErrorCode::kUnavailable,
                         fmt::format("{}: cannot resolve host '{}' ({}); check the endpoint URL "
                                     "and DNS",
                                     what, parts.host, detail));
      case CURLE_COULDNT_CONNECT:
        return MakeError(ErrorCode::kUnavailable,
                         fmt::format("{}: cannot connect to {} ({}); check the endpoint URL and "
                                     "that the service is running and reachable",
                                     what, parts.endpoint, detail));
      case CURLE_OPERATION_TIMEDOUT:
        return MakeError(ErrorCode::kDeadlineExceeded,
                         fmt::format("{}: no complete answer from {} within {} ms ({}); the "
                                     "outcome on the server is unknown",
                                     what, parts.endpoint, request.timeout.count(), detail));
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CONNECT_ERROR:
        return MakeError(ErrorCode::kUnavailable,
                         fmt::format("{}: TLS with {} failed ({}); check the CA file and that the "
                                     "certificate matches the host name",
                                     what, parts.endpoint, detail));
      case CURLE_WRITE_ERROR:
        if (sink.overflow) {
          return MakeError(
              ErrorCode::kResourceExhausted,
              fmt::format("{}: response body exceeds {} bytes", what, opt.max_response_bytes));
        }
        [[fallthrough]];
      case CURLE_URL_MALFORMAT:
        if (rc == CURLE_URL_MALFORMAT) {
          return MakeError(ErrorCode::kInvalidArgument,
                           fmt::format("{}: URL rejected by curl ({})", what, detail));
        }
        [[fallthrough]];
      default:
        return MakeError(ErrorCode::kUnavailable, fmt::format("{}: exchange with {} failed ({})",
                                                              what, parts.endpoint, detail));
    }
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  return response;
}

}  // namespace vigie::http
