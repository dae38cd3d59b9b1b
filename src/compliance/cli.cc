#include "compliance/cli.h"

#include "base/error.h"
#include "compliance/engine.h"
#include "compliance/output.h"

namespace vigie::compliance {

int RunComplianceCheck(const ComplianceCheckOptions& opts, const RuleRegistry& registry,
                       EvidenceSource& evidence, std::FILE* out, std::FILE* err) {
  auto fail_usage = [&](const Error& error) {
    std::fprintf(err, "vigie compliance check: %s\n", error.ToString().c_str());
    return ExitCodeFor(error.code);
  };
  if (opts.format != "text" && opts.format != "json" && opts.format != "junit") {
    return fail_usage(Error{ErrorCode::kInvalidArgument,
                            "unknown --format '" + opts.format + "'; use text, json or junit"});
  }
  Filter filter;
  if (!opts.site.empty()) filter.site = opts.site;
  filter.rule_ids = opts.rules;
  Result<Report> report = Evaluate(registry, evidence, filter);
  if (!report) return fail_usage(report.error());

  std::string rendered = opts.format == "json"    ? RenderJson(*report)
                         : opts.format == "junit" ? RenderJunit(*report)
                                                  : RenderText(*report, opts.color);
  std::fwrite(rendered.data(), 1, rendered.size(), out);
  std::fflush(out);
  return report->ok() ? 0 : ExitCodeFor(ErrorCode::kCheckFailed);
}

int RunComplianceCheck(const ComplianceCheckOptions& opts, EvidenceSource& evidence,
                       std::FILE* out) {
  RuleRegistry registry;
  RegisterAllRules(registry);
  return RunComplianceCheck(opts, registry, evidence, out, stderr);
}

}  // namespace vigie::compliance
