#include "ledger/cli.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "ledger/proof.h"
#include "ledger/test_util.h"
#include "testing/temp_dir.h"

namespace vigie::ledger {
namespace {

std::string Capture(const std::function<int(std::FILE*)>& fn, int* rc) {
  std::FILE* out = std::tmpfile();
  *rc = fn(out);
  std::rewind(out);
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), out)) > 0) text.append(buf, n);
  std::fclose(out);
  return text;
}

TEST(LedgerCliTest, AnchorProveAndCheckProofWithTheLocalAnchor) {
  testing::TempDir tmp;
  auto fleet = testutil::TestKey('\x7b');
  const std::string dir = tmp.File("ledger");
  {
    auto ledger = Ledger::Open(dir, RealEnv(), &fleet);
    ASSERT_TRUE(ledger) << ledger.error().ToString();
    ASSERT_TRUE((*ledger)->Append("site.provisioned", "site-a", "{}"));
  }
  config::LedgerConfig config;  // anchor = local
  int rc = -1;
  std::string out = Capture(
      [&](std::FILE* f) {
        return RunLedgerAnchor(dir, fleet, config, nullptr, Duration::zero(), RealEnv(), f);
      },
      &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("local anchor of tree size 1"), std::string::npos) << out;
  EXPECT_NE(out.find("1 of 1 entries"), std::string::npos) << out;

  std::string proof = Capture([&](std::FILE* f) { return RunLedgerProve(dir, "site-a", f); }, &rc);
  ASSERT_EQ(rc, 0) << proof;
  auto doc = nlohmann::json::parse(proof);
  EXPECT_EQ(doc["anchored"], false);

  const std::string proof_file = tmp.File("proof.json");
  const std::string key_file = tmp.File("fleet.pub");
  ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(proof_file, proof));
  ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(key_file, HexEncode(fleet.public_key())));
  out = Capture([&](std::FILE* f) { return RunLedgerCheckProof(proof_file, key_file, "", 1, f); },
                &rc);
  EXPECT_EQ(rc, 1) << out;  // verified, but not anchored on a chain: said so, not a success
  EXPECT_NE(out.find("1 provisioning event(s) included"), std::string::npos) << out;
  EXPECT_NE(out.find("NOT ANCHORED on a chain"), std::string::npos) << out;

  // Tampered proof: exit 1 with FAILED; unreadable inputs: exit 2.
  doc["entries"][0]["entry"] = std::string(doc["entries"][0]["entry"]).replace(2, 2, "ff");
  ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(proof_file, doc.dump()));
  out = Capture([&](std::FILE* f) { return RunLedgerCheckProof(proof_file, key_file, "", 1, f); },
                &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("FAILED"), std::string::npos) << out;
  out = Capture(
      [&](std::FILE* f) { return RunLedgerCheckProof(tmp.File("none"), key_file, "", 1, f); }, &rc);
  EXPECT_EQ(rc, 2) << out;
  out = Capture([&](std::FILE* f) { return RunLedgerProve(dir, "nope", f); }, &rc);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("no provisioning event"), std::string::npos) << out;
}

}  // namespace
}  // namespace vigie::ledger
