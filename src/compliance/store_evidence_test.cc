#include "compliance/store_evidence.h"

#include <gtest/gtest.h>

#include "store/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace vigie::compliance {
namespace {

TEST(StoreEvidenceTest, ListsSitesFromTheStoreAndConfigValues) {
  vigie::testing::TempDir dir;
  vigie::testing::FakeClock clock;
  store::SqliteOptions opts;
  opts.path = dir.File("vigie.db");
  auto st = store::OpenSqliteStore(opts);
  ASSERT_TRUE(st) << st.error().ToString();
  auto& s = **st;
  ASSERT_TRUE(s.Write([](store::Txn& txn) -> vigie::Status {
    VIGIE_RETURN_IF_ERROR(txn.Exec(
        "INSERT INTO sites (id, region, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        {std::string("site-b"), std::string("eu-west-3"), std::string("active"), int64_t{1},
         int64_t{1}}));
    return txn.Exec(
        "INSERT INTO sites (id, region, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        {std::string("site-a"), std::string("eu-west-3"), std::string("active"), int64_t{1},
         int64_t{1}});
  }));
  StoreEvidence ev(s, clock, {{"vault.recovery_shares", "5"}});
  EXPECT_EQ(ev.Sites(), (std::vector<std::string>{"site-a", "site-b"}));
  EXPECT_EQ(ev.Config("vault.recovery_shares"), "5");
  EXPECT_FALSE(ev.Config("nope").has_value());
  EXPECT_EQ(ev.Now(), clock.Now());
  EXPECT_FALSE(ev.error().has_value());
}

}  // namespace
}  // namespace vigie::compliance
