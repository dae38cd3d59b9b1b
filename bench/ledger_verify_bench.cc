// vigie_ledger_verify_bench <ledger_dir> <fleet_pubkey_file>
// Runs exactly what `vigie ledger verify` runs (ledger::RunLedgerVerify) and reports its wall
// time and throughput over entries.seg on stderr. Exit code: RunLedgerVerify's.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "ledger/verify.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <ledger_dir> <fleet_pubkey_file>\n", argv[0]);
    return 2;
  }
  struct stat st {};
  const std::string entries = std::string(argv[1]) + "/entries.seg";
  ::stat(entries.c_str(), &st);
  auto start = std::chrono::steady_clock::now();
  int rc = vigie::ledger::RunLedgerVerify(argv[1], argv[2], stdout);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "verify: %.3f s, %.1f MiB/s over %lld bytes\n", secs,
               static_cast<double>(st.st_size) / secs / (1 << 20),
               static_cast<long long>(st.st_size));
  return rc;
}
