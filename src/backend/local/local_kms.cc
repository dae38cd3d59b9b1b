#include "backend/local/local_kms.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "base/log.h"
#include "crypto/aead.h"

namespace vigie::backend {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kArnPrefix = "local:kms:";
constexpr std::string_view kKeyIdPrefix = "local-";
constexpr std::string_view kFileFormat = "vigie.local_kms_key.v1";
// Ciphertext header: magic (4) | key id length (1) | key id | version (4, big-endian).
constexpr std::string_view kMagic = "VKM1";
constexpr size_t kKeySize = 32;

struct KeyVersion {
  uint32_t version = 0;
  WallTime created_at;
  SecretBytes material;
};

struct KeyRecord {
  std::string key_id;
  std::string description;
  Tags tags;
  bool enabled = true;
  std::optional<WallTime> deletion_date;
  bool rotation_enabled = false;
  int rotation_period_days = 0;
  WallTime created_at;
  std::vector<KeyVersion> versions;  // ascending version numbers, never empty

  const KeyVersion& Newest() const { return versions.back(); }
  const KeyVersion* Find(uint32_t v) const {
    for (const auto& kv : versions) {
      if (kv.version == v) return &kv;
    }
    return nullptr;
  }
};

// The non-secret fields of a record, to undo a mutation whose file write failed.
struct Snapshot {
  bool enabled;
  std::optional<WallTime> deletion_date;
  bool rotation_enabled;
  int rotation_period_days;
  size_t version_count;
};

Snapshot Take(const KeyRecord& r) {
  return {r.enabled, r.deletion_date, r.rotation_enabled, r.rotation_period_days,
          r.versions.size()};
}
void Restore(KeyRecord& r, const Snapshot& s) {
  r.enabled = s.enabled;
  r.deletion_date = s.deletion_date;
  r.rotation_enabled = s.rotation_enabled;
  r.rotation_period_days = s.rotation_period_days;
  r.versions.resize(s.version_count);
}

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

std::string ArnOf(const std::string& key_id) { return std::string(kArnPrefix) + key_id; }

KmsKeyInfo InfoOf(const KeyRecord& r) {
  KmsKeyInfo info;
  info.key_id = r.key_id;
  info.arn = ArnOf(r.key_id);
  info.enabled = r.enabled && !r.deletion_date.has_value();
  info.rotation_enabled = r.rotation_enabled;
  info.rotation_period_days = r.rotation_enabled ? r.rotation_period_days : 0;
  info.created_at = r.created_at;
  if (r.versions.size() > 1) info.last_rotated_at = r.Newest().created_at;
  return info;
}

// SECURITY: the returned string holds hex key material; the caller wipes it after use.
std::string Serialize(const KeyRecord& r) {
  Json j = Json::object();
  j["format"] = kFileFormat;
  j["key_id"] = r.key_id;
  j["description"] = r.description;
  j["tags"] = r.tags;
  j["enabled"] = r.enabled;
  j["deletion_date"] = r.deletion_date ? Json(ToUnixSeconds(*r.deletion_date)) : Json(nullptr);
  j["rotation_enabled"] = r.rotation_enabled;
  j["rotation_period_days"] = r.rotation_period_days;
  j["created_at"] = ToUnixSeconds(r.created_at);
  j["versions"] = Json::array();
  for (const auto& v : r.versions) {
    std::string hex = HexEncode(v.material.span());
    j["versions"].push_back(
        {{"version", v.version}, {"created_at", ToUnixSeconds(v.created_at)}, {"material", hex}});
    WipeString(hex);
  }
  std::string out = j.dump(2);
  out.push_back('\n');
  for (auto& v : j["versions"]) WipeString(v["material"].get_ref<std::string&>());
  return out;
}

Result<KeyRecord> Parse(const std::string& path, std::string_view expected_id, std::string text) {
  auto corrupt = [&](std::string_view why) {
    return MakeError(ErrorCode::kIntegrity,
                     fmt::format("local KMS key file {} is corrupt ({}); restore it from a backup "
                                 "of the data directory",
                                 path, why));
  };
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  WipeString(text);
  if (j.is_discarded() || !j.is_object()) return corrupt("not a JSON object");
  KeyRecord r;
  try {
    if (j.at("format").get<std::string>() != kFileFormat) return corrupt("unknown format");
    r.key_id = j.at("key_id").get<std::string>();
    if (r.key_id != expected_id) return corrupt("key_id does not match the file name");
    r.description = j.at("description").get<std::string>();
    r.tags = j.at("tags").get<Tags>();
    r.enabled = j.at("enabled").get<bool>();
    if (!j.at("deletion_date").is_null()) {
      r.deletion_date = FromUnixSeconds(j.at("deletion_date").get<int64_t>());
    }
    r.rotation_enabled = j.at("rotation_enabled").get<bool>();
    r.rotation_period_days = j.at("rotation_period_days").get<int>();
    r.created_at = FromUnixSeconds(j.at("created_at").get<int64_t>());
    uint32_t last = 0;
    for (auto& v : j.at("versions")) {
      KeyVersion kv;
      kv.version = v.at("version").get<uint32_t>();
      kv.created_at = FromUnixSeconds(v.at("created_at").get<int64_t>());
      std::string& hex = v.at("material").get_ref<std::string&>();
      auto raw = HexDecode(hex);
      WipeString(hex);
      if (!raw || raw->size() != kKeySize) return corrupt("key material is not 32 bytes of hex");
      kv.material = SecretBytes::CopyFrom(*raw);
      WipeBytes(raw->data(), raw->size());
      if (kv.version <= last) return corrupt("versions are not in ascending order");
      last = kv.version;
      r.versions.push_back(std::move(kv));
    }
  } catch (const Json::exception& e) {
    if (j.contains("versions") && j["versions"].is_array()) {
      for (auto& v : j["versions"]) {
        if (v.is_object() && v.contains("material") && v["material"].is_string()) {
          WipeString(v["material"].get_ref<std::string&>());
        }
      }
    }
    return corrupt(fmt::format("missing or mistyped field: {}", e.what()));
  }
  if (r.versions.empty()) return corrupt("no key material versions");
  return r;
}

Bytes Header(std::string_view key_id, uint32_t version) {
  Bytes h(kMagic.begin(), kMagic.end());
  h.push_back(static_cast<uint8_t>(key_id.size()));
  h.insert(h.end(), key_id.begin(), key_id.end());
  for (int shift = 24; shift >= 0; shift -= 8) h.push_back(static_cast<uint8_t>(version >> shift));
  return h;
}

}  // namespace

bool IsLocalKmsKeyId(std::string_view key_id) {
  if (key_id.size() != kKeyIdPrefix.size() + 32 || !key_id.starts_with(kKeyIdPrefix)) {
    return false;
  }
  return std::all_of(key_id.begin() + kKeyIdPrefix.size(), key_id.end(), IsLowerHex);
}

struct LocalKms::State {
  std::string dir;  // <data dir>/kms
  Env env;
  std::mutex mu;
  std::map<std::string, KeyRecord> cache;  // GUARDED_BY(mu)

  // Accepts a key id or an ARN; returns the key id.
  Result<std::string> Normalize(const std::string& key_id_or_arn) const {
    std::string_view id = key_id_or_arn;
    if (id.starts_with(kArnPrefix)) id.remove_prefix(kArnPrefix.size());
    if (!IsLocalKmsKeyId(id)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("'{}' is not a local KMS key id (expected local-<32 hex> or "
                                   "local:kms:local-<32 hex>)",
                                   key_id_or_arn));
    }
    return std::string(id);
  }

  std::string PathOf(const std::string& key_id) const { return dir + "/" + key_id + ".key"; }

  // Reads the key file (bypassing the cache) and caches the result. REQUIRES: mu held.
  Result<KeyRecord*> Reload(const std::string& key_id) {
    const std::string path = PathOf(key_id);
    if (!env.fs->Exists(path)) {
      return MakeError(ErrorCode::kNotFound,
                       fmt::format("KMS key '{}' not found (no file {})", key_id, path));
    }
    VIGIE_ASSIGN_OR_RETURN(std::string text, env.fs->ReadFile(path));
    VIGIE_ASSIGN_OR_RETURN(KeyRecord rec, Parse(path, key_id, std::move(text)));
    auto [it, inserted] = cache.insert_or_assign(key_id, std::move(rec));
    return &it->second;
  }

  // The cached record, loaded on first use. REQUIRES: mu held.
  Result<KeyRecord*> Load(const std::string& key_id) {
    auto it = cache.find(key_id);
    if (it != cache.end()) return &it->second;
    return Reload(key_id);
  }

  // Persists `rec`; on failure undoes the in-memory change to `before`. REQUIRES: mu held.
  Status Persist(KeyRecord& rec, const Snapshot& before) {
    std::string data = Serialize(rec);
    Status st = env.fs->WriteFileAtomic(PathOf(rec.key_id), data, 0600);
    WipeString(data);
    if (!st) {
      Restore(rec, before);
      return tl::unexpected(st.error().Wrap(fmt::format("saving KMS key '{}'", rec.key_id)));
    }
    return OkStatus();
  }

  static Status RequireEnabled(const KeyRecord& rec, std::string_view operation) {
    if (rec.enabled && !rec.deletion_date) return OkStatus();
    return MakeError(ErrorCode::kFailedPrecondition,
                     fmt::format("KMS key '{}' is {}; {} needs an enabled key", rec.key_id,
                                 rec.deletion_date ? "pending deletion" : "disabled", operation));
  }

  // REQUIRES: mu held.
  Status AddVersion(KeyRecord& rec) {
    Snapshot before = Take(rec);
    KeyVersion v;
    v.version = rec.Newest().version + 1;
    v.created_at = FromUnixSeconds(ToUnixSeconds(env.clock->Now()));
    v.material = env.random->SecretOfSize(kKeySize);
    rec.versions.push_back(std::move(v));
    VIGIE_RETURN_IF_ERROR(Persist(rec, before));
    log::Info("kms.key_rotated",
              {{"key_id", rec.key_id}, {"version", rec.Newest().version}, {"backend", "local"}});
    return OkStatus();
  }

  Result<Bytes> EncryptLocked(const std::string& key_id, std::span<const uint8_t> plaintext) {
    VIGIE_ASSIGN_OR_RETURN(KeyRecord * rec, Load(key_id));
    VIGIE_RETURN_IF_ERROR(RequireEnabled(*rec, "Encrypt"));
    const KeyVersion& v = rec->Newest();
    Bytes out = Header(key_id, v.version);
    VIGIE_ASSIGN_OR_RETURN(Bytes sealed, crypto::AeadSeal(v.material, plaintext, out, *env.random));
    out.insert(out.end(), sealed.begin(), sealed.end());
    return out;
  }
};

LocalKms::LocalKms(std::unique_ptr<State> state) : state_(std::move(state)) {}
LocalKms::~LocalKms() = default;

std::string LocalKms::KeyPath(const std::string& key_id) const { return state_->PathOf(key_id); }

Result<std::unique_ptr<LocalKms>> OpenLocalKms(std::string dir, Env env) {
  if (dir.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "local KMS: the data directory is empty");
  }
  auto state = std::make_unique<LocalKms::State>();
  state->dir = std::move(dir) + "/kms";
  state->env = env;
  VIGIE_RETURN_IF_ERROR(env.fs->CreateDirs(state->dir, 0700));
  // mkdir leaves an existing directory's mode alone: narrow it, since it holds root keys.
  struct stat st;
  if (::stat(state->dir.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    if (::chmod(state->dir.c_str(), 0700) != 0) {
      return MakeError(ErrorCode::kIo,
                       fmt::format("local KMS directory {} is accessible to other users and "
                                   "chmod 0700 failed; fix its permissions",
                                   state->dir));
    }
    log::Warn("kms.dir_permissions_narrowed", {{"dir", state->dir}});
  }
  return std::unique_ptr<LocalKms>(new LocalKms(std::move(state)));
}

Result<KmsKeyInfo> LocalKms::CreateKey(const std::string& description, const Tags& tags) {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  KeyRecord rec;
  Bytes id(16);
  s.env.random->Fill(id);
  rec.key_id = std::string(kKeyIdPrefix) + HexEncode(id);
  rec.description = description;
  rec.tags = tags;
  // Whole seconds, as the key file records them, so a reloaded key describes the same.
  rec.created_at = FromUnixSeconds(ToUnixSeconds(s.env.clock->Now()));
  KeyVersion v;
  v.version = 1;
  v.created_at = rec.created_at;
  v.material = s.env.random->SecretOfSize(kKeySize);
  rec.versions.push_back(std::move(v));
  std::string data = Serialize(rec);
  Status st = s.env.fs->WriteFileAtomic(s.PathOf(rec.key_id), data, 0600);
  WipeString(data);
  if (!st) return tl::unexpected(st.error().Wrap("creating a local KMS key"));
  KmsKeyInfo info = InfoOf(rec);
  s.cache.insert_or_assign(rec.key_id, std::move(rec));
  log::Info("kms.key_created", {{"key_id", info.key_id}, {"backend", "local"}});
  return info;
}

Result<KmsKeyInfo> LocalKms::DescribeKey(const std::string& key_id) {
  State& s = *state_;
  VIGIE_ASSIGN_OR_RETURN(std::string id, s.Normalize(key_id));
  std::lock_guard lock(s.mu);
  VIGIE_ASSIGN_OR_RETURN(KeyRecord * rec, s.Load(id));
  return InfoOf(*rec);
}

Status LocalKms::EnableKeyRotation(const std::string& key_id, int period_days) {
  State& s = *state_;
  VIGIE_ASSIGN_OR_RETURN(std::string id, s.Normalize(key_id));
  if (period_days < kMinKeyRotationDays || period_days > kMaxKeyRotationDays) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("key rotation period of {} days for KMS key '{}' is out of range: "
                                 "it must be {}..{} days (MAINT_020 asks for at most 365)",
                                 period_days, id, kMinKeyRotationDays, kMaxKeyRotationDays));
  }
  std::lock_guard lock(s.mu);
  VIGIE_ASSIGN_OR_RETURN(KeyRecord * rec, s.Load(id));
  VIGIE_RETURN_IF_ERROR(State::RequireEnabled(*rec, "EnableKeyRotation"));
  Snapshot before = Take(*rec);
  rec->rotation_enabled = true;
  rec->rotation_period_days = period_days;
  return s.Persist(*rec, before);
}

Result<DataKey> LocalKms::GenerateDataKey(const std::string& key_id) {
  State& s = *state_;
  VIGIE_ASSIGN_OR_RETURN(std::string id, s.Normalize(key_id));
  DataKey dk;
  dk.plaintext = s.env.random->SecretOfSize(kKeySize);
  std::lock_guard lock(s.mu);
  VIGIE_ASSIGN_OR_RETURN(dk.ciphertext, s.EncryptLocked(id, dk.plaintext.span()));
  return dk;
}

Result<Bytes> LocalKms::Encrypt(const std::string& key_id, const SecretBytes& plaintext) {
  State& s = *state_;
  VIGIE_ASSIGN_OR_RETURN(std::string id, s.Normalize(key_id));
  if (plaintext.size() > kMaxKmsPlaintextSize) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("KMS Encrypt takes at most {} bytes ({} given); encrypt larger "
                                 "data under a data key (GenerateDataKey)",
                                 kMaxKmsPlaintextSize, plaintext.size()));
  }
  std::lock_guard lock(s.mu);
  return s.EncryptLocked(id, plaintext.span());
}

Result<SecretBytes> LocalKms::Decrypt(const Bytes& ciphertext) {
  State& s = *state_;
  auto malformed = [] {
    return MakeError(ErrorCode::kIntegrity,
                     "local KMS ciphertext is malformed (bad header): it was altered, truncated, "
                     "or not produced by the local KMS");
  };
  const size_t fixed = kMagic.size() + 1;
  if (ciphertext.size() < fixed || !std::equal(kMagic.begin(), kMagic.end(), ciphertext.begin())) {
    return malformed();
  }
  const size_t id_len = ciphertext[kMagic.size()];
  const size_t header_len = fixed + id_len + 4;
  if (ciphertext.size() < header_len + crypto::kAeadOverhead) return malformed();
  std::string id(reinterpret_cast<const char*>(ciphertext.data()) + fixed, id_len);
  if (!IsLocalKmsKeyId(id)) return malformed();
  uint32_t version = 0;
  for (size_t i = 0; i < 4; ++i) version = (version << 8) | ciphertext[fixed + id_len + i];
  std::span<const uint8_t> header(ciphertext.data(), header_len);
  std::span<const uint8_t> body(ciphertext.data() + header_len, ciphertext.size() - header_len);

  std::lock_guard lock(s.mu);
  VIGIE_ASSIGN_OR_RETURN(KeyRecord * rec, s.Load(id));
  if (rec->Find(version) == nullptr) {
    // Another LocalKms (or process) may have rotated the key since it was cached.
    VIGIE_ASSIGN_OR_RETURN(rec, s.Reload(id));
  }
  VIGIE_RETURN_IF_ERROR(State::RequireEnabled(*rec, "Decrypt"));
  const KeyVersion* v = rec->Find(version);
  if (v == nullptr) {
    return MakeError(ErrorCode::kIntegrity,
                     fmt::format("ciphertext names version {} of KMS key '{}', which has no such "
                                 "version: it was altered",
                                 version, id));
  }
  auto plain = crypto::AeadOpen(v->material, body, header);
  if (!plain) {
    return MakeError(ErrorCode::kIntegrity,
                     fmt::format("ciphertext under KMS key '{}' (version {}) failed "
                                 "authentication: it was altered or truncated",
                                 id, version));
  }
  return std::move(*plain);
}

Status LocalKms::ScheduleKeyDeletion(const std::string& key_id, int pending_days) {
  State& s = *state_;
  VIGIE_ASSIGN_OR_RETURN(std::string id, s.Normalize(key_id));
  if (pending_days < kMinKeyDeletionDays || pending_days > kMaxKeyDeletionDays) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("key deletion window of {} days for KMS key '{}' is out of "
                                 "range: it must be {}..{} days",
                                 pending_days, id, kMinKeyDeletionDays, kMaxKeyDeletionDays));
  }
  std::lock_guard lock(s.mu);
  auto rec = s.Load(id);
  if (!rec && rec.error().code == ErrorCode::kNotFound) return OkStatus();
  if (!rec) return tl::unexpected(rec.error());
  if ((*rec)->deletion_date) return OkStatus();
  Snapshot before = Take(**rec);
  (*rec)->enabled = false;
  (*rec)->deletion_date = s.env.clock->Now() + std::chrono::hours(24) * pending_days;
  VIGIE_RETURN_IF_ERROR(s.Persist(**rec, before));
  log::Info("kms.key_deletion_scheduled",
            {{"key_id", id}, {"pending_days", pending_days}, {"backend", "local"}});
  return OkStatus();
}

Result<KmsKeyInfo> LocalKms::Rotate(const std::string& key_id) {
  State& s = *state_;
  VIGIE_ASSIGN_OR_RETURN(std::string id, s.Normalize(key_id));
  std::lock_guard lock(s.mu);
  VIGIE_ASSIGN_OR_RETURN(KeyRecord * rec, s.Load(id));
  VIGIE_RETURN_IF_ERROR(State::RequireEnabled(*rec, "Rotate"));
  VIGIE_RETURN_IF_ERROR(s.AddVersion(*rec));
  return InfoOf(*rec);
}

Result<bool> LocalKms::RotateIfDue(const std::string& key_id) {
  State& s = *state_;
  VIGIE_ASSIGN_OR_RETURN(std::string id, s.Normalize(key_id));
  std::lock_guard lock(s.mu);
  VIGIE_ASSIGN_OR_RETURN(KeyRecord * rec, s.Load(id));
  if (!rec->rotation_enabled || !rec->enabled || rec->deletion_date) return false;
  const auto age = s.env.clock->Now() - rec->Newest().created_at;
  if (age < std::chrono::hours(24) * rec->rotation_period_days) return false;
  VIGIE_RETURN_IF_ERROR(s.AddVersion(*rec));
  return true;
}

Result<std::vector<KmsKeyInfo>> LocalKms::ListKeys() {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  VIGIE_ASSIGN_OR_RETURN(auto entries, s.env.fs->ListDir(s.dir));
  std::vector<std::string> ids;
  for (const auto& e : entries) {
    if (e.is_dir || !e.name.ends_with(".key")) continue;
    std::string id = e.name.substr(0, e.name.size() - 4);
    if (IsLocalKmsKeyId(id)) ids.push_back(std::move(id));
  }
  std::sort(ids.begin(), ids.end());
  std::vector<KmsKeyInfo> out;
  for (const auto& id : ids) {
    VIGIE_ASSIGN_OR_RETURN(KeyRecord * rec, s.Load(id));
    out.push_back(InfoOf(*rec));
  }
  return out;
}

Result<int> LocalKms::VersionCount(const std::string& key_id) {
  State& s = *state_;
  VIGIE_ASSIGN_OR_RETURN(std::string id, s.Normalize(key_id));
  std::lock_guard lock(s.mu);
  VIGIE_ASSIGN_OR_RETURN(KeyRecord * rec, s.Load(id));
  return static_cast<int>(rec->versions.size());
}

}  // namespace vigie::backend
