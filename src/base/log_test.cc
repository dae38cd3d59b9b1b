#include "base/log.h"

#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/secret.h"

namespace vigie {
namespace {

// A structure holding a secret, with the formatter a developer would naturally write.
struct Credential {
  std::string user;
  SecretBytes password;
};

}  // namespace
}  // namespace vigie

template <>
struct fmt::formatter<vigie::Credential> : fmt::formatter<std::string_view> {
  template <typename Ctx>
  auto format(const vigie::Credential& c, Ctx& ctx) const {
    return fmt::format_to(ctx.out(), "{{user={}, password={}}}", c.user, c.password);
  }
};

namespace vigie {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override { log::LogToStream(out_); }
  void TearDown() override { log::LogToStderr(); }
  std::ostringstream out_;
};

TEST_F(LogTest, StructHoldingSecretIsRedacted) {
  Credential cred{"admin", SecretBytes::CopyFrom(std::string_view("S3cr3t-Pa55-zzq"))};
  log::Info("credential.created", {{"site", "site-a"}, {"credential", cred},
                                   {"secret", cred.password}});
  std::string line = out_.str();
  EXPECT_EQ(line.find("S3cr3t-Pa55-zzq"), std::string::npos) << line;
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["event"], "credential.created");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["site"], "site-a");
  EXPECT_EQ(j["credential"], "{user=admin, password=[redacted]}");
  EXPECT_EQ(j["secret"], "[redacted]");
}

TEST_F(LogTest, OneJsonObjectPerLineWithTypedFields) {
  log::Warn("heartbeat.late", {{"count", 3}, {"ratio", 0.5}, {"ok", false}, {"event", "x"}});
  log::Debug("second", {{"n", uint64_t{7}}});
  std::istringstream in(out_.str());
  std::string l1, l2;
  ASSERT_TRUE(std::getline(in, l1));
  ASSERT_TRUE(std::getline(in, l2));
  auto j1 = nlohmann::json::parse(l1);
  EXPECT_EQ(j1["count"], 3);
  EXPECT_EQ(j1["ratio"], 0.5);
  EXPECT_EQ(j1["ok"], false);
  EXPECT_EQ(j1["event"], "heartbeat.late");  // a field cannot overwrite the event name
  EXPECT_EQ(j1["_event"], "x");
  EXPECT_TRUE(j1["ts"].get<std::string>().ends_with("Z"));
  EXPECT_EQ(nlohmann::json::parse(l2)["n"], 7);
}

TEST_F(LogTest, LevelFilterDropsLowerLevels) {
  log::LogToStream(out_, log::Level::kWarn);
  log::Info("dropped");
  log::Error("kept");
  EXPECT_EQ(out_.str().find("dropped"), std::string::npos);
  EXPECT_NE(out_.str().find("kept"), std::string::npos);
}

TEST_F(LogTest, InvalidUtf8DoesNotThrow) {
  log::Info("bytes", {{"v", std::string("\xff\xfe", 2)}});
  EXPECT_NE(out_.str().find("bytes"), std::string::npos);
}

}  // namespace
}  // namespace vigie
