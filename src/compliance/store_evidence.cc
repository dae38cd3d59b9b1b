#include "compliance/store_evidence.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <utility>

namespace vigie::compliance {

namespace {

// Evidence of one table, read in bulk once per evaluation and split by site. `failed`: the
// table could not be read (the error is in StoreEvidence::error()); every site then has no
// evidence from it.
template <typename T>
struct SiteTable {
  bool loaded = false;
  bool failed = false;
  std::map<std::string, T, std::less<>> by_site;

  const T* Find(std::string_view site) const {
    auto it = by_site.find(site);
    return it == by_site.end() ? nullptr : &it->second;
  }
};

}  // namespace

// What the current evaluation has read so far (BeginEvaluation .. EndEvaluation). Each member is
// filled on first use by any check, by ONE query over its table(s), and answers every site.
struct StoreEvidence::Cache {
  std::optional<std::vector<std::string>> sites;
  std::optional<std::optional<std::vector<PrincipalEvidence>>> principals;
  std::optional<std::optional<Bytes>> fleet_key;
  SiteTable<std::vector<CredentialEvidence>> credentials;
  SiteTable<std::vector<PackageEvidence>> packages;
  SiteTable<VaultBootstrapEvidence> vault;
  SiteTable<FleetSiteEvidence> fleet;

  // PROV_020: each site's latest provisioning event, and the anchors that may cover it.
  struct Event {
    int64_t seq = 0;
    std::string kind;
  };
  // Latest-per-anchor statuses of one covering preference class (confirmed on chain; pending on
  // chain; local), sorted by tree_size; best[i] is the index (into anchors) of the highest id
  // among entries i..end, i.e. the one `ORDER BY id DESC LIMIT 1` picks for tree_size > x.
  struct AnchorClass {
    std::vector<int64_t> tree_sizes;
    std::vector<size_t> best;
  };
  bool ledger_loaded = false;
  bool ledger_failed = false;
  std::map<std::string, Event, std::less<>> events;
  std::vector<LedgerAnchorRowEvidence> anchors;
  std::array<AnchorClass, 3> anchor_classes;
  std::optional<LedgerAnchorRowEvidence> latest_anchor;

  std::map<std::string, std::optional<std::vector<SecretEvidence>>, std::less<>> secrets;
};

StoreEvidence::StoreEvidence(store::Store& store, Clock& clock,
                             std::map<std::string, std::string> config)
    : store_(store), clock_(clock), config_(config.begin(), config.end()) {}

StoreEvidence::~StoreEvidence() = default;

void StoreEvidence::BeginEvaluation() {
  cache_ = std::make_unique<Cache>();
  agent_metrics_.reset();
}

void StoreEvidence::EndEvaluation() {
  cache_.reset();
  agent_metrics_.reset();
}

std::vector<std::string> StoreEvidence::Sites() {
  if (cache_ && cache_->sites) return *cache_->sites;
  std::vector<std::string> out;
  auto rows = store_.Query("SELECT id FROM sites ORDER BY id", {});
  if (!rows) {
    error_ = rows.error().Wrap("reading the sites table");
  } else {
    for (const auto& row : *rows) {
      auto id = row.GetText("id");
      if (!id) {
        error_ = id.error();
        out.clear();
        break;
      }
      out.push_back(std::move(*id));
    }
  }
  if (cache_) cache_->sites = out;
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
  VIGIE_ASSIGN_OR_RETURN(auto revoked, row.GetIntOrNull("root_revoked_at"));
  if (revoked) e.root_revoked_at = FromUnixSeconds(*revoked);
  VIGIE_ASSIGN_OR_RETURN(int64_t verified, row.GetInt("root_revocation_verified"));
  e.root_revocation_verified = verified != 0;
  return e;
}

constexpr std::string_view kVaultFields =
    "action, outcome, finished_at, seal_type, initialized, sealed, drift, policy_digest, "
    "message, recovery_shares, recovery_threshold, shares_stored, root_revoked_at, "
    "root_revocation_verified";

// One site's runs (append the condition and order).
std::string VaultSiteQuery(std::string_view where) {
  return fmt::format("SELECT {} FROM vault_bootstrap WHERE site = ? {}", kVaultFields, where);
}

// Every site's latest run, latest policy run and latest init run, in id order.
std::string VaultBulkQuery() {
  return fmt::format(
      "SELECT site, initialized_now, {} FROM vault_bootstrap "
      "WHERE id IN (SELECT MAX(id) FROM vault_bootstrap GROUP BY site) "
      "OR id IN (SELECT MAX(id) FROM vault_bootstrap WHERE drift >= 0 GROUP BY site) "
      "OR id IN (SELECT MAX(id) FROM vault_bootstrap WHERE initialized_now = 1 GROUP BY site) "
      "ORDER BY id",
      kVaultFields);
}

}  // namespace

std::optional<VaultBootstrapEvidence> StoreEvidence::VaultBootstrap(std::string_view site) {
  if (cache_) {
    LoadVault();
    const VaultBootstrapEvidence* e = cache_->vault.Find(site);
    if (e == nullptr) return std::nullopt;
    return *e;
  }
  auto query = [&](std::string_view where) -> Result<std::optional<store::Row>> {
    VIGIE_ASSIGN_OR_RETURN(auto rows, store_.Query(VaultSiteQuery(where), {std::string(site)}));
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

void StoreEvidence::LoadVault() {
  auto& table = cache_->vault;
  if (table.loaded) return;
  table.loaded = true;
  auto run = [&]() -> vigie::Status {
    VIGIE_ASSIGN_OR_RETURN(store::Rows rows, store_.Query(VaultBulkQuery()));
    // Ascending ids: the last row of each kind a site gets is its latest.
    for (const auto& row : rows) {
      VIGIE_ASSIGN_OR_RETURN(std::string site, row.GetText("site"));
      VIGIE_ASSIGN_OR_RETURN(VaultRunEvidence e, RunFromRow(row));
      VIGIE_ASSIGN_OR_RETURN(int64_t initialized_now, row.GetInt("initialized_now"));
      VaultBootstrapEvidence& out = table.by_site[site];
      if (e.drift >= 0) out.last_policy_run = e;
      out.latest = std::move(e);
      if (initialized_now == 1) {
        VIGIE_ASSIGN_OR_RETURN(out.init, InitFromRow(row));
      }
    }
    return {};
  };
  if (auto status = run(); !status) {
    error_ = status.error().Wrap("reading the vault_bootstrap table");
    table.failed = true;
    table.by_site.clear();
  }
}

std::optional<std::vector<SecretEvidence>> StoreEvidence::SecretsWithPrefix(
    std::string_view prefix) {
  if (!secret_lister_) return std::nullopt;
  if (cache_) {
    auto it = cache_->secrets.find(prefix);
    if (it != cache_->secrets.end()) return it->second;
  }
  std::optional<std::vector<SecretEvidence>> out;
  auto listed = secret_lister_(prefix);
  if (!listed) {
    error_ = listed.error().Wrap("listing the secrets backend");
  } else {
    out = std::move(*listed);
  }
  if (cache_) cache_->secrets.emplace(std::string(prefix), out);
  return out;
}

namespace {

Result<std::vector<PrincipalEvidence>> ReadPrincipals(store::Store& store) {
  VIGIE_ASSIGN_OR_RETURN(auto rows,
                         store.Query("SELECT site_id, backend, name, arn, policy, access_key_id, "
                                     "kms_key_arn FROM site_principals ORDER BY site_id"));
  std::vector<PrincipalEvidence> out;
  out.reserve(rows.size());
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

constexpr std::string_view kCredentialColumns =
    "SELECT site_id, name, kind, provenance, generator, alphabet, entropy_bits, verifier_kind, "
    "verifier, secret_ref, must_change, changed_at FROM credentials ";

Result<CredentialEvidence> CredentialFromRow(const store::Row& row) {
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
  VIGIE_ASSIGN_OR_RETURN(c.secret_ref, row.GetTextOrEmpty("secret_ref"));
  VIGIE_ASSIGN_OR_RETURN(int64_t must_change, row.GetInt("must_change"));
  c.must_change = must_change != 0;
  VIGIE_ASSIGN_OR_RETURN(auto changed, row.GetIntOrNull("changed_at"));
  if (changed) c.changed_at = FromUnixSeconds(*changed);
  return c;
}

Result<std::vector<CredentialEvidence>> ReadCredentials(store::Store& store,
                                                        std::string_view site) {
  VIGIE_ASSIGN_OR_RETURN(
      auto rows, store.Query(std::string(kCredentialColumns) + "WHERE site_id = ? ORDER BY name",
                             {std::string(site)}));
  std::vector<CredentialEvidence> out;
  for (const auto& row : rows) {
    VIGIE_ASSIGN_OR_RETURN(CredentialEvidence c, CredentialFromRow(row));
    out.push_back(std::move(c));
  }
  return out;
}

constexpr std::string_view kPackageColumns =
    "SELECT site_id, package_id, signed_bytes, signature, fleet_key, enrollment_key, "
    "enrollment_key_fingerprint, created_at, expires_at FROM packages ";

Result<PackageEvidence> PackageFromRow(const store::Row& row) {
  PackageEvidence p;
  VIGIE_ASSIGN_OR_RETURN(p.package_id, row.GetText("package_id"));
  VIGIE_ASSIGN_OR_RETURN(p.signed_bytes, row.GetBlob("signed_bytes"));
  VIGIE_ASSIGN_OR_RETURN(p.signature, row.GetBlob("signature"));
  VIGIE_ASSIGN_OR_RETURN(p.fleet_key, row.GetBlob("fleet_key"));
  VIGIE_ASSIGN_OR_RETURN(p.enrollment_key, row.GetBlob("enrollment_key"));
  VIGIE_ASSIGN_OR_RETURN(p.enrollment_key_fingerprint, row.GetText("enrollment_key_fingerprint"));
  VIGIE_ASSIGN_OR_RETURN(int64_t created, row.GetInt("created_at"));
  VIGIE_ASSIGN_OR_RETURN(int64_t expires, row.GetInt("expires_at"));
  p.created_at = FromUnixSeconds(created);
  p.expires_at = FromUnixSeconds(expires);
  return p;
}

Result<std::vector<PackageEvidence>> ReadPackages(store::Store& store, std::string_view site) {
  VIGIE_ASSIGN_OR_RETURN(auto rows,
                         store.Query(std::string(kPackageColumns) +
                                         "WHERE site_id = ? ORDER BY created_at, package_id",
                                     {std::string(site)}));
  std::vector<PackageEvidence> out;
  for (const auto& row : rows) {
    VIGIE_ASSIGN_OR_RETURN(PackageEvidence p, PackageFromRow(row));
    out.push_back(std::move(p));
  }
  return out;
}

// Reads every row of `sql` (whose column site_id names the site) into `table`, in query order,
// converting each with `from_row`.
template <typename T, typename FromRow>
vigie::Status LoadPerSite(store::Store& store, std::string_view sql,
                          SiteTable<std::vector<T>>& table, FromRow from_row) {
  VIGIE_ASSIGN_OR_RETURN(store::Rows rows, store.Query(sql));
  std::vector<T>* current = nullptr;
  std::string_view current_site;
  for (const auto& row : rows) {
    VIGIE_ASSIGN_OR_RETURN(const store::Value* site_value, row.Get("site_id"));
    const auto* site = std::get_if<std::string>(site_value);
    if (site == nullptr) {
      return MakeError(ErrorCode::kInternal, "column site_id is not TEXT");
    }
    if (current == nullptr || current_site != *site) {
      auto [it, inserted] = table.by_site.try_emplace(*site);
      current = &it->second;
      current_site = it->first;
    }
    VIGIE_ASSIGN_OR_RETURN(T value, from_row(row));
    current->push_back(std::move(value));
  }
  return {};
}

}  // namespace

std::optional<std::vector<PrincipalEvidence>> StoreEvidence::SitePrincipals() {
  if (cache_ && cache_->principals) return *cache_->principals;
  std::optional<std::vector<PrincipalEvidence>> out;
  auto r = ReadPrincipals(store_);
  if (!r) {
    error_ = r.error().Wrap("reading the site_principals table");
  } else {
    out = std::move(*r);
  }
  if (cache_) cache_->principals = out;
  return out;
}

std::optional<std::vector<CredentialEvidence>> StoreEvidence::Credentials(std::string_view site) {
  if (cache_) {
    auto& table = cache_->credentials;
    if (!table.loaded) {
      table.loaded = true;
      auto status = LoadPerSite(store_, std::string(kCredentialColumns) + "ORDER BY site_id, name",
                                table, CredentialFromRow);
      if (!status) {
        error_ = status.error().Wrap("reading the credentials table");
        table.failed = true;
        table.by_site.clear();
      }
    }
    if (table.failed) return std::nullopt;
    const auto* found = table.Find(site);
    return found ? *found : std::vector<CredentialEvidence>();
  }
  auto r = ReadCredentials(store_, site);
  if (!r) {
    error_ = r.error().Wrap("reading the credentials table");
    return std::nullopt;
  }
  return std::move(*r);
}

std::optional<std::vector<PackageEvidence>> StoreEvidence::Packages(std::string_view site) {
  if (cache_) {
    auto& table = cache_->packages;
    if (!table.loaded) {
      table.loaded = true;
      auto status = LoadPerSite(
          store_, std::string(kPackageColumns) + "ORDER BY site_id, created_at, package_id", table,
          PackageFromRow);
      if (!status) {
        error_ = status.error().Wrap("reading the packages table");
        table.failed = true;
        table.by_site.clear();
      }
    }
    if (table.failed) return std::nullopt;
    const auto* found = table.Find(site);
    return found ? *found : std::vector<PackageEvidence>();
  }
  auto r = ReadPackages(store_, site);
  if (!r) {
    error_ = r.error().Wrap("reading the packages table");
    return std::nullopt;
  }
  return std::move(*r);
}

std::optional<Bytes> StoreEvidence::FleetSigningKey() {
  if (cache_ && cache_->fleet_key) return *cache_->fleet_key;
  auto read = [&]() -> std::optional<Bytes> {
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
  };
  std::optional<Bytes> out = read();
  if (cache_) cache_->fleet_key = out;
  return out;
}

namespace {

// Columns of ledger_anchors, and the latest status of each anchor (per transaction, or per tree
// size for records without one).
constexpr std::string_view kLedgerAnchorColumns =
    "SELECT id, anchor, tree_size, root, chain_id, tx_hash, block_number, block_hash, state, "
    "confirmations, required_confirmations, detail, checked_at FROM ledger_anchors ";
constexpr std::string_view kLatestPerAnchor =
    "id IN (SELECT MAX(id) FROM ledger_anchors GROUP BY anchor, tx_hash, tree_size) ";
// Provisioning events: kinds "site.provision*" (ledger::kProvisioningKindPrefix).
constexpr std::string_view kProvisioningEvents =
    "SELECT site, seq, kind FROM ledger_site_events WHERE kind LIKE 'site.provision%' ";

// The covering preference of an anchor status: confirmed on chain, then pending on chain, then
// local (the CASE of the per-site query).
size_t CoveringClass(const LedgerAnchorRowEvidence& e) {
  if (e.state == "confirmed") return 0;
  return e.tx_hash.empty() ? 2 : 1;
}

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
  if (cache_) return CachedLedgerAnchor(site);
  auto run = [&]() -> Result<std::optional<LedgerAnchorEvidence>> {
    VIGIE_ASSIGN_OR_RETURN(
        store::Rows events,
        store_.Query(std::string(kProvisioningEvents) + "AND site = ? ORDER BY seq DESC LIMIT 1",
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

void StoreEvidence::LoadLedger() {
  Cache& c = *cache_;
  if (c.ledger_loaded) return;
  c.ledger_loaded = true;
  auto run = [&]() -> vigie::Status {
    // Ascending seq: the last event a site gets is its latest.
    VIGIE_ASSIGN_OR_RETURN(store::Rows events,
                           store_.Query(std::string(kProvisioningEvents) + "ORDER BY seq"));
    for (const auto& row : events) {
      VIGIE_ASSIGN_OR_RETURN(std::string site, row.GetText("site"));
      Cache::Event& e = c.events[site];
      VIGIE_ASSIGN_OR_RETURN(e.seq, row.GetInt("seq"));
      VIGIE_ASSIGN_OR_RETURN(e.kind, row.GetText("kind"));
    }
    VIGIE_ASSIGN_OR_RETURN(store::Rows anchors,
                           store_.Query(std::string(kLedgerAnchorColumns) + "WHERE " +
                                        std::string(kLatestPerAnchor) + "ORDER BY tree_size, id"));
    std::array<std::vector<int64_t>, 3> ids;
    for (const auto& row : anchors) {
      VIGIE_ASSIGN_OR_RETURN(LedgerAnchorRowEvidence e, LedgerAnchorFromRow(row));
      VIGIE_ASSIGN_OR_RETURN(int64_t id, row.GetInt("id"));
      VIGIE_ASSIGN_OR_RETURN(int64_t tree_size, row.GetInt("tree_size"));
      const size_t k = CoveringClass(e);
      c.anchor_classes[k].tree_sizes.push_back(tree_size);
      c.anchor_classes[k].best.push_back(c.anchors.size());
      ids[k].push_back(id);
      c.anchors.push_back(std::move(e));
    }
    // best[i]: the highest id among entries i..end of the class.
    for (size_t k = 0; k < c.anchor_classes.size(); ++k) {
      auto& best = c.anchor_classes[k].best;
      for (size_t i = best.size(); i-- > 1;) {
        if (ids[k][i] > ids[k][i - 1]) {
          ids[k][i - 1] = ids[k][i];
          best[i - 1] = best[i];
        }
      }
    }
    VIGIE_ASSIGN_OR_RETURN(store::Rows latest, store_.Query(std::string(kLedgerAnchorColumns) +
                                                            "ORDER BY id DESC LIMIT 1"));
    if (!latest.empty()) {
      VIGIE_ASSIGN_OR_RETURN(c.latest_anchor, LedgerAnchorFromRow(latest[0]));
    }
    return {};
  };
  if (auto status = run(); !status) {
    error_ = status.error().Wrap("reading the ledger_site_events / ledger_anchors tables");
    c.ledger_failed = true;
  }
}

std::optional<LedgerAnchorEvidence> StoreEvidence::CachedLedgerAnchor(std::string_view site) {
  LoadLedger();
  const Cache& c = *cache_;
  if (c.ledger_failed) return std::nullopt;
  auto event = c.events.find(site);
  if (event == c.events.end()) return std::nullopt;
  LedgerAnchorEvidence out;
  const int64_t seq = event->second.seq;
  out.event_seq = static_cast<uint64_t>(seq);
  out.event_kind = event->second.kind;
  for (const Cache::AnchorClass& k : c.anchor_classes) {
    auto first = std::upper_bound(k.tree_sizes.begin(), k.tree_sizes.end(), seq);
    if (first == k.tree_sizes.end()) continue;
    out.covering = c.anchors[k.best[static_cast<size_t>(first - k.tree_sizes.begin())]];
    break;
  }
  out.latest = c.latest_anchor;
  return out;
}

namespace {

Result<HealthcheckEvidence> HealthcheckFromRow(const store::Row& row) {
  HealthcheckEvidence h;
  VIGIE_ASSIGN_OR_RETURN(h.id, row.GetInt("id"));
  VIGIE_ASSIGN_OR_RETURN(int64_t at, row.GetInt("received_at"));
  VIGIE_ASSIGN_OR_RETURN(int64_t passed, row.GetInt("passed"));
  h.received_at = FromUnixSeconds(at);
  h.passed = passed != 0;
  return h;
}

Result<LicenseActivationEvidence> ActivationFromRow(const store::Row& row) {
  LicenseActivationEvidence a;
  VIGIE_ASSIGN_OR_RETURN(int64_t at, row.GetInt("activated_at"));
  VIGIE_ASSIGN_OR_RETURN(a.healthcheck_id, row.GetInt("healthcheck_id"));
  VIGIE_ASSIGN_OR_RETURN(int64_t hc_at, row.GetInt("healthcheck_at"));
  a.activated_at = FromUnixSeconds(at);
  a.healthcheck_at = FromUnixSeconds(hc_at);
  return a;
}

Result<AlertEvidence> AlertFromRow(const store::Row& row) {
  AlertEvidence a;
  VIGIE_ASSIGN_OR_RETURN(a.rule, row.GetText("rule"));
  VIGIE_ASSIGN_OR_RETURN(a.severity, row.GetText("severity"));
  VIGIE_ASSIGN_OR_RETURN(a.state, row.GetText("state"));
  VIGIE_ASSIGN_OR_RETURN(int64_t at, row.GetInt("started_at"));
  a.started_at = FromUnixSeconds(at);
  VIGIE_ASSIGN_OR_RETURN(auto resolved, row.GetIntOrNull("resolved_at"));
  if (resolved) a.resolved_at = FromUnixSeconds(*resolved);
  return a;
}

// Links each activation to the healthcheck row it names among the site's `healthchecks`.
void LinkActivations(FleetSiteEvidence& site) {
  for (auto& a : site.activations) {
    for (const auto& h : site.healthchecks) {
      if (h.id == a.healthcheck_id) a.healthcheck = h;
    }
  }
}

constexpr std::string_view kRegistrations =
    "SELECT site_id, package_id, registered_at FROM site_registrations ";
constexpr std::string_view kHealthchecks =
    "SELECT site_id, id, received_at, passed FROM healthchecks ";
constexpr std::string_view kActivations =
    "SELECT site_id, id, activated_at, healthcheck_id, healthcheck_at FROM license_activations ";
constexpr std::string_view kAlerts =
    "SELECT site_id, id, rule, severity, state, started_at, resolved_at FROM alerts ";
constexpr std::string_view kLastHeartbeats = "SELECT site_id, last_seen FROM heartbeats_last ";

vigie::Status SetLastHeartbeat(const store::Row& row, FleetSiteEvidence& out) {
  VIGIE_ASSIGN_OR_RETURN(int64_t at, row.GetInt("last_seen"));
  out.last_heartbeat_at = FromUnixSeconds(at);
  return {};
}

}  // namespace

std::optional<FleetSiteEvidence> StoreEvidence::FleetSite(std::string_view site) {
  if (cache_) {
    LoadFleet();
    if (cache_->fleet.failed) return std::nullopt;
    const FleetSiteEvidence* found = cache_->fleet.Find(site);
    return found ? *found : FleetSiteEvidence();
  }
  auto run = [&]() -> Result<FleetSiteEvidence> {
    const std::string id(site);
    FleetSiteEvidence out;
    VIGIE_ASSIGN_OR_RETURN(store::Rows reg,
                           store_.Query(std::string(kRegistrations) + "WHERE site_id = ?", {id}));
    if (!reg.empty()) {
      VIGIE_ASSIGN_OR_RETURN(out.registered_package_id, reg[0].GetText("package_id"));
      VIGIE_ASSIGN_OR_RETURN(int64_t at, reg[0].GetInt("registered_at"));
      out.registered_at = FromUnixSeconds(at);
    }
    // healthchecks has no per-site index (its batches append in arrival order): this reads the
    // table once, about 70 ns a row (0.5 s for 7 M rows on the benchmark machine).
    VIGIE_ASSIGN_OR_RETURN(
        store::Rows hcs,
        store_.Query(std::string(kHealthchecks) + "WHERE site_id = ? ORDER BY id", {id}));
    for (const auto& row : hcs) {
      VIGIE_ASSIGN_OR_RETURN(HealthcheckEvidence h, HealthcheckFromRow(row));
      out.healthchecks.push_back(h);
    }
    VIGIE_ASSIGN_OR_RETURN(
        store::Rows acts,
        store_.Query(std::string(kActivations) + "WHERE site_id = ? ORDER BY id", {id}));
    for (const auto& row : acts) {
      VIGIE_ASSIGN_OR_RETURN(LicenseActivationEvidence a, ActivationFromRow(row));
      out.activations.push_back(a);
    }
    VIGIE_ASSIGN_OR_RETURN(
        store::Rows alerts,
        store_.Query(std::string(kAlerts) + "WHERE site_id = ? ORDER BY id", {id}));
    for (const auto& row : alerts) {
      VIGIE_ASSIGN_OR_RETURN(AlertEvidence a, AlertFromRow(row));
      out.alerts.push_back(a);
    }
    VIGIE_ASSIGN_OR_RETURN(store::Rows last,
                           store_.Query(std::string(kLastHeartbeats) + "WHERE site_id = ?", {id}));
    if (!last.empty()) {
      VIGIE_RETURN_IF_ERROR(SetLastHeartbeat(last[0], out));
    }
    LinkActivations(out);
    return out;
  };
  auto result = run();
  if (!result) {
    error_ = result.error().Wrap(
        "reading the site_registrations / healthchecks / license_activations / alerts / "
        "heartbeats_last tables");
    return std::nullopt;
  }
  return std::move(*result);
}

void StoreEvidence::LoadFleet() {
  auto& table = cache_->fleet;
  if (table.loaded) return;
  table.loaded = true;
  // Appends each row of `sql`, in its table's own (rowid) order, with no sort, to the member
  // `field` of its site's evidence. healthchecks is in arrival order, so its rows interleave the
  // sites; each site's stay in ascending ids.
  auto append = [&](std::string_view sql, auto field, auto from_row) -> vigie::Status {
    VIGIE_ASSIGN_OR_RETURN(store::Rows rows, store_.Query(std::string(sql) + "ORDER BY id"));
    FleetSiteEvidence* current = nullptr;
    std::string_view current_site;
    for (const auto& row : rows) {
      VIGIE_ASSIGN_OR_RETURN(const store::Value* site_value, row.Get("site_id"));
      const auto* site = std::get_if<std::string>(site_value);
      if (site == nullptr) return MakeError(ErrorCode::kInternal, "column site_id is not TEXT");
      if (current == nullptr || current_site != *site) {
        auto [it, inserted] = table.by_site.try_emplace(*site);
        current = &it->second;
        current_site = it->first;
      }
      VIGIE_ASSIGN_OR_RETURN(auto value, from_row(row));
      (current->*field).push_back(std::move(value));
    }
    return {};
  };
  auto run = [&]() -> vigie::Status {
    VIGIE_ASSIGN_OR_RETURN(store::Rows reg, store_.Query(kRegistrations));
    for (const auto& row : reg) {
      VIGIE_ASSIGN_OR_RETURN(std::string site, row.GetText("site_id"));
      FleetSiteEvidence& out = table.by_site[site];
      VIGIE_ASSIGN_OR_RETURN(out.registered_package_id, row.GetText("package_id"));
      VIGIE_ASSIGN_OR_RETURN(int64_t at, row.GetInt("registered_at"));
      out.registered_at = FromUnixSeconds(at);
    }
    VIGIE_RETURN_IF_ERROR(
        append(kHealthchecks, &FleetSiteEvidence::healthchecks, HealthcheckFromRow));
    VIGIE_RETURN_IF_ERROR(append(kActivations, &FleetSiteEvidence::activations, ActivationFromRow));
    VIGIE_RETURN_IF_ERROR(append(kAlerts, &FleetSiteEvidence::alerts, AlertFromRow));
    VIGIE_ASSIGN_OR_RETURN(store::Rows lasts, store_.Query(kLastHeartbeats));
    for (const auto& row : lasts) {
      VIGIE_ASSIGN_OR_RETURN(std::string site, row.GetText("site_id"));
      VIGIE_RETURN_IF_ERROR(SetLastHeartbeat(row, table.by_site[site]));
    }
    for (auto& [site, evidence] : table.by_site) LinkActivations(evidence);
    return {};
  };
  if (auto status = run(); !status) {
    error_ = status.error().Wrap(
        "reading the site_registrations / healthchecks / license_activations / alerts / "
        "heartbeats_last tables");
    table.failed = true;
    table.by_site.clear();
  }
}

// ---- MAINT_003: /metrics self-checks ---------------------------------------------------------

namespace {

// The "metrics" object of a stored heartbeat report (src/fleet/health_report.h).
AgentMetricsEvidence AgentMetricsFromReport(int64_t received_at, const std::string& report) {
  AgentMetricsEvidence e;
  e.received_at = FromUnixSeconds(received_at);
  nlohmann::json j = nlohmann::json::parse(report, nullptr, false);
  if (!j.is_object()) return e;
  auto m = j.find("metrics");
  if (m == j.end() || !m->is_object()) return e;
  e.reported = true;
  if (auto ok = m->find("ok"); ok != m->end() && ok->is_boolean()) e.ok = ok->get<bool>();
  if (auto f = m->find("families"); f != m->end() && f->is_number_integer()) {
    e.families = f->get<int64_t>();
  }
  if (auto n = m->find("samples"); n != m->end() && n->is_number_integer()) {
    e.samples = n->get<int64_t>();
  }
  if (auto err = m->find("error"); err != m->end() && err->is_string()) {
    e.error = err->get<std::string>();
  }
  return e;
}

Result<std::map<std::string, AgentMetricsEvidence, std::less<>>> ReadAgentMetrics(
    store::Store& store, std::optional<std::string> site) {
  // The last report of each site (or of `site`): heartbeats_last, one row per site, which the
  // fleet manager flushes from memory every few seconds (its flush_interval). The healthchecks
  // rows are not used: a licensed site's passing healthcheck is stored without its report.
  VIGIE_ASSIGN_OR_RETURN(
      store::Rows rows,
      site ? store.Query("SELECT site_id, last_seen AS received_at, last_report AS report FROM "
                         "heartbeats_last WHERE site_id = ?",
                         {*site})
           : store.Query("SELECT site_id, last_seen AS received_at, last_report AS report FROM "
                         "heartbeats_last"));
  std::map<std::string, AgentMetricsEvidence, std::less<>> out;
  for (const auto& row : rows) {
    VIGIE_ASSIGN_OR_RETURN(std::string id, row.GetText("site_id"));
    VIGIE_ASSIGN_OR_RETURN(int64_t at, row.GetInt("received_at"));
    VIGIE_ASSIGN_OR_RETURN(std::string report, row.GetText("report"));
    out[id] = AgentMetricsFromReport(at, report);
  }
  return out;
}

}  // namespace

std::optional<MetricsSelfCheckEvidence> StoreEvidence::MetricsSelfCheckRecord(
    std::string_view component) {
  auto run = [&]() -> Result<std::optional<MetricsSelfCheckEvidence>> {
    VIGIE_ASSIGN_OR_RETURN(
        store::Rows rows,
        store_.Query("SELECT component, ok, families, samples, error, checked_at FROM "
                     "metrics_selfcheck WHERE component = ?",
                     {std::string(component)}));
    if (rows.empty()) return std::optional<MetricsSelfCheckEvidence>();
    MetricsSelfCheckEvidence e;
    VIGIE_ASSIGN_OR_RETURN(e.component, rows[0].GetText("component"));
    VIGIE_ASSIGN_OR_RETURN(int64_t ok, rows[0].GetInt("ok"));
    e.ok = ok != 0;
    VIGIE_ASSIGN_OR_RETURN(e.families, rows[0].GetInt("families"));
    VIGIE_ASSIGN_OR_RETURN(e.samples, rows[0].GetInt("samples"));
    VIGIE_ASSIGN_OR_RETURN(e.error, rows[0].GetText("error"));
    VIGIE_ASSIGN_OR_RETURN(int64_t at, rows[0].GetInt("checked_at"));
    e.checked_at = FromUnixSeconds(at);
    return std::optional<MetricsSelfCheckEvidence>(std::move(e));
  };
  auto result = run();
  if (!result) {
    error_ = result.error().Wrap("reading the metrics_selfcheck table");
    return std::nullopt;
  }
  return std::move(*result);
}

std::optional<AgentMetricsEvidence> StoreEvidence::AgentMetricsReport(std::string_view site) {
  if (cache_ && agent_metrics_) {
    auto it = agent_metrics_->find(site);
    if (it == agent_metrics_->end()) return std::nullopt;
    return it->second;
  }
  auto read = ReadAgentMetrics(
      store_, cache_ ? std::nullopt : std::optional<std::string>(std::string(site)));
  if (!read) {
    error_ = read.error().Wrap("reading the heartbeats_last table (last report per site)");
    if (cache_) {
      agent_metrics_ = std::make_unique<std::map<std::string, AgentMetricsEvidence, std::less<>>>();
    }
    return std::nullopt;
  }
  auto it = read->find(site);
  std::optional<AgentMetricsEvidence> out;
  if (it != read->end()) out = it->second;
  if (cache_) {
    agent_metrics_ = std::make_unique<std::map<std::string, AgentMetricsEvidence, std::less<>>>(
        std::move(*read));
  }
  return out;
}

}  // namespace vigie::compliance
