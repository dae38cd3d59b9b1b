#include "compliance/rule.h"

#include <gtest/gtest.h>

namespace vigie::compliance {
namespace {

TEST(RuleTest, StatusNamesAreStable) {
  EXPECT_EQ(StatusName(Status::kPass), "PASS");
  EXPECT_EQ(StatusName(Status::kFail), "FAIL");
  EXPECT_EQ(StatusName(Status::kNotApplicable), "NOT_APPLICABLE");
  EXPECT_EQ(ScopeName(Scope::kSite), "site");
  EXPECT_EQ(ScopeName(Scope::kFleet), "fleet");
}

TEST(RuleTest, HelpersBuildTheDocumentedResults) {
  CheckResult pass = Pass("backup 3 h old", {{"last_backup_at", "2026-01-01T00:00:00Z"}});
  EXPECT_EQ(pass.status, Status::kPass);
  EXPECT_EQ(pass.summary, "backup 3 h old");
  ASSERT_EQ(pass.evidence.size(), 1u);
  EXPECT_EQ(pass.evidence[0].key, "last_backup_at");

  CheckResult fail = Fail("backup 30 h old", "run vigie backup now");
  EXPECT_EQ(fail.status, Status::kFail);
  EXPECT_EQ(fail.remedy, "run vigie backup now");

  CheckResult none = NoEvidence("no backup recorded for site a", "enable the backup schedule");
  EXPECT_EQ(none.status, Status::kFail);
  EXPECT_EQ(none.summary, "no evidence: no backup recorded for site a");
  EXPECT_FALSE(none.remedy.empty());

  CheckResult na = NotApplicable("the infrastructure has no autoscaler");
  EXPECT_EQ(na.status, Status::kNotApplicable);
  EXPECT_EQ(na.summary, "the infrastructure has no autoscaler");
}

TEST(RuleTest, NotImplementedIsAFailWithARemedyAndIsRecognised) {
  CheckResult r = NotImplemented();
  EXPECT_EQ(r.status, Status::kFail);
  EXPECT_EQ(r.summary.rfind("not implemented:", 0), 0u);
  EXPECT_FALSE(r.remedy.empty());
  EXPECT_TRUE(IsNotImplemented(r));
  EXPECT_FALSE(IsNotImplemented(Fail("x", "y")));
  CheckResult passing_with_same_text = r;
  passing_with_same_text.status = Status::kPass;
  EXPECT_FALSE(IsNotImplemented(passing_with_same_text));
}

TEST(RuleTest, WorstOrdersFailAbovePassAboveNotApplicable) {
  EXPECT_EQ(Worst(Status::kPass, Status::kFail), Status::kFail);
  EXPECT_EQ(Worst(Status::kFail, Status::kNotApplicable), Status::kFail);
  EXPECT_EQ(Worst(Status::kNotApplicable, Status::kPass), Status::kPass);
  EXPECT_EQ(Worst(Status::kPass, Status::kNotApplicable), Status::kPass);
  EXPECT_EQ(Worst(Status::kNotApplicable, Status::kNotApplicable), Status::kNotApplicable);
}

}  // namespace
}  // namespace vigie::compliance
