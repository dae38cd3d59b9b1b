#include "base/env.h"

#include <sys/stat.h>

#include <atomic>
#include <limits>

#include <gtest/gtest.h>

#include "testing/fake_clock.h"
#include "testing/fault_fs.h"
#include "testing/temp_dir.h"

namespace vigie {
namespace {

using namespace std::chrono_literals;

TEST(FakeClockTest, TimersFireInOrderWhenAdvanced) {
  testing::FakeClock clock;
  std::vector<int> fired;
  auto t2 = clock.RunAfter(2s, [&] { fired.push_back(2); });
  auto t1 = clock.RunAfter(1s, [&] { fired.push_back(1); });
  auto t3 = clock.RunAfter(3s, [&] { fired.push_back(3); });
  t3->Cancel();
  clock.Advance(500ms);
  EXPECT_TRUE(fired.empty());
  auto start = clock.Now();
  clock.Advance(5s);
  EXPECT_EQ(fired, (std::vector<int>{1, 2}));
  EXPECT_EQ(clock.Now() - start, 5s);
  EXPECT_EQ(clock.PendingTimers(), 0u);
}

TEST(FakeClockTest, CallbackSeesItsDeadlineAndMayReschedule) {
  testing::FakeClock clock;
  MonoTime base = clock.Monotonic();
  std::vector<Duration> seen;
  std::unique_ptr<Timer> next;
  std::function<void()> tick = [&] {
    seen.push_back(clock.Monotonic() - base);
    if (seen.size() < 3) next = clock.RunAfter(60s, tick);
  };
  next = clock.RunAfter(60s, tick);
  clock.Advance(10min);
  EXPECT_EQ(seen, (std::vector<Duration>{60s, 120s, 180s}));
}

TEST(RealClockTest, TimerRunsAndCancelPreventsRun) {
  std::atomic<int> runs{0};
  auto t = RealClock()->RunAfter(1ms, [&] { ++runs; });
  auto never = RealClock()->RunAfter(1h, [&] { runs += 100; });
  never->Cancel();
  for (int i = 0; i < 2000 && runs.load() == 0; ++i) RealClock()->SleepFor(1ms);
  EXPECT_EQ(runs.load(), 1);
}

TEST(Rfc3339Test, FromUnixSecondsSaturatesInsteadOfOverflowing) {
  // Year 9999 does not fit in 64-bit nanoseconds: saturate (UBSan flags an overflow here).
  WallTime far = FromUnixSeconds(253402300799);
  EXPECT_EQ(far, FromUnixSeconds(std::numeric_limits<int64_t>::max()));
  EXPECT_LT(ToUnixSeconds(far), 253402300799);
  EXPECT_GT(ToUnixSeconds(far), 9'000'000'000);
}

TEST(Rfc3339Test, FormatsUtc) {
  EXPECT_EQ(FormatRfc3339(FromUnixSeconds(1767225600)), "2026-01-01T00:00:00Z");
}

TEST(PosixFileSystemTest, AtomicWriteReplacesAndIsPrivate) {
  testing::TempDir dir;
  FileSystem* fs = RealFileSystem();
  std::string p = dir.File("a/b/state.json");
  ASSERT_TRUE(fs->CreateDirs(dir.File("a/b")));
  ASSERT_TRUE(fs->WriteFileAtomic(p, "one"));
  ASSERT_TRUE(fs->WriteFileAtomic(p, "two"));
  EXPECT_EQ(*fs->ReadFile(p), "two");
  auto entries = *fs->ListDir(dir.File("a/b"));
  ASSERT_EQ(entries.size(), 1u) << "temporary file left behind";
  struct stat st;
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto missing = fs->ReadFile(dir.File("nope"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos);
}

TEST(FaultInjectingFileSystemTest, FailedAtomicWriteKeepsOldContent) {
  testing::TempDir dir;
  testing::FaultInjectingFileSystem fs(RealFileSystem());
  std::string p = dir.File("config");
  ASSERT_TRUE(fs.WriteFileAtomic(p, "old", 0600));
  for (int step = 1; step <= 3; ++step) {
    fs.FailAfter(step);
    auto st = fs.WriteFileAtomic(p, "new", 0600);
    ASSERT_FALSE(st) << step;
    EXPECT_EQ(st.error().code, ErrorCode::kIo);
    EXPECT_EQ(*fs.ReadFile(p), "old");
    fs.FailAfter(0);
  }
  ASSERT_TRUE(fs.WriteFileAtomic(p, "new", 0600));
  EXPECT_EQ(*fs.ReadFile(p), "new");
}

TEST(FaultInjectingFileSystemTest, PowerCutDropsOnlyUnsyncedAppends) {
  testing::TempDir dir;
  testing::FaultInjectingFileSystem fs(RealFileSystem());
  std::string p = dir.File("log");
  ASSERT_TRUE(fs.AppendFile(p, "a", true));
  ASSERT_TRUE(fs.AppendFile(p, "b", false));
  ASSERT_TRUE(fs.AppendFile(p, "c", false));
  fs.DropUnsyncedData();
  EXPECT_EQ(*fs.ReadFile(p), "a");
}

TEST(RandomTest, UniformStaysInRangeAndFillVaries) {
  Random* r = RealRandom();
  for (int i = 0; i < 1000; ++i) EXPECT_LT(r->Uniform(7), 7u);
  auto a = r->SecretOfSize(32);
  auto b = r->SecretOfSize(32);
  EXPECT_FALSE(a == b);
}

}  // namespace
}  // namespace vigie
