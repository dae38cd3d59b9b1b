#pragma once
// StoreEvidence: the EvidenceSource that reads what capabilities recorded in the fleet Store.
// Config values come from the loaded configuration (see config::EvidenceValues).
//
// Inside an evaluation (BeginEvaluation .. EndEvaluation, as compliance::Evaluate brackets it)
// each table is read ONCE, in bulk, on first use by any check, and split per site: a check over
// 10,000 sites costs a few queries, not a few per site and rule. Outside an evaluation (a check
// called directly, e.g. by a capability's test) every call queries the store afresh, so it sees
// writes made since the previous call.
//
// Thread-safety: not thread-safe (one evaluation, one thread; see EvidenceSource).

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "compliance/evidence.h"
#include "store/store.h"

namespace vigie::compliance {

class StoreEvidence final : public EvidenceSource {
 public:
  // `store` and `clock` must outlive this object.
  StoreEvidence(store::Store& store, Clock& clock, std::map<std::string, std::string> config);
  ~StoreEvidence() override;

  // Starts / ends answering from per-evaluation bulk reads (see above). EndEvaluation drops them.
  void BeginEvaluation() override;
  void EndEvaluation() override;

  // Sites in the `sites` table. A query failure is not hidden: it is remembered in error() and
  // the list is empty, so every per-site rule reports FAIL "no evidence".
  std::vector<std::string> Sites() override;
  WallTime Now() override { return clock_.Now(); }
  std::optional<std::string> Config(std::string_view key) override;
  // From the vault_bootstrap table (src/vault). A query failure is remembered in error() and
  // reported as no evidence (inside an evaluation: for every site).
  std::optional<VaultBootstrapEvidence> VaultBootstrap(std::string_view site) override;
  // Through the lister set with SetSecretLister; nullopt without one, or when it fails (the
  // failure is remembered in error()). Inside an evaluation each prefix is listed once.
  std::optional<std::vector<SecretEvidence>> SecretsWithPrefix(std::string_view prefix) override;
  // From the provisioning tables (site_principals, credentials, packages, kv). A query failure
  // is remembered in error() and reported as no evidence.
  std::optional<std::vector<PrincipalEvidence>> SitePrincipals() override;
  std::optional<std::vector<CredentialEvidence>> Credentials(std::string_view site) override;
  std::optional<std::vector<PackageEvidence>> Packages(std::string_view site) override;
  std::optional<Bytes> FleetSigningKey() override;
  // From ledger_site_events and ledger_anchors (src/ledger/anchor_store.h); nullopt when the
  // site has no provisioning event there (a query failure is remembered in error()).
  std::optional<LedgerAnchorEvidence> LedgerAnchor(std::string_view site) override;
  // From site_registrations, healthchecks, license_activations and alerts (src/fleet). A query
  // failure is remembered in error() and reported as no evidence.
  std::optional<FleetSiteEvidence> FleetSite(std::string_view site) override;
  // MAINT_003: from metrics_selfcheck, and from the "metrics" object of the site's last report
  // in heartbeats_last (inside an evaluation: one query for every site's last report). A
  // query failure is remembered in error() and reported as no evidence.
  std::optional<MetricsSelfCheckEvidence> MetricsSelfCheckRecord(
      std::string_view component) override;
  std::optional<AgentMetricsEvidence> AgentMetricsReport(std::string_view site) override;

  // Lists the secrets backend (the CLI wires it to backend::SecretsBackend::List).
  using SecretLister = std::function<Result<std::vector<SecretEvidence>>(std::string_view prefix)>;
  void SetSecretLister(SecretLister lister) { secret_lister_ = std::move(lister); }

  // The last query error, if any (the CLI prints it beside the report).
  const std::optional<Error>& error() const { return error_; }

 private:
  store::Store& store_;
  Clock& clock_;
  std::map<std::string, std::string, std::less<>> config_;
  std::optional<Error> error_;
  SecretLister secret_lister_;

  // Bulk reads of the current evaluation; null outside one.
  struct Cache;
  std::unique_ptr<Cache> cache_;
  void LoadVault();
  void LoadLedger();
  void LoadFleet();
  std::optional<LedgerAnchorEvidence> CachedLedgerAnchor(std::string_view site);
  // MAINT_003 bulk read of the current evaluation (null outside one or until first use).
  std::unique_ptr<std::map<std::string, AgentMetricsEvidence, std::less<>>> agent_metrics_;
};

}  // namespace vigie::compliance
