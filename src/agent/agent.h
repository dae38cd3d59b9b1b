#pragma once
// The site agent daemon (issue 7 agent side, MAINT_001, PROV_005, PROV_021).
//
// Agent::Start:
//   1. verifies and opens the deployment package with the site's enrollment key
//      (package::VerifyAndOpenPackage); any refusal is returned with the package's error (its
//      PackageError name in the message) and RunAgent exits non-zero;
//   2. initialises (first start) or loads the local admin account (admin_api.h, PROV_005) and
//      serves it, with GET /metrics (the host metrics, Prometheus text), on
//      admin_listen_address (plain HTTP: loopback only, the server refuses anything else);
//   3. registers the site once (PROV_021, no operator step): POST
//      {fleet_url}/v1/sites/{site}/register {"package_id","enrollment_key_fingerprint",
//      "agent_version"} (also "version", same value) signed with the agent API secret
//      (fleet::SignSiteRequest). The signature is the proof of the enrollment key: the secret could
//      only be read by opening the payload sealed to that key. 2xx or 409 (already registered)
//      count as registered, remembered in the state file;
//   4. heartbeats (MAINT_001): POST {fleet_url}/v1/sites/{site}/heartbeat whose body is the
//      health report (HealthReportJson, the format src/fleet/health_report.h parses) plus
//      "site_id", "package_id", "sequence", "sent_at", "admin_password_must_change", and
//      "metrics" {"ok","families","samples","error"}: the agent's self-check of its own /metrics
//      body (parsed and linted as promtool would, http/metrics_parse.h; MAINT_003); it carries
//      admin_password_changed_at (PROV_005) from the first heartbeat after the change. Sent every
//      heartbeat_interval (<= 60 s) shortened by a random jitter of 0..jitter_percent % (never
//      lengthened: a gap never exceeds the interval). On an error (transport, non-2xx) it retries
//      after an exponential backoff initial_backoff * 2^(n-1), capped at the interval, jittered
//      likewise; it never gives up. One HttpClient (CurlClient: one easy handle, keep-alive)
//      carries all fleet traffic.
// Work runs on the Env clock's timers (a FakeClock drives it in tests); an exchange blocks the
// timer thread for at most http_timeout.
// Metrics (GET /metrics, unauthenticated, loopback): vigie_agent_{memory,cpu,disk}_used_percent,
// vigie_agent_load_average{window}, vigie_agent_host_metrics_up, vigie_agent_registered,
// vigie_agent_admin_password_must_change, vigie_agent_fleet_exchanges_total{kind,result},
// vigie_agent_heartbeat_consecutive_failures.
//
// Restart-safety: `<state_dir>/agent_state.json` (atomic, 0600) keeps site id, package id,
// registration and the pinned fleet signing key; the admin account has its own file. The agent
// API secret is never written to disk: the package is re-verified and re-opened at every start,
// so the secret exists only in memory (SecretBytes) and on disk only sealed in the package.
// A state directory that belongs to another site is refused. A new package id for the same site
// makes the agent register again.
//
// Fleet key: `fleet_public_key` when given (operator pinned); otherwise the key pinned in the
// state file; otherwise (first start, trust on first use) the key the manifest names, which is
// then pinned: a later package signed by another fleet key is refused as bad_signature.
//
// TLS to the fleet: the manifest's fleet_ca_pem is written to `<state_dir>/fleet_ca.pem` and used
// as the CA bundle. CurlClient has no public-key pinning option yet, so fleet_tls_pin is not
// enforced (a warning is logged once at start); the system trust store applies then.
//
// Thread-safety: Start/Stop from one owner thread; status() and MetricsText() from any thread.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/host_metrics.h"
#include "base/env.h"
#include "base/error.h"
#include "crypto/sign.h"
#include "http/client.h"

namespace vigie::config {
struct Config;
}

namespace vigie::agent {

inline constexpr std::string_view kAgentStateFile = "agent_state.json";
inline constexpr std::chrono::seconds kMaxHeartbeatInterval{60};  // MAINT_001

struct AgentOptions {
  std::string package_file;
  std::string enrollment_key_file;
  std::optional<crypto::Ed25519PublicKey> fleet_public_key;
  std::string state_dir;
  std::chrono::seconds heartbeat_interval{60};  // 1..60 (MAINT_001)
  int jitter_percent = 10;                      // 0..50
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds http_timeout{20000};
  std::string admin_listen_address = "127.0.0.1:8444";
  std::vector<std::string> disk_paths = {"/"};
  std::string vault_address;  // "" = no Vault on this site
  std::string vault_ca_file;
  std::string version;  // "" = this build's version

  // Seams; null / empty = production (CurlClient, /proc, statvfs, INTERACTIVE Argon2id cost).
  http::HttpClient* fleet_client = nullptr;
  http::HttpClient* vault_client = nullptr;
  FileReader proc_reader;
  DiskStatter disk_statter;
  unsigned long long pwhash_opslimit = 0;
  size_t pwhash_memlimit = 0;
};

struct AgentStatus {
  std::string site_id;
  std::string package_id;
  bool registered = false;
  uint64_t register_attempts = 0;
  uint64_t heartbeats_ok = 0;
  uint64_t heartbeat_failures = 0;
  uint64_t consecutive_failures = 0;
  std::optional<WallTime> last_heartbeat_ok;
  std::string last_error;                  // "" after a success
  std::chrono::nanoseconds next_delay{0};  // delay chosen for the next exchange
  bool admin_password_must_change = true;
  std::optional<WallTime> admin_password_changed_at;
};

class Agent {
 public:
  // Does steps 1-2 synchronously and schedules the first exchange at once (delay 0).
  // Errors: kInvalidArgument (options: interval over 60 s cites MAINT_001), the package's
  // refusal (PackageErrorOf() recovers it), kFailedPrecondition (state of another site; package
  // without agent_api_secret / admin_password at first start), kUnavailable (admin listener).
  static Result<std::unique_ptr<Agent>> Start(AgentOptions options, Env env);
  ~Agent();  // Stop()
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Cancels the timers (waits for an exchange in progress) and stops the admin listener.
  // Idempotent. REQUIRES: not called from a timer callback.
  void Stop();

  AgentStatus status() const;
  uint16_t admin_port() const;
  // GET /metrics body.
  std::string MetricsText() const;

  struct Impl;

 private:
  explicit Agent(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The delay before the next heartbeat: `interval` minus a uniform jitter of 0..jitter_percent %.
std::chrono::nanoseconds JitteredInterval(std::chrono::nanoseconds interval, int jitter_percent,
                                          Random& random);
// Backoff after `failures` (>= 1) consecutive errors: min(interval, initial * 2^(failures-1)),
// jittered like JitteredInterval.
std::chrono::nanoseconds BackoffDelay(uint64_t failures, std::chrono::nanoseconds initial,
                                      std::chrono::nanoseconds interval, int jitter_percent,
                                      Random& random);

// What `vigie agent run` needs beyond the configuration.
struct RunAgentArgs {
  std::string enrollment_key_file;    // "" = <state_dir>/enrollment.key
  std::string fleet_public_key_file;  // Ed25519 PEM; "" = pinned / trust on first use
  std::string package_file;           // "" = config agent.package_file
};

// The agent's options from the configuration ([agent], [vault], data_dir) and `args`: what
// `vigie agent run` and `vigie dev` start the agent with. Reads the fleet public key file.
// Errors: kInvalidArgument (no package), the key file's read or parse error (file named).
Result<AgentOptions> AgentOptionsFromConfig(const config::Config& config,
                                            const RunAgentArgs& args, const Env& env);

// Runs the daemon until SIGTERM or SIGINT: blocks those signals in the calling thread (call it
// before starting other threads, so every thread inherits the mask), starts the agent, tells
// systemd READY=1 (sd_notify, when built with libsystemd), waits, sends STOPPING=1, stops cleanly.
// Returns 0 after a clean stop, else ExitCodeFor(error) after printing the error to stderr.
int RunAgent(const config::Config& config, const RunAgentArgs& args);

}  // namespace vigie::agent
