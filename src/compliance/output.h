#pragma once
// Renderings of a compliance Report: a table for a person, JSON for programs (schema
// "vigie.compliance.v1", documented in docs/COMPLIANCE_JSON.md), JUnit XML for CI dashboards.
//
// Thread-safety: pure functions of the report.
// SECURITY: outputs contain only what checks put in summaries, remedies and evidence, which by
// contract never hold secrets (rule.h).

#include <string>

#include "compliance/engine.h"

namespace vigie::compliance {

// A table with columns RULE, TITLE (truncated to fit), SITE ("-" for fleet rules), STATUS,
// EVIDENCE (the one-line summary), one row per result, then a totals line such as
// "49 rules, 0 pass, 49 fail, 0 n/a". ANSI colours (PASS green, FAIL red, N/A yellow) only when
// `color` is true; otherwise the text holds no escape byte.
std::string RenderText(const Report& report, bool color);

// The JSON document (schema "vigie.compliance.v1"), pretty-printed, ending with a newline.
// Invalid UTF-8 in check text is replaced by U+FFFD.
std::string RenderJson(const Report& report);

// JUnit XML: <testsuites> holding one <testsuite> per section, one <testcase> per rule and site
// (name "PROV_001[site]", or "MAINT_004" for a fleet rule; classname
// "vigie.compliance.<section slug>"), with <failure> for FAIL and <skipped> for NOT_APPLICABLE.
std::string RenderJunit(const Report& report);

}  // namespace vigie::compliance
