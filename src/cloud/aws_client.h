#pragma once
// AwsClient: sends SigV4-signed requests to AWS (or an emulator such as moto) through the
// HttpClient seam, and turns AWS error replies into vigie Errors with a hint for a person.
//
// Ownership: borrows the HttpClient and Clock (both must outlive the client); owns a copy of the
// credentials. Thread-safety: Call() is const and may run from several threads if the HttpClient
// allows it (CurlClient does, serialising exchanges).
//
// SECURITY: credentials live in SecretBytes; nothing here logs a request or response body, a
// signature or a token. Error messages carry AWS's own error code and message text (which never
// contain credentials), capped in length.

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "base/env.h"
#include "base/error.h"
#include "cloud/sigv4.h"
#include "http/client.h"

namespace vigie::cloud {

// Reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and (optional) AWS_SESSION_TOKEN.
// Errors: kInvalidArgument naming the first missing or empty variable.
Result<AwsCredentials> LoadAwsCredentialsFromEnv();
// Same, reading variables through `getenv` (tests).
Result<AwsCredentials> LoadAwsCredentialsFromEnv(
    const std::function<const char*(const char*)>& getenv);

struct AwsClientOptions {
  // Base URL used for every service instead of AWS's endpoints, e.g. "http://127.0.0.1:5000"
  // for moto (scheme://host[:port], no path). Empty: https://<service>.<region>.amazonaws.com
  // (IAM: https://iam.amazonaws.com).
  std::string endpoint_override;
  std::chrono::milliseconds timeout{30000};
};

class AwsClient {
 public:
  AwsClient(http::HttpClient& http, Clock& clock, AwsCredentials credentials,
            AwsClientOptions options = {});

  // Signs (SigV4, with the rules AWS requires for `service`: see SigV4OptionsFor) and sends one
  // request. `path` and `query` are as they go on the wire (percent-encoded, query without '?');
  // `headers` are sent and signed (Host is added when absent).
  // Returns the response for a 2xx status. Otherwise an Error whose message reads
  // "aws <service> <operation>: <AwsCode>: <AWS message>; <hint> (HTTP <status>)" with the code
  // mapped by AwsErrorFromResponse; transport failures keep the HttpClient's code
  // (kUnavailable, kDeadlineExceeded) with "aws <service> <operation>: " prepended.
  Result<http::HttpResponse> Call(std::string_view service, std::string_view region,
                                  std::string_view method, std::string_view path,
                                  std::string_view query, const HeaderList& headers,
                                  std::string body) const;

  // The base URL requests for `service` in `region` go to.
  std::string EndpointFor(std::string_view service, std::string_view region) const;

 private:
  http::HttpClient& http_;
  Clock& clock_;
  AwsCredentials credentials_;
  AwsClientOptions options_;
};

// The AWS error in a non-2xx reply: query/XML protocols (<Error><Code>..</Code><Message>..) and
// JSON 1.0/1.1 ({"__type":"ns#Code","message":..}; also "Message", and the x-amzn-ErrorType
// header). Empty fields when the body is neither.
struct AwsErrorInfo {
  std::string code;
  std::string message;
};
AwsErrorInfo ParseAwsError(const http::HttpResponse& response);

// Builds the Error for a non-2xx reply. `context` is "aws <service> <operation>". Codes:
// SignatureDoesNotMatch, InvalidClientTokenId, UnrecognizedClientException, ExpiredToken... ->
// kUnauthenticated; AccessDenied(Exception) -> kPermissionDenied; Throttling(Exception) ->
// kResourceExhausted; NoSuchEntity/ResourceNotFoundException/NoSuch* -> kNotFound;
// EntityAlreadyExists/ResourceExistsException -> kAlreadyExists; otherwise by status (5xx ->
// kUnavailable, 4xx -> kInvalidArgument, 404 -> kNotFound, 409 -> kConflict).
Error AwsErrorFromResponse(std::string_view context, const http::HttpResponse& response);

}  // namespace vigie::cloud
