#include "store/migrations.h"

#include <fmt/format.h>

namespace vigie::store {

const std::vector<Migration>& AllMigrations() {
  // APPEND ONLY. Later modules add their migrations at the end of this list, with the next
  // version number. A migration that shipped is never edited, renumbered or removed: fix
  // mistakes with a new migration.
  static const std::vector<Migration> kMigrations = {
      {1, "events_and_kv",
       R"sql(
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  kind TEXT NOT NULL,
  site TEXT,
  body TEXT NOT NULL
);
CREATE INDEX events_site_ts ON events(site, ts);
CREATE TABLE kv (
  key TEXT PRIMARY KEY,
  value BLOB
);
)sql"},
      // The fleet's sites. Provisioning (src/provision) owns the rows; the compliance engine
      // evaluates per-site rules for every row.
      {2, "sites",
       R"sql(
CREATE TABLE sites (
  id TEXT PRIMARY KEY,
  region TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
)sql"},
      // The "local" SecretsBackend (src/backend/local/local_secrets.h): envelope-encrypted
      // values only (ciphertext + KMS-wrapped data key), never a plaintext. Versions are kept
      // with created_at for the 30-day rollback rule (MAINT_024); stages is a JSON array.
      {3, "local_secrets",
       R"sql(
CREATE TABLE local_secret_names (
  name TEXT PRIMARY KEY,
  tags TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_changed_at INTEGER NOT NULL
);
CREATE TABLE local_secrets (
  name TEXT NOT NULL REFERENCES local_secret_names(name),
  version_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  ciphertext BLOB NOT NULL,
  wrapped_data_key BLOB NOT NULL,
  stages TEXT NOT NULL,
  request_token TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (name, version_id)
);
)sql"},
      // The "local" IdentityBackend (src/backend/local/local_identity.h): one principal per site
      // (PROV_001, enforced by the primary key); access keys keep only a SHA-256 verifier of the
      // secret and its provenance (PROV_002).
      {4, "local_identity",
       R"sql(
CREATE TABLE local_principals (
  site_id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  arn TEXT NOT NULL,
  policy TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE local_access_keys (
  key_id TEXT PRIMARY KEY,
  site_id TEXT NOT NULL REFERENCES local_principals(site_id),
  secret_hash BLOB NOT NULL,
  generator TEXT NOT NULL,
  entropy_bits INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX local_access_keys_site ON local_access_keys(site_id);
)sql"},
      // Vault bootstrap and reconciliation records (src/vault/bootstrap.h): one row per run, the
      // evidence of PROV_004 and PROV_010..PROV_013. Never a secret: names, counts, timestamps,
      // digests. body is the full record as JSON (also appended to the ledger).
      {5, "vault_bootstrap",
       R"sql(
CREATE TABLE vault_bootstrap (
  id INTEGER PRIMARY KEY,
  site TEXT NOT NULL,
  action TEXT NOT NULL,
  outcome TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL,
  seal_type TEXT NOT NULL,
  initialized INTEGER NOT NULL,
  sealed INTEGER NOT NULL,
  initialized_now INTEGER NOT NULL,
  recovery_shares INTEGER NOT NULL,
  recovery_threshold INTEGER NOT NULL,
  shares_stored INTEGER NOT NULL,
  root_revoked_at INTEGER,
  root_revocation_verified INTEGER NOT NULL,
  policy_digest TEXT NOT NULL,
  drift INTEGER NOT NULL,
  message TEXT NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX vault_bootstrap_site ON vault_bootstrap(site, id);
)sql"},
      // Site provisioning (src/provision/provisioner.h), the evidence of PROV_001, PROV_002,
      // PROV_003, PROV_005 and PROV_023. Never a credential value: credentials keep provenance
      // and a SHA-256 verifier (or name the SecretsBackend entry holding it); packages keep the
      // signed bytes (header + manifest, no secret) and the signature so checks re-verify them.
      {6, "provisioning",
       R"sql(
CREATE TABLE site_provisioning (
  site_id TEXT PRIMARY KEY REFERENCES sites(id),
  attempts INTEGER NOT NULL,
  failed_step TEXT,
  failure TEXT,
  kms_key_id TEXT,
  kms_key_arn TEXT,
  leftover_kms_key TEXT,
  leftover_principal INTEGER NOT NULL,
  leftover_access_key TEXT,
  leftover_secret TEXT,
  leftover_package TEXT,
  updated_at INTEGER NOT NULL
);
CREATE TABLE provision_steps (
  id INTEGER PRIMARY KEY,
  site_id TEXT NOT NULL REFERENCES sites(id),
  attempt INTEGER NOT NULL,
  step TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX provision_steps_site ON provision_steps(site_id, id);
CREATE TABLE site_principals (
  site_id TEXT PRIMARY KEY REFERENCES sites(id),
  backend TEXT NOT NULL,
  name TEXT NOT NULL,
  arn TEXT NOT NULL,
  policy TEXT NOT NULL,
  access_key_id TEXT NOT NULL,
  kms_key_arn TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE credentials (
  site_id TEXT NOT NULL REFERENCES sites(id),
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  provenance TEXT NOT NULL,
  generator TEXT NOT NULL,
  entropy_bits INTEGER NOT NULL,
  alphabet TEXT NOT NULL,
  verifier_kind TEXT NOT NULL,
  verifier BLOB NOT NULL,
  secret_ref TEXT NOT NULL,
  must_change INTEGER NOT NULL,
  changed_at INTEGER,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (site_id, name)
);
CREATE TABLE packages (
  package_id TEXT PRIMARY KEY,
  site_id TEXT NOT NULL REFERENCES sites(id),
  path TEXT NOT NULL,
  file_sha256 TEXT NOT NULL,
  signed_bytes BLOB NOT NULL,
  signature BLOB NOT NULL,
  fleet_key BLOB NOT NULL,
  enrollment_key BLOB NOT NULL,
  enrollment_key_fingerprint TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX packages_site ON packages(site_id, created_at);
)sql"},
      // Ledger anchoring (src/ledger/anchor_store.h), the evidence of PROV_020:
      // ledger_site_events indexes the ledger entries naming a site (filled from the ledger at
      // each anchoring run); ledger_anchors logs every status observed for an anchor.
      {7, "ledger_anchoring",
       R"sql(
CREATE TABLE ledger_site_events (
  seq INTEGER PRIMARY KEY,
  site TEXT NOT NULL,
  kind TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX ledger_site_events_site ON ledger_site_events(site, seq);
CREATE TABLE ledger_anchors (
  id INTEGER PRIMARY KEY,
  anchor TEXT NOT NULL,
  tree_size INTEGER NOT NULL,
  root TEXT NOT NULL,
  chain_id TEXT NOT NULL,
  tx_hash TEXT NOT NULL,
  block_number INTEGER NOT NULL,
  block_hash TEXT NOT NULL,
  state TEXT NOT NULL,
  confirmations INTEGER NOT NULL,
  required_confirmations INTEGER NOT NULL,
  detail TEXT NOT NULL,
  checked_at INTEGER NOT NULL
);
CREATE INDEX ledger_anchors_size ON ledger_anchors(tree_size, id);
)sql"},
      // The fleet manager's site API (src/fleet): registrations (PROV_021), the last heartbeat
      // per site (flushed in batches from memory), healthcheck evidence (MAINT_001, PROV_022;
      // the last N per site are kept), licence activations with the healthcheck they relied on
      // (PROV_022) and liveness alerts (MAINT_002).
      {8, "fleet",
       R"sql(
CREATE TABLE site_registrations (
  site_id TEXT PRIMARY KEY,
  package_id TEXT NOT NULL,
  enrollment_key_fingerprint TEXT NOT NULL,
  agent_version TEXT NOT NULL,
  registered_at INTEGER NOT NULL
);
CREATE TABLE heartbeats_last (
  site_id TEXT PRIMARY KEY,
  last_seen INTEGER NOT NULL,
  last_report TEXT NOT NULL,
  last_pass_at INTEGER
);
CREATE TABLE healthchecks (
  id INTEGER PRIMARY KEY,
  site_id TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  passed INTEGER NOT NULL,
  report TEXT NOT NULL
);
CREATE INDEX healthchecks_site ON healthchecks(site_id, id);
CREATE TABLE license_activations (
  id INTEGER PRIMARY KEY,
  site_id TEXT NOT NULL,
  activated_at INTEGER NOT NULL,
  healthcheck_id INTEGER NOT NULL,
  healthcheck_at INTEGER NOT NULL
);
CREATE INDEX license_activations_site ON license_activations(site_id, id);
CREATE TABLE alerts (
  id INTEGER PRIMARY KEY,
  site_id TEXT NOT NULL,
  rule TEXT NOT NULL,
  severity TEXT NOT NULL,
  state TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  resolved_at INTEGER,
  detail TEXT NOT NULL
);
CREATE INDEX alerts_site ON alerts(site_id, state);
)sql"},
      // MAINT_003: the latest self-check of each component's /metrics rendering (parsed and
      // linted as promtool would), one row per component ("fleet"), replaced at each check.
      {9, "metrics_selfcheck",
       R"sql(
CREATE TABLE metrics_selfcheck (
  component TEXT PRIMARY KEY,
  ok INTEGER NOT NULL,
  families INTEGER NOT NULL,
  samples INTEGER NOT NULL,
  error TEXT NOT NULL,
  checked_at INTEGER NOT NULL
);
)sql"},
      // healthchecks, rebuilt: the report becomes nullable (a licensed site's passing
      // healthcheck is stored without it: src/fleet/fleet_service.h, heartbeat route), and the
      // rows are clustered by (site_id, id) (WITHOUT ROWID) instead of a rowid table plus a
      // (site_id, id) index: a heartbeat's new row and the old rows it prunes sit on the same
      // page, one b-tree instead of two (docs/PERFORMANCE.md, run I). The fleet manager gives
      // the ids (kv "fleet.healthchecks.last_id"). Every existing row is kept as is (same ids,
      // so licence activations still name theirs).
      {10, "healthchecks_by_site",
       R"sql(
CREATE TABLE healthchecks_v10 (
  id INTEGER NOT NULL,
  site_id TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  passed INTEGER NOT NULL,
  report TEXT,
  PRIMARY KEY (site_id, id)
) WITHOUT ROWID;
INSERT INTO healthchecks_v10 (id, site_id, received_at, passed, report)
  SELECT id, site_id, received_at, passed, report FROM healthchecks;
DROP TABLE healthchecks;
ALTER TABLE healthchecks_v10 RENAME TO healthchecks;
)sql"},
      // healthchecks, rebuilt once more: a rowid table in arrival order, with no per-site index.
      // A batch's rows are appended at the end of one b-tree, and pruning by age drops a range at
      // its start (src/fleet/fleet_service.h, "Healthchecks"): the pages a batch writes grow
      // with its rows, not with the sites in it (one page per site with the clustered table:
      // 4 KiB per heartbeat for a large fleet; docs/PERFORMANCE.md, run K). The latest row of a
      // site is found by id, remembered in heartbeats_last.last_healthcheck_id; the rows a
      // licence relied on are found by license_activations_healthcheck when pruning skips them.
      // Every existing row is kept with its id.
      {11, "healthchecks_by_arrival",
       R"sql(
ALTER TABLE heartbeats_last ADD COLUMN last_healthcheck_id INTEGER;
UPDATE heartbeats_last SET last_healthcheck_id = latest.id
  FROM (SELECT site_id, MAX(id) AS id FROM healthchecks GROUP BY site_id) AS latest
  WHERE latest.site_id = heartbeats_last.site_id;
CREATE TABLE healthchecks_v11 (
  id INTEGER PRIMARY KEY,
  site_id TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  passed INTEGER NOT NULL,
  report TEXT
);
INSERT INTO healthchecks_v11 (id, site_id, received_at, passed, report)
  SELECT id, site_id, received_at, passed, report FROM healthchecks ORDER BY id;
DROP TABLE healthchecks;
ALTER TABLE healthchecks_v11 RENAME TO healthchecks;
CREATE INDEX license_activations_healthcheck ON license_activations(healthcheck_id);
)sql"},
  };
  return kMigrations;
}

Status ValidateMigrations(const std::vector<Migration>& migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    const Migration& m = migrations[i];
    if (m.version != static_cast<int>(i) + 1) {
      return MakeError(ErrorCode::kInternal,
                       fmt::format("migration #{} ('{}') has version {}, expected {}: versions "
                                   "must be 1, 2, 3, ... in order",
                                   i, m.name, m.version, i + 1));
    }
    if (m.name.empty() || m.sql.empty()) {
      return MakeError(ErrorCode::kInternal,
                       fmt::format("migration {} has an empty name or SQL", m.version));
    }
  }
  return OkStatus();
}

}  // namespace vigie::store
