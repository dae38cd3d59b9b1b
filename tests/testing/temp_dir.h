#pragma once
// TempDir: a fresh private directory per test, removed (recursively) on destruction unless
// VIGIE_KEEP_TEMP is set in the environment.

#include <string>

namespace vigie::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The source tree root (VIGIE_SOURCE_DIR, set by ctest) and the vigie binary (VIGIE_BINARY).
std::string SourceDir();
std::string VigieBinary();

}  // namespace vigie::testing
