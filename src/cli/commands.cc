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
#include "provision/cli.h"
#include "config/config.h"
#include "ledger/cli.h"
#include "ledger/verify.h"
#include "store/sqlite_store.h"

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

// Opens the store named by the configuration. Only SQLite exists so far.
Result<std::unique_ptr<store::Store>> OpenStore(const config::Config& c) {
  if (c.store.backend != config::StoreBackend::kSqlite) {
    return MakeError(ErrorCode::kUnimplemented,
                     "store.backend = \"postgres\" is not available in this build yet; use "
                     "\"sqlite\"");
  }
  store::SqliteOptions opts;
  opts.path = c.store.path;
  opts.batch_max = static_cast<int>(c.store.batch_max_rows);
  opts.clock = RealClock();
  return store::OpenSqliteStore(opts);
}

int Evaluate(const config::Config& c, const compliance::ComplianceCheckOptions& opts,
             std::FILE* out, std::FILE* err) {
  auto st = OpenStore(c);
  if (!st) return PrintError(err, st.error());
  compliance::StoreEvidence evidence(**st, *RealClock(), config::EvidenceValues(c));
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
  opts.s3_bucket = c->backup.target_bucket;
  opts.kms_rotation_days = static_cast<int>(c->kms.key_rotation_period_days);
  provision::Provisioner provisioner(deps, opts);
  if (!cmd.batch_file.empty()) {
    return provision::RunSiteProvisionBatch(cmd.batch_file, provisioner, env, out, err);
  }
  provision::SiteProvisionOptions one{cmd.site_id, cmd.region, cmd.enrollment_key_file};
  return provision::RunSiteProvision(one, provisioner, env, out, err);
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

  compliance::ComplianceCheckOptions check;
  check.color = ::isatty(::fileno(out)) != 0;
  int rc = Evaluate(c, check, out, err);
  if (rc > 1) return rc;  // could not evaluate: the error is printed

  fmt::print(out,
             "\nWhere to look next:\n"
             "  data directory   {0}\n"
             "  store (SQLite)   {1}\n"
             "  re-run the check vigie compliance check --data-dir {0} [--format json|junit]\n"
             "Not built yet, so not started: fleet manager API, site agent, provisioning "
             "(README.md, \"What works today\").\n",
             dir, c.store.path);
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
