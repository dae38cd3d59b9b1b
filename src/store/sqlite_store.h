#pragma once
// The SQLite backend of Store (store.h). sqlite3.h stays in sqlite_store.cc.
//
// On-disk settings, set on every connection:
//  - journal_mode=WAL: readers never block the writer nor each other.
//  - synchronous=FULL: the WAL is fsynced at every commit, so a write acknowledged by Write()
//    (or WriteAsync's done) survives a power cut. Batched commits amortise that fsync.
//  - busy_timeout=5000 ms, foreign_keys=ON.
// The database file is created with mode 0600 (the WAL and shared-memory files inherit it).
// Migrations (migrations.h) are applied by OpenSqliteStore before it returns.
//
// Thread-safety: the returned Store is thread-safe (see store.h).

#include <memory>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/error.h"
#include "store/migrations.h"
#include "store/store.h"

namespace vigie::store {

struct SqliteOptions {
  std::string path;                  // database file; its directory must exist. REQUIRED.
  int batch_max = 512;               // most write jobs committed in one transaction (>= 1)
  int read_connections = 4;          // size of the read-connection pool (>= 1)
  size_t max_queued_writes = 65536;  // WriteAsync beyond this fails with kResourceExhausted
  // Page cache of the writer's connection (PRAGMA cache_size), in KiB (>= 0; 0 = SQLite's
  // default of 2 MiB). Batches that touch one row per site all over a large b-tree (the fleet's
  // heartbeats_last upserts; healthchecks until migration 11) re-read evicted pages from the OS
  // on every batch with the default.
  int writer_cache_kib = 64 * 1024;
  // WAL pages after which a commit checkpoints them into the database (PRAGMA
  // wal_autocheckpoint, >= 1). SQLite's default, 1000 (4 MiB), means dozens of checkpoints -- each
  // copying pages and fsyncing the database -- per second under a steady stream of healthcheck
  // batches; a page rewritten by several commits is copied once per checkpoint. The WAL file
  // grows to about this size between checkpoints.
  int wal_autocheckpoint_pages = 16384;  // 64 MiB of 4 KiB pages
  // Name of a registered SQLite VFS to use instead of the default (tests: a fault-injecting
  // VFS). Empty = the default VFS.
  std::string vfs_name;
  // Clock for schema_migrations.applied_at; null = RealClock(). Not owned.
  Clock* clock = nullptr;
  // Migrations to apply; null = AllMigrations(). Tests only. Not owned.
  const std::vector<Migration>* migrations = nullptr;
};

// Opens (creating if needed) the database at options.path, applies pending migrations and starts
// the writer thread.
// Errors: kInvalidArgument (bad options), kIo (cannot create/open/read the file: the message
// names the path), kIntegrity (not a database / corrupt), kFailedPrecondition ("database schema
// version N is newer than this vigie (M); upgrade vigie"), kInvalidArgument/kIo from a failing
// migration (which is rolled back entirely).
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options);

}  // namespace vigie::store
