#pragma once
// AwsKms: the "aws" KmsBackend — AWS KMS, JSON 1.1 protocol (X-Amz-Target: TrentService.<Op>).
//
// Keys are symmetric (KeySpec SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT). DescribeKey folds
// GetKeyRotationStatus (KeyRotationEnabled, RotationPeriodInDays) and ListKeyRotations (the
// latest rotation date, best effort) into KmsKeyInfo. When rotation is on but the reply has no
// RotationPeriodInDays (the API before custom periods, or an emulator: moto 5 omits it), the
// period is AWS's fixed default, 365 days.
//
// Limits are checked here, never left to the peer (moto accepts a 30-day rotation period):
// EnableKeyRotation needs 90..2560 days, ScheduleKeyDeletion 7..30 days; kInvalidArgument else.
//
// Errors: NotFoundException -> kNotFound; InvalidCiphertextException / IncorrectKeyException ->
// kIntegrity (the ciphertext was altered or belongs to another key); KMSInvalidStateException /
// DisabledException -> kFailedPrecondition (the key is disabled or pending deletion); the rest as
// cloud::AwsErrorFromResponse maps them. Replies are parsed as JSON whatever their Content-Type
// (moto answers text/html).
//
// Ownership: borrows the AwsClient, which must outlive this object.
// Thread-safety: no mutable state; safe from several threads when the AwsClient's HttpClient is.
// SECURITY: plaintexts travel base64-encoded in one pre-sized request buffer; the base64 text,
// the reply bodies and the parsed JSON that held a plaintext are wiped; plaintexts are returned
// only as SecretBytes. Nothing is logged but key ids.

#include <memory>
#include <string>
#include <string_view>

#include "backend/kms.h"
#include "cloud/aws_client.h"

namespace vigie::backend {

struct AwsKmsOptions {
  std::string region;  // KMS region (config aws.region). Required.
};

class AwsKms final : public KmsBackend {
 public:
  static constexpr int kMinRotationDays = 90;
  static constexpr int kMaxRotationDays = 2560;
  static constexpr int kMinPendingDays = 7;
  static constexpr int kMaxPendingDays = 30;

  // Errors: kInvalidArgument when options.region is empty or not [a-z0-9-]+.
  static Result<std::unique_ptr<AwsKms>> Create(const cloud::AwsClient& client,
                                                AwsKmsOptions options);

  std::string_view Name() const override { return "aws"; }

  // CreateKey{Description, KeyUsage ENCRYPT_DECRYPT, KeySpec SYMMETRIC_DEFAULT,
  // Tags [{TagKey, TagValue}]}. Rotation is off until EnableKeyRotation.
  Result<KmsKeyInfo> CreateKey(const std::string& description, const Tags& tags) override;
  // DescribeKey + GetKeyRotationStatus (+ ListKeyRotations). `enabled` is KeyMetadata.Enabled
  // and KeyState == "Enabled"; for a key pending deletion rotation is reported off.
  Result<KmsKeyInfo> DescribeKey(const std::string& key_id) override;
  // EnableKeyRotation{KeyId, RotationPeriodInDays}. REQUIRES 90..2560 (checked).
  Status EnableKeyRotation(const std::string& key_id, int period_days) override;
  // GenerateDataKey{KeyId, KeySpec AES_256}: 32 plaintext bytes and the wrapped blob.
  Result<DataKey> GenerateDataKey(const std::string& key_id) override;
  // Encrypt{KeyId, Plaintext}: the CiphertextBlob (AWS limit: 4096 plaintext bytes).
  Result<Bytes> Encrypt(const std::string& key_id, const SecretBytes& plaintext) override;
  // Decrypt{CiphertextBlob}: the blob names its key.
  Result<SecretBytes> Decrypt(const Bytes& ciphertext) override;
  // ScheduleKeyDeletion{KeyId, PendingWindowInDays}. REQUIRES 7..30 (checked). A key already
  // pending deletion, or unknown, counts as done.
  Status ScheduleKeyDeletion(const std::string& key_id, int pending_days) override;

 private:
  AwsKms(const cloud::AwsClient& client, AwsKmsOptions options)
      : client_(client), options_(std::move(options)) {}

  const cloud::AwsClient& client_;
  AwsKmsOptions options_;
};

}  // namespace vigie::backend
