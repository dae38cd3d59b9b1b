#include "store/store.h"

#include <gtest/gtest.h>

#include "store/migrations.h"

namespace vigie::store {
namespace {

Row MakeRow() {
  auto cols = std::make_shared<const std::vector<std::string>>(
      std::vector<std::string>{"n", "x", "s", "b", "z"});
  return Row(cols, {Value{int64_t{42}}, Value{2.5}, Value{std::string("hi")}, Value{Bytes{1, 2, 3}},
                    Value{}});
}

TEST(RowTest, TypedGettersReturnTheValue) {
  Row row = MakeRow();
  EXPECT_EQ(*row.GetInt("n"), 42);
  EXPECT_DOUBLE_EQ(*row.GetDouble("x"), 2.5);
  EXPECT_DOUBLE_EQ(*row.GetDouble("n"), 42.0);  // integer widens to real
  EXPECT_EQ(*row.GetText("s"), "hi");
  EXPECT_EQ(*row.GetBlob("b"), (Bytes{1, 2, 3}));
  EXPECT_TRUE(*row.IsNull("z"));
  EXPECT_FALSE(*row.IsNull("n"));
  EXPECT_EQ(row.size(), 5u);
}

TEST(RowTest, WrongTypeIsAnErrorNamingColumnAndTypes) {
  Row row = MakeRow();
  auto r = row.GetInt("s");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInternal);
  EXPECT_NE(r.error().message.find("'s'"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("text, not integer"), std::string::npos) << r.error().message;
  EXPECT_FALSE(row.GetText("n"));
  EXPECT_FALSE(row.GetBlob("s"));
  EXPECT_FALSE(row.GetInt("x"));
  EXPECT_FALSE(row.GetInt("z"));  // NULL is not an integer
  EXPECT_FALSE(row.GetDouble("s"));
}

TEST(RowTest, NullableGettersMapNullAndKeepTypeErrors) {
  Row row = MakeRow();
  EXPECT_EQ(*row.GetIntOrNull("n"), std::optional<int64_t>(42));
  EXPECT_EQ(*row.GetIntOrNull("z"), std::nullopt);
  EXPECT_EQ(*row.GetTextOrEmpty("s"), "hi");
  EXPECT_EQ(*row.GetTextOrEmpty("z"), "");
  EXPECT_FALSE(row.GetIntOrNull("s"));    // text is not an integer
  EXPECT_FALSE(row.GetTextOrEmpty("n"));  // an integer is not text
  EXPECT_FALSE(row.GetIntOrNull("nope"));
}

TEST(RowTest, UnknownColumnIsAnError) {
  Row row = MakeRow();
  auto r = row.GetText("nope");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no column 'nope'"), std::string::npos) << r.error().message;
  EXPECT_FALSE(row.IsNull("nope"));
  EXPECT_FALSE(Row().GetInt("n"));
}

TEST(SqlSummaryTest, KeepsFirstWordsOnly) {
  EXPECT_EQ(SqlSummary("INSERT INTO kv(key, value) VALUES(?, ?)"), "INSERT INTO kv");
  EXPECT_EQ(SqlSummary("  SELECT\n  id, ts FROM events"), "SELECT id");
  EXPECT_EQ(SqlSummary("UPDATE kv SET value = 'x'"), "UPDATE kv SET");
  EXPECT_EQ(SqlSummary(""), "");
  EXPECT_LE(SqlSummary("SELECT " + std::string(100, 'a')).size(), 43u);
}

TEST(MigrationsTest, BuiltInListIsValid) {
  ASSERT_FALSE(AllMigrations().empty());
  EXPECT_TRUE(ValidateMigrations(AllMigrations()));
}

TEST(MigrationsTest, ValidateRejectsGapsAndEmpties) {
  EXPECT_FALSE(ValidateMigrations({{1, "a", "CREATE TABLE a(x)"}, {3, "c", "CREATE TABLE c(x)"}}));
  EXPECT_FALSE(ValidateMigrations({{2, "a", "CREATE TABLE a(x)"}}));
  EXPECT_FALSE(ValidateMigrations({{1, "", "CREATE TABLE a(x)"}}));
  EXPECT_FALSE(ValidateMigrations({{1, "a", ""}}));
  EXPECT_TRUE(ValidateMigrations({}));
}

}  // namespace
}  // namespace vigie::store
