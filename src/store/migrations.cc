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
