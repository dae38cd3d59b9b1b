#include "base/error.h"

#include <set>

#include <gtest/gtest.h>

namespace vigie {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return MakeError(ErrorCode::kInvalidArgument, "odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  VIGIE_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST(ErrorTest, PropagatesThroughMacros) {
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().ToString(), "invalid_argument: odd");
}

TEST(ErrorTest, EveryCodeHasNonZeroExitAndHttpErrorStatus) {
  std::set<std::string_view> names;
  for (int c = 0; c <= static_cast<int>(ErrorCode::kInternal); ++c) {
    auto code = static_cast<ErrorCode>(c);
    EXPECT_NE(ExitCodeFor(code), 0) << c;
    EXPECT_GE(HttpStatusFor(code), 400) << c;
    EXPECT_TRUE(names.insert(ErrorCodeName(code)).second) << "duplicate name " << c;
  }
  EXPECT_EQ(ExitCodeFor(ErrorCode::kCheckFailed), 1);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kConflict), 409);
}

TEST(ErrorTest, WrapPrefixesContext) {
  Error e{ErrorCode::kIo, "disk full"};
  EXPECT_EQ(e.Wrap("store").message, "store: disk full");
  EXPECT_EQ(e.Wrap("store").code, ErrorCode::kIo);
}

}  // namespace
}  // namespace vigie
