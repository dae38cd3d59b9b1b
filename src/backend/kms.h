#pragma once
// KmsBackend: key management (MAINT_020 rotation; envelope encryption of local secrets; the KMS
// key Vault's awskms seal uses, checked before Vault init: PROV_010).
//
// Implementations: "local" (versioned 256-bit keys in files under data_dir/kms, mode 0600,
// XChaCha20-Poly1305; a key "rotates" by adding a version, older versions still decrypt) and
// "aws" (AWS KMS JSON 1.1 API: CreateKey, DescribeKey, EnableKeyRotation with
// RotationPeriodInDays, GetKeyRotationStatus, GenerateDataKey, Encrypt, Decrypt,
// ScheduleKeyDeletion).
// Thread-safety: implementations are safe to call from several threads.

#include <optional>
#include <string>
#include <string_view>

#include "backend/secrets.h"
#include "base/encoding.h"
#include "base/env.h"
#include "base/error.h"
#include "base/secret.h"

namespace vigie::backend {

struct KmsKeyInfo {
  std::string key_id;
  std::string arn;
  bool enabled = false;
  bool rotation_enabled = false;
  int rotation_period_days = 0;  // 0 when rotation is off
  WallTime created_at;
  std::optional<WallTime> last_rotated_at;
};

struct DataKey {
  SecretBytes plaintext;  // 32 bytes; SECURITY: wipe by destruction after use
  Bytes ciphertext;       // the data key wrapped by the KMS key, safe to store
};

class KmsBackend {
 public:
  virtual ~KmsBackend() = default;
  virtual std::string_view Name() const = 0;  // "local" | "aws"

  virtual Result<KmsKeyInfo> CreateKey(const std::string& description, const Tags& tags) = 0;
  // kNotFound for an unknown key; a disabled or pending-deletion key returns enabled = false.
  virtual Result<KmsKeyInfo> DescribeKey(const std::string& key_id) = 0;
  // REQUIRES: 90 <= period_days <= 2560 (AWS limits); vigie passes <= 365 (MAINT_020).
  virtual Status EnableKeyRotation(const std::string& key_id, int period_days) = 0;
  virtual Result<DataKey> GenerateDataKey(const std::string& key_id) = 0;
  virtual Result<Bytes> Encrypt(const std::string& key_id, const SecretBytes& plaintext) = 0;
  // The ciphertext names its key; kIntegrity when it was altered.
  virtual Result<SecretBytes> Decrypt(const Bytes& ciphertext) = 0;
  // Compensation: AWS schedules deletion (7..30 days); local disables the key.
  virtual Status ScheduleKeyDeletion(const std::string& key_id, int pending_days) = 0;
};

}  // namespace vigie::backend
