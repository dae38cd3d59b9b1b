#pragma once
// Schema migrations: a versioned, ordered list of SQL scripts applied when a store opens.
//
// Each migration runs in its own transaction together with the insertion of its row in
// schema_migrations(version, name, applied_at), so it is applied entirely or not at all, and
// reopening a database applies nothing twice. A database whose highest applied version is newer
// than the last migration this binary knows is refused (kFailedPrecondition): an older vigie
// must not write to a schema it does not understand.
//
// Modules add their tables by appending a Migration to the list in migrations.cc (never by
// editing or reordering an existing one: it may already be applied on deployed databases).

#include <string>
#include <vector>

#include "base/error.h"

namespace vigie::store {

struct Migration {
  int version = 0;   // 1, 2, 3, ... strictly increasing, no gaps
  std::string name;  // short snake_case description, recorded in schema_migrations
  std::string sql;   // one or more statements (portable subset of SQL; no parameters)
};

// Every migration vigie knows, in order. Thread-safe (a constant built once).
const std::vector<Migration>& AllMigrations();

// Checks that `migrations` is numbered 1..n in order with non-empty names and SQL.
// kInternal (a bug in the list) otherwise.
Status ValidateMigrations(const std::vector<Migration>& migrations);

}  // namespace vigie::store
