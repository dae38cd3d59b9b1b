#include "base/secret.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

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

// Memory mappings of this process (/proc/self/maps lines).
size_t Mappings() {
  std::ifstream maps("/proc/self/maps");
  size_t n = 0;
  for (std::string line; std::getline(maps, line);) ++n;
  return n;
}

// A slab holds 100,000 secrets in a hundred protected regions: one SecretBytes each would need
// ~300,000 mappings, past vm.max_map_count (65530 by default), where sodium_malloc fails.
TEST(SecretSlabTest, ManySecretsTakeFewMappings) {
  SecretSlab slab(64, 1024);
  const size_t before = Mappings();
  std::vector<SecretBytes> secrets;
  secrets.reserve(100'000);
  for (int i = 0; i < 100'000; ++i) {
    const std::string value = "agent-secret-" + std::to_string(i);
    secrets.push_back(SecretBytes::CopyInto(
        slab,
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(value.data()), value.size())));
  }
  EXPECT_EQ(slab.chunks(), 98u);  // ceil(100000 / 1024)
  EXPECT_EQ(slab.in_use(), 100'000u);
  EXPECT_LT(Mappings(), before + 1000);
  EXPECT_EQ(secrets[12345].view(), "agent-secret-12345");
  EXPECT_EQ(secrets[99999].view(), "agent-secret-99999");
  secrets.clear();
  EXPECT_EQ(slab.in_use(), 0u);
}

// A freed slot is wiped and reused; moves carry the slot; a secret longer than a slot is
// allocated on its own.
TEST(SecretSlabTest, SlotsAreWipedReusedAndMovedWithTheirSecret) {
  SecretSlab slab(16, 4);
  auto bytes = [](std::string_view s) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  SecretBytes a = SecretBytes::CopyInto(slab, bytes("0123456789abcdef"));  // exactly a slot
  const uint8_t* slot = a.data();
  a = SecretBytes();  // freed: the slot is wiped
  EXPECT_EQ(slab.in_use(), 0u);
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ(slot[i], 0) << i;  // still mapped: the chunk lives
  SecretBytes b = SecretBytes::CopyInto(slab, bytes("xy"));
  EXPECT_EQ(b.data(), slot);  // reused
  EXPECT_EQ(b.view(), "xy");
  SecretBytes moved = std::move(b);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(moved.view(), "xy");
  EXPECT_EQ(slab.in_use(), 1u);
  SecretBytes clone = moved.Clone();  // a copy of its own, outside the slab
  EXPECT_EQ(slab.in_use(), 1u);
  EXPECT_EQ(clone, moved);
  SecretBytes big = SecretBytes::CopyInto(slab, bytes("longer than sixteen bytes"));
  EXPECT_EQ(big.view(), "longer than sixteen bytes");
  EXPECT_EQ(slab.in_use(), 1u);
  moved = SecretBytes();
  EXPECT_EQ(slab.in_use(), 0u);
  EXPECT_EQ(slab.chunks(), 1u);
}

}  // namespace
}  // namespace vigie
