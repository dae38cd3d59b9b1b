#include "backend/local/local_secrets.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "backend/local/local_kms.h"
#include "backend/local/local_test_util.h"
#include "store/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace vigie::backend {
namespace {

using std::chrono::hours;
using vigie::testing::FakeClock;
using vigie::testing::TempDir;

// Tokens are 32..64 characters, as AWS ClientRequestToken.
std::string Token(int n) { return "token-" + std::string(26, 'a') + "-" + std::to_string(n); }
SecretBytes Text(std::string_view s) { return SecretBytes::CopyFrom(s); }

class LocalSecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::SqliteOptions o;
    o.path = db_path_;
    o.clock = &clock_;
    auto s = store::OpenSqliteStore(o);
    ASSERT_TRUE(s) << s.error().ToString();
    store_ = std::move(*s);
    auto k = OpenLocalKms(dir_.path(), env_);
    ASSERT_TRUE(k) << k.error().ToString();
    kms_ = std::move(*k);
    secrets_ = NewLocalSecrets(*store_, *kms_, "", env_);
  }

  std::string Stages(const std::string& name, const std::string& version_id) {
    auto versions = secrets_->ListVersions(name);
    EXPECT_TRUE(versions) << versions.error().ToString();
    for (const auto& v : *versions) {
      if (v.version_id != version_id) continue;
      std::string out;
      for (const auto& s : v.stages) out += (out.empty() ? "" : ",") + s;
      return out;
    }
    return "<no version>";
  }

  TempDir dir_;
  std::string db_path_ = dir_.File("vigie.db");
  FakeClock clock_;
  Env env_{&clock_, RealFileSystem(), RealRandom()};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<LocalKms> kms_;
  std::unique_ptr<LocalSecrets> secrets_;
};

TEST_F(LocalSecretsTest, CreateThenGet) {
  auto v = secrets_->Create("vigie/sites/s1/db", Text("hunter2"), {{"site", "s1"}}, Token(1));
  ASSERT_TRUE(v) << v.error().ToString();
  EXPECT_EQ(v->name, "vigie/sites/s1/db");
  EXPECT_EQ(v->arn, "local:secret:vigie/sites/s1/db");
  EXPECT_EQ(v->version_id, Token(1));  // the token becomes the version id, as on AWS
  EXPECT_EQ(v->stages, std::vector<std::string>{"AWSCURRENT"});
  auto got = secrets_->Get("vigie/sites/s1/db");
  ASSERT_TRUE(got) << got.error().ToString();
  EXPECT_EQ(got->view(), "hunter2");

  auto untokened = secrets_->Create("other", Text("x"), {}, "");
  ASSERT_TRUE(untokened);
  EXPECT_EQ(untokened->version_id.size(), 36u);  // a random UUID
}

TEST_F(LocalSecretsTest, CreateIsIdempotentPerTokenAndRefusesDuplicates) {
  auto first = secrets_->Create("n", Text("value"), {}, Token(1));
  ASSERT_TRUE(first);
  auto retry = secrets_->Create("n", Text("value"), {}, Token(1));
  ASSERT_TRUE(retry) << retry.error().ToString();
  EXPECT_EQ(retry->version_id, first->version_id);
  EXPECT_EQ(secrets_->ListVersions("n")->size(), 1u);

  auto other_value = secrets_->Create("n", Text("different"), {}, Token(1));
  ASSERT_FALSE(other_value);
  EXPECT_EQ(other_value.error().code, ErrorCode::kAlreadyExists);
  EXPECT_NE(other_value.error().message.find("different value"), std::string::npos);
  EXPECT_EQ(other_value.error().message.find("different\""), std::string::npos);

  auto other_token = secrets_->Create("n", Text("value"), {}, Token(2));
  ASSERT_FALSE(other_token);
  EXPECT_EQ(other_token.error().code, ErrorCode::kAlreadyExists);
  EXPECT_NE(other_token.error().message.find("PutVersion"), std::string::npos);
  EXPECT_EQ(secrets_->Get("n")->view(), "value");
}

TEST_F(LocalSecretsTest, PutVersionMovesCurrentAndPrevious) {
  ASSERT_TRUE(secrets_->Create("db", Text("one"), {}, Token(1)));
  clock_.Advance(hours(1));
  auto v2 = secrets_->PutVersion("db", Text("two"), Token(2));
  ASSERT_TRUE(v2) << v2.error().ToString();
  EXPECT_EQ(v2->stages, std::vector<std::string>{"AWSCURRENT"});
  EXPECT_EQ(Stages("db", Token(1)), "AWSPREVIOUS");
  EXPECT_EQ(Stages("db", Token(2)), "AWSCURRENT");
  ASSERT_TRUE(secrets_->PutVersion("db", Text("three"), Token(3)));
  EXPECT_EQ(Stages("db", Token(1)), "");
  EXPECT_EQ(Stages("db", Token(2)), "AWSPREVIOUS");
  EXPECT_EQ(Stages("db", Token(3)), "AWSCURRENT");

  EXPECT_EQ(secrets_->Get("db")->view(), "three");
  EXPECT_EQ(secrets_->Get("db", "AWSPREVIOUS")->view(), "two");
  // A version id wins over the stage; old versions stay readable (rollback, MAINT_024).
  EXPECT_EQ(secrets_->Get("db", "AWSCURRENT", Token(1))->view(), "one");

  auto versions = secrets_->ListVersions("db");
  ASSERT_TRUE(versions);
  ASSERT_EQ(versions->size(), 3u);
  EXPECT_EQ((*versions)[0].version_id, Token(1));
  EXPECT_EQ((*versions)[0].created_at + hours(1), (*versions)[1].created_at);
}

TEST_F(LocalSecretsTest, PutVersionWithCustomStagesLeavesCurrentAlone) {
  ASSERT_TRUE(secrets_->Create("db", Text("one"), {}, Token(1)));
  auto pending = secrets_->PutVersion("db", Text("two"), Token(2), {"AWSPENDING"});
  ASSERT_TRUE(pending);
  EXPECT_EQ(secrets_->Get("db")->view(), "one");
  EXPECT_EQ(secrets_->Get("db", "AWSPENDING")->view(), "two");
  ASSERT_TRUE(secrets_->PutVersion("db", Text("three"), Token(3), {"AWSPENDING"}));
  EXPECT_EQ(Stages("db", Token(2)), "");  // a label sits on one version at most
  EXPECT_EQ(secrets_->Get("db", "AWSPENDING")->view(), "three");
  EXPECT_EQ(Stages("db", Token(1)), "AWSCURRENT");
}

TEST_F(LocalSecretsTest, PutVersionTokenRetryAndErrors) {
  ASSERT_TRUE(secrets_->Create("db", Text("one"), {}, Token(1)));
  ASSERT_TRUE(secrets_->PutVersion("db", Text("two"), Token(2)));
  auto retry = secrets_->PutVersion("db", Text("two"), Token(2));
  ASSERT_TRUE(retry) << retry.error().ToString();
  EXPECT_EQ(retry->version_id, Token(2));
  EXPECT_EQ(secrets_->ListVersions("db")->size(), 2u);
  EXPECT_EQ(Stages("db", Token(1)), "AWSPREVIOUS");  // the retry moved nothing

  EXPECT_EQ(secrets_->PutVersion("db", Text("changed"), Token(2)).error().code,
            ErrorCode::kAlreadyExists);
  auto missing = secrets_->PutVersion("nope", Text("x"), Token(3));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("'nope'"), std::string::npos);
}

TEST_F(LocalSecretsTest, GetErrorsNameWhatIsMissing) {
  ASSERT_TRUE(secrets_->Create("db", Text("one"), {}, Token(1)));
  auto no_secret = secrets_->Get("nope");
  EXPECT_EQ(no_secret.error().code, ErrorCode::kNotFound);
  auto no_stage = secrets_->Get("db", "AWSPREVIOUS");
  EXPECT_EQ(no_stage.error().code, ErrorCode::kNotFound);
  EXPECT_NE(no_stage.error().message.find("AWSPREVIOUS"), std::string::npos);
  auto no_version = secrets_->Get("db", "AWSCURRENT", Token(9));
  EXPECT_EQ(no_version.error().code, ErrorCode::kNotFound);
  EXPECT_NE(no_version.error().message.find(Token(9)), std::string::npos);
}

TEST_F(LocalSecretsTest, InputIsValidated) {
  for (const std::string& bad :
       {std::string(""), std::string("has space"), std::string(513, 'a'), std::string("quote\"")}) {
    auto r = secrets_->Create(bad, Text("x"), {}, Token(1));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
  auto short_token = secrets_->Create("n", Text("x"), {}, "abc");
  ASSERT_FALSE(short_token);
  EXPECT_NE(short_token.error().message.find("32..64"), std::string::npos);
  EXPECT_FALSE(secrets_->PutVersion("n", Text("x"), Token(1), {"A", "A"}));
}

TEST_F(LocalSecretsTest, ListByPrefixReturnsNamesAndTagsOnly) {
  ASSERT_TRUE(secrets_->Create("vigie/sites/a/db", Text("v-a"), {{"site", "a"}}, Token(1)));
  ASSERT_TRUE(secrets_->Create("vigie/sites/a/share-1", Text("v-s"), {{"share", "1"}}, Token(2)));
  ASSERT_TRUE(secrets_->Create("vigie/sites/b/db", Text("v-b"), {{"site", "b"}}, Token(3)));
  clock_.Advance(hours(2));
  ASSERT_TRUE(secrets_->PutVersion("vigie/sites/a/db", Text("v-a2"), Token(4)));
  auto list = secrets_->List("vigie/sites/a/");
  ASSERT_TRUE(list) << list.error().ToString();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "vigie/sites/a/db");
  EXPECT_EQ((*list)[0].arn, "local:secret:vigie/sites/a/db");
  EXPECT_EQ((*list)[0].tags, (Tags{{"site", "a"}}));
  EXPECT_EQ(*(*list)[0].last_changed_at, (*list)[0].created_at + hours(2));
  EXPECT_EQ((*list)[1].tags, (Tags{{"share", "1"}}));
  EXPECT_EQ(secrets_->List("")->size(), 3u);
  EXPECT_TRUE(secrets_->List("zzz")->empty());
}

TEST_F(LocalSecretsTest, DeleteRemovesEveryVersionAndMissingSucceeds) {
  ASSERT_TRUE(secrets_->Create("db", Text("one"), {}, Token(1)));
  ASSERT_TRUE(secrets_->PutVersion("db", Text("two"), Token(2)));
  ASSERT_TRUE(secrets_->Delete("db"));
  EXPECT_EQ(secrets_->Get("db").error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(secrets_->List("")->empty());
  EXPECT_TRUE(secrets_->Delete("db"));
  EXPECT_TRUE(secrets_->Delete("never-existed"));
  auto again = secrets_->Create("db", Text("fresh"), {}, Token(3));
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(secrets_->Get("db")->view(), "fresh");
}

TEST_F(LocalSecretsTest, StoreHoldsNoPlaintextValueNorDataKey) {
  const std::string values[] = {"PLAINTEXT-canary-1-9f8e7d6c5b4a",
                                "PLAINTEXT-canary-2-0a1b2c3d4e5f",
                                "PLAINTEXT-canary-3-a7b6c5d4e3f2"};
  ASSERT_TRUE(secrets_->Create("vigie/sites/s1/share-1", Text(values[0]), {}, Token(1)));
  ASSERT_TRUE(secrets_->PutVersion("vigie/sites/s1/share-1", Text(values[1]), Token(2)));
  ASSERT_TRUE(secrets_->Create("vigie/sites/s1/db", Text(values[2]), {}, ""));
  // Control: the scan finds a value that IS written in clear (so the test can fail).
  const std::string control = "CLEARTEXT-control-value-5e4d3c2b1a";
  ASSERT_TRUE(store_->Write([&](store::Txn& t) {
    return t.Exec("INSERT INTO kv(key, value) VALUES('control', ?)", {control});
  }));
  ASSERT_TRUE(testutil::StoreFilesContain(db_path_, AsBytes(control)));

  for (const auto& v : values) {
    EXPECT_FALSE(testutil::StoreFilesContain(db_path_, AsBytes(v))) << v;
    EXPECT_FALSE(testutil::StoreFilesContain(db_path_, AsBytes(HexEncode(AsBytes(v))))) << v;
  }
  // Nor the data keys: unwrap each stored wrapped key and look for it.
  auto rows = store_->Query("SELECT wrapped_data_key FROM local_secrets");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 3u);
  for (const auto& row : *rows) {
    auto dk = kms_->Decrypt(*row.GetBlob("wrapped_data_key"));
    ASSERT_TRUE(dk) << dk.error().ToString();
    EXPECT_EQ(dk->size(), 32u);
    EXPECT_FALSE(testutil::StoreFilesContain(db_path_, dk->span()));
  }
  ASSERT_TRUE(store_->Close());
  for (const auto& v : values) EXPECT_FALSE(testutil::StoreFilesContain(db_path_, AsBytes(v)));
}

TEST_F(LocalSecretsTest, AlteredOrMovedCiphertextIsIntegrityError) {
  ASSERT_TRUE(secrets_->Create("a", Text("value-a"), {}, Token(1)));
  ASSERT_TRUE(secrets_->Create("b", Text("value-b"), {}, Token(2)));
  // Move a's ciphertext and wrapped key onto b: the associated data (name, version) differs.
  ASSERT_TRUE(store_->Write([&](store::Txn& t) {
    return t.Exec(
        "UPDATE local_secrets SET ciphertext = (SELECT ciphertext FROM local_secrets WHERE "
        "name = 'a'), wrapped_data_key = (SELECT wrapped_data_key FROM local_secrets WHERE name = "
        "'a') WHERE name = 'b'");
  }));
  auto moved = secrets_->Get("b");
  ASSERT_FALSE(moved);
  EXPECT_EQ(moved.error().code, ErrorCode::kIntegrity);
  EXPECT_NE(moved.error().message.find("'b'"), std::string::npos);
  EXPECT_EQ(moved.error().message.find("value-a"), std::string::npos);

  auto rows = store_->Query("SELECT ciphertext FROM local_secrets WHERE name = 'a'");
  Bytes ct = *(*rows)[0].GetBlob("ciphertext");
  ct[ct.size() / 2] ^= 0x01;
  ASSERT_TRUE(store_->Write([&](store::Txn& t) {
    return t.Exec("UPDATE local_secrets SET ciphertext = ? WHERE name = 'a'", {ct});
  }));
  EXPECT_EQ(secrets_->Get("a").error().code, ErrorCode::kIntegrity);
}

TEST_F(LocalSecretsTest, KmsKeyIsCreatedOnceAndRemembered) {
  auto key = secrets_->KmsKeyId();
  ASSERT_TRUE(key) << key.error().ToString();
  EXPECT_TRUE(IsLocalKmsKeyId(*key));
  ASSERT_TRUE(secrets_->Create("db", Text("kept"), {}, Token(1)));
  auto again = NewLocalSecrets(*store_, *kms_, "", env_);
  EXPECT_EQ(*again->KmsKeyId(), *key);
  EXPECT_EQ(again->Get("db")->view(), "kept");
  EXPECT_EQ(kms_->ListKeys()->size(), 1u);
}

TEST_F(LocalSecretsTest, OldVersionsSurviveKmsKeyRotation) {
  ASSERT_TRUE(secrets_->Create("db", Text("before"), {}, Token(1)));
  ASSERT_TRUE(kms_->Rotate(*secrets_->KmsKeyId()));
  ASSERT_TRUE(secrets_->PutVersion("db", Text("after"), Token(2)));
  EXPECT_EQ(secrets_->Get("db", "AWSPREVIOUS")->view(), "before");
  EXPECT_EQ(secrets_->Get("db")->view(), "after");
}

TEST_F(LocalSecretsTest, ConcurrentPutVersionsKeepOneCurrentAndOnePrevious) {
  ASSERT_TRUE(secrets_->Create("db", Text("v0"), {}, ""));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        if (!secrets_->PutVersion("db", Text("v" + std::to_string(t * 100 + i)), "")) ++failures;
        if (!secrets_->Get("db")) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto versions = secrets_->ListVersions("db");
  ASSERT_TRUE(versions);
  EXPECT_EQ(versions->size(), 41u);
  int current = 0, previous = 0;
  for (const auto& v : *versions) {
    for (const auto& s : v.stages) {
      current += s == "AWSCURRENT";
      previous += s == "AWSPREVIOUS";
    }
  }
  EXPECT_EQ(current, 1);
  EXPECT_EQ(previous, 1);
  EXPECT_EQ(versions->back().stages, std::vector<std::string>{"AWSCURRENT"});
}

}  // namespace
}  // namespace vigie::backend
