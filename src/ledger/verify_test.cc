// Tamper tests: each kind of tampering the issue names, done to the files the way an attacker
// with write access would, must be named by VerifyLedger (entry and kind) and make
// `vigie ledger verify` (RunLedgerVerify) exit non-zero.
#include "ledger/verify.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <cstdio>
#include <thread>

#include "base/encoding.h"
#include "ledger/ledger.h"
#include "ledger/test_util.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace vigie::ledger {
namespace {

using testutil::FixCrc;
using testutil::Frames;
using testutil::ReadAll;
using testutil::TestKey;
using testutil::WriteAll;

class VerifyTest : public ::testing::Test {
 protected:
  // 20 entries, tree heads signed at sizes 10 and 20.
  void SetUp() override {
    Env env{&clock_, RealFileSystem(), RealRandom()};
    auto ledger = Ledger::Open(dir(), env, &key_);
    ASSERT_TRUE(ledger) << ledger.error().ToString();
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE((*ledger)->Append("site.provisioned", fmt::format("site-{}", i),
                                    fmt::format(R"({{"n":{}}})", i)));
      if (i == 9 || i == 19) {
        ASSERT_TRUE((*ledger)->SignTreeHead());
      }
      clock_.Advance(std::chrono::seconds(1));
    }
    entries_ = ReadAll(entries_path());
    ASSERT_EQ(Frames(entries_).size(), 20u);
    key_file_ = tmp_.File("fleet.pem");
    WriteAll(key_file_, crypto::Ed25519PublicKeyToPem(key_.public_key()));
  }

  std::string dir() const { return tmp_.File("ledger"); }
  std::string entries_path() const { return dir() + "/entries.seg"; }
  std::string heads_path() const { return dir() + "/heads.seg"; }

  // Runs the verify command; returns its exit code and keeps its output.
  int RunVerify() {
    char* buf = nullptr;
    size_t len = 0;
    std::FILE* out = open_memstream(&buf, &len);
    int rc = RunLedgerVerify(dir(), key_file_, out);
    std::fclose(out);
    output_.assign(buf, len);
    std::free(buf);
    return rc;
  }

  // Asserts that verify names entry `seq` with `kind`, and the command exits 1 naming it too.
  void ExpectProblem(ProblemKind kind, uint64_t seq) {
    auto report = VerifyLedger(dir(), key_.public_key());
    ASSERT_TRUE(report) << report.error().ToString();
    ASSERT_FALSE(report->ok()) << "tampering not detected";
    EXPECT_EQ(ProblemKindName(report->problem->kind), ProblemKindName(kind))
        << report->problem->message;
    EXPECT_EQ(report->problem->seq, seq) << report->problem->message;
    EXPECT_EQ(RunVerify(), 1) << output_;
    EXPECT_NE(output_.find(fmt::format("entry {}: {}:", seq, ProblemKindName(kind))),
              std::string::npos)
        << output_;
  }

  testing::TempDir tmp_;
  testing::FakeClock clock_;
  crypto::SigningKey key_ = TestKey('\x11');
  std::string entries_;
  std::string key_file_;
  std::string output_;
};

TEST_F(VerifyTest, IntactLedgerPasses) {
  EXPECT_EQ(RunVerify(), 0) << output_;
  EXPECT_NE(output_.find("OK: 20 entries, 2 signed tree heads"), std::string::npos) << output_;
  // The key as hex works too.
  WriteAll(key_file_, HexEncode(key_.public_key()) + "\n");
  EXPECT_EQ(RunVerify(), 0) << output_;
}

// Another process (here: another Ledger, which takes the same flock) appends while verify runs:
// every verify sees a consistent snapshot, never a frame in progress as a torn tail.
TEST_F(VerifyTest, VerifyWhileAnotherWriterAppendsSeesConsistentSnapshots) {
  std::atomic<bool> done{false};
  std::string writer_error;
  std::thread writer([&] {
    Env env{RealClock(), RealFileSystem(), RealRandom()};
    auto ledger = Ledger::Open(dir(), env, &key_);
    if (!ledger) {
      writer_error = ledger.error().ToString();
      done = true;
      return;
    }
    for (int i = 0; i < 300 && writer_error.empty(); ++i) {
      auto appended =
          (*ledger)->Append("site.provisioned", fmt::format("w-{}", i), R"({"w":true})");
      if (!appended) writer_error = appended.error().ToString();
      if (appended && i % 50 == 49) {
        auto head = (*ledger)->SignTreeHead();
        if (!head) writer_error = head.error().ToString();
      }
    }
    done = true;
  });
  int runs = 0;
  uint64_t last_bytes = 0;
  while (!done || runs == 0) {
    auto report = VerifyLedger(dir(), key_.public_key());
    ASSERT_TRUE(report) << report.error().ToString();
    ASSERT_TRUE(report->ok()) << report->problem->message;
    EXPECT_GE(report->bytes, last_bytes);
    last_bytes = report->bytes;
    ++runs;
  }
  writer.join();
  EXPECT_EQ(writer_error, "");
  auto final_report = VerifyLedger(dir(), key_.public_key());
  ASSERT_TRUE(final_report);
  EXPECT_TRUE(final_report->ok());
  EXPECT_EQ(final_report->entries, 320u);
}

// A writer holding the ledger's lock mid-append (half a frame on disk, later rolled back as a
// failed fdatasync would be): verify waits for the lock instead of reporting a torn tail.
TEST_F(VerifyTest, VerifyWaitsForAWriterHoldingTheLock) {
  int fd = ::open((dir() + "/LOCK").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  WriteAll(entries_path(), entries_ + std::string(37, '\x5a'));  // an append in progress
  std::optional<Result<VerifyReport>> result;
  std::thread verifier([&] { result = VerifyLedger(dir(), key_.public_key()); });
  // Without the lock, verify would run now and see the partial frame.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  WriteAll(entries_path(), entries_);  // the writer rolls its append back
  ::flock(fd, LOCK_UN);
  ::close(fd);
  verifier.join();
  ASSERT_TRUE(result.has_value());
  ASSERT_TRUE(*result) << (*result).error().ToString();
  EXPECT_TRUE((*result)->ok()) << (*result)->problem->message;
  EXPECT_EQ((*result)->entries, 20u);
}

TEST_F(VerifyTest, OneByteOfAnEntryChanged) {
  auto frames = Frames(entries_);
  entries_[frames[7].first + frames[7].second - 3] ^= 0x01;  // inside entry 7's JSON body
  WriteAll(entries_path(), entries_);
  ExpectProblem(ProblemKind::kModified, 7);
}

TEST_F(VerifyTest, OneByteChangedWithChecksumRecomputed) {
  auto frames = Frames(entries_);
  entries_[frames[7].first + frames[7].second - 3] ^= 0x01;
  FixCrc(entries_, frames[7].first);
  WriteAll(entries_path(), entries_);
  ExpectProblem(ProblemKind::kModified, 7);  // caught by entry 8's prev_hash
}

TEST_F(VerifyTest, LastEntryChangedIsCaughtByTheSignedHead) {
  auto frames = Frames(entries_);
  entries_[frames[19].first + frames[19].second - 3] ^= 0x01;
  WriteAll(entries_path(), entries_);
  ExpectProblem(ProblemKind::kModified, 19);
}

TEST_F(VerifyTest, SuffixRewrittenConsistentlyIsCaughtByTheSignedHead) {
  // Rewrite entry 19 with a recomputed checksum: the chain below it is intact, only the head
  // covering it can tell; verify names the first entry past the last good head.
  auto frames = Frames(entries_);
  entries_[frames[19].first + frames[19].second - 3] ^= 0x01;
  FixCrc(entries_, frames[19].first);
  WriteAll(entries_path(), entries_);
  ExpectProblem(ProblemKind::kModified, 10);
}

TEST_F(VerifyTest, AnEntryDeleted) {
  auto frames = Frames(entries_);
  entries_.erase(frames[7].first, frames[7].second);
  WriteAll(entries_path(), entries_);
  ExpectProblem(ProblemKind::kDeleted, 7);
}

TEST_F(VerifyTest, TrailingEntriesDeletedBelowASignedHead) {
  auto frames = Frames(entries_);
  entries_.resize(frames[17].first);
  WriteAll(entries_path(), entries_);
  ExpectProblem(ProblemKind::kDeleted, 17);
}

TEST_F(VerifyTest, TwoEntriesSwapped) {
  auto frames = Frames(entries_);
  std::string a = entries_.substr(frames[7].first, frames[7].second);
  std::string b = entries_.substr(frames[8].first, frames[8].second);
  entries_.replace(frames[7].first, a.size() + b.size(), b + a);
  WriteAll(entries_path(), entries_);
  ExpectProblem(ProblemKind::kReordered, 7);
}

TEST_F(VerifyTest, HeadSignedByAnotherKey) {
  // The forger recomputes the correct root for size 20 and signs it with their own key.
  std::string heads = ReadAll(heads_path());
  auto frames = Frames(heads);
  ASSERT_EQ(frames.size(), 2u);
  auto decoded = DecodeTreeHead(
      AsBytes(std::string_view(heads).substr(frames[1].first + 12, kTreeHeadRecordSize)));
  ASSERT_TRUE(decoded);
  TreeHead forged = *decoded;
  forged.timestamp_ms += 1000;
  auto attacker = TestKey('\x66');
  std::string msg = TreeHeadSignedBytes(forged);
  forged.signature = attacker.Sign(AsBytes(msg));
  std::string record = EncodeTreeHead(forged);
  heads.replace(frames[1].first + 12, record.size(), record);
  FixCrc(heads, frames[1].first);
  WriteAll(heads_path(), heads);
  ExpectProblem(ProblemKind::kForgedHead, 20);
  EXPECT_NE(output_.find("tree head #1"), std::string::npos) << output_;
}

TEST_F(VerifyTest, TornFinalWriteIsReportedNotAccepted) {
  auto frames = Frames(entries_);
  WriteAll(entries_path(), entries_ + entries_.substr(frames[19].first, 30));
  ExpectProblem(ProblemKind::kTornTail, 20);
}

TEST_F(VerifyTest, DamagedFramingFollowedByValidEntries) {
  auto frames = Frames(entries_);
  entries_[frames[5].first] = 'X';  // the frame marker
  WriteAll(entries_path(), entries_);
  ExpectProblem(ProblemKind::kCorruptFrame, 5);
}

TEST_F(VerifyTest, CannotRunExitsTwo) {
  key_file_ = tmp_.File("missing.pem");
  EXPECT_EQ(RunVerify(), 2) << output_;
  WriteAll(tmp_.File("bad.pem"), "not a key");
  key_file_ = tmp_.File("bad.pem");
  EXPECT_EQ(RunVerify(), 2) << output_;
  auto report = VerifyLedger(tmp_.File("nowhere"), key_.public_key());
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace vigie::ledger
