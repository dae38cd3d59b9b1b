#pragma once
// Test support for the provision suites: a Provisioner over a real SQLite store in a temp dir,
// the in-memory backend fakes (tests/testing/fake_backends.h, fake_secrets.h), a fake clock, a
// recording event sink and a filesystem whose next atomic write can be made to fail.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/policy.h"
#include "base/encoding.h"
#include "crypto/seal.h"
#include "crypto/sign.h"
#include "package/package.h"
#include "provision/provisioner.h"
#include "store/sqlite_store.h"
#include "testing/fake_backends.h"
#include "testing/fake_clock.h"
#include "testing/fake_secrets.h"
#include "testing/temp_dir.h"

namespace vigie::provision::testing {

// Records every event; Append fails once when armed.
class RecordingEventSink final : public ProvisionEventSink {
 public:
  struct Event {
    std::string kind, site, body;
  };
  vigie::Status Append(std::string_view kind, std::string_view site,
                       std::string_view body) override {
    if (fail_next) {
      fail_next = false;
      return MakeError(ErrorCode::kUnavailable, "ledger unavailable (injected)");
    }
    events.push_back({std::string(kind), std::string(site), std::string(body)});
    return OkStatus();
  }
  size_t Count(std::string_view kind) const {
    size_t n = 0;
    for (const auto& e : events) n += e.kind == kind ? 1 : 0;
    return n;
  }
  std::vector<Event> events;
  bool fail_next = false;
};

// The real filesystem, with a switch failing the next WriteFileAtomic (a full disk).
class FailingWriteFs final : public FileSystem {
 public:
  Result<std::string> ReadFile(const std::string& p) override { return base_->ReadFile(p); }
  vigie::Status WriteFileAtomic(const std::string& p, std::string_view d, uint32_t m) override {
    if (fail_next_write) {
      fail_next_write = false;
      return MakeError(ErrorCode::kIo, "write " + p + ": No space left on device (injected)");
    }
    return base_->WriteFileAtomic(p, d, m);
  }
  vigie::Status AppendFile(const std::string& p, std::string_view d, bool s) override {
    return base_->AppendFile(p, d, s);
  }
  bool Exists(const std::string& p) override { return base_->Exists(p); }
  vigie::Status CreateDirs(const std::string& p, uint32_t m) override {
    return base_->CreateDirs(p, m);
  }
  Result<std::vector<DirEntry>> ListDir(const std::string& p) override { return base_->ListDir(p); }
  vigie::Status Remove(const std::string& p) override { return base_->Remove(p); }
  Result<uint64_t> FileSize(const std::string& p) override { return base_->FileSize(p); }
  vigie::Status Truncate(const std::string& p, uint64_t s) override {
    return base_->Truncate(p, s);
  }
  bool fail_next_write = false;

 private:
  FileSystem* base_ = RealFileSystem();
};

// Members are public so that fault tables (free functions) can arm the fakes.
class ProvisionFixture : public ::testing::Test {
 public:
  ProvisionFixture()
      : fleet_key_(crypto::SigningKey::Generate(*RealRandom())),
        identity_(&clock_, backend::SitePolicyDocument),
        kms_(&clock_),
        secrets_(&clock_) {
    env_ = Env{&clock_, &fs_, RealRandom()};
    store::SqliteOptions o;
    o.path = DbPath();
    o.clock = &clock_;
    auto s = store::OpenSqliteStore(o);
    EXPECT_TRUE(s) << s.error().ToString();
    store_ = std::move(*s);
    options_.fleet_url = "https://fleet.example.test:8443";
    options_.fleet_tls_pin = "sha256//" + Base64Encode(Bytes(32, 0x42));
    options_.out_dir = dir_.File("packages");
    options_.s3_bucket = "vigie-site-data";
  }

  std::string DbPath() const { return dir_.File("vigie.db"); }
  std::string PackagePath(const std::string& site) const {
    return options_.out_dir + "/" + site + ".vpkg";
  }

  // A new provisioner over the fixture's dependencies (options_ as they are now).
  std::unique_ptr<Provisioner> NewProvisioner() {
    return std::make_unique<Provisioner>(
        ProvisionDeps{*store_, identity_, kms_, secrets_, fleet_key_, events_, env_}, options_);
  }
  Provisioner& P() {
    if (!provisioner_) provisioner_ = NewProvisioner();
    return *provisioner_;
  }

  // A site's key pair, made once per site id.
  const crypto::BoxKeyPair& SiteKey(const std::string& site) {
    auto it = site_keys_.find(site);
    if (it == site_keys_.end()) {
      it = site_keys_.emplace(site, crypto::GenerateBoxKeyPair(*RealRandom())).first;
    }
    return it->second;
  }
  SiteRequest Request(const std::string& site, const std::string& region = "eu-west-3") {
    return SiteRequest{site, region, SiteKey(site).public_key};
  }

  // A single-column, single-row query as text ("<none>" when no row).
  std::string Scalar(const std::string& sql, std::vector<store::Value> params = {}) {
    auto rows = store_->Query(sql, std::move(params));
    EXPECT_TRUE(rows) << rows.error().ToString();
    if (!rows || rows->empty()) return "<none>";
    const store::Value& v = (*rows)[0].values()[0];
    if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
    if (auto* t = std::get_if<std::string>(&v)) return *t;
    if (std::holds_alternative<std::monostate>(v)) return "<null>";
    return "<blob>";
  }

  // Opens the site's package as the agent would.
  std::optional<package::OpenedPackage> OpenPackage(const std::string& site) {
    auto text = RealFileSystem()->ReadFile(PackagePath(site));
    EXPECT_TRUE(text) << text.error().ToString();
    if (!text) return std::nullopt;
    auto pair = crypto::BoxKeyPairFromSecretKey(SiteKey(site).secret_key);
    EXPECT_TRUE(pair) << pair.error().ToString();
    if (!pair) return std::nullopt;
    auto opened =
        package::VerifyAndOpenPackage(AsBytes(*text), fleet_key_.public_key(), *pair, clock_.Now());
    EXPECT_TRUE(opened) << opened.error().ToString();
    if (!opened) return std::nullopt;
    return std::move(*opened);
  }

  vigie::testing::TempDir dir_;
  vigie::testing::FakeClock clock_;
  FailingWriteFs fs_;
  Env env_;
  std::unique_ptr<store::Store> store_;
  crypto::SigningKey fleet_key_;
  vigie::testing::FakeIdentity identity_;
  vigie::testing::FakeKms kms_;
  vigie::testing::FakeSecrets secrets_;
  RecordingEventSink events_;
  ProvisionOptions options_;
  std::unique_ptr<Provisioner> provisioner_;
  std::map<std::string, crypto::BoxKeyPair> site_keys_;
};

}  // namespace vigie::provision::testing
