#include "backend/local/local_identity.h"

#include <fmt/format.h>

#include <optional>
#include <utility>

#include "backend/policy.h"
#include "base/log.h"
#include "crypto/credential.h"
#include "crypto/hash.h"

namespace vigie::backend {
namespace {

using store::Row;
using store::Rows;
using store::Txn;

constexpr std::string_view kKeyIdPrefix = "LKIA";
constexpr std::string_view kKeyIdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
constexpr size_t kKeyIdRandomChars = 16;
constexpr size_t kSecretChars = 40;
// 40 characters of [A-Za-z0-9] carry 238.17 bits: GenerateCredential picks exactly 40 for this.
constexpr int kSecretEntropyBits = 238;

constexpr const char* kSelectPrincipal =
    "SELECT site_id, name, arn, policy, created_at FROM local_principals";

std::string PrincipalName(const std::string& site_id) { return "vigie-site-" + site_id; }
std::string PrincipalArn(const std::string& site_id) {
  return "local:iam::user/vigie/sites/" + PrincipalName(site_id);
}

Result<Principal> ParsePrincipal(const Row& row) {
  Principal p;
  VIGIE_ASSIGN_OR_RETURN(p.site_id, row.GetText("site_id"));
  VIGIE_ASSIGN_OR_RETURN(p.name, row.GetText("name"));
  VIGIE_ASSIGN_OR_RETURN(p.arn, row.GetText("arn"));
  VIGIE_ASSIGN_OR_RETURN(p.policy_document, row.GetText("policy"));
  VIGIE_ASSIGN_OR_RETURN(int64_t created, row.GetInt("created_at"));
  p.created_at = FromUnixSeconds(created);
  return p;
}

Error NoPrincipal(const std::string& site_id) {
  return Error{ErrorCode::kNotFound,
               fmt::format("site '{}' has no principal; create it with EnsurePrincipal", site_id)};
}

SecretBytes Verifier(const SecretBytes& secret) {
  crypto::Sha256Digest d = crypto::Sha256(secret.span());
  return SecretBytes::CopyFrom(d);
}

}  // namespace

struct LocalIdentity::State {
  store::Store* store = nullptr;
  Env env;
};

LocalIdentity::LocalIdentity(std::unique_ptr<State> state) : state_(std::move(state)) {}
LocalIdentity::~LocalIdentity() = default;

std::unique_ptr<LocalIdentity> NewLocalIdentity(store::Store& store, Env env) {
  auto state = std::make_unique<LocalIdentity::State>();
  state->store = &store;
  state->env = env;
  return std::unique_ptr<LocalIdentity>(new LocalIdentity(std::move(state)));
}

Result<Principal> LocalIdentity::EnsurePrincipal(const SiteScope& scope) {
  State& s = *state_;
  VIGIE_RETURN_IF_ERROR(ValidateSiteScope(scope));
  const std::string policy = SitePolicyDocument(scope);
  const int64_t now = ToUnixSeconds(s.env.clock->Now());
  bool created = false;
  auto ensure = [&](Txn& t) -> Status {
    created = false;
    VIGIE_ASSIGN_OR_RETURN(int64_t updated,
                           t.ExecCount("UPDATE local_principals SET policy = ? WHERE site_id = ?",
                                       {policy, scope.site_id}));
    if (updated > 0) return OkStatus();
    created = true;
    return t.Exec(
        "INSERT INTO local_principals(site_id, name, arn, policy, created_at) "
        "VALUES(?, ?, ?, ?, ?)",
        {scope.site_id, PrincipalName(scope.site_id), PrincipalArn(scope.site_id), policy, now});
  };
  Status st = s.store->Write(ensure);
  if (!st && st.error().code == ErrorCode::kAlreadyExists) {
    // Another writer (process) inserted it between our UPDATE and INSERT: now it updates.
    st = s.store->Write(ensure);
  }
  if (!st)
    return tl::unexpected(st.error().Wrap("ensuring the principal of site " + scope.site_id));
  if (created) {
    log::Info(
        "identity.principal_created",
        {{"site", scope.site_id}, {"name", PrincipalName(scope.site_id)}, {"backend", "local"}});
  }
  return GetPrincipal(scope.site_id);
}

Result<Principal> LocalIdentity::GetPrincipal(const std::string& site_id) {
  VIGIE_ASSIGN_OR_RETURN(
      Rows rows,
      state_->store->Query(std::string(kSelectPrincipal) + " WHERE site_id = ?", {site_id}));
  if (rows.empty()) return tl::unexpected(NoPrincipal(site_id));
  return ParsePrincipal(rows[0]);
}

Result<std::vector<Principal>> LocalIdentity::ListPrincipals() {
  VIGIE_ASSIGN_OR_RETURN(Rows rows,
                         state_->store->Query(std::string(kSelectPrincipal) + " ORDER BY site_id"));
  std::vector<Principal> out;
  for (const auto& row : rows) {
    VIGIE_ASSIGN_OR_RETURN(Principal p, ParsePrincipal(row));
    out.push_back(std::move(p));
  }
  return out;
}

Result<AccessKey> LocalIdentity::CreateAccessKey(const std::string& site_id) {
  State& s = *state_;
  AccessKey key;
  key.access_key_id = std::string(kKeyIdPrefix);
  for (size_t i = 0; i < kKeyIdRandomChars; ++i) {
    key.access_key_id.push_back(kKeyIdAlphabet[s.env.random->Uniform(kKeyIdAlphabet.size())]);
  }
  VIGIE_ASSIGN_OR_RETURN(
      crypto::GeneratedCredential cred,
      crypto::GenerateCredential(s.env, crypto::Alphabet::kAlnum, kSecretEntropyBits));
  if (cred.value.size() != kSecretChars) {
    return MakeError(ErrorCode::kInternal,
                     fmt::format("access key secret has {} characters, expected {}",
                                 cred.value.size(), kSecretChars));
  }
  SecretBytes verifier = Verifier(cred.value);
  const Bytes verifier_bytes(verifier.span().begin(), verifier.span().end());
  VIGIE_RETURN_IF_ERROR(s.store->Write([&](Txn& t) -> Status {
    VIGIE_ASSIGN_OR_RETURN(
        Rows p, t.Query("SELECT site_id FROM local_principals WHERE site_id = ?", {site_id}));
    if (p.empty()) return tl::unexpected(NoPrincipal(site_id));
    VIGIE_ASSIGN_OR_RETURN(
        Rows n,
        t.Query("SELECT COUNT(*) AS n FROM local_access_keys WHERE site_id = ?", {site_id}));
    VIGIE_ASSIGN_OR_RETURN(int64_t count, n[0].GetInt("n"));
    if (count >= kMaxAccessKeysPerPrincipal) {
      return MakeError(ErrorCode::kFailedPrecondition,
                       fmt::format("principal of site '{}' already has {} access keys, the limit "
                                   "(as in IAM); delete one with DeleteAccessKey first",
                                   site_id, count));
    }
    return t.Exec(
        "INSERT INTO local_access_keys(key_id, site_id, secret_hash, generator, entropy_bits, "
        "created_at) VALUES(?, ?, ?, ?, ?, ?)",
        {key.access_key_id, site_id, verifier_bytes, cred.provenance.generator,
         static_cast<int64_t>(cred.provenance.entropy_bits),
         ToUnixSeconds(cred.provenance.created_at)});
  }));
  key.secret_access_key = std::move(cred.value);
  log::Info("identity.access_key_created",
            {{"site", site_id}, {"access_key_id", key.access_key_id}, {"backend", "local"}});
  return key;
}

Result<std::vector<std::string>> LocalIdentity::ListAccessKeyIds(const std::string& site_id) {
  State& s = *state_;
  VIGIE_ASSIGN_OR_RETURN(
      Rows p, s.store->Query("SELECT site_id FROM local_principals WHERE site_id = ?", {site_id}));
  if (p.empty()) return tl::unexpected(NoPrincipal(site_id));
  VIGIE_ASSIGN_OR_RETURN(Rows rows,
                         s.store->Query("SELECT key_id FROM local_access_keys WHERE site_id = ? "
                                        "ORDER BY created_at, key_id",
                                        {site_id}));
  std::vector<std::string> out;
  for (const auto& row : rows) {
    VIGIE_ASSIGN_OR_RETURN(std::string id, row.GetText("key_id"));
    out.push_back(std::move(id));
  }
  return out;
}

Status LocalIdentity::DeleteAccessKey(const std::string& site_id, const std::string& key_id) {
  int64_t deleted = 0;
  VIGIE_RETURN_IF_ERROR(state_->store->Write([&](Txn& t) -> Status {
    VIGIE_ASSIGN_OR_RETURN(
        deleted, t.ExecCount("DELETE FROM local_access_keys WHERE key_id = ? AND site_id = ?",
                             {key_id, site_id}));
    return OkStatus();
  }));
  if (deleted > 0) {
    log::Info("identity.access_key_deleted",
              {{"site", site_id}, {"access_key_id", key_id}, {"backend", "local"}});
  }
  return OkStatus();
}

Status LocalIdentity::DeletePrincipal(const std::string& site_id) {
  int64_t deleted = 0;
  VIGIE_RETURN_IF_ERROR(state_->store->Write([&](Txn& t) -> Status {
    VIGIE_RETURN_IF_ERROR(t.Exec("DELETE FROM local_access_keys WHERE site_id = ?", {site_id}));
    VIGIE_ASSIGN_OR_RETURN(
        deleted, t.ExecCount("DELETE FROM local_principals WHERE site_id = ?", {site_id}));
    return OkStatus();
  }));
  if (deleted > 0) {
    log::Info("identity.principal_deleted", {{"site", site_id}, {"backend", "local"}});
  }
  return OkStatus();
}

Result<bool> LocalIdentity::VerifyAccessKey(const std::string& key_id, const SecretBytes& secret) {
  VIGIE_ASSIGN_OR_RETURN(
      Rows rows,
      state_->store->Query("SELECT secret_hash FROM local_access_keys WHERE key_id = ?", {key_id}));
  if (rows.empty()) return false;
  VIGIE_ASSIGN_OR_RETURN(Bytes stored, rows[0].GetBlob("secret_hash"));
  return Verifier(secret).Equals(SecretBytes::CopyFrom(stored));
}

Result<std::vector<AccessKeyRecord>> LocalIdentity::ListAccessKeys() {
  VIGIE_ASSIGN_OR_RETURN(
      Rows rows, state_->store->Query("SELECT key_id, site_id, generator, entropy_bits, created_at "
                                      "FROM local_access_keys ORDER BY site_id, key_id"));
  std::vector<AccessKeyRecord> out;
  for (const auto& row : rows) {
    AccessKeyRecord r;
    VIGIE_ASSIGN_OR_RETURN(r.access_key_id, row.GetText("key_id"));
    VIGIE_ASSIGN_OR_RETURN(r.site_id, row.GetText("site_id"));
    VIGIE_ASSIGN_OR_RETURN(r.generator, row.GetText("generator"));
    VIGIE_ASSIGN_OR_RETURN(int64_t bits, row.GetInt("entropy_bits"));
    VIGIE_ASSIGN_OR_RETURN(int64_t created, row.GetInt("created_at"));
    r.entropy_bits = static_cast<int>(bits);
    r.created_at = FromUnixSeconds(created);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace vigie::backend
