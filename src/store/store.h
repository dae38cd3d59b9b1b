#pragma once
// Store: vigie's relational database, behind a small interface so that the SQLite backend
// (sqlite_store.h) and a later PostgreSQL backend are interchangeable without changing callers.
//
// SQL dialect: callers write a portable subset of SQL (what SQLite and PostgreSQL both accept)
// with positional `?` placeholders; a backend may rewrite them (PostgreSQL: $1..$n). One
// statement per call. Values are bound, never spliced into the SQL text.
//
// Concurrency model: one writer, many readers.
//  - Query() runs a read-only statement on one of a small pool of read connections; any thread,
//    concurrent readers do not block each other or the writer.
//  - Write()/WriteAsync() enqueue a job for the single writer thread. The writer takes up to
//    `batch_max` queued jobs and runs them in ONE transaction (group commit), each job inside its
//    own SAVEPOINT (or, when it is the only job of the transaction, in the transaction itself):
//    a job whose fn fails is rolled back alone, the others still commit. A job's completion is
//    reported only once the batch is committed and durable.
//
// Errors (every backend maps its own error codes to these):
//   kInvalidArgument  the SQL is wrong (syntax, unknown table/column, wrong parameter count,
//                     NOT NULL / CHECK / foreign-key violation, a write attempted via Query).
//   kAlreadyExists    a UNIQUE or PRIMARY KEY constraint rejected the row.
//   kIo               the database could not be read or written (disk, locks, out of space).
//   kIntegrity        the database file is corrupt.
//   kFailedPrecondition  the store is closed, or its schema is newer than this binary.
// Messages name the statement by its first words ("INSERT INTO events") and never contain
// parameter values (they may be secret).
//
// SECURITY: parameter values are never logged nor copied into error messages; still, rows are
// plain memory: store secrets only sealed (encrypted) by the caller.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/encoding.h"
#include "base/error.h"

namespace vigie::store {

// A SQL value: NULL, INTEGER, REAL, TEXT, BLOB.
using Value = std::variant<std::monostate, int64_t, double, std::string, Bytes>;

// Name of the alternative held by `v` ("null", "integer", "real", "text", "blob").
std::string_view ValueTypeName(const Value& v);

// One result row: column names (shared by every row of a result) and values.
// Typed getters look a column up by name; they fail with kInternal when the column does not
// exist or holds another type (a mismatch between the code and the schema, i.e. a bug).
// GetDouble also accepts an integer. A NULL is "another type" for every getter: test IsNull
// first for nullable columns. Thread-compatible (const methods are safe concurrently).
class Row {
 public:
  Row() = default;
  Row(std::shared_ptr<const std::vector<std::string>> columns, std::vector<Value> values);

  const std::vector<std::string>& columns() const;
  const std::vector<Value>& values() const { return values_; }
  size_t size() const { return values_.size(); }

  // The value of column `col`; kInternal if there is no such column.
  Result<const Value*> Get(std::string_view col) const;
  Result<bool> IsNull(std::string_view col) const;
  Result<int64_t> GetInt(std::string_view col) const;
  Result<double> GetDouble(std::string_view col) const;
  Result<std::string> GetText(std::string_view col) const;
  Result<Bytes> GetBlob(std::string_view col) const;
  // Nullable columns: std::nullopt / "" for NULL, else as GetInt / GetText (same errors).
  Result<std::optional<int64_t>> GetIntOrNull(std::string_view col) const;
  Result<std::string> GetTextOrEmpty(std::string_view col) const;

 private:
  std::shared_ptr<const std::vector<std::string>> columns_;
  std::vector<Value> values_;
};

using Rows = std::vector<Row>;

// The handle a write job uses, owned by the store. REQUIRES: used only during the job's fn call,
// on the writer thread (do not keep a pointer to it). Not thread-safe (single writer).
class Txn {
 public:
  virtual ~Txn() = default;
  // Runs one statement. Transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE) is
  // rejected with kInvalidArgument: the store owns the transaction.
  virtual Status Exec(std::string_view sql, std::vector<Value> params = {}) = 0;
  // Like Exec, and returns the number of rows inserted, updated or deleted.
  virtual Result<int64_t> ExecCount(std::string_view sql, std::vector<Value> params = {}) = 0;
  // Reads inside the transaction: sees this job's (and this batch's earlier jobs') changes.
  virtual Result<Rows> Query(std::string_view sql, std::vector<Value> params = {}) = 0;
  // The rowid / generated key of the last INSERT on this transaction.
  virtual int64_t LastInsertId() = 0;
};

using WriteFn = std::function<Status(Txn&)>;
using DoneFn = std::function<void(Status)>;

class Store {
 public:
  virtual ~Store() = default;

  // Runs one read-only statement and returns all its rows. Blocks the caller for the query's
  // duration (and while every read connection is busy). A statement that would write fails with
  // kInvalidArgument. Sees every write whose Write() returned (or whose done was called) before
  // this call started. Thread-safe.
  virtual Result<Rows> Query(std::string_view sql, std::vector<Value> params = {}) = 0;

  // Runs `fn` inside a transaction on the writer thread and returns once the transaction has
  // committed durably (the commit survives a power cut from then on). If fn returns an error,
  // exactly fn's changes are rolled back and that error is returned. Also fails if the commit
  // fails (kIo), in which case nothing of fn persisted. Blocks; do not call from an I/O thread
  // (use WriteAsync) nor from inside a write job (kInternal: it would deadlock). Thread-safe.
  virtual Status Write(WriteFn fn) = 0;

  // Enqueues `fn` and returns at once (never waits for the database). `done` is later called
  // exactly once, on the writer thread, with what Write() would have returned; callbacks are
  // called in the order the jobs were enqueued. `done` must be quick and must not call Write()
  // (it may call WriteAsync()). If WriteAsync itself returns an error (store closed:
  // kFailedPrecondition; queue full: kResourceExhausted), fn does not run and done is not called.
  // Thread-safe.
  virtual Status WriteAsync(WriteFn fn, DoneFn done) = 0;

  // The highest migration version applied to the database (see migrations.h).
  virtual int SchemaVersion() = 0;

  // Stops accepting writes, runs and commits every job already enqueued (calling their done),
  // then closes the database. Idempotent; later calls of other methods fail with
  // kFailedPrecondition. The destructor calls Close(). REQUIRES: not called from a write job.
  virtual Status Close() = 0;
};

// The first words of `sql` (at most ~40 characters, whitespace collapsed), for error messages
// and logs: "INSERT INTO events". Contains no parameter values since they are never in the SQL.
std::string SqlSummary(std::string_view sql);

}  // namespace vigie::store
