// vigie_ledger_gen <ledger_dir> <min_bytes> <fleet_pubkey_out>
// Fills a fresh ledger with realistic provisioning-event entries (~1 KiB JSON bodies) until
// entries.seg holds at least <min_bytes>, signing a tree head every 65,536 entries and at the
// end, and writes the fleet public key (PEM) to <fleet_pubkey_out> for the verify step.
// Benchmark tool only: the key is derived from a fixed seed.
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/secret.h"
#include "crypto/sign.h"
#include "ledger/ledger.h"

int main(int argc, char** argv) {
  using namespace vigie;
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <ledger_dir> <min_bytes> <fleet_pubkey_out>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const uint64_t min_bytes = std::strtoull(argv[2], nullptr, 10);
  auto key = crypto::SigningKey::FromSeed(SecretBytes::CopyFrom(std::string(32, '\x42')));
  if (!key) return 2;
  Env env = RealEnv();
  if (auto s =
          env.fs->WriteFileAtomic(argv[3], crypto::Ed25519PublicKeyToPem(key->public_key()), 0644);
      !s) {
    std::fprintf(stderr, "%s\n", s.error().ToString().c_str());
    return 2;
  }
  auto opened = ledger::Ledger::Open(dir, env, &*key);
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.error().ToString().c_str());
    return 2;
  }
  auto& ledger = *opened;
  const std::string pad(640, 'x');
  uint64_t bytes = 0;
  uint64_t n = 0;
  std::vector<ledger::NewEntry> batch;
  while (bytes < min_bytes) {
    batch.clear();
    for (int i = 0; i < 1024; ++i, ++n) {
      std::string site = fmt::format("site-{:06d}", n % 50000);
      batch.push_back(
          {"site.provisioned", site,
           fmt::format(R"({{"site":"{}","step":"provision","n":{},"region":"eu-west-3",)"
                       R"("instance":"i-{:017x}","package":"vigie-agent_1.4.{}_amd64.deb",)"
                       R"("sha256":"{:064x}","operator":"ops@example.org","note":"{}"}})",
                       site, n, n * 2654435761u, n % 97, n * 0x9E3779B97F4A7C15ull, pad)});
    }
    auto refs = ledger->AppendBatch(batch);
    if (!refs) {
      std::fprintf(stderr, "%s\n", refs.error().ToString().c_str());
      return 1;
    }
    if (n % 65536 == 0 && !ledger->SignTreeHead()) return 1;
    auto size = env.fs->FileSize(dir + "/entries.seg");
    bytes = size ? *size : 0;
  }
  if (!ledger->SignTreeHead()) return 1;
  std::printf("%llu entries, %llu bytes, %zu tree heads\n", static_cast<unsigned long long>(n),
              static_cast<unsigned long long>(bytes), ledger->TreeHeads().size());
  return 0;
}
