#pragma once
// EvidenceSource: the read-only view of recorded facts that compliance checks judge.
//
// Checks never act on the world: they read what the capabilities recorded (sites, bootstrap
// records, heartbeats, backups, ...) through this interface, so the same check runs against the
// production store, a snapshot, or an in-memory fixture. The interface is deliberately minimal;
// each capability adds the typed queries its checks need when it lands.
//
// Thread-safety: implementations need not be thread-safe; the engine calls one source from one
// thread.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/encoding.h"
#include "base/env.h"

namespace vigie::compliance {

// What `vigie vault bootstrap|reconcile` recorded about one run (table vault_bootstrap, written by
// src/vault). Never a secret.
struct VaultRunEvidence {
  std::string action;   // "bootstrap" | "reconcile" | "check"
  std::string outcome;  // "ok" | "drift" | "refused" | "failed" | "needs_recovery"
  WallTime at;          // when the run finished
  std::string seal_type;  // as sys/seal-status reported it; "" when it could not be read
  bool initialized = false;
  bool sealed = true;
  int64_t drift = -1;  // policies differing from config at the end of the run; -1 = not measured
  std::string policy_digest;  // SHA-256 of the config's policy set
  std::string message;

  friend bool operator==(const VaultRunEvidence&, const VaultRunEvidence&) = default;
};

// The run that sent sys/init (PROV_011, PROV_012).
struct VaultInitEvidence {
  WallTime at;
  std::string outcome;
  int64_t recovery_shares = 0;
  int64_t recovery_threshold = 0;
  int64_t shares_stored = 0;
  std::optional<WallTime> root_revoked_at;
  bool root_revocation_verified = false;

  friend bool operator==(const VaultInitEvidence&, const VaultInitEvidence&) = default;
};

struct VaultBootstrapEvidence {
  VaultRunEvidence latest;                          // the site's last run
  std::optional<VaultRunEvidence> last_policy_run;  // the last run with drift >= 0
  std::optional<VaultInitEvidence> init;            // the last run that sent sys/init

  friend bool operator==(const VaultBootstrapEvidence&, const VaultBootstrapEvidence&) = default;
};

// One secret of the secrets backend, by name and tags (never its value).
struct SecretEvidence {
  std::string name;
  std::map<std::string, std::string> tags;

  friend bool operator==(const SecretEvidence&, const SecretEvidence&) = default;
};

// What `vigie site provision` recorded (src/provision/provisioner.h; tables site_principals,
// credentials, packages). Never a secret: names, provenance, verifiers, signed public bytes.
struct PrincipalEvidence {  // PROV_001
  std::string site_id;
  std::string backend;  // "aws" | "local" | ...
  std::string name;
  std::string arn;
  std::string policy_document;  // the JSON policy as applied
  std::string access_key_id;
  std::string kms_key_arn;  // the site's own KMS key

  friend bool operator==(const PrincipalEvidence&, const PrincipalEvidence&) = default;
};
struct CredentialEvidence {  // PROV_002, PROV_003, PROV_005
  std::string name;          // agent_api_secret, admin_password, db_password, ...
  std::string kind;          // cloud_access_key | api_secret | admin_password | db_password
  std::string provenance;    // "generated" when vigie or the provider generated it
  std::string generator;
  std::string alphabet;
  int64_t entropy_bits = 0;
  std::string verifier_kind;  // "sha256"
  Bytes verifier;             // SHA-256 verifier (32 bytes); never the value
  std::string secret_ref;     // secrets-backend name of a readable copy; may be empty
  bool must_change = false;
  std::optional<WallTime> changed_at;

  friend bool operator==(const CredentialEvidence&, const CredentialEvidence&) = default;
};
struct PackageEvidence {  // PROV_003, PROV_023
  std::string package_id;
  Bytes signed_bytes;    // header + manifest, exactly the bytes the fleet key signed
  Bytes signature;       // Ed25519, 64 bytes
  Bytes fleet_key;       // the Ed25519 public key recorded as signer
  Bytes enrollment_key;  // X25519 public key the secret section was sealed to
  std::string enrollment_key_fingerprint;  // hex SHA-256 of enrollment_key
  WallTime created_at;
  WallTime expires_at;

  friend bool operator==(const PackageEvidence&, const PackageEvidence&) = default;
};

// One status the ledger's anchoring recorded for an anchor (table ledger_anchors, written by
// src/ledger/anchor_store.h). PROV_020.
struct LedgerAnchorRowEvidence {
  std::string anchor;  // "ethereum" | "local"
  uint64_t tree_size = 0;
  std::string root;      // hex
  std::string chain_id;  // "" for local
  std::string tx_hash;   // "" for local
  uint64_t block_number = 0;
  std::string block_hash;
  std::string state;  // "confirmed" | "pending" | "not_on_chain" | "mismatch" | "not_found"
  uint64_t confirmations = 0;
  uint64_t required_confirmations = 0;
  std::string detail;
  WallTime checked_at;

  friend bool operator==(const LedgerAnchorRowEvidence&, const LedgerAnchorRowEvidence&) = default;
};

// The ledger anchoring evidence of one site (PROV_020).
struct LedgerAnchorEvidence {
  std::optional<uint64_t> event_seq;  // the site's latest provisioning event (ledger seq)
  std::string event_kind;
  // The best anchor whose tree covers event_seq (confirmed on chain first, then pending on
  // chain, then local; the latest status of each anchor only).
  std::optional<LedgerAnchorRowEvidence> covering;
  std::optional<LedgerAnchorRowEvidence> latest;  // the latest anchor status of any size

  friend bool operator==(const LedgerAnchorEvidence&, const LedgerAnchorEvidence&) = default;
};

// What the fleet manager (src/fleet) recorded about one site: its registration (PROV_021), its
// recent healthchecks (MAINT_001, PROV_022), its licence activations with the healthcheck each
// relied on (PROV_022) and its liveness alerts (MAINT_002). Never a secret.
struct HealthcheckEvidence {
  int64_t id = 0;
  WallTime received_at;
  bool passed = false;

  friend bool operator==(const HealthcheckEvidence&, const HealthcheckEvidence&) = default;
};
struct LicenseActivationEvidence {
  WallTime activated_at;
  int64_t healthcheck_id = 0;
  WallTime healthcheck_at;
  // The referenced healthcheck row as stored (nullopt when it is missing).
  std::optional<HealthcheckEvidence> healthcheck;

  friend bool operator==(const LicenseActivationEvidence&,
                         const LicenseActivationEvidence&) = default;
};
struct AlertEvidence {
  std::string rule;      // "MAINT_002"
  std::string severity;  // "critical"
  std::string state;     // "firing" | "resolved"
  WallTime started_at;
  std::optional<WallTime> resolved_at;

  friend bool operator==(const AlertEvidence&, const AlertEvidence&) = default;
};
// MAINT_003: the latest self-check of a component's /metrics rendering, parsed and linted as
// promtool would (table metrics_selfcheck, written by the fleet manager: src/fleet/
// metrics_selfcheck.h).
struct MetricsSelfCheckEvidence {
  std::string component;  // "fleet"
  bool ok = false;
  int64_t families = 0;
  int64_t samples = 0;
  std::string error;  // "" when ok
  WallTime checked_at;
};
// MAINT_003: the self-check of its own /metrics an agent reported with the site's latest
// heartbeat ("metrics" in the stored healthcheck report, src/fleet/health_report.h).
struct AgentMetricsEvidence {
  WallTime received_at;   // of the latest heartbeat
  bool reported = false;  // false: that heartbeat carried no "metrics" (an older agent)
  bool ok = false;
  int64_t families = 0;
  int64_t samples = 0;
  std::string error;
};
struct FleetSiteEvidence {
  std::optional<WallTime> registered_at;  // nullopt: never registered
  std::string registered_package_id;
  // The recorded ones, oldest first: those of the fleet manager's retention window
  // (fleet.healthcheck_retention_minutes), plus those a licence relied on.
  std::vector<HealthcheckEvidence> healthchecks;
  // The site's last heartbeat (heartbeats_last): it outlives the pruned rows, so a site silent
  // for longer than the retention still shows its silence. nullopt: none recorded.
  std::optional<WallTime> last_heartbeat_at;
  std::vector<LicenseActivationEvidence> activations;
  std::vector<AlertEvidence> alerts;  // oldest first

  friend bool operator==(const FleetSiteEvidence&, const FleetSiteEvidence&) = default;
};

// Who uses each identifier across the fleet (PROV_001: "no principal, access key or secret is
// shared between two sites"). Built once per evaluation (BuildSharingIndex) so each per-site
// check looks its own identifiers up instead of scanning every other site: O(n) for the fleet,
// not O(n^2).
struct SharingIndex {
  std::vector<PrincipalEvidence> principals;
  // identifier -> the sites that use it
  std::map<std::string, std::vector<std::string>, std::less<>> by_name, by_arn, by_access_key,
      by_kms_key, by_secret_ref;
  std::map<std::string, std::vector<size_t>, std::less<>> principals_of_site;  // indexes
};

class EvidenceSource {
 public:
  virtual ~EvidenceSource() = default;

  // The fleet-wide sharing index of the current evaluation, or null outside one (a check then
  // builds its own with BuildSharingIndex). Set by compliance::Evaluate.
  const SharingIndex* sharing() const { return sharing_.get(); }
  void set_sharing(std::shared_ptr<const SharingIndex> index) { sharing_ = std::move(index); }

  // Brackets one evaluation (compliance::Evaluate calls them, EndEvaluation on every return
  // path). Between the two a source may answer from evidence it read once for the whole
  // evaluation (StoreEvidence loads each table once, in bulk, on first use); outside, every
  // query reads the evidence afresh. Calls do not nest.
  virtual void BeginEvaluation() {}
  virtual void EndEvaluation() {}

  // Ids of every provisioned site, sorted, without duplicates.
  virtual std::vector<std::string> Sites() = 0;
  // The time checks compare ages against ("last backup < 24 h old"); also the report's
  // generated_at.
  virtual WallTime Now() = 0;
  // A configuration value as read by vigie (e.g. "backup.retention_days"), or nullopt when the
  // key is not set. SECURITY: never returns a secret; implementations refuse secret keys.
  virtual std::optional<std::string> Config(std::string_view key) = 0;

  // The Vault bootstrap records of `site`, or nullopt when it has none (PROV_004, PROV_010..013).
  virtual std::optional<VaultBootstrapEvidence> VaultBootstrap(std::string_view site) {
    return std::nullopt;
  }
  // The secrets whose name starts with `prefix`, as the secrets backend lists them now; nullopt
  // when this source cannot see the secrets backend (then PROV_004 reports "no evidence").
  virtual std::optional<std::vector<SecretEvidence>> SecretsWithPrefix(std::string_view prefix) {
    return std::nullopt;
  }

  // Provisioning records (src/provision); nullopt when this source has none to offer.
  // Every site's principal (PROV_001 looks for sharing across sites).
  virtual std::optional<std::vector<PrincipalEvidence>> SitePrincipals() { return std::nullopt; }
  // The credential records of `site` (empty when it has none).
  virtual std::optional<std::vector<CredentialEvidence>> Credentials(std::string_view site) {
    return std::nullopt;
  }
  // The package records of `site`, oldest first (empty when it has none).
  virtual std::optional<std::vector<PackageEvidence>> Packages(std::string_view site) {
    return std::nullopt;
  }
  // The fleet's Ed25519 signing public key as pinned by provisioning (PROV_023).
  virtual std::optional<Bytes> FleetSigningKey() { return std::nullopt; }
  // The ledger anchoring records of `site` (PROV_020); nullopt when this source has none.
  virtual std::optional<LedgerAnchorEvidence> LedgerAnchor(std::string_view site) {
    return std::nullopt;
  }
  // The fleet manager's records of `site` (PROV_021, PROV_022, MAINT_001, MAINT_002); nullopt
  // when this source has none to offer.
  virtual std::optional<FleetSiteEvidence> FleetSite(std::string_view site) {
    return std::nullopt;
  }
  // MAINT_003: the latest /metrics self-check of `component` ("fleet"); nullopt when none was
  // recorded (or this source has none to offer).
  virtual std::optional<MetricsSelfCheckEvidence> MetricsSelfCheckRecord(
      std::string_view component) {
    return std::nullopt;
  }
  // MAINT_003: the metrics self-check of the latest heartbeat of `site`; nullopt when the site
  // has no heartbeat recorded (or this source has none to offer).
  virtual std::optional<AgentMetricsEvidence> AgentMetricsReport(std::string_view site) {
    return std::nullopt;
  }

 private:
  std::shared_ptr<const SharingIndex> sharing_;
};

// An EvidenceSource held in memory: for tests and benchmarks.
// Thread-safety: not thread-safe.
// Reads SitePrincipals() once and every site's credentials once. Null when the principals
// cannot be read (the check then reports no evidence).
std::shared_ptr<const SharingIndex> BuildSharingIndex(EvidenceSource& evidence);

class MemoryEvidence final : public EvidenceSource {
 public:
  explicit MemoryEvidence(WallTime now) : now_(now) {}

  void AddSite(std::string id) { sites_.insert(std::move(id)); }
  void SetNow(WallTime now) { now_ = now; }
  void SetConfig(std::string key, std::string value) { config_[std::move(key)] = std::move(value); }

  std::vector<std::string> Sites() override { return {sites_.begin(), sites_.end()}; }
  WallTime Now() override { return now_; }
  std::optional<std::string> Config(std::string_view key) override;

  void SetVaultBootstrap(std::string site, VaultBootstrapEvidence e) {
    vault_[std::move(site)] = std::move(e);
  }
  // Makes the secrets listing visible (until called, SecretsWithPrefix returns nullopt).
  void SetSecrets(std::vector<SecretEvidence> secrets) { secrets_ = std::move(secrets); }
  std::optional<VaultBootstrapEvidence> VaultBootstrap(std::string_view site) override;
  std::optional<std::vector<SecretEvidence>> SecretsWithPrefix(std::string_view prefix) override;

  // Provisioning evidence: each setter makes its query answer (until then: nullopt).
  void AddPrincipal(PrincipalEvidence p) { principals_.push_back(std::move(p)); }
  void SetCredentials(std::string site, std::vector<CredentialEvidence> c) {
    credentials_[std::move(site)] = std::move(c);
  }
  void SetPackages(std::string site, std::vector<PackageEvidence> p) {
    packages_[std::move(site)] = std::move(p);
  }
  void SetFleetSigningKey(Bytes key) { fleet_key_ = std::move(key); }
  std::optional<std::vector<PrincipalEvidence>> SitePrincipals() override;
  std::optional<std::vector<CredentialEvidence>> Credentials(std::string_view site) override;
  std::optional<std::vector<PackageEvidence>> Packages(std::string_view site) override;
  std::optional<Bytes> FleetSigningKey() override { return fleet_key_; }

  void SetLedgerAnchor(std::string site, LedgerAnchorEvidence e) {
    ledger_anchor_[std::move(site)] = std::move(e);
  }
  std::optional<LedgerAnchorEvidence> LedgerAnchor(std::string_view site) override {
    auto it = ledger_anchor_.find(site);
    if (it == ledger_anchor_.end()) return std::nullopt;
    return it->second;
  }

  void SetFleetSite(std::string site, FleetSiteEvidence e) {
    fleet_site_[std::move(site)] = std::move(e);
  }
  std::optional<FleetSiteEvidence> FleetSite(std::string_view site) override {
    auto it = fleet_site_.find(site);
    if (it == fleet_site_.end()) return std::nullopt;
    return it->second;
  }

  void SetMetricsSelfCheck(MetricsSelfCheckEvidence e) {
    metrics_selfcheck_[e.component] = std::move(e);
  }
  void SetAgentMetrics(std::string site, AgentMetricsEvidence e) {
    agent_metrics_[std::move(site)] = std::move(e);
  }
  std::optional<MetricsSelfCheckEvidence> MetricsSelfCheckRecord(
      std::string_view component) override {
    auto it = metrics_selfcheck_.find(component);
    if (it == metrics_selfcheck_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<AgentMetricsEvidence> AgentMetricsReport(std::string_view site) override {
    auto it = agent_metrics_.find(site);
    if (it == agent_metrics_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::string, VaultBootstrapEvidence, std::less<>> vault_;
  std::optional<std::vector<SecretEvidence>> secrets_;
  std::vector<PrincipalEvidence> principals_;
  std::map<std::string, std::vector<CredentialEvidence>, std::less<>> credentials_;
  std::map<std::string, std::vector<PackageEvidence>, std::less<>> packages_;
  std::optional<Bytes> fleet_key_;
  std::map<std::string, LedgerAnchorEvidence, std::less<>> ledger_anchor_;
  std::map<std::string, FleetSiteEvidence, std::less<>> fleet_site_;
  std::map<std::string, MetricsSelfCheckEvidence, std::less<>> metrics_selfcheck_;
  std::map<std::string, AgentMetricsEvidence, std::less<>> agent_metrics_;
  WallTime now_;
  std::set<std::string> sites_;
  std::map<std::string, std::string, std::less<>> config_;
};

}  // namespace vigie::compliance
