#include "testing/temp_dir.h"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace vigie::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/vigie-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (std::getenv("VIGIE_KEEP_TEMP") != nullptr) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string SourceDir() {
  const char* s = std::getenv("VIGIE_SOURCE_DIR");
  return s ? s : VIGIE_DEFAULT_SOURCE_DIR;
}

std::string VigieBinary() {
  const char* s = std::getenv("VIGIE_BINARY");
  return s ? s : VIGIE_DEFAULT_BINARY;
}

}  // namespace vigie::testing
