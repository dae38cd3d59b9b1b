#include "backend/local/local_secrets.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <utility>

#include "base/log.h"
#include "crypto/aead.h"

namespace vigie::backend {
namespace {

using Json = nlohmann::json;
using store::Row;
using store::Rows;
using store::Txn;
using store::Value;

constexpr std::string_view kCurrent = "AWSCURRENT";
constexpr std::string_view kPrevious = "AWSPREVIOUS";
constexpr size_t kMaxNameSize = 512;
constexpr size_t kMaxStages = 20;
constexpr size_t kMaxStageSize = 256;

std::string ArnOf(const std::string& name) { return "local:secret:" + name; }

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

Status ValidateName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= kMaxNameSize;
  for (char c : name) {
    if (!ok) break;
    ok = IsAlnum(c) || std::string_view("/_+=.@-").find(c) != std::string_view::npos;
  }
  if (ok) return OkStatus();
  return MakeError(ErrorCode::kInvalidArgument,
                   fmt::format("secret name '{}' is invalid: use 1..{} characters of "
                               "[A-Za-z0-9/_+=.@-] (the AWS Secrets Manager rule)",
                               name, kMaxNameSize));
}

Status ValidateToken(const std::string& token) {
  if (token.empty()) return OkStatus();
  bool ok = token.size() >= 32 && token.size() <= 64 &&
            std::all_of(token.begin(), token.end(),
                        [](char c) { return IsAlnum(c) || c == '-' || c == '_'; });
  if (ok) return OkStatus();
  return MakeError(ErrorCode::kInvalidArgument,
                   fmt::format("request token '{}' is invalid: use 32..64 characters of "
                               "[A-Za-z0-9_-] (AWS ClientRequestToken rule), e.g. a UUID",
                               token));
}

Status ValidateStages(const std::vector<std::string>& stages) {
  if (stages.size() > kMaxStages) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("{} staging labels given; a version has at most {}", stages.size(),
                                 kMaxStages));
  }
  std::set<std::string> seen;
  for (const auto& s : stages) {
    if (s.empty() || s.size() > kMaxStageSize || !seen.insert(s).second) {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("staging label '{}' is empty, longer than {} characters or "
                                   "repeated",
                                   s, kMaxStageSize));
    }
  }
  return OkStatus();
}

Status ValidateTags(const Tags& tags) {
  for (const auto& [k, v] : tags) {
    if (k.empty() || k.size() > 128 || v.size() > 256) {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("tag '{}' is invalid: keys are 1..128 characters, values at "
                                   "most 256",
                                   k));
    }
  }
  return OkStatus();
}

Bytes AssociatedData(const std::string& name, const std::string& version_id) {
  Bytes ad(name.begin(), name.end());
  ad.push_back(0);  // names never hold NUL, so name||0||version is unambiguous
  ad.insert(ad.end(), version_id.begin(), version_id.end());
  return ad;
}

std::string RandomVersionId(Random& random) {
  uint8_t b[16];
  random.Fill(b);
  b[6] = (b[6] & 0x0f) | 0x40;  // UUID version 4
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  std::string h = HexEncode(b);
  return fmt::format("{}-{}-{}-{}-{}", h.substr(0, 8), h.substr(8, 4), h.substr(12, 4),
                     h.substr(16, 4), h.substr(20));
}

std::string StagesToJson(const std::vector<std::string>& stages) { return Json(stages).dump(); }

Result<std::vector<std::string>> StagesFromJson(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    return MakeError(ErrorCode::kIntegrity, "local_secrets.stages is not a JSON array");
  }
  std::vector<std::string> out;
  for (const auto& s : j) {
    if (!s.is_string()) {
      return MakeError(ErrorCode::kIntegrity, "local_secrets.stages holds a non-string");
    }
    out.push_back(s.get<std::string>());
  }
  return out;
}

bool HasStage(const std::vector<std::string>& stages, std::string_view s) {
  return std::find(stages.begin(), stages.end(), s) != stages.end();
}

// One stored version, as read inside or outside a write job.
struct StoredVersion {
  std::string version_id;
  std::vector<std::string> stages;
  Bytes ciphertext;
  Bytes wrapped_data_key;
  int64_t created_at = 0;
};

Result<StoredVersion> ParseVersion(const Row& row) {
  StoredVersion v;
  VIGIE_ASSIGN_OR_RETURN(v.version_id, row.GetText("version_id"));
  VIGIE_ASSIGN_OR_RETURN(std::string stages, row.GetText("stages"));
  VIGIE_ASSIGN_OR_RETURN(v.stages, StagesFromJson(stages));
  VIGIE_ASSIGN_OR_RETURN(v.ciphertext, row.GetBlob("ciphertext"));
  VIGIE_ASSIGN_OR_RETURN(v.wrapped_data_key, row.GetBlob("wrapped_data_key"));
  VIGIE_ASSIGN_OR_RETURN(v.created_at, row.GetInt("created_at"));
  return v;
}

constexpr const char* kSelectVersions =
    "SELECT version_id, stages, ciphertext, wrapped_data_key, created_at FROM local_secrets "
    "WHERE name = ? ORDER BY seq";

Result<std::vector<StoredVersion>> ParseVersions(const Rows& rows) {
  std::vector<StoredVersion> out;
  for (const auto& row : rows) {
    VIGIE_ASSIGN_OR_RETURN(StoredVersion v, ParseVersion(row));
    out.push_back(std::move(v));
  }
  return out;
}

Error NoSuchSecret(const std::string& name) {
  return Error{ErrorCode::kNotFound,
               fmt::format("secret '{}' not found; create it first (Create)", name)};
}

}  // namespace

struct LocalSecrets::State {
  store::Store* store = nullptr;
  KmsBackend* kms = nullptr;
  Env env;
  std::mutex key_mu;
  std::string kms_key_id;  // GUARDED_BY(key_mu); empty until known

  Result<SecretBytes> Open(const std::string& name, const StoredVersion& v) {
    auto dk = kms->Decrypt(v.wrapped_data_key);
    if (!dk) {
      return tl::unexpected(dk.error().Wrap(
          fmt::format("unwrapping the data key of secret '{}' version '{}'", name, v.version_id)));
    }
    auto plain = crypto::AeadOpen(*dk, v.ciphertext, AssociatedData(name, v.version_id));
    if (!plain) {
      return MakeError(ErrorCode::kIntegrity,
                       fmt::format("secret '{}' version '{}' failed authentication: its stored "
                                   "ciphertext was altered or moved from another record",
                                   name, v.version_id));
    }
    return std::move(*plain);
  }
};

LocalSecrets::LocalSecrets(std::unique_ptr<State> state) : state_(std::move(state)) {}
LocalSecrets::~LocalSecrets() = default;

std::unique_ptr<LocalSecrets> NewLocalSecrets(store::Store& store, KmsBackend& kms,
                                              std::string kms_key_id, Env env) {
  auto state = std::make_unique<LocalSecrets::State>();
  state->store = &store;
  state->kms = &kms;
  state->env = env;
  state->kms_key_id = std::move(kms_key_id);
  return std::unique_ptr<LocalSecrets>(new LocalSecrets(std::move(state)));
}

Result<std::string> LocalSecrets::KmsKeyId() {
  State& s = *state_;
  std::lock_guard lock(s.key_mu);
  if (!s.kms_key_id.empty()) return s.kms_key_id;
  auto read_kv = [&]() -> Result<std::string> {
    VIGIE_ASSIGN_OR_RETURN(Rows rows, s.store->Query("SELECT value FROM kv WHERE key = ?",
                                                     {std::string(kLocalSecretsKmsKeyKv)}));
    if (rows.empty()) return std::string();
    VIGIE_ASSIGN_OR_RETURN(const Value* v, rows[0].Get("value"));
    if (const auto* text = std::get_if<std::string>(v)) return *text;
    if (const auto* blob = std::get_if<Bytes>(v)) return std::string(AsString(*blob));
    return MakeError(ErrorCode::kIntegrity,
                     fmt::format("kv '{}' is neither text nor blob", kLocalSecretsKmsKeyKv));
  };
  VIGIE_ASSIGN_OR_RETURN(std::string remembered, read_kv());
  if (remembered.empty()) {
    VIGIE_ASSIGN_OR_RETURN(KmsKeyInfo key,
                           s.kms->CreateKey("vigie local secrets: wraps the data keys of secrets "
                                            "kept in the fleet store",
                                            {{"vigie:purpose", "local-secrets"}}));
    VIGIE_RETURN_IF_ERROR(s.store->Write([&](Txn& t) {
      return t.Exec("INSERT INTO kv(key, value) VALUES(?, ?) ON CONFLICT(key) DO NOTHING",
                    {std::string(kLocalSecretsKmsKeyKv), key.key_id});
    }));
    VIGIE_ASSIGN_OR_RETURN(remembered, read_kv());
    if (remembered != key.key_id) {
      // Another process won the race; retire the key we made (nothing was encrypted under it).
      (void)s.kms->ScheduleKeyDeletion(key.key_id, 7);
    }
  }
  s.kms_key_id = remembered;
  return remembered;
}

Result<SecretVersion> LocalSecrets::AddVersion(bool create, const std::string& name,
                                               const SecretBytes& value, const Tags& tags,
                                               const std::string& request_token,
                                               std::vector<std::string> stages) {
  State& s = *state_;
  VIGIE_RETURN_IF_ERROR(ValidateName(name));
  VIGIE_RETURN_IF_ERROR(ValidateToken(request_token));
  VIGIE_RETURN_IF_ERROR(ValidateTags(tags));
  if (stages.empty()) stages.push_back(std::string(kCurrent));
  VIGIE_RETURN_IF_ERROR(ValidateStages(stages));
  VIGIE_ASSIGN_OR_RETURN(std::string key_id, KmsKeyId());

  // Encrypt outside the write job: the writer thread must not wait on the KMS.
  const std::string version_id =
      request_token.empty() ? RandomVersionId(*s.env.random) : request_token;
  VIGIE_ASSIGN_OR_RETURN(DataKey dk, s.kms->GenerateDataKey(key_id));
  VIGIE_ASSIGN_OR_RETURN(Bytes ciphertext,
                         crypto::AeadSeal(dk.plaintext, value.span(),
                                          AssociatedData(name, version_id), *s.env.random));
  const int64_t now = ToUnixSeconds(s.env.clock->Now());

  std::optional<StoredVersion> retry;  // set when the token's version already exists
  std::vector<std::string> final_stages = stages;
  Status st = s.store->Write([&](Txn& t) -> Status {
    retry.reset();
    VIGIE_ASSIGN_OR_RETURN(Rows names,
                           t.Query("SELECT name FROM local_secret_names WHERE name = ?", {name}));
    VIGIE_ASSIGN_OR_RETURN(Rows rows, t.Query(kSelectVersions, {name}));
    VIGIE_ASSIGN_OR_RETURN(std::vector<StoredVersion> versions, ParseVersions(rows));
    for (auto& v : versions) {
      if (v.version_id == version_id) {
        retry = std::move(v);
        return OkStatus();
      }
    }
    if (create && !names.empty()) {
      return MakeError(ErrorCode::kAlreadyExists,
                       fmt::format("secret '{}' already exists; add a version with PutVersion or "
                                   "choose another name",
                                   name));
    }
    if (!create && names.empty()) return tl::unexpected(NoSuchSecret(name));
    if (create) {
      VIGIE_RETURN_IF_ERROR(
          t.Exec("INSERT INTO local_secret_names(name, tags, created_at, last_changed_at) "
                 "VALUES(?, ?, ?, ?)",
                 {name, Json(tags).dump(), now, now}));
    }
    // A label sits on one version at most: take the new version's labels off the others, and
    // when AWSCURRENT moves, the version losing it becomes AWSPREVIOUS.
    const bool moves_current = HasStage(stages, kCurrent);
    for (auto& v : versions) {
      std::vector<std::string> next;
      const bool was_current = HasStage(v.stages, kCurrent);
      for (const auto& label : v.stages) {
        if (HasStage(stages, label)) continue;
        if (moves_current && label == kPrevious) continue;
        next.push_back(label);
      }
      if (moves_current && was_current && !HasStage(stages, kPrevious)) {
        next.push_back(std::string(kPrevious));
      }
      if (next != v.stages) {
        VIGIE_RETURN_IF_ERROR(
            t.Exec("UPDATE local_secrets SET stages = ? WHERE name = ? AND version_id = ?",
                   {StagesToJson(next), name, v.version_id}));
      }
    }
    VIGIE_RETURN_IF_ERROR(t.Exec(
        "INSERT INTO local_secrets(name, version_id, seq, ciphertext, wrapped_data_key, stages, "
        "request_token, created_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
        {name, version_id, static_cast<int64_t>(versions.size()) + 1, ciphertext, dk.ciphertext,
         StagesToJson(stages), request_token, now}));
    return t.Exec("UPDATE local_secret_names SET last_changed_at = ? WHERE name = ?", {now, name});
  });
  if (!st) return tl::unexpected(st.error());

  if (retry) {
    // Same token again: a retry of the same request, unless the value differs.
    VIGIE_ASSIGN_OR_RETURN(SecretBytes stored, s.Open(name, *retry));
    if (!stored.Equals(value)) {
      return MakeError(ErrorCode::kAlreadyExists,
                       fmt::format("request token '{}' was already used for secret '{}' with a "
                                   "different value; use a new token for a new value",
                                   request_token, name));
    }
    final_stages = retry->stages;
  } else {
    log::Info(create ? "secret.created" : "secret.version_added",
              {{"name", name}, {"version_id", version_id}, {"backend", "local"}});
  }
  return SecretVersion{name, ArnOf(name), version_id, final_stages};
}

Result<SecretVersion> LocalSecrets::Create(const std::string& name, const SecretBytes& value,
                                           const Tags& tags, const std::string& request_token) {
  return AddVersion(/*create=*/true, name, value, tags, request_token, {});
}

Result<SecretVersion> LocalSecrets::PutVersion(const std::string& name, const SecretBytes& value,
                                               const std::string& request_token,
                                               const std::vector<std::string>& stages) {
  return AddVersion(/*create=*/false, name, value, {}, request_token, stages);
}

Result<SecretBytes> LocalSecrets::Get(const std::string& name, const std::string& stage,
                                      const std::string& version_id) {
  State& s = *state_;
  VIGIE_RETURN_IF_ERROR(ValidateName(name));
  VIGIE_ASSIGN_OR_RETURN(Rows rows, s.store->Query(kSelectVersions, {name}));
  if (rows.empty()) return tl::unexpected(NoSuchSecret(name));
  VIGIE_ASSIGN_OR_RETURN(std::vector<StoredVersion> versions, ParseVersions(rows));
  for (const auto& v : versions) {
    if (version_id.empty() ? HasStage(v.stages, stage) : v.version_id == version_id) {
      return s.Open(name, v);
    }
  }
  return MakeError(ErrorCode::kNotFound,
                   version_id.empty()
                       ? fmt::format("secret '{}' has no version labelled '{}'", name, stage)
                       : fmt::format("secret '{}' has no version '{}'", name, version_id));
}

Result<std::vector<SecretInfo>> LocalSecrets::List(const std::string& prefix) {
  State& s = *state_;
  VIGIE_ASSIGN_OR_RETURN(
      Rows rows,
      s.store->Query("SELECT name, tags, created_at, last_changed_at FROM local_secret_names "
                     "WHERE substr(name, 1, ?) = ? ORDER BY name",
                     {static_cast<int64_t>(prefix.size()), prefix}));
  std::vector<SecretInfo> out;
  for (const auto& row : rows) {
    SecretInfo info;
    VIGIE_ASSIGN_OR_RETURN(info.name, row.GetText("name"));
    info.arn = ArnOf(info.name);
    VIGIE_ASSIGN_OR_RETURN(std::string tags, row.GetText("tags"));
    Json j = Json::parse(tags, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return MakeError(ErrorCode::kIntegrity,
                       fmt::format("tags of secret '{}' are not a JSON object", info.name));
    }
    for (const auto& [k, v] : j.items()) {
      if (v.is_string()) info.tags[k] = v.get<std::string>();
    }
    VIGIE_ASSIGN_OR_RETURN(int64_t created, row.GetInt("created_at"));
    VIGIE_ASSIGN_OR_RETURN(int64_t changed, row.GetInt("last_changed_at"));
    info.created_at = FromUnixSeconds(created);
    info.last_changed_at = FromUnixSeconds(changed);
    out.push_back(std::move(info));
  }
  return out;
}

Status LocalSecrets::Delete(const std::string& name) {
  State& s = *state_;
  VIGIE_RETURN_IF_ERROR(ValidateName(name));
  int64_t deleted = 0;
  VIGIE_RETURN_IF_ERROR(s.store->Write([&](Txn& t) -> Status {
    VIGIE_ASSIGN_OR_RETURN(deleted,
                           t.ExecCount("DELETE FROM local_secrets WHERE name = ?", {name}));
    return t.Exec("DELETE FROM local_secret_names WHERE name = ?", {name});
  }));
  if (deleted > 0) {
    log::Info("secret.deleted", {{"name", name}, {"versions", deleted}, {"backend", "local"}});
  }
  return OkStatus();
}

Result<std::vector<SecretVersionInfo>> LocalSecrets::ListVersions(const std::string& name) {
  State& s = *state_;
  VIGIE_RETURN_IF_ERROR(ValidateName(name));
  VIGIE_ASSIGN_OR_RETURN(Rows rows, s.store->Query(kSelectVersions, {name}));
  if (rows.empty()) return tl::unexpected(NoSuchSecret(name));
  VIGIE_ASSIGN_OR_RETURN(std::vector<StoredVersion> versions, ParseVersions(rows));
  std::vector<SecretVersionInfo> out;
  for (auto& v : versions) {
    out.push_back({std::move(v.version_id), std::move(v.stages), FromUnixSeconds(v.created_at)});
  }
  return out;
}

}  // namespace vigie::backend
