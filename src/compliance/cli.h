#pragma once
// `vigie compliance check`, as a plain function the CLI (src/cli/main.cc) wires to its flags.
// No CLI library here: parsing flags is the CLI's job.

#include <cstdio>
#include <string>
#include <vector>

#include "compliance/evidence.h"
#include "compliance/registry.h"

namespace vigie::compliance {

struct ComplianceCheckOptions {
  std::string site;                // empty: every site
  std::vector<std::string> rules;  // empty: every rule
  std::string format = "text";     // "text" | "json" | "junit"
  bool color = false;              // ANSI colours in text (the CLI passes isatty(1))
};

// Evaluates the rules and writes the report to `out`; errors go to `err`.
// Returns the process exit code: 0 when no rule FAILs, 1 (ExitCodeFor(kCheckFailed)) when one
// does, 2 (ExitCodeFor(kInvalidArgument)) for an unknown format, rule id or site, with a message
// naming it on `err` and nothing on `out`.
int RunComplianceCheck(const ComplianceCheckOptions& opts, const RuleRegistry& registry,
                       EvidenceSource& evidence, std::FILE* out, std::FILE* err);

// Same, with every rule registered by RegisterAllRules() and errors to stderr.
int RunComplianceCheck(const ComplianceCheckOptions& opts, EvidenceSource& evidence,
                       std::FILE* out);

}  // namespace vigie::compliance
