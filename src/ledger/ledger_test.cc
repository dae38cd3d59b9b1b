#include "ledger/ledger.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/encoding.h"
#include "base/log.h"
#include "ledger/test_util.h"
#include "ledger/verify.h"
#include "testing/fake_clock.h"
#include "testing/fault_fs.h"
#include "testing/temp_dir.h"

namespace vigie::ledger {
namespace {

using testutil::Frames;
using testutil::ReadAll;
using testutil::TestKey;
using testutil::WriteAll;

class LedgerTest : public ::testing::Test {
 protected:
  Env env() { return Env{&clock_, RealFileSystem(), RealRandom()}; }
  std::string dir() const { return tmp_.File("ledger"); }
  std::unique_ptr<Ledger> OpenOrDie(const crypto::SigningKey* signer) {
    auto ledger = Ledger::Open(dir(), env(), signer);
    EXPECT_TRUE(ledger) << ledger.error().ToString();
    return ledger ? std::move(*ledger) : nullptr;
  }
  static std::string good_prefix(const std::string& data, size_t n) { return data.substr(0, n); }
  std::string Body(int i) { return fmt::format(R"({{"n":{},"site":"s{}"}})", i, i % 3); }

  testing::TempDir tmp_;
  testing::FakeClock clock_;
  crypto::SigningKey key_ = TestKey('\x01');
};

TEST_F(LedgerTest, AppendsChainAndSurviveReopen) {
  {
    auto ledger = OpenOrDie(&key_);
    for (int i = 0; i < 5; ++i) {
      auto ref = ledger->Append("site.provisioned", fmt::format("s{}", i), Body(i));
      ASSERT_TRUE(ref) << ref.error().ToString();
      EXPECT_EQ(ref->seq, static_cast<uint64_t>(i));
      clock_.Advance(std::chrono::seconds(1));
    }
    EXPECT_EQ(ledger->size(), 5u);
  }
  auto ledger = OpenOrDie(&key_);
  ASSERT_EQ(ledger->size(), 5u);
  Hash prev{};
  TreeHasher hasher;
  for (uint64_t i = 0; i < 5; ++i) {
    auto e = ledger->ReadEntry(i);
    ASSERT_TRUE(e) << e.error().ToString();
    EXPECT_EQ(e->seq, i);
    EXPECT_EQ(e->kind, "site.provisioned");
    EXPECT_EQ(e->site, fmt::format("s{}", i));
    EXPECT_EQ(nlohmann::json::parse(e->body)["n"], i);
    EXPECT_EQ(e->prev_hash, prev);
    prev = hasher.HashLeaf(AsBytes(EncodeEntry(*e)));
  }
  EXPECT_EQ(ledger->ReadEntry(5).error().code, ErrorCode::kNotFound);
  // Appending after reopen continues the chain.
  auto ref = ledger->Append("site.provisioned", "", "{}");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->seq, 5u);
  EXPECT_EQ(ledger->ReadEntry(5)->prev_hash, prev);
}

TEST_F(LedgerTest, BatchIsOneDurableWriteAndInvalidInputRecordsNothing) {
  auto ledger = OpenOrDie(&key_);
  std::vector<NewEntry> batch = {{"a.b", "s1", "{}"}, {"a.c", "s2", R"([1,2])"}};
  auto refs = ledger->AppendBatch(batch);
  ASSERT_TRUE(refs);
  ASSERT_EQ(refs->size(), 2u);
  EXPECT_EQ((*refs)[1].seq, 1u);
  batch.push_back({"a.d", "s3", "{broken"});
  auto bad = ledger->AppendBatch(batch);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(ledger->size(), 2u);
  EXPECT_EQ(Frames(ReadAll(dir() + "/entries.seg")).size(), 2u);
}

TEST_F(LedgerTest, SignedTreeHeadsProofsAndVerifyAgree) {
  auto ledger = OpenOrDie(&key_);
  std::vector<TreeHead> heads;
  for (int i = 0; i < 37; ++i) {
    ASSERT_TRUE(ledger->Append("site.provisioned", "s", Body(i)));
    if (i % 9 == 0) {
      auto head = ledger->SignTreeHead();
      ASSERT_TRUE(head) << head.error().ToString();
      EXPECT_TRUE(VerifyTreeHead(*head, key_.public_key()));
      heads.push_back(*head);
    }
  }
  for (const TreeHead& head : heads) {
    for (uint64_t seq = 0; seq < head.tree_size; ++seq) {
      auto proof = ledger->ProveInclusion(seq, head.tree_size);
      ASSERT_TRUE(proof);
      EXPECT_TRUE(
          Ledger::VerifyInclusion(proof->leaf_hash, seq, head.tree_size, proof->path, head.root));
    }
    for (const TreeHead& later : heads) {
      if (later.tree_size < head.tree_size) continue;
      auto proof = ledger->ProveConsistency(head.tree_size, later.tree_size);
      ASSERT_TRUE(proof);
      EXPECT_TRUE(Ledger::VerifyConsistency(head.tree_size, later.tree_size, head.root, later.root,
                                            proof->path));
    }
  }
  EXPECT_FALSE(ledger->ProveInclusion(37, 37));
  // Heads persist and a read-only open (no signer) serves the same proofs.
  ledger.reset();
  auto ro = OpenOrDie(nullptr);
  EXPECT_EQ(ro->TreeHeads().size(), heads.size());
  EXPECT_EQ(ro->LatestTreeHead()->root, heads.back().root);
  EXPECT_EQ(ro->SignTreeHead().error().code, ErrorCode::kFailedPrecondition);
  auto report = VerifyLedger(dir(), key_.public_key());
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok()) << report->problem->message;
  EXPECT_EQ(report->entries, 37u);
  EXPECT_EQ(report->heads, heads.size());
}

TEST_F(LedgerTest, FlockOnTwoOpenCallsConflictsInOneProcess) {
  // What lets two Ledgers in one process exclude each other: flock locks belong to the open
  // file description, and each open() makes a new one.
  const std::string path = tmp_.File("lockfile");
  int a = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  int b = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_EQ(::flock(a, LOCK_EX | LOCK_NB), 0);
  EXPECT_NE(::flock(b, LOCK_EX | LOCK_NB), 0);
  EXPECT_EQ(errno, EWOULDBLOCK);
  EXPECT_NE(::flock(b, LOCK_SH | LOCK_NB), 0);
  ASSERT_EQ(::flock(a, LOCK_UN), 0);
  EXPECT_EQ(::flock(b, LOCK_EX | LOCK_NB), 0);
  ::close(a);
  ::close(b);
}

TEST_F(LedgerTest, TwoLedgersOnOneDirectoryInterleave1000AppendsAndBothSeeEverything) {
  auto a = OpenOrDie(&key_);
  auto b = OpenOrDie(&key_);  // both open at once: no lock is held between operations
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  for (int i = 0; i < 1000; ++i) {
    Ledger& writer = i % 2 == 0 ? *a : *b;
    auto ref = writer.Append("site.provisioned", fmt::format("s{}", i), Body(i));
    ASSERT_TRUE(ref) << i << ": " << ref.error().ToString();
    ASSERT_EQ(ref->seq, static_cast<uint64_t>(i)) << "the writer caught up with the other one";
    if (i % 97 == 0) ASSERT_TRUE((i % 3 == 0 ? *a : *b).SignTreeHead());
  }
  ASSERT_TRUE(b->SignTreeHead());
  for (Ledger* l : {a.get(), b.get()}) {
    EXPECT_EQ(l->size(), 1000u);
    EXPECT_EQ(l->TreeHeads().size(), 12u);
    EXPECT_EQ(l->LatestTreeHead()->tree_size, 1000u);
    auto e = l->ReadEntry(999);
    ASSERT_TRUE(e) << e.error().ToString();
    EXPECT_EQ(e->site, "s999");
    auto proof = l->ProveInclusion(0, 1000);
    ASSERT_TRUE(proof);
    EXPECT_TRUE(
        Ledger::VerifyInclusion(proof->leaf_hash, 0, 1000, proof->path, l->LatestTreeHead()->root));
  }
  EXPECT_EQ(*a->Root(1000), *b->Root(1000));
  auto report = VerifyLedger(dir(), key_.public_key());
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->entries, 1000u);
  // A fresh Open agrees with the incremental state.
  auto c = OpenOrDie(&key_);
  EXPECT_EQ(*c->Root(1000), *a->Root(1000));
}

TEST_F(LedgerTest, AnotherProcessAppendsWhileThisOneHoldsTheLedgerOpen) {
  auto ledger = OpenOrDie(&key_);
  ASSERT_NE(ledger, nullptr);
  ASSERT_TRUE(ledger->Append("site.provisioned", "parent", Body(0)));
  constexpr int kEach = 150;
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // `vigie site provision` in another process, while this one (the server) keeps it open.
    Env env{RealClock(), RealFileSystem(), RealRandom()};
    auto child = Ledger::Open(dir(), env, &key_);
    if (!child) _exit(3);
    for (int i = 0; i < kEach; ++i) {
      if (!(*child)->Append("site.provisioned", "child", Body(i))) _exit(4);
      if (i % 25 == 0 && !(*child)->SignTreeHead()) _exit(5);
    }
    _exit(0);
  }
  for (int i = 0; i < kEach; ++i) {
    auto ref = ledger->Append("site.provisioned", "parent", Body(i));
    ASSERT_TRUE(ref) << ref.error().ToString();
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(ledger->size(), 1u + 2 * kEach);
  int from_child = 0;
  for (uint64_t seq = 0; seq < ledger->size(); ++seq) {
    auto e = ledger->ReadEntry(seq);
    ASSERT_TRUE(e) << e.error().ToString();
    from_child += e->site == "child";
  }
  EXPECT_EQ(from_child, kEach);
  EXPECT_EQ(ledger->TreeHeads().size(), 6u);  // signed by the child, verified here
  ASSERT_TRUE(ledger->SignTreeHead());
  EXPECT_TRUE(VerifyLedger(dir(), key_.public_key())->ok());
}

TEST_F(LedgerTest, StuckLockHolderMeansABoundedWaitThenAClearError) {
  auto ledger = Ledger::Open(dir(), env(), &key_, {.lock_timeout = std::chrono::milliseconds(300)});
  ASSERT_TRUE(ledger);
  ASSERT_TRUE((*ledger)->Append("k", "", Body(0)));
  // A stuck holder: another open file description holding LOCK (a hung vigie process).
  int stuck = ::open((dir() + "/LOCK").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(stuck, 0);
  ASSERT_EQ(::flock(stuck, LOCK_EX), 0);

  const auto start = std::chrono::steady_clock::now();
  auto refused = (*ledger)->Append("k", "", Body(1));
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(refused.error().message.find(dir() + "/LOCK"), std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("another vigie process"), std::string::npos);
  EXPECT_GE(waited, std::chrono::milliseconds(300));
  EXPECT_LT(waited, std::chrono::seconds(5));
  EXPECT_EQ((*ledger)->SignTreeHead().error().code, ErrorCode::kUnavailable);
  auto second = Ledger::Open(dir(), env(), &key_, {.lock_timeout = std::chrono::milliseconds(50)});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kUnavailable);
  // Reads of what is already known need no lock.
  EXPECT_EQ((*ledger)->size(), 1u);
  EXPECT_TRUE((*ledger)->ReadEntry(0));

  ASSERT_EQ(::flock(stuck, LOCK_UN), 0);
  ::close(stuck);
  ASSERT_TRUE((*ledger)->Append("k", "", Body(1)));
  EXPECT_EQ((*ledger)->size(), 2u);
}

TEST_F(LedgerTest, ReadersLeaveATornTailAloneAndTheNextWriterRepairsIt) {
  auto writer = OpenOrDie(&key_);
  auto reader = OpenOrDie(nullptr);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(writer->Append("k", "", Body(i)));
  const std::string path = dir() + "/entries.seg";
  const std::string good = ReadAll(path);
  auto frames = Frames(good);
  // A third process crashed mid-append: half a frame at the end.
  WriteAll(path, good + good.substr(frames[2].first, frames[2].second / 2));

  EXPECT_EQ(reader->size(), 3u);  // caught up under the shared lock, stopped before the tail
  EXPECT_FALSE(reader->ReadEntry(3));
  EXPECT_NE(ReadAll(path), good) << "a reader must not repair";

  std::ostringstream logs;
  log::LogToStream(logs, log::Level::kDebug);
  auto ref = writer->Append("k", "", Body(3));
  log::LogToStderr();
  ASSERT_TRUE(ref) << ref.error().ToString();
  EXPECT_EQ(ref->seq, 3u);
  EXPECT_NE(logs.str().find("ledger.torn_tail_repaired"), std::string::npos) << logs.str();
  EXPECT_EQ(reader->size(), 4u);
  EXPECT_NE(reader->ReadEntry(3)->body.find("\"n\":3"), std::string::npos);
  EXPECT_TRUE(VerifyLedger(dir(), key_.public_key())->ok());
}

TEST_F(LedgerTest, TamperingFoundWhileCatchingUpIsStickyAndNamed) {
  auto a = OpenOrDie(&key_);
  auto b = OpenOrDie(&key_);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a->Append("k", "", Body(i)));
  ASSERT_EQ(b->size(), 3u);
  ASSERT_TRUE(a->Append("k", "", Body(3)));
  ASSERT_TRUE(a->Append("k", "", Body(4)));
  // Entry 3, not yet seen by b, is rewritten (CRC fixed, as an attacker would).
  const std::string path = dir() + "/entries.seg";
  std::string data = ReadAll(path);
  auto frames = Frames(data);
  data[frames[3].first + 40] ^= 1;
  testutil::FixCrc(data, frames[3].first);
  WriteAll(path, data);

  auto refused = b->Append("k", "", Body(5));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kIntegrity);
  EXPECT_NE(refused.error().message.find("entry"), std::string::npos) << refused.error().message;
  EXPECT_EQ(b->Refresh().error().code, ErrorCode::kIntegrity);
  EXPECT_EQ(b->ProveInclusion(0, 1).error().code, ErrorCode::kIntegrity);
  EXPECT_EQ(b->size(), 3u);  // what it had verified
  // Truncation below what a ledger has read is tampering too.
  WriteAll(path, good_prefix(data, frames[1].first));
  EXPECT_EQ(a->Append("k", "", Body(6)).error().code, ErrorCode::kIntegrity);
}

TEST_F(LedgerTest, OpenRefusesHeadsSignedByAnotherKey) {
  {
    auto ledger = OpenOrDie(&key_);
    ASSERT_TRUE(ledger->Append("k", "", "{}"));
    ASSERT_TRUE(ledger->SignTreeHead());
  }
  auto other = TestKey('\x02');
  auto ledger = Ledger::Open(dir(), env(), &other);
  ASSERT_FALSE(ledger);
  EXPECT_EQ(ledger.error().code, ErrorCode::kIntegrity);
  EXPECT_NE(ledger.error().message.find("not signed by the fleet key"), std::string::npos);
}

TEST_F(LedgerTest, TornTailIsRepairedWithWarningAndAcknowledgedEntriesKept) {
  {
    auto ledger = OpenOrDie(&key_);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(ledger->Append("k", "", Body(i)));
  }
  const std::string path = dir() + "/entries.seg";
  const std::string good = ReadAll(path);
  auto frames = Frames(good);
  ASSERT_EQ(frames.size(), 4u);
  // A fifth entry whose write was cut mid-frame by a crash.
  std::string torn = good + good.substr(frames[3].first, frames[3].second - 5);
  WriteAll(path, torn);

  auto report = VerifyLedger(dir(), key_.public_key());
  ASSERT_TRUE(report);
  ASSERT_FALSE(report->ok());
  EXPECT_EQ(report->problem->kind, ProblemKind::kTornTail);
  EXPECT_EQ(report->problem->seq, 4u);

  std::ostringstream logs;
  log::LogToStream(logs, log::Level::kDebug);
  auto ledger = OpenOrDie(&key_);
  log::LogToStderr();
  ASSERT_NE(ledger, nullptr);
  EXPECT_EQ(ledger->size(), 4u);
  EXPECT_NE(logs.str().find("ledger.torn_tail_repaired"), std::string::npos) << logs.str();
  EXPECT_NE(logs.str().find(fmt::format("\"bytes_dropped\":{}", torn.size() - good.size())),
            std::string::npos)
      << logs.str();
  EXPECT_EQ(ReadAll(path), good);
  for (uint64_t i = 0; i < 4; ++i) EXPECT_TRUE(ledger->ReadEntry(i));
  ASSERT_TRUE(ledger->Append("k", "", Body(4)));
  EXPECT_TRUE(VerifyLedger(dir(), key_.public_key())->ok());
}

TEST_F(LedgerTest, DamagedFinalEntryCoveredBySignedHeadIsNotRepaired) {
  {
    auto ledger = OpenOrDie(&key_);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(ledger->Append("k", "", Body(i)));
    ASSERT_TRUE(ledger->SignTreeHead());
  }
  const std::string path = dir() + "/entries.seg";
  std::string data = ReadAll(path);
  data.resize(data.size() - 3);
  WriteAll(path, data);
  auto ledger = Ledger::Open(dir(), env(), &key_);
  ASSERT_FALSE(ledger);
  EXPECT_EQ(ledger.error().code, ErrorCode::kIntegrity);
  EXPECT_NE(ledger.error().message.find("never a torn write"), std::string::npos)
      << ledger.error().message;
  EXPECT_EQ(ReadAll(path), data) << "Open must not truncate a signed entry";
}

TEST_F(LedgerTest, OpenRefusesMidFileCorruption) {
  {
    auto ledger = OpenOrDie(&key_);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(ledger->Append("k", "", Body(i)));
  }
  const std::string path = dir() + "/entries.seg";
  std::string data = ReadAll(path);
  auto frames = Frames(data);
  data[frames[1].first + 20] ^= 1;
  WriteAll(path, data);
  auto ledger = Ledger::Open(dir(), env(), &key_);
  ASSERT_FALSE(ledger);
  EXPECT_EQ(ledger.error().code, ErrorCode::kIntegrity);
  EXPECT_NE(ledger.error().message.find("entry 1"), std::string::npos) << ledger.error().message;
}

TEST_F(LedgerTest, FailedWriteIsRolledBackOrBlocksAppendsUntilReopen) {
  testing::FaultInjectingFileSystem fs(RealFileSystem());
  Env faulty{&clock_, &fs, RealRandom()};
  auto opened = Ledger::Open(dir(), faulty, &key_);
  ASSERT_TRUE(opened);
  auto& ledger = *opened;
  ASSERT_TRUE(ledger->Append("k", "", Body(0)));

  // The append itself fails: nothing recorded, the next append works.
  fs.FailAfter(1);
  auto failed = ledger->Append("k", "", Body(1));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::kIo);
  fs.FailAfter(0);
  ASSERT_TRUE(ledger->Append("k", "", Body(2)));
  EXPECT_EQ(ledger->size(), 2u);

  // The data is written but fdatasync and the rollback fail: appends are refused until reopen.
  fs.FailAfter(2);
  ASSERT_FALSE(ledger->Append("k", "", Body(3)));
  fs.FailAfter(0);
  auto refused = ledger->Append("k", "", Body(4));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition);
  // A power cut drops the unsynced frame; reopening gives back exactly the acknowledged ones.
  ledger.reset();
  fs.DropUnsyncedData();
  auto reopened = OpenOrDie(&key_);
  EXPECT_EQ(reopened->size(), 2u);
  EXPECT_TRUE(VerifyLedger(dir(), key_.public_key())->ok());
}

}  // namespace
}  // namespace vigie::ledger
