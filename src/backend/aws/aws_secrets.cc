#include "backend/aws/aws_secrets.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "backend/aws/aws_common.h"
#include "base/encoding.h"
#include "base/log.h"
#include "base/secret.h"
#include "crypto/hash.h"

namespace vigie::backend {
namespace {

using aws_internal::CallJson;
using aws_internal::JsonString;
using aws_internal::Recode;
using Json = nlohmann::json;

constexpr char kService[] = "secretsmanager";

std::string Target(std::string_view op) { return fmt::format("secretsmanager.{}", op); }

Status CheckName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 512;
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                std::string_view("/_+=.@-").find(c) != std::string_view::npos);
  }
  if (ok) return OkStatus();
  return MakeError(ErrorCode::kInvalidArgument,
                   fmt::format("secret name '{}' is not valid for AWS Secrets Manager: use 1..512 "
                               "characters of A-Z a-z 0-9 / _ + = . @ -",
                               name.substr(0, 80)));
}

Status CheckToken(std::string_view token, std::string_view name) {
  if (!token.empty()) return OkStatus();
  return MakeError(ErrorCode::kInvalidArgument,
                   fmt::format("secret '{}': request_token is empty; pass a token that stays the "
                               "same across retries of this write (e.g. the provisioning job id "
                               "and step)",
                               name));
}

std::string BodyWithSecret(const Json& fields, const SecretBytes& value) {
  return aws_internal::JsonWithSecretField(fields, "SecretBinary", value);
}

std::vector<std::string> StagesOf(const Json& j) {
  std::vector<std::string> out;
  auto it = j.find("VersionStages");
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& s : *it) {
    if (s.is_string()) out.push_back(s.get<std::string>());
  }
  return out;
}

Error ForSecret(Error e, std::string_view name) {
  if (aws_internal::AwsCodeOf(e) == "InvalidRequestException") {
    e = Recode(std::move(e), ErrorCode::kFailedPrecondition,
               "the secret may be scheduled for deletion (restore it with RestoreSecret or wait "
               "for the deletion) or the request conflicts with its current state");
  }
  return e.Wrap(fmt::format("aws secrets, secret {}", name));
}

}  // namespace

std::string AwsClientRequestToken(std::string_view request_token) {
  bool usable = request_token.size() >= 32 && request_token.size() <= 64;
  for (char c : request_token) {
    usable = usable && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_');
  }
  if (usable) return std::string(request_token);
  // A name-based UUID (RFC 9562 version 8 layout) from a domain-separated SHA-256.
  std::string input = "vigie.secrets.client-request-token\n";
  input += request_token;
  crypto::Sha256Digest d = crypto::Sha256(AsBytes(input));
  d[6] = static_cast<uint8_t>((d[6] & 0x0f) | 0x80);
  d[8] = static_cast<uint8_t>((d[8] & 0x3f) | 0x80);
  std::string hex = HexEncode(std::span<const uint8_t>(d.data(), 16));
  return fmt::format("{}-{}-{}-{}-{}", hex.substr(0, 8), hex.substr(8, 4), hex.substr(12, 4),
                     hex.substr(16, 4), hex.substr(20, 12));
}

struct AwsSecrets::Fetched {
  SecretVersion version;
  SecretBytes value;
};

Result<std::unique_ptr<AwsSecrets>> AwsSecrets::Create(const cloud::AwsClient& client,
                                                       AwsSecretsOptions options) {
  bool ok = !options.region.empty() && options.region.size() <= 32;
  for (char c : options.region)
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  if (!ok) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("aws secrets backend: region '{}' is not valid; set aws.region "
                                 "(e.g. eu-west-3)",
                                 options.region.substr(0, 40)));
  }
  return std::unique_ptr<AwsSecrets>(new AwsSecrets(client, std::move(options)));
}

Result<AwsSecrets::Fetched> AwsSecrets::Fetch(const std::string& name, const std::string& stage,
                                              const std::string& version_id) {
  Json req = {{"SecretId", name}};
  if (!version_id.empty()) {
    req["VersionId"] = version_id;
  } else {
    req["VersionStage"] = stage.empty() ? "AWSCURRENT" : stage;
  }
  auto reply = CallJson(client_, kService, options_.region, Target("GetSecretValue"), req.dump(),
                        /*wipe_reply=*/true);
  if (!reply) return tl::unexpected(std::move(reply).error());
  Json& j = *reply;
  Fetched f;
  f.version = SecretVersion{.name = JsonString(j, "Name"),
                            .arn = JsonString(j, "ARN"),
                            .version_id = JsonString(j, "VersionId"),
                            .stages = StagesOf(j)};
  Status decoded = OkStatus();
  auto bin = j.find("SecretBinary");
  auto str = j.find("SecretString");
  if (bin != j.end() && bin->is_string()) {
    auto value = aws_internal::SecretFromBase64(
        bin->get_ref<const std::string&>(),
        fmt::format("aws secrets, secret {}: GetSecretValue's SecretBinary", name));
    if (value) {
      f.value = std::move(*value);
    } else {
      decoded = tl::unexpected(value.error());
    }
  } else if (str != j.end() && str->is_string()) {
    f.value = SecretBytes::CopyFrom(std::string_view(str->get_ref<const std::string&>()));
  } else {
    decoded = MakeError(ErrorCode::kUnavailable,
                        fmt::format("aws secrets, secret {}: GetSecretValue returned neither "
                                    "SecretBinary nor SecretString",
                                    name));
  }
  aws_internal::WipeJson(j);
  if (!decoded) return tl::unexpected(decoded.error());
  return f;
}

Result<SecretVersion> AwsSecrets::SameVersionOrConflict(const std::string& name,
                                                        const SecretBytes& value,
                                                        const std::string& token,
                                                        const Error& cause) {
  auto existing = Fetch(name, "", token);
  if (existing && existing->value.Equals(value)) return std::move(existing->version);
  if (!existing && existing.error().code != ErrorCode::kNotFound) {
    return tl::unexpected(ForSecret(existing.error(), name));
  }
  std::string why =
      existing ? "this request token was already used with a different value"
               : "the secret already exists and was written by another request (another token)";
  return tl::unexpected(Recode(cause, ErrorCode::kAlreadyExists, why)
                            .Wrap(fmt::format("aws secrets, secret {}", name)));
}

Result<SecretVersion> AwsSecrets::Create(const std::string& name, const SecretBytes& value,
                                         const Tags& tags, const std::string& request_token) {
  VIGIE_RETURN_IF_ERROR(CheckName(name));
  VIGIE_RETURN_IF_ERROR(CheckToken(request_token, name));
  const std::string token = AwsClientRequestToken(request_token);
  Json fields = {{"Name", name}, {"ClientRequestToken", token}};
  if (!tags.empty()) {
    Json list = Json::array();
    for (const auto& [k, v] : tags) list.push_back({{"Key", k}, {"Value", v}});
    fields["Tags"] = std::move(list);
  }
  auto reply = CallJson(client_, kService, options_.region, Target("CreateSecret"),
                        BodyWithSecret(fields, value));
  if (!reply) {
    if (reply.error().code == ErrorCode::kAlreadyExists) {
      return SameVersionOrConflict(name, value, token, reply.error());
    }
    return tl::unexpected(ForSecret(reply.error(), name));
  }
  SecretVersion v{.name = JsonString(*reply, "Name"),
                  .arn = JsonString(*reply, "ARN"),
                  .version_id = JsonString(*reply, "VersionId"),
                  .stages = {"AWSCURRENT"}};
  if (v.name.empty()) v.name = name;
  log::Info("backend.aws.secret.created", {{"secret", name}, {"version_id", v.version_id}});
  return v;
}

Result<SecretVersion> AwsSecrets::PutVersion(const std::string& name, const SecretBytes& value,
                                             const std::string& request_token,
                                             const std::vector<std::string>& stages) {
  VIGIE_RETURN_IF_ERROR(CheckName(name));
  VIGIE_RETURN_IF_ERROR(CheckToken(request_token, name));
  const std::string token = AwsClientRequestToken(request_token);
  // A retry of a put that reached AWS: answer from the version the token names.
  auto existing = Fetch(name, "", token);
  if (existing) {
    if (existing->value.Equals(value)) return std::move(existing->version);
    return MakeError(ErrorCode::kAlreadyExists,
                     fmt::format("aws secrets, secret {}: request token already used for version "
                                 "{} with a different value; use a new token for a new value",
                                 name, token));
  }
  if (existing.error().code != ErrorCode::kNotFound) {
    return tl::unexpected(ForSecret(existing.error(), name));
  }
  Json fields = {{"SecretId", name}, {"ClientRequestToken", token}};
  if (!stages.empty()) fields["VersionStages"] = stages;
  auto reply = CallJson(client_, kService, options_.region, Target("PutSecretValue"),
                        BodyWithSecret(fields, value));
  if (!reply) {
    if (reply.error().code == ErrorCode::kAlreadyExists) {
      return SameVersionOrConflict(name, value, token, reply.error());
    }
    return tl::unexpected(ForSecret(reply.error(), name));
  }
  SecretVersion v{.name = JsonString(*reply, "Name"),
                  .arn = JsonString(*reply, "ARN"),
                  .version_id = JsonString(*reply, "VersionId"),
                  .stages = StagesOf(*reply)};
  if (v.name.empty()) v.name = name;
  if (v.stages.empty()) v.stages = stages.empty() ? std::vector<std::string>{"AWSCURRENT"} : stages;
  log::Info("backend.aws.secret.version_put", {{"secret", name}, {"version_id", v.version_id}});
  return v;
}

Result<SecretBytes> AwsSecrets::Get(const std::string& name, const std::string& stage,
                                    const std::string& version_id) {
  VIGIE_RETURN_IF_ERROR(CheckName(name));
  auto f = Fetch(name, stage, version_id);
  if (!f) return tl::unexpected(ForSecret(f.error(), name));
  return std::move(f->value);
}

Result<std::vector<SecretInfo>> AwsSecrets::List(const std::string& prefix) {
  std::vector<SecretInfo> out;
  std::string next;
  for (int page = 0; page < 10000; ++page) {
    Json req = {{"MaxResults", 100}};
    if (!prefix.empty()) {
      req["Filters"] = Json::array({Json{{"Key", "name"}, {"Values", Json::array({prefix})}}});
    }
    if (!next.empty()) req["NextToken"] = next;
    auto reply = CallJson(client_, kService, options_.region, Target("ListSecrets"), req.dump());
    if (!reply) {
      return tl::unexpected(
          reply.error().Wrap(fmt::format("aws secrets: listing secrets under '{}'", prefix)));
    }
    auto list = reply->find("SecretList");
    if (list != reply->end() && list->is_array()) {
      for (const Json& s : *list) {
        SecretInfo info;
        info.name = JsonString(s, "Name");
        if (!info.name.starts_with(prefix)) continue;
        info.arn = JsonString(s, "ARN");
        auto tags = s.find("Tags");
        if (tags != s.end() && tags->is_array()) {
          for (const Json& t : *tags) info.tags[JsonString(t, "Key")] = JsonString(t, "Value");
        }
        info.created_at = aws_internal::JsonTime(s, "CreatedDate").value_or(WallTime{});
        info.last_changed_at = aws_internal::JsonTime(s, "LastChangedDate");
        out.push_back(std::move(info));
      }
    }
    next = JsonString(*reply, "NextToken");
    if (next.empty()) return out;
  }
  return MakeError(ErrorCode::kResourceExhausted,
                   "aws secretsmanager ListSecrets: more than 10000 pages");
}

Status AwsSecrets::Delete(const std::string& name) {
  VIGIE_RETURN_IF_ERROR(CheckName(name));
  Json req = {{"SecretId", name}, {"ForceDeleteWithoutRecovery", true}};
  auto reply = CallJson(client_, kService, options_.region, Target("DeleteSecret"), req.dump());
  if (!reply) {
    if (reply.error().code == ErrorCode::kNotFound) return OkStatus();
    return tl::unexpected(ForSecret(reply.error(), name));
  }
  log::Info("backend.aws.secret.deleted", {{"secret", name}});
  return OkStatus();
}

}  // namespace vigie::backend
