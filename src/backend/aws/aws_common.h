#pragma once
// Internal to src/backend/aws (not part of the module's interface): what the three AWS backends
// share — form bodies for query APIs, JSON 1.1 calls, AWS error-code remapping, timestamps and the
// wiping of parsed replies that held a secret.
//
// Thread-safety: stateless functions, safe from any thread.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "base/env.h"
#include "base/error.h"
#include "base/secret.h"
#include "cloud/aws_client.h"

namespace vigie::backend::aws_internal {

inline constexpr char kFormContentType[] = "application/x-www-form-urlencoded; charset=utf-8";
inline constexpr char kJsonContentType[] = "application/x-amz-json-1.1";

// An AWS query-protocol body: "Action=<a>&Version=<v>&k=v...", every key and value percent-encoded
// (RFC 3986 unreserved characters kept), which any form decoder reads back exactly.
class QueryForm {
 public:
  QueryForm(std::string_view action, std::string_view version);
  QueryForm& Add(std::string_view key, std::string_view value);
  const std::string& body() const { return body_; }
  const std::string& action() const { return action_; }

 private:
  std::string action_;
  std::string body_;
};

// The AWS error code inside an Error built by cloud::AwsClient::Call, whose message reads
// "aws <service> <operation>: <Code>...": "" when the message does not have that shape.
std::string AwsCodeOf(const Error& error);

// `error` with its code replaced by `code` and, when `hint` is not empty, "; <hint>" appended.
Error Recode(Error error, ErrorCode code, std::string_view hint = "");

// Sends one JSON 1.1 request (X-Amz-Target: <target>) and parses the reply body as JSON whatever
// its Content-Type (moto's KMS answers text/html). A reply that is JSON null or empty becomes {}.
// SECURITY: when `wipe_reply`, the raw reply body is wiped once parsed; the caller then owns the
// secret strings inside the returned value and must WipeJson() it.
// Errors: those of AwsClient::Call; kUnavailable when a 2xx reply is not a JSON object.
Result<nlohmann::json> CallJson(const cloud::AwsClient& client, std::string_view service,
                                std::string_view region, std::string_view target, std::string body,
                                bool wipe_reply = false);

// `fields` (a JSON object holding no secret) with "<key>":"<base64 of value>" appended, built in
// one buffer sized up front so that no reallocation leaves a stray copy of the value behind.
// SECURITY: the result holds the secret (base64): hand it to AwsClient::Call by move.
std::string JsonWithSecretField(const nlohmann::json& fields, std::string_view key,
                                const SecretBytes& value);

// `b64` decoded into SecretBytes; the intermediate buffer is wiped. Errors: kIntegrity naming
// `what` when `b64` is not base64.
Result<SecretBytes> SecretFromBase64(std::string_view b64, std::string_view what);

// Overwrites every string (keys excluded) inside `j` with zeros.
void WipeJson(nlohmann::json& j);

// Field accessors that accept absent and null members ("", false, 0, nullopt).
std::string JsonString(const nlohmann::json& j, std::string_view key);
bool JsonBool(const nlohmann::json& j, std::string_view key);
int64_t JsonInt(const nlohmann::json& j, std::string_view key);
// AWS JSON timestamps: epoch seconds (number, possibly fractional) or an ISO 8601 string.
std::optional<WallTime> JsonTime(const nlohmann::json& j, std::string_view key);

// ISO 8601 UTC as AWS writes it: "2026-11-21T20:05:29Z", with optional fractional seconds and
// "Z" or "+00:00". Errors: kInvalidArgument naming the text.
Result<WallTime> ParseIso8601(std::string_view text);

}  // namespace vigie::backend::aws_internal
