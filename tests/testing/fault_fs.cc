#include "testing/fault_fs.h"

#include <fmt/format.h>

namespace vigie::testing {

void FaultInjectingFileSystem::FailAfter(int n) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_at_ = n == 0 ? 0 : steps_ + n;
}

int FaultInjectingFileSystem::steps() const {
  std::lock_guard<std::mutex> lock(mu_);
  return steps_;
}

Status FaultInjectingFileSystem::Step(const char* what, const std::string& path) {
  ++steps_;
  if (fail_at_ != 0 && steps_ >= fail_at_) {
    return MakeError(ErrorCode::kIo,
                     fmt::format("{} {}: injected fault at step {}", what, path, steps_));
  }
  return OkStatus();
}

void FaultInjectingFileSystem::DropUnsyncedData() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [path, size] : synced_size_) (void)base_->Truncate(path, size);
  synced_size_.clear();
}

Result<std::string> FaultInjectingFileSystem::ReadFile(const std::string& path) {
  return base_->ReadFile(path);
}

Status FaultInjectingFileSystem::WriteFileAtomic(const std::string& path, std::string_view data,
                                                 uint32_t mode) {
  std::lock_guard<std::mutex> lock(mu_);
  // Three observable steps; the base implementation is all-or-nothing, so failing before it
  // runs models a crash before the rename: the old content stays.
  VIGIE_RETURN_IF_ERROR(Step("write temp", path));
  VIGIE_RETURN_IF_ERROR(Step("fsync temp", path));
  VIGIE_RETURN_IF_ERROR(Step("rename", path));
  synced_size_.erase(path);
  return base_->WriteFileAtomic(path, data, mode);
}

Status FaultInjectingFileSystem::AppendFile(const std::string& path, std::string_view data,
                                            bool sync) {
  std::lock_guard<std::mutex> lock(mu_);
  VIGIE_RETURN_IF_ERROR(Step("append", path));
  if (!synced_size_.count(path)) {
    auto size = base_->FileSize(path);
    synced_size_[path] = size ? *size : 0;
  }
  VIGIE_RETURN_IF_ERROR(base_->AppendFile(path, data, false));
  if (sync) {
    VIGIE_RETURN_IF_ERROR(Step("fdatasync", path));
    VIGIE_RETURN_IF_ERROR(base_->AppendFile(path, "", true));
    synced_size_.erase(path);
  }
  return OkStatus();
}

Status FaultInjectingFileSystem::CreateDirs(const std::string& path, uint32_t mode) {
  std::lock_guard<std::mutex> lock(mu_);
  VIGIE_RETURN_IF_ERROR(Step("mkdir", path));
  return base_->CreateDirs(path, mode);
}

Status FaultInjectingFileSystem::Remove(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  VIGIE_RETURN_IF_ERROR(Step("remove", path));
  synced_size_.erase(path);
  return base_->Remove(path);
}

Status FaultInjectingFileSystem::Truncate(const std::string& path, uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  VIGIE_RETURN_IF_ERROR(Step("truncate", path));
  return base_->Truncate(path, size);
}

}  // namespace vigie::testing
