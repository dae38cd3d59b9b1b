#include "store/sqlite_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <future>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "base/log.h"

namespace vigie::store {

namespace {

constexpr int kBusyTimeoutMs = 5000;
constexpr size_t kStatementCacheMax = 128;

ErrorCode CodeForSqlite(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY ||
          rc == SQLITE_CONSTRAINT_ROWID) {
        return ErrorCode::kAlreadyExists;
      }
      return ErrorCode::kInvalidArgument;
    case SQLITE_ERROR:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
      return ErrorCode::kInvalidArgument;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return ErrorCode::kIntegrity;
    case SQLITE_MISUSE:
    case SQLITE_INTERNAL:
      return ErrorCode::kInternal;
    default:  // IOERR, FULL, CANTOPEN, BUSY, LOCKED, READONLY, NOMEM, PERM, PROTOCOL, ...
      return ErrorCode::kIo;
  }
}

std::string DbPath(sqlite3* db) {
  const char* p = db ? sqlite3_db_filename(db, "main") : nullptr;
  return p ? p : "";
}

// An Error for SQLite result `rc` while running `sql`. The message carries the statement's first
// words and SQLite's message (which names tables/columns, never bound values).
tl::unexpected<Error> SqliteError(sqlite3* db, int rc, std::string_view sql) {
  int ext = db ? sqlite3_extended_errcode(db) : rc;
  if ((ext & 0xff) != (rc & 0xff)) ext = rc;
  const char* msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  ErrorCode code = CodeForSqlite(ext);
  std::string text =
      fmt::format("SQL \"{}\" failed: {} (sqlite code {})", SqlSummary(sql), msg, ext);
  if (code == ErrorCode::kIo) {
    text += fmt::format("; check the disk and the permissions of {}", DbPath(db));
  } else if (code == ErrorCode::kIntegrity) {
    text += fmt::format("; {} is corrupt: restore it from a backup", DbPath(db));
  }
  return MakeError(code, std::move(text));
}

std::string FirstWordUpper(std::string_view sql) {
  size_t i = 0;
  while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i]))) ++i;
  std::string w;
  while (i < sql.size() && std::isalpha(static_cast<unsigned char>(sql[i]))) {
    w += static_cast<char>(std::toupper(static_cast<unsigned char>(sql[i])));
    ++i;
  }
  return w;
}

bool IsTransactionControl(std::string_view sql) {
  std::string w = FirstWordUpper(sql);
  return w == "BEGIN" || w == "COMMIT" || w == "END" || w == "ROLLBACK" || w == "SAVEPOINT" ||
         w == "RELEASE";
}

// The transaction control the writer runs for every batch (BEGIN IMMEDIATE, COMMIT) and every
// job (SAVEPOINT, RELEASE, ROLLBACK TO on failure): run through statements prepared once per
// connection (Conn::ExecControl), since sqlite3_exec would parse the text at every call.
enum class Control { kBegin, kCommit, kRollback, kSavepoint, kRelease, kRollbackTo };
constexpr std::array<const char*, 6> kControlSql = {"BEGIN IMMEDIATE",         // kBegin
                                                    "COMMIT",                  // kCommit
                                                    "ROLLBACK",                // kRollback
                                                    "SAVEPOINT vigie_job",     // kSavepoint
                                                    "RELEASE vigie_job",       // kRelease
                                                    "ROLLBACK TO vigie_job"};  // kRollbackTo

// Hash of the statement cache: lookups by string_view, without building a std::string key.
struct SqlHash {
  using is_transparent = void;
  size_t operator()(std::string_view sql) const { return std::hash<std::string_view>{}(sql); }
};

// One SQLite connection plus its prepared-statement cache. Used by one thread at a time.
class Conn {
 public:
  explicit Conn(sqlite3* db) : db_(db) {}
  ~Conn() { (void)Close(); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  sqlite3* db() const { return db_; }

  Status Close() {
    if (!db_) return OkStatus();
    ClearCache();
    for (sqlite3_stmt*& stmt : control_) {
      sqlite3_finalize(stmt);  // a no-op on nullptr
      stmt = nullptr;
    }
    int rc = sqlite3_close(db_);
    if (rc != SQLITE_OK) {
      auto err = SqliteError(db_, rc, "close");
      sqlite3_close_v2(db_);  // releases once whatever is still open is finalized
      db_ = nullptr;
      return err;
    }
    db_ = nullptr;
    return OkStatus();
  }

  // Runs SQL without parameters or results (pragmas, transaction control, migrations).
  Status ExecRaw(std::string_view sql) {
    std::string s(sql);
    int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return SqliteError(db_, rc, sql);
    return OkStatus();
  }

  // Runs one transaction-control statement (kControlSql) through its prepared statement, with the
  // outcome sqlite3_exec of the same text would have: SQLite's result code and message, and the
  // same effect on the transaction state (sqlite3_get_autocommit).
  Status ExecControl(Control c) {
    const auto i = static_cast<size_t>(c);
    const char* sql = kControlSql[i];
    sqlite3_stmt*& stmt = control_[i];
    if (stmt == nullptr) {
      int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
      if (rc != SQLITE_OK) {
        sqlite3_finalize(stmt);
        stmt = nullptr;
        return SqliteError(db_, rc, sql);
      }
    }
    int rc = sqlite3_step(stmt);
    // The error is read before the reset, which would otherwise stand in for the step's message.
    Status st = rc == SQLITE_DONE ? OkStatus() : Status(SqliteError(db_, rc, sql));
    sqlite3_reset(stmt);
    return st;
  }

  // A prepared statement for `sql` (cached). Exactly one statement; only `?` placeholders.
  Result<sqlite3_stmt*> Prepare(std::string_view sql) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return it->second;
    std::string key(sql);
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db_, key.data(), static_cast<int>(key.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return SqliteError(db_, rc, sql);
    }
    if (stmt == nullptr) {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("SQL \"{}\" contains no statement", SqlSummary(sql)));
    }
    for (const char* p = tail; p && *p; ++p) {
      if (!std::isspace(static_cast<unsigned char>(*p)) && *p != ';') {
        sqlite3_finalize(stmt);
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("SQL \"{}\" contains more than one statement; pass one "
                                     "statement per call",
                                     SqlSummary(sql)));
      }
    }
    for (int i = 1; i <= sqlite3_bind_parameter_count(stmt); ++i) {
      if (sqlite3_bind_parameter_name(stmt, i) != nullptr) {
        sqlite3_finalize(stmt);
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("SQL \"{}\" uses a named or numbered placeholder; use "
                                     "positional ? placeholders only (portable SQL)",
                                     SqlSummary(sql)));
      }
    }
    if (cache_.size() >= kStatementCacheMax) ClearCache();
    cache_.emplace(std::move(key), stmt);
    return stmt;
  }

 private:
  void ClearCache() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    cache_.clear();
  }

  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*, SqlHash, std::equal_to<>> cache_;
  std::array<sqlite3_stmt*, kControlSql.size()> control_{};  // prepared on first use
};

// Resets a cached statement and drops its bindings when a call is done with it, which also ends
// the implicit read transaction of a reader.
class StmtGuard {
 public:
  explicit StmtGuard(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~StmtGuard() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  StmtGuard(const StmtGuard&) = delete;
  StmtGuard& operator=(const StmtGuard&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

// Binds `params` (which must outlive the statement's execution: SQLITE_STATIC).
Status Bind(sqlite3* db, sqlite3_stmt* stmt, const std::vector<Value>& params,
            std::string_view sql) {
  int expected = sqlite3_bind_parameter_count(stmt);
  if (expected != static_cast<int>(params.size())) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("SQL \"{}\" has {} placeholders but {} parameters were passed",
                                 SqlSummary(sql), expected, params.size()));
  }
  for (int i = 0; i < expected; ++i) {
    const Value& v = params[i];
    int idx = i + 1;
    int rc = SQLITE_OK;
    switch (v.index()) {
      case 0:
        rc = sqlite3_bind_null(stmt, idx);
        break;
      case 1:
        rc = sqlite3_bind_int64(stmt, idx, std::get<int64_t>(v));
        break;
      case 2:
        rc = sqlite3_bind_double(stmt, idx, std::get<double>(v));
        break;
      case 3: {
        const auto& s = std::get<std::string>(v);
        rc = sqlite3_bind_text64(stmt, idx, s.data(), s.size(), SQLITE_STATIC, SQLITE_UTF8);
        break;
      }
      case 4: {
        const auto& b = std::get<Bytes>(v);
        // A null pointer would bind NULL; an empty blob must stay an empty blob.
        rc = b.empty() ? sqlite3_bind_zeroblob(stmt, idx, 0)
                       : sqlite3_bind_blob64(stmt, idx, b.data(), b.size(), SQLITE_STATIC);
        break;
      }
    }
    if (rc != SQLITE_OK) return SqliteError(db, rc, sql);
  }
  return OkStatus();
}

// Steps `stmt` to completion, collecting rows when `rows` is non-null.
Status StepAll(sqlite3* db, sqlite3_stmt* stmt, std::string_view sql, Rows* rows) {
  std::shared_ptr<const std::vector<std::string>> columns;
  for (;;) {
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) return OkStatus();
    if (rc != SQLITE_ROW) return SqliteError(db, rc, sql);
    if (!rows) continue;
    int n = sqlite3_column_count(stmt);
    if (!columns) {
      auto names = std::make_shared<std::vector<std::string>>();
      for (int i = 0; i < n; ++i) {
        const char* name = sqlite3_column_name(stmt, i);
        names->push_back(name ? name : "");
      }
      columns = std::move(names);
    }
    std::vector<Value> values;
    values.reserve(n);
    for (int i = 0; i < n; ++i) {
      switch (sqlite3_column_type(stmt, i)) {
        case SQLITE_INTEGER:
          values.emplace_back(int64_t{sqlite3_column_int64(stmt, i)});
          break;
        case SQLITE_FLOAT:
          values.emplace_back(sqlite3_column_double(stmt, i));
          break;
        case SQLITE_TEXT: {
          const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
          int len = sqlite3_column_bytes(stmt, i);
          values.emplace_back(std::string(p ? p : "", p ? len : 0));
          break;
        }
        case SQLITE_BLOB: {
          const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt, i));
          int len = sqlite3_column_bytes(stmt, i);
          values.emplace_back(p ? Bytes(p, p + len) : Bytes{});
          break;
        }
        default:
          values.emplace_back(std::monostate{});
          break;
      }
    }
    rows->emplace_back(columns, std::move(values));
  }
}

// The Txn handed to a write job; lives for the job's fn call only.
class SqliteTxn final : public Txn {
 public:
  explicit SqliteTxn(Conn* conn) : conn_(conn) {}

  Status Exec(std::string_view sql, std::vector<Value> params) override {
    VIGIE_RETURN_IF_ERROR(Run(sql, params, nullptr));
    return OkStatus();
  }
  Result<int64_t> ExecCount(std::string_view sql, std::vector<Value> params) override {
    VIGIE_RETURN_IF_ERROR(Run(sql, params, nullptr));
    return static_cast<int64_t>(sqlite3_changes64(conn_->db()));
  }
  Result<Rows> Query(std::string_view sql, std::vector<Value> params) override {
    Rows rows;
    VIGIE_RETURN_IF_ERROR(Run(sql, params, &rows));
    return rows;
  }
  int64_t LastInsertId() override {
    return static_cast<int64_t>(sqlite3_last_insert_rowid(conn_->db()));
  }

 private:
  Status Run(std::string_view sql, const std::vector<Value>& params, Rows* rows) {
    if (IsTransactionControl(sql)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("SQL \"{}\": transaction control is done by the store; a "
                                   "write job must not BEGIN/COMMIT/ROLLBACK/SAVEPOINT",
                                   SqlSummary(sql)));
    }
    VIGIE_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, conn_->Prepare(sql));
    StmtGuard guard(stmt);
    VIGIE_RETURN_IF_ERROR(Bind(conn_->db(), stmt, params, sql));
    return StepAll(conn_->db(), stmt, sql, rows);
  }

  Conn* const conn_;
};

Result<std::unique_ptr<Conn>> OpenConn(const SqliteOptions& opts, bool read_only) {
  int flags = SQLITE_OPEN_NOMUTEX |
              (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(opts.path.c_str(), &db, flags,
                           opts.vfs_name.empty() ? nullptr : opts.vfs_name.c_str());
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return MakeError(ErrorCode::kIo,
                     fmt::format("cannot open database {}: {}; check that its directory exists "
                                 "and is writable by vigie",
                                 opts.path, msg));
  }
  auto conn = std::make_unique<Conn>(db);
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  VIGIE_RETURN_IF_ERROR(conn->ExecRaw("PRAGMA foreign_keys=ON"));
  if (!read_only) {
    // The first statement reads the header: a file that is not a database fails here.
    VIGIE_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, conn->Prepare("PRAGMA journal_mode=WAL"));
    StmtGuard guard(stmt);
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) return SqliteError(db, rc, "PRAGMA journal_mode=WAL");
    const auto* mode = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    if (!mode || std::strcmp(mode, "wal") != 0) {
      return MakeError(ErrorCode::kIo,
                       fmt::format("database {} cannot use WAL journaling (got '{}'); put it on a "
                                   "local filesystem that supports shared memory",
                                   opts.path, mode ? mode : ""));
    }
    // FULL: the WAL is fsynced at every commit, so an acknowledged write is durable.
    VIGIE_RETURN_IF_ERROR(conn->ExecRaw("PRAGMA synchronous=FULL"));
    VIGIE_RETURN_IF_ERROR(
        conn->ExecRaw(fmt::format("PRAGMA wal_autocheckpoint={}", opts.wal_autocheckpoint_pages)));
    if (opts.writer_cache_kib > 0) {
      VIGIE_RETURN_IF_ERROR(
          conn->ExecRaw(fmt::format("PRAGMA cache_size=-{}", opts.writer_cache_kib)));
    }
  }
  return conn;
}

Result<int> MaxAppliedVersion(Conn& conn) {
  constexpr std::string_view kSql = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";
  VIGIE_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, conn.Prepare(kSql));
  StmtGuard guard(stmt);
  Rows rows;
  VIGIE_RETURN_IF_ERROR(StepAll(conn.db(), stmt, kSql, &rows));
  if (rows.size() != 1) return MakeError(ErrorCode::kInternal, "MAX(version) returned no row");
  VIGIE_ASSIGN_OR_RETURN(int64_t v, rows[0].GetInt(rows[0].columns()[0]));
  return static_cast<int>(v);
}

// Applies pending migrations, each in its own transaction with its schema_migrations row.
// Returns the resulting schema version.
Result<int> Migrate(Conn& conn, const std::vector<Migration>& migrations, Clock* clock,
                    const std::string& path) {
  VIGIE_RETURN_IF_ERROR(conn.ExecRaw(
      "CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, name TEXT, "
      "applied_at INTEGER)"));
  const int latest = static_cast<int>(migrations.size());
  VIGIE_ASSIGN_OR_RETURN(int current, MaxAppliedVersion(conn));
  if (current > latest) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     fmt::format("database schema version {} is newer than this vigie ({}); "
                                 "upgrade vigie (database: {})",
                                 current, latest, path));
  }
  for (const Migration& m : migrations) {
    if (m.version <= current) continue;
    VIGIE_RETURN_IF_ERROR(conn.ExecRaw("BEGIN IMMEDIATE"));
    auto apply = [&]() -> Status {
      // Another process may have migrated between our read and BEGIN IMMEDIATE.
      VIGIE_ASSIGN_OR_RETURN(int now, MaxAppliedVersion(conn));
      if (now >= m.version) return OkStatus();
      auto st = conn.ExecRaw(m.sql);
      if (!st) {
        return MakeError(st.error().code, fmt::format("migration {} ({}) failed: {}", m.version,
                                                      m.name, st.error().message));
      }
      constexpr std::string_view kInsert =
          "INSERT INTO schema_migrations(version, name, applied_at) VALUES(?, ?, ?)";
      VIGIE_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, conn.Prepare(kInsert));
      StmtGuard guard(stmt);
      std::vector<Value> params = {int64_t{m.version}, m.name,
                                   int64_t{ToUnixSeconds(clock->Now())}};
      VIGIE_RETURN_IF_ERROR(Bind(conn.db(), stmt, params, kInsert));
      return StepAll(conn.db(), stmt, kInsert, nullptr);
    };
    auto st = apply();
    if (!st) {
      (void)conn.ExecRaw("ROLLBACK");
      return tl::unexpected(st.error());
    }
    VIGIE_RETURN_IF_ERROR(conn.ExecRaw("COMMIT"));
    log::Info("store.migration_applied", {{"version", m.version}, {"name", m.name}});
    current = m.version;
  }
  return MaxAppliedVersion(conn);
}

struct Job {
  WriteFn fn;
  DoneFn done;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(SqliteOptions opts, std::unique_ptr<Conn> writer,
              std::vector<std::unique_ptr<Conn>> readers, int schema_version)
      : opts_(std::move(opts)),
        writer_conn_(std::move(writer)),
        readers_(std::move(readers)),
        schema_version_(schema_version) {
    for (auto& r : readers_) free_readers_.push_back(r.get());
    writer_ = std::thread([this] { WriterLoop(); });
    writer_id_ = writer_.get_id();
  }

  ~SqliteStore() override {
    auto st = Close();
    if (!st) log::Error("store.close_failed", {{"error", st.error().message}});
  }

  Result<Rows> Query(std::string_view sql, std::vector<Value> params) override {
    VIGIE_ASSIGN_OR_RETURN(Conn * conn, AcquireReader());
    Rows rows;
    auto st = [&]() -> Status {
      VIGIE_ASSIGN_OR_RETURN(sqlite3_stmt * stmt, conn->Prepare(sql));
      StmtGuard guard(stmt);
      if (!sqlite3_stmt_readonly(stmt)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("SQL \"{}\" would modify the database; Store::Query is "
                                     "read-only, use Write()",
                                     SqlSummary(sql)));
      }
      VIGIE_RETURN_IF_ERROR(Bind(conn->db(), stmt, params, sql));
      return StepAll(conn->db(), stmt, sql, &rows);
    }();
    ReleaseReader(conn);
    if (!st) return tl::unexpected(st.error());
    return rows;
  }

  Status Write(WriteFn fn) override {
    if (std::this_thread::get_id() == writer_id_) {
      return MakeError(ErrorCode::kInternal,
                       "Store::Write called from inside a write job (it would deadlock); use the "
                       "job's Txn");
    }
    auto promise = std::make_shared<std::promise<Status>>();
    auto future = promise->get_future();
    VIGIE_RETURN_IF_ERROR(
        WriteAsync(std::move(fn), [promise](Status s) { promise->set_value(std::move(s)); }));
    return future.get();
  }

  Status WriteAsync(WriteFn fn, DoneFn done) override {
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        return MakeError(ErrorCode::kFailedPrecondition,
                         fmt::format("store {} is closed; no more writes", opts_.path));
      }
      if (queue_.size() >= opts_.max_queued_writes) {
        return MakeError(ErrorCode::kResourceExhausted,
                         fmt::format("store {}: {} writes already queued; retry later", opts_.path,
                                     queue_.size()));
      }
      queue_.push_back(Job{std::move(fn), std::move(done)});
      wake = writer_waiting_;
    }
    // No wake-up is lost: the writer sets writer_waiting_ and tests the queue under mu_, and
    // cv_.wait releases mu_ atomically with blocking. So a push made under mu_ either happens
    // before the writer's test (which then sees the job and does not block) or while the writer
    // is blocked (or about to be, with writer_waiting_ already true): then this thread notifies.
    // A notify that arrives after the writer already woke for another reason only costs it a
    // spurious wake-up (it re-tests the queue). Notifying while the writer is running a batch
    // would be wasted work on every enqueue.
    if (wake) cv_.notify_one();
    return OkStatus();
  }

  int SchemaVersion() override { return schema_version_; }

  Status Close() override {
    if (std::this_thread::get_id() == writer_id_) {
      return MakeError(ErrorCode::kInternal, "Store::Close called from inside a write job");
    }
    std::lock_guard<std::mutex> close_lock(close_mu_);
    if (closed_) return OkStatus();
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (writer_.joinable()) writer_.join();
    {
      std::unique_lock<std::mutex> lock(pool_mu_);
      readers_closing_ = true;
      pool_cv_.notify_all();
      pool_cv_.wait(lock, [&] { return free_readers_.size() == readers_.size(); });
    }
    Status result = OkStatus();
    for (auto& r : readers_) {
      auto st = r->Close();
      if (!st && result) result = st;
    }
    // Closed last: the writer checkpoints the WAL into the database file.
    auto st = writer_conn_->Close();
    if (!st && result) result = st;
    closed_ = true;
    log::Info("store.closed", {{"path", opts_.path}});
    return result;
  }

 private:
  Result<Conn*> AcquireReader() {
    std::unique_lock<std::mutex> lock(pool_mu_);
    pool_cv_.wait(lock, [&] { return readers_closing_ || !free_readers_.empty(); });
    if (readers_closing_) {
      return MakeError(ErrorCode::kFailedPrecondition,
                       fmt::format("store {} is closed; no more queries", opts_.path));
    }
    Conn* c = free_readers_.back();
    free_readers_.pop_back();
    return c;
  }

  void ReleaseReader(Conn* c) {
    {
      std::lock_guard<std::mutex> lock(pool_mu_);
      free_readers_.push_back(c);
    }
    pool_cv_.notify_all();
  }

  void WriterLoop() {
    std::vector<Job> batch;  // reused: its capacity stays
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (!stopping_ && queue_.empty()) {
          writer_waiting_ = true;  // see WriteAsync: set and tested under mu_
          cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
          writer_waiting_ = false;
        }
        if (queue_.empty()) return;  // stopping and drained
        while (!queue_.empty() && batch.size() < static_cast<size_t>(opts_.batch_max)) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      std::vector<Status> results = RunBatch(batch);
      for (size_t i = 0; i < batch.size(); ++i) {
        if (!batch[i].done) continue;
        try {
          batch[i].done(std::move(results[i]));
        } catch (const std::exception& e) {
          log::Error("store.done_callback_threw", {{"what", e.what()}});
        } catch (...) {
          log::Error("store.done_callback_threw", {{"what", "unknown"}});
        }
      }
      batch.clear();  // destroys the jobs (and what their closures hold) before waiting again
    }
  }

  static Status RunFn(const WriteFn& fn, Txn& txn) {
    try {
      return fn(txn);
    } catch (const std::exception& e) {
      return MakeError(ErrorCode::kInternal, fmt::format("write job threw: {}", e.what()));
    } catch (...) {
      return MakeError(ErrorCode::kInternal, "write job threw a non-standard exception");
    }
  }

  // Runs `batch` in as few transactions as possible (one, unless SQLite itself aborts a
  // transaction) and returns each job's outcome.
  std::vector<Status> RunBatch(std::vector<Job>& batch) {
    Conn& conn = *writer_conn_;
    std::vector<Status> results(batch.size(), OkStatus());
    size_t i = 0;
    while (i < batch.size()) {
      const size_t first = i;
      auto fail_from = [&](size_t from, size_t to, const Error& why) {
        for (size_t j = from; j < to; ++j) {
          if (results[j]) results[j] = tl::unexpected(why);
        }
      };
      if (auto st = conn.ExecControl(Control::kBegin); !st) {
        fail_from(i, batch.size(), st.error());
        return results;
      }
      bool aborted = false;
      for (; i < batch.size(); ++i) {
        // A job alone in its transaction runs without a SAVEPOINT: on failure the transaction,
        // which holds nothing else, is rolled back. Inside a savepoint SQLite copies the first
        // version of every page the job modifies into its sub-journal (a temporary file once
        // past 64 KiB), which for a large job (a healthcheck batch dirties thousands of pages)
        // cost as much as writing those pages to the WAL (docs/PERFORMANCE.md, run I).
        const bool alone = i == first && i + 1 == batch.size();
        if (!alone) {
          if (auto st = conn.ExecControl(Control::kSavepoint); !st) {
            results[i] = st;
            continue;
          }
        }
        SqliteTxn txn(&conn);
        Status st = RunFn(batch[i].fn, txn);
        if (sqlite3_get_autocommit(conn.db())) {
          // SQLite rolled the whole transaction back (I/O error, disk full, ...): every job of
          // this transaction is lost.
          Error why{ErrorCode::kIo,
                    fmt::format("a write batch on {} was rolled back by a database error in "
                                "another write job; retry",
                                opts_.path)};
          results[i] = st ? Status(tl::unexpected(why)) : st;
          fail_from(first, i, why);
          ++i;
          aborted = true;
          break;
        }
        results[i] = st;
        if (alone) {
          if (st) continue;
          (void)conn.ExecControl(Control::kRollback);  // this job's changes only
          ++i;
          aborted = true;
          break;
        }
        Status end = st ? conn.ExecControl(Control::kRelease)
                        : conn.ExecControl(Control::kRollbackTo).and_then([&] {
                            return conn.ExecControl(Control::kRelease);
                          });
        if (!end) {
          // The job's changes cannot be isolated: abandon the whole transaction.
          (void)conn.ExecControl(Control::kRollback);
          if (results[i]) results[i] = end;
          fail_from(first, i, end.error());
          ++i;
          aborted = true;
          break;
        }
      }
      if (aborted) continue;
      if (auto st = conn.ExecControl(Control::kCommit); !st) {
        log::Error("store.commit_failed", {{"path", opts_.path}, {"error", st.error().message}});
        if (!sqlite3_get_autocommit(conn.db())) (void)conn.ExecControl(Control::kRollback);
        fail_from(first, i, st.error());
      }
    }
    return results;
  }

  const SqliteOptions opts_;
  std::unique_ptr<Conn> writer_conn_;  // used only by the writer thread (then by Close)
  std::vector<std::unique_ptr<Conn>> readers_;
  const int schema_version_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;        // GUARDED_BY(mu_)
  bool stopping_ = false;        // GUARDED_BY(mu_)
  bool writer_waiting_ = false;  // GUARDED_BY(mu_): the writer is (about to be) in cv_.wait

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<Conn*> free_readers_;  // GUARDED_BY(pool_mu_)
  bool readers_closing_ = false;     // GUARDED_BY(pool_mu_)

  std::mutex close_mu_;
  bool closed_ = false;  // GUARDED_BY(close_mu_)

  std::thread::id writer_id_;  // set once by the constructor
  std::thread writer_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options) {
  SqliteOptions opts = options;
  if (opts.path.empty() || opts.path == ":memory:" || opts.path.rfind("file:", 0) == 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "store path must name a database file (not empty, ':memory:' or a URI)");
  }
  if (opts.writer_cache_kib < 0 || opts.wal_autocheckpoint_pages < 1) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("store options: writer_cache_kib ({}) must be >= 0 and "
                                 "wal_autocheckpoint_pages ({}) >= 1",
                                 opts.writer_cache_kib, opts.wal_autocheckpoint_pages));
  }
  if (opts.batch_max < 1 || opts.read_connections < 1 || opts.max_queued_writes < 1) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("store options: batch_max ({}), read_connections ({}) and "
                                 "max_queued_writes ({}) must be at least 1",
                                 opts.batch_max, opts.read_connections, opts.max_queued_writes));
  }
  if (!opts.vfs_name.empty() && sqlite3_vfs_find(opts.vfs_name.c_str()) == nullptr) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("SQLite VFS '{}' is not registered", opts.vfs_name));
  }
  if (sqlite3_threadsafe() == 0) {
    return MakeError(ErrorCode::kInternal, "libsqlite3 was built without thread support");
  }
  const std::vector<Migration>& migrations = opts.migrations ? *opts.migrations : AllMigrations();
  VIGIE_RETURN_IF_ERROR(ValidateMigrations(migrations));
  Clock* clock = opts.clock ? opts.clock : RealClock();

  // Create the file ourselves so that it is private from the first byte; SQLite gives the WAL
  // and shared-memory files the database file's mode.
  int fd = ::open(opts.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    ::close(fd);
  } else if (errno != EEXIST) {
    return MakeError(ErrorCode::kIo,
                     fmt::format("cannot create database {}: {}; check that its directory exists "
                                 "and is writable by vigie",
                                 opts.path, std::strerror(errno)));
  }

  VIGIE_ASSIGN_OR_RETURN(auto writer, OpenConn(opts, /*read_only=*/false));
  VIGIE_ASSIGN_OR_RETURN(int version, Migrate(*writer, migrations, clock, opts.path));
  std::vector<std::unique_ptr<Conn>> readers;
  for (int i = 0; i < opts.read_connections; ++i) {
    VIGIE_ASSIGN_OR_RETURN(auto r, OpenConn(opts, /*read_only=*/true));
    readers.push_back(std::move(r));
  }
  log::Info("store.opened", {{"path", opts.path}, {"schema_version", version}});
  return std::unique_ptr<Store>(
      new SqliteStore(std::move(opts), std::move(writer), std::move(readers), version));
}

}  // namespace vigie::store
