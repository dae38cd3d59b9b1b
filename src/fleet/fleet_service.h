#pragma once
// The fleet manager's HTTPS API (issue 7, server side): a versioned JSON API under /v1 and
// Prometheus /metrics.
//
// Routes:
//   POST /v1/sites/{id}/register          site-signed (site_auth.h). PROV_021: the agent
//        registers itself at first start: {"package_id","enrollment_key_fingerprint",
//        "agent_version"}. Checked against the `packages` row written by provisioning (same
//        site, same enrollment key fingerprint, not expired). The HMAC under the agent API
//        secret is the proof of the enrollment key: that secret reaches the site only sealed to
//        the enrollment key inside the package. Committed (Store::Write) before the reply.
//   POST /v1/sites/{id}/heartbeat         site-signed. MAINT_001: a healthcheck report
//        (health_report.h). Updates the in-memory liveness tracker at once; the healthcheck row
//        (evidence: received_at, passed, and the report exactly as the site signed it when the
//        healthcheck failed or the site holds no licence yet; NULL for a licensed site's passing
//        healthcheck, whose report is its last report in heartbeats_last) joins the pending
//        batch, handed to the store as one WriteAsync job every healthcheck_flush_interval or as
//        soon as it holds healthcheck_batch_max rows, and the reply (200
//        {"accepted","passed","failing"}) does not wait for it. When the store refuses the batch
//        (write queue full, store closed) or 8 x healthcheck_batch_max rows are pending,
//        heartbeats are answered with the store's error (429 for a full queue) until a batch is
//        accepted again; the agent backs off.
//   POST /v1/sites/{id}/license/activate  site-signed or operator token. PROV_022: 409 naming
//        PROV_022 unless the site's latest healthcheck passed within license_health_window; the
//        healthcheck used is recorded with the activation. The latest is the row given to the
//        site's last heartbeat (its id is known in memory, and in heartbeats_last across
//        restarts); the pending healthcheck batch is handed to the store first (503 if the store
//        refuses it), so the decision is taken on that committed row (409 naming it if its batch
//        failed: the next heartbeat brings another).
//
// Healthchecks: the table holds the rows in arrival order (ids given by the server), with no
// per-site index, so a batch appends its rows at the end of one b-tree. Each batch also prunes
// the rows received more than healthcheck_retention ago, of every site alike, except those a
// licence relied on: a range at the table's start, from a kv mark to the first young row. A
// site silent for longer than the retention keeps no rows, and its last heartbeat stays in
// heartbeats_last (the compliance checks read it: MAINT_001/002).
//   GET  /v1/sites, GET /v1/sites/{id}    operator token (Authorization: Bearer <token>).
//   GET  /v1/compliance[?site=ID&rule=ID&rule=ID]  operator token. The compliance report of
//        `vigie compliance check --format json` for the same selection (compliance_feed.h),
//        evaluated on the worker thread. 400 for an unknown query parameter, an empty or repeated
//        site, an empty or unknown rule id (the message names it); 404 for an unknown site; 503
//        when the server was started without FleetDeps::compliance.
//        The full report is also evaluated once right after start and then every
//        compliance_interval (on the worker); its results replace the gauge family
//        vigie_compliance_rule_status{rule,site} (1 PASS, 0 FAIL, -1 NOT_APPLICABLE; site
//        "_fleet" for fleet-wide rules; the series of a site that left the report disappear),
//        with vigie_compliance_last_evaluation_timestamp_seconds and
//        vigie_compliance_evaluation_errors_total (failed evaluations, and evaluations that could
//        not read all evidence).
//   GET  /metrics                         Prometheus text (MAINT_003), unauthenticated.
//        The server parses and lints its own rendering every metrics_selfcheck_interval and
//        records the outcome (metrics_selfcheck.h): the MAINT_003 evidence.
//
// Threads: handlers never wait on the database or on the SecretsBackend on an I/O thread: work
// that blocks (registration commit, admin queries, licence activation, a secret-cache miss)
// runs on one worker thread; heartbeats are answered once their row joined the pending batch.
//
// What a crash can lose: at most one healthcheck flush interval (healthcheck_flush_interval) of
// healthcheck rows (pending in memory, plus the batch in the group commit in progress; the next
// heartbeat of each site brings a new one) and at most one last-seen flush interval
// (flush_interval) of last-seen times and last reports in heartbeats_last (kept in memory,
// flushed in batches). A licence is decided only on committed healthchecks (the activation hands
// the pending batch to the store, then its Store::Write runs after every job enqueued before
// it). Never a registration, a licence activation (both committed before the reply) or an alert
// (committed before it is notified; an alert whose commit was cut by the crash is raised again
// after restart, since the tracker restarts from heartbeats_last and the silence continues).
//
// SECURITY: the agent secrets are held in SecretBytes in an in-memory cache (fetched once per
// site from the SecretsBackend); the operator token exists on disk only in its 0600 file and in
// memory only as its SHA-256; neither is ever logged.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "backend/secrets.h"
#include "base/env.h"
#include "base/error.h"
#include "config/config.h"
#include "fleet/alerts.h"
#include "fleet/compliance_feed.h"
#include "fleet/liveness.h"
#include "http/client.h"
#include "http/metrics.h"
#include "http/server.h"
#include "store/store.h"

namespace vigie::fleet {

struct FleetServerOptions {
  std::string listen_address = "127.0.0.1:8443";
  bool tls = true;
  http::TlsMaterial tls_material;  // empty cert_pem with tls: a self-signed one is generated
  size_t max_body_bytes = 64 * 1024;
  size_t max_connections = 10000;
  std::chrono::milliseconds read_timeout{30000};
  int io_threads = 2;

  std::string data_dir;             // the token lives in <data_dir>/fleet/operator.token
  std::string operator_token_file;  // overrides the path above when non-empty

  std::chrono::seconds heartbeat_late_after{90};
  std::chrono::seconds heartbeat_alert_after{120};
  std::chrono::seconds license_health_window{600};
  std::chrono::seconds replay_window{300};
  std::chrono::milliseconds flush_interval{5000};  // heartbeats_last batches
  // Healthcheck rows are written in batches: one WriteAsync job every healthcheck_flush_interval
  // (through the Env clock), or as soon as healthcheck_batch_max rows are pending. Both > 0.
  // From [fleet] healthcheck_flush_interval_ms / healthcheck_batch_max (io_threads from
  // [server]).
  // A batch is one transaction, and each commit costs a WAL sync and its share of checkpoints,
  // so fewer, larger batches cost less per row (docs/PERFORMANCE.md, session 4: 250 ms and 2048
  // rows cost 35-37 us of server CPU per heartbeat, 1 s and 32768 rows 29-31 us).
  std::chrono::milliseconds healthcheck_flush_interval{1000};
  size_t healthcheck_batch_max = 32768;
  std::chrono::milliseconds tick_interval{1000};   // liveness deadline queue
  // MAINT_003: how often the server re-checks its own /metrics rendering (metrics_selfcheck.h);
  // the first check runs at start.
  std::chrono::milliseconds metrics_selfcheck_interval{60000};
  // Healthcheck rows received longer ago are pruned, except those a licence relied on; the
  // batch jobs prune (docs/PERFORMANCE.md, run K). From [fleet] healthcheck_retention_minutes.
  std::chrono::minutes healthcheck_retention{120};

  std::string webhook_url;  // alert notifications; empty = none

  // Periodic full compliance evaluation (metrics); no configuration key sets it today.
  std::chrono::seconds compliance_interval{300};
};

// From the validated configuration ([server], [fleet], data_dir, alerting.sms_webhook_url).
// TLS material is not loaded here (the caller does: `vigie server`, `vigie dev`).
FleetServerOptions FleetOptionsFromConfig(const config::Config& config);

struct FleetDeps {
  Env env;                                     // clock, fs, random: REQUIRED
  store::Store* store = nullptr;               // REQUIRED
  backend::SecretsBackend* secrets = nullptr;  // REQUIRED
  http::HttpClient* webhook_client = nullptr;  // REQUIRED when webhook_url is set
  // Optional: without it GET /v1/compliance answers 503 and no compliance metric is exported.
  // Called on the worker thread only, one call at a time; what it captures must outlive the
  // server.
  ComplianceEvaluator compliance;
};

class FleetServer {
 public:
  ~FleetServer();  // Stop()s
  FleetServer(const FleetServer&) = delete;
  FleetServer& operator=(const FleetServer&) = delete;

  uint16_t port() const;
  // The operator token, only when it was generated by this start (first start), else empty.
  // SECURITY: a secret (also in the 0600 token file); never logged.
  const SecretBytes& generated_operator_token() const;
  std::string operator_token_path() const;
  // Stops the HTTP server, the timers and the worker, writes the pending healthcheck rows and
  // flushes heartbeats_last (blocking).
  void Stop();

  // For tests and the lead's wiring.
  LivenessTracker& tracker();
  AlertManager& alerts();
  WebhookNotifier* notifier();
  http::MetricsRegistry& metrics();
  // Hands the pending healthcheck rows to the store, then flushes the in-memory last-seen times
  // (blocking Store::Write, which also waits for those rows). Not on an I/O thread.
  Status FlushNow();
  // Runs a full compliance evaluation on the worker now and waits for it; updates the
  // compliance metrics as the periodic one does. Returns the evaluator's error, or
  // kFailedPrecondition without an evaluator, kUnavailable once stopped.
  // REQUIRES: not called on the worker thread (it would wait for itself).
  Status RefreshComplianceNow();

  struct Impl;

 private:
  explicit FleetServer(std::unique_ptr<Impl> impl);
  friend Result<std::unique_ptr<FleetServer>> StartFleetServer(FleetServerOptions options,
                                                               FleetDeps deps);
  std::unique_ptr<Impl> impl_;
};

// Loads the state (registrations, licences, last heartbeats, firing alerts), creates or reads
// the operator token, builds the routes and starts listening.
// Errors: kInvalidArgument (missing deps, bad options), kIo (token file), kUnavailable (bind),
// and the Store's errors.
Result<std::unique_ptr<FleetServer>> StartFleetServer(FleetServerOptions options, FleetDeps deps);

}  // namespace vigie::fleet
