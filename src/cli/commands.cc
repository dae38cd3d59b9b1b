#include "cli/commands.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>

#include <fmt/format.h>

#include "base/env.h"
#include "base/log.h"
#include "compliance/server_feed.h"
#include "compliance/store_evidence.h"
#include "cli/backends.h"
#include "cli/fleet_keys.h"
#include "package/enrollment_key.h"
#include "provision/cli.h"
#include "config/config.h"
#include "agent/agent.h"
#include "fleet/fleet_service.h"
#include "ledger/anchor_service.h"
#include "ledger/cli.h"
#include "ledger/verify.h"
#include "http/curl_client.h"
#include "http/tls_material.h"
#include "vault/bootstrap.h"

namespace vigie::cli {

namespace {

int PrintError(std::FILE* err, const Error& e) {
  fmt::print(err, "vigie: {}\n", e.message);
  return ExitCodeFor(e.code);
}

Result<config::Config> LoadState(const StateOptions& state) {
  if (!state.config_file.empty() && !state.data_dir.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "--config and --data-dir both given; pass one (the config names its "
                     "data_dir)");
  }
  if (!state.config_file.empty()) return config::LoadConfigFile(state.config_file, *RealFileSystem());
  if (!state.data_dir.empty()) {
    config::Config c = config::DefaultConfig(state.data_dir);
    VIGIE_RETURN_IF_ERROR(config::ValidateConfig(c, "--data-dir"));
    return c;
  }
  return MakeError(ErrorCode::kInvalidArgument,
                   "no fleet state given: pass --config FILE, or --data-dir DIR for the embedded "
                   "defaults (as `vigie dev` prints)");
}

int Evaluate(const config::Config& c, const compliance::ComplianceCheckOptions& opts,
             std::FILE* out, std::FILE* err) {
  auto backends = OpenFleetBackends(c, RealEnv(), /*open_ledger=*/false);
  if (!backends) return PrintError(err, backends.error());
  compliance::StoreEvidence evidence(*backends->store, *RealClock(), config::EvidenceValues(c));
  evidence.SetSecretLister(compliance::SecretListerFor(backends->secrets.get()));
  // Explicit registration: every rule's check, as wired in rules/all_rules.cc.
  compliance::RuleRegistry registry;
  compliance::RegisterAllRules(registry);
  int rc = compliance::RunComplianceCheck(opts, registry, evidence, out, err);
  if (evidence.error()) {
    // The report already shows FAIL "no evidence" for what could not be read; say why.
    fmt::print(err, "vigie: evidence could not be read fully: {}\n", evidence.error()->message);
    if (rc == 0) rc = ExitCodeFor(evidence.error()->code);
  }
  return rc;
}

}  // namespace

int RunConfigCheck(const std::string& file, std::FILE* out, std::FILE* err) {
  auto c = config::LoadConfigFile(file, *RealFileSystem());
  if (!c) return PrintError(err, c.error());
  fmt::print(out, "{}: configuration is valid (data_dir {})\n", file, c->data_dir);
  return 0;
}

int RunComplianceCommand(const StateOptions& state,
                         const compliance::ComplianceCheckOptions& opts, std::FILE* out,
                         std::FILE* err) {
  auto c = LoadState(state);
  if (!c) return PrintError(err, c.error());
  return Evaluate(*c, opts, out, err);
}

int RunLedgerVerifyCommand(const StateOptions& state, const std::string& fleet_key_file,
                           std::FILE* out, std::FILE* err) {
  auto c = LoadState(state);
  if (!c) return PrintError(err, c.error());
  std::string key = fleet_key_file.empty() ? FleetPublicKeyPath(c->data_dir) : fleet_key_file;
  return ledger::RunLedgerVerify(c->data_dir + "/ledger", key, out);
}

int RunLedgerProveCommand(const StateOptions& state, const std::string& site, std::FILE* out,
                          std::FILE* err) {
  auto c = LoadState(state);
  if (!c) return PrintError(err, c.error());
  return ledger::RunLedgerProve(c->data_dir + "/ledger", site, out);
}

namespace {

int AnchorLedger(const config::Config& c, int wait_seconds, std::FILE* out, std::FILE* err) {
  Env env = RealEnv();
  // The anchor run opens the ledger itself.
  auto backends = OpenFleetBackends(c, env, /*open_ledger=*/false);
  if (!backends) return PrintError(err, backends.error());
  return ledger::RunLedgerAnchor(c.data_dir + "/ledger", *backends->fleet_key, c.ledger,
                                 backends->store.get(), std::chrono::seconds(wait_seconds), env,
                                 out);
}

int ProvisionSites(const config::Config& config, const SiteProvisionCommand& cmd, std::FILE* out,
                   std::FILE* err) {
  const config::Config* c = &config;
  Env env = RealEnv();
  auto backends = OpenFleetBackends(*c, env);
  if (!backends) return PrintError(err, backends.error());
  LedgerEventSink sink(*backends->ledger);
  provision::ProvisionDeps deps{*backends->store,     *backends->identity, *backends->kms,
                                *backends->secrets,   *backends->fleet_key, sink, env};
  provision::ProvisionOptions opts;
  opts.fleet_url = !c->server.public_url.empty() ? c->server.public_url
                                                 : "https://" + c->server.listen_address;
  opts.out_dir = cmd.out_dir.empty() ? c->data_dir + "/packages" : cmd.out_dir;
  if (auto st = env.fs->CreateDirs(opts.out_dir, 0700); !st) return PrintError(err, st.error());
  auto pin = FleetTlsPin(*c, env);
  if (!pin) return PrintError(err, pin.error().Wrap("fleet TLS certificate"));
  opts.fleet_tls_pin = *pin;
  opts.s3_bucket = c->backup.target_bucket;
  opts.kms_rotation_days = static_cast<int>(c->kms.key_rotation_period_days);
  provision::Provisioner provisioner(deps, opts);
  if (!cmd.batch_file.empty()) {
    return provision::RunSiteProvisionBatch(cmd.batch_file, provisioner, env, out, err);
  }
  provision::SiteProvisionOptions one{cmd.site_id, cmd.region, cmd.enrollment_key_file};
  return provision::RunSiteProvision(one, provisioner, env, out, err);
}

}  // namespace

int RunLedgerAnchorCommand(const StateOptions& state, int wait_seconds, std::FILE* out,
                           std::FILE* err) {
  auto c = LoadState(state);
  if (!c) return PrintError(err, c.error());
  return AnchorLedger(*c, wait_seconds, out, err);
}

int RunSiteProvisionCommand(const SiteProvisionCommand& cmd, std::FILE* out, std::FILE* err) {
  auto c = LoadState(cmd.state);
  if (!c) return PrintError(err, c.error());
  return ProvisionSites(*c, cmd, out, err);
}

namespace {

// The site's KMS key, as provisioning recorded it (the key Vault's awskms seal uses).
Result<std::string> SiteKmsKeyId(store::Store& st, const std::string& site) {
  VIGIE_ASSIGN_OR_RETURN(auto rows, st.Query("SELECT kms_key_id FROM site_provisioning WHERE "
                                             "site_id = ?",
                                             {site}));
  if (rows.empty() || rows[0].IsNull("kms_key_id").value_or(true)) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     "site " + site + " has no KMS key on record: provision it first (`vigie "
                     "site provision " + site + " ...`)");
  }
  return rows[0].GetText("kms_key_id");
}

}  // namespace

int RunVaultCommand(const VaultCommand& cmd, std::FILE* out, std::FILE* err) {
  auto c = LoadState(cmd.state);
  if (!c) return PrintError(err, c.error());
  Env env = RealEnv();
  auto backends = OpenFleetBackends(*c, env);
  if (!backends) return PrintError(err, backends.error());
  http::CurlClientOptions http_opts;
  http_opts.ca_file = c->vault.ca_file;
  http::CurlClient http(std::move(http_opts));
  LedgerEventSink sink(*backends->ledger);
  vault::VaultCommandDeps deps{&http, backends->secrets.get(), backends->kms.get(),
                               backends->store.get(), &sink, env};
  if (cmd.bootstrap) {
    auto key = SiteKmsKeyId(*backends->store, cmd.site);
    if (!key) return PrintError(err, key.error());
    return vault::RunVaultBootstrap(*c, cmd.site, *key, deps, out, err);
  }
  return vault::RunVaultReconcile(*c, cmd.site, cmd.check_only, cmd.prune, deps, out, err);
}

namespace {

// The ledger's anchoring alerts (ledger.anchor.overdue, PROV_020) become fleet alerts: stored,
// counted in /metrics and notified like the liveness alerts.
class FleetAlertSink final : public ledger::AlertSink {
 public:
  explicit FleetAlertSink(fleet::AlertManager& alerts) : alerts_(alerts) {}
  void Raise(std::string_view name, std::string_view detail) override {
    alerts_.RaiseFleetAlert("PROV_020", "warning", std::string(name) + ": " + std::string(detail));
  }
  void Resolve(std::string_view) override { alerts_.ResolveFleetAlert("PROV_020"); }

 private:
  fleet::AlertManager& alerts_;
};

// What `vigie server` and `vigie dev` run: the fleet manager's API and, beside it, the anchoring
// daemon. Stop() stops the anchoring before the server (both before the backends go).
struct RunningFleet {
  std::unique_ptr<fleet::FleetServer> server;
  std::unique_ptr<FleetAlertSink> alert_sink;
  std::unique_ptr<ledger::AnchorService> anchor;
  void Stop() {
    if (anchor) anchor->Stop();
    if (server) server->Stop();
  }
};

Result<RunningFleet> StartFleet(const config::Config& c, fleet::FleetServerOptions options,
                                FleetBackends& backends, http::HttpClient* webhook,
                                const Env& env) {
  RunningFleet fleet;
  fleet::FleetDeps deps{env, backends.store.get(), backends.secrets.get(), webhook};
  // GET /v1/compliance and vigie_compliance_rule_status: the same evaluation as `vigie compliance
  // check`, over the server's own store.
  deps.compliance = compliance::MakeComplianceEvaluator(
      {backends.store.get(), env.clock, config::EvidenceValues(c),
       compliance::SecretListerFor(backends.secrets.get())});
  VIGIE_ASSIGN_OR_RETURN(fleet.server, fleet::StartFleetServer(std::move(options), deps));
  fleet.alert_sink = std::make_unique<FleetAlertSink>(fleet.server->alerts());
  ledger::AnchorServiceOptions anchor;
  anchor.ledger_dir = c.data_dir + "/ledger";
  anchor.fleet_key = backends.fleet_key.get();
  anchor.config = c.ledger;
  anchor.store = backends.store.get();
  anchor.env = env;
  auto service = ledger::StartAnchorService(anchor, fleet.alert_sink.get());
  if (!service) {
    fleet.Stop();
    return tl::unexpected(service.error().Wrap("starting the ledger's anchoring"));
  }
  fleet.anchor = std::move(*service);
  return fleet;
}

}  // namespace

int RunServerCommand(const StateOptions& state, std::FILE* err) {
  auto c = LoadState(state);
  if (!c) return PrintError(err, c.error());
  // Block the stop signals before any thread starts, so that only sigwait below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  Env env = RealEnv();
  auto backends = OpenFleetBackends(*c, env, /*open_ledger=*/false);
  if (!backends) return PrintError(err, backends.error());
  // Serve with the certificate whose pin the packages carry (created on first use).
  std::string cert = c->server.tls_cert_file, key = c->server.tls_key_file;
  if (cert.empty()) {
    if (auto pin = FleetTlsPin(*c, env); !pin) return PrintError(err, pin.error());
    cert = c->data_dir + "/fleet/tls.crt";
    key = c->data_dir + "/fleet/tls.key";
  }
  auto tls = http::LoadTlsMaterial(*env.fs, cert, key);
  if (!tls) return PrintError(err, tls.error());
  fleet::FleetServerOptions options = fleet::FleetOptionsFromConfig(*c);
  options.tls_material = std::move(*tls);
  http::CurlClient webhook;
  auto fleet = StartFleet(*c, std::move(options), *backends, &webhook, env);
  if (!fleet) {
    log::Error("fleet_server_failed", {{"error", fleet.error().ToString()}});
    return PrintError(err, fleet.error());
  }
  std::printf("fleet manager listening on %s (port %u); ledger anchoring: %s every %lld s\n",
              c->server.listen_address.c_str(), static_cast<unsigned>(fleet->server->port()),
              std::string(fleet->anchor->anchor_name()).c_str(),
              static_cast<long long>(c->ledger.ethereum.anchor_interval_seconds));
  if (!fleet->server->generated_operator_token().empty()) {
    std::printf("operator token generated in %s (mode 0600)\n",
                fleet->server->operator_token_path().c_str());
  }
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  log::Info("fleet_server_stopping", {{"signal", static_cast<int64_t>(sig)}});
  fleet->Stop();
  return 0;
}

int RunAgentCommand(const AgentRunCommand& cmd, std::FILE* err) {
  auto c = LoadState(cmd.state);
  if (!c) return PrintError(err, c.error());
  agent::RunAgentArgs args{cmd.enrollment_key_file, cmd.fleet_key_file, cmd.package_file};
  return agent::RunAgent(*c, args);
}

namespace {

// Waits up to `timeout` for `done()`, checking every 200 ms; returns false on timeout or when a
// (blocked) SIGINT/SIGTERM arrives, which is then stored in *signal.
template <typename Pred>
bool WaitFor(Pred done, std::chrono::seconds timeout, const sigset_t& signals, int* signal) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    timespec tick{0, 200'000'000};
    int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig > 0) {
      *signal = sig;
      return false;
    }
  }
  return true;
}

// A loopback port free now (bind to port 0, read it, close): for the fleet manager and the
// agent's admin API, whose addresses go into the dev config file before they start.
Result<uint16_t> PickLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return MakeError(ErrorCode::kUnavailable, "cannot open a socket for a free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return MakeError(ErrorCode::kUnavailable, "cannot bind a loopback port for the demo agent");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// The operator's licence activation request (PROV_022), over the fleet's pinned TLS.
Result<http::HttpResponse> ActivateLicence(const std::string& url, const std::string& pin,
                                           const SecretBytes& token) {
  http::CurlClientOptions o;
  o.pinned_public_key = pin;
  http::CurlClient client(std::move(o));
  http::HttpRequest req;
  req.method = "POST";
  req.url = url;
  req.headers = {{"Authorization", "Bearer " + std::string(token.view())},
                 {"Content-Type", "application/json"}};
  req.body = "{}";
  req.timeout = std::chrono::seconds(20);
  return client.Send(req);
}

std::string DevConfigToml(const std::string& dir, uint16_t server_port, uint16_t admin_port) {
  return fmt::format(
      "# Written by `vigie dev`: the embedded defaults (SQLite store, local identity, secrets and\n"
      "# KMS backends, local ledger anchor) with the ports this run chose.\n"
      "data_dir = \"{0}\"\n\n"
      "[server]\nlisten_address = \"127.0.0.1:{1}\"\npublic_url = \"https://127.0.0.1:{1}\"\n\n"
      "[agent]\nadmin_listen_address = \"127.0.0.1:{2}\"\nstate_dir = \"{0}/sites/demo/agent\"\n"
      "# Lowered from 60 s (MAINT_001 allows lowering, never raising) so that the report sees\n"
      "# the heartbeat cadence within seconds.\n"
      "heartbeat_interval_seconds = 5\n",
      dir, server_port, admin_port);
}

}  // namespace

int RunDev(const DevOptions& opts, std::FILE* out, std::FILE* err) {
  // Block the stop signals before any thread starts (server, agent, store writer), so that only
  // this thread sees Ctrl-C, whatever step it is in, and stops everything cleanly.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::string dir = opts.data_dir;
  if (dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/vigie-dev-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return PrintError(err, Error{ErrorCode::kIo, "cannot create a temporary directory under " +
                                                       tmpl.substr(0, tmpl.rfind('/')) +
                                                       "; set TMPDIR or pass --data-dir"});
    }
    dir = tmpl;
  } else if (auto st = RealFileSystem()->CreateDirs(dir, 0700); !st) {
    return PrintError(err, st.error());
  }
  Env env = RealEnv();
  log::Info("dev.started", {{"data_dir", dir}});
  fmt::print(out, "vigie dev: embedded defaults (SQLite store, local backends) in {}\n\n", dir);

  // 1. The configuration of this run: embedded defaults plus two loopback ports free now,
  //    written so that the fleet manager, the agent and every command printed below (and a later
  //    `vigie server --config`) see the same values.
  auto server_port = PickLoopbackPort();
  if (!server_port) return PrintError(err, server_port.error());
  auto admin_port = PickLoopbackPort();
  if (!admin_port) return PrintError(err, admin_port.error());
  const std::string config_file = dir + "/vigie.toml";
  if (auto st = env.fs->WriteFileAtomic(config_file,
                                        DevConfigToml(dir, *server_port, *admin_port), 0600);
      !st) {
    return PrintError(err, st.error());
  }
  auto loaded = config::LoadConfigFile(config_file, *env.fs);
  if (!loaded) return PrintError(err, loaded.error());
  config::Config c = std::move(*loaded);

  // 2. The fleet manager, with its self-signed certificate (the pin the package will carry),
  //    and its anchoring daemon.
  auto pin = FleetTlsPin(c, env);
  if (!pin) return PrintError(err, pin.error().Wrap("fleet TLS certificate"));
  auto server_backends = OpenFleetBackends(c, env, /*open_ledger=*/false);
  if (!server_backends) return PrintError(err, server_backends.error());
  fleet::FleetServerOptions server_opts = fleet::FleetOptionsFromConfig(c);
  auto tls = http::LoadTlsMaterial(*env.fs, dir + "/fleet/tls.crt", dir + "/fleet/tls.key");
  if (!tls) return PrintError(err, tls.error());
  server_opts.tls_material = std::move(*tls);
  http::CurlClient webhook;
  auto fleet = StartFleet(c, std::move(server_opts), *server_backends, &webhook, env);
  if (!fleet) return PrintError(err, fleet.error().Wrap("starting the fleet manager"));
  fleet::FleetServer* server = fleet->server.get();
  const std::string api = fmt::format("https://127.0.0.1:{}", server->port());
  fmt::print(out, "== vigie server\nfleet manager listening on {} (TLS pin {})\n\n", api, *pin);

  // 3. The demo site makes its own enrollment key pair and hands over only the public key.
  std::string site_dir = dir + "/sites/demo";
  if (!env.fs->Exists(site_dir + "/enrollment.key")) {
    if (auto st = env.fs->CreateDirs(site_dir, 0700); !st) return PrintError(err, st.error());
    auto keys = package::WriteEnrollmentKeyPair(site_dir, env);
    if (!keys) return PrintError(err, keys.error());
  }
  //    Provision it (PROV_001-005, PROV_023): principal, KMS key, generated credentials, package.
  fmt::print(out, "== vigie site provision demo\n");
  StateOptions state{config_file, ""};
  SiteProvisionCommand provision{state, "demo", "eu-west-3", site_dir + "/enrollment.pub", "", ""};
  if (int prc = ProvisionSites(c, provision, out, err); prc != 0) return prc;

  // 4. The site's agent starts with its package and registers by itself (PROV_021), then
  //    heartbeats with its healthcheck (MAINT_001).
  fmt::print(out, "\n== vigie agent run (demo)\n");
  const std::string package_file = dir + "/packages/demo.vpkg";
  agent::RunAgentArgs agent_args{site_dir + "/enrollment.key", FleetPublicKeyPath(dir),
                                 package_file};
  auto agent_opts = agent::AgentOptionsFromConfig(c, agent_args, env);
  if (!agent_opts) return PrintError(err, agent_opts.error());
  if (auto st = env.fs->CreateDirs(agent_opts->state_dir, 0700); !st) {
    return PrintError(err, st.error());
  }
  auto agent = agent::Agent::Start(std::move(*agent_opts), env);
  if (!agent) return PrintError(err, agent.error().Wrap("starting the demo agent"));
  int signal = 0;
  auto stop_all = [&] {
    (*agent)->Stop();
    fleet->Stop();
  };
  bool up = WaitFor(
      [&] {
        auto st = (*agent)->status();
        return st.registered && st.heartbeats_ok >= 2;
      },
      std::chrono::seconds(60), signals, &signal);
  auto status = (*agent)->status();
  if (signal != 0) {
    stop_all();
    fmt::print(out, "vigie dev: stopped by signal {}\n", signal);
    return 130;
  }
  if (!up) {
    stop_all();
    return PrintError(err, Error{ErrorCode::kUnavailable,
                                 "the demo agent did not register and heartbeat twice within 60 s: " +
                                     (status.last_error.empty() ? std::string("no error reported")
                                                                : status.last_error)});
  }
  fmt::print(out, "registered by itself (package {}), heartbeats accepted; admin API on "
             "http://127.0.0.1:{}\n", status.package_id, (*agent)->admin_port());

  // 5. Licence activation (PROV_022), as an operator would ask for it: the fleet manager grants
  //    it only after a passing healthcheck, and says why when it refuses.
  fmt::print(out, "\n== licence activation (operator)\n");
  SecretBytes token;
  if (!server->generated_operator_token().empty()) {
    token = SecretBytes::CopyFrom(server->generated_operator_token().view());
  } else {
    auto t = env.fs->ReadFile(server->operator_token_path());
    if (!t) {
      stop_all();
      return PrintError(err, t.error());
    }
    std::string_view v = *t;
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.remove_suffix(1);
    token = SecretBytes::CopyFrom(v);
    sodium_memzero(t->data(), t->size());  // the file's bytes: only the SecretBytes copy stays
  }
  auto activation = ActivateLicence(api + "/v1/sites/demo/license/activate", *pin, token);
  if (!activation) {
    fmt::print(out, "licence activation request failed: {}\n", activation.error().message);
  } else if (activation->status / 100 == 2) {
    fmt::print(out, "licence activated (the latest healthcheck passed)\n");
  } else {
    fmt::print(out, "licence activation refused (HTTP {}): {}\n", activation->status,
               activation->body);
  }

  // 6. Anchor the ledger's tree head now (the server's anchoring daemon also runs every
  //    anchor_interval_seconds); the local anchor signs tree heads only, PROV_020 says so.
  fmt::print(out, "\n== ledger anchoring ({} anchor)\n", fleet->anchor->anchor_name());
  auto anchored = fleet->anchor->RunOnce();
  if (!anchored) {
    fmt::print(out, "anchoring failed (retried by the daemon): {}\n", anchored.error().message);
  } else {
    fmt::print(out, "{} of {} ledger entries under a final anchor{}\n", anchored->anchored_size,
               anchored->ledger_size,
               fleet->anchor->anchor_name() == "local" ? " (signed tree head, not on a chain)" : "");
  }

  // 7. The report, from the evidence just recorded.
  fmt::print(out, "\n== vigie compliance check\n");
  compliance::ComplianceCheckOptions check;
  check.color = ::isatty(::fileno(out)) != 0;
  int rc = Evaluate(c, check, out, err);
  if (rc > 1) {
    stop_all();
    return rc;  // could not evaluate: the error is printed
  }
  // The server's compliance metrics follow now rather than at its next periodic evaluation.
  if (auto st = server->RefreshComplianceNow(); !st) {
    fmt::print(err, "vigie dev: the fleet manager's compliance refresh failed: {}\n",
               st.error().message);
  }

  fmt::print(out,
             "\nWhere to look next:\n"
             "  fleet API         {3}/v1/sites   (Authorization: Bearer $(cat {4}))\n"
             "  compliance        {3}/v1/compliance   (the same report as JSON; operator token)\n"
             "  metrics           {3}/metrics   (vigie_compliance_rule_status{{rule,site}}, ...)\n"
             "                    and the agent's http://127.0.0.1:{5}/metrics\n"
             "  data directory    {0}   (configuration {6})\n"
             "  store (SQLite)    {1}\n"
             "  demo package      {0}/packages/demo.vpkg (site key in {0}/sites/demo)\n"
             "  fleet public key  {2}\n"
             "  commands          vigie compliance check --config {6} [--format json|junit]\n"
             "                    vigie ledger verify --config {6}\n"
             "                    vigie ledger prove demo --config {6}\n"
             "                    vigie package verify {0}/packages/demo.vpkg --fleet-key {2}\n"
             "  try               curl -k --pinnedpubkey '{7}' \\\n"
             "                      -H \"Authorization: Bearer $(cat {4})\" {3}/v1/sites\n"
             "                    (-k: the certificate is self-signed; the key pin still applies)\n",
             dir, c.store.path, FleetPublicKeyPath(dir), api, server->operator_token_path(),
             (*agent)->admin_port(), config_file, *pin);
  std::fflush(out);
  if (opts.once) {
    stop_all();
    return rc;
  }

  // Run until Ctrl-C or SIGTERM; the data directory is kept for inspection.
  fmt::print(out, "\nvigie dev: running (the agent heartbeats every {} s); press Ctrl-C to stop "
             "(data kept in {})\n", c.agent.heartbeat_interval_seconds, dir);
  std::fflush(out);
  int sig = 0;
  sigwait(&signals, &sig);
  stop_all();
  fmt::print(out, "vigie dev: stopped by signal {}\n", sig);
  return rc;
}

}  // namespace vigie::cli
