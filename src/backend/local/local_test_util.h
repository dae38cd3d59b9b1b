#pragma once
// Test helpers shared by the local backends' tests: scanning the raw bytes of the SQLite
// database (and its write-ahead log) for a secret, to prove the store never holds a plaintext.

#include <algorithm>
#include <fstream>
#include <iterator>
#include <span>
#include <string>

namespace vigie::backend::testutil {

inline std::string ReadAllBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// True when `needle` appears in the database file or in its -wal / -journal siblings.
inline bool StoreFilesContain(const std::string& db_path, std::span<const uint8_t> needle) {
  const std::string n(reinterpret_cast<const char*>(needle.data()), needle.size());
  for (const char* suffix : {"", "-wal", "-journal"}) {
    const std::string bytes = ReadAllBytes(db_path + suffix);
    if (bytes.find(n) != std::string::npos) return true;
  }
  return false;
}

}  // namespace vigie::backend::testutil
