#include "testing/fake_backends.h"

#include <fmt/format.h>

#include <algorithm>

namespace vigie::testing {

namespace {

Error NotFound(std::string what) { return Error{ErrorCode::kNotFound, std::move(what)}; }

}  // namespace

void FailureSwitch::Arm(std::string method, Error error) {
  std::lock_guard<std::mutex> lock(mu_);
  armed_[std::move(method)] = std::move(error);
}

std::optional<Error> FailureSwitch::Take(const std::string& method) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = armed_.find(method);
  if (it == armed_.end()) return std::nullopt;
  Error e = std::move(it->second);
  armed_.erase(it);
  return e;
}

bool FailureSwitch::empty() const {
  std::lock_guard<std::mutex> lock(mu_);
  return armed_.empty();
}

// --- FakeIdentity ---

FakeIdentity::FakeIdentity(Clock* clock, PolicyFn policy)
    : clock_(clock), policy_(std::move(policy)) {}

WallTime FakeIdentity::Now() const { return clock_ ? clock_->Now() : RealClock()->Now(); }

Result<backend::Principal> FakeIdentity::EnsurePrincipal(const backend::SiteScope& scope) {
  if (auto e = failures_.Take("EnsurePrincipal")) return tl::unexpected(*e);
  const std::string policy =
      policy_
          ? policy_(scope)
          : fmt::format(R"({{"Statement":[{{"Resource":["secret:{}*"]}}]}})", scope.secrets_prefix);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = principals_.find(scope.site_id);
  if (it != principals_.end()) {
    it->second.principal.policy_document = policy;
    return it->second.principal;
  }
  backend::Principal p;
  p.site_id = scope.site_id;
  p.name = "vigie-site-" + scope.site_id;
  p.arn = "fake:iam::user/vigie/sites/" + p.name;
  p.policy_document = policy;
  p.created_at = Now();
  principals_.emplace(scope.site_id, Entry{p, {}});
  ++principals_created_;
  return p;
}

Result<backend::Principal> FakeIdentity::GetPrincipal(const std::string& site_id) {
  if (auto e = failures_.Take("GetPrincipal")) return tl::unexpected(*e);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = principals_.find(site_id);
  if (it == principals_.end()) return tl::unexpected(NotFound("no principal for site " + site_id));
  return it->second.principal;
}

Result<std::vector<backend::Principal>> FakeIdentity::ListPrincipals() {
  if (auto e = failures_.Take("ListPrincipals")) return tl::unexpected(*e);
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<backend::Principal> out;
  for (const auto& [site, entry] : principals_) out.push_back(entry.principal);
  return out;
}

Result<backend::AccessKey> FakeIdentity::CreateAccessKey(const std::string& site_id) {
  if (auto e = failures_.Take("CreateAccessKey")) return tl::unexpected(*e);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = principals_.find(site_id);
  if (it == principals_.end()) return tl::unexpected(NotFound("no principal for site " + site_id));
  if (it->second.key_ids.size() >= 2) {
    return tl::unexpected(Error{ErrorCode::kFailedPrecondition,
                                "principal of site " + site_id + " already has 2 access keys"});
  }
  ++keys_created_;
  backend::AccessKey key;
  key.access_key_id = fmt::format("FAKEKEY{:013d}", keys_created_);
  // 40 characters of [A-Za-z0-9] from the real CSPRNG, like an IAM secret access key.
  static constexpr std::string_view kAlnum =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  key.secret_access_key = SecretBytes(40);
  for (size_t i = 0; i < 40; ++i) {
    key.secret_access_key.data()[i] = static_cast<uint8_t>(kAlnum[RealRandom()->Uniform(62)]);
  }
  it->second.key_ids.push_back(key.access_key_id);
  return key;
}

Result<std::vector<std::string>> FakeIdentity::ListAccessKeyIds(const std::string& site_id) {
  if (auto e = failures_.Take("ListAccessKeyIds")) return tl::unexpected(*e);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = principals_.find(site_id);
  if (it == principals_.end()) return tl::unexpected(NotFound("no principal for site " + site_id));
  return it->second.key_ids;
}

vigie::Status FakeIdentity::DeleteAccessKey(const std::string& site_id, const std::string& key_id) {
  if (auto e = failures_.Take("DeleteAccessKey")) return tl::unexpected(*e);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = principals_.find(site_id);
  if (it == principals_.end()) return OkStatus();
  auto& ids = it->second.key_ids;
  ids.erase(std::remove(ids.begin(), ids.end(), key_id), ids.end());
  return OkStatus();
}

vigie::Status FakeIdentity::DeletePrincipal(const std::string& site_id) {
  if (auto e = failures_.Take("DeletePrincipal")) return tl::unexpected(*e);
  std::lock_guard<std::mutex> lock(mu_);
  principals_.erase(site_id);
  return OkStatus();
}

size_t FakeIdentity::principals_created() const {
  std::lock_guard<std::mutex> lock(mu_);
  return principals_created_;
}
size_t FakeIdentity::access_keys_created() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_created_;
}
size_t FakeIdentity::principal_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return principals_.size();
}
size_t FakeIdentity::access_key_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [site, entry] : principals_) n += entry.key_ids.size();
  return n;
}

// --- FakeKms ---

WallTime FakeKms::Now() const { return clock_ ? clock_->Now() : RealClock()->Now(); }

FakeKms::Key* FakeKms::Find(const std::string& key_id) {
  auto it = keys_.find(key_id);
  if (it != keys_.end()) return &it->second;
  for (auto& [id, key] : keys_) {
    if (key.info.arn == key_id) return &key;
  }
  return nullptr;
}

Result<backend::KmsKeyInfo> FakeKms::CreateKey(const std::string& description,
                                               const backend::Tags& tags) {
  if (auto e = failures_.Take("CreateKey")) return tl::unexpected(*e);
  std::lock_guard<std::mutex> lock(mu_);
  ++created_;
  Key key;
  key.info.key_id = fmt::format("fake-key-{:04d}", created_);
  key.info.arn = "fake:kms:" + key.info.key_id;
  key.info.enabled = true;
  key.info.created_at = Now();
  key.tags = tags;
  key.pad = static_cast<uint8_t>(0x5a ^ created_);
  std::string id = key.info.key_id;
  backend::KmsKeyInfo info = key.info;
  keys_.emplace(std::move(id), std::move(key));
  return info;
}

Result<backend::KmsKeyInfo> FakeKms::DescribeKey(const std::string& key_id) {
  if (auto e = failures_.Take("DescribeKey")) return tl::unexpected(*e);
  std::lock_guard<std::mutex> lock(mu_);
  Key* key = Find(key_id);
  if (key == nullptr) return tl::unexpected(NotFound("no KMS key " + key_id));
  return key->info;
}

vigie::Status FakeKms::EnableKeyRotation(const std::string& key_id, int period_days) {
  if (auto e = failures_.Take("EnableKeyRotation")) return tl::unexpected(*e);
  if (period_days < 90 || period_days > 2560) {
    return tl::unexpected(Error{ErrorCode::kInvalidArgument, "rotation period out of 90..2560"});
  }
  std::lock_guard<std::mutex> lock(mu_);
  Key* key = Find(key_id);
  if (key == nullptr) return tl::unexpected(NotFound("no KMS key " + key_id));
  if (!key->info.enabled) {
    return tl::unexpected(Error{ErrorCode::kFailedPrecondition, "KMS key " + key_id + " disabled"});
  }
  key->info.rotation_enabled = true;
  key->info.rotation_period_days = period_days;
  return OkStatus();
}

Result<backend::DataKey> FakeKms::GenerateDataKey(const std::string& key_id) {
  if (auto e = failures_.Take("GenerateDataKey")) return tl::unexpected(*e);
  SecretBytes plain = RealRandom()->SecretOfSize(32);
  auto wrapped = Encrypt(key_id, plain);
  if (!wrapped) return tl::unexpected(wrapped.error());
  return backend::DataKey{std::move(plain), std::move(*wrapped)};
}

Result<Bytes> FakeKms::Encrypt(const std::string& key_id, const SecretBytes& plaintext) {
  if (auto e = failures_.Take("Encrypt")) return tl::unexpected(*e);
  std::lock_guard<std::mutex> lock(mu_);
  Key* key = Find(key_id);
  if (key == nullptr) return tl::unexpected(NotFound("no KMS key " + key_id));
  if (!key->info.enabled) {
    return tl::unexpected(Error{ErrorCode::kFailedPrecondition, "KMS key " + key_id + " disabled"});
  }
  const std::string& id = key->info.key_id;
  Bytes out;
  out.push_back(static_cast<uint8_t>(id.size()));
  out.insert(out.end(), id.begin(), id.end());
  for (size_t i = 0; i < plaintext.size(); ++i) {
    out.push_back(plaintext.data()[i] ^ static_cast<uint8_t>(key->pad + i));
  }
  return out;
}

Result<SecretBytes> FakeKms::Decrypt(const Bytes& ciphertext) {
  if (auto e = failures_.Take("Decrypt")) return tl::unexpected(*e);
  if (ciphertext.empty() || ciphertext.size() < 1u + ciphertext[0]) {
    return tl::unexpected(Error{ErrorCode::kIntegrity, "malformed fake ciphertext"});
  }
  const std::string id(ciphertext.begin() + 1, ciphertext.begin() + 1 + ciphertext[0]);
  std::lock_guard<std::mutex> lock(mu_);
  Key* key = Find(id);
  if (key == nullptr) return tl::unexpected(NotFound("no KMS key " + id));
  const size_t offset = 1u + ciphertext[0];
  SecretBytes out(ciphertext.size() - offset);
  for (size_t i = 0; i < out.size(); ++i) {
    out.data()[i] = ciphertext[offset + i] ^ static_cast<uint8_t>(key->pad + i);
  }
  return out;
}

vigie::Status FakeKms::ScheduleKeyDeletion(const std::string& key_id, int pending_days) {
  if (auto e = failures_.Take("ScheduleKeyDeletion")) return tl::unexpected(*e);
  if (pending_days < 7 || pending_days > 30) {
    return tl::unexpected(Error{ErrorCode::kInvalidArgument, "pending window out of 7..30"});
  }
  std::lock_guard<std::mutex> lock(mu_);
  Key* key = Find(key_id);
  if (key == nullptr) return OkStatus();
  key->pending_deletion = true;
  key->info.enabled = false;
  return OkStatus();
}

size_t FakeKms::keys_created() const {
  std::lock_guard<std::mutex> lock(mu_);
  return created_;
}
size_t FakeKms::live_key_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [id, key] : keys_) n += (key.info.enabled && !key.pending_deletion) ? 1 : 0;
  return n;
}
std::optional<backend::Tags> FakeKms::TagsOf(const std::string& key_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = keys_.find(key_id);
  if (it == keys_.end()) return std::nullopt;
  return it->second.tags;
}

}  // namespace vigie::testing
