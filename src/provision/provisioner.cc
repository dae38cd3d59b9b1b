#include "provision/provisioner.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "backend/policy.h"
#include "base/encoding.h"
#include "base/log.h"
#include "crypto/credential.h"
#include "crypto/hash.h"
#include "package/enrollment_key.h"
#include "package/package.h"

namespace vigie::provision {

namespace {

using Json = nlohmann::ordered_json;
using store::Rows;
using store::Txn;
using store::Value;

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

std::string FleetKeyHex(const crypto::SigningKey& key) { return HexEncode(key.public_key()); }

// The package a provisioned site got most recently, and what the operator is told about it.
struct StoredSite {
  std::string state;
  std::string region;
  int attempts = 0;
  std::string kms_key_id;
  std::string kms_key_arn;
  // Leftovers of compensations that failed (see site_provisioning).
  std::string leftover_kms_key;
  bool leftover_principal = false;
  std::string leftover_access_key;
  std::string leftover_secret;
  std::string leftover_package;
};

Result<std::optional<StoredSite>> LoadSite(store::Store& store, const std::string& site) {
  VIGIE_ASSIGN_OR_RETURN(Rows rows,
                         store.Query("SELECT s.state, s.region, p.attempts, p.kms_key_id, "
                                     "p.kms_key_arn, p.leftover_kms_key, p.leftover_principal, "
                                     "p.leftover_access_key, p.leftover_secret, "
                                     "p.leftover_package FROM sites s LEFT JOIN "
                                     "site_provisioning p ON p.site_id = s.id WHERE s.id = ?",
                                     {site}));
  if (rows.empty()) return std::optional<StoredSite>();
  const store::Row& r = rows[0];
  StoredSite s;
  VIGIE_ASSIGN_OR_RETURN(s.state, r.GetText("state"));
  VIGIE_ASSIGN_OR_RETURN(s.region, r.GetText("region"));
  VIGIE_ASSIGN_OR_RETURN(bool no_prov, r.IsNull("attempts"));
  if (!no_prov) {
    VIGIE_ASSIGN_OR_RETURN(int64_t attempts, r.GetInt("attempts"));
    s.attempts = static_cast<int>(attempts);
    VIGIE_ASSIGN_OR_RETURN(s.kms_key_id, r.GetTextOrEmpty("kms_key_id"));
    VIGIE_ASSIGN_OR_RETURN(s.kms_key_arn, r.GetTextOrEmpty("kms_key_arn"));
    VIGIE_ASSIGN_OR_RETURN(s.leftover_kms_key, r.GetTextOrEmpty("leftover_kms_key"));
    VIGIE_ASSIGN_OR_RETURN(int64_t lp, r.GetInt("leftover_principal"));
    s.leftover_principal = lp != 0;
    VIGIE_ASSIGN_OR_RETURN(s.leftover_access_key, r.GetTextOrEmpty("leftover_access_key"));
    VIGIE_ASSIGN_OR_RETURN(s.leftover_secret, r.GetTextOrEmpty("leftover_secret"));
    VIGIE_ASSIGN_OR_RETURN(s.leftover_package, r.GetTextOrEmpty("leftover_package"));
  }
  return std::optional<StoredSite>(std::move(s));
}

// Lower bound of the entropy of a provider-generated secret: the provider is assumed to draw
// uniformly from at least [A-Za-z0-9] (AWS secret access keys are 40 characters of base64).
int ProviderSecretEntropyBits(const SecretBytes& value) {
  return static_cast<int>(std::floor(static_cast<double>(value.size()) * std::log2(62.0)));
}

// A credential generated during the run, with what is recorded about it.
struct NewCredential {
  CredentialInfo info;
  SecretBytes value;
  WallTime created_at;
};

CredentialInfo FromProvenance(std::string name, std::string kind,
                              const crypto::Provenance& provenance, bool must_change) {
  CredentialInfo c;
  c.name = std::move(name);
  c.kind = std::move(kind);
  c.provenance = "generated";
  c.generator = provenance.generator;
  c.alphabet = provenance.alphabet;
  c.entropy_bits = provenance.entropy_bits;
  c.must_change = must_change;
  return c;
}

}  // namespace

Status ValidateSiteId(std::string_view site) {
  bool ok = !site.empty() && site.size() <= 63 && IsLowerAlnum(site[0]);
  for (char c : site) ok = ok && (IsLowerAlnum(c) || c == '-');
  if (!ok) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("site id '{}' is invalid: use 1..63 characters of [a-z0-9-] "
                                 "starting with a letter or digit (e.g. acme-paris)",
                                 site));
  }
  return OkStatus();
}

Status ValidateRegion(std::string_view region) {
  bool ok = !region.empty() && region.size() <= 32;
  for (char c : region) ok = ok && (IsLowerAlnum(c) || c == '-');
  if (!ok) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("region '{}' is invalid: use 1..32 characters of [a-z0-9-] "
                                 "(e.g. eu-west-3)",
                                 region));
  }
  return OkStatus();
}

std::string SecretsPrefix(std::string_view site) { return backend::SiteSecretsPrefix(site); }
std::string AgentSecretName(std::string_view site) { return backend::AgentApiSecretName(site); }

Bytes CredentialVerifier(std::string_view site, std::string_view name, const SecretBytes& value) {
  crypto::Sha256Hasher h;
  static constexpr uint8_t kZero[1] = {0};
  h.Update(AsBytes("vigie.credential.v1"));
  h.Update(kZero);
  h.Update(AsBytes(site));
  h.Update(kZero);
  h.Update(AsBytes(name));
  h.Update(kZero);
  h.Update(value.span());
  crypto::Sha256Digest d = h.Finish();
  return Bytes(d.begin(), d.end());
}

// One call of Provision(): the steps, what they created (for compensation), and the records.
class Provisioner::Run {
 public:
  Run(Provisioner& p, const SiteRequest& request)
      : d_(p.deps_), o_(p.options_), req_(request), site_(request.site_id) {}

  Result<ProvisionResult> Go();

 private:
  // What this run created (or may have created: set before the call), undone on failure.
  struct Created {
    std::string kms_key_id;
    bool principal = false;
    std::string access_key_id;
    std::string secret_name;
    std::string package_path;
    std::string package_id;  // rows of the record step
  };

  vigie::Status Validate();
  Result<std::optional<ProvisionResult>> Register();
  vigie::Status Cleanup(const StoredSite& site);
  vigie::Status KmsKey();
  vigie::Status Principal();
  vigie::Status AccessKey();
  vigie::Status Credentials();
  vigie::Status AgentSecret();
  vigie::Status Package();
  vigie::Status Record();
  vigie::Status Event();

  // Records one provision_steps row (and, optionally, more statements in the same job).
  vigie::Status StepRow(std::string_view step, std::string_view outcome, std::string_view detail,
                        const std::function<vigie::Status(Txn&)>& more = nullptr);
  void Done(std::string_view step, std::string_view detail,
            const std::function<vigie::Status(Txn&)>& more = nullptr);
  // Undoes what this run created, records the failure, returns the error for the caller.
  Error Fail(std::string_view step, const Error& cause);
  Result<ProvisionResult> Existing();
  int64_t Now() const { return ToUnixSeconds(d_.env.clock->Now()); }

  ProvisionDeps& d_;
  const ProvisionOptions& o_;
  const SiteRequest& req_;
  const std::string site_;
  int attempt_ = 0;
  Created created_;
  ProvisionResult result_;
  backend::Principal principal_;
  SecretBytes access_secret_;
  std::vector<NewCredential> credentials_;
  Bytes package_file_;
  // A failure while recording a step is itself a failure of that step.
  std::optional<Error> step_record_error_;
};

vigie::Status Provisioner::Run::StepRow(std::string_view step, std::string_view outcome,
                                        std::string_view detail,
                                        const std::function<vigie::Status(Txn&)>& more) {
  const int64_t now = Now();
  return d_.store.Write([&](Txn& t) -> vigie::Status {
    VIGIE_RETURN_IF_ERROR(
        t.Exec("INSERT INTO provision_steps(site_id, attempt, step, outcome, detail, at) "
               "VALUES(?, ?, ?, ?, ?, ?)",
               {site_, int64_t{attempt_}, std::string(step), std::string(outcome),
                std::string(detail), now}));
    if (more) return more(t);
    return OkStatus();
  });
}

void Provisioner::Run::Done(std::string_view step, std::string_view detail,
                            const std::function<vigie::Status(Txn&)>& more) {
  result_.steps.emplace_back(step);
  log::Info("site.provision.step", {{"site", site_}, {"step", step}, {"detail", detail}});
  auto s = StepRow(step, "done", detail, more);
  if (!s) step_record_error_ = s.error().Wrap("recording the step in the store");
}

vigie::Status Provisioner::Run::Validate() {
  VIGIE_RETURN_IF_ERROR(ValidateSiteId(site_));
  auto fail = [&](std::string msg) {
    return MakeError(ErrorCode::kInvalidArgument, fmt::format("site {}: {}", site_, msg));
  };
  if (auto s = ValidateRegion(req_.region); !s) return fail(s.error().message);
  if (req_.enrollment_public_key == crypto::BoxPublicKey{}) {
    return fail(
        "the enrollment public key is all zeros: pass the enrollment.pub written by "
        "`vigie agent keygen` on the site");
  }
  if (o_.out_dir.empty()) return fail("no package output directory is configured");
  if (o_.kms_rotation_days < 90 || o_.kms_rotation_days > 365) {
    return fail(fmt::format("KMS key rotation period {} days is outside 90..365 (MAINT_020)",
                            o_.kms_rotation_days));
  }
  if (o_.kms_deletion_days < 7 || o_.kms_deletion_days > 30) {
    return fail(
        fmt::format("KMS key deletion window {} days is outside 7..30", o_.kms_deletion_days));
  }
  if (o_.package_validity <= std::chrono::seconds(0)) {
    return fail("the package validity must be positive");
  }
  // The manifest fields given by the caller, checked before anything is created.
  package::Manifest m;
  m.site_id = site_;
  m.package_id = std::string(32, '0');
  m.fleet_url = o_.fleet_url;
  m.fleet_tls_pin = o_.fleet_tls_pin;
  m.fleet_ca_pem = o_.fleet_ca_pem;
  m.created_at = FromUnixSeconds(Now());
  m.expires_at = m.created_at + o_.package_validity;
  if (auto s = package::SerializeManifest(m); !s) {
    return fail(s.error().message + " (check the fleet URL, TLS pin and CA options)");
  }
  backend::SiteScope scope{site_,
                           req_.region,
                           o_.s3_bucket,
                           o_.s3_bucket.empty() ? "" : fmt::format("sites/{}/", site_),
                           SecretsPrefix(site_),
                           ""};
  if (auto s = backend::ValidateSiteScope(scope); !s) return fail(s.error().message);
  return OkStatus();
}

Result<ProvisionResult> Provisioner::Run::Existing() {
  ProvisionResult r;
  r.site_id = site_;
  r.already_provisioned = true;
  VIGIE_ASSIGN_OR_RETURN(Rows sp,
                         d_.store.Query("SELECT s.region, p.attempts, p.kms_key_id, p.kms_key_arn, "
                                        "q.name, q.arn, q.access_key_id FROM sites s "
                                        "JOIN site_provisioning p ON p.site_id = s.id "
                                        "JOIN site_principals q ON q.site_id = s.id WHERE s.id = ?",
                                        {site_}));
  if (sp.size() != 1) {
    return MakeError(ErrorCode::kInternal,
                     fmt::format("site {} is marked provisioned but its provisioning records are "
                                 "missing from the store",
                                 site_));
  }
  VIGIE_ASSIGN_OR_RETURN(r.region, sp[0].GetText("region"));
  VIGIE_ASSIGN_OR_RETURN(int64_t attempts, sp[0].GetInt("attempts"));
  r.attempt = static_cast<int>(attempts);
  VIGIE_ASSIGN_OR_RETURN(r.kms_key_id, sp[0].GetTextOrEmpty("kms_key_id"));
  VIGIE_ASSIGN_OR_RETURN(r.kms_key_arn, sp[0].GetTextOrEmpty("kms_key_arn"));
  VIGIE_ASSIGN_OR_RETURN(r.principal_name, sp[0].GetText("name"));
  VIGIE_ASSIGN_OR_RETURN(r.principal_arn, sp[0].GetText("arn"));
  VIGIE_ASSIGN_OR_RETURN(r.access_key_id, sp[0].GetText("access_key_id"));

  VIGIE_ASSIGN_OR_RETURN(
      Rows pk, d_.store.Query("SELECT package_id, path, file_sha256, enrollment_key, "
                              "enrollment_key_fingerprint, expires_at FROM packages "
                              "WHERE site_id = ? ORDER BY created_at DESC, package_id LIMIT 1",
                              {site_}));
  if (pk.size() != 1) {
    return MakeError(ErrorCode::kInternal,
                     fmt::format("site {} is marked provisioned but has no package record", site_));
  }
  VIGIE_ASSIGN_OR_RETURN(r.package_id, pk[0].GetText("package_id"));
  VIGIE_ASSIGN_OR_RETURN(r.package_path, pk[0].GetText("path"));
  VIGIE_ASSIGN_OR_RETURN(r.package_sha256, pk[0].GetText("file_sha256"));
  VIGIE_ASSIGN_OR_RETURN(r.enrollment_key_fingerprint, pk[0].GetText("enrollment_key_fingerprint"));
  VIGIE_ASSIGN_OR_RETURN(int64_t expires, pk[0].GetInt("expires_at"));
  r.package_expires_at = FromUnixSeconds(expires);
  VIGIE_ASSIGN_OR_RETURN(Bytes enrollment_key, pk[0].GetBlob("enrollment_key"));
  if (enrollment_key !=
      Bytes(req_.enrollment_public_key.begin(), req_.enrollment_public_key.end())) {
    return MakeError(
        ErrorCode::kAlreadyExists,
        fmt::format("site {} is already provisioned, sealed to enrollment key {}, but this "
                    "request names key {}: nothing was changed. Use the site's original "
                    "enrollment.pub (re-issuing credentials to a new key is a separate operation)",
                    site_, r.enrollment_key_fingerprint,
                    package::EnrollmentKeyFingerprint(req_.enrollment_public_key)));
  }

  VIGIE_ASSIGN_OR_RETURN(
      Rows cr, d_.store.Query("SELECT name, kind, provenance, generator, alphabet, entropy_bits, "
                              "must_change, secret_ref FROM credentials WHERE site_id = ? "
                              "ORDER BY name",
                              {site_}));
  for (const auto& row : cr) {
    CredentialInfo c;
    VIGIE_ASSIGN_OR_RETURN(c.name, row.GetText("name"));
    VIGIE_ASSIGN_OR_RETURN(c.kind, row.GetText("kind"));
    VIGIE_ASSIGN_OR_RETURN(c.provenance, row.GetText("provenance"));
    VIGIE_ASSIGN_OR_RETURN(c.generator, row.GetText("generator"));
    VIGIE_ASSIGN_OR_RETURN(c.alphabet, row.GetText("alphabet"));
    VIGIE_ASSIGN_OR_RETURN(int64_t bits, row.GetInt("entropy_bits"));
    c.entropy_bits = static_cast<int>(bits);
    VIGIE_ASSIGN_OR_RETURN(int64_t mc, row.GetInt("must_change"));
    c.must_change = mc != 0;
    VIGIE_ASSIGN_OR_RETURN(c.secret_ref, row.GetText("secret_ref"));
    r.credentials.push_back(std::move(c));
  }
  return r;
}

Result<std::optional<ProvisionResult>> Provisioner::Run::Register() {
  VIGIE_ASSIGN_OR_RETURN(std::optional<StoredSite> stored, LoadSite(d_.store, site_));
  if (stored && stored->state == kStateProvisioned) {
    if (stored->region != req_.region) {
      return MakeError(ErrorCode::kAlreadyExists,
                       fmt::format("site {} is already provisioned in region {}, not {}: nothing "
                                   "was changed",
                                   site_, stored->region, req_.region));
    }
    VIGIE_ASSIGN_OR_RETURN(ProvisionResult existing, Existing());
    log::Info("site.provision.noop", {{"site", site_}, {"principal", existing.principal_arn}});
    return std::optional<ProvisionResult>(std::move(existing));
  }

  // The fleet key every package of this fleet is signed with: pinned on first use.
  const crypto::Ed25519PublicKey& fleet_pub = d_.fleet_key.public_key();
  const Bytes fleet_pub_bytes(fleet_pub.begin(), fleet_pub.end());
  VIGIE_ASSIGN_OR_RETURN(Rows pinned, d_.store.Query("SELECT value FROM kv WHERE key = ?",
                                                     {std::string(kFleetKeyKv)}));
  if (!pinned.empty()) {
    VIGIE_ASSIGN_OR_RETURN(Bytes value, pinned[0].GetBlob("value"));
    if (value != fleet_pub_bytes) {
      return MakeError(ErrorCode::kFailedPrecondition,
                       fmt::format("site {}: the fleet signing key {} is not the key {} this "
                                   "fleet's earlier packages were signed with, which agents "
                                   "verify against (PROV_023): load the fleet's original "
                                   "signing key",
                                   site_, FleetKeyHex(d_.fleet_key), HexEncode(value)));
    }
  }

  attempt_ = (stored ? stored->attempts : 0) + 1;
  const int64_t now = Now();
  auto s = d_.store.Write([&](Txn& t) -> vigie::Status {
    if (pinned.empty()) {
      VIGIE_RETURN_IF_ERROR(t.Exec("INSERT INTO kv(key, value) VALUES(?, ?)",
                                   {std::string(kFleetKeyKv), fleet_pub_bytes}));
    }
    if (stored) {
      VIGIE_RETURN_IF_ERROR(
          t.Exec("UPDATE sites SET region = ?, state = ?, updated_at = ? "
                 "WHERE id = ?",
                 {req_.region, std::string(kStateProvisioning), now, site_}));
    } else {
      VIGIE_RETURN_IF_ERROR(
          t.Exec("INSERT INTO sites(id, region, state, created_at, updated_at) "
                 "VALUES(?, ?, ?, ?, ?)",
                 {site_, req_.region, std::string(kStateProvisioning), now, now}));
    }
    VIGIE_ASSIGN_OR_RETURN(int64_t n,
                           t.ExecCount("UPDATE site_provisioning SET attempts = ?, failed_step = "
                                       "NULL, failure = NULL, updated_at = ? WHERE site_id = ?",
                                       {int64_t{attempt_}, now, site_}));
    if (n == 0) {
      VIGIE_RETURN_IF_ERROR(
          t.Exec("INSERT INTO site_provisioning(site_id, attempts, leftover_principal, "
                 "updated_at) VALUES(?, ?, 0, ?)",
                 {site_, int64_t{attempt_}, now}));
    }
    return t.Exec(
        "INSERT INTO provision_steps(site_id, attempt, step, outcome, detail, at) "
        "VALUES(?, ?, ?, 'done', ?, ?)",
        {site_, int64_t{attempt_}, std::string(kStepRegister),
         fmt::format("region {}, attempt {}", req_.region, attempt_), now});
  });
  if (!s) {
    return tl::unexpected(s.error().Wrap(fmt::format("site {}: step register failed", site_)));
  }
  result_.steps.emplace_back(kStepRegister);
  log::Info("site.provision.start",
            {{"site", site_}, {"region", req_.region}, {"attempt", attempt_}});
  if (stored) {
    VIGIE_RETURN_IF_ERROR(Cleanup(*stored));
  }
  return std::optional<ProvisionResult>();
}

vigie::Status Provisioner::Run::Cleanup(const StoredSite& site) {
  std::vector<std::string> removed;
  auto clear = [&](std::string_view column, Value value) {
    const int64_t now = Now();
    return d_.store.Write([&](Txn& t) {
      return t.Exec(fmt::format("UPDATE site_provisioning SET {} = ?, updated_at = ? "
                                "WHERE site_id = ?",
                                column),
                    {value, now, site_});
    });
  };
  auto undo = [&](bool present, std::string what, const std::function<vigie::Status()>& fn,
                  std::string_view column, Value cleared) -> vigie::Status {
    if (!present) return OkStatus();
    if (auto s = fn(); !s) {
      return tl::unexpected(
          s.error().Wrap(fmt::format("removing {} left by an earlier failed run", what)));
    }
    VIGIE_RETURN_IF_ERROR(clear(column, std::move(cleared)));
    removed.push_back(std::move(what));
    return OkStatus();
  };
  vigie::Status s = undo(
      !site.leftover_package.empty(), "package file " + site.leftover_package,
      [&] { return d_.env.fs->Remove(site.leftover_package); }, "leftover_package", Value());
  if (s) {
    s = undo(
        !site.leftover_secret.empty(), "secret " + site.leftover_secret,
        [&] { return d_.secrets.Delete(site.leftover_secret); }, "leftover_secret", Value());
  }
  if (s) {
    s = undo(
        !site.leftover_access_key.empty(), "access key " + site.leftover_access_key,
        [&] { return d_.identity.DeleteAccessKey(site_, site.leftover_access_key); },
        "leftover_access_key", Value());
  }
  if (s) {
    s = undo(
        site.leftover_principal, "principal", [&] { return d_.identity.DeletePrincipal(site_); },
        "leftover_principal", Value(int64_t{0}));
  }
  if (s) {
    s = undo(
        !site.leftover_kms_key.empty(), "KMS key " + site.leftover_kms_key,
        [&] { return d_.kms.ScheduleKeyDeletion(site.leftover_kms_key, o_.kms_deletion_days); },
        "leftover_kms_key", Value());
  }
  if (!s) return tl::unexpected(Fail(kStepCleanup, s.error()));
  if (!removed.empty()) {
    std::string detail = "removed ";
    for (size_t i = 0; i < removed.size(); ++i) detail += (i ? ", " : "") + removed[i];
    Done(kStepCleanup, detail);
    if (step_record_error_) return tl::unexpected(Fail(kStepCleanup, *step_record_error_));
  }
  return OkStatus();
}

vigie::Status Provisioner::Run::KmsKey() {
  backend::Tags tags{{"site", site_}, {"vigie:managed", "true"}, {"vigie:purpose", "site-key"}};
  VIGIE_ASSIGN_OR_RETURN(backend::KmsKeyInfo key,
                         d_.kms.CreateKey(fmt::format("vigie site {}", site_), tags));
  created_.kms_key_id = key.key_id;
  result_.kms_key_id = key.key_id;
  result_.kms_key_arn = key.arn;
  VIGIE_RETURN_IF_ERROR(d_.kms.EnableKeyRotation(key.key_id, o_.kms_rotation_days));
  const int64_t now = Now();
  Done(
      kStepKmsKey,
      fmt::format("key {} ({}), rotation every {} days", key.key_id, key.arn, o_.kms_rotation_days),
      [&](Txn& t) {
        return t.Exec(
            "UPDATE site_provisioning SET kms_key_id = ?, kms_key_arn = ?, "
            "updated_at = ? WHERE site_id = ?",
            {key.key_id, key.arn, now, site_});
      });
  return OkStatus();
}

vigie::Status Provisioner::Run::Principal() {
  backend::SiteScope scope{site_,
                           req_.region,
                           o_.s3_bucket,
                           o_.s3_bucket.empty() ? "" : fmt::format("sites/{}/", site_),
                           SecretsPrefix(site_),
                           result_.kms_key_arn};
  VIGIE_RETURN_IF_ERROR(backend::ValidateSiteScope(scope));
  // Set before the call: a backend that fails half-way (user created, policy not applied)
  // leaves a principal that compensation must delete; deleting a missing one succeeds.
  created_.principal = true;
  VIGIE_ASSIGN_OR_RETURN(principal_, d_.identity.EnsurePrincipal(scope));
  result_.principal_name = principal_.name;
  result_.principal_arn = principal_.arn;
  Done(kStepPrincipal, fmt::format("{} ({})", principal_.name, principal_.arn));
  return OkStatus();
}

vigie::Status Provisioner::Run::AccessKey() {
  // A site that is not provisioned never delivered a package: any key its principal holds is
  // stale (from a crashed run) and is removed before the new one is made.
  VIGIE_ASSIGN_OR_RETURN(std::vector<std::string> stale, d_.identity.ListAccessKeyIds(site_));
  for (const auto& id : stale) {
    VIGIE_RETURN_IF_ERROR(d_.identity.DeleteAccessKey(site_, id));
    log::Warn("site.provision.stale_access_key_deleted", {{"site", site_}, {"key_id", id}});
  }
  VIGIE_ASSIGN_OR_RETURN(backend::AccessKey key, d_.identity.CreateAccessKey(site_));
  created_.access_key_id = key.access_key_id;
  result_.access_key_id = key.access_key_id;
  access_secret_ = std::move(key.secret_access_key);
  const int bits = ProviderSecretEntropyBits(access_secret_);
  if (bits < crypto::kMinCredentialEntropyBits) {
    return MakeError(
        ErrorCode::kFailedPrecondition,
        fmt::format("the {} identity backend returned a secret access key of {} "
                    "characters (< {} bits of entropy, PROV_002)",
                    d_.identity.Name(), access_secret_.size(), crypto::kMinCredentialEntropyBits));
  }
  Done(kStepAccessKey, fmt::format("access key {}", key.access_key_id));
  return OkStatus();
}

vigie::Status Provisioner::Run::Credentials() {
  const WallTime now = d_.env.clock->Now();
  // The provider-made cloud key first, then the three vigie generates.
  CredentialInfo cloud;
  cloud.name = std::string(package::kCloudSecretAccessKey);
  cloud.kind = "cloud_access_key";
  cloud.provenance = "generated";
  cloud.generator = fmt::format("{}.identity.CreateAccessKey", d_.identity.Name());
  cloud.alphabet = "provider";
  cloud.entropy_bits = ProviderSecretEntropyBits(access_secret_);
  credentials_.push_back(NewCredential{std::move(cloud), access_secret_.Clone(), now});

  struct Spec {
    std::string_view name;
    std::string_view kind;
    crypto::Alphabet alphabet;
    bool must_change;
  };
  const Spec specs[] = {
      {package::kAgentApiSecret, "api_secret", crypto::Alphabet::kBase64Url, false},
      {package::kAdminPassword, "admin_password", crypto::Alphabet::kAlnumSymbols, true},
      {package::kDbPassword, "db_password", crypto::Alphabet::kAlnum, false},
  };
  Env env = d_.env;
  for (const Spec& spec : specs) {
    VIGIE_ASSIGN_OR_RETURN(crypto::GeneratedCredential g,
                           crypto::GenerateCredential(env, spec.alphabet));
    NewCredential c{FromProvenance(std::string(spec.name), std::string(spec.kind), g.provenance,
                                   spec.must_change),
                    std::move(g.value), g.provenance.created_at};
    if (spec.name == package::kAgentApiSecret) c.info.secret_ref = AgentSecretName(site_);
    credentials_.push_back(std::move(c));
  }
  created_.package_id = package::NewPackageId(*d_.env.random);
  result_.package_id = created_.package_id;
  std::string detail;
  for (const auto& c : credentials_) {
    detail += fmt::format("{}{} ({}, {} bits)", detail.empty() ? "" : ", ", c.info.name,
                          c.info.generator, c.info.entropy_bits);
    result_.credentials.push_back(c.info);
  }
  Done(kStepCredentials, detail);
  return OkStatus();
}

vigie::Status Provisioner::Run::AgentSecret() {
  const std::string name = AgentSecretName(site_);
  const NewCredential* agent = nullptr;
  for (const auto& c : credentials_) {
    if (c.info.name == package::kAgentApiSecret) agent = &c;
  }
  if (agent == nullptr) {
    return MakeError(ErrorCode::kInternal, "agent API secret missing before the secret step");
  }
  created_.secret_name = name;
  // A secret under this name was never delivered (the site is not provisioned): replace it.
  VIGIE_RETURN_IF_ERROR(d_.secrets.Delete(name));
  backend::Tags tags{{"site", site_}, {"kind", "agent_api_secret"}, {"vigie:managed", "true"}};
  VIGIE_ASSIGN_OR_RETURN(backend::SecretVersion v,
                         d_.secrets.Create(name, agent->value, tags, created_.package_id));
  Done(kStepAgentSecret, fmt::format("secret {} version {}", v.name, v.version_id));
  return OkStatus();
}

vigie::Status Provisioner::Run::Package() {
  package::Manifest m;
  m.site_id = site_;
  m.package_id = created_.package_id;
  m.fleet_url = o_.fleet_url;
  m.fleet_tls_pin = o_.fleet_tls_pin;
  m.fleet_ca_pem = o_.fleet_ca_pem;
  m.created_at = FromUnixSeconds(Now());
  m.expires_at = m.created_at + o_.package_validity;
  package::SiteSecrets secrets;
  secrets.items.push_back(package::SecretItem{std::string(package::kCloudAccessKeyId),
                                              SecretBytes::CopyFrom(result_.access_key_id), false});
  for (const auto& c : credentials_) {
    secrets.items.push_back(package::SecretItem{c.info.name, c.value.Clone(), c.info.must_change});
  }
  VIGIE_ASSIGN_OR_RETURN(
      package_file_, package::BuildPackage(m, secrets, req_.enrollment_public_key, d_.fleet_key));
  const std::string path = fmt::format("{}/{}{}", o_.out_dir, site_, package::kFileExtension);
  created_.package_path = path;
  VIGIE_RETURN_IF_ERROR(d_.env.fs->CreateDirs(o_.out_dir, 0700));
  VIGIE_RETURN_IF_ERROR(d_.env.fs->WriteFileAtomic(path, AsString(package_file_), 0600));
  result_.package_path = path;
  result_.package_sha256 = HexEncode(crypto::Sha256(package_file_));
  result_.package_expires_at = m.expires_at;
  result_.enrollment_key_fingerprint =
      package::EnrollmentKeyFingerprint(req_.enrollment_public_key);
  Done(kStepPackage, fmt::format("{} ({} bytes, sha256 {}), sealed to enrollment key {}", path,
                                 package_file_.size(), result_.package_sha256,
                                 result_.enrollment_key_fingerprint));
  return OkStatus();
}

vigie::Status Provisioner::Run::Record() {
  VIGIE_ASSIGN_OR_RETURN(package::SignedParts parts, package::ExtractSignedParts(package_file_));
  const Bytes signed_bytes(parts.signed_bytes.begin(), parts.signed_bytes.end());
  const Bytes signature(parts.signature.begin(), parts.signature.end());
  const auto& fleet_pub = d_.fleet_key.public_key();
  const Bytes fleet_key(fleet_pub.begin(), fleet_pub.end());
  const Bytes enrollment_key(req_.enrollment_public_key.begin(), req_.enrollment_public_key.end());
  const int64_t now = Now();
  const int64_t expires = ToUnixSeconds(result_.package_expires_at);
  created_.package_id = result_.package_id;
  auto s = d_.store.Write([&](Txn& t) -> vigie::Status {
    VIGIE_RETURN_IF_ERROR(t.Exec("DELETE FROM credentials WHERE site_id = ?", {site_}));
    for (const auto& c : credentials_) {
      VIGIE_RETURN_IF_ERROR(t.Exec(
          "INSERT INTO credentials(site_id, name, kind, provenance, generator, entropy_bits, "
          "alphabet, verifier_kind, verifier, secret_ref, must_change, changed_at, created_at) "
          "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
          {site_, c.info.name, c.info.kind, c.info.provenance, c.info.generator,
           int64_t{c.info.entropy_bits}, c.info.alphabet, std::string(kVerifierSha256),
           CredentialVerifier(site_, c.info.name, c.value), c.info.secret_ref,
           int64_t{c.info.must_change ? 1 : 0}, ToUnixSeconds(c.created_at)}));
    }
    VIGIE_RETURN_IF_ERROR(t.Exec("DELETE FROM site_principals WHERE site_id = ?", {site_}));
    VIGIE_RETURN_IF_ERROR(
        t.Exec("INSERT INTO site_principals(site_id, backend, name, arn, policy, access_key_id, "
               "kms_key_arn, created_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
               {site_, std::string(d_.identity.Name()), principal_.name, principal_.arn,
                principal_.policy_document, result_.access_key_id, result_.kms_key_arn, now}));
    VIGIE_RETURN_IF_ERROR(t.Exec(
        "INSERT INTO packages(package_id, site_id, path, file_sha256, signed_bytes, signature, "
        "fleet_key, enrollment_key, enrollment_key_fingerprint, created_at, expires_at) "
        "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        {result_.package_id, site_, result_.package_path, result_.package_sha256, signed_bytes,
         signature, fleet_key, enrollment_key, result_.enrollment_key_fingerprint, now, expires}));
    VIGIE_RETURN_IF_ERROR(t.Exec("UPDATE sites SET state = ?, updated_at = ? WHERE id = ?",
                                 {std::string(kStateProvisioned), now, site_}));
    return t.Exec(
        "INSERT INTO provision_steps(site_id, attempt, step, outcome, detail, at) "
        "VALUES(?, ?, ?, 'done', ?, ?)",
        {site_, int64_t{attempt_}, std::string(kStepRecord),
         fmt::format("{} credentials, package {}", credentials_.size(), result_.package_id), now});
  });
  VIGIE_RETURN_IF_ERROR(s);
  result_.steps.emplace_back(kStepRecord);
  return OkStatus();
}

vigie::Status Provisioner::Run::Event() {
  Json body = Json::object();
  body["site"] = site_;
  body["region"] = req_.region;
  body["attempt"] = attempt_;
  body["principal_arn"] = result_.principal_arn;
  body["access_key_id"] = result_.access_key_id;
  body["kms_key_arn"] = result_.kms_key_arn;
  body["package_id"] = result_.package_id;
  body["package_sha256"] = result_.package_sha256;
  body["enrollment_key_fingerprint"] = result_.enrollment_key_fingerprint;
  body["fleet_signing_key"] = FleetKeyHex(d_.fleet_key);
  Json creds = Json::array();
  for (const auto& c : result_.credentials) {
    Json j = Json::object();
    j["name"] = c.name;
    j["generator"] = c.generator;
    j["entropy_bits"] = c.entropy_bits;
    j["must_change"] = c.must_change;
    creds.push_back(std::move(j));
  }
  body["credentials"] = std::move(creds);
  VIGIE_RETURN_IF_ERROR(d_.events.Append("site.provisioned", site_, body.dump()));
  Done(kStepEvent, "site.provisioned");
  return OkStatus();
}

Error Provisioner::Run::Fail(std::string_view step, const Error& cause) {
  log::Error("site.provision.step_failed",
             {{"site", site_}, {"step", step}, {"error", cause.ToString()}});
  (void)StepRow(step, "failed", cause.ToString());

  std::vector<std::string> undone;
  std::vector<std::string> left;
  // Leftover columns, set only for what could not be undone.
  std::string left_package, left_secret, left_key, left_kms;
  bool left_principal = false;
  auto undo = [&](std::string_view what, const std::function<vigie::Status()>& fn) {
    auto s = fn();
    if (s) {
      undone.emplace_back(what);
      (void)StepRow(step, "undone", what);
      return true;
    }
    left.push_back(fmt::format("{} ({})", what, s.error().ToString()));
    (void)StepRow(step, "undo_failed", fmt::format("{}: {}", what, s.error().ToString()));
    log::Error("site.provision.undo_failed",
               {{"site", site_}, {"what", what}, {"error", s.error().ToString()}});
    return false;
  };
  if (!created_.package_id.empty() && step == kStepEvent) {
    undo("records", [&] {
      return d_.store.Write([&](Txn& t) -> vigie::Status {
        VIGIE_RETURN_IF_ERROR(t.Exec("DELETE FROM credentials WHERE site_id = ?", {site_}));
        VIGIE_RETURN_IF_ERROR(t.Exec("DELETE FROM site_principals WHERE site_id = ?", {site_}));
        return t.Exec("DELETE FROM packages WHERE package_id = ?", {created_.package_id});
      });
    });
  }
  if (!created_.package_path.empty()) {
    const std::string path = created_.package_path;
    if (!undo("package file " + path, [&] { return d_.env.fs->Remove(path); })) {
      left_package = path;
    }
  }
  if (!created_.secret_name.empty()) {
    const std::string name = created_.secret_name;
    if (!undo("secret " + name, [&] { return d_.secrets.Delete(name); })) left_secret = name;
  }
  if (!created_.access_key_id.empty()) {
    const std::string id = created_.access_key_id;
    if (!undo("access key " + id, [&] { return d_.identity.DeleteAccessKey(site_, id); })) {
      left_key = id;
    }
  }
  if (created_.principal) {
    if (!undo("principal", [&] { return d_.identity.DeletePrincipal(site_); })) {
      left_principal = true;
    }
  }
  if (!created_.kms_key_id.empty()) {
    const std::string id = created_.kms_key_id;
    if (!undo(fmt::format("KMS key {} (deletion in {} days)", id, o_.kms_deletion_days),
              [&] { return d_.kms.ScheduleKeyDeletion(id, o_.kms_deletion_days); })) {
      left_kms = id;
    }
  }

  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
    return out;
  };
  std::string message = fmt::format("site {}: step {} failed: {}", site_, step, cause.message);
  message += undone.empty() ? "; nothing to undo" : "; undone: " + join(undone);
  if (!left.empty()) {
    message += "; could NOT undo: " + join(left) + " (recorded; the next run removes them)";
  }
  message += fmt::format(
      ". Fix the cause, then run `vigie site provision {}` again: it resumes "
      "and never creates a second principal",
      site_);

  const int64_t now = Now();
  auto nullable = [](const std::string& s) { return s.empty() ? Value() : Value(s); };
  auto recorded = d_.store.Write([&](Txn& t) -> vigie::Status {
    VIGIE_RETURN_IF_ERROR(t.Exec("UPDATE sites SET state = ?, updated_at = ? WHERE id = ?",
                                 {std::string(kStateFailed), now, site_}));
    return t.Exec(
        "UPDATE site_provisioning SET failed_step = ?, failure = ?, kms_key_id = NULL, "
        "kms_key_arn = NULL, leftover_kms_key = ?, leftover_principal = ?, "
        "leftover_access_key = ?, leftover_secret = ?, leftover_package = ?, updated_at = ? "
        "WHERE site_id = ?",
        {std::string(step), message, nullable(left_kms), int64_t{left_principal ? 1 : 0},
         nullable(left_key), nullable(left_secret), nullable(left_package), now, site_});
  });
  if (!recorded) {
    message += fmt::format(" (recording the failure in the store failed too: {})",
                           recorded.error().ToString());
  }
  Json body = Json::object();
  body["site"] = site_;
  body["attempt"] = attempt_;
  body["step"] = std::string(step);
  body["error"] = cause.ToString();
  body["undone"] = undone;
  body["not_undone"] = left;
  if (auto s = d_.events.Append("site.provision_failed", site_, body.dump()); !s) {
    log::Warn("site.provision.event_failed", {{"site", site_}, {"error", s.error().ToString()}});
  }
  return Error{cause.code, std::move(message)};
}

Result<ProvisionResult> Provisioner::Run::Go() {
  VIGIE_RETURN_IF_ERROR(Validate());
  result_.site_id = site_;
  result_.region = req_.region;
  VIGIE_ASSIGN_OR_RETURN(std::optional<ProvisionResult> existing, Register());
  if (existing) return std::move(*existing);
  result_.attempt = attempt_;

  using StepFn = vigie::Status (Run::*)();
  const std::pair<std::string_view, StepFn> steps[] = {
      {kStepKmsKey, &Run::KmsKey},           {kStepPrincipal, &Run::Principal},
      {kStepAccessKey, &Run::AccessKey},     {kStepCredentials, &Run::Credentials},
      {kStepAgentSecret, &Run::AgentSecret}, {kStepPackage, &Run::Package},
      {kStepRecord, &Run::Record},           {kStepEvent, &Run::Event},
  };
  for (const auto& [name, fn] : steps) {
    vigie::Status s = (this->*fn)();
    if (!s) return tl::unexpected(Fail(name, s.error()));
    if (step_record_error_) return tl::unexpected(Fail(name, *step_record_error_));
  }
  log::Info("site.provisioned", {{"site", site_},
                                 {"principal", result_.principal_arn},
                                 {"package", result_.package_path},
                                 {"attempt", attempt_}});
  return std::move(result_);
}

Provisioner::Provisioner(ProvisionDeps deps, ProvisionOptions options)
    : deps_(deps), options_(std::move(options)) {}

Result<ProvisionResult> Provisioner::Provision(const SiteRequest& request) {
  Run run(*this, request);
  return run.Go();
}

Result<Provisioner::BatchResult> Provisioner::ProvisionBatch(
    const std::vector<SiteRequest>& requests, const ProgressCallback& progress) {
  std::set<std::string> seen;
  for (const auto& r : requests) {
    if (!seen.insert(r.site_id).second) {
      return MakeError(
          ErrorCode::kInvalidArgument,
          fmt::format("site {} appears twice in the batch: list each site once", r.site_id));
    }
  }
  BatchResult out;
  size_t done = 0;
  for (const auto& r : requests) {
    BatchItem item;
    item.site_id = r.site_id;
    auto result = Provision(r);
    if (result) {
      item.result = std::move(*result);
    } else {
      item.error = result.error();
      ++out.failed;
    }
    out.items.push_back(std::move(item));
    ++done;
    if (progress) {
      const BatchItem& last = out.items.back();
      progress(done, requests.size(), r.site_id, last.error ? &*last.error : nullptr);
    }
  }
  return out;
}

}  // namespace vigie::provision
