// vigie_heartbeat_setup: prepares a fleet data directory with S provisioned sites for the
// heartbeat benchmark (bench/heartbeat_bench.sh), as `vigie site provision` would leave it for
// the fleet manager, without the cloud side (no principal, no KMS key per site):
//   - the backends are opened exactly as the `vigie` binary opens them (cli::OpenFleetBackends:
//     SQLite store, local KMS, local secrets backend) and the fleet TLS certificate is created
//     as `vigie server` would (cli::FleetTlsPin);
//   - per site: an enrollment key pair (X25519), a generated agent API secret (base64url, the
//     provisioner's generator), a real signed package (package::BuildPackage, sealed to the
//     enrollment key; the file itself is not written), the `sites` and `packages` rows the
//     provisioner's Record step writes, and the agent secret in the secrets backend under
//     backend::AgentApiSecretName(site) with the provisioner's tags and request token;
//   - with --history H: H passing healthcheck rows per site and a licence activated on each
//     site's oldest (which keeps the benchmark's report; the later ones are stored without it,
//     as for a licensed site), so that the fleet manager runs in its steady state: a licensed
//     fleet whose batches prune as many old rows as they add. The rows are in arrival order
//     (round-robin over the sites, ids ascending) and their receipt times fill the oldest
//     --history-span seconds of the retention window (fleet.healthcheck_retention_minutes,
//     the default): they age out one after the other during the --history-span seconds after
//     the setup, which the benchmark sets to its own length. Without history, the heartbeats
//     of a fresh, unlicensed fleet never prune;
//     Each site's last heartbeat is in heartbeats_last, as the fleet manager's last-seen flush
//     leaves it, with its mark, so the server starts without scanning the history;
//   - writes a config file (data_dir and server.listen_address) for `vigie server --config`;
//   - writes <sites-file> (mode 0600) with one line per site:
//       <site> <package_id> <enrollment_key_fingerprint> <hex(agent_api_secret)>
//     which the load generator reads to register the sites (POST /register, the real route)
//     and to sign heartbeats.
//
// SECURITY: a benchmark tool: the sites file holds the agent secrets in clear (hex) and is
// created 0600; use a throwaway data directory.
//
// Usage: vigie_heartbeat_setup --data-dir DIR --sites N --port P --sites-file FILE
//                              [--config-out FILE] [--history H] [--history-span SECONDS]

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "backend/policy.h"
#include "base/encoding.h"
#include "base/env.h"
#include "cli/backends.h"
#include "config/config.h"
#include "crypto/credential.h"
#include "crypto/hash.h"
#include "crypto/seal.h"
#include "package/enrollment_key.h"
#include "package/package.h"
#include "heartbeat_report.h"

namespace {

using namespace vigie;

struct Args {
  std::string data_dir;
  std::string sites_file;
  std::string config_out;
  int sites = 10000;
  int port = 0;
  int history = 0;
  int history_span = 0;  // seconds; 0: 60 per history row of a site
};

[[noreturn]] void Usage(const char* msg) {
  std::fprintf(stderr,
               "vigie_heartbeat_setup: %s\nusage: vigie_heartbeat_setup --data-dir DIR --sites N "
               "--port P --sites-file FILE [--config-out FILE] [--history H] [--history-span S]\n",
               msg);
  std::exit(2);
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc) Usage(("missing value after " + k).c_str());
    std::string v = argv[++i];
    if (k == "--data-dir") {
      a.data_dir = v;
    } else if (k == "--sites") {
      a.sites = std::atoi(v.c_str());
    } else if (k == "--port") {
      a.port = std::atoi(v.c_str());
    } else if (k == "--sites-file") {
      a.sites_file = v;
    } else if (k == "--history") {
      a.history = std::atoi(v.c_str());
    } else if (k == "--history-span") {
      a.history_span = std::atoi(v.c_str());
    } else if (k == "--config-out") {
      a.config_out = v;
    } else {
      Usage(("unknown option " + k).c_str());
    }
  }
  if (a.data_dir.empty() || a.data_dir[0] != '/') Usage("--data-dir must be an absolute path");
  if (a.sites_file.empty()) Usage("--sites-file is required");
  if (a.sites < 1 || a.sites > 10'000'000) Usage("--sites must be in 1..10000000");
  if (a.port < 1 || a.port > 65535) Usage("--port must be in 1..65535");
  if (a.history < 0 || a.history > 10000) Usage("--history must be in 0..10000");
  if (a.history_span < 0 || a.history_span > 86400) Usage("--history-span must be in 0..86400");
  if (a.history_span == 0) a.history_span = 60 * a.history;
  if (a.config_out.empty()) a.config_out = a.data_dir + "/vigie.toml";
  return a;
}

int Fail(const Error& e) {
  std::fprintf(stderr, "vigie_heartbeat_setup: %s\n", e.ToString().c_str());
  return ExitCodeFor(e.code);
}

struct SiteRows {
  std::string site, package_id, fingerprint, path, file_sha256;
  Bytes signed_bytes, signature, enrollment_key;
  SecretBytes agent_secret;
};

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv);
  Env env = RealEnv();
  if (auto st = env.fs->CreateDirs(args.data_dir, 0700); !st) return Fail(st.error());

  // The config `vigie server --config` reads: the embedded defaults, with the bench port.
  const std::string toml = fmt::format(
      "# Written by vigie_heartbeat_setup (bench/heartbeat_bench.sh).\n"
      "data_dir = \"{}\"\n\n[server]\nlisten_address = \"127.0.0.1:{}\"\n",
      args.data_dir, args.port);
  if (auto st = env.fs->WriteFileAtomic(args.config_out, toml, 0600); !st) return Fail(st.error());
  auto config = config::LoadConfigFile(args.config_out, *env.fs);
  if (!config) return Fail(config.error());

  auto backends = cli::OpenFleetBackends(*config, env, /*open_ledger=*/false);
  if (!backends) return Fail(backends.error());
  auto pin = cli::FleetTlsPin(*config, env);
  if (!pin) return Fail(pin.error());

  const auto t0 = std::chrono::steady_clock::now();
  const WallTime now_wall = env.clock->Now();
  const int64_t now = ToUnixSeconds(now_wall);
  const std::string fleet_url = fmt::format("https://127.0.0.1:{}", args.port);

  int fd = ::open(args.sites_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Fail(Error{ErrorCode::kIo, "cannot create " + args.sites_file});
  }
  ::fchmod(fd, 0600);
  std::FILE* out = ::fdopen(fd, "w");

  constexpr int kBatch = 256;  // sites per store transaction
  const crypto::SigningKey& fleet_key = *backends->fleet_key;
  for (int first = 0; first < args.sites; first += kBatch) {
    const int last = std::min(args.sites, first + kBatch);
    std::vector<SiteRows> rows;
    rows.reserve(static_cast<size_t>(last - first));
    for (int i = first; i < last; ++i) {
      SiteRows r;
      r.site = fmt::format("site-{:06d}", i + 1);
      crypto::BoxKeyPair enrollment = crypto::GenerateBoxKeyPair(*env.random);
      auto secret = crypto::GenerateCredential(env, crypto::Alphabet::kBase64Url);
      if (!secret) return Fail(secret.error());
      r.agent_secret = std::move(secret->value);
      r.package_id = package::NewPackageId(*env.random);
      package::Manifest m;
      m.site_id = r.site;
      m.package_id = r.package_id;
      m.fleet_url = fleet_url;
      m.fleet_tls_pin = *pin;
      m.created_at = FromUnixSeconds(now);
      m.expires_at = m.created_at + std::chrono::hours(24 * 30);
      package::SiteSecrets secrets;
      secrets.items.push_back(package::SecretItem{std::string(package::kAgentApiSecret),
                                                  r.agent_secret.Clone(), false});
      auto file = package::BuildPackage(m, secrets, enrollment.public_key, fleet_key);
      if (!file) return Fail(file.error());
      auto parts = package::ExtractSignedParts(*file);
      if (!parts) return Fail(parts.error());
      r.signed_bytes.assign(parts->signed_bytes.begin(), parts->signed_bytes.end());
      r.signature.assign(parts->signature.begin(), parts->signature.end());
      r.enrollment_key.assign(enrollment.public_key.begin(), enrollment.public_key.end());
      r.fingerprint = package::EnrollmentKeyFingerprint(enrollment.public_key);
      r.path = fmt::format("{}/packages/{}{}", args.data_dir, r.site, package::kFileExtension);
      r.file_sha256 = HexEncode(crypto::Sha256(*file));
      rows.push_back(std::move(r));
    }
    const auto& fleet_pub = fleet_key.public_key();
    const Bytes fleet_pub_bytes(fleet_pub.begin(), fleet_pub.end());
    auto st = backends->store->Write([&](store::Txn& t) -> Status {
      for (const SiteRows& r : rows) {
        VIGIE_RETURN_IF_ERROR(t.Exec(
            "INSERT INTO sites(id, region, state, created_at, updated_at) VALUES(?, ?, ?, ?, ?)",
            {r.site, std::string("eu-west-3"), std::string("provisioned"), now, now}));
        VIGIE_RETURN_IF_ERROR(t.Exec(
            "INSERT INTO packages(package_id, site_id, path, file_sha256, signed_bytes, "
            "signature, fleet_key, enrollment_key, enrollment_key_fingerprint, created_at, "
            "expires_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            {r.package_id, r.site, r.path, r.file_sha256, r.signed_bytes, r.signature,
             fleet_pub_bytes, r.enrollment_key, r.fingerprint, now,
             now + int64_t{30 * 24 * 3600}}));
      }
      return OkStatus();
    });
    if (!st) return Fail(st.error());
    // The agent secrets, as the provisioner's AgentSecret step stores them. Several threads:
    // the Store group-commits their writes.
    constexpr int kThreads = 4;
    std::vector<std::thread> threads;
    std::vector<Status> results(kThreads, OkStatus());
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (size_t i = static_cast<size_t>(t); i < rows.size(); i += kThreads) {
          const SiteRows& r = rows[i];
          backend::Tags tags{
              {"site", r.site}, {"kind", "agent_api_secret"}, {"vigie:managed", "true"}};
          auto v = backends->secrets->Create(backend::AgentApiSecretName(r.site), r.agent_secret,
                                             tags, r.package_id);
          if (!v) {
            results[static_cast<size_t>(t)] = tl::unexpected(v.error());
            return;
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    for (const auto& s : results) {
      if (!s) return Fail(s.error());
    }
    for (const SiteRows& r : rows) {
      std::string hex = HexEncode(r.agent_secret.span());
      std::fprintf(out, "%s %s %s %s\n", r.site.c_str(), r.package_id.c_str(),
                   r.fingerprint.c_str(), hex.c_str());
      WipeString(hex);
    }
  }
  if (std::fclose(out) != 0) return Fail(Error{ErrorCode::kIo, "cannot write " + args.sites_file});

  // The history, in arrival order: round k gives each site one row, ids ascending as the fleet
  // manager gives them (it reads the last one at start). Row n of N is received at
  // now - retention + n * span / N: the oldest rows of the retention window, aging out one after
  // the other over the span. Round 0 is the passing healthcheck each site's licence was
  // activated on: it keeps its report, as the fleet manager stores it for a site not yet
  // licensed; the later passing ones of the licensed site are stored without it.
  const int64_t retention = config->fleet.healthcheck_retention_minutes * 60;
  const int64_t total = int64_t{args.sites} * args.history;
  constexpr int64_t kRowsPerTxn = 100000;
  for (int64_t first = 0; first < total; first += kRowsPerTxn) {
    auto st = backends->store->Write([&](store::Txn& t) -> Status {
      for (int64_t n = first; n < std::min(total, first + kRowsPerTxn); ++n) {
        const std::string site = fmt::format("site-{:06d}", n % args.sites + 1);
        const bool licence_row = n < args.sites;
        const int64_t at = now - retention + n * args.history_span / total;
        const int64_t id = n + 1;
        VIGIE_RETURN_IF_ERROR(t.Exec(
            "INSERT INTO healthchecks (id, site_id, received_at, passed, report) VALUES (?, ?, "
            "?, 1, ?)",
            {id, site, at,
             licence_row ? store::Value(std::string(bench::kHealthyReport)) : store::Value()}));
        if (licence_row) {
          VIGIE_RETURN_IF_ERROR(
              t.Exec("INSERT INTO license_activations (site_id, activated_at, healthcheck_id, "
                     "healthcheck_at) VALUES (?, ?, ?, ?)",
                     {site, at, id, at}));
        }
      }
      return OkStatus();
    });
    if (!st) return Fail(st.error());
  }
  // What the fleet manager's last-seen flush leaves for such a fleet: each site's last heartbeat
  // (its newest row: the last round) in heartbeats_last, and the mark saying those rows account
  // for every id so far, so that the server starts without scanning the history.
  if (total > 0) {
    for (int first = 0; first < args.sites; first += 100000) {
      auto st = backends->store->Write([&](store::Txn& t) -> Status {
        for (int i = first; i < std::min(args.sites, first + 100000); ++i) {
          const int64_t n = total - args.sites + i;  // the site's row in the last round
          const int64_t at = now - retention + n * args.history_span / total;
          VIGIE_RETURN_IF_ERROR(
              t.Exec("INSERT INTO heartbeats_last (site_id, last_seen, last_report, last_pass_at, "
                     "last_healthcheck_id) VALUES (?, ?, ?, ?, ?)",
                     {fmt::format("site-{:06d}", i + 1), at, std::string(bench::kHealthyReport), at,
                      n + 1}));
        }
        return OkStatus();
      });
      if (!st) return Fail(st.error());
    }
    auto st = backends->store->Write([&](store::Txn& t) -> Status {
      return t.Exec("INSERT INTO kv (key, value) VALUES ('fleet.heartbeats_last.through_id', ?)",
                    {total});
    });
    if (!st) return Fail(st.error());
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("{\"sites\": %d, \"history\": %d, \"seconds\": %.1f, \"config\": \"%s\", "
              "\"sites_file\": \"%s\"}\n",
              args.sites, args.history, secs, args.config_out.c_str(), args.sites_file.c_str());
  return 0;
}
