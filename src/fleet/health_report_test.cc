#include "fleet/health_report.h"

#include <gtest/gtest.h>
#include <time.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace vigie::fleet {
namespace {

// ---------------------------------------------------------------------------------------------
// The former DOM-based ParseHealthReport, kept verbatim as the reference the SAX parse must
// match: same acceptance, same HealthReport, same error code and message.
namespace reference {

using nlohmann::json;

Status CheckComponent(const json& j, const std::string& name, HealthReport& out) {
  if (!j.is_object()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "heartbeat report: field " + name + " must be an object");
  }
  auto ok = j.find("ok");
  if (ok == j.end() || !ok->is_boolean()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "heartbeat report: field " + name + ".ok must be a boolean");
  }
  bool passed = ok->get<bool>();
  if (name == "vault") {
    auto sealed = j.find("sealed");
    if (sealed == j.end() || !sealed->is_boolean()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "heartbeat report: field vault.sealed must be a boolean");
    }
    if (sealed->get<bool>()) passed = false;
  }
  if (!passed) out.failing.push_back(name);
  return OkStatus();
}

Result<MetricsReport> ParseMetricsReport(const json& j) {
  auto bad = [](const std::string& what) {
    return MakeError(ErrorCode::kInvalidArgument, "heartbeat report: field metrics" + what);
  };
  if (!j.is_object()) return bad(" must be an object {\"ok\", \"families\", ...}");
  MetricsReport m;
  auto ok = j.find("ok");
  if (ok == j.end() || !ok->is_boolean()) return bad(".ok must be a boolean");
  m.ok = ok->get<bool>();
  auto count = [&](const char* key, bool required, int64_t& out) -> Status {
    auto it = j.find(key);
    if (it == j.end() && !required) return OkStatus();
    if (it == j.end() || !it->is_number_integer() || it->get<int64_t>() < 0) {
      return bad(std::string(".") + key + " must be a non-negative integer");
    }
    out = it->get<int64_t>();
    return OkStatus();
  };
  VIGIE_RETURN_IF_ERROR(count("families", true, m.families));
  VIGIE_RETURN_IF_ERROR(count("samples", false, m.samples));
  if (auto e = j.find("error"); e != j.end() && !e->is_null()) {
    if (!e->is_string()) return bad(".error must be a string");
    m.error = e->get<std::string>();
  }
  return m;
}

Result<HealthReport> OldParseHealthReport(std::string_view body) {
  json j;
  try {
    j = json::parse(body.begin(), body.end());
  } catch (const json::parse_error& e) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "malformed JSON at byte " + std::to_string(e.byte) + ": " + e.what());
  } catch (const json::exception& e) {
    return MakeError(ErrorCode::kInvalidArgument, std::string("malformed JSON: ") + e.what());
  }
  if (!j.is_object()) {
    return MakeError(ErrorCode::kInvalidArgument, "heartbeat report: must be a JSON object");
  }
  HealthReport out;
  auto version = j.find("agent_version");
  if (version == j.end() || !version->is_string() || version->get<std::string>().empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "heartbeat report: field agent_version must be a non-empty string");
  }
  out.agent_version = version->get<std::string>();
  for (const char* name : {"disk", "memory", "cpu"}) {
    auto it = j.find(name);
    if (it == j.end()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       std::string("heartbeat report: missing field ") + name);
    }
    VIGIE_RETURN_IF_ERROR(CheckComponent(*it, name, out));
  }
  auto services = j.find("services");
  if (services == j.end() || !services->is_object() || services->empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "heartbeat report: field services must be a non-empty object of the "
                     "agent's services");
  }
  for (const auto& [name, svc] : services->items()) {
    VIGIE_RETURN_IF_ERROR(CheckComponent(svc, "services." + name, out));
  }
  if (auto vault = j.find("vault"); vault != j.end() && !vault->is_null()) {
    VIGIE_RETURN_IF_ERROR(CheckComponent(*vault, "vault", out));
  }
  if (auto metrics = j.find("metrics"); metrics != j.end() && !metrics->is_null()) {
    VIGIE_ASSIGN_OR_RETURN(out.metrics, ParseMetricsReport(*metrics));
  }
  out.passed = out.failing.empty();
  return out;
}

}  // namespace reference

// The benchmark's body (bench/heartbeat_load.cc kReport, as agent::HealthReportJson writes it).
constexpr std::string_view kBenchBody =
    R"({"agent_version":"0.1.0","cpu":{"load_average":[0.42,0.37,0.31],"ok":true,)"
    R"("used_percent":7.5},"disk":{"ok":true,"paths":[{"path":"/","used_percent":41.2},)"
    R"({"path":"/var/lib/vigie","used_percent":12.8}]},"memory":{"ok":true,)"
    R"("used_percent":38.4},"services":{"vault-agent":{"ok":true},"vigie-agent":{"ok":true},)"
    R"("nginx":{"ok":true}}})";

// What the agent's Heartbeat() posts (src/agent/agent.cc: HealthReportJson plus the exchange's
// fields and the /metrics self-check), healthy with Vault, and failing without a reachable one.
constexpr std::string_view kAgentBody =
    R"({"admin_password_changed_at":"2024-05-01T10:00:00Z","admin_password_must_change":false,)"
    R"("agent_version":"0.1.0","cpu":{"load_average":[0.42,0.37,0.31],"ok":true,)"
    R"("used_percent":7.5},"disk":{"ok":true,"paths":[{"path":"/","used_percent":41.2}]},)"
    R"("failures":[],"memory":{"ok":true,"used_percent":38.4},)"
    R"("metrics":{"error":"","families":9,"ok":true,"samples":20},"package_id":"pkg-1",)"
    R"("passed":true,"sent_at":"2024-05-01T10:00:05Z","sequence":42,)"
    R"("services":{"admin_api":{"ok":true},"fleet_link":{"ok":true},"host_metrics":{"ok":true}},)"
    R"("site_id":"site-a","vault":{"initialized":true,"ok":true,"sealed":false,"type":"shamir"}})";
constexpr std::string_view kAgentFailingBody =
    R"({"admin_password_changed_at":null,"admin_password_must_change":true,)"
    R"("agent_version":"0.2.0-rc1","cpu":{"load_average":[3.5,2.25,1e-3],"ok":true,)"
    R"("used_percent":99.5},"disk":{"detail":"/ 97.0% used","ok":false,"paths":[{"path":"/",)"
    R"("used_percent":97.0}]},"failures":["service fleet_link is not ok: 3 failed exchanges",)"
    R"x("vault seal status unknown (vault configured but not reachable)"],)x"
    R"("memory":{"ok":false,"used_percent":95.25},)"
    R"("metrics":{"error":"line 2: \"x\" \u00e9","families":0,"ok":false,"samples":0},)"
    R"("package_id":"pkg-1","passed":false,"sent_at":"2024-05-01T10:00:05Z","sequence":43,)"
    R"("services":{"admin_api":{"ok":true},"fleet_link":{"detail":"3 failed exchanges",)"
    R"("ok":false},"host_metrics":{"ok":false,"detail":"read /proc/meminfo: ENOENT"}},)"
    R"x("site_id":"site-a","vault":{"detail":"seal status unknown (vault configured but not )x"
    R"x(reachable)","initialized":false,"ok":false,"sealed":true}})x";

// "" when the SAX parse and the reference agree on `body`, else what differs.
std::string Differs(std::string_view body) {
  auto want = reference::OldParseHealthReport(body);
  auto got = ParseHealthReport(body);
  if (want.has_value() != got.has_value()) {
    return std::string("acceptance: reference ") +
           (want ? "accepts" : "rejects (" + want.error().message + ")") + ", new " +
           (got ? "accepts" : "rejects (" + got.error().message + ")");
  }
  if (!want) {
    if (want.error().code != got.error().code || want.error().message != got.error().message) {
      return "error: reference \"" + want.error().message + "\", new \"" + got.error().message +
             "\"";
    }
    return "";
  }
  if (want->agent_version != got->agent_version) return "agent_version";
  if (want->passed != got->passed) return "passed";
  if (want->failing != got->failing) return "failing";
  if (want->metrics.has_value() != got->metrics.has_value()) return "metrics presence";
  if (want->metrics) {
    const MetricsReport& a = *want->metrics;
    const MetricsReport& b = *got->metrics;
    if (a.ok != b.ok || a.families != b.families || a.samples != b.samples || a.error != b.error) {
      return "metrics fields";
    }
  }
  return "";
}

// Checks every body, reporting at most a few mismatches; returns how many the reference accepts.
int ExpectAllSame(const std::vector<std::string>& bodies) {
  int accepted = 0, reported = 0;
  for (const std::string& body : bodies) {
    if (reference::OldParseHealthReport(body)) ++accepted;
    std::string diff = Differs(body);
    if (!diff.empty() && reported++ < 10) ADD_FAILURE() << diff << "\nbody: " << body;
  }
  return accepted;
}

TEST(HealthReportTest, PassingReport) {
  auto r = ParseHealthReport(R"({"agent_version":"0.1.0","disk":{"ok":true},"memory":{"ok":true},
    "cpu":{"ok":true},"services":{"vigie-agent":{"ok":true}},"vault":{"ok":true,"sealed":false}})");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->passed);
  EXPECT_TRUE(r->failing.empty());
}

TEST(HealthReportTest, FailingComponentsAreNamed) {
  auto r = ParseHealthReport(R"({"agent_version":"0.1.0","disk":{"ok":false},"memory":{"ok":true},
    "cpu":{"ok":true},"services":{"a":{"ok":true},"b":{"ok":false}},
    "vault":{"ok":true,"sealed":true}})");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->passed);
  EXPECT_EQ(r->failing, (std::vector<std::string>{"disk", "services.b", "vault"}));
}

TEST(HealthReportTest, MalformedJsonNamesThePosition) {
  auto r = ParseHealthReport(R"({"disk": tru})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("malformed JSON at byte 13"), std::string::npos)
      << r.error().message;
}

TEST(HealthReportTest, SchemaErrorsNameTheField) {
  auto r = ParseHealthReport(R"({"agent_version":"1","disk":{"ok":"yes"},"memory":{"ok":true},
    "cpu":{"ok":true},"services":{"a":{"ok":true}}})");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("disk.ok must be a boolean"), std::string::npos);
  r = ParseHealthReport(R"({"agent_version":"1","disk":{"ok":true},"memory":{"ok":true},
    "cpu":{"ok":true},"services":{}})");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("services"), std::string::npos);
  EXPECT_FALSE(ParseHealthReport("[]"));
}

// A valid report with `v` as the value of a field the parser ignores ("x" in "disk").
std::string InIgnoredField(std::string_view v) {
  return R"({"agent_version":"1","disk":{"ok":true,"x":)" + std::string(v) +
         R"(},"memory":{"ok":true},"cpu":{"ok":true},"services":{"a":{"ok":true}}})";
}

// Every input the fleet tests feed ParseHealthReport (here, metrics_selfcheck_test.cc, the agent's
// tests' shapes) plus the benchmark's and the agent's bodies parse exactly as before.
std::vector<std::string> KnownInputs() {
  const std::string base = R"({"agent_version":"0.1.0","disk":{"ok":true},
    "memory":{"ok":true},"cpu":{"ok":true},"services":{"a":{"ok":true}})";
  std::vector<std::string> in = {
      std::string(kBenchBody),
      std::string(kAgentBody),
      std::string(kAgentFailingBody),
      R"({"agent_version":"0.1.0","disk":{"ok":true},"memory":{"ok":true},
    "cpu":{"ok":true},"services":{"vigie-agent":{"ok":true}},"vault":{"ok":true,"sealed":false}})",
      R"({"agent_version":"0.1.0","disk":{"ok":false},"memory":{"ok":true},
    "cpu":{"ok":true},"services":{"a":{"ok":true},"b":{"ok":false}},
    "vault":{"ok":true,"sealed":true}})",
      R"({"disk": tru})",
      R"({"agent_version":"1","disk":{"ok":"yes"},"memory":{"ok":true},
    "cpu":{"ok":true},"services":{"a":{"ok":true}}})",
      R"({"agent_version":"1","disk":{"ok":true},"memory":{"ok":true},
    "cpu":{"ok":true},"services":{}})",
      "[]",
      "",
      " ",
      "null",
      "{}",
      "1e400",
      R"({"agent_version":"1","x":1e400})",
      base + "}",
      base + R"(,"metrics":{"ok":false,"families":3,"samples":7,"error":"line 2: x"}})",
  };
  // Around the scanner's edges: structure, literals, numbers, whitespace, strings, depth.
  for (const char* v : {"0",
                        "-0",
                        "01",
                        "-01",
                        "1.",
                        ".5",
                        "-",
                        "--1",
                        "+1",
                        "1e",
                        "1e+",
                        "1e-5",
                        "1E+05",
                        "1e99",
                        "1e100",
                        "1e400",
                        "1.5e308",
                        "123456789012345678",
                        "1234567890123456789",
                        "9223372036854775807",
                        "9223372036854775808",
                        "-9223372036854775808",
                        "18446744073709551615",
                        "18446744073709551616",
                        "0.0000000000000000000000000000000001",
                        "12345678901234567890123456789012345678901",
                        "-0.0",
                        "0e0",
                        "1.5e",
                        "true",
                        "tru",
                        "truex",
                        "false",
                        "fals",
                        "null",
                        "nul",
                        "nullx",
                        "[1,]",
                        "[,]",
                        "[1 2]",
                        "{}",
                        "{,}",
                        R"({"a":1,})",
                        R"({"a"})",
                        R"({"a":})",
                        R"({"a" 1})",
                        R"({1:2})",
                        R"("a\u00e9")",
                        R"("a\"b")",
                        "\"\x01\"",
                        "\"\x7f\"",
                        "\"\xc3\xa9\"",
                        "\"\xff\"",
                        "\"\xc3\"",
                        "[[[[[[[[[[]]]]]]]]]]",
                        "[[[[[[[[[[]]]]]]]]]",
                        "{\"a\":[]]"}) {
    in.push_back(InIgnoredField(v));
    in.push_back(base + R"(,"metrics":{"ok":true,"families":)" + v + "}}");
    in.push_back(v);
  }
  for (const char* ws : {" ", "\t", "\n", "\r", "\f", "\v", "\xc2\xa0", "\xef\xbb\xbf"}) {
    in.push_back(ws + base + ws + "}" + ws);
    in.push_back(base + "}" + ws);
  }
  in.push_back(base + "} x");
  in.push_back(base + "}}");
  in.push_back(base + "}" + std::string(1, '\0'));
  in.push_back(std::string(base).insert(5, 1, '\0') + "}");
  for (int depth : {63, 64, 65, 200}) {
    in.push_back(base + R"(,"deep":)" + std::string(depth, '[') + std::string(depth, ']') + "}");
    in.push_back(base + R"(,"deep":)" + std::string(depth, '[') + std::string(depth - 1, ']') +
                 "}");
  }
  for (const char* bad : {R"("metrics":true)", R"("metrics":{"families":1})",
                          R"("metrics":{"ok":true})", R"("metrics":{"ok":true,"families":-1})",
                          R"("metrics":{"ok":true,"families":1,"error":5})"}) {
    in.push_back(base + "," + bad + "}");
  }
  return in;
}

TEST(HealthReportEquivalenceTest, KnownInputsParseAsTheDomParserDid) {
  const auto inputs = KnownInputs();
  ExpectAllSame(inputs);
  // And the figures the server relies on, for the two real bodies.
  auto bench = ParseHealthReport(kBenchBody);
  ASSERT_TRUE(bench) << bench.error().ToString();
  EXPECT_EQ(bench->agent_version, "0.1.0");
  EXPECT_TRUE(bench->passed);
  EXPECT_FALSE(bench->metrics);
  auto agent = ParseHealthReport(kAgentFailingBody);
  ASSERT_TRUE(agent) << agent.error().ToString();
  EXPECT_EQ(agent->agent_version, "0.2.0-rc1");
  EXPECT_EQ(agent->failing, (std::vector<std::string>{"disk", "memory", "services.fleet_link",
                                                      "services.host_metrics", "vault"}));
  ASSERT_TRUE(agent->metrics);
  EXPECT_EQ(agent->metrics->error, "line 2: \"x\" \xc3\xa9");
}

// A key given twice counts with its last value, at every level (what the DOM parser kept), and
// services are judged in key order whatever their order in the body.
TEST(HealthReportTest, DuplicateKeysCountWithTheirLastValue) {
  const std::string body =
      R"({"agent_version":"0.0.1","agent_version":"0.1.0",)"
      R"("disk":{"ok":true},"disk":{"ok":false},"memory":{"ok":false,"ok":true},"cpu":5,)"
      R"("cpu":{"ok":true},"services":{"z":{"ok":false}},"services":{"b":{"ok":false},)"
      R"("a":{"ok":true},"b":{"ok":true},"c":[],"c":{"ok":false}},)"
      R"("vault":{"ok":true,"sealed":true,"sealed":false},"metrics":true,)"
      R"("metrics":{"ok":true,"families":-1,"families":4,"error":5,"error":null}})";
  auto r = ParseHealthReport(body);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->agent_version, "0.1.0");
  EXPECT_EQ(r->failing, (std::vector<std::string>{"disk", "services.c"}));
  ASSERT_TRUE(r->metrics);
  EXPECT_EQ(r->metrics->families, 4);
  EXPECT_EQ(r->metrics->error, "");
  EXPECT_EQ(Differs(body), "");
  // The last value decides the other way round too.
  auto bad = ParseHealthReport(
      R"({"agent_version":"1","disk":{"ok":true},"memory":{"ok":true},"cpu":{"ok":true},)"
      R"("services":{"a":{"ok":true},"a":{"ok":1}}})");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "heartbeat report: field services.a.ok must be a boolean");
  // Unknown fields anywhere are ignored, however nested.
  auto extra = ParseHealthReport(
      R"({"x":{"disk":1,"services":[{"ok":1}]},"agent_version":"1","disk":{"ok":true,"y":[[{}]]},)"
      R"("memory":{"ok":true},"cpu":{"ok":true},"services":{"a":{"ok":true,"sealed":"?"}}})");
  EXPECT_TRUE(extra) << extra.error().ToString();
}

// Where RapidJSON 1.1.0 and nlohmann could disagree (RapidJSON accepting what nlohmann rejects
// would be a bug; the reverse only costs the nlohmann fallback): each such input, as an ignored
// field, as a read field, as a key and as the whole body, parses exactly as the DOM parser did.
TEST(HealthReportEquivalenceTest, RapidJsonDivergencesParseAsTheDomParserDid) {
  const std::string base = R"({"agent_version":"0.1.0","disk":{"ok":true},
    "memory":{"ok":true},"cpu":{"ok":true},"services":{"a":{"ok":true}})";
  std::vector<std::string> in;
  // Strings: surrogate escapes (RapidJSON decodes a lone low one), NUL and other escapes, raw
  // control characters, invalid UTF-8 (overlong, raw surrogate, out of range, truncated).
  for (const char* v : {R"("\ud800")",
                        R"("\udc00")",
                        R"("\udfff")",
                        R"("x\udc00y")",
                        R"("\ud800\udc00")",
                        R"("\udbff\udfff")",
                        R"("\ud800x")",
                        R"("\ud800\u0041")",
                        R"("\ud800\ud800")",
                        R"("\udc00\ud800")",
                        R"("\u0000")",
                        R"("a\u0000b")",
                        R"("\u00e9\u20ac")",
                        R"("\u12")",
                        R"("\uzzzz")",
                        R"("\x")",
                        R"("\/\b\f\n\r\t\"\\")",
                        "\"\x01\"",
                        "\"\x1f\"",
                        "\"\x7f\"",
                        "\"\xc0\x80\"",
                        "\"\xc1\xbf\"",
                        "\"\xe0\x80\x80\"",
                        "\"\xed\xa0\x80\"",
                        "\"\xed\xbf\xbf\"",
                        "\"\xed\x9f\xbf\"",
                        "\"\xf4\x8f\xbf\xbf\"",
                        "\"\xf4\x90\x80\x80\"",
                        "\"\xf5\x80\x80\x80\"",
                        "\"\xe2\x82\"",
                        "\"\xe2\x82\xac\"",
                        "\"\x80\"",
                        "\"\xfe\""}) {
    in.push_back(InIgnoredField(v));
    in.push_back(R"({"agent_version":)" + std::string(v) +
                 R"(,"disk":{"ok":true},"memory":{"ok":true},"cpu":{"ok":true},)" +
                 R"("services":{"a":{"ok":true}}})");
    in.push_back(base + R"(,"metrics":{"ok":true,"families":1,"error":)" + v + "}}");
    in.push_back(base + "," + v + ":1}");
    in.push_back(R"({"agent_version":"1","disk":{"ok":true},"memory":{"ok":true},)"
                 R"("cpu":{"ok":true},"services":{)" +
                 std::string(v) + R"(:{"ok":false}}})");
    in.push_back(v);
  }
  // Numbers: the int64/uint64 limits (counts must fit int64_t), -0, doubles near and past
  // DBL_MAX (nlohmann rejects an overflow, RapidJSON's conversion is not correctly rounded).
  for (const char* v : {"0",
                        "-0",
                        "-0.0",
                        "0e0",
                        "4294967295",
                        "4294967296",
                        "-2147483648",
                        "-2147483649",
                        "9223372036854775807",
                        "9223372036854775808",
                        "-9223372036854775808",
                        "-9223372036854775809",
                        "18446744073709551615",
                        "18446744073709551616",
                        "184467440737095516150",
                        "1e308",
                        "-1e308",
                        "1.7976931348623157e308",
                        "1.7976931348623158e308",
                        "1.7976931348623159e308",
                        "1.79769313486231581e308",
                        "1.797693134862315807e308",
                        "1.797693134862315808e308",
                        "179769313486231580800e288",
                        "17976931348623157e292",
                        "2e308",
                        "1e309",
                        "1e400",
                        "-1e400",
                        "0e400",
                        "0.0e999",
                        "1e-400",
                        "1e-99999999999",
                        "4.9e-324",
                        "2.2250738585072014e-308",
                        "1E+2",
                        "1e+2",
                        "1.0",
                        "5e0"}) {
    in.push_back(InIgnoredField(v));
    in.push_back(base + R"(,"metrics":{"ok":true,"families":)" + v + "}}");
    in.push_back(base + R"(,"metrics":{"ok":true,"families":1,"samples":)" + v + "}}");
    in.push_back(v);
  }
  std::string huge_integer(400, '9');
  in.push_back(base + R"(,"metrics":{"ok":true,"families":)" + huge_integer + "}}");
  in.push_back(base + R"(,"x":)" + huge_integer + "}");
  // Bytes RapidJSON reads as the end of input, or does not skip: NUL, BOM, non-JSON whitespace.
  const std::string nul(1, '\0');
  in.push_back(base + "}" + nul);
  in.push_back(base + "} " + nul + " ");
  in.push_back(base + "}" + nul + "x");
  in.push_back(base + nul + "}");
  in.push_back(nul + base + "}");
  in.push_back(nul);
  in.push_back("\xef\xbb\xbf" + base + "}");
  in.push_back(base + "}\xef\xbb\xbf");
  in.push_back(base + "}\xc2\xa0");
  // No extensions: comments, NaN/Infinity, trailing commas, single quotes, unquoted keys.
  for (const char* v : {"NaN", "Infinity", "-Infinity", "/* c */ 1", "1 // c", "[1,]", "'a'",
                        "{a:1}", R"({"a":1,})", "0x10", "+1", ".5", "01"}) {
    in.push_back(InIgnoredField(v));
  }
  // Deep nesting in an ignored field, closed and unclosed: neither parser recurses on the C
  // stack (RapidJSON's iterative reader, nlohmann's sax_parse).
  for (int depth : {1000, 100000}) {
    for (const char* open_close : {"[]", "{}"}) {
      std::string deep;
      for (int i = 0; i < depth; ++i) deep += open_close[0] == '[' ? "[" : R"({"k":)";
      deep += "1";
      std::string closed = deep + std::string(depth, open_close[1]);
      in.push_back(base + R"(,"deep":)" + closed + "}");
      in.push_back(base + R"(,"deep":)" + deep + "}");
      in.push_back(closed);
    }
  }
  ExpectAllSame(in);
  // The acceptance side of the above, spelled out.
  EXPECT_FALSE(ParseHealthReport(base + R"(,"x":"\udc00"})"));
  EXPECT_FALSE(ParseHealthReport(base + R"(,"\udc00":1})"));
  EXPECT_FALSE(ParseHealthReport(base + R"(,"x":1e400})"));
  EXPECT_TRUE(ParseHealthReport(base + R"(,"x":"\ud800\udc00","y":"\u0000"})"));
  auto zero = ParseHealthReport(R"({"agent_version":"\u0000","disk":{"ok":true},)"
                                R"("memory":{"ok":true},"cpu":{"ok":true},)"
                                R"("services":{"a\u0000":{"ok":false}}})");
  ASSERT_TRUE(zero) << zero.error().ToString();
  EXPECT_EQ(zero->agent_version, nul);
  EXPECT_EQ(zero->failing, std::vector<std::string>{"services.a" + nul});
  auto limit = ParseHealthReport(base + R"(,"metrics":{"ok":true,"families":-0,)" +
                                 R"("samples":9223372036854775807}})");
  ASSERT_TRUE(limit) << limit.error().ToString();
  EXPECT_EQ(limit->metrics->families, 0);
  EXPECT_EQ(limit->metrics->samples, INT64_MAX);
  for (const char* too_big : {"9223372036854775808", "18446744073709551615", "1e2"}) {
    auto r = ParseHealthReport(base + R"(,"metrics":{"ok":true,"families":)" + too_big + "}}");
    ASSERT_FALSE(r) << too_big;
    EXPECT_EQ(r.error().message,
              "heartbeat report: field metrics.families must be a non-negative integer");
  }
  auto overflow = ParseHealthReport(base + R"(,"x":1e400})");
  ASSERT_FALSE(overflow);
  EXPECT_NE(overflow.error().message.find("number overflow"), std::string::npos)
      << overflow.error().message;
}

// --- The generated corpus -----------------------------------------------------------------------

using ordered_json = nlohmann::ordered_json;
using Path = std::vector<std::string>;  // object keys; array elements as "#<index>"

enum class Op { kRemove, kReplace, kDuplicateAfter, kDuplicateBefore, kWrapObject, kWrapArray };
struct Mutation {
  Path path;
  Op op;
  std::string alt;  // the replacement / duplicate's value (JSON text)
};

// Replacement values: every JSON type, the integer limits, and the shapes the parser looks for.
const std::vector<std::string>& Alternatives() {
  static const std::vector<std::string> alts = {
      R"("x")",
      R"("")",
      R"("0.1.0")",
      "0",
      "7",
      "-1",
      "-0",
      "1.5",
      "1e2",
      "9223372036854775807",
      "9223372036854775808",
      "18446744073709551615",
      "18446744073709551616",
      "null",
      "true",
      "false",
      "[]",
      R"([{"ok":true}])",
      "{}",
      R"({"ok":true})",
      R"({"ok":false})",
      R"({"ok":true,"sealed":false})",
      R"({"ok":true,"sealed":true})",
      R"({"ok":"yes"})",
      R"({"a":{"ok":false}})",
      R"({"ok":true,"families":3})",
      R"({"ok":false,"families":1,"samples":2,"error":"e"})"};
  return alts;
}

std::string IndexKey(size_t i) {
  std::string key = std::to_string(i);
  key.insert(key.begin(), '#');
  return key;
}

void Collect(const ordered_json& j, Path& at, std::vector<Path>& out) {
  out.push_back(at);
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      at.push_back(k);
      Collect(v, at, out);
      at.pop_back();
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      at.push_back(IndexKey(i));
      Collect(j[i], at, out);
      at.pop_back();
    }
  }
}

// Writes `j` as JSON text with `mutations` applied (duplicated keys are possible in text only).
void Emit(const ordered_json& j, Path& at, const std::vector<Mutation>& mutations,
          std::string& out);

// One member (`key` empty for an array element) at `at`.
void EmitMember(const std::string* key, const ordered_json& v, Path& at,
                const std::vector<Mutation>& mutations, bool& first, std::string& out) {
  const Mutation* m = nullptr;
  for (const Mutation& c : mutations) {
    if (c.path == at) m = &c;
  }
  auto emit_one = [&](const std::string& value_text) {
    if (!first) out += ',';
    first = false;
    if (key != nullptr) out += ordered_json(*key).dump() + ":";
    out += value_text;
  };
  auto original = [&] {
    std::string text;
    Emit(v, at, mutations, text);
    return text;
  };
  if (m == nullptr) return emit_one(original());
  switch (m->op) {
    case Op::kRemove:
      return;
    case Op::kReplace:
      return emit_one(m->alt);
    case Op::kDuplicateAfter:
      emit_one(original());
      return emit_one(m->alt);
    case Op::kDuplicateBefore:
      emit_one(m->alt);
      return emit_one(original());
    case Op::kWrapObject:
      return emit_one(std::string(R"({"ok":)").append(original()).append("}"));
    case Op::kWrapArray:
      return emit_one(std::string("[").append(original()).append("]"));
  }
}

void Emit(const ordered_json& j, Path& at, const std::vector<Mutation>& mutations,
          std::string& out) {
  bool first = true;
  if (j.is_object()) {
    out += '{';
    for (const auto& [k, v] : j.items()) {
      at.push_back(k);
      EmitMember(&k, v, at, mutations, first, out);
      at.pop_back();
    }
    out += '}';
  } else if (j.is_array()) {
    out += '[';
    for (size_t i = 0; i < j.size(); ++i) {
      at.push_back(IndexKey(i));
      EmitMember(nullptr, j[i], at, mutations, first, out);
      at.pop_back();
    }
    out += ']';
  } else {
    out += j.dump();
  }
}

std::string Mutate(const ordered_json& doc, const std::vector<Mutation>& mutations) {
  Path at;
  std::string out;
  Emit(doc, at, mutations, out);
  return out;
}

const std::vector<std::string_view>& RealBodies() {
  static const std::vector<std::string_view> bodies = {kBenchBody, kAgentBody, kAgentFailingBody};
  return bodies;
}

// Each field of the real bodies removed, retyped, duplicated (before and after, with every
// alternative), nested one level deeper; then random combinations of 2-4 such mutations.
TEST(HealthReportEquivalenceTest, MutatedReportsParseAsTheDomParserDid) {
  std::vector<std::string> corpus;
  std::mt19937 rng(20240501);
  const auto& alts = Alternatives();
  for (std::string_view body : RealBodies()) {
    const ordered_json doc = ordered_json::parse(body);
    std::vector<Path> paths;
    Path at;
    Collect(doc, at, paths);
    for (const Path& p : paths) {
      corpus.push_back(Mutate(doc, {{p, Op::kRemove, ""}}));
      corpus.push_back(Mutate(doc, {{p, Op::kWrapObject, ""}}));
      corpus.push_back(Mutate(doc, {{p, Op::kWrapArray, ""}}));
      for (const std::string& alt : alts) {
        corpus.push_back(Mutate(doc, {{p, Op::kReplace, alt}}));
        corpus.push_back(Mutate(doc, {{p, Op::kDuplicateAfter, alt}}));
        corpus.push_back(Mutate(doc, {{p, Op::kDuplicateBefore, alt}}));
      }
    }
    for (int i = 0; i < 3000; ++i) {
      std::vector<Mutation> ms;
      const int n = 2 + static_cast<int>(rng() % 3);
      for (int k = 0; k < n; ++k) {
        ms.push_back(
            {paths[rng() % paths.size()], static_cast<Op>(rng() % 6), alts[rng() % alts.size()]});
      }
      corpus.push_back(Mutate(doc, ms));
    }
  }
  const int accepted = ExpectAllSame(corpus);
  std::printf("mutated corpus: %zu bodies, %d accepted by the reference\n", corpus.size(),
              accepted);
  // The corpus exercises both outcomes.
  EXPECT_GT(accepted, 500);
  EXPECT_GT(static_cast<int>(corpus.size()) - accepted, 5000);
}

// Every prefix of the real bodies (and of a few mutated ones), and random byte edits.
TEST(HealthReportEquivalenceTest, TruncatedAndCorruptedBodiesFailAsTheDomParserDid) {
  std::vector<std::string> corpus;
  for (std::string_view body : RealBodies()) {
    for (size_t n = 0; n <= body.size(); ++n) corpus.emplace_back(body.substr(0, n));
  }
  std::mt19937 rng(7);
  const std::string alphabet = "{}[]\":,0123456789-+.eEtrufalsn \\/\tx\x01\xc3\xa9\xff";
  for (std::string_view body : RealBodies()) {
    for (int i = 0; i < 3000; ++i) {
      std::string b(body);
      const int edits = 1 + static_cast<int>(rng() % 3);
      for (int k = 0; k < edits; ++k) {
        const size_t pos = rng() % b.size();
        switch (rng() % 3) {
          case 0:
            b[pos] = alphabet[rng() % alphabet.size()];
            break;
          case 1:
            b.erase(pos, 1);
            break;
          default:
            b.insert(pos, 1, alphabet[rng() % alphabet.size()]);
            break;
        }
      }
      corpus.push_back(std::move(b));
    }
  }
  const int accepted = ExpectAllSame(corpus);
  std::printf("truncated/corrupted corpus: %zu bodies, %d accepted\n", corpus.size(), accepted);
  EXPECT_GT(accepted, 100);  // edits inside ignored strings and numbers keep a valid report
}

TEST(HealthReportEquivalenceTest, RandomBytesFailAsTheDomParserDid) {
  std::vector<std::string> corpus;
  std::mt19937 rng(11);
  const std::string alphabet = "{}[]\":,01-.eEtrufalsn ok";
  for (int i = 0; i < 20000; ++i) {
    std::string b(rng() % 48, '\0');
    const bool any_byte = i % 2 == 0;
    for (char& c : b) {
      c = any_byte ? static_cast<char>(rng() & 0xff) : alphabet[rng() % alphabet.size()];
    }
    corpus.push_back(std::move(b));
  }
  // Deep nesting, inside ignored fields and as the whole body.
  corpus.push_back(std::string(100000, '['));
  corpus.push_back(std::string(5000, '[') + std::string(5000, ']'));
  std::string deep = R"({"agent_version":"1","disk":{"ok":true,"d":)" + std::string(5000, '[') +
                     std::string(5000, ']') + R"(},"memory":{"ok":true},"cpu":{"ok":true},)" +
                     R"("services":{"a":{"ok":true}}})";
  corpus.push_back(deep);
  ExpectAllSame(corpus);
  EXPECT_TRUE(ParseHealthReport(deep)) << ParseHealthReport(deep).error().ToString();
}

// Run by hand: --gtest_also_run_disabled_tests --gtest_filter='*ParseTiming*'
// Thread CPU time, not wall time: the machine is shared and loaded.
TEST(HealthReportEquivalenceTest, DISABLED_ParseTimingDomVersusScan) {
  auto cpu_ns = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
  };
  for (std::string_view body : {kBenchBody, kAgentBody}) {
    constexpr int kIterations = 200000;
    for (int round = 0; round < 3; ++round) {
      size_t sink = 0;
      const double t0 = cpu_ns();
      for (int i = 0; i < kIterations; ++i) {
        sink += reference::OldParseHealthReport(body)->agent_version.size();
      }
      const double t1 = cpu_ns();
      for (int i = 0; i < kIterations; ++i) sink += ParseHealthReport(body)->agent_version.size();
      const double t2 = cpu_ns();
      std::printf("%zu-byte body: DOM %.0f ns/parse, new %.0f ns/parse (CPU time; sink %zu)\n",
                  body.size(), (t1 - t0) / kIterations, (t2 - t1) / kIterations, sink);
    }
  }
}

}  // namespace
}  // namespace vigie::fleet
