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
// vigie dev: opens the store on embedded defaults, evaluates every rule, prints the report and
// where to look next, then (unless `once`) waits for SIGINT/SIGTERM.
int RunDev(const DevOptions& opts, std::FILE* out, std::FILE* err);

}  // namespace vigie::cli
