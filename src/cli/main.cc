// vigie: one binary, many subcommands (in the spirit of `vault` and `consul`).
// This file wires concrete backends to interfaces; nothing else does.

#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "base/error.h"
#include "base/log.h"
#include "base/secret.h"
#include "vigie_version.h"

int main(int argc, char** argv) {
  vigie::DisableCoreDumps();
  CLI::App app{"vigie: provision and keep a fleet of sites compliant with the 49 invariants",
               "vigie"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");

  auto* version = app.add_subcommand("version", "Print the version and exit");
  version->callback([] { std::printf("vigie %s\n", VIGIE_VERSION); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    // CLI11 returns its own codes; usage errors map to invalid_argument's exit code.
    return rc == 0 ? 0 : vigie::ExitCodeFor(vigie::ErrorCode::kInvalidArgument);
  }
  return 0;
}
