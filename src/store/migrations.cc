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
