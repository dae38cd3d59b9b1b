#include "http/metrics_parse.h"

#include <gtest/gtest.h>

#include <cmath>

#include "http/metrics.h"

namespace vigie::http {
namespace {

std::string ParseError(std::string_view text) {
  auto r = ParsePrometheusText(text);
  if (r) return "parsed";
  return r.error().message;
}

TEST(MetricsParseTest, ReadsWhatTheRegistryRenders) {
  MetricsRegistry reg;
  auto* c = *reg.AddCounter("app_requests_total", "Requests.\nSecond \\ line.", {"code"});
  auto* g = *reg.AddGauge("app_temperature_celsius", "Temp.", {"room"});
  auto* h = *reg.AddHistogram("app_latency_seconds", "Latency.", {"route"}, {0.1, 1});
  c->With({"200"}).Inc(3);
  c->With({"5\"0\\0\n"}).Inc();
  g->With({"hall"}).Set(-2.5);
  g->With({"inf"}).Set(HUGE_VAL);
  h->With({"/a"}).Observe(0.05);
  h->With({"/a"}).Observe(5);
  std::string text = reg.Render();
  auto parsed = ParsePrometheusText(text);
  ASSERT_TRUE(parsed) << parsed.error().message << "\n" << text;
  ASSERT_EQ(parsed->families.size(), 3u);
  EXPECT_EQ(parsed->families[0].type, "counter");
  EXPECT_EQ(*parsed->families[0].help, "Requests.\nSecond \\ line.");
  EXPECT_EQ(parsed->families[2].type, "histogram");
  EXPECT_EQ(parsed->sample_count, 2u + 2u + 3u + 2u);  // 3 buckets (+Inf) + sum + count
  const PromSample* odd = parsed->FindSample("app_requests_total", {{"code", "5\"0\\0\n"}});
  ASSERT_NE(odd, nullptr);
  EXPECT_EQ(odd->value, 1);
  EXPECT_EQ(parsed->FindSample("app_temperature_celsius", {{"room", "hall"}})->value, -2.5);
  EXPECT_TRUE(std::isinf(parsed->FindSample("app_temperature_celsius", {{"room", "inf"}})->value));
  EXPECT_EQ(parsed->FindSample("app_latency_seconds_bucket", {{"le", "+Inf"}})->value, 2);
  EXPECT_EQ(parsed->FindSample("app_latency_seconds_bucket", {{"le", "0.1"}})->value, 1);
  EXPECT_EQ(parsed->FindSample("app_latency_seconds_count")->value, 2);
  EXPECT_EQ(parsed->FindSample("app_latency_seconds_sum")->value, 5.05);
  EXPECT_EQ(parsed->FindSample("app_nothing"), nullptr);
  EXPECT_TRUE(LintPrometheusText(*parsed).empty());
  MetricsSelfCheck check = SelfCheckMetricsText(text);
  EXPECT_TRUE(check.ok) << check.error;
  EXPECT_EQ(check.families, 3u);
  EXPECT_EQ(check.samples, 9u);
}

TEST(MetricsParseTest, AcceptsTheFormatsLatitude) {
  // Comments, blank lines, untyped samples, timestamps, trailing comma, blanks, Go floats.
  auto r = ParsePrometheusText(
      "# a comment\n\n"
      "# HELP x_seconds Some help.\n"
      "# TYPE x_seconds gauge\n"
      "x_seconds{a=\"1\",b=\"2\",} 1e3 1700000000000\n"
      "x_seconds { a = \"2\" }\t-Inf\n"
      "x_seconds NaN\n"
      "untyped_thing 16\n"
      "# HELP s_seconds A summary.\n"
      "# TYPE s_seconds summary\n"
      "s_seconds{quantile=\"0.5\"} 1\n"
      "s_seconds_sum 3\n"
      "s_seconds_count 2\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->families.size(), 3u);
  EXPECT_EQ(r->families[1].name, "untyped_thing");
  EXPECT_EQ(r->families[1].type, "untyped");
  EXPECT_EQ(r->families[1].samples[0].value, 16);
  EXPECT_EQ(*r->families[0].samples[0].timestamp_ms, 1700000000000);
  EXPECT_EQ(r->families[0].samples[0].value, 1000);
  EXPECT_TRUE(ParsePrometheusText(""));
  EXPECT_FALSE(SelfCheckMetricsText("").ok);
  EXPECT_EQ(SelfCheckMetricsText("").error, "no metric family");
}

TEST(MetricsParseTest, RefusesMalformedText) {
  EXPECT_NE(ParseError("x 1").find("newline"), std::string::npos);
  EXPECT_NE(ParseError("x{a=\"\\t\"} 1\n").find("line 1: invalid escape sequence \\t"),
            std::string::npos);
  EXPECT_NE(ParseError("# HELP x a\\tb\n").find("invalid escape"), std::string::npos);
  EXPECT_NE(ParseError("x 1\nx 2\n").find("line 2: duplicate series"), std::string::npos);
  EXPECT_NE(ParseError("x{a=\"1\",b=\"2\"} 1\nx{b=\"2\",a=\"1\"} 2\n").find("duplicate"),
            std::string::npos);
  EXPECT_NE(ParseError("x 1\n# TYPE x gauge\n").find("after its samples"), std::string::npos);
  EXPECT_NE(ParseError("# TYPE x gauge\n# TYPE x gauge\n").find("second TYPE"), std::string::npos);
  EXPECT_NE(ParseError("# HELP x a\n# HELP x b\n").find("second HELP"), std::string::npos);
  EXPECT_NE(ParseError("# TYPE x gauges\n").find("unknown metric type"), std::string::npos);
  EXPECT_NE(
      ParseError("x{a=\"1\"} 1\ny 1\nx{a=\"2\"} 1\n").find("line 3: sample x of metric family x"),
      std::string::npos);
  EXPECT_NE(ParseError("x one\n").find("invalid value \"one\""), std::string::npos);
  EXPECT_NE(ParseError("x 0x10\n").find("invalid value"), std::string::npos);  // as promtool
  EXPECT_NE(ParseError("x nan(1)\n").find("invalid value"), std::string::npos);
  EXPECT_NE(ParseError("x 1 12.5\n").find("invalid timestamp"), std::string::npos);
  EXPECT_NE(ParseError("x 1 2 3\n").find("after the timestamp"), std::string::npos);
  EXPECT_NE(ParseError("x\n").find("missing value"), std::string::npos);
  EXPECT_NE(ParseError("1x 1\n").find("invalid metric name"), std::string::npos);
  EXPECT_NE(ParseError("x{__a=\"1\"} 1\n").find("reserved"), std::string::npos);
  EXPECT_NE(ParseError("x{a=\"1\",a=\"2\"} 1\n").find("appears twice"), std::string::npos);
  EXPECT_NE(ParseError("x{a=\"1} 1\n").find("unterminated"), std::string::npos);
  EXPECT_NE(ParseError("x{a=1} 1\n").find("expected '\"'"), std::string::npos);
  EXPECT_NE(ParseError("x{a=\"\xff\"} 1\n").find("UTF-8"), std::string::npos);
  EXPECT_NE(ParseError("x 1\r\n").find("carriage return"), std::string::npos);
  EXPECT_NE(ParseError("# TYPE s summary\ns 1\n").find("quantile"), std::string::npos);
}

TEST(MetricsParseTest, ChecksHistogramConsistency) {
  const std::string head = "# HELP h_seconds H.\n# TYPE h_seconds histogram\n";
  EXPECT_TRUE(ParsePrometheusText(head +
                                  "h_seconds_bucket{le=\"1\"} 1\nh_seconds_bucket{le=\"+Inf\"} 2\n"
                                  "h_seconds_sum 3\nh_seconds_count 2\n"));
  EXPECT_NE(ParseError(head + "h_seconds_bucket{le=\"1\"} 1\nh_seconds_count 1\n")
                .find("no le=\"+Inf\" bucket"),
            std::string::npos);
  EXPECT_NE(ParseError(head + "h_seconds_bucket{le=\"1\"} 3\nh_seconds_bucket{le=\"+Inf\"} 2\n")
                .find("decrease"),
            std::string::npos);
  EXPECT_NE(ParseError(head + "h_seconds_bucket{le=\"+Inf\"} 2\nh_seconds_count 3\n")
                .find("_count differs"),
            std::string::npos);
  EXPECT_NE(ParseError(head + "h_seconds_bucket 2\n").find("has no le"), std::string::npos);
  EXPECT_NE(ParseError(head + "h_seconds_bucket{le=\"x\"} 2\n").find("not a number"),
            std::string::npos);
  // Per label set: one group's problem is found even when another is fine.
  EXPECT_NE(
      ParseError(head +
                 "h_seconds_bucket{r=\"a\",le=\"+Inf\"} 1\nh_seconds_bucket{r=\"b\",le=\"1\"} "
                 "1\n")
          .find("h_seconds r=\"b\""),
      std::string::npos);
}

TEST(MetricsParseTest, LintsLikePromtool) {
  // The problems `promtool check metrics` 2.42 reports for this text (checked by hand).
  auto r = ParsePrometheusText(
      "# HELP foo_ms x\n# TYPE foo_ms gauge\nfoo_ms 1\n"
      "# TYPE fooBar_total counter\nfooBar_total 1\n"
      "# HELP g_total x\n# TYPE g_total gauge\ng_total 1\n"
      "# HELP h_count x\n# TYPE h_count gauge\nh_count 1\n"
      "# HELP r_milliseconds x\n# TYPE r_milliseconds gauge\nr_milliseconds 1\n"
      "# HELP c x\n# TYPE c counter\nc 1\n"
      "# HELP x_gauge x\n# TYPE x_gauge gauge\nx_gauge 1\n"
      "# HELP ok_percent x\n# TYPE ok_percent gauge\nok_percent{someLabel=\"1\"} 1\n");
  ASSERT_TRUE(r) << r.error().message;
  std::vector<std::string> lint = LintPrometheusText(*r);
  std::vector<std::string> expected = {
      "foo_ms metric names should not contain abbreviated units",
      "fooBar_total no help text",
      "fooBar_total metric names should be written in 'snake_case' not 'camelCase'",
      "g_total non-counter metrics should not have \"_total\" suffix",
      "h_count non-histogram and non-summary metrics should not have \"_count\" suffix",
      "r_milliseconds use base unit \"seconds\" instead of \"milliseconds\"",
      "c counter metrics should have \"_total\" suffix",
      "x_gauge metric name should not include type 'gauge'",
      "ok_percent label names should be written in 'snake_case' not 'camelCase' (someLabel)"};
  EXPECT_EQ(lint, expected);
  MetricsSelfCheck check = SelfCheckMetricsText("# HELP c x\n# TYPE c counter\nc 1\n");
  EXPECT_FALSE(check.ok);
  EXPECT_EQ(check.families, 1u);
  EXPECT_EQ(check.error, "c counter metrics should have \"_total\" suffix");
  check = SelfCheckMetricsText("x{ 1\n");
  EXPECT_FALSE(check.ok);
  EXPECT_NE(check.error.find("line 1:"), std::string::npos);
}

}  // namespace
}  // namespace vigie::http
