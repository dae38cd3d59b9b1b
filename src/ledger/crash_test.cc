// Kill test: a writer process is killed with SIGKILL at random points, 20 times, on the same
// ledger. After each kill, reopening (which repairs a torn tail) must keep every entry the
// writer acknowledged (Append returned), and VerifyLedger must pass.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "ledger/ledger.h"
#include "ledger/test_util.h"
#include "ledger/verify.h"
#include "testing/temp_dir.h"

namespace vigie::ledger {
namespace {

// The child: append entries forever, reporting each acknowledged seq on `ack_fd`; sign a tree
// head every few entries. Bodies vary up to ~48 KiB, so a kill can land inside a multi-page
// write (the kernel may stop a write between pages when SIGKILL is pending, leaving a torn
// frame; the torn-tail path itself is tested deterministically in ledger_test.cc). Never returns.
[[noreturn]] void Writer(const std::string& dir, int ack_fd, uint32_t seed, size_t max_pad) {
  auto key = testutil::TestKey('\x21');
  Env env{RealClock(), RealFileSystem(), RealRandom()};
  auto ledger = Ledger::Open(dir, env, &key);
  if (!ledger) _exit(3);
  std::mt19937 rng(seed);
  for (uint64_t i = 0;; ++i) {
    nlohmann::json body = {
        {"writer_seed", seed}, {"i", i}, {"pad", std::string(rng() % max_pad, 'p')}};
    auto ref = (*ledger)->Append("test.kill", "site-k", body.dump());
    if (!ref) _exit(4);
    uint64_t seq = ref->seq;
    if (::write(ack_fd, &seq, sizeof seq) != sizeof seq) _exit(5);
    if (rng() % 5 == 0 && !(*ledger)->SignTreeHead()) _exit(6);
  }
}

TEST(LedgerCrashTest, WriterKilledAtRandomPoints20TimesLosesNoAcknowledgedEntry) {
  testing::TempDir tmp;
  const std::string dir = tmp.File("ledger");
  auto key = testutil::TestKey('\x21');
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937 rng(seed);
  std::set<uint64_t> acked;

  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round);
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const uint32_t child_seed = rng();
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      Writer(dir, fds[1], child_seed, 48 << 10);
    }
    ::close(fds[1]);
    // Kill after a random number of acknowledgements: the writer keeps going meanwhile, so the
    // signal lands at an arbitrary point of its append / fsync / sign cycle.
    const uint64_t kill_after = 1 + rng() % 25;
    uint64_t seen = 0;
    uint64_t seq;
    while (seen < kill_after && ::read(fds[0], &seq, sizeof seq) == sizeof seq) {
      acked.insert(seq);
      ++seen;
    }
    // Then a random 0-3 ms more, so the kill also lands inside writes, not just after acks.
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % 3000);
    while (std::chrono::steady_clock::now() < until) {
    }
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "writer exited early with status " << WEXITSTATUS(status);
    // Acknowledgements already in the pipe count too.
    while (::read(fds[0], &seq, sizeof seq) == sizeof seq) acked.insert(seq);
    ::close(fds[0]);

    // Restart: reopen (repairing a torn tail, if any), then verify from scratch.
    Env env{RealClock(), RealFileSystem(), RealRandom()};
    auto ledger = Ledger::Open(dir, env, &key);
    ASSERT_TRUE(ledger) << ledger.error().ToString();
    ASSERT_FALSE(acked.empty());
    ASSERT_GT((*ledger)->size(), *acked.rbegin()) << "an acknowledged entry was lost";
    for (uint64_t s : acked) {
      auto e = (*ledger)->ReadEntry(s);
      ASSERT_TRUE(e) << "acknowledged entry " << s << ": " << e.error().ToString();
      EXPECT_EQ(e->kind, "test.kill");
    }
    ledger->reset();
    auto report = VerifyLedger(dir, key.public_key());
    ASSERT_TRUE(report) << report.error().ToString();
    ASSERT_TRUE(report->ok()) << ProblemKindName(report->problem->kind) << ": "
                              << report->problem->message;
    EXPECT_GT(report->entries, *acked.rbegin());
  }
}

}  // namespace
}  // namespace vigie::ledger
