#pragma once
// AWS Signature Version 4 (header form), written to the published algorithm:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
//
// Which signer vigie uses, decided from sigv4_curl_test.cc, which replays the 38 awslabs
// aws-c-auth v4 vectors through curl 7.88.1's CURLOPT_AWS_SIGV4 and captures on a loopback socket
// what curl actually sends (20 match, 16 differ, 2 cannot be sent):
//   * Every AWS service vigie calls (IAM, STS, Secrets Manager, KMS, S3) is signed by SigV4Sign()
//     below, through AwsClient (aws_client.h). curl's built-in signer is used for none of them.
//   * Why: curl matches only the plain shapes (single-valued headers, a query already sorted and
//     encoded, a path needing no normalisation). It puts the query in the canonical request as
//     sent, unsorted and not re-encoded (IAM/STS query calls with parameters in the URL break);
//     signs a repeated header once per occurrence instead of joining the values; does not unfold
//     multi-line values; never normalises or double-encodes the path; cannot sign
//     Content-Length; has no session-token or x-amz-content-sha256 support (S3 needs the latter),
//     so both must be passed as plain headers; sends X-Amz-Date twice when the caller pins it;
//     and signs header-removal directives ("Accept:") as empty headers it does not send.
//   * CurlClientOptions::aws_sigv4 remains for comparison tests and simple one-off calls only.
//
// SECURITY: the secret access key is used only inside SigV4Sign (derived keys are wiped); the
// result holds no secret, except headers_to_add, which carries the session token when present.
// Stateless and thread-safe.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/env.h"
#include "base/error.h"
#include "base/secret.h"

namespace vigie::cloud {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct AwsCredentials {
  std::string access_key_id;  // "AKIA..." (not a secret: it appears in every Authorization)
  SecretBytes secret_access_key;
  SecretBytes session_token;  // empty for long-term keys
  AwsCredentials Clone() const {
    return {access_key_id, secret_access_key.Clone(), session_token.Clone()};
  }
};

struct SigV4Request {
  std::string method;  // "GET", "POST", ...
  // The path exactly as it goes on the wire (already percent-encoded by the caller for S3; for
  // other services SigV4 encodes it once more, see SigV4Options::double_encode_path).
  std::string path = "/";
  // The query string as it goes on the wire, without '?' ("Action=ListUsers&Version=2010-05-08").
  // Parameters are percent-decoded, re-encoded with the SigV4 rules and sorted; '+' is a literal
  // plus, not a space (send spaces as %20).
  std::string query;
  // Every header here is signed (REQUIRES: a Host header). Names are case-insensitive; repeated
  // names are joined with ',' in order; obs-folded (multi-line) values are unfolded. Must not
  // contain Authorization, X-Amz-Date or X-Amz-Security-Token: the signer adds those.
  HeaderList headers;
  std::string body;
  // Hex payload hash to sign instead of SHA-256(body), e.g. "UNSIGNED-PAYLOAD" for S3. Empty: hash
  // the body.
  std::string payload_hash;
};

struct SigV4Options {
  // S3: add and sign x-amz-content-sha256 carrying the payload hash.
  bool add_content_sha256_header = false;
  // Remove "." and ".." segments and collapse repeated '/' before encoding (false for S3, where
  // "a//b" and "a/./b" are distinct keys).
  bool normalize_path = true;
  // URI-encode the wire path once more (every service but S3).
  bool double_encode_path = true;
  // When a session token is present: true signs x-amz-security-token (the normal case); false adds
  // the header after signing, unsigned (some services, e.g. IoT, require that).
  bool sign_session_token = true;
};

// The options AWS requires for `service` ("s3": no normalisation, single encoding,
// x-amz-content-sha256; anything else: the defaults).
SigV4Options SigV4OptionsFor(std::string_view service);

struct SigV4Result {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;x-amz-date"
  std::string signature;       // lowercase hex
  std::string authorization;   // value of the Authorization header
  // Headers to send with the request, in this order: X-Amz-Date, then x-amz-content-sha256
  // and/or X-Amz-Security-Token when they apply, then Authorization.
  // SECURITY: contains the session token when there is one; never log it.
  HeaderList headers_to_add;
};

// Signs `request` at time `now` for `region`/`service`.
// Errors: kInvalidArgument when the request has no Host header, already carries a header the
// signer owns, has a malformed %-escape in its query, or when region/service/key id is empty.
Result<SigV4Result> SigV4Sign(const SigV4Request& request, const AwsCredentials& credentials,
                              std::string_view region, std::string_view service, WallTime now,
                              const SigV4Options& options = {});

// SigV4 URI encoding: every byte but A-Z a-z 0-9 - _ . ~ becomes %XY (uppercase hex); '/' is kept
// when `keep_slash`.
std::string SigV4UriEncode(std::string_view s, bool keep_slash);

// Lowercase hex SHA-256 of `data` (the payload hash SigV4 signs).
std::string Sha256Hex(std::string_view data);

}  // namespace vigie::cloud
