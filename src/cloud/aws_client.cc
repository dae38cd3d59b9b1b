#include "cloud/aws_client.h"

#include <fmt/format.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "base/log.h"

namespace vigie::cloud {

namespace {

constexpr size_t kMaxAwsMessage = 500;

struct Hint {
  std::string_view code;
  ErrorCode error_code;
  std::string_view hint;
};

// Hints for the codes a person most often meets; the text says what to check.
constexpr Hint kHints[] = {
    {"SignatureDoesNotMatch", ErrorCode::kUnauthenticated,
     "check the secret access key (AWS_SECRET_ACCESS_KEY) and that the system clock is correct"},
    {"InvalidClientTokenId", ErrorCode::kUnauthenticated,
     "check the access key id (AWS_ACCESS_KEY_ID): it is unknown to AWS or deactivated"},
    {"UnrecognizedClientException", ErrorCode::kUnauthenticated,
     "check the access key id (AWS_ACCESS_KEY_ID): it is unknown to AWS or deactivated"},
    {"ExpiredToken", ErrorCode::kUnauthenticated,
     "the session token has expired; obtain fresh temporary credentials (AWS_SESSION_TOKEN)"},
    {"ExpiredTokenException", ErrorCode::kUnauthenticated,
     "the session token has expired; obtain fresh temporary credentials (AWS_SESSION_TOKEN)"},
    {"AccessDenied", ErrorCode::kPermissionDenied,
     "the credentials are valid but not allowed this action; check the IAM policy of the caller"},
    {"AccessDeniedException", ErrorCode::kPermissionDenied,
     "the credentials are valid but not allowed this action; check the IAM policy of the caller"},
    {"Throttling", ErrorCode::kResourceExhausted,
     "AWS is rate-limiting these calls; retry later with backoff"},
    {"ThrottlingException", ErrorCode::kResourceExhausted,
     "AWS is rate-limiting these calls; retry later with backoff"},
};

ErrorCode CodeFor(std::string_view aws_code, int status) {
  for (const auto& h : kHints) {
    if (h.code == aws_code) return h.error_code;
  }
  if (aws_code == "IncompleteSignature" || aws_code == "MissingAuthenticationToken" ||
      aws_code == "InvalidSignatureException") {
    return ErrorCode::kUnauthenticated;
  }
  if (aws_code == "NoSuchEntity" || aws_code == "ResourceNotFoundException" ||
      aws_code.substr(0, 6) == "NoSuch" || aws_code == "NotFoundException") {
    return ErrorCode::kNotFound;
  }
  if (aws_code == "EntityAlreadyExists" || aws_code == "ResourceExistsException" ||
      aws_code == "BucketAlreadyOwnedByYou" || aws_code == "AlreadyExistsException") {
    return ErrorCode::kAlreadyExists;
  }
  if (aws_code == "RequestLimitExceeded" || aws_code == "TooManyRequestsException" ||
      aws_code == "LimitExceeded" || aws_code == "LimitExceededException") {
    return ErrorCode::kResourceExhausted;
  }
  if (status >= 500) return ErrorCode::kUnavailable;
  if (status == 401) return ErrorCode::kUnauthenticated;
  if (status == 403) return ErrorCode::kPermissionDenied;
  if (status == 404) return ErrorCode::kNotFound;
  if (status == 409) return ErrorCode::kConflict;
  if (status == 429) return ErrorCode::kResourceExhausted;
  return ErrorCode::kInvalidArgument;
}

std::string XmlUnescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '&') {
      static constexpr std::pair<std::string_view, char> kEntities[] = {
          {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
      bool done = false;
      for (const auto& [entity, ch] : kEntities) {
        if (s.substr(i, entity.size()) == entity) {
          out += ch;
          i += entity.size() - 1;
          done = true;
          break;
        }
      }
      if (done) continue;
    }
    out += s[i];
  }
  return out;
}

// Text of the first <tag>..</tag> element, or "".
std::string XmlElement(std::string_view body, std::string_view tag) {
  std::string open = fmt::format("<{}>", tag);
  std::string close = fmt::format("</{}>", tag);
  size_t a = body.find(open);
  if (a == std::string_view::npos) return "";
  a += open.size();
  size_t b = body.find(close, a);
  if (b == std::string_view::npos) return "";
  return XmlUnescape(body.substr(a, b - a));
}

std::string_view QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
    size_t eq = piece.find('=');
    if (eq != std::string_view::npos && piece.substr(0, eq) == name) return piece.substr(eq + 1);
  }
  return "";
}

// The AWS operation a request performs, for messages: X-Amz-Target's suffix (JSON protocols),
// Action= (query protocols, in the query or a form body), else "METHOD path".
std::string OperationName(std::string_view method, std::string_view path, std::string_view query,
                          const HeaderList& headers, std::string_view body) {
  for (const auto& [k, v] : headers) {
    if (http::HeaderNameEquals(k, "X-Amz-Target")) {
      size_t dot = v.rfind('.');
      return dot == std::string::npos ? v : v.substr(dot + 1);
    }
  }
  std::string_view action = QueryParam(query, "Action");
  if (action.empty() && body.size() < 64 * 1024) action = QueryParam(body, "Action");
  if (!action.empty()) return std::string(action);
  return fmt::format("{} {}", method, path);
}

std::string ErrorCodeFromHeader(const http::HttpResponse& r) {
  // "x-amzn-ErrorType: ResourceNotFoundException:http://internal.amazon.com/..."
  std::string t = r.Header("x-amzn-ErrorType");
  size_t colon = t.find(':');
  return colon == std::string::npos ? t : t.substr(0, colon);
}

}  // namespace

Result<AwsCredentials> LoadAwsCredentialsFromEnv() {
  return LoadAwsCredentialsFromEnv([](const char* name) { return std::getenv(name); });
}

Result<AwsCredentials> LoadAwsCredentialsFromEnv(
    const std::function<const char*(const char*)>& getenv) {
  auto required = [&](const char* name) -> Result<std::string_view> {
    const char* v = getenv(name);
    if (v == nullptr || *v == '\0') {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("AWS credentials: environment variable {} is not set; export "
                                   "it (with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and "
                                   "AWS_SESSION_TOKEN for temporary credentials)",
                                   name));
    }
    return std::string_view(v);
  };
  AwsCredentials c;
  VIGIE_ASSIGN_OR_RETURN(std::string_view id, required("AWS_ACCESS_KEY_ID"));
  VIGIE_ASSIGN_OR_RETURN(std::string_view secret, required("AWS_SECRET_ACCESS_KEY"));
  c.access_key_id = std::string(id);
  c.secret_access_key = SecretBytes::CopyFrom(secret);
  const char* token = getenv("AWS_SESSION_TOKEN");
  if (token != nullptr && *token != '\0') {
    c.session_token = SecretBytes::CopyFrom(std::string_view(token));
  }
  return c;
}

AwsErrorInfo ParseAwsError(const http::HttpResponse& response) {
  AwsErrorInfo info;
  std::string_view body = response.body;
  size_t first = body.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && body[first] == '{') {
    auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) {
      auto str = [&](const char* key) -> std::string {
        auto it = j.find(key);
        return it != j.end() && it->is_string() ? it->get<std::string>() : "";
      };
      info.code = str("__type");
      size_t hash = info.code.rfind('#');
      if (hash != std::string::npos) info.code = info.code.substr(hash + 1);
      info.message = str("message");
      if (info.message.empty()) info.message = str("Message");
    }
  } else if (first != std::string_view::npos && body[first] == '<') {
    info.code = XmlElement(body, "Code");
    info.message = XmlElement(body, "Message");
  }
  if (info.code.empty()) info.code = ErrorCodeFromHeader(response);
  return info;
}

Error AwsErrorFromResponse(std::string_view context, const http::HttpResponse& response) {
  AwsErrorInfo info = ParseAwsError(response);
  std::string message = info.message;
  if (message.size() > kMaxAwsMessage) message = message.substr(0, kMaxAwsMessage) + "...";
  std::string text = fmt::format("{}: {}", context, info.code.empty() ? "error" : info.code);
  if (!message.empty()) text += ": " + message;
  for (const auto& h : kHints) {
    if (h.code == info.code) text += fmt::format("; {}", h.hint);
  }
  text += fmt::format(" (HTTP {})", response.status);
  return Error{CodeFor(info.code, response.status), std::move(text)};
}

AwsClient::AwsClient(http::HttpClient& http, Clock& clock, AwsCredentials credentials,
                     AwsClientOptions options)
    : http_(http),
      clock_(clock),
      credentials_(std::move(credentials)),
      options_(std::move(options)) {}

std::string AwsClient::EndpointFor(std::string_view service, std::string_view region) const {
  if (!options_.endpoint_override.empty()) {
    std::string e = options_.endpoint_override;
    while (!e.empty() && e.back() == '/') e.pop_back();
    return e;
  }
  if (service == "iam") return "https://iam.amazonaws.com";
  return fmt::format("https://{}.{}.amazonaws.com", service, region);
}

Result<http::HttpResponse> AwsClient::Call(std::string_view service, std::string_view region,
                                           std::string_view method, std::string_view path,
                                           std::string_view query, const HeaderList& headers,
                                           std::string body) const {
  const std::string context =
      fmt::format("aws {} {}", service, OperationName(method, path, query, headers, body));
  const std::string endpoint = EndpointFor(service, region);
  size_t scheme_end = endpoint.find("://");
  if (scheme_end == std::string::npos) {
    return MakeError(ErrorCode::kConfig,
                     fmt::format("{}: endpoint '{}' is not a URL (expected http(s)://host[:port])",
                                 context, endpoint));
  }
  std::string authority = endpoint.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find('/'));
  std::string scheme = endpoint.substr(0, scheme_end);
  // The Host that goes on the wire omits the default port; SigV4 signs exactly that value.
  if ((scheme == "https" && authority.ends_with(":443")) ||
      (scheme == "http" && authority.ends_with(":80"))) {
    authority = authority.substr(0, authority.rfind(':'));
  }

  SigV4Request sreq{.method = std::string(method),
                    .path = path.empty() ? "/" : std::string(path),
                    .query = std::string(query),
                    .headers = headers,
                    .body = std::move(body)};
  bool has_host = false;
  for (const auto& [k, v] : headers) has_host = has_host || http::HeaderNameEquals(k, "Host");
  if (!has_host) sreq.headers.emplace(sreq.headers.begin(), "Host", authority);

  auto signed_request =
      SigV4Sign(sreq, credentials_, region, service, clock_.Now(), SigV4OptionsFor(service));
  if (!signed_request) return tl::unexpected(signed_request.error().Wrap(context));

  http::HttpRequest hreq;
  hreq.method = sreq.method;
  hreq.url = endpoint + sreq.path;
  if (!sreq.query.empty()) hreq.url += "?" + sreq.query;
  hreq.headers = std::move(sreq.headers);
  for (auto& h : signed_request->headers_to_add) hreq.headers.push_back(std::move(h));
  hreq.body = std::move(sreq.body);
  hreq.timeout = options_.timeout;

  auto response = http_.Send(hreq);
  // The request held the Authorization header, maybe the session token, and for some calls a
  // secret in the body (CreateSecret, PutSecretValue, Encrypt): wipe our copies.
  for (auto& [k, v] : hreq.headers) WipeString(v);
  WipeString(hreq.body);
  if (!response) return tl::unexpected(response.error().Wrap(context));
  if (response->status >= 200 && response->status < 300) return response;

  Error error = AwsErrorFromResponse(context, *response);
  log::Warn("aws.call.failed", {{"service", service},
                                {"status", response->status},
                                {"error_code", ErrorCodeName(error.code)}});
  return tl::unexpected(std::move(error));
}

}  // namespace vigie::cloud
