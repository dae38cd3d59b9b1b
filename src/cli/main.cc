// vigie: one binary, many subcommands (in the spirit of `vault` and `consul`).
// This file wires concrete backends to interfaces; nothing else does. Each subcommand's work is
// a plain function in its module (RunComplianceCheck, ...) or in src/cli/commands.cc; this file
// only declares the command line.

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/error.h"
#include "base/log.h"
#include "base/secret.h"
#include "cli/commands.h"
#include "ledger/cli.h"
#include "ledger/verify.h"
#include "package/cli.h"
#include "vigie_version.h"

namespace {

// Options every command that reads the fleet's state takes.
void AddStateOptions(CLI::App* cmd, vigie::cli::StateOptions& opts) {
  cmd->add_option("--config", opts.config_file, "Configuration file (TOML)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--data-dir", opts.data_dir,
                  "Data directory, with embedded defaults (when no --config is given)");
}

}  // namespace

int main(int argc, char** argv) {
  vigie::DisableCoreDumps();
  vigie::log::LogToStderr(vigie::log::Level::kWarn);

  CLI::App app{"vigie: provision and keep a fleet of sites compliant with the 49 invariants",
               "vigie"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  int rc = 0;

  auto* version = app.add_subcommand("version", "Print the version and exit");
  version->callback([] { std::printf("vigie %s\n", VIGIE_VERSION); });

  // vigie config check FILE
  auto* config = app.add_subcommand("config", "Work with configuration files");
  config->require_subcommand(1);
  std::string config_file;
  auto* config_check =
      config->add_subcommand("check", "Load and validate a configuration file; print the problems");
  config_check->add_option("file", config_file, "Configuration file (TOML)")->required();
  config_check->callback([&] { rc = vigie::cli::RunConfigCheck(config_file, stdout, stderr); });

  // vigie compliance check
  auto* compliance = app.add_subcommand("compliance", "Prove the 49 invariants from evidence");
  compliance->require_subcommand(1);
  vigie::cli::StateOptions compliance_state;
  vigie::compliance::ComplianceCheckOptions check_opts;
  auto* check = compliance->add_subcommand(
      "check", "Evaluate every rule (exit 0 only when no rule FAILs, 1 when one does)");
  AddStateOptions(check, compliance_state);
  check->add_option("--site", check_opts.site, "Only this site (fleet-wide rules still run)");
  check->add_option("--rule", check_opts.rules, "Only these rule ids (repeatable)");
  check->add_option("--format", check_opts.format, "Output format")
      ->check(CLI::IsMember({"text", "json", "junit"}));
  check->callback([&] {
    check_opts.color = ::isatty(STDOUT_FILENO) != 0;
    rc = vigie::cli::RunComplianceCommand(compliance_state, check_opts, stdout, stderr);
  });

  // vigie package verify FILE --fleet-key K [--site-key F]
  auto* package = app.add_subcommand("package", "Work with signed deployment packages (.vpkg)");
  package->require_subcommand(1);
  std::string package_file, fleet_key_file, site_key_file;
  auto* package_verify = package->add_subcommand(
      "verify", "Verify a package's signature, integrity and expiry (PROV_023); print its manifest");
  package_verify->add_option("file", package_file, "The .vpkg file")->required();
  package_verify->add_option("--fleet-key", fleet_key_file, "Fleet Ed25519 public key (PEM)")
      ->required();
  package_verify->add_option("--site-key", site_key_file,
                             "Also open the secret section with this enrollment private key");
  package_verify->callback([&] {
    rc = vigie::package::RunPackageVerify(package_file, fleet_key_file, site_key_file, stdout);
  });

  // vigie agent keygen --out DIR
  auto* agent = app.add_subcommand("agent", "Site agent commands");
  agent->require_subcommand(1);
  std::string keygen_dir = ".";
  auto* keygen = agent->add_subcommand(
      "keygen", "Generate the site's X25519 enrollment key pair; hand over only the public key");
  keygen->add_option("--out", keygen_dir, "Directory for the key files (default: .)");
  keygen->callback([&] { rc = vigie::package::RunAgentKeygen(keygen_dir, stdout); });

  // vigie ledger verify
  auto* ledger = app.add_subcommand("ledger", "The tamper-evident ledger (PROV_020, MAINT_043)");
  ledger->require_subcommand(1);
  vigie::cli::StateOptions ledger_state;
  std::string ledger_key;
  auto* ledger_verify = ledger->add_subcommand(
      "verify", "Recompute the hash chain and every signed tree head; name the first bad entry");
  AddStateOptions(ledger_verify, ledger_state);
  ledger_verify->add_option("--fleet-key", ledger_key,
                            "Fleet public key (PEM or hex); default: the data dir's own");
  ledger_verify->callback([&] {
    rc = vigie::cli::RunLedgerVerifyCommand(ledger_state, ledger_key, stdout, stderr);
  });

  // vigie site provision
  auto* site = app.add_subcommand("site", "Provision and inspect sites");
  site->require_subcommand(1);
  vigie::cli::SiteProvisionCommand provision_cmd;
  auto* provision = site->add_subcommand(
      "provision",
      "Provision a site: its own principal, generated credentials, KMS key and a signed package "
      "sealed to its enrollment key (PROV_001-005, PROV_023). No flag takes a credential: every "
      "credential is generated (PROV_002)");
  AddStateOptions(provision, provision_cmd.state);
  auto* site_id_opt = provision->add_option("site-id", provision_cmd.site_id, "Site id");
  provision->add_option("--region", provision_cmd.region, "The site's region (e.g. eu-west-3)");
  provision->add_option("--enrollment-key", provision_cmd.enrollment_key_file,
                        "The site's enrollment public key (from `vigie agent keygen`)")
      ->check(CLI::ExistingFile);
  auto* batch_opt = provision->add_option(
      "--batch", provision_cmd.batch_file,
      "CSV file of sites (site_id,region,enrollment_key_path per line) instead of one site");
  batch_opt->excludes(site_id_opt);
  provision->add_option("--out", provision_cmd.out_dir,
                        "Directory for the .vpkg packages (default: <data_dir>/packages)");
  provision->callback([&] {
    if (provision_cmd.batch_file.empty() &&
        (provision_cmd.site_id.empty() || provision_cmd.region.empty() ||
         provision_cmd.enrollment_key_file.empty())) {
      std::fprintf(stderr,
                   "vigie site provision: give SITE-ID --region R --enrollment-key FILE, or "
                   "--batch FILE\n");
      rc = vigie::ExitCodeFor(vigie::ErrorCode::kInvalidArgument);
      return;
    }
    rc = vigie::cli::RunSiteProvisionCommand(provision_cmd, stdout, stderr);
  });

  // vigie ledger prove / check-proof / anchor
  vigie::cli::StateOptions prove_state;
  std::string prove_site;
  auto* ledger_prove = ledger->add_subcommand(
      "prove", "Print, as JSON, a site's inclusion proof, tree head and anchor transaction");
  AddStateOptions(ledger_prove, prove_state);
  ledger_prove->add_option("site-id", prove_site, "Site id")->required();
  ledger_prove->callback(
      [&] { rc = vigie::cli::RunLedgerProveCommand(prove_state, prove_site, stdout, stderr); });

  std::string proof_file, proof_key, proof_rpc;
  uint64_t proof_confirmations = 1;
  auto* check_proof = ledger->add_subcommand(
      "check-proof", "Verify a proof from `vigie ledger prove` offline, optionally against a node");
  check_proof->add_option("file", proof_file, "Proof JSON file")->required();
  check_proof->add_option("--fleet-key", proof_key, "Fleet public key (PEM or hex)")->required();
  check_proof->add_option("--rpc-url", proof_rpc,
                          "Also check the anchor transaction on this Ethereum JSON-RPC node");
  check_proof->add_option("--confirmations", proof_confirmations,
                          "Confirmations required on the node (default 1)");
  check_proof->callback([&] {
    rc = vigie::ledger::RunLedgerCheckProof(proof_file, proof_key, proof_rpc, proof_confirmations,
                                            stdout);
  });

  vigie::cli::StateOptions anchor_state;
  int anchor_wait_seconds = 0;
  auto* ledger_anchor = ledger->add_subcommand(
      "anchor", "Sign a tree head and anchor it now with the configured anchor (PROV_020)");
  AddStateOptions(ledger_anchor, anchor_state);
  ledger_anchor->add_option("--wait", anchor_wait_seconds,
                            "Seconds to wait for the required confirmations (default 0)");
  ledger_anchor->callback([&] {
    rc = vigie::cli::RunLedgerAnchorCommand(anchor_state, anchor_wait_seconds, stdout, stderr);
  });

  // vigie vault bootstrap / reconcile
  auto* vault = app.add_subcommand("vault", "Bring a site's Vault to the required state");
  vault->require_subcommand(1);
  vigie::cli::VaultCommand bootstrap_cmd, reconcile_cmd;
  bootstrap_cmd.bootstrap = true;
  auto* bootstrap = vault->add_subcommand(
      "bootstrap",
      "Initialise with KMS auto-unseal and >= 3-of-5 recovery shares stored in the secrets "
      "backend, apply policies, revoke the root token (PROV_004, PROV_010-013)");
  AddStateOptions(bootstrap, bootstrap_cmd.state);
  bootstrap->add_option("--site", bootstrap_cmd.site, "Site id")->required();
  bootstrap->callback([&] { rc = vigie::cli::RunVaultCommand(bootstrap_cmd, stdout, stderr); });
  auto* reconcile = vault->add_subcommand(
      "reconcile", "Apply the policies of the config directory to the site's Vault (PROV_013)");
  AddStateOptions(reconcile, reconcile_cmd.state);
  reconcile->add_option("--site", reconcile_cmd.site, "Site id")->required();
  reconcile->add_flag("--check", reconcile_cmd.check_only, "Report drift only; exit 1 on drift");
  reconcile->add_flag("--prune", reconcile_cmd.prune,
                      "Delete policies not in config (never root or default)");
  reconcile->callback([&] { rc = vigie::cli::RunVaultCommand(reconcile_cmd, stdout, stderr); });

  // vigie server
  vigie::cli::StateOptions server_state;
  auto* server = app.add_subcommand(
      "server", "Run the fleet manager API (registration, heartbeats, liveness, licences, /metrics)");
  AddStateOptions(server, server_state);
  server->callback([&] { rc = vigie::cli::RunServerCommand(server_state, stderr); });

  // vigie agent run
  vigie::cli::AgentRunCommand agent_cmd;
  auto* agent_run = agent->add_subcommand(
      "run", "Run the site agent: verify the package, register, heartbeat every <= 60 s, serve the "
             "local admin API (PROV_005) and /metrics");
  AddStateOptions(agent_run, agent_cmd.state);
  agent_run->add_option("--package", agent_cmd.package_file, "The site's .vpkg (default: config)");
  agent_run->add_option("--enrollment-key", agent_cmd.enrollment_key_file,
                        "The site's enrollment private key (default: <state_dir>/enrollment.key)");
  agent_run->add_option("--fleet-key", agent_cmd.fleet_key_file,
                        "Fleet public key (PEM); default: trust the first package's and pin it");
  agent_run->callback([&] { rc = vigie::cli::RunAgentCommand(agent_cmd, stderr); });

  // vigie dev
  vigie::cli::DevOptions dev_opts;
  auto* dev = app.add_subcommand(
      "dev", "Run the fleet on embedded defaults in a temporary directory (like `vault server -dev`)");
  dev->add_flag("--once", dev_opts.once, "Exit after printing the compliance report");
  dev->add_option("--data-dir", dev_opts.data_dir, "Use this directory instead of a temporary one");
  dev->callback([&] { rc = vigie::cli::RunDev(dev_opts, stdout, stderr); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int parse_rc = app.exit(e);
    // CLI11 has its own codes; a usage error maps to invalid_argument's exit code.
    return parse_rc == 0 ? 0 : vigie::ExitCodeFor(vigie::ErrorCode::kInvalidArgument);
  }
  return rc;
}
