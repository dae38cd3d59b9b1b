#include "fleet/health_report.h"

#include <gtest/gtest.h>

namespace vigie::fleet {
namespace {

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

}  // namespace
}  // namespace vigie::fleet
