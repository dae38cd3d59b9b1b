#include "ledger/ledger.h"

#include <gtest/gtest.h>

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

TEST_F(LedgerTest, OnlyOneLedgerAtATimeMayOpenADirectory) {
  auto first = OpenOrDie(&key_);
  auto second = Ledger::Open(dir(), env(), &key_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kFailedPrecondition);
  first.reset();
  EXPECT_TRUE(Ledger::Open(dir(), env(), &key_));
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
