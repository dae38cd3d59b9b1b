#include "backend/local/local_kms.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <regex>
#include <thread>

#include "testing/fake_clock.h"
#include "testing/fault_fs.h"
#include "testing/temp_dir.h"

namespace vigie::backend {
namespace {

using std::chrono::hours;
using vigie::testing::FakeClock;
using vigie::testing::TempDir;

constexpr auto kDay = hours(24);

class LocalKmsTest : public ::testing::Test {
 protected:
  Env MakeEnv(FileSystem* fs = RealFileSystem()) { return Env{&clock_, fs, RealRandom()}; }
  std::unique_ptr<LocalKms> Open(FileSystem* fs = RealFileSystem()) {
    auto kms = OpenLocalKms(dir_.path(), MakeEnv(fs));
    EXPECT_TRUE(kms) << kms.error().ToString();
    return kms ? std::move(*kms) : nullptr;
  }
  static uint32_t ModeOf(const std::string& path) {
    struct stat st;
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 0777;
  }

  TempDir dir_;
  FakeClock clock_;
};

SecretBytes Text(std::string_view s) { return SecretBytes::CopyFrom(s); }

TEST_F(LocalKmsTest, CreateKeyWritesAPrivateFileAndDescribes) {
  auto kms = Open();
  auto key = kms->CreateKey("test key", {{"site", "s1"}});
  ASSERT_TRUE(key) << key.error().ToString();
  EXPECT_TRUE(std::regex_match(key->key_id, std::regex("local-[0-9a-f]{32}"))) << key->key_id;
  EXPECT_EQ(key->arn, "local:kms:" + key->key_id);
  EXPECT_TRUE(key->enabled);
  EXPECT_FALSE(key->rotation_enabled);
  EXPECT_EQ(key->created_at, clock_.Now());
  EXPECT_FALSE(key->last_rotated_at);
  EXPECT_EQ(ModeOf(dir_.File("kms")), 0700u);
  EXPECT_EQ(ModeOf(kms->KeyPath(key->key_id)), 0600u);

  auto described = kms->DescribeKey(key->arn);  // an ARN works as a key id
  ASSERT_TRUE(described) << described.error().ToString();
  EXPECT_EQ(described->key_id, key->key_id);

  auto other = kms->CreateKey("another", {});
  ASSERT_TRUE(other);
  EXPECT_NE(other->key_id, key->key_id);
  auto all = kms->ListKeys();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 2u);
}

TEST_F(LocalKmsTest, ExistingDirectoryIsNarrowedTo0700) {
  ASSERT_EQ(::mkdir(dir_.File("kms").c_str(), 0755), 0);
  ASSERT_EQ(::chmod(dir_.File("kms").c_str(), 0755), 0);
  auto kms = Open();
  EXPECT_EQ(ModeOf(dir_.File("kms")), 0700u);
}

TEST_F(LocalKmsTest, EncryptDecryptRoundTripAndKeysOutliveTheObject) {
  std::string key_id;
  Bytes ct;
  {
    auto kms = Open();
    key_id = kms->CreateKey("k", {})->key_id;
    auto c = kms->Encrypt(key_id, Text("attack at dawn"));
    ASSERT_TRUE(c) << c.error().ToString();
    ct = *c;
    EXPECT_EQ(std::string(AsString(ct)).find("attack at dawn"), std::string::npos);
    auto p = kms->Decrypt(ct);
    ASSERT_TRUE(p) << p.error().ToString();
    EXPECT_EQ(p->view(), "attack at dawn");
  }
  auto reopened = Open();
  auto p = reopened->Decrypt(ct);
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(p->view(), "attack at dawn");
}

TEST_F(LocalKmsTest, TamperedCiphertextIsIntegrityError) {
  auto kms = Open();
  const std::string key_id = kms->CreateKey("k", {})->key_id;
  const Bytes ct = *kms->Encrypt(key_id, Text("secret payload"));
  // Every single-byte change, anywhere (header or body), is detected.
  for (size_t i = 0; i < ct.size(); ++i) {
    Bytes bad = ct;
    bad[i] ^= 0x01;
    auto p = kms->Decrypt(bad);
    ASSERT_FALSE(p) << "byte " << i;
    EXPECT_TRUE(p.error().code == ErrorCode::kIntegrity || p.error().code == ErrorCode::kNotFound)
        << "byte " << i << ": " << p.error().ToString();
  }
  Bytes body_flip = ct;
  body_flip.back() ^= 0x80;
  EXPECT_EQ(kms->Decrypt(body_flip).error().code, ErrorCode::kIntegrity);
  Bytes truncated(ct.begin(), ct.end() - 1);
  EXPECT_EQ(kms->Decrypt(truncated).error().code, ErrorCode::kIntegrity);
  EXPECT_EQ(kms->Decrypt(Bytes{}).error().code, ErrorCode::kIntegrity);
  Bytes bad_magic = ct;
  bad_magic[0] = 'X';
  auto e = kms->Decrypt(bad_magic);
  EXPECT_EQ(e.error().code, ErrorCode::kIntegrity);
  EXPECT_NE(e.error().message.find("malformed"), std::string::npos) << e.error().message;
}

TEST_F(LocalKmsTest, RotationKeepsOldCiphertextsDecryptable) {
  auto kms = Open();
  const std::string key_id = kms->CreateKey("k", {})->key_id;
  const Bytes old_ct = *kms->Encrypt(key_id, Text("v1 data"));
  clock_.Advance(kDay);
  auto rotated = kms->Rotate(key_id);
  ASSERT_TRUE(rotated) << rotated.error().ToString();
  ASSERT_TRUE(rotated->last_rotated_at);
  EXPECT_EQ(*rotated->last_rotated_at, clock_.Now());
  EXPECT_EQ(*kms->VersionCount(key_id), 2);
  const Bytes new_ct = *kms->Encrypt(key_id, Text("v2 data"));
  // New encryptions name the newest version (the 4 bytes after the key id in the header).
  const size_t version_at = 4 + 1 + key_id.size();
  EXPECT_EQ(old_ct[version_at + 3], 1);
  EXPECT_EQ(new_ct[version_at + 3], 2);
  EXPECT_EQ(kms->Decrypt(old_ct)->view(), "v1 data");
  EXPECT_EQ(kms->Decrypt(new_ct)->view(), "v2 data");

  // A fresh object (another process) reads both versions from the file.
  auto reopened = Open();
  EXPECT_EQ(reopened->Decrypt(old_ct)->view(), "v1 data");
  EXPECT_EQ(reopened->Decrypt(new_ct)->view(), "v2 data");
}

TEST_F(LocalKmsTest, DecryptSeesARotationMadeByAnotherObject) {
  auto a = Open();
  auto b = Open();
  const std::string key_id = a->CreateKey("k", {})->key_id;
  ASSERT_TRUE(b->Decrypt(*a->Encrypt(key_id, Text("x"))));  // b caches version 1
  ASSERT_TRUE(a->Rotate(key_id));
  auto p = b->Decrypt(*a->Encrypt(key_id, Text("after rotation")));
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(p->view(), "after rotation");
}

TEST_F(LocalKmsTest, EnableKeyRotationValidatesThePeriod) {
  auto kms = Open();
  const std::string key_id = kms->CreateKey("k", {})->key_id;
  for (int bad : {0, 89, 2561, -1}) {
    Status st = kms->EnableKeyRotation(key_id, bad);
    ASSERT_FALSE(st) << bad;
    EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(st.error().message.find("90..2560"), std::string::npos) << st.error().message;
  }
  EXPECT_FALSE(kms->DescribeKey(key_id)->rotation_enabled);
  ASSERT_TRUE(kms->EnableKeyRotation(key_id, 365));
  auto info = Open()->DescribeKey(key_id);  // persisted
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->rotation_enabled);
  EXPECT_EQ(info->rotation_period_days, 365);
  EXPECT_TRUE(kms->EnableKeyRotation(key_id, 90));
  EXPECT_TRUE(kms->EnableKeyRotation(key_id, 2560));
}

TEST_F(LocalKmsTest, RotateIfDueFollowsThePeriod) {
  auto kms = Open();
  const std::string key_id = kms->CreateKey("k", {})->key_id;
  EXPECT_FALSE(*kms->RotateIfDue(key_id));  // rotation off
  clock_.Advance(kDay * 400);
  EXPECT_FALSE(*kms->RotateIfDue(key_id));  // still off, however old
  ASSERT_TRUE(kms->EnableKeyRotation(key_id, 365));
  EXPECT_TRUE(*kms->RotateIfDue(key_id));  // the material is 400 days old
  EXPECT_FALSE(*kms->RotateIfDue(key_id));
  clock_.Advance(kDay * 364);
  EXPECT_FALSE(*kms->RotateIfDue(key_id));
  clock_.Advance(kDay);
  EXPECT_TRUE(*kms->RotateIfDue(key_id));
  EXPECT_EQ(*kms->VersionCount(key_id), 3);
  EXPECT_EQ(*kms->DescribeKey(key_id)->last_rotated_at, clock_.Now());
}

TEST_F(LocalKmsTest, ScheduleKeyDeletionDisablesTheKey) {
  auto kms = Open();
  const std::string key_id = kms->CreateKey("k", {})->key_id;
  const Bytes ct = *kms->Encrypt(key_id, Text("x"));
  EXPECT_EQ(kms->ScheduleKeyDeletion(key_id, 6).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(kms->ScheduleKeyDeletion(key_id, 31).error().code, ErrorCode::kInvalidArgument);
  ASSERT_TRUE(kms->ScheduleKeyDeletion(key_id, 7));
  EXPECT_FALSE(kms->DescribeKey(key_id)->enabled);
  EXPECT_FALSE(Open()->DescribeKey(key_id)->enabled);  // persisted
  auto enc = kms->Encrypt(key_id, Text("y"));
  ASSERT_FALSE(enc);
  EXPECT_EQ(enc.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(enc.error().message.find("pending deletion"), std::string::npos);
  EXPECT_EQ(kms->Decrypt(ct).error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(kms->Rotate(key_id).error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(kms->EnableKeyRotation(key_id, 365).error().code, ErrorCode::kFailedPrecondition);
  // Compensation: again, or for a key that never existed, succeeds.
  EXPECT_TRUE(kms->ScheduleKeyDeletion(key_id, 7));
  EXPECT_TRUE(kms->ScheduleKeyDeletion("local-" + std::string(32, '0'), 7));
}

TEST_F(LocalKmsTest, GenerateDataKeyReturnsAWrappedRandomKey) {
  auto kms = Open();
  const std::string key_id = kms->CreateKey("k", {})->key_id;
  auto a = kms->GenerateDataKey(key_id);
  auto b = kms->GenerateDataKey(key_id);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->plaintext.size(), 32u);
  EXPECT_FALSE(a->plaintext == b->plaintext);
  auto unwrapped = kms->Decrypt(a->ciphertext);
  ASSERT_TRUE(unwrapped);
  EXPECT_TRUE(*unwrapped == a->plaintext);
}

TEST_F(LocalKmsTest, ErrorsNameTheKeyAndRejectPathsAsIds) {
  auto kms = Open();
  auto missing = kms->DescribeKey("local-" + std::string(32, 'a'));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find(std::string(32, 'a')), std::string::npos);
  for (const char* bad : {"../../etc/passwd", "local-XYZ", "", "local:kms:../x"}) {
    auto r = kms->DescribeKey(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << bad;
  }
  const std::string key_id = kms->CreateKey("k", {})->key_id;
  SecretBytes big(kMaxKmsPlaintextSize + 1);
  EXPECT_EQ(kms->Encrypt(key_id, big).error().code, ErrorCode::kInvalidArgument);
  // A ciphertext from another KMS directory names a key this one does not have.
  TempDir other_dir;
  auto other = *OpenLocalKms(other_dir.path(), MakeEnv());
  const Bytes foreign = *other->Encrypt(other->CreateKey("o", {})->key_id, Text("x"));
  EXPECT_EQ(kms->Decrypt(foreign).error().code, ErrorCode::kNotFound);
}

TEST_F(LocalKmsTest, CorruptKeyFileIsIntegrityErrorNamingTheFile) {
  auto kms = Open();
  const std::string key_id = kms->CreateKey("k", {})->key_id;
  ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(kms->KeyPath(key_id), "{\"format\": 1}", 0600));
  auto r = Open()->DescribeKey(key_id);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);
  EXPECT_NE(r.error().message.find(kms->KeyPath(key_id)), std::string::npos) << r.error().message;
}

TEST_F(LocalKmsTest, FailedWriteLeavesTheKeyAsItWas) {
  vigie::testing::FaultInjectingFileSystem fs(RealFileSystem());
  auto kms = Open(&fs);
  const std::string key_id = kms->CreateKey("k", {})->key_id;
  fs.FailAfter(1);
  auto r = kms->Rotate(key_id);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
  EXPECT_FALSE(kms->EnableKeyRotation(key_id, 365));
  fs.FailAfter(0);
  EXPECT_EQ(*kms->VersionCount(key_id), 1);
  EXPECT_FALSE(kms->DescribeKey(key_id)->rotation_enabled);
  auto reopened = Open();
  EXPECT_EQ(*reopened->VersionCount(key_id), 1);
  EXPECT_EQ(reopened->Decrypt(*kms->Encrypt(key_id, Text("still works")))->view(), "still works");
}

TEST_F(LocalKmsTest, ConcurrentUseWhileRotating) {
  auto kms = Open();
  const std::string key_id = kms->CreateKey("k", {})->key_id;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const std::string msg = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto ct = kms->Encrypt(key_id, Text(msg));
        auto pt = ct ? kms->Decrypt(*ct) : Result<SecretBytes>(tl::unexpect, Error{});
        if (!pt || pt->view() != msg) ++failures;
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 5; ++i) {
      if (!kms->Rotate(key_id)) ++failures;
    }
  });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(*kms->VersionCount(key_id), 6);
}

}  // namespace
}  // namespace vigie::backend
