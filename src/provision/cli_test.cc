#include "provision/cli.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>

#include "base/log.h"
#include "package/enrollment_key.h"
#include "provision/test_util.h"

namespace vigie::provision {
namespace {

// Captures what a function prints to a FILE*.
class Capture {
 public:
  Capture() : file_(open_memstream(&buf_, &size_)) {}
  ~Capture() {
    std::fclose(file_);
    std::free(buf_);
  }
  std::FILE* file() { return file_; }
  std::string str() {
    std::fflush(file_);
    return std::string(buf_, size_);
  }

 private:
  char* buf_ = nullptr;
  size_t size_ = 0;
  std::FILE* file_;
};

class SiteProvisionCliTest : public testing::ProvisionFixture {
 protected:
  SiteProvisionCliTest() { log::LogToStream(logs_); }
  ~SiteProvisionCliTest() override { log::LogToStderr(); }

  // Writes the site's enrollment key pair as `vigie agent keygen` would; returns the .pub path.
  std::string Keygen(const std::string& site) {
    Env env = RealEnv();
    auto files = package::WriteEnrollmentKeyPair(dir_.File("agents/" + site), env);
    EXPECT_TRUE(files) << files.error().ToString();
    auto pair = package::LoadEnrollmentKeyPair(files->private_key_path, *RealFileSystem());
    EXPECT_TRUE(pair) << pair.error().ToString();
    site_keys_.erase(site);
    site_keys_.emplace(site, std::move(*pair));
    return files->public_key_path;
  }

  // Every generated secret value of `site`, from its package (opened with the site's key) and
  // the fleet's copy in the secrets backend.
  std::vector<std::string> SecretValues(const std::string& site) {
    std::vector<std::string> out;
    auto opened = OpenPackage(site);
    EXPECT_TRUE(opened);
    if (!opened) return out;
    for (const auto& item : opened->secrets.items) {
      if (item.name == package::kCloudAccessKeyId) continue;  // an identifier, not a secret
      out.emplace_back(item.value.view());
    }
    auto copy = secrets_.Get(AgentSecretName(site), "AWSCURRENT", "");
    EXPECT_TRUE(copy);
    if (copy) out.emplace_back(copy->view());
    EXPECT_EQ(out.size(), 5u);
    return out;
  }

  // Counts occurrences of every value, raw and in hex / base64, in `haystack`.
  static int Hits(const std::string& haystack, const std::vector<std::string>& values) {
    int hits = 0;
    for (const auto& v : values) {
      for (const std::string& form : {v, HexEncode(AsBytes(v)), Base64Encode(AsBytes(v))}) {
        if (form.size() >= 16 && haystack.find(form) != std::string::npos) ++hits;
      }
    }
    return hits;
  }

  // The bytes of the store's files as they are on disk now (database, WAL, shared memory).
  std::string StoreBytes() {
    std::string all;
    for (const std::string suffix : {"", "-wal", "-shm"}) {
      auto b = RealFileSystem()->ReadFile(DbPath() + suffix);
      if (b) all += *b;
    }
    return all;
  }

  std::ostringstream logs_;
};

TEST_F(SiteProvisionCliTest, PrintsNamesAndProvenanceNeverValuesAndScansClean) {
  const std::string pub = Keygen("acme-paris");
  Capture out, err;
  int rc = RunSiteProvision({"acme-paris", "eu-west-3", pub}, P(), env_, out.file(), err.file());
  ASSERT_EQ(rc, 0) << err.str();
  const std::string printed = out.str();
  EXPECT_NE(printed.find("site acme-paris: provisioned"), std::string::npos) << printed;
  EXPECT_NE(printed.find(PackagePath("acme-paris")), std::string::npos);
  EXPECT_NE(printed.find("fake:iam::user/vigie/sites/vigie-site-acme-paris"), std::string::npos);
  EXPECT_NE(printed.find("admin_password"), std::string::npos);
  EXPECT_NE(printed.find("must be changed at first login"), std::string::npos);
  EXPECT_NE(printed.find("vigie.csprng.libsodium"), std::string::npos);

  // Re-running prints what exists and changes nothing.
  Capture out2, err2;
  ASSERT_EQ(RunSiteProvision({"acme-paris", "eu-west-3", pub}, P(), env_, out2.file(), err2.file()),
            0);
  EXPECT_NE(out2.str().find("already provisioned"), std::string::npos);

  // The scan (PROV_003): every generated value, searched in the store files, the logs, the
  // output and every file left in the package directory but the sealed package itself.
  const std::vector<std::string> values = SecretValues("acme-paris");
  ASSERT_EQ(values.size(), 5u);
  const std::string logs = logs_.str();
  EXPECT_NE(logs.find("site.provisioned"), std::string::npos) << "logs were not captured";
  // The scan can find what it looks for: a value planted in a copy of the logs is a hit.
  EXPECT_EQ(Hits(logs + values[0], values), 1);
  EXPECT_EQ(Hits(StoreBytes(), values), 0) << "a secret value is in the store files";
  EXPECT_EQ(Hits(logs, values), 0) << "a secret value is in the logs";
  EXPECT_EQ(Hits(printed + out2.str() + err.str() + err2.str(), values), 0)
      << "a secret value was printed";
  auto entries = RealFileSystem()->ListDir(options_.out_dir);
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 1u) << "a temporary file was left in the package directory";
  EXPECT_EQ((*entries)[0].name, "acme-paris.vpkg");
  const std::string package_bytes = *RealFileSystem()->ReadFile(PackagePath("acme-paris"));
  EXPECT_EQ(Hits(package_bytes, values), 0) << "a secret value is in clear in the package";
  ASSERT_TRUE(store_->Close());
  EXPECT_EQ(Hits(StoreBytes(), values), 0) << "a secret value is in the closed store";
}

TEST_F(SiteProvisionCliTest, ErrorsGoToErrWithAnExitCode) {
  Capture out, err;
  EXPECT_EQ(RunSiteProvision({"acme", "eu-west-3", ""}, P(), env_, out.file(), err.file()),
            ExitCodeFor(ErrorCode::kInvalidArgument));
  EXPECT_NE(err.str().find("--enrollment-key is required"), std::string::npos);
  Capture out2, err2;
  EXPECT_NE(RunSiteProvision({"acme", "eu-west-3", dir_.File("none.pub")}, P(), env_, out2.file(),
                             err2.file()),
            0);
  EXPECT_NE(err2.str().find("--enrollment-key"), std::string::npos);
  EXPECT_EQ(out.str() + out2.str(), "");

  const std::string pub = Keygen("acme");
  kms_.FailNextCallTo("CreateKey", Error{ErrorCode::kUnavailable, "KMS unreachable (injected)"});
  Capture out3, err3;
  EXPECT_EQ(RunSiteProvision({"acme", "eu-west-3", pub}, P(), env_, out3.file(), err3.file()),
            ExitCodeFor(ErrorCode::kUnavailable));
  EXPECT_NE(err3.str().find("step kms_key failed"), std::string::npos) << err3.str();
}

TEST_F(SiteProvisionCliTest, BatchDrawsAProgressBarAndScansClean) {
  std::string text = "site_id,region,enrollment_key\n";
  for (const std::string site : {"site-a", "site-b", "site-c"}) {
    text += site + ",eu-west-3," + Keygen(site) + "\n";
  }
  ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(dir_.File("wave.csv"), text));
  Capture out, err;
  int rc = RunSiteProvisionBatch(dir_.File("wave.csv"), P(), env_, out.file(), err.file(),
                                 ProgressMode::kAlways);
  ASSERT_EQ(rc, 0) << err.str();
  EXPECT_NE(err.str().find("\r[####################] 3/3 site-c"), std::string::npos) << err.str();
  EXPECT_NE(out.str().find("3 sites: 3 provisioned, 0 failed"), std::string::npos) << out.str();

  std::vector<std::string> values;
  for (const std::string site : {"site-a", "site-b", "site-c"}) {
    for (auto& v : SecretValues(site)) values.push_back(std::move(v));
  }
  EXPECT_EQ(Hits(StoreBytes() + logs_.str() + out.str() + err.str(), values), 0);

  // Without a terminal (kAuto on a memstream), no bar; a bad line stops everything up front.
  ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(dir_.File("bad.csv"), "site-d,eu-west-3\n"));
  Capture out2, err2;
  EXPECT_EQ(RunSiteProvisionBatch(dir_.File("bad.csv"), P(), env_, out2.file(), err2.file()),
            ExitCodeFor(ErrorCode::kInvalidArgument));
  EXPECT_NE(err2.str().find("bad.csv:1:"), std::string::npos) << err2.str();
  EXPECT_EQ(err2.str().find('\r'), std::string::npos);
}

}  // namespace
}  // namespace vigie::provision
