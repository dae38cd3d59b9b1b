#include "compliance/store_evidence.h"

namespace vigie::compliance {

StoreEvidence::StoreEvidence(store::Store& store, Clock& clock,
                             std::map<std::string, std::string> config)
    : store_(store), clock_(clock), config_(config.begin(), config.end()) {}

std::vector<std::string> StoreEvidence::Sites() {
  std::vector<std::string> out;
  auto rows = store_.Query("SELECT id FROM sites ORDER BY id", {});
  if (!rows) {
    error_ = rows.error().Wrap("reading the sites table");
    return out;
  }
  for (const auto& row : *rows) {
    auto id = row.GetText("id");
    if (!id) {
      error_ = id.error();
      return {};
    }
    out.push_back(std::move(*id));
  }
  return out;
}

std::optional<std::string> StoreEvidence::Config(std::string_view key) {
  auto it = config_.find(key);
  if (it == config_.end()) return std::nullopt;
  return it->second;
}

namespace {

Result<VaultRunEvidence> RunFromRow(const store::Row& row) {
  VaultRunEvidence e;
  VIGIE_ASSIGN_OR_RETURN(e.action, row.GetText("action"));
  VIGIE_ASSIGN_OR_RETURN(e.outcome, row.GetText("outcome"));
  VIGIE_ASSIGN_OR_RETURN(int64_t at, row.GetInt("finished_at"));
  e.at = FromUnixSeconds(at);
  VIGIE_ASSIGN_OR_RETURN(e.seal_type, row.GetText("seal_type"));
  VIGIE_ASSIGN_OR_RETURN(int64_t initialized, row.GetInt("initialized"));
  VIGIE_ASSIGN_OR_RETURN(int64_t sealed, row.GetInt("sealed"));
  e.initialized = initialized != 0;
  e.sealed = sealed != 0;
  VIGIE_ASSIGN_OR_RETURN(e.drift, row.GetInt("drift"));
  VIGIE_ASSIGN_OR_RETURN(e.policy_digest, row.GetText("policy_digest"));
  VIGIE_ASSIGN_OR_RETURN(e.message, row.GetText("message"));
  return e;
}

Result<VaultInitEvidence> InitFromRow(const store::Row& row) {
  VaultInitEvidence e;
  VIGIE_ASSIGN_OR_RETURN(int64_t at, row.GetInt("finished_at"));
  e.at = FromUnixSeconds(at);
  VIGIE_ASSIGN_OR_RETURN(e.outcome, row.GetText("outcome"));
  VIGIE_ASSIGN_OR_RETURN(e.recovery_shares, row.GetInt("recovery_shares"));
  VIGIE_ASSIGN_OR_RETURN(e.recovery_threshold, row.GetInt("recovery_threshold"));
  VIGIE_ASSIGN_OR_RETURN(e.shares_stored, row.GetInt("shares_stored"));
  VIGIE_ASSIGN_OR_RETURN(bool revoked_null, row.IsNull("root_revoked_at"));
  if (!revoked_null) {
    VIGIE_ASSIGN_OR_RETURN(int64_t revoked, row.GetInt("root_revoked_at"));
    e.root_revoked_at = FromUnixSeconds(revoked);
  }
  VIGIE_ASSIGN_OR_RETURN(int64_t verified, row.GetInt("root_revocation_verified"));
  e.root_revocation_verified = verified != 0;
  return e;
}

constexpr std::string_view kVaultColumns =
    "SELECT action, outcome, finished_at, seal_type, initialized, sealed, drift, policy_digest, "
    "message, recovery_shares, recovery_threshold, shares_stored, root_revoked_at, "
    "root_revocation_verified FROM vault_bootstrap WHERE site = ? ";

}  // namespace

std::optional<VaultBootstrapEvidence> StoreEvidence::VaultBootstrap(std::string_view site) {
  auto query = [&](std::string_view where) -> Result<std::optional<store::Row>> {
    VIGIE_ASSIGN_OR_RETURN(auto rows,
                           store_.Query(std::string(kVaultColumns) + std::string(where),
                                        {std::string(site)}));
    if (rows.empty()) return std::optional<store::Row>();
    return std::optional<store::Row>(std::move(rows[0]));
  };
  auto fail = [&](const Error& e) {
    error_ = e.Wrap("reading the vault_bootstrap table");
    return std::nullopt;
  };
  auto latest = query("ORDER BY id DESC LIMIT 1");
  if (!latest) return fail(latest.error());
  if (!latest->has_value()) return std::nullopt;
  VaultBootstrapEvidence out;
  auto run = RunFromRow(**latest);
  if (!run) return fail(run.error());
  out.latest = std::move(*run);
  auto policy = query("AND drift >= 0 ORDER BY id DESC LIMIT 1");
  if (!policy) return fail(policy.error());
  if (policy->has_value()) {
    auto p = RunFromRow(**policy);
    if (!p) return fail(p.error());
    out.last_policy_run = std::move(*p);
  }
  auto init = query("AND initialized_now = 1 ORDER BY id DESC LIMIT 1");
  if (!init) return fail(init.error());
  if (init->has_value()) {
    auto i = InitFromRow(**init);
    if (!i) return fail(i.error());
    out.init = std::move(*i);
  }
  return out;
}

std::optional<std::vector<SecretEvidence>> StoreEvidence::SecretsWithPrefix(
    std::string_view prefix) {
  if (!secret_lister_) return std::nullopt;
  auto listed = secret_lister_(prefix);
  if (!listed) {
    error_ = listed.error().Wrap("listing the secrets backend");
    return std::nullopt;
  }
  return std::move(*listed);
}

namespace {

Result<std::string> TextOrEmpty(const store::Row& row, std::string_view col) {
  VIGIE_ASSIGN_OR_RETURN(bool null, row.IsNull(col));
  if (null) return std::string();
  return row.GetText(col);
}

Result<std::vector<PrincipalEvidence>> ReadPrincipals(store::Store& store) {
  VIGIE_ASSIGN_OR_RETURN(auto rows,
                         store.Query("SELECT site_id, backend, name, arn, policy, access_key_id, "
                                     "kms_key_arn FROM site_principals ORDER BY site_id"));
  std::vector<PrincipalEvidence> out;
  for (const auto& row : rows) {
    PrincipalEvidence p;
    VIGIE_ASSIGN_OR_RETURN(p.site_id, row.GetText("site_id"));
    VIGIE_ASSIGN_OR_RETURN(p.backend, row.GetText("backend"));
    VIGIE_ASSIGN_OR_RETURN(p.name, row.GetText("name"));
    VIGIE_ASSIGN_OR_RETURN(p.arn, row.GetText("arn"));
    VIGIE_ASSIGN_OR_RETURN(p.policy_document, row.GetText("policy"));
    VIGIE_ASSIGN_OR_RETURN(p.access_key_id, row.GetText("access_key_id"));
    VIGIE_ASSIGN_OR_RETURN(p.kms_key_arn, row.GetText("kms_key_arn"));
    out.push_back(std::move(p));
  }
  return out;
}

Result<std::vector<CredentialEvidence>> ReadCredentials(store::Store& store,
                                                        std::string_view site) {
  VIGIE_ASSIGN_OR_RETURN(
      auto rows, store.Query("SELECT name, kind, provenance, generator, alphabet, entropy_bits, "
                             "verifier_kind, verifier, secret_ref, must_change, changed_at "
                             "FROM credentials WHERE site_id = ? ORDER BY name",
                             {std::string(site)}));
  std::vector<CredentialEvidence> out;
  for (const auto& row : rows) {
    CredentialEvidence c;
    VIGIE_ASSIGN_OR_RETURN(c.name, row.GetText("name"));
    VIGIE_ASSIGN_OR_RETURN(c.kind, row.GetText("kind"));
    VIGIE_ASSIGN_OR_RETURN(c.provenance, row.GetText("provenance"));
    VIGIE_ASSIGN_OR_RETURN(c.generator, row.GetText("generator"));
    VIGIE_ASSIGN_OR_RETURN(c.alphabet, row.GetText("alphabet"));
    VIGIE_ASSIGN_OR_RETURN(c.entropy_bits, row.GetInt("entropy_bits"));
    VIGIE_ASSIGN_OR_RETURN(c.verifier_kind, row.GetText("verifier_kind"));
    VIGIE_ASSIGN_OR_RETURN(const store::Value* verifier, row.Get("verifier"));
    // Whatever the column holds is judged, also a TEXT value where a verifier should be.
    if (const auto* b = std::get_if<Bytes>(verifier)) {
      c.verifier = *b;
    } else if (const auto* t = std::get_if<std::string>(verifier)) {
      c.verifier.assign(t->begin(), t->end());
    }
    VIGIE_ASSIGN_OR_RETURN(c.secret_ref, TextOrEmpty(row, "secret_ref"));
    VIGIE_ASSIGN_OR_RETURN(int64_t must_change, row.GetInt("must_change"));
    c.must_change = must_change != 0;
    VIGIE_ASSIGN_OR_RETURN(bool unchanged, row.IsNull("changed_at"));
    if (!unchanged) {
      VIGIE_ASSIGN_OR_RETURN(int64_t changed, row.GetInt("changed_at"));
      c.changed_at = FromUnixSeconds(changed);
    }
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<PackageEvidence>> ReadPackages(store::Store& store, std::string_view site) {
  VIGIE_ASSIGN_OR_RETURN(
      auto rows, store.Query("SELECT package_id, signed_bytes, signature, fleet_key, "
                             "enrollment_key, enrollment_key_fingerprint, created_at, expires_at "
                             "FROM packages WHERE site_id = ? ORDER BY created_at, package_id",
                             {std::string(site)}));
  std::vector<PackageEvidence> out;
  for (const auto& row : rows) {
    PackageEvidence p;
    VIGIE_ASSIGN_OR_RETURN(p.package_id, row.GetText("package_id"));
    VIGIE_ASSIGN_OR_RETURN(p.signed_bytes, row.GetBlob("signed_bytes"));
    VIGIE_ASSIGN_OR_RETURN(p.signature, row.GetBlob("signature"));
    VIGIE_ASSIGN_OR_RETURN(p.fleet_key, row.GetBlob("fleet_key"));
    VIGIE_ASSIGN_OR_RETURN(p.enrollment_key, row.GetBlob("enrollment_key"));
    VIGIE_ASSIGN_OR_RETURN(p.enrollment_key_fingerprint,
                           row.GetText("enrollment_key_fingerprint"));
    VIGIE_ASSIGN_OR_RETURN(int64_t created, row.GetInt("created_at"));
    VIGIE_ASSIGN_OR_RETURN(int64_t expires, row.GetInt("expires_at"));
    p.created_at = FromUnixSeconds(created);
    p.expires_at = FromUnixSeconds(expires);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

std::optional<std::vector<PrincipalEvidence>> StoreEvidence::SitePrincipals() {
  auto r = ReadPrincipals(store_);
  if (!r) {
    error_ = r.error().Wrap("reading the site_principals table");
    return std::nullopt;
  }
  return std::move(*r);
}

std::optional<std::vector<CredentialEvidence>> StoreEvidence::Credentials(std::string_view site) {
  auto r = ReadCredentials(store_, site);
  if (!r) {
    error_ = r.error().Wrap("reading the credentials table");
    return std::nullopt;
  }
  return std::move(*r);
}

std::optional<std::vector<PackageEvidence>> StoreEvidence::Packages(std::string_view site) {
  auto r = ReadPackages(store_, site);
  if (!r) {
    error_ = r.error().Wrap("reading the packages table");
    return std::nullopt;
  }
  return std::move(*r);
}

std::optional<Bytes> StoreEvidence::FleetSigningKey() {
  auto rows = store_.Query("SELECT value FROM kv WHERE key = ?",
                           {std::string("provision.fleet_signing_public_key")});
  if (!rows) {
    error_ = rows.error().Wrap("reading the fleet signing key from the kv table");
    return std::nullopt;
  }
  if (rows->empty()) return std::nullopt;
  auto key = (*rows)[0].GetBlob("value");
  if (!key) {
    error_ = key.error().Wrap("reading the fleet signing key from the kv table");
    return std::nullopt;
  }
  return std::move(*key);
}

namespace {

// Columns of ledger_anchors, and the latest status of each anchor (per transaction, or per tree
// size for records without one).
constexpr std::string_view kLedgerAnchorColumns =
    "SELECT anchor, tree_size, root, chain_id, tx_hash, block_number, block_hash, state, "
    "confirmations, required_confirmations, detail, checked_at FROM ledger_anchors ";
constexpr std::string_view kLatestPerAnchor =
    "id IN (SELECT MAX(id) FROM ledger_anchors GROUP BY anchor, tx_hash, tree_size) ";

Result<LedgerAnchorRowEvidence> LedgerAnchorFromRow(const store::Row& row) {
  LedgerAnchorRowEvidence e;
  VIGIE_ASSIGN_OR_RETURN(e.anchor, row.GetText("anchor"));
  VIGIE_ASSIGN_OR_RETURN(int64_t tree_size, row.GetInt("tree_size"));
  e.tree_size = static_cast<uint64_t>(tree_size);
  VIGIE_ASSIGN_OR_RETURN(e.root, row.GetText("root"));
  VIGIE_ASSIGN_OR_RETURN(e.chain_id, row.GetText("chain_id"));
  VIGIE_ASSIGN_OR_RETURN(e.tx_hash, row.GetText("tx_hash"));
  VIGIE_ASSIGN_OR_RETURN(int64_t block, row.GetInt("block_number"));
  e.block_number = static_cast<uint64_t>(block);
  VIGIE_ASSIGN_OR_RETURN(e.block_hash, row.GetText("block_hash"));
  VIGIE_ASSIGN_OR_RETURN(e.state, row.GetText("state"));
  VIGIE_ASSIGN_OR_RETURN(int64_t confirmations, row.GetInt("confirmations"));
  e.confirmations = static_cast<uint64_t>(confirmations);
  VIGIE_ASSIGN_OR_RETURN(int64_t required, row.GetInt("required_confirmations"));
  e.required_confirmations = static_cast<uint64_t>(required);
  VIGIE_ASSIGN_OR_RETURN(e.detail, row.GetText("detail"));
  VIGIE_ASSIGN_OR_RETURN(int64_t at, row.GetInt("checked_at"));
  e.checked_at = FromUnixSeconds(at);
  return e;
}

}  // namespace

std::optional<LedgerAnchorEvidence> StoreEvidence::LedgerAnchor(std::string_view site) {
  auto run = [&]() -> Result<std::optional<LedgerAnchorEvidence>> {
    // Provisioning events: kinds "site.provision*" (ledger::kProvisioningKindPrefix).
    VIGIE_ASSIGN_OR_RETURN(
        store::Rows events,
        store_.Query("SELECT seq, kind FROM ledger_site_events WHERE site = ? AND kind LIKE "
                     "'site.provision%' ORDER BY seq DESC LIMIT 1",
                     {std::string(site)}));
    if (events.empty()) return std::optional<LedgerAnchorEvidence>();
    LedgerAnchorEvidence out;
    VIGIE_ASSIGN_OR_RETURN(int64_t seq, events[0].GetInt("seq"));
    out.event_seq = static_cast<uint64_t>(seq);
    VIGIE_ASSIGN_OR_RETURN(out.event_kind, events[0].GetText("kind"));
    VIGIE_ASSIGN_OR_RETURN(
        store::Rows covering,
        store_.Query(std::string(kLedgerAnchorColumns) + "WHERE tree_size > ? AND " +
                         std::string(kLatestPerAnchor) +
                         "ORDER BY CASE WHEN state = 'confirmed' THEN 0 WHEN tx_hash <> '' "
                         "THEN 1 ELSE 2 END, id DESC LIMIT 1",
                     {seq}));
    if (!covering.empty()) {
      VIGIE_ASSIGN_OR_RETURN(out.covering, LedgerAnchorFromRow(covering[0]));
    }
    VIGIE_ASSIGN_OR_RETURN(
        store::Rows latest,
        store_.Query(std::string(kLedgerAnchorColumns) + "ORDER BY id DESC LIMIT 1", {}));
    if (!latest.empty()) {
      VIGIE_ASSIGN_OR_RETURN(out.latest, LedgerAnchorFromRow(latest[0]));
    }
    return std::optional<LedgerAnchorEvidence>(std::move(out));
  };
  auto result = run();
  if (!result) {
    error_ = result.error().Wrap("reading the ledger_site_events / ledger_anchors tables");
    return std::nullopt;
  }
  return std::move(*result);
}

std::optional<FleetSiteEvidence> StoreEvidence::FleetSite(std::string_view site) {
  auto run = [&]() -> Result<FleetSiteEvidence> {
    const std::string id(site);
    FleetSiteEvidence out;
    VIGIE_ASSIGN_OR_RETURN(store::Rows reg,
                           store_.Query("SELECT package_id, registered_at FROM site_registrations "
                                        "WHERE site_id = ?",
                                        {id}));
    if (!reg.empty()) {
      VIGIE_ASSIGN_OR_RETURN(out.registered_package_id, reg[0].GetText("package_id"));
      VIGIE_ASSIGN_OR_RETURN(int64_t at, reg[0].GetInt("registered_at"));
      out.registered_at = FromUnixSeconds(at);
    }
    VIGIE_ASSIGN_OR_RETURN(store::Rows hcs,
                           store_.Query("SELECT id, received_at, passed FROM healthchecks WHERE "
                                        "site_id = ? ORDER BY id",
                                        {id}));
    for (const auto& row : hcs) {
      HealthcheckEvidence h;
      VIGIE_ASSIGN_OR_RETURN(h.id, row.GetInt("id"));
      VIGIE_ASSIGN_OR_RETURN(int64_t at, row.GetInt("received_at"));
      VIGIE_ASSIGN_OR_RETURN(int64_t passed, row.GetInt("passed"));
      h.received_at = FromUnixSeconds(at);
      h.passed = passed != 0;
      out.healthchecks.push_back(h);
    }
    VIGIE_ASSIGN_OR_RETURN(store::Rows acts,
                           store_.Query("SELECT activated_at, healthcheck_id, healthcheck_at FROM "
                                        "license_activations WHERE site_id = ? ORDER BY id",
                                        {id}));
    for (const auto& row : acts) {
      LicenseActivationEvidence a;
      VIGIE_ASSIGN_OR_RETURN(int64_t at, row.GetInt("activated_at"));
      VIGIE_ASSIGN_OR_RETURN(a.healthcheck_id, row.GetInt("healthcheck_id"));
      VIGIE_ASSIGN_OR_RETURN(int64_t hc_at, row.GetInt("healthcheck_at"));
      a.activated_at = FromUnixSeconds(at);
      a.healthcheck_at = FromUnixSeconds(hc_at);
      for (const auto& h : out.healthchecks) {
        if (h.id == a.healthcheck_id) a.healthcheck = h;
      }
      out.activations.push_back(a);
    }
    VIGIE_ASSIGN_OR_RETURN(store::Rows alerts,
                           store_.Query("SELECT rule, severity, state, started_at, resolved_at "
                                        "FROM alerts WHERE site_id = ? ORDER BY id",
                                        {id}));
    for (const auto& row : alerts) {
      AlertEvidence a;
      VIGIE_ASSIGN_OR_RETURN(a.rule, row.GetText("rule"));
      VIGIE_ASSIGN_OR_RETURN(a.severity, row.GetText("severity"));
      VIGIE_ASSIGN_OR_RETURN(a.state, row.GetText("state"));
      VIGIE_ASSIGN_OR_RETURN(int64_t at, row.GetInt("started_at"));
      a.started_at = FromUnixSeconds(at);
      VIGIE_ASSIGN_OR_RETURN(bool null_resolved, row.IsNull("resolved_at"));
      if (!null_resolved) {
        VIGIE_ASSIGN_OR_RETURN(int64_t r, row.GetInt("resolved_at"));
        a.resolved_at = FromUnixSeconds(r);
      }
      out.alerts.push_back(a);
    }
    return out;
  };
  auto result = run();
  if (!result) {
    error_ = result.error().Wrap(
        "reading the site_registrations / healthchecks / license_activations / alerts tables");
    return std::nullopt;
  }
  return std::move(*result);
}

}  // namespace vigie::compliance
