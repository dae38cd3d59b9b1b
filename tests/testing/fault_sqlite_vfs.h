#pragma once
// FaultSqliteVfs: a test double for SQLite's file I/O. A SQLite VFS that wraps the default (unix)
// VFS and simulates a power cut at the Nth mutating step (xWrite, xSync, xTruncate, xDelete on a
// named file). From that step on (the step itself included) every mutating call silently does
// nothing and returns SQLITE_OK, as if the data never reached the disk, and crashed() is true.
//
// Power-cut model: data written to a file is durable only once that file has been synced. At the
// crash, every file loses the writes and truncations made since its last xSync (they are undone
// from an undo log, in reverse order), like a kernel page cache lost with the power. So code that
// acknowledges a commit before its fsync is caught, not only code that writes in a bad order.
// Real fsyncs are skipped (durability here is simulated), which keeps crash loops fast.
//
// Usage: construct (registers the VFS under a unique name), pass name() as the VFS to
// sqlite3_open_v2 / SqliteOptions::vfs_name, CrashAtStep(n), run, close every connection, then
// destroy the VFS and reopen the file with the default VFS to inspect what "survived".
// Thread-safety: all methods and the VFS itself may be used from any thread.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

struct sqlite3_vfs;

namespace vigie::testing {

class FaultSqliteVfs {
 public:
  // Registers a VFS named `name` (must be unique in the process), not as the default.
  explicit FaultSqliteVfs(std::string name);
  // Unregisters. REQUIRES: no connection is open on this VFS.
  ~FaultSqliteVfs();
  FaultSqliteVfs(const FaultSqliteVfs&) = delete;
  FaultSqliteVfs& operator=(const FaultSqliteVfs&) = delete;

  const std::string& name() const { return name_; }

  // The power cut happens at the `n`th mutating step from now (1 = the next one); 0 = never.
  void CrashAtStep(int n);
  // Mutating steps counted so far (before the crash).
  int steps() const;
  bool crashed() const;

  // Called by the VFS shims (fault_sqlite_vfs.cc); not for tests.
  struct Impl;

 private:
  std::string name_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigie::testing
