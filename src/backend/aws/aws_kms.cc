#include "backend/aws/aws_kms.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "backend/aws/aws_common.h"
#include "base/log.h"

namespace vigie::backend {
namespace {

using aws_internal::AwsCodeOf;
using aws_internal::CallJson;
using aws_internal::JsonString;
using aws_internal::Recode;
using Json = nlohmann::json;

constexpr char kService[] = "kms";

std::string Target(std::string_view op) { return fmt::format("TrentService.{}", op); }

Error ForKey(Error e, std::string_view key_id) {
  const std::string code = AwsCodeOf(e);
  if (code == "InvalidCiphertextException" || code == "IncorrectKeyException") {
    e = Recode(std::move(e), ErrorCode::kIntegrity,
               "the ciphertext was altered, truncated or wrapped by another key");
  } else if (code == "KMSInvalidStateException" || code == "DisabledException") {
    e = Recode(std::move(e), ErrorCode::kFailedPrecondition,
               "the key is disabled or pending deletion: check it with DescribeKey (a key "
               "pending deletion can be restored with CancelKeyDeletion)");
  } else if (code == "InvalidKeyUsageException") {
    e = Recode(std::move(e), ErrorCode::kFailedPrecondition,
               "the key is not a symmetric ENCRYPT_DECRYPT key");
  }
  return key_id.empty() ? e.Wrap("aws kms") : e.Wrap(fmt::format("aws kms, key {}", key_id));
}

Status CheckKeyId(std::string_view key_id) {
  if (!key_id.empty() && key_id.size() <= 2048) return OkStatus();
  return MakeError(ErrorCode::kInvalidArgument,
                   "aws kms: key id is empty (or longer than 2048 characters); pass a key id, "
                   "key ARN or alias");
}

KmsKeyInfo InfoOf(const Json& meta) {
  KmsKeyInfo info;
  info.key_id = JsonString(meta, "KeyId");
  info.arn = JsonString(meta, "Arn");
  const std::string state = JsonString(meta, "KeyState");
  info.enabled = aws_internal::JsonBool(meta, "Enabled") && (state.empty() || state == "Enabled");
  info.created_at = aws_internal::JsonTime(meta, "CreationDate").value_or(WallTime{});
  return info;
}

Result<Json> KeyMetadataOf(Json reply, std::string_view op) {
  auto it = reply.find("KeyMetadata");
  if (it == reply.end() || !it->is_object()) {
    return MakeError(ErrorCode::kUnavailable,
                     fmt::format("aws kms {}: the reply has no KeyMetadata object; check that the "
                                 "endpoint is KMS or a compatible emulator",
                                 op));
  }
  return std::move(*it);
}

}  // namespace

Result<std::unique_ptr<AwsKms>> AwsKms::Create(const cloud::AwsClient& client,
                                               AwsKmsOptions options) {
  bool ok = !options.region.empty() && options.region.size() <= 32;
  for (char c : options.region) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  }
  if (!ok) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("aws kms backend: region '{}' is not valid; set aws.region "
                                 "(e.g. eu-west-3)",
                                 options.region.substr(0, 40)));
  }
  return std::unique_ptr<AwsKms>(new AwsKms(client, std::move(options)));
}

Result<KmsKeyInfo> AwsKms::CreateKey(const std::string& description, const Tags& tags) {
  Json req = {{"Description", description},
              {"KeyUsage", "ENCRYPT_DECRYPT"},
              {"KeySpec", "SYMMETRIC_DEFAULT"}};
  if (!tags.empty()) {
    Json list = Json::array();
    for (const auto& [k, v] : tags) list.push_back({{"TagKey", k}, {"TagValue", v}});
    req["Tags"] = std::move(list);
  }
  auto reply = CallJson(client_, kService, options_.region, Target("CreateKey"), req.dump());
  if (!reply) return tl::unexpected(ForKey(reply.error(), ""));
  VIGIE_ASSIGN_OR_RETURN(Json meta, KeyMetadataOf(std::move(*reply), "CreateKey"));
  KmsKeyInfo info = InfoOf(meta);
  if (info.key_id.empty()) {
    return MakeError(ErrorCode::kUnavailable, "aws kms CreateKey: the reply has no KeyId");
  }
  log::Info("backend.aws.kms.key_created", {{"key_id", info.key_id}});
  return info;
}

Result<KmsKeyInfo> AwsKms::DescribeKey(const std::string& key_id) {
  VIGIE_RETURN_IF_ERROR(CheckKeyId(key_id));
  const Json by_id = {{"KeyId", key_id}};
  auto reply = CallJson(client_, kService, options_.region, Target("DescribeKey"), by_id.dump());
  if (!reply) return tl::unexpected(ForKey(reply.error(), key_id));
  VIGIE_ASSIGN_OR_RETURN(Json meta, KeyMetadataOf(std::move(*reply), "DescribeKey"));
  KmsKeyInfo info = InfoOf(meta);
  const std::string state = JsonString(meta, "KeyState");
  // AWS refuses rotation queries on a key pending deletion (KMSInvalidStateException).
  if (state == "PendingDeletion" || state == "PendingReplicaDeletion") return info;

  auto rotation =
      CallJson(client_, kService, options_.region, Target("GetKeyRotationStatus"), by_id.dump());
  if (!rotation) return tl::unexpected(ForKey(rotation.error(), key_id));
  info.rotation_enabled = aws_internal::JsonBool(*rotation, "KeyRotationEnabled");
  if (info.rotation_enabled) {
    int64_t days = aws_internal::JsonInt(*rotation, "RotationPeriodInDays");
    info.rotation_period_days = days > 0 ? static_cast<int>(days) : 365;
  }

  // Best effort: ListKeyRotations is newer than the rest of the API; an older policy may not
  // allow it. Its absence only leaves last_rotated_at unknown.
  auto rotations =
      CallJson(client_, kService, options_.region, Target("ListKeyRotations"), by_id.dump());
  if (rotations) {
    auto list = rotations->find("Rotations");
    if (list != rotations->end() && list->is_array()) {
      for (const Json& r : *list) {
        auto when = aws_internal::JsonTime(r, "RotationDate");
        if (when && (!info.last_rotated_at || *when > *info.last_rotated_at)) {
          info.last_rotated_at = when;
        }
      }
    }
  } else {
    log::Debug("backend.aws.kms.list_rotations_failed",
               {{"key_id", key_id}, {"error_code", ErrorCodeName(rotations.error().code)}});
  }
  return info;
}

Status AwsKms::EnableKeyRotation(const std::string& key_id, int period_days) {
  VIGIE_RETURN_IF_ERROR(CheckKeyId(key_id));
  if (period_days < kMinRotationDays || period_days > kMaxRotationDays) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("aws kms, key {}: rotation period {} days is outside AWS KMS's "
                                 "range {}..{}; vigie uses at most 365 (MAINT_020, "
                                 "kms.key_rotation_period_days)",
                                 key_id, period_days, kMinRotationDays, kMaxRotationDays));
  }
  const Json req = {{"KeyId", key_id}, {"RotationPeriodInDays", period_days}};
  auto reply =
      CallJson(client_, kService, options_.region, Target("EnableKeyRotation"), req.dump());
  if (!reply) return tl::unexpected(ForKey(reply.error(), key_id));
  log::Info("backend.aws.kms.rotation_enabled", {{"key_id", key_id}, {"period_days", period_days}});
  return OkStatus();
}

Result<DataKey> AwsKms::GenerateDataKey(const std::string& key_id) {
  VIGIE_RETURN_IF_ERROR(CheckKeyId(key_id));
  const Json req = {{"KeyId", key_id}, {"KeySpec", "AES_256"}};
  auto reply = CallJson(client_, kService, options_.region, Target("GenerateDataKey"), req.dump(),
                        /*wipe_reply=*/true);
  if (!reply) return tl::unexpected(ForKey(reply.error(), key_id));
  Json& j = *reply;
  auto plaintext = aws_internal::SecretFromBase64(
      JsonString(j, "Plaintext"),
      fmt::format("aws kms, key {}: GenerateDataKey's Plaintext", key_id));
  auto blob = Base64Decode(JsonString(j, "CiphertextBlob"));
  aws_internal::WipeJson(j);
  if (!plaintext) return tl::unexpected(plaintext.error());
  if (plaintext->size() != 32 || !blob || blob->empty()) {
    return MakeError(ErrorCode::kUnavailable,
                     fmt::format("aws kms, key {}: GenerateDataKey returned a {}-byte data key "
                                 "(expected 32) or no valid CiphertextBlob",
                                 key_id, plaintext->size()));
  }
  return DataKey{.plaintext = std::move(*plaintext), .ciphertext = std::move(*blob)};
}

Result<Bytes> AwsKms::Encrypt(const std::string& key_id, const SecretBytes& plaintext) {
  VIGIE_RETURN_IF_ERROR(CheckKeyId(key_id));
  if (plaintext.empty() || plaintext.size() > 4096) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("aws kms, key {}: Encrypt takes 1..4096 bytes, got {}; use "
                                 "GenerateDataKey (envelope encryption) for larger data",
                                 key_id, plaintext.size()));
  }
  const Json fields = {{"KeyId", key_id}};
  auto reply = CallJson(client_, kService, options_.region, Target("Encrypt"),
                        aws_internal::JsonWithSecretField(fields, "Plaintext", plaintext));
  if (!reply) return tl::unexpected(ForKey(reply.error(), key_id));
  auto blob = Base64Decode(JsonString(*reply, "CiphertextBlob"));
  if (!blob || blob->empty()) {
    return MakeError(
        ErrorCode::kUnavailable,
        fmt::format("aws kms, key {}: Encrypt returned no valid CiphertextBlob", key_id));
  }
  return std::move(*blob);
}

Result<SecretBytes> AwsKms::Decrypt(const Bytes& ciphertext) {
  if (ciphertext.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "aws kms Decrypt: the ciphertext is empty");
  }
  const Json req = {{"CiphertextBlob", Base64Encode(ciphertext)}};
  auto reply = CallJson(client_, kService, options_.region, Target("Decrypt"), req.dump(),
                        /*wipe_reply=*/true);
  if (!reply) return tl::unexpected(ForKey(reply.error(), ""));
  auto plaintext = aws_internal::SecretFromBase64(JsonString(*reply, "Plaintext"),
                                                  "aws kms Decrypt's Plaintext");
  aws_internal::WipeJson(*reply);
  return plaintext;
}

Status AwsKms::ScheduleKeyDeletion(const std::string& key_id, int pending_days) {
  VIGIE_RETURN_IF_ERROR(CheckKeyId(key_id));
  if (pending_days < kMinPendingDays || pending_days > kMaxPendingDays) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("aws kms, key {}: deletion window {} days is outside AWS KMS's "
                                 "range {}..{}",
                                 key_id, pending_days, kMinPendingDays, kMaxPendingDays));
  }
  const Json req = {{"KeyId", key_id}, {"PendingWindowInDays", pending_days}};
  auto reply =
      CallJson(client_, kService, options_.region, Target("ScheduleKeyDeletion"), req.dump());
  if (!reply) {
    if (reply.error().code == ErrorCode::kNotFound) return OkStatus();
    if (AwsCodeOf(reply.error()) == "KMSInvalidStateException") {
      // Already pending deletion (a retried compensation) counts as done; anything else not.
      auto info = CallJson(client_, kService, options_.region, Target("DescribeKey"),
                           Json{{"KeyId", key_id}}.dump());
      if (info &&
          JsonString(info->value("KeyMetadata", Json::object()), "KeyState") == "PendingDeletion") {
        return OkStatus();
      }
    }
    return tl::unexpected(ForKey(reply.error(), key_id));
  }
  log::Info("backend.aws.kms.deletion_scheduled",
            {{"key_id", key_id}, {"pending_days", pending_days}});
  return OkStatus();
}

}  // namespace vigie::backend
