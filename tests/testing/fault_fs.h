#pragma once
// FaultInjectingFileSystem: wraps a real FileSystem (rooted in a test's temp dir) and
//  - fails the Nth mutating operation from now (FailAfter), with ErrorCode::kIo, and
//  - simulates a power cut (DropUnsyncedData): every file is cut back to the length it had at its
//    last sync, so data appended without sync is lost, as on a real crash.
// WriteFileAtomic counts as three steps (write temp, sync, rename); a failure at any step leaves
// the previous file intact, which is what the tests check.
// Thread-safety: all methods may be called from any thread.

#include <map>
#include <mutex>

#include "base/env.h"

namespace vigie::testing {

class FaultInjectingFileSystem final : public FileSystem {
 public:
  explicit FaultInjectingFileSystem(FileSystem* base) : base_(base) {}

  // The `n`th mutating step from now (1 = the next one) and every later one fail; 0 disables.
  void FailAfter(int n);
  // How many mutating steps have run since construction.
  int steps() const;
  void DropUnsyncedData();

  Result<std::string> ReadFile(const std::string& path) override;
  Status WriteFileAtomic(const std::string& path, std::string_view data, uint32_t mode) override;
  Status AppendFile(const std::string& path, std::string_view data, bool sync) override;
  bool Exists(const std::string& path) override { return base_->Exists(path); }
  Status CreateDirs(const std::string& path, uint32_t mode) override;
  Result<std::vector<DirEntry>> ListDir(const std::string& path) override {
    return base_->ListDir(path);
  }
  Status Remove(const std::string& path) override;
  Result<uint64_t> FileSize(const std::string& path) override { return base_->FileSize(path); }
  Status Truncate(const std::string& path, uint64_t size) override;

 private:
  // Returns an error when this step must fail. REQUIRES: mu_ held.
  Status Step(const char* what, const std::string& path);

  FileSystem* base_;
  mutable std::mutex mu_;
  int steps_ = 0;
  int fail_at_ = 0;  // absolute step number; 0 = never
  std::map<std::string, uint64_t> synced_size_;  // files appended to since the last sync
};

}  // namespace vigie::testing
