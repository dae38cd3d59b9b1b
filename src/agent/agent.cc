#include "agent/agent.h"

#include <fmt/format.h>
#include <signal.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>

#ifdef VIGIE_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "agent/admin_api.h"
#include "base/encoding.h"
#include "base/log.h"
#include "config/config.h"
#include "fleet/site_auth.h"
#include "http/curl_client.h"
#include "http/metrics.h"
#include "http/metrics_parse.h"
#include "http/server.h"
#include "package/enrollment_key.h"
#include "package/package.h"
#include "vigie_version.h"

namespace vigie::agent {
namespace {

using namespace std::chrono_literals;

// Splits "https://host:port/prefix/" into the path prefix ("/prefix") the fleet routes under.
std::string UrlPathPrefix(const std::string& url) {
  size_t scheme = url.find("://");
  size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) return "";
  std::string prefix = url.substr(slash);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return prefix;
}

std::string TrimSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// The error message the fleet put in its {"error":{"message"}} envelope, or the raw status.
std::string DescribeFleetAnswer(const http::HttpResponse& r) {
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  std::string detail;
  if (j.is_object() && j.contains("error") && j["error"].is_object() &&
      j["error"].contains("message") && j["error"]["message"].is_string()) {
    detail = j["error"]["message"].get<std::string>();
  }
  return detail.empty() ? fmt::format("fleet answered HTTP {}", r.status)
                        : fmt::format("fleet answered HTTP {}: {}", r.status, detail);
}

}  // namespace

std::chrono::nanoseconds JitteredInterval(std::chrono::nanoseconds interval, int jitter_percent,
                                          Random& random) {
  if (jitter_percent <= 0 || interval <= 0ns) return interval;
  // Jitter in milliseconds, uniform in [0, interval * jitter_percent / 100].
  auto max_ms = std::chrono::duration_cast<std::chrono::milliseconds>(interval).count() *
                jitter_percent / 100;
  if (max_ms <= 0) return interval;
  auto cut = std::chrono::milliseconds(random.Uniform(static_cast<uint32_t>(max_ms) + 1));
  return interval - cut;
}

std::chrono::nanoseconds BackoffDelay(uint64_t failures, std::chrono::nanoseconds initial,
                                      std::chrono::nanoseconds interval, int jitter_percent,
                                      Random& random) {
  std::chrono::nanoseconds delay = initial;
  for (uint64_t i = 1; i < failures && delay < interval; ++i) delay *= 2;
  if (delay > interval) delay = interval;
  return JitteredInterval(delay, jitter_percent, random);
}

struct Agent::Impl {
  AgentOptions options;
  Env env;
  package::Manifest manifest;
  SecretBytes agent_secret;
  std::string enrollment_fingerprint;
  std::string fleet_base;    // fleet_url without trailing '/'
  std::string fleet_prefix;  // its path part
  std::unique_ptr<http::HttpClient> own_fleet_client;
  std::unique_ptr<http::HttpClient> own_vault_client;
  http::HttpClient* fleet_client = nullptr;
  http::HttpClient* vault_client = nullptr;
  std::unique_ptr<AdminApi> admin;
  std::unique_ptr<http::HttpServer> server;
  http::MetricsRegistry metrics;
  std::mutex collector_mu;
  std::unique_ptr<HostMetricsCollector> heartbeat_collector;  // heartbeat thread only
  std::unique_ptr<HostMetricsCollector> scrape_collector;     // guarded by collector_mu
  uint64_t sequence = 0;                                      // heartbeat thread only
  http::CounterFamily* exchanges_total = nullptr;             // {kind="register|heartbeat",result}

  mutable std::mutex mu;
  // Guarded by mu:
  bool stopping = false;
  std::unique_ptr<Timer> timer;
  AgentStatus status;
  WallTime registered_at{};
  crypto::Ed25519PublicKey pinned_fleet_key{};

  Status SaveState() {
    nlohmann::json j = {{"version", 1},
                        {"site_id", manifest.site_id},
                        {"package_id", manifest.package_id},
                        {"registered", status.registered},
                        {"fleet_signing_key", HexEncode(pinned_fleet_key)}};
    if (status.registered) j["registered_at"] = ToUnixSeconds(registered_at);
    return env.fs->WriteFileAtomic(options.state_dir + "/" + std::string(kAgentStateFile),
                                   j.dump(2) + "\n", 0600);
  }

  void Schedule(std::chrono::nanoseconds delay) {
    std::lock_guard<std::mutex> lock(mu);
    if (stopping) return;
    status.next_delay = delay;
    // Replacing the handle of the timer now running (we are its callback) does not wait.
    timer = env.clock->RunAfter(delay, [this] { Tick(); });
  }

  Result<http::HttpResponse> Post(const std::string& route, const std::string& body) {
    http::HttpRequest req;
    req.method = "POST";
    req.url = fleet_base + route;
    req.body = body;
    req.timeout = options.http_timeout;
    req.headers = fleet::SignSiteRequest(manifest.site_id, agent_secret, "POST",
                                         fleet_prefix + route, body, env.clock->Now(), *env.random);
    req.headers.emplace_back("Content-Type", "application/json");
    return fleet_client->Send(req);
  }

  Status Register() {
    nlohmann::json body = {{"package_id", manifest.package_id},
                           {"enrollment_key_fingerprint", enrollment_fingerprint},
                           {"agent_version", options.version},
                           {"version", options.version}};
    VIGIE_ASSIGN_OR_RETURN(http::HttpResponse r,
                           Post("/v1/sites/" + manifest.site_id + "/register", body.dump()));
    if ((r.status >= 200 && r.status < 300) || r.status == 409) return OkStatus();
    return MakeError(ErrorCode::kUnavailable, "register: " + DescribeFleetAnswer(r));
  }

  std::optional<VaultSealStatus> ProbeVault() {
    if (options.vault_address.empty() || vault_client == nullptr) return std::nullopt;
    http::HttpRequest req;
    req.url = TrimSlash(options.vault_address) + "/v1/sys/seal-status";
    req.timeout = 5s;
    auto r = vault_client->Send(req);
    if (!r || r->status != 200) {
      log::Warn("agent_vault_status_unknown",
                {{"error", r ? fmt::format("HTTP {}", r->status) : r.error().ToString()}});
      return std::nullopt;
    }
    auto parsed = ParseVaultSealStatus(r->body);
    if (!parsed) return std::nullopt;
    return *parsed;
  }

  HealthReport BuildReport() {
    std::vector<ServiceHealth> services;
    services.push_back({"admin_api", server != nullptr, server ? "" : "not listening"});
    uint64_t failures;
    std::string last_error;
    {
      std::lock_guard<std::mutex> lock(mu);
      failures = status.consecutive_failures;
      last_error = status.last_error;
    }
    services.push_back({"fleet_link", failures == 0,
                        failures == 0 ? "" : fmt::format("{} failed exchanges", failures)});
    HostSample sample;
    auto sampled = heartbeat_collector->Sample();
    if (sampled) {
      sample = *sampled;
      services.push_back({"host_metrics", true, ""});
    } else {
      services.push_back({"host_metrics", false, sampled.error().message});
    }
    return BuildHealthReport(sample, std::move(services), !options.vault_address.empty(),
                             ProbeVault(), admin->password_changed_at(), options.version);
  }

  Status Heartbeat() {
    HealthReport report = BuildReport();
    // The report is the body (the fleet's heartbeat format), with the exchange's own fields.
    nlohmann::json body = nlohmann::json::parse(HealthReportJson(report));
    body["site_id"] = manifest.site_id;
    body["package_id"] = manifest.package_id;
    body["sequence"] = ++sequence;
    body["sent_at"] = FormatRfc3339(env.clock->Now());
    body["admin_password_must_change"] = admin->must_change();
    // MAINT_003: the agent's own /metrics body, parsed and linted as promtool would.
    http::MetricsSelfCheck check = http::SelfCheckMetricsText(metrics.Render());
    body["metrics"] = {{"ok", check.ok},
                       {"families", check.families},
                       {"samples", check.samples},
                       {"error", check.error}};
    VIGIE_ASSIGN_OR_RETURN(http::HttpResponse r,
                           Post("/v1/sites/" + manifest.site_id + "/heartbeat", body.dump()));
    if (r.status >= 200 && r.status < 300) return OkStatus();
    return MakeError(ErrorCode::kUnavailable, "heartbeat: " + DescribeFleetAnswer(r));
  }

  void Tick() {
    bool registered;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stopping) return;
      registered = status.registered;
    }
    Status result = OkStatus();
    if (!registered) {
      {
        std::lock_guard<std::mutex> lock(mu);
        ++status.register_attempts;
      }
      result = Register();
      if (result) {
        std::lock_guard<std::mutex> lock(mu);
        status.registered = true;
        status.consecutive_failures = 0;
        status.last_error.clear();
        registered_at = env.clock->Now();
        if (auto saved = SaveState(); !saved) {
          // Registration is idempotent on the fleet (409): losing this only costs a re-register.
          log::Warn("agent_state_save_failed", {{"error", saved.error().ToString()}});
        }
        log::Info("agent_registered",
                  {{"site_id", manifest.site_id}, {"package_id", manifest.package_id}});
      }
      if (result) {
        exchanges_total->With({"register", "ok"}).Inc();
        return Schedule(0ns);  // first heartbeat right after registering
      }
    } else {
      result = Heartbeat();
      std::lock_guard<std::mutex> lock(mu);
      if (result) {
        ++status.heartbeats_ok;
        status.last_heartbeat_ok = env.clock->Now();
        status.consecutive_failures = 0;
        status.last_error.clear();
      } else {
        ++status.heartbeat_failures;
      }
    }
    exchanges_total->With({registered ? "heartbeat" : "register", result ? "ok" : "error"}).Inc();
    std::chrono::nanoseconds delay;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (result) {
        delay = JitteredInterval(options.heartbeat_interval, options.jitter_percent, *env.random);
      } else {
        ++status.consecutive_failures;
        status.last_error = result.error().ToString();
        delay = BackoffDelay(status.consecutive_failures, options.initial_backoff,
                             options.heartbeat_interval, options.jitter_percent, *env.random);
        log::Warn(registered ? "agent_heartbeat_failed" : "agent_register_failed",
                  {{"error", status.last_error},
                   {"consecutive_failures", static_cast<int64_t>(status.consecutive_failures)},
                   {"retry_in_ms",
                    static_cast<int64_t>(
                        std::chrono::duration_cast<std::chrono::milliseconds>(delay).count())}});
      }
    }
    Schedule(delay);
  }

  Status SetUpMetrics() {
    VIGIE_ASSIGN_OR_RETURN(auto* mem, metrics.AddGauge("vigie_agent_memory_used_percent",
                                                       "Memory used, percent of MemTotal."));
    VIGIE_ASSIGN_OR_RETURN(auto* cpu, metrics.AddGauge("vigie_agent_cpu_used_percent",
                                                       "CPU busy since the previous scrape."));
    VIGIE_ASSIGN_OR_RETURN(
        auto* load, metrics.AddGauge("vigie_agent_load_average", "Load average.", {"window"}));
    VIGIE_ASSIGN_OR_RETURN(auto* disk, metrics.AddGauge("vigie_agent_disk_used_percent",
                                                        "Disk used, percent.", {"path"}));
    VIGIE_ASSIGN_OR_RETURN(auto* up, metrics.AddGauge("vigie_agent_host_metrics_up",
                                                      "1 when the last host sample succeeded."));
    VIGIE_ASSIGN_OR_RETURN(
        auto* registered,
        metrics.AddGauge("vigie_agent_registered", "1 once the site registered (PROV_021)."));
    VIGIE_ASSIGN_OR_RETURN(
        auto* must_change,
        metrics.AddGauge("vigie_agent_admin_password_must_change",
                         "1 while the initial admin password is unchanged (PROV_005)."));
    VIGIE_ASSIGN_OR_RETURN(exchanges_total,
                           metrics.AddCounter("vigie_agent_fleet_exchanges_total",
                                              "Register and heartbeat exchanges with the fleet "
                                              "manager, by outcome (MAINT_001, PROV_021).",
                                              {"kind", "result"}));
    VIGIE_ASSIGN_OR_RETURN(auto* consecutive,
                           metrics.AddGauge("vigie_agent_heartbeat_consecutive_failures",
                                            "Failed fleet exchanges in a row (MAINT_001)."));
    metrics.AddCollectHook([=, this] {
      {
        std::lock_guard<std::mutex> lock(collector_mu);
        auto sample = scrape_collector->Sample();
        up->Get().Set(sample ? 1 : 0);
        if (sample) {
          mem->Get().Set(sample->memory_used_percent);
          cpu->Get().Set(sample->cpu_percent);
          load->With({"1m"}).Set(sample->load_average[0]);
          load->With({"5m"}).Set(sample->load_average[1]);
          load->With({"15m"}).Set(sample->load_average[2]);
          for (const DiskUsage& d : sample->disks) disk->With({d.path}).Set(d.used_percent);
        }
      }
      must_change->Get().Set(admin->must_change() ? 1 : 0);
      std::lock_guard<std::mutex> lock(mu);
      registered->Get().Set(status.registered ? 1 : 0);
      consecutive->Get().Set(static_cast<double>(status.consecutive_failures));
    });
    return OkStatus();
  }

  std::string StatusJson() {
    AgentStatus s;
    {
      std::lock_guard<std::mutex> lock(mu);
      s = status;
    }
    nlohmann::json j = {{"site_id", s.site_id},
                        {"package_id", s.package_id},
                        {"registered", s.registered},
                        {"heartbeats_ok", s.heartbeats_ok},
                        {"heartbeat_failures", s.heartbeat_failures},
                        {"consecutive_failures", s.consecutive_failures},
                        {"last_error", s.last_error},
                        {"agent_version", options.version}};
    j["last_heartbeat_ok"] =
        s.last_heartbeat_ok ? nlohmann::json(FormatRfc3339(*s.last_heartbeat_ok)) : nullptr;
    auto changed = admin->password_changed_at();
    j["admin_password_changed_at"] = changed ? nlohmann::json(FormatRfc3339(*changed)) : nullptr;
    return j.dump();
  }
};

Agent::Agent(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Agent::~Agent() { Stop(); }

Result<std::unique_ptr<Agent>> Agent::Start(AgentOptions options, Env env) {
  if (options.heartbeat_interval <= 0s || options.heartbeat_interval > kMaxHeartbeatInterval) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("heartbeat interval {} s: must be 1..60 s (MAINT_001: one "
                                 "heartbeat at least every 60 s)",
                                 options.heartbeat_interval.count()));
  }
  if (options.jitter_percent < 0 || options.jitter_percent > 50) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("heartbeat jitter {}%: must be 0..50", options.jitter_percent));
  }
  if (options.state_dir.empty() || options.package_file.empty() ||
      options.enrollment_key_file.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "agent: state_dir, package_file and enrollment_key_file are required");
  }
  if (options.version.empty()) options.version = VIGIE_VERSION;

  auto impl = std::make_unique<Impl>();
  impl->env = env;
  FileSystem& fs = *env.fs;
  VIGIE_RETURN_IF_ERROR(fs.CreateDirs(options.state_dir));

  // The site's enrollment key and the package.
  VIGIE_ASSIGN_OR_RETURN(crypto::BoxKeyPair site_key,
                         package::LoadEnrollmentKeyPair(options.enrollment_key_file, fs));
  auto package_text = fs.ReadFile(options.package_file);
  if (!package_text) {
    return tl::unexpected(package_text.error().Wrap("agent: reading the deployment package"));
  }
  Bytes package_bytes(package_text->begin(), package_text->end());

  // Prior state, if any.
  const std::string state_path = options.state_dir + "/" + std::string(kAgentStateFile);
  nlohmann::json state;
  if (fs.Exists(state_path)) {
    VIGIE_ASSIGN_OR_RETURN(std::string text, fs.ReadFile(state_path));
    state = nlohmann::json::parse(text, nullptr, false);
    if (!state.is_object() || !state.contains("site_id") || !state["site_id"].is_string()) {
      return MakeError(ErrorCode::kIntegrity,
                       fmt::format("{}: not a valid agent state file; restore or remove it "
                                   "(the agent then registers again)",
                                   state_path));
    }
  }

  // Which fleet key verifies the package: operator-given, pinned, or trust on first use.
  crypto::Ed25519PublicKey fleet_key{};
  if (options.fleet_public_key) {
    fleet_key = *options.fleet_public_key;
  } else if (state.is_object() && state.contains("fleet_signing_key") &&
             state["fleet_signing_key"].is_string()) {
    auto raw = HexDecode(state["fleet_signing_key"].get<std::string>());
    if (!raw || raw->size() != fleet_key.size()) {
      return MakeError(ErrorCode::kIntegrity,
                       fmt::format("{}: \"fleet_signing_key\" is not 32 bytes of hex", state_path));
    }
    std::copy(raw->begin(), raw->end(), fleet_key.begin());
  } else {
    VIGIE_ASSIGN_OR_RETURN(package::SignedParts parts, package::ExtractSignedParts(package_bytes));
    auto manifest = package::ParseManifest(AsString(parts.manifest));
    if (!manifest) {
      return tl::unexpected(manifest.error().Wrap(
          fmt::format("agent: package {}: package rejected (malformed)", options.package_file)));
    }
    fleet_key = manifest->fleet_signing_key;
    log::Warn("agent_fleet_key_trust_on_first_use", {{"fleet_signing_key", HexEncode(fleet_key)}});
  }

  auto opened = package::VerifyAndOpenPackage(package_bytes, fleet_key, site_key, env.clock->Now());
  if (!opened) {
    return tl::unexpected(
        opened.error().Wrap(fmt::format("agent: package {}", options.package_file)));
  }
  impl->manifest = opened->manifest;
  impl->pinned_fleet_key = fleet_key;
  impl->enrollment_fingerprint = package::EnrollmentKeyFingerprint(site_key.public_key);

  if (state.is_object() && state["site_id"].get<std::string>() != impl->manifest.site_id) {
    return MakeError(
        ErrorCode::kFailedPrecondition,
        fmt::format("{} belongs to site \"{}\" but the package is for site \"{}\": "
                    "use another state_dir for this site",
                    state_path, state["site_id"].get<std::string>(), impl->manifest.site_id));
  }
  bool registered = state.is_object() && state.value("registered", false) &&
                    state.value("package_id", std::string()) == impl->manifest.package_id;

  const package::SecretItem* api_secret = opened->secrets.Find(package::kAgentApiSecret);
  if (api_secret == nullptr) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     fmt::format("package {} carries no \"{}\": ask the fleet operator for a "
                                 "complete package",
                                 options.package_file, package::kAgentApiSecret));
  }
  impl->agent_secret = api_secret->value.Clone();
  const package::SecretItem* admin_password = opened->secrets.Find(package::kAdminPassword);

  impl->options = std::move(options);
  AgentOptions& opt = impl->options;
  {
    AdminApiOptions admin_options;
    admin_options.state_dir = opt.state_dir;
    admin_options.pwhash_opslimit = opt.pwhash_opslimit;
    admin_options.pwhash_memlimit = opt.pwhash_memlimit;
    Impl* raw = impl.get();
    admin_options.status_json = [raw] { return raw->StatusJson(); };
    VIGIE_ASSIGN_OR_RETURN(impl->admin,
                           AdminApi::Open(std::move(admin_options), env,
                                          admin_password ? &admin_password->value : nullptr));
  }
  // The plaintext secrets are dropped here; only the agent API secret is kept (in memory).
  opened->secrets.items.clear();

  impl->status.site_id = impl->manifest.site_id;
  impl->status.package_id = impl->manifest.package_id;
  impl->status.registered = registered;
  if (registered && state.contains("registered_at") && state["registered_at"].is_number_integer()) {
    impl->registered_at = FromUnixSeconds(state["registered_at"].get<int64_t>());
  }
  VIGIE_RETURN_IF_ERROR(impl->SaveState());

  // Host metrics sources.
  FileReader reader = opt.proc_reader ? opt.proc_reader : ProcFileReader();
  DiskStatter statter = opt.disk_statter ? opt.disk_statter : StatvfsDiskStatter();
  impl->heartbeat_collector =
      std::make_unique<HostMetricsCollector>(reader, statter, opt.disk_paths);
  impl->scrape_collector = std::make_unique<HostMetricsCollector>(reader, statter, opt.disk_paths);

  // Fleet and Vault clients.
  impl->fleet_base = TrimSlash(impl->manifest.fleet_url);
  impl->fleet_prefix = UrlPathPrefix(impl->fleet_base);
  impl->fleet_client = opt.fleet_client;
  if (impl->fleet_client == nullptr) {
    http::CurlClientOptions curl;
    if (!impl->manifest.fleet_ca_pem.empty()) {
      curl.ca_file = opt.state_dir + "/fleet_ca.pem";
      VIGIE_RETURN_IF_ERROR(fs.WriteFileAtomic(curl.ca_file, impl->manifest.fleet_ca_pem, 0600));
    }
    // The package pins the fleet manager's public key; with no CA in the package the pin is
    // the trust anchor (the fleet's self-signed certificate).
    curl.pinned_public_key = impl->manifest.fleet_tls_pin;
    impl->own_fleet_client = std::make_unique<http::CurlClient>(std::move(curl));
    impl->fleet_client = impl->own_fleet_client.get();
  }
  impl->vault_client = opt.vault_client;
  if (impl->vault_client == nullptr && !opt.vault_address.empty()) {
    http::CurlClientOptions curl;
    curl.ca_file = opt.vault_ca_file;
    impl->own_vault_client = std::make_unique<http::CurlClient>(std::move(curl));
    impl->vault_client = impl->own_vault_client.get();
  }

  // The local admin listener: admin API and /metrics.
  VIGIE_RETURN_IF_ERROR(impl->SetUpMetrics());
  http::Router router;
  VIGIE_RETURN_IF_ERROR(impl->admin->AddRoutes(router));
  Impl* raw = impl.get();
  VIGIE_RETURN_IF_ERROR(
      router.Add("GET", "/metrics", [raw](const http::ServerRequest&, http::Responder done) {
        http::ServerResponse r;
        r.body = raw->metrics.Render();
        r.headers.emplace_back("Content-Type", std::string(http::kPrometheusTextContentType));
        done(std::move(r));
      }));
  http::ServerOptions server_options;
  server_options.listen_address = opt.admin_listen_address;
  server_options.tls = false;  // loopback only: HttpServer refuses plain HTTP elsewhere
  server_options.io_threads = 1;
  server_options.max_body_bytes = 64 * 1024;
  auto server = http::HttpServer::Start(std::move(server_options), std::move(router));
  if (!server) {
    return tl::unexpected(
        server.error().Wrap("agent: admin API listener (agent.admin_listen_address)"));
  }
  impl->server = std::move(*server);

  log::Info("agent_started", {{"site_id", impl->manifest.site_id},
                              {"package_id", impl->manifest.package_id},
                              {"registered", registered},
                              {"admin_port", static_cast<int64_t>(impl->server->port())}});
  std::unique_ptr<Agent> agent(new Agent(std::move(impl)));
  agent->impl_->Schedule(0ns);
  return agent;
}

void Agent::Stop() {
  if (!impl_) return;
  std::unique_ptr<Timer> timer;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
    timer = std::move(impl_->timer);
  }
  timer.reset();  // waits for an exchange in progress
  if (impl_->server) impl_->server->Stop(std::chrono::milliseconds(2000));
  log::Info("agent_stopped", {{"site_id", impl_->manifest.site_id}});
}

AgentStatus Agent::status() const {
  AgentStatus s;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    s = impl_->status;
  }
  s.admin_password_must_change = impl_->admin->must_change();
  s.admin_password_changed_at = impl_->admin->password_changed_at();
  return s;
}

uint16_t Agent::admin_port() const { return impl_->server ? impl_->server->port() : 0; }

std::string Agent::MetricsText() const { return impl_->metrics.Render(); }

Result<AgentOptions> AgentOptionsFromConfig(const config::Config& config,
                                            const RunAgentArgs& args, const Env& env) {
  AgentOptions options;
  options.state_dir =
      config.agent.state_dir.empty() ? config.data_dir + "/agent" : config.agent.state_dir;
  options.package_file = args.package_file.empty() ? config.agent.package_file : args.package_file;
  options.enrollment_key_file =
      args.enrollment_key_file.empty()
          ? options.state_dir + "/" + std::string(package::kEnrollmentPrivateKeyFile)
          : args.enrollment_key_file;
  if (options.package_file.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "no deployment package: set agent.package_file or pass --package");
  }
  if (!args.fleet_public_key_file.empty()) {
    VIGIE_ASSIGN_OR_RETURN(auto pem, env.fs->ReadFile(args.fleet_public_key_file));
    auto key = crypto::Ed25519PublicKeyFromPem(pem);
    if (!key) return tl::unexpected(key.error().Wrap(args.fleet_public_key_file));
    options.fleet_public_key = *key;
  }
  options.heartbeat_interval = std::chrono::seconds(config.agent.heartbeat_interval_seconds);
  options.jitter_percent = static_cast<int>(config.agent.heartbeat_jitter_percent);
  options.admin_listen_address = config.agent.admin_listen_address;
  options.disk_paths = {"/", options.state_dir};
  options.vault_address = config.vault.address;
  options.vault_ca_file = config.vault.ca_file;
  return options;
}

int RunAgent(const config::Config& config, const RunAgentArgs& args) {
  auto fail = [](const Error& e) {
    std::cerr << "vigie agent: " << e.ToString() << "\n";
    return ExitCodeFor(e.code);
  };
  Env env = RealEnv();
  auto options = AgentOptionsFromConfig(config, args, env);
  if (!options) return fail(options.error());

  // Block the stop signals before any thread starts, so only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigset_t previous;
  pthread_sigmask(SIG_BLOCK, &signals, &previous);
  struct RestoreMask {
    sigset_t* mask;
    ~RestoreMask() { pthread_sigmask(SIG_SETMASK, mask, nullptr); }
  } restore{&previous};

  auto agent = Agent::Start(std::move(*options), env);
  if (!agent) return fail(agent.error());
#ifdef VIGIE_HAVE_SYSTEMD
  sd_notify(0, "READY=1\nSTATUS=heartbeating");
#else
  log::Info("agent_sd_notify_unavailable", {{"reason", "built without libsystemd"}});
#endif
  int received = 0;
  sigwait(&signals, &received);
  log::Info("agent_stop_signal", {{"signal", received == SIGTERM ? "SIGTERM" : "SIGINT"}});
#ifdef VIGIE_HAVE_SYSTEMD
  sd_notify(0, "STOPPING=1");
#endif
  (*agent)->Stop();
  return 0;
}

}  // namespace vigie::agent
