#pragma once
// The subcommands' work, as plain functions returning the process exit code (README.md, "Exit
// codes"). They print results to `out` and errors to `err`; main.cc only parses the command line.

#include <cstdio>
#include <string>

#include "compliance/cli.h"

namespace vigie::cli {

// Where a command finds the fleet's state: a configuration file, or a data directory with the
// embedded defaults. Exactly one should be given; with neither, the command says so.
struct StateOptions {
  std::string config_file;
  std::string data_dir;
};

struct DevOptions {
  bool once = false;
  std::string data_dir;  // empty: a fresh temporary directory
};

int RunConfigCheck(const std::string& file, std::FILE* out, std::FILE* err);
int RunComplianceCommand(const StateOptions& state,
                         const compliance::ComplianceCheckOptions& opts, std::FILE* out,
                         std::FILE* err);
// vigie ledger verify: the ledger under <data_dir>/ledger, checked against `fleet_key_file` or
// the data dir's own fleet public key.
int RunLedgerVerifyCommand(const StateOptions& state, const std::string& fleet_key_file,
                           std::FILE* out, std::FILE* err);
int RunLedgerProveCommand(const StateOptions& state, const std::string& site, std::FILE* out,
                          std::FILE* err);
int RunLedgerAnchorCommand(const StateOptions& state, int wait_seconds, std::FILE* out,
                           std::FILE* err);

struct SiteProvisionCommand {
  StateOptions state;
  std::string site_id;
  std::string region;
  std::string enrollment_key_file;
  std::string batch_file;  // when set: provision every site of the file
  std::string out_dir;     // where packages are written; default <data_dir>/packages
};
// vigie site provision: PROV_001-005 and PROV_023 by construction (src/provision).
int RunSiteProvisionCommand(const SiteProvisionCommand& cmd, std::FILE* out, std::FILE* err);

struct VaultCommand {
  StateOptions state;
  std::string site;
  bool bootstrap = false;  // else reconcile
  bool check_only = false;
  bool prune = false;
};
// vigie vault bootstrap|reconcile (PROV_004, PROV_010-013; src/vault).
int RunVaultCommand(const VaultCommand& cmd, std::FILE* out, std::FILE* err);

// vigie server: the fleet manager API until SIGINT/SIGTERM (src/fleet).
int RunServerCommand(const StateOptions& state, std::FILE* err);
struct AgentRunCommand {
  StateOptions state;
  std::string package_file;
  std::string enrollment_key_file;
  std::string fleet_key_file;
};
// vigie agent run: the site agent daemon (src/agent).
int RunAgentCommand(const AgentRunCommand& cmd, std::FILE* err);

// vigie dev: opens the store on embedded defaults, evaluates every rule, prints the report and
// where to look next, then (unless `once`) waits for SIGINT/SIGTERM.
int RunDev(const DevOptions& opts, std::FILE* out, std::FILE* err);

}  // namespace vigie::cli
