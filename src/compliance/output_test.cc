#include "compliance/output.h"

#include <gtest/gtest.h>

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace vigie::compliance {
namespace {

const WallTime kNow = FromUnixSeconds(1'800'000'000);  // 2027-01-15T08:00:00Z

// Results in a report of every rule over two sites: per-site rules twice, fleet rules once.
size_t ExpectedResults() {
  size_t n = 0;
  for (const RuleInfo& rule : Catalog()) n += rule.scope == Scope::kFleet ? 1 : 2;
  return n;
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

Report AllNotImplemented() {
  MemoryEvidence evidence(kNow);
  evidence.AddSite("site-a");
  evidence.AddSite("site-b");
  // Placeholders for every rule (rendering is under test, not the checks, which land one by one).
  RuleRegistry registry;
  for (const RuleInfo& rule : Catalog()) registry.RegisterNotImplemented(rule.id);
  return *Evaluate(registry, evidence);
}

// A small report with one rule of each status and hostile text in the failing one.
Report Mixed() {
  MemoryEvidence evidence(kNow);
  evidence.AddSite("a");
  evidence.AddSite("b");
  RuleRegistry registry;
  registry.Register("MAINT_010", [](const RuleInfo&, EvidenceSource&, std::string_view site) {
    return Pass("backup 2 h old",
                {{"last_backup_at", "2027-01-15T06:00:00Z"}, {"site", std::string(site)}});
  });
  registry.Register("MAINT_054", [](const RuleInfo&, EvidenceSource&, std::string_view) {
    return NotApplicable("no autoscaler <here> & \"there\"");
  });
  registry.Register("MAINT_004", [](const RuleInfo&, EvidenceSource&, std::string_view) {
    return Fail("query <a href=\"x\">&amp; 'q'\x1b[2J\nsecond line", "edit <dashboards> & retry",
                {{"dashboard", "fleet&<overview>"}});
  });
  return *Evaluate(registry, evidence, Filter{{}, {"MAINT_010", "MAINT_054", "MAINT_004"}});
}

TEST(RenderTextTest, TableHasHeaderRowsAndTotals) {
  std::string text = RenderText(AllNotImplemented(), /*color=*/false);
  EXPECT_NE(text.find("2027-01-15T08:00:00Z"), std::string::npos);
  std::istringstream lines(text);
  std::string line, header;
  while (std::getline(lines, line)) {
    if (line.rfind("RULE", 0) == 0) header = line;
  }
  ASSERT_FALSE(header.empty()) << text;
  size_t rule = header.find("RULE"), title = header.find("TITLE"), site = header.find("SITE"),
         status = header.find("STATUS"), evidence = header.find("EVIDENCE");
  EXPECT_TRUE(rule < title && title < site && site < status && status < evidence) << header;
  EXPECT_NE(text.find("\n49 rules, 0 pass, 49 fail, 0 n/a\n"), std::string::npos) << text;
  EXPECT_EQ(Count(text, "not implemented: the capability"), ExpectedResults());
  EXPECT_NE(text.find("PROV_001   a dedicated cloud IAM user per site"), std::string::npos);
}

TEST(RenderTextTest, LongTitlesAreTruncatedAndColumnsAligned) {
  std::string text = RenderText(AllNotImplemented(), false);
  // "the site registers itself with the fleet manager (mandatory)" is 60 columns.
  EXPECT_EQ(text.find("the site registers itself with the fleet manager (mandatory)"),
            std::string::npos);
  EXPECT_NE(text.find("the site registers itself with the fl..."), std::string::npos);
  // Every row puts its status at the header's STATUS column.
  std::istringstream lines(text);
  std::string line;
  size_t status_col = std::string::npos;
  int rows = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("RULE", 0) == 0) status_col = line.find("STATUS");
    if (line.rfind("PROV_", 0) == 0 && line.find("PROV_013") == std::string::npos) {
      // ASCII-only rows: byte offset == column.
      EXPECT_EQ(line.find("FAIL"), status_col) << line;
      ++rows;
    }
  }
  EXPECT_GT(rows, 10);
}

TEST(RenderTextTest, ColorOnlyWhenAsked) {
  Report report = Mixed();
  std::string plain = RenderText(report, false);
  EXPECT_EQ(plain.find('\x1b'), std::string::npos) << "no ESC byte, even from a hostile summary";
  size_t query = plain.find("query <a");
  ASSERT_NE(query, std::string::npos) << plain;
  EXPECT_GT(plain.find('\n', query), plain.find("second line")) << "a summary stays on one line";
  std::string colored = RenderText(report, true);
  EXPECT_NE(colored.find("\x1b[32mPASS"), std::string::npos);
  EXPECT_NE(colored.find("\x1b[31mFAIL"), std::string::npos);
  EXPECT_NE(colored.find("\x1b[33mN/A"), std::string::npos);
  EXPECT_NE(colored.find("\x1b[0m"), std::string::npos);
  EXPECT_NE(plain.find("3 rules, 1 pass, 1 fail, 1 n/a"), std::string::npos) << plain;
  EXPECT_NE(plain.find("MAINT_004"), std::string::npos);
}

TEST(RenderJsonTest, FollowsSchemaV1) {
  nlohmann::json doc = nlohmann::json::parse(RenderJson(Mixed()));
  EXPECT_EQ(doc["schema"], "vigie.compliance.v1");
  EXPECT_EQ(doc["generated_at"], "2027-01-15T08:00:00Z");
  EXPECT_EQ(doc["ok"], false);
  EXPECT_EQ(doc["totals"], (nlohmann::json{{"pass", 1}, {"fail", 1}, {"not_applicable", 1}}));
  ASSERT_EQ(doc["rules"].size(), 3u);
  const auto& fleet = doc["rules"][0];
  EXPECT_EQ(fleet["id"], "MAINT_004");
  EXPECT_EQ(fleet["title"], "monitoring dashboards (Grafana)");
  EXPECT_EQ(fleet["section"], "Maintenance: monitoring and alerting");
  EXPECT_EQ(fleet["scope"], "fleet");
  EXPECT_EQ(fleet["status"], "FAIL");
  ASSERT_EQ(fleet["results"].size(), 1u);
  EXPECT_EQ(fleet["results"][0]["site"], "");
  EXPECT_EQ(fleet["results"][0]["remedy"], "edit <dashboards> & retry");
  EXPECT_EQ(fleet["results"][0]["evidence"]["dashboard"], "fleet&<overview>");

  EXPECT_EQ(doc["rules"][1]["id"], "MAINT_054") << "catalog order";
  EXPECT_EQ(doc["rules"][1]["status"], "NOT_APPLICABLE");
  const auto& backup = doc["rules"][2];
  EXPECT_EQ(backup["id"], "MAINT_010");
  EXPECT_EQ(backup["scope"], "site");
  EXPECT_EQ(backup["status"], "PASS");
  ASSERT_EQ(backup["results"].size(), 2u);
  EXPECT_EQ(backup["results"][1]["site"], "b");
  EXPECT_EQ(backup["results"][1]["status"], "PASS");
  EXPECT_EQ(backup["results"][1]["summary"], "backup 2 h old");
  EXPECT_EQ(backup["results"][1]["remedy"], "");
  EXPECT_EQ(backup["results"][1]["evidence"],
            (nlohmann::json{{"last_backup_at", "2027-01-15T06:00:00Z"}, {"site", "b"}}));
}

TEST(RenderJsonTest, KeysInDocumentedOrderAndOkTrueWhenNothingFails) {
  MemoryEvidence evidence(kNow);
  evidence.AddSite("a");
  RuleRegistry registry;
  registry.Register(
      "MAINT_010", [](const RuleInfo&, EvidenceSource&, std::string_view) { return Pass("fine"); });
  std::string json = RenderJson(*Evaluate(registry, evidence, Filter{{}, {"MAINT_010"}}));
  size_t schema = json.find("\"schema\""), generated = json.find("\"generated_at\""),
         ok = json.find("\"ok\""), totals = json.find("\"totals\""), rules = json.find("\"rules\"");
  EXPECT_TRUE(schema < generated && generated < ok && ok < totals && totals < rules) << json;
  EXPECT_EQ(nlohmann::json::parse(json)["ok"], true);
}

TEST(RenderJsonTest, InvalidUtf8DoesNotThrow) {
  MemoryEvidence evidence(kNow);
  evidence.AddSite("a");
  RuleRegistry registry;
  registry.Register("MAINT_010", [](const RuleInfo&, EvidenceSource&, std::string_view) {
    return Fail("bad \xff\xfe bytes", "fix");
  });
  std::string json;
  ASSERT_NO_THROW(json = RenderJson(*Evaluate(registry, evidence, Filter{{}, {"MAINT_010"}})));
  EXPECT_NO_THROW(nlohmann::json::parse(json));
}

// The DOM rendering RenderJson replaced (schema v1 as first shipped): the byte-for-byte
// reference of the direct writer.
std::string ReferenceJson(const Report& report) {
  using Json = nlohmann::ordered_json;
  Json rules = Json::array();
  for (const RuleReport& rule : report.rules) {
    Json results = Json::array();
    for (const auto& [site, result] : rule.results) {
      Json evidence = Json::object();
      for (const EvidenceItem& item : result.evidence) evidence[item.key] = item.value;
      results.push_back(Json{{"site", site},
                             {"status", StatusName(result.status)},
                             {"summary", result.summary},
                             {"remedy", result.remedy},
                             {"evidence", std::move(evidence)}});
    }
    rules.push_back(Json{{"id", rule.info.id},
                         {"title", rule.info.title},
                         {"section", rule.info.section},
                         {"scope", ScopeName(rule.info.scope)},
                         {"status", StatusName(rule.status())},
                         {"results", std::move(results)}});
  }
  Json doc{{"schema", "vigie.compliance.v1"},
           {"generated_at", FormatRfc3339(report.generated_at)},
           {"ok", report.ok()},
           {"totals",
            {{"pass", report.totals.pass},
             {"fail", report.totals.fail},
             {"not_applicable", report.totals.not_applicable}}},
           {"rules", std::move(rules)}};
  return doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

// Hostile strings: every escape, control bytes, valid 2/3/4-byte UTF-8, and invalid sequences of
// every kind (stray continuation, truncated, overlong, surrogate, > U+10FFFF, 0xFE/0xFF).
const std::vector<std::string> kHostile = {
    "",
    "plain ascii",
    "quote \" backslash \\ slash /",
    std::string("nul \0 byte", 10),
    "\x01\x07\x08\x09\x0a\x0b\x0c\x0d\x1b\x1f\x20\x7f",
    "caf\xc3\xa9 \xe2\x89\xa5 128 bits \xf0\x9f\x94\x92",
    "stray \x80 continuation",
    "truncated \xe2\x82",
    "truncated at end \xe2\x82",
    "\xe2\x82",
    "overlong \xc0\xaf and \xe0\x80\xaf",
    "surrogate \xed\xa0\x80",
    "too big \xf4\x90\x80\x80 and \xf5\x80\x80\x80",
    "\xff\xfe bytes",
    "mixed \xc3\xa9\xff\"\n\xe2\x82\xac",
};

TEST(RenderJsonTest, ByteIdenticalToTheDomRendering) {
  std::vector<Report> reports = {AllNotImplemented(), Mixed(), Report{}};
  // Every hostile string in every field that is check text, plus duplicate evidence keys (the
  // last value wins, in the first key's place) and empty evidence.
  Report hostile;
  hostile.generated_at = kNow;
  RuleReport rule{*FindRule("MAINT_010"), {}};
  for (size_t i = 0; i < kHostile.size(); ++i) {
    const std::string& h = kHostile[i];
    CheckResult r = i % 2 ? Fail(h, h, {{h, h}, {"k", "1"}, {h, "dup"}}) : NotApplicable(h);
    rule.results.emplace_back(h, std::move(r));
  }
  hostile.rules.push_back(rule);
  hostile.rules.push_back(RuleReport{*FindRule("MAINT_004"), {}});  // no result at all
  hostile.totals = {0, 2, 0};
  reports.push_back(hostile);
  // Random bytes, biased towards the interesting ones.
  uint32_t seed = 12345;
  auto next = [&] { return seed = seed * 1664525u + 1013904223u; };
  const std::string alphabet = "a\"\\\n\x01\x7f\x80\xbf\xc2\xc3\xe0\xe2\xed\xef\xf0\xf4\xf5\xff";
  Report random;
  random.generated_at = kNow;
  RuleReport random_rule{*FindRule("PROV_001"), {}};
  for (int i = 0; i < 2000; ++i) {
    std::string text;
    for (uint32_t n = next() % 12; n > 0; --n) {
      text += (next() % 3 == 0) ? static_cast<char>(next() >> 24)
                                : alphabet[(next() >> 16) % alphabet.size()];
    }
    random_rule.results.emplace_back(text, Fail(text, text, {{text, text}}));
  }
  random.rules.push_back(random_rule);
  reports.push_back(random);

  for (size_t i = 0; i < reports.size(); ++i) {
    EXPECT_EQ(RenderJson(reports[i]), ReferenceJson(reports[i])) << "report " << i;
  }
}

boost::property_tree::ptree ParseXml(const std::string& xml) {
  std::istringstream in(xml);
  boost::property_tree::ptree tree;
  boost::property_tree::read_xml(in, tree);  // throws on malformed XML
  return tree;
}

TEST(RenderJunitTest, WellFormedWithOneTestcasePerRuleAndSite) {
  std::string xml = RenderJunit(AllNotImplemented());
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 0), 0u);
  EXPECT_EQ(Count(xml, "<testsuites "), 1u);
  EXPECT_EQ(Count(xml, "</testsuites>"), 1u);
  EXPECT_EQ(Count(xml, "<testsuite "), 9u);
  EXPECT_EQ(Count(xml, "</testsuite>"), 9u);
  EXPECT_EQ(Count(xml, "<testcase "), ExpectedResults());
  EXPECT_EQ(Count(xml, "</testcase>"), ExpectedResults());
  EXPECT_EQ(Count(xml, "<failure "), ExpectedResults());
  EXPECT_EQ(Count(xml, "</failure>"), ExpectedResults());
  EXPECT_NE(xml.find("<testcase name=\"PROV_001[site-a]\" "
                     "classname=\"vigie.compliance.provisioning_identity_and_credentials\">"),
            std::string::npos);
  EXPECT_NE(xml.find("<testcase name=\"MAINT_004\" "
                     "classname=\"vigie.compliance.maintenance_monitoring_and_alerting\">"),
            std::string::npos);
  std::string n = std::to_string(ExpectedResults());
  EXPECT_NE(xml.find("tests=\"" + n + "\" failures=\"" + n + "\" errors=\"0\" skipped=\"0\""),
            std::string::npos);

  auto tree = ParseXml(xml);
  int suites = 0, cases = 0;
  for (const auto& [name, suite] : tree.get_child("testsuites")) {
    if (name != "testsuite") continue;
    ++suites;
    int in_suite = 0;
    for (const auto& [child, testcase] : suite) {
      if (child != "testcase") continue;
      ++in_suite;
      EXPECT_TRUE(testcase.get_child_optional("failure").has_value());
    }
    EXPECT_EQ(suite.get<int>("<xmlattr>.tests"), in_suite);
    cases += in_suite;
  }
  EXPECT_EQ(suites, 9);
  EXPECT_EQ(cases, static_cast<int>(ExpectedResults()));
}

TEST(RenderJunitTest, EscapesAndMapsStatuses) {
  std::string xml = RenderJunit(Mixed());
  EXPECT_EQ(xml.find('\x1b'), std::string::npos);
  EXPECT_NE(xml.find("message=\"query &lt;a href=&quot;x&quot;&gt;&amp;amp; &apos;q&apos;"),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("remedy: edit &lt;dashboards&gt; &amp; retry"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<skipped message=\"no autoscaler &lt;here&gt; &amp; &quot;there&quot;\"/>"),
            std::string::npos)
      << xml;

  auto tree = ParseXml(xml);
  std::map<std::string, std::string> outcome;  // testcase name -> failure/skipped/pass
  for (const auto& [name, suite] : tree.get_child("testsuites")) {
    if (name != "testsuite") continue;
    for (const auto& [child, testcase] : suite) {
      if (child != "testcase") continue;
      std::string id = testcase.get<std::string>("<xmlattr>.name");
      if (auto f = testcase.get_child_optional("failure")) {
        outcome[id] = "failure";
        // The parser unescapes: the original text round-trips (control bytes replaced).
        EXPECT_EQ(f->get<std::string>("<xmlattr>.message"),
                  "query <a href=\"x\">&amp; 'q'?[2J\nsecond line");
      } else if (testcase.get_child_optional("skipped")) {
        outcome[id] = "skipped";
      } else {
        outcome[id] = "pass";
      }
    }
  }
  EXPECT_EQ(outcome, (std::map<std::string, std::string>{{"MAINT_004", "failure"},
                                                         {"MAINT_010[a]", "pass"},
                                                         {"MAINT_010[b]", "pass"},
                                                         {"MAINT_054[a]", "skipped"},
                                                         {"MAINT_054[b]", "skipped"}}));
}

}  // namespace
}  // namespace vigie::compliance
