#include "cli/commands.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>

#include <fmt/format.h>

#include "base/env.h"
#include "base/log.h"
#include "compliance/store_evidence.h"
#include "cli/backends.h"
#include "cli/fleet_keys.h"
#include "package/enrollment_key.h"
#include "provision/cli.h"
#include "config/config.h"
#include "agent/agent.h"
#include "fleet/fleet_service.h"
#include "ledger/cli.h"
#include "ledger/verify.h"
#include "http/curl_client.h"
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
  backend::SecretsBackend* secrets = backends->secrets.get();
  evidence.SetSecretLister(
      [secrets](std::string_view prefix) -> Result<std::vector<compliance::SecretEvidence>> {
        VIGIE_ASSIGN_OR_RETURN(auto infos, secrets->List(std::string(prefix)));
        std::vector<compliance::SecretEvidence> out;
        for (auto& i : infos) out.push_back({i.name, {i.tags.begin(), i.tags.end()}});
        return out;
      });
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

int RunLedgerAnchorCommand(const StateOptions& state, int wait_seconds, std::FILE* out,
                           std::FILE* err) {
  auto c = LoadState(state);
  if (!c) return PrintError(err, c.error());
  Env env = RealEnv();
  auto backends = OpenFleetBackends(*c, env);
  if (!backends) return PrintError(err, backends.error());
  // The anchor run opens the ledger itself (it takes the ledger's lock): release ours first.
  backends->ledger.reset();
  return ledger::RunLedgerAnchor(c->data_dir + "/ledger", *backends->fleet_key, c->ledger,
                                 backends->store.get(), std::chrono::seconds(wait_seconds), env,
                                 out);
}

int RunSiteProvisionCommand(const SiteProvisionCommand& cmd, std::FILE* out, std::FILE* err) {
  auto c = LoadState(cmd.state);
  if (!c) return PrintError(err, c.error());
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

int RunServerCommand(const StateOptions& state, std::FILE* err) {
  auto c = LoadState(state);
  if (!c) return PrintError(err, c.error());
  Env env = RealEnv();
  auto backends = OpenFleetBackends(*c, env, /*open_ledger=*/false);
  if (!backends) return PrintError(err, backends.error());
  // Serve with the certificate whose pin the packages carry (created on first use).
  config::Config served = *c;
  if (served.server.tls_cert_file.empty()) {
    if (auto pin = FleetTlsPin(served, env); !pin) return PrintError(err, pin.error());
    served.server.tls_cert_file = c->data_dir + "/fleet/tls.crt";
    served.server.tls_key_file = c->data_dir + "/fleet/tls.key";
  }
  http::CurlClient webhook;
  fleet::FleetDeps deps{env, backends->store.get(), backends->secrets.get(), &webhook};
  return fleet::RunServer(served, deps);
}

int RunAgentCommand(const AgentRunCommand& cmd, std::FILE* err) {
  auto c = LoadState(cmd.state);
  if (!c) return PrintError(err, c.error());
  agent::RunAgentArgs args{cmd.enrollment_key_file, cmd.fleet_key_file, cmd.package_file};
  return agent::RunAgent(*c, args);
}

int RunDev(const DevOptions& opts, std::FILE* out, std::FILE* err) {
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

  config::Config c = config::DefaultConfig(dir);
  if (auto st = config::ValidateConfig(c, "embedded defaults"); !st) {
    return PrintError(err, st.error());
  }
  log::Info("dev.started", {{"data_dir", dir}});
  fmt::print(out, "vigie dev: embedded defaults (SQLite store, local backends) in {}\n\n", dir);

  // 1. The demo site makes its own enrollment key pair and hands over only the public key.
  StateOptions state{"", dir};
  std::string site_dir = dir + "/sites/demo";
  Env env = RealEnv();
  if (!env.fs->Exists(site_dir + "/enrollment.key")) {
    if (auto st = env.fs->CreateDirs(site_dir, 0700); !st) return PrintError(err, st.error());
    auto keys = package::WriteEnrollmentKeyPair(site_dir, env);
    if (!keys) return PrintError(err, keys.error());
  }
  // 2. Provision it (PROV_001-005, PROV_023): principal, KMS key, generated credentials, package.
  fmt::print(out, "== vigie site provision demo\n");
  SiteProvisionCommand provision{state, "demo", "eu-west-3", site_dir + "/enrollment.pub", "", ""};
  if (int prc = RunSiteProvisionCommand(provision, out, err); prc != 0) return prc;
  // 3. Anchor the ledger's tree head (local anchor: signed tree heads only).
  fmt::print(out, "\n== vigie ledger anchor\n");
  if (int arc = RunLedgerAnchorCommand(state, 0, out, err); arc > 1) return arc;
  // 4. The report, from the evidence just recorded.
  fmt::print(out, "\n== vigie compliance check\n");
  compliance::ComplianceCheckOptions check;
  check.color = ::isatty(::fileno(out)) != 0;
  int rc = Evaluate(c, check, out, err);
  if (rc > 1) return rc;  // could not evaluate: the error is printed

  fmt::print(out,
             "\nWhere to look next:\n"
             "  data directory    {0}\n"
             "  store (SQLite)    {1}\n"
             "  demo package      {0}/packages/demo.vpkg (site key in {0}/sites/demo)\n"
             "  fleet public key  {2}\n"
             "  commands          vigie compliance check --data-dir {0} [--format json|junit]\n"
             "                    vigie ledger verify --data-dir {0}\n"
             "                    vigie ledger prove demo --data-dir {0}\n"
             "                    vigie package verify {0}/packages/demo.vpkg --fleet-key {2}\n"
             "Not started by vigie dev yet: the fleet manager and the demo site's agent, so the site "
             "has not registered or heartbeated. Start them by hand:\n"
             "  vigie server --data-dir {0} &\n"
             "  vigie agent run --data-dir {0} --package {0}/packages/demo.vpkg \\\n"
             "      --enrollment-key {0}/sites/demo/enrollment.key --fleet-key {2}\n",
             dir, c.store.path, FleetPublicKeyPath(dir));
  std::fflush(out);
  if (opts.once) return rc;

  // Run until Ctrl-C or SIGTERM; the data directory is kept for inspection.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  fmt::print(out, "vigie dev: running; press Ctrl-C to stop (data kept in {})\n", dir);
  std::fflush(out);
  int sig = 0;
  sigwait(&set, &sig);
  fmt::print(out, "vigie dev: stopped by signal {}\n", sig);
  return rc;
}

}  // namespace vigie::cli
