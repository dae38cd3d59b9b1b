#include "compliance/cli.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

namespace vigie::compliance {
namespace {

// A FILE* writing into memory; Take() closes it and returns what was written.
class MemFile {
 public:
  MemFile() : file_(open_memstream(&buf_, &size_)) {}
  ~MemFile() {
    if (file_) std::fclose(file_);
    std::free(buf_);
  }
  std::FILE* get() { return file_; }
  std::string Take() {
    std::fclose(file_);
    file_ = nullptr;
    return std::string(buf_, size_);
  }

 private:
  char* buf_ = nullptr;
  size_t size_ = 0;
  std::FILE* file_;
};

class CliTest : public ::testing::Test {
 protected:
  CliTest() : evidence_(FromUnixSeconds(1'800'000'000)) {
    evidence_.AddSite("a");
    evidence_.AddSite("b");
    registry_.Register("MAINT_010", [](const RuleInfo&, EvidenceSource&, std::string_view site) {
      return site == "b" ? Fail("backup 30 h old", "run the backup") : Pass("backup 1 h old");
    });
    registry_.Register("MAINT_054", [](const RuleInfo&, EvidenceSource&, std::string_view) {
      return NotApplicable("no autoscaler");
    });
  }

  int Run(const ComplianceCheckOptions& opts) {
    MemFile out, err;
    int rc = RunComplianceCheck(opts, registry_, evidence_, out.get(), err.get());
    out_ = out.Take();
    err_ = err.Take();
    return rc;
  }

  MemoryEvidence evidence_;
  RuleRegistry registry_;
  std::string out_, err_;
};

TEST_F(CliTest, ExitZeroWhenNothingFails) {
  EXPECT_EQ(Run({"a", {"MAINT_010", "MAINT_054"}, "text", false}), 0);
  EXPECT_NE(out_.find("2 rules, 1 pass, 0 fail, 1 n/a"), std::string::npos) << out_;
  EXPECT_EQ(err_, "");
}

TEST_F(CliTest, ExitOneWhenSomethingFails) {
  EXPECT_EQ(Run({"", {"MAINT_010"}, "text", false}), 1);
  EXPECT_NE(out_.find("1 rules, 0 pass, 1 fail, 0 n/a"), std::string::npos) << out_;
  EXPECT_EQ(Run({"b", {"MAINT_010"}, "json", false}), 1);
  EXPECT_EQ(nlohmann::json::parse(out_)["ok"], false);
}

TEST_F(CliTest, ExitTwoForBadFilterOrFormatWithMessageOnStderr) {
  EXPECT_EQ(Run({"", {"MAINT_999"}, "text", false}), 2);
  EXPECT_EQ(out_, "");
  EXPECT_NE(err_.find("invalid_argument: unknown rule id 'MAINT_999'"), std::string::npos) << err_;

  EXPECT_EQ(Run({"nowhere", {}, "text", false}), 2);
  EXPECT_EQ(out_, "");
  EXPECT_NE(err_.find("unknown site 'nowhere'"), std::string::npos) << err_;

  EXPECT_EQ(Run({"", {}, "yaml", false}), 2);
  EXPECT_EQ(out_, "");
  EXPECT_NE(err_.find("'yaml'"), std::string::npos) << err_;
}

TEST_F(CliTest, FormatsSelectTheRenderer) {
  Run({"", {"MAINT_010"}, "junit", false});
  EXPECT_EQ(out_.rfind("<?xml", 0), 0u);
  Run({"", {"MAINT_010"}, "json", false});
  EXPECT_EQ(nlohmann::json::parse(out_)["schema"], "vigie.compliance.v1");
  Run({"", {"MAINT_010"}, "text", true});
  EXPECT_NE(out_.find('\x1b'), std::string::npos);
  Run({"", {"MAINT_010"}, "text", false});
  EXPECT_EQ(out_.find('\x1b'), std::string::npos);
}

TEST(CliDefaultRegistryTest, EveryRuleFailsTodaySoExitIsOne) {
  MemoryEvidence evidence(FromUnixSeconds(1'800'000'000));
  evidence.AddSite("a");
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&buf, &size);
  ComplianceCheckOptions opts;
  opts.format = "json";
  int rc = RunComplianceCheck(opts, evidence, out);
  std::fclose(out);
  std::string json(buf, size);
  std::free(buf);
  EXPECT_EQ(rc, 1);
  auto doc = nlohmann::json::parse(json);
  EXPECT_EQ(doc["totals"]["fail"], 49);
}

}  // namespace
}  // namespace vigie::compliance
