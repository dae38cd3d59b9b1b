#pragma once
// The one typed configuration of vigie (fleet manager, agent and CLI), parsed once from TOML and
// fully validated before anything starts:
//  - unknown keys and tables are rejected (with the closest known key suggested);
//  - every value is type-checked and range-checked (ports 1..65535, positive durations, enums);
//  - values that would break an invariant of spec/INVARIANTS.md are rejected with the rule id
//    (e.g. vault.recovery_shares = 3 cites PROV_011, backup.retention_days = 30 cites MAINT_013).
// Every error is ErrorCode::kConfig with a message of the form
//   "<file>:<line>: <dotted.key>: <what is wrong>; <what to do>"
// (several problems are reported together, one per line, in file order).
//
// Durations are integers whose unit is part of the key name (`interval_seconds`,
// `retention_days`), in the file and in these structs alike. Every field below is optional in the
// file; the default is the value the struct is initialised with, and is documented beside it.
// Validation never touches the filesystem or the network: files named here (TLS keys, package,
// token) are opened by the component that uses them, which reports its own errors.
//
// AWS credentials are never part of the configuration: they are read at run time from the
// standard AWS environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, or
// AWS_PROFILE and the shared credentials file, or the instance role). Likewise a PostgreSQL
// password never appears in store.dsn: libpq reads it from PGPASSFILE / ~/.pgpass.
//
// toml++ is deliberately not included here (only config.cc includes it).
// Thread-safety: the functions are reentrant; a Config is a plain value.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/env.h"
#include "base/error.h"

namespace vigie::config {

// Where a cloud-facing capability is served from: "local" (files under data_dir, for one machine
// and for tests) or "aws" (IAM, Secrets Manager, KMS; requires aws.region).
enum class Backend { kLocal, kAws };
enum class StoreBackend { kSqlite, kPostgres };
enum class AnchorBackend { kLocal, kEthereum };
enum class LogLevel { kDebug, kInfo, kWarn, kError };

std::string_view BackendName(Backend b);              // "local" | "aws"
std::string_view StoreBackendName(StoreBackend b);    // "sqlite" | "postgres"
std::string_view AnchorBackendName(AnchorBackend b);  // "local" | "ethereum"
std::string_view LogLevelName(LogLevel l);            // "debug" | "info" | "warn" | "error"

// [server]: the fleet manager's HTTPS API.
struct ServerConfig {
  std::string listen_address = "127.0.0.1:8443";  // "host:port", port 1..65535.
  // PEM files; both or neither. Neither = a self-signed certificate is generated at start.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string public_url;  // URL agents use to reach this server (http:// or https://); optional.
  int64_t max_body_bytes = 65536;     // 1..16 MiB; larger bodies get 413.
  int64_t max_connections = 10000;    // 1..1000000.
  int64_t read_timeout_seconds = 30;  // 1..3600.
  std::string operator_token_file;    // File holding the operator API token; empty = none.
  int64_t io_threads = 2;             // 1..256: threads serving connections, one event loop each.
};

// [store]: the fleet manager's database.
struct StoreConfig {
  StoreBackend backend = StoreBackend::kSqlite;  // "sqlite" | "postgres".
  std::string path;  // SQLite file; empty in the file = "<data_dir>/vigie.db" (filled in by load).
  // libpq connection string; required when backend = "postgres". SECURITY: must not carry a
  // password (rejected): use PGPASSFILE / ~/.pgpass.
  std::string dsn;
  int64_t batch_max_rows = 512;    // 1..100000 rows per batched commit.
  int64_t flush_interval_ms = 50;  // 1..10000.
};

// [identity], [secrets]: per-site principals and credential storage (PROV_001, PROV_004).
struct BackendConfig {
  Backend backend = Backend::kLocal;
};

// [kms]: key management (MAINT_020).
struct KmsConfig {
  Backend backend = Backend::kLocal;
  // 90..365: above 365 breaks MAINT_020 (yearly rotation); AWS KMS accepts no period below 90.
  int64_t key_rotation_period_days = 365;
};

// [aws]: shared by every "aws" backend. Credentials come from the environment (see top).
struct AwsConfig {
  std::string region;        // Required when any backend is "aws" or backup.target_bucket is set.
  std::string endpoint_url;  // Override for moto / LocalStack (http:// or https://); optional.
  std::string iam_path = "/vigie/sites/";  // IAM path of per-site users (PROV_001); "/.../".
};

// [vault]: each site's Vault (PROV_010..PROV_013).
struct VaultConfig {
  std::string address;  // e.g. "https://vault.site.internal:8200"; optional.
  std::string ca_file;  // PEM CA bundle to verify Vault's certificate; empty = system store.
  int64_t recovery_shares = 5;     // 5..255; below 5 breaks PROV_011.
  int64_t recovery_threshold = 3;  // 3..recovery_shares; below 3 breaks PROV_011.
  std::string policies_dir;  // Policies applied to every site (PROV_013); empty = built-in only.
  int64_t init_timeout_seconds = 120;  // 1..3600.
  // Seal types accepted at init (PROV_010): non-empty, known Vault seal names; "shamir" rejected.
  std::vector<std::string> seal_types_allowed = {"awskms"};
};

// [ledger.ethereum]: anchoring of ledger roots (PROV_020). Required keys when anchor = ethereum:
// rpc_url, chain_id, key_file.
struct EthereumConfig {
  std::string rpc_url;         // JSON-RPC endpoint (http:// or https://).
  int64_t chain_id = 0;        // 1..2^53; 0 = unset.
  int64_t confirmations = 12;  // 1..1000 blocks before an anchor counts as final.
  std::string key_file;        // Signing key of the anchoring account (read by the ledger module).
  int64_t anchor_interval_seconds = 3600;  // 60..86400.
  int64_t alert_after_seconds = 7200;      // > anchor_interval_seconds, ..7 days.
};

// [ledger]
struct LedgerConfig {
  AnchorBackend anchor = AnchorBackend::kLocal;  // "local" | "ethereum".
  // 1..600: how long a ledger operation waits while another vigie process holds the ledger's
  // lock (the server anchoring, a provisioning run appending) before failing.
  int64_t lock_timeout_seconds = 30;
  EthereumConfig ethereum;
};

// [agent]: the per-site agent.
struct AgentConfig {
  int64_t heartbeat_interval_seconds = 60;  // 5..60; above 60 breaks MAINT_001.
  int64_t heartbeat_jitter_percent = 10;    // 0..50, spreads heartbeats of many agents.
  std::string package_file;                 // Signed deployment package (PROV_023); optional.
  std::string state_dir;  // Empty in the file = "<data_dir>/agent" (filled in by load).
  std::string admin_listen_address = "127.0.0.1:8444";  // "host:port".
};

// [fleet]: the fleet manager's watch over sites.
struct FleetConfig {
  // 10..120; above 120 breaks MAINT_002. Must exceed heartbeat_late_after_seconds.
  int64_t heartbeat_alert_after_seconds = 120;
  // 1..; must be < heartbeat_alert_after_seconds and > the longest agent heartbeat gap
  // (agent.heartbeat_interval_seconds plus its jitter), else healthy sites are flagged late.
  int64_t heartbeat_late_after_seconds = 90;
  int64_t license_health_window_seconds = 600;  // 1..3600 (PROV_022).
  int64_t registration_grace_seconds = 86400;   // 60..30 days: time a site has to register.
  // Healthcheck rows (one per heartbeat) reach the store in batches: one every
  // healthcheck_flush_interval_ms (100..10000; a crash loses at most that much of them), or as
  // soon as healthcheck_batch_max rows (256..1048576) wait.
  int64_t healthcheck_flush_interval_ms = 1000;
  int64_t healthcheck_batch_max = 32768;
  // Healthchecks younger than this are kept, plus every one a licence relied on; older ones are
  // pruned (11..525600 = a year; MAINT_001 examines the last 10 intervals of 60 s). At least
  // license_health_window_seconds, so the healthcheck a licence decides on is still there.
  int64_t healthcheck_retention_minutes = 120;
};

// [backup]
struct BackupConfig {
  int64_t interval_minutes = 60;  // 1..60; above 60 breaks MAINT_015 (RPO < 1 h).
  int64_t full_every_hours = 24;  // 1..24; above 24 breaks MAINT_010 (daily backup).
  int64_t retention_days = 90;    // 90..36500; below 90 breaks MAINT_013.
  std::string target_bucket;      // S3 bucket; empty = local backups under data_dir only.
  // Region of the bucket; empty = unknown (then aws.region must be set). Must differ from
  // aws.region (MAINT_012: off-site).
  std::string target_region;
  // OpenPGP fingerprints (40 hex digits) backups are encrypted to; required when target_bucket
  // is set (MAINT_011).
  std::vector<std::string> gpg_recipients;
  int64_t restore_test_interval_days = 30;  // 1..31; above 31 breaks MAINT_014.
  int64_t rto_target_seconds = 600;         // 1..600; above 600 breaks MAINT_016.
};

// [rotation]
struct RotationConfig {
  int64_t db_credential_max_age_days = 90;  // 1..92; above 92 breaks MAINT_021.
  int64_t previous_version_keep_days = 30;  // 30..365; below 30 breaks MAINT_024.
  int64_t tls_renew_before_days = 45;       // 31..180; must be > 30, the MAINT_022 alert point.
};

// [patching]
struct PatchingConfig {
  int64_t scan_interval_hours = 24;  // 1..24 (MAINT_030).
  int64_t sla_critical_hours = 24;   // 1..24 (MAINT_031).
  int64_t sla_high_days = 7;         // 1..7 (MAINT_032).
  int64_t sla_medium_days = 30;      // 1..30 (MAINT_033).
};

// [logs]: shipping and archiving.
struct LogsConfig {
  std::string loki_url;                   // Loki push endpoint; optional.
  int64_t loki_retention_days = 90;       // 90..3650; below 90 breaks MAINT_040.
  int64_t archive_retention_days = 3650;  // 3650..36500; below breaks MAINT_041.
  int64_t compress_after_days = 7;        // 1..7; above 7 breaks MAINT_042.
};

// [alerting] (MAINT_005).
struct AlertingConfig {
  std::vector<std::string> email_to;  // Addresses; non-empty requires smtp_host.
  std::string sms_webhook_url;        // Receives critical alerts for SMS; optional.
  std::string smtp_host;
  int64_t smtp_port = 587;       // 1..65535.
  std::string alertmanager_url;  // optional.
};

// [capacity]: warning thresholds; each may be stricter (lower) than the rule, never looser.
struct CapacityConfig {
  int64_t disk_warn_percent = 80;    // 1..80 (MAINT_050).
  int64_t ram_warn_percent = 90;     // 1..90 (MAINT_051).
  int64_t cpu_warn_percent = 80;     // 1..80 (MAINT_052).
  int64_t cpu_for_minutes = 5;       // 1..5 (MAINT_052).
  int64_t api_latency_p95_ms = 500;  // 1..500 (MAINT_053).
};

// [log]: vigie's own structured log.
struct LogConfig {
  LogLevel level = LogLevel::kInfo;  // "debug" | "info" | "warn" | "error".
  std::string file;                  // Empty = stderr.
};

struct Config {
  std::string data_dir = "/var/lib/vigie";  // Top-level key; non-empty.
  ServerConfig server;
  StoreConfig store;
  BackendConfig identity;
  BackendConfig secrets;
  KmsConfig kms;
  AwsConfig aws;
  VaultConfig vault;
  LedgerConfig ledger;
  AgentConfig agent;
  FleetConfig fleet;
  BackupConfig backup;
  RotationConfig rotation;
  PatchingConfig patching;
  LogsConfig logs;
  AlertingConfig alerting;
  CapacityConfig capacity;
  LogConfig log;
};

// Parses and validates `toml_text`. `source_name` (usually the file path) prefixes every error.
// Fills the paths derived from data_dir (store.path, agent.state_dir) when left empty.
// Errors: kConfig, "<source>:<line>: <key>: <problem>; <fix>" (TOML syntax errors give
// "<source>:<line>:<column>: ..."). SECURITY: the input is untrusted text; values that may hold a
// secret (store.dsn) are never echoed in messages.
Result<Config> ParseConfig(std::string_view toml_text, std::string_view source_name);

// Reads `path` through `fs`, then ParseConfig(text, path).
// Errors: kConfig naming `path` when it cannot be read, or any ParseConfig error.
Result<Config> LoadConfigFile(const std::string& path, FileSystem& fs);

// Checks every range, rule minimum and cross-field constraint of `config` (the checks ParseConfig
// runs after reading). Use it after building or modifying a Config in code. Errors: kConfig,
// "<source_name>: <key>: <problem>; <fix>" (no line: the values did not come from a file).
Status ValidateConfig(const Config& config, std::string_view source_name = "config");

// A configuration that runs on one machine with nothing else: every backend "local", ledger
// anchored locally, SQLite at "<data_dir>/vigie.db", agent state in "<data_dir>/agent", all other
// values at their defaults. Passes ValidateConfig. REQUIRES: !data_dir.empty().
Config DefaultConfig(std::string data_dir);

// The configuration values the compliance checks read as evidence ("vault.recovery_shares" ->
// "5"), keyed by their dotted TOML name. SECURITY: holds no secret (the config holds none, and
// URLs that may carry a token are left out).
std::map<std::string, std::string> EvidenceValues(const Config& config);

}  // namespace vigie::config
