#pragma once
// The healthcheck report an agent sends with each heartbeat (MAINT_001), parsed strictly.
//
// JSON body of POST /v1/sites/{id}/heartbeat:
//   {
//     "agent_version": "0.1.0",
//     "disk":     {"ok": true, "detail": "..."},      (detail optional, any other key ignored)
//     "memory":   {"ok": true, ...},
//     "cpu":      {"ok": true, ...},
//     "services": {"<name>": {"ok": true, ...}, ...}  (the agent's own services, >= 1 entry)
//     "vault":    {"ok": true, "sealed": false, ...}  (optional: where Vault is configured)
//     "metrics":  {"ok": true, "families": 9, "samples": 20, "error": ""}
//                 (optional: the agent's self-check of its own /metrics, MAINT_003; "samples"
//                 and "error" optional)
//   }
// The report passes when every "ok" is true (and, for vault, "sealed" is false). "metrics" does
// not count in `passed` (a licence is not gated on it): the MAINT_003 check judges it from the
// stored report.
// Keys other than these are ignored; a key given twice counts with its last value (what a JSON
// DOM keeps). The parse builds no DOM (a single scan; syntax errors come from nlohmann::json's
// parser, with its byte offset and text).
//
// Stateless and thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace vigie::fleet {

// The agent's self-check of its /metrics text (parsed and linted as promtool would).
struct MetricsReport {
  bool ok = false;
  int64_t families = 0;
  int64_t samples = 0;
  std::string error;  // "" when ok
};

struct HealthReport {
  std::string agent_version;
  bool passed = false;
  // Names of failing components ("disk", "services.vault-agent", "vault"), for display.
  std::vector<std::string> failing;
  // "metrics" when the heartbeat carried it.
  std::optional<MetricsReport> metrics;
  // The report is not re-serialised: the fleet manager stores the body exactly as received and
  // signed by the site (valid JSON once this parse succeeded), the evidence the compliance rules
  // read back.
};

// Errors: kInvalidArgument "malformed JSON at byte N: ..." for unparsable input, or naming the
// missing / mistyped field ("heartbeat report: field disk.ok must be a boolean").
Result<HealthReport> ParseHealthReport(std::string_view body);

}  // namespace vigie::fleet
