// The catalog (src/compliance/catalog.cc) and spec/INVARIANTS.md agree: same ids, same order,
// same titles; and `vigie compliance check --format json` reports every spec rule exactly once.

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "compliance/cli.h"
#include "compliance/registry.h"
#include "testing/temp_dir.h"

namespace vigie::compliance {
namespace {

// (id, title) of every row of the rule tables of spec/INVARIANTS.md, in file order.
std::vector<std::pair<std::string, std::string>> SpecRules() {
  std::string path = vigie::testing::SourceDir() + "/spec/INVARIANTS.md";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  const std::regex row(R"(^\|\s*((PROV|MAINT)_[0-9]{3})\s*\|\s*([^|]*?)\s*\|.*)");
  std::vector<std::pair<std::string, std::string>> rules;
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, row)) rules.emplace_back(m[1], m[3]);
  }
  return rules;
}

TEST(CatalogSpec, CatalogHoldsExactlyTheSpecRulesAndTitles) {
  auto spec = SpecRules();
  ASSERT_EQ(spec.size(), 49u) << "the spec's tables should hold 49 rules";
  auto catalog = Catalog();
  ASSERT_EQ(catalog.size(), spec.size());
  for (size_t i = 0; i < spec.size(); ++i) {
    EXPECT_EQ(catalog[i].id, spec[i].first) << "row " << i;
    EXPECT_EQ(catalog[i].title, spec[i].second) << spec[i].first;
  }
}

TEST(CatalogSpec, JsonCheckReportsEverySpecRuleOnce) {
  MemoryEvidence evidence(FromUnixSeconds(1'800'000'000));
  evidence.AddSite("site-a");
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&buf, &size);
  ASSERT_NE(out, nullptr);
  ComplianceCheckOptions opts;
  opts.format = "json";
  int rc = RunComplianceCheck(opts, evidence, out);
  std::fclose(out);
  std::string text(buf, size);
  std::free(buf);
  EXPECT_EQ(rc, 1) << "no capability exists yet: every rule FAILs";

  auto doc = nlohmann::json::parse(text);
  std::map<std::string, int> seen;
  for (const auto& rule : doc.at("rules")) seen[rule.at("id").get<std::string>()]++;
  auto spec = SpecRules();
  for (const auto& [id, title] : spec) {
    EXPECT_EQ(seen[id], 1) << id;
  }
  EXPECT_EQ(seen.size(), spec.size()) << "the report holds ids absent from the spec";
}

}  // namespace
}  // namespace vigie::compliance
