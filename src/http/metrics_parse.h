#pragma once
// A validating parser of the Prometheus text exposition format 0.0.4 (MAINT_003), and the lint
// checks `promtool check metrics` applies. Used by the fleet manager and the agent to self-check
// their own /metrics rendering (the evidence of MAINT_003), and by tests to read /metrics bodies.
//
// ParsePrometheusText accepts what Prometheus's text parser accepts and refuses, with the line
// number, what it refuses:
//   - "# HELP <name> <text>" (text escapes: \\ and \n only) and "# TYPE <name> <type>" (counter,
//     gauge, histogram, summary, untyped), each at most once per family and TYPE before the
//     family's first sample; other "#" lines are comments; blank lines are ignored;
//   - samples "<name>[{<label>="<value>",...}] <value> [<timestamp ms>]": names
//     [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* not starting with "__", no
//     label twice, label values in UTF-8 with escapes \\ \" \n only, values decimal floats or
//     +Inf, -Inf, NaN (no hex: promtool refuses it), timestamps as 64-bit integers;
//   - the samples of a family are contiguous (the format requires it; promtool does not check)
//   (x_bucket / x_sum / x_count belong to histogram x,
//     x_sum / x_count to summary x); no series (name + label set) appears twice;
//   - histograms: every x_bucket has a float "le"; per label set, counts are non-decreasing in
//     le, a le="+Inf" bucket exists and equals x_count (stricter than promtool); summaries: x
//     samples carry "quantile";
//   - the text ends with a newline (unless empty).
// It does not judge style: LintPrometheusText does (promtool's lint problems).
//
// Stateless and thread-safe. Cost: linear in the text.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"

namespace vigie::http {

using PromLabels = std::vector<std::pair<std::string, std::string>>;

struct PromSample {
  std::string name;   // as written: "x_bucket", "x_sum", ... for histograms
  PromLabels labels;  // in written order, unescaped
  double value = 0;
  std::optional<int64_t> timestamp_ms;
  // The value of label `name`, or nullptr.
  const std::string* Label(std::string_view name) const;
};

struct PromFamily {
  std::string name;
  std::string type = "untyped";     // counter | gauge | histogram | summary | untyped
  std::optional<std::string> help;  // unescaped; nullopt when no HELP line
  std::vector<PromSample> samples;
};

struct PromExposition {
  std::vector<PromFamily> families;  // in order of appearance
  size_t sample_count = 0;

  const PromFamily* Find(std::string_view family) const;
  // The first sample named `name` (a sample name, e.g. "x_bucket") carrying every label of
  // `labels` (others may be present), or nullptr.
  const PromSample* FindSample(std::string_view name, const PromLabels& labels = {}) const;
};

// Errors: kInvalidArgument "line N: <what>; <the offending text>".
Result<PromExposition> ParsePrometheusText(std::string_view text);

// promtool check metrics's lint problems, one line each: "<family> <problem>", e.g.
// `c counter metrics should have "_total" suffix`. Empty when clean. Checks: help text present,
// _total on counters only, no _count/_sum/_bucket suffix outside histograms and summaries,
// snake_case metric and label names, no abbreviated units (_s, _ms, _sec, _kb, ...), no non-base
// units (milliseconds, minutes, kilobytes, ...), no type name in the metric name, counters >= 0.
std::vector<std::string> LintPrometheusText(const PromExposition& exposition);

// The outcome of a self-check of a /metrics body: parsed, lint-clean and not empty.
struct MetricsSelfCheck {
  bool ok = false;
  size_t families = 0;
  size_t samples = 0;
  std::string error;  // "" when ok; else the parse error, the lint problems ("; "-joined), or
                      // "no metric family"
};
MetricsSelfCheck SelfCheckMetricsText(std::string_view text);

}  // namespace vigie::http
