#include "provision/batch.h"

#include <gtest/gtest.h>

#include "package/enrollment_key.h"
#include "testing/temp_dir.h"

namespace vigie::provision {
namespace {

TEST(BatchFileTest, ParsesSitesSkippingCommentsBlankLinesAndTheHeader) {
  auto lines = ParseBatchFile(
      "# fleet wave 1\n"
      "site_id,region,enrollment_key\n"
      "\n"
      "acme-paris,eu-west-3,keys/acme-paris.pub\n"
      "  acme-lyon , eu-west-3 ,  /srv/keys/lyon.pub  \r\n"
      "acme-nice,eu-west-1,nice.pub",
      "wave1.csv");
  ASSERT_TRUE(lines) << lines.error().ToString();
  ASSERT_EQ(lines->size(), 3u);
  EXPECT_EQ((*lines)[0].line, 4);
  EXPECT_EQ((*lines)[0].site_id, "acme-paris");
  EXPECT_EQ((*lines)[1].region, "eu-west-3");
  EXPECT_EQ((*lines)[1].enrollment_key_path, "/srv/keys/lyon.pub");
  EXPECT_EQ((*lines)[2].line, 6);
  EXPECT_EQ((*lines)[2].enrollment_key_path, "nice.pub");
}

TEST(BatchFileTest, ErrorsNameTheFileAndLine) {
  struct Case {
    std::string text;
    std::string expected;
  };
  const Case cases[] = {
      {"acme,eu-west-3\n", "w.csv:1: expected 3 comma-separated fields"},
      {"# c\nAcme,eu-west-3,k.pub\n", "w.csv:2: site id 'Acme' is invalid"},
      {"acme,eu west,k.pub\n", "w.csv:1: region 'eu west' is invalid"},
      {"acme,eu-west-3,\n", "w.csv:1: the enrollment key path is empty"},
      {"a,eu-west-3,k\nb,eu-west-3,k\na,eu-west-1,k\n",
       "w.csv:3: site a is already listed at line 1"},
      {"# nothing\n\n", "w.csv: no sites"},
      {"site_id,region,enrollment_key\n", "w.csv: no sites"},
  };
  for (const auto& c : cases) {
    auto r = ParseBatchFile(c.text, "w.csv");
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().message.rfind(c.expected, 0), 0u) << r.error().message;
  }
}

TEST(BatchFileTest, LoadsKeysRelativeToTheBatchFile) {
  vigie::testing::TempDir dir;
  Env env = RealEnv();
  auto a = package::WriteEnrollmentKeyPair(dir.File("keys/a"), env);
  ASSERT_TRUE(a) << a.error().ToString();
  ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(dir.File("batch.csv"),
                                                "a,eu-west-3,keys/a/enrollment.pub\nb,eu-west-3," +
                                                    dir.File("keys/a/enrollment.pub") + "\n"));
  auto requests = LoadBatchFile(dir.File("batch.csv"), *RealFileSystem());
  ASSERT_TRUE(requests) << requests.error().ToString();
  ASSERT_EQ(requests->size(), 2u);
  EXPECT_EQ((*requests)[0].enrollment_public_key, a->public_key);
  EXPECT_EQ((*requests)[1].site_id, "b");

  ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(dir.File("bad.csv"),
                                                "a,eu-west-3,keys/a/enrollment.pub\n"
                                                "c,eu-west-3,keys/missing.pub\n"));
  auto missing = LoadBatchFile(dir.File("bad.csv"), *RealFileSystem());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message.rfind(dir.File("bad.csv") + ":2: enrollment key", 0), 0u)
      << missing.error().message;
  // A private key where the public one is expected is refused, not read as a key.
  ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(dir.File("priv.csv"),
                                                "a,eu-west-3,keys/a/enrollment.key\n"));
  EXPECT_FALSE(LoadBatchFile(dir.File("priv.csv"), *RealFileSystem()));
}

TEST(ProgressBarTest, FillsInProportion) {
  EXPECT_EQ(RenderProgressBar(0, 10, "", 10), "[..........] 0/10 ");
  EXPECT_EQ(RenderProgressBar(5, 10, "site-e", 10), "[#####.....] 5/10 site-e");
  EXPECT_EQ(RenderProgressBar(10, 10, "site-j", 10), "[##########] 10/10 site-j");
  EXPECT_EQ(RenderProgressBar(1, 3, "a"), "[######..............] 1/3 a");
}

}  // namespace
}  // namespace vigie::provision
