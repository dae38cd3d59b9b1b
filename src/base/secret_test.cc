#include "base/secret.h"

#include <sstream>

#include <gtest/gtest.h>

namespace vigie {
namespace {

TEST(SecretBytesTest, PrintsRedacted) {
  auto s = SecretBytes::CopyFrom(std::string_view("hunter2-very-secret"));
  std::ostringstream os;
  os << s;
  EXPECT_EQ(os.str(), "[redacted]");
  EXPECT_EQ(fmt::format("pw={}", s), "pw=[redacted]");
}

TEST(SecretBytesTest, ConstantTimeEqualityAndSizes) {
  auto a = SecretBytes::CopyFrom(std::string_view("abc"));
  auto b = SecretBytes::CopyFrom(std::string_view("abc"));
  auto c = SecretBytes::CopyFrom(std::string_view("abd"));
  auto d = SecretBytes::CopyFrom(std::string_view("abcd"));
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a == c);
  EXPECT_FALSE(a == d);
  EXPECT_TRUE(SecretBytes() == SecretBytes());
}

TEST(SecretBytesTest, MoveLeavesSourceEmptyAndCloneIsDeep) {
  auto a = SecretBytes::CopyFrom(std::string_view("xyz"));
  SecretBytes b = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): documented moved-from state.
  EXPECT_EQ(b.view(), "xyz");
  SecretBytes c = b.Clone();
  c.data()[0] = 'q';
  EXPECT_EQ(b.view(), "xyz");
  EXPECT_EQ(c.view(), "qyz");
  static_assert(!std::is_copy_constructible_v<SecretBytes>);
  static_assert(!std::is_copy_assignable_v<SecretBytes>);
}

TEST(SecretBytesTest, WipeStringZeroesAndClears) {
  std::string s = "password";
  const char* p = s.data();
  WipeString(s);
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(p[0], '\0');
}

}  // namespace
}  // namespace vigie
