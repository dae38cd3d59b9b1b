// Provisioning is atomic against real AWS APIs (issue 4): the real Provisioner with the "aws"
// backends (AwsIdentity, AwsSecrets, AwsKms) against moto_server (tests/testing/moto_server.h),
// SigV4 checking on, as src/backend/aws/aws_backend_moto_test.cc builds them.
//
// Fault tables are not written by hand: at start-up one passing run is recorded through the
// fault-injecting HTTP decorator (tests/testing/fault_http.h) and the filesystem decorator
// (tests/testing/fault_fs.h), each call attributed to the Provisioner step in progress; every
// recorded AWS request is then failed in turn (transport error, HTTP 500 InternalFailure, HTTP
// 400 throttling), and so is every mutating filesystem operation of the package write. A new
// step, or a new call in a step, is therefore covered without editing this file. Each case
// asserts: nothing of the site is left on moto (no IAM user under /vigie/sites/, no access key,
// no secret even pending deletion, no KMS key that is not PendingDeletion: a KMS key cannot be
// deleted at once, compensation schedules its deletion), the site is recorded failed with the
// step and the cause, and a re-run without the fault completes with exactly one principal and
// one access key.
//
// Every case runs in one process (one moto_server, whose start takes seconds; moto's state is
// reset between cases): see CMakeLists.txt. Skipped when moto_server is not on PATH.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "backend/aws/aws_identity.h"
#include "backend/aws/aws_kms.h"
#include "backend/aws/aws_secrets.h"
#include "base/encoding.h"
#include "cloud/aws_client.h"
#include "crypto/seal.h"
#include "crypto/sign.h"
#include "http/curl_client.h"
#include "provision/provisioner.h"
#include "provision/test_util.h"
#include "store/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/fault_fs.h"
#include "testing/fault_http.h"
#include "testing/moto_server.h"
#include "testing/temp_dir.h"

namespace vigie::provision {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using vigie::testing::FaultInjectingFileSystem;
using vigie::testing::FaultInjectingHttpClient;
using vigie::testing::HttpFault;
using Json = nlohmann::json;

constexpr char kFormType[] = "application/x-www-form-urlencoded; charset=utf-8";
constexpr char kRegion[] = "eu-west-3";
constexpr char kBucket[] = "vigie-site-data";
constexpr char kIamPath[] = "/vigie/sites/";

std::vector<std::string> XmlAll(std::string_view body, const std::string& tag) {
  std::vector<std::string> out;
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  for (size_t a = body.find(open); a != std::string_view::npos; a = body.find(open, a + 1)) {
    const size_t start = a + open.size();
    out.emplace_back(body.substr(start, body.find(close, start) - start));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// One moto_server for the process, reset (state and auth) before each use.
class SharedMoto {
 public:
  // nullptr when moto_server is not on PATH; else the server (check error() for a failed start).
  // Owned by a function-local static, so the server (and its process group) is stopped when the
  // test binary exits instead of outliving it.
  static SharedMoto* Get() {
    static std::unique_ptr<SharedMoto> moto = [] {
      if (!vigie::testing::MotoServer::Available()) return std::unique_ptr<SharedMoto>();
      std::unique_ptr<SharedMoto> m(new SharedMoto());
      auto server = vigie::testing::MotoServer::Start({{"INITIAL_NO_AUTH_ACTION_COUNT", "0"}});
      if (!server) {
        m->error_ = server.error().ToString();
      } else {
        m->server_ = std::move(*server);
      }
      return m;
    }();
    return moto.get();
  }

  const std::string& error() const { return error_; }

  // Wipes every AWS resource moto holds, then creates an admin user (policy "*") and its key
  // through three unauthenticated calls; from then on every request is SigV4-checked.
  Status Reset() {
    if (!server_) return MakeError(ErrorCode::kUnavailable, "moto did not start: " + error_);
    const std::string base = server_->Endpoint();
    for (auto [path, body] : {std::pair<const char*, const char*>{"/moto-api/reset", ""},
                              {"/moto-api/reset-auth", "3"}}) {
      auto r = curl_.Send({.method = "POST", .url = base + path, .headers = {}, .body = body});
      if (!r || r->status != 200) {
        return MakeError(ErrorCode::kUnavailable, std::string("moto ") + path + " failed");
      }
    }
    cloud::AwsClient bootstrap(curl_, *RealClock(), Creds("AKIABOOTSTRAP0000000", "unused"),
                               {.endpoint_override = base});
    auto iam = [&](const std::string& form) {
      return bootstrap.Call("iam", "us-east-1", "POST", "/", "", {{"Content-Type", kFormType}},
                            form + "&Version=2010-05-08");
    };
    VIGIE_RETURN_IF_ERROR(iam("Action=CreateUser&UserName=vigie-admin"));
    VIGIE_ASSIGN_OR_RETURN(http::HttpResponse key,
                           iam("Action=CreateAccessKey&UserName=vigie-admin"));
    const auto ids = XmlAll(key.body, "AccessKeyId");
    const auto secrets = XmlAll(key.body, "SecretAccessKey");
    if (ids.empty() || secrets.empty()) {
      return MakeError(ErrorCode::kUnavailable, "moto CreateAccessKey: no key in the reply");
    }
    const std::string policy =
        R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]})";
    VIGIE_RETURN_IF_ERROR(
        iam("Action=PutUserPolicy&UserName=vigie-admin&PolicyName=all&PolicyDocument=" +
            cloud::SigV4UriEncode(policy, false)));
    admin_id_ = ids[0];
    admin_secret_ = secrets[0];
    fault_http_.Disarm();
    fault_http_.ClearLog();
    fault_http_.SetObserver(nullptr);
    // Through the fault injector: what the Provisioner's backends use.
    client_ = std::make_unique<cloud::AwsClient>(
        fault_http_, *RealClock(), Creds(admin_id_, admin_secret_),
        cloud::AwsClientOptions{.endpoint_override = base});
    // Straight to moto: what the assertions use (never faulted, never logged).
    inspect_ =
        std::make_unique<cloud::AwsClient>(curl_, *RealClock(), Creds(admin_id_, admin_secret_),
                                           cloud::AwsClientOptions{.endpoint_override = base});
    return OkStatus();
  }

  FaultInjectingHttpClient& http() { return fault_http_; }
  const cloud::AwsClient& client() const { return *client_; }
  const cloud::AwsClient& inspect() const { return *inspect_; }

 private:
  SharedMoto() = default;
  static cloud::AwsCredentials Creds(const std::string& id, std::string_view secret) {
    return {id, SecretBytes::CopyFrom(secret), {}};
  }

  std::unique_ptr<vigie::testing::MotoServer> server_;
  std::string error_;
  http::CurlClient curl_;
  FaultInjectingHttpClient fault_http_{curl_};
  std::string admin_id_, admin_secret_;
  std::unique_ptr<cloud::AwsClient> client_;
  std::unique_ptr<cloud::AwsClient> inspect_;
};

// ---------------------------------------------------------------------------------------------
// A FileSystem decorator that calls `observer` before each mutating operation (recording only).
class ObservedFs final : public FileSystem {
 public:
  explicit ObservedFs(FileSystem* base) : base_(base) {}
  std::function<void()> observer;

  Result<std::string> ReadFile(const std::string& p) override { return base_->ReadFile(p); }
  vigie::Status WriteFileAtomic(const std::string& p, std::string_view d, uint32_t m) override {
    Notify();
    return base_->WriteFileAtomic(p, d, m);
  }
  vigie::Status AppendFile(const std::string& p, std::string_view d, bool s) override {
    Notify();
    return base_->AppendFile(p, d, s);
  }
  bool Exists(const std::string& p) override { return base_->Exists(p); }
  vigie::Status CreateDirs(const std::string& p, uint32_t m) override {
    Notify();
    return base_->CreateDirs(p, m);
  }
  Result<std::vector<DirEntry>> ListDir(const std::string& p) override { return base_->ListDir(p); }
  vigie::Status Remove(const std::string& p) override {
    Notify();
    return base_->Remove(p);
  }
  Result<uint64_t> FileSize(const std::string& p) override { return base_->FileSize(p); }
  vigie::Status Truncate(const std::string& p, uint64_t s) override {
    Notify();
    return base_->Truncate(p, s);
  }

 private:
  void Notify() {
    if (observer) observer();
  }
  FileSystem* base_;
};

// ---------------------------------------------------------------------------------------------
// One Provisioner over the aws backends on the shared moto, a fresh SQLite store and a
// fault-injecting filesystem in a temp dir.
class Rig {
 public:
  explicit Rig(SharedMoto& moto)
      : moto_(moto),
        fleet_key_(crypto::SigningKey::Generate(*RealRandom())),
        fault_fs_(RealFileSystem()),
        fs_(&fault_fs_) {}

  Status Init() {
    store::SqliteOptions o;
    o.path = dir_.File("vigie.db");
    o.clock = &clock_;
    VIGIE_ASSIGN_OR_RETURN(store_, store::OpenSqliteStore(o));
    VIGIE_ASSIGN_OR_RETURN(identity_, backend::AwsIdentity::Create(
                                          moto_.client(), {.iam_path = std::string(kIamPath)}));
    VIGIE_ASSIGN_OR_RETURN(secrets_, backend::AwsSecrets::Create(moto_.client(), {kRegion}));
    VIGIE_ASSIGN_OR_RETURN(kms_, backend::AwsKms::Create(moto_.client(), {kRegion}));
    VIGIE_ASSIGN_OR_RETURN(
        inspect_identity_,
        backend::AwsIdentity::Create(moto_.inspect(), {.iam_path = std::string(kIamPath)}));
    options_.fleet_url = "https://fleet.example.test:8443";
    options_.fleet_tls_pin = "sha256//" + Base64Encode(Bytes(32, 0x42));
    options_.out_dir = dir_.File("packages");
    options_.s3_bucket = kBucket;
    provisioner_ = std::make_unique<Provisioner>(
        ProvisionDeps{*store_, *identity_, *kms_, *secrets_, fleet_key_, events_,
                      Env{&clock_, &fs_, RealRandom()}},
        options_);
    return OkStatus();
  }

  SiteRequest Request(const std::string& site) {
    auto it = site_keys_.find(site);
    if (it == site_keys_.end()) {
      it = site_keys_.emplace(site, crypto::GenerateBoxKeyPair(*RealRandom())).first;
    }
    return SiteRequest{site, kRegion, it->second.public_key};
  }
  std::string PackagePath(const std::string& site) const {
    return options_.out_dir + "/" + site + ".vpkg";
  }

  // A single-column, single-row query as text ("<none>" when no row, "<null>" for NULL).
  std::string Scalar(const std::string& sql, std::vector<store::Value> params = {}) {
    auto rows = store_->Query(sql, std::move(params));
    if (!rows) return "<error: " + rows.error().ToString() + ">";
    if (rows->empty()) return "<none>";
    const store::Value& v = (*rows)[0].values()[0];
    if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
    if (auto* t = std::get_if<std::string>(&v)) return *t;
    if (std::holds_alternative<std::monostate>(v)) return "<null>";
    return "<blob>";
  }
  int DoneSteps(const std::string& site) {
    return std::stoi(Scalar(
        "SELECT COUNT(*) FROM provision_steps WHERE site_id = ? AND outcome = 'done'", {site}));
  }

  // ----- What moto holds, read straight from it (not through the fault injector). -----
  Result<std::string> Iam(const std::string& form) {
    VIGIE_ASSIGN_OR_RETURN(
        http::HttpResponse r,
        moto_.inspect().Call("iam", "us-east-1", "POST", "/", "", {{"Content-Type", kFormType}},
                             form + "&Version=2010-05-08"));
    return std::move(r.body);
  }
  Result<Json> JsonCall(const std::string& service, const std::string& target, Json body) {
    VIGIE_ASSIGN_OR_RETURN(http::HttpResponse r,
                           moto_.inspect().Call(service, kRegion, "POST", "/", "",
                                                {{"Content-Type", "application/x-amz-json-1.1"},
                                                 {"X-Amz-Target", target}},
                                                body.dump()));
    return Json::parse(r.body);
  }
  // IAM users under /vigie/sites/ (name -> path).
  std::map<std::string, std::string> SiteUsers() {
    std::map<std::string, std::string> out;
    auto body = Iam("Action=ListUsers&PathPrefix=%2Fvigie%2Fsites%2F&MaxItems=1000");
    EXPECT_TRUE(body) << body.error().ToString();
    if (!body) return out;
    const auto names = XmlAll(*body, "UserName");
    const auto paths = XmlAll(*body, "Path");
    EXPECT_EQ(names.size(), paths.size());
    for (size_t i = 0; i < names.size() && i < paths.size(); ++i) out[names[i]] = paths[i];
    return out;
  }
  std::vector<std::string> AccessKeysOf(const std::string& user) {
    auto body = Iam("Action=ListAccessKeys&UserName=" + user);
    if (!body) return {"<" + body.error().ToString() + ">"};
    return XmlAll(*body, "AccessKeyId");
  }
  std::map<std::string, std::string> UserTags(const std::string& user) {
    std::map<std::string, std::string> tags;
    auto body = Iam("Action=ListUserTags&UserName=" + user);
    EXPECT_TRUE(body) << body.error().ToString();
    if (!body) return tags;
    const auto keys = XmlAll(*body, "Key");
    const auto values = XmlAll(*body, "Value");
    for (size_t i = 0; i < keys.size() && i < values.size(); ++i) tags[keys[i]] = values[i];
    return tags;
  }
  // Every secret moto holds, including any scheduled for deletion (a secret "deleted" with a
  // recovery window would still be listed, and restorable: compensation must force-delete).
  std::vector<std::string> AllSecrets() {
    std::vector<std::string> names;
    auto r = JsonCall("secretsmanager", "secretsmanager.ListSecrets",
                      Json{{"IncludePlannedDeletion", true}, {"MaxResults", 100}});
    EXPECT_TRUE(r) << r.error().ToString();
    if (!r) return names;
    for (const Json& s : r->value("SecretList", Json::array())) {
      const bool pending = s.contains("DeletedDate") && !s["DeletedDate"].is_null();
      names.push_back(s.value("Name", "") + (pending ? " (pending)" : ""));
    }
    return names;
  }
  // Every KMS key moto holds: id -> KeyState.
  std::map<std::string, std::string> AllKmsKeys() {
    std::map<std::string, std::string> out;
    auto r = JsonCall("kms", "TrentService.ListKeys", Json{{"Limit", 1000}});
    EXPECT_TRUE(r) << r.error().ToString();
    if (!r) return out;
    for (const Json& k : r->value("Keys", Json::array())) {
      const std::string id = k.value("KeyId", "");
      auto d = JsonCall("kms", "TrentService.DescribeKey", Json{{"KeyId", id}});
      EXPECT_TRUE(d) << d.error().ToString();
      if (d) out[id] = (*d)["KeyMetadata"].value("KeyState", "");
    }
    return out;
  }
  std::vector<std::string> UsableKmsKeys() {
    std::vector<std::string> out;
    for (const auto& [id, state] : AllKmsKeys()) {
      if (state != "PendingDeletion") out.push_back(id + " (" + state + ")");
    }
    return out;
  }

  SharedMoto& moto_;
  vigie::testing::TempDir dir_;
  vigie::testing::FakeClock clock_;
  crypto::SigningKey fleet_key_;
  FaultInjectingFileSystem fault_fs_;
  ObservedFs fs_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<backend::AwsIdentity> identity_;
  std::unique_ptr<backend::AwsSecrets> secrets_;
  std::unique_ptr<backend::AwsKms> kms_;
  std::unique_ptr<backend::AwsIdentity> inspect_identity_;
  testing::RecordingEventSink events_;
  ProvisionOptions options_;
  std::unique_ptr<Provisioner> provisioner_;
  std::map<std::string, crypto::BoxKeyPair> site_keys_;
};

// ---------------------------------------------------------------------------------------------
// The calls of one passing run, each with the Provisioner step it belongs to.
struct Fault {
  std::string action;  // "iam:CreateUser", ...; "fs" for a filesystem operation
  int occurrence = 0;  // n-th request of that action in the run; n-th fs mutating step
  std::string step;    // the Provisioner step in progress
  HttpFault kind = HttpFault::kTransport;

  std::string Name() const {
    std::string n = step + "_" + action + "_" + std::to_string(occurrence);
    if (action != "fs") n += "_" + std::string(HttpFaultName(kind));
    for (char& c : n) {
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    }
    return n;
  }
};

void PrintTo(const Fault& f, std::ostream* os) { *os << f.Name(); }

struct Recording {
  std::vector<Fault> aws;  // one entry per request (kind unset)
  std::vector<Fault> fs;   // one entry per mutating filesystem step
  std::string error;       // why nothing was recorded
};

const Recording& Recorded() {
  static const Recording* recording = [] {
    auto* rec = new Recording();
    SharedMoto* moto = SharedMoto::Get();
    if (moto == nullptr) return rec;
    if (auto s = moto->Reset(); !s) {
      rec->error = s.error().ToString();
      return rec;
    }
    Rig rig(*moto);
    if (auto s = rig.Init(); !s) {
      rec->error = s.error().ToString();
      return rec;
    }
    const std::string site = "recorded-run";
    // For each call: its action and how many steps were done when it was made.
    std::vector<std::pair<std::string, int>> calls;
    std::vector<std::pair<int, int>> fs_calls;  // (fault-fs steps before the call, steps done)
    moto->http().SetObserver(
        [&](const std::string& action) { calls.emplace_back(action, rig.DoneSteps(site)); });
    rig.fs_.observer = [&] { fs_calls.emplace_back(rig.fault_fs_.steps(), rig.DoneSteps(site)); };
    auto result = rig.provisioner_->Provision(rig.Request(site));
    moto->http().SetObserver(nullptr);
    rig.fs_.observer = nullptr;
    if (!result) {
      rec->error = "the recorded run failed: " + result.error().ToString();
      return rec;
    }
    const std::vector<std::string>& steps = result->steps;
    auto step_at = [&](int done) {
      return done >= 0 && static_cast<size_t>(done) < steps.size() ? steps[done] : "<after>";
    };
    std::map<std::string, int> seen;
    for (const auto& [action, done] : calls) {
      rec->aws.push_back(Fault{action, ++seen[action], step_at(done)});
    }
    const int total_fs = rig.fault_fs_.steps();
    for (size_t i = 0; i < fs_calls.size(); ++i) {
      const int end = i + 1 < fs_calls.size() ? fs_calls[i + 1].first : total_fs;
      for (int s = fs_calls[i].first + 1; s <= end; ++s) {
        rec->fs.push_back(Fault{"fs", s, step_at(fs_calls[i].second)});
      }
    }
    return rec;
  }();
  return *recording;
}

std::vector<Fault> AwsFaults() {
  std::vector<Fault> out;
  for (const Fault& f : Recorded().aws) {
    for (HttpFault kind :
         {HttpFault::kTransport, HttpFault::kInternalFailure, HttpFault::kThrottling}) {
      Fault g = f;
      g.kind = kind;
      out.push_back(g);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
class ProvisionMotoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!vigie::testing::MotoServer::Available()) {
      GTEST_SKIP() << "moto_server is not on PATH (scripts/install-deps.sh provides it)";
    }
    moto_ = SharedMoto::Get();
    ASSERT_TRUE(moto_->error().empty()) << moto_->error();
    auto reset = moto_->Reset();
    ASSERT_TRUE(reset) << reset.error().ToString();
    rig_ = std::make_unique<Rig>(*moto_);
    auto init = rig_->Init();
    ASSERT_TRUE(init) << init.error().ToString();
  }

  Provisioner& P() { return *rig_->provisioner_; }

  // Nothing of `site` anywhere: moto, disk, store records (the site row itself stays, failed).
  void ExpectNothingLeft(const std::string& site) {
    Rig& r = *rig_;
    EXPECT_THAT(r.SiteUsers(), ::testing::IsEmpty()) << "orphan IAM user";
    EXPECT_THAT(r.AccessKeysOf(backend::AwsIdentity::UserNameFor(site)),
                ::testing::ElementsAre(HasSubstr("NoSuchEntity")))
        << "the site's IAM user or its access keys are still there";
    EXPECT_THAT(r.AllSecrets(), ::testing::IsEmpty()) << "orphan secret (or one only scheduled)";
    EXPECT_THAT(r.UsableKmsKeys(), ::testing::IsEmpty()) << "a KMS key not scheduled for deletion";
    EXPECT_FALSE(RealFileSystem()->Exists(r.PackagePath(site))) << "orphan package file";
    for (const char* table : {"credentials", "site_principals", "packages"}) {
      EXPECT_EQ(
          r.Scalar(std::string("SELECT COUNT(*) FROM ") + table + " WHERE site_id = ?", {site}),
          "0")
          << table;
    }
  }

  void ExpectRecordedFailure(const std::string& site, const std::string& step,
                             const std::string& cause) {
    Rig& r = *rig_;
    EXPECT_EQ(r.Scalar("SELECT state FROM sites WHERE id = ?", {site}), "failed");
    EXPECT_EQ(r.Scalar("SELECT failed_step FROM site_provisioning WHERE site_id = ?", {site}),
              step);
    EXPECT_THAT(r.Scalar("SELECT failure FROM site_provisioning WHERE site_id = ?", {site}),
                HasSubstr(cause));
    EXPECT_EQ(r.Scalar("SELECT COUNT(*) FROM provision_steps WHERE site_id = ? AND step = ? AND "
                       "outcome = 'failed'",
                       {site, step}),
              "1");
    EXPECT_EQ(r.Scalar("SELECT COUNT(*) FROM provision_steps WHERE site_id = ? AND "
                       "outcome = 'undo_failed'",
                       {site}),
              "0");
    for (const char* col : {"leftover_kms_key", "leftover_access_key", "leftover_secret"}) {
      EXPECT_EQ(r.Scalar(std::string("SELECT ") + col + " FROM site_provisioning WHERE site_id = ?",
                         {site}),
                "<null>")
          << col;
    }
    EXPECT_EQ(
        r.Scalar("SELECT leftover_principal FROM site_provisioning WHERE site_id = ?", {site}),
        "0");
    EXPECT_EQ(r.events_.Count("site.provision_failed"), 1u);
  }

  // Exactly one site, complete: one user, one access key (the one delivered), one secret, one
  // usable KMS key (any other pending deletion), the records and the package.
  void ExpectOneCompleteSite(const std::string& site, const ProvisionResult& result) {
    Rig& r = *rig_;
    const std::string user = backend::AwsIdentity::UserNameFor(site);
    EXPECT_EQ(r.SiteUsers(), (std::map<std::string, std::string>{{user, kIamPath}}));
    EXPECT_EQ(r.AccessKeysOf(user), std::vector<std::string>{result.access_key_id});
    EXPECT_EQ(r.AllSecrets(), std::vector<std::string>{AgentSecretName(site)});
    EXPECT_EQ(r.UsableKmsKeys(), std::vector<std::string>{result.kms_key_id + " (Enabled)"});
    EXPECT_EQ(r.Scalar("SELECT state FROM sites WHERE id = ?", {site}), "provisioned");
    EXPECT_EQ(r.Scalar("SELECT access_key_id FROM site_principals WHERE site_id = ?", {site}),
              result.access_key_id);
    EXPECT_EQ(r.Scalar("SELECT COUNT(*) FROM credentials WHERE site_id = ?", {site}), "4");
    EXPECT_EQ(r.Scalar("SELECT COUNT(*) FROM packages WHERE site_id = ?", {site}), "1");
    EXPECT_TRUE(RealFileSystem()->Exists(r.PackagePath(site)));
  }

  SharedMoto* moto_ = nullptr;
  std::unique_ptr<Rig> rig_;
};

// The recording is what the parameterised cases run over: it must exist and cover every step
// that talks to AWS or writes the package.
TEST_F(ProvisionMotoTest, RecordedRunCoversEveryBackendStep) {
  const Recording& rec = Recorded();
  ASSERT_TRUE(rec.error.empty()) << rec.error;
  std::set<std::string> aws_steps, fs_steps;
  for (const Fault& f : rec.aws) {
    aws_steps.insert(f.step);
    EXPECT_THAT(f.action, Not(::testing::IsEmpty())) << "a request that is not an AWS call";
  }
  for (const Fault& f : rec.fs) fs_steps.insert(f.step);
  for (const auto step : {kStepKmsKey, kStepPrincipal, kStepAccessKey, kStepAgentSecret}) {
    EXPECT_TRUE(aws_steps.contains(std::string(step))) << step;
  }
  EXPECT_TRUE(fs_steps.contains(std::string(kStepPackage)));
  std::string listing;
  for (const Fault& f : rec.aws) listing += " " + f.step + "/" + f.action;
  RecordProperty("recorded_aws_calls", listing);
  RecordProperty("recorded_fs_steps", static_cast<int>(rec.fs.size()));
}

class ProvisionAwsFaultTest : public ProvisionMotoTest,
                              public ::testing::WithParamInterface<Fault> {};
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ProvisionAwsFaultTest);

TEST_P(ProvisionAwsFaultTest, FailedCallLeavesNothingAndReRunCompletesOnce) {
  const Fault& f = GetParam();
  const std::string site = "fault-site";
  const int injected_before = moto_->http().injected();
  moto_->http().FailNth(f.action, f.occurrence, f.kind);
  auto r = P().Provision(rig_->Request(site));
  ASSERT_EQ(moto_->http().injected(), injected_before + 1)
      << "the run no longer makes call " << f.occurrence << " of " << f.action;
  ASSERT_FALSE(r) << "the run succeeded although " << f.action << " failed";
  const std::string cause = f.kind == HttpFault::kTransport         ? "injected transport fault"
                            : f.kind == HttpFault::kInternalFailure ? "InternalFailure"
                                                                    : "Throttling";
  EXPECT_THAT(r.error().message, HasSubstr("step " + f.step + " failed"));
  EXPECT_THAT(r.error().message, HasSubstr(cause));
  EXPECT_THAT(r.error().message, Not(HasSubstr("could NOT undo")));
  ExpectRecordedFailure(site, f.step, cause);
  ExpectNothingLeft(site);

  moto_->http().Disarm();
  auto again = P().Provision(rig_->Request(site));
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(again->attempt, 2);
  EXPECT_FALSE(again->already_provisioned);
  ExpectOneCompleteSite(site, *again);
}

INSTANTIATE_TEST_SUITE_P(EveryRecordedCall, ProvisionAwsFaultTest, ::testing::ValuesIn(AwsFaults()),
                         [](const ::testing::TestParamInfo<Fault>& info) {
                           return info.param.Name();
                         });

class ProvisionFsFaultTest : public ProvisionMotoTest,
                             public ::testing::WithParamInterface<Fault> {};
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ProvisionFsFaultTest);

// The package write fails (at the mkdir, the temp write, the fsync or the rename). The fault
// stays on (a failing disk), so removing the package file fails too: that is recorded as a
// leftover, and the re-run's cleanup removes it first.
TEST_P(ProvisionFsFaultTest, FailedPackageWriteLeavesNothingAndReRunCompletesOnce) {
  const Fault& f = GetParam();
  const std::string site = "fs-fault-site";
  ASSERT_EQ(rig_->fault_fs_.steps(), 0);
  rig_->fault_fs_.FailAfter(f.occurrence);
  auto r = P().Provision(rig_->Request(site));
  ASSERT_FALSE(r) << "the run succeeded although filesystem step " << f.occurrence << " failed";
  EXPECT_THAT(r.error().message, HasSubstr("step " + f.step + " failed"));
  EXPECT_THAT(r.error().message, HasSubstr("injected fault"));
  Rig& g = *rig_;
  EXPECT_EQ(g.Scalar("SELECT state FROM sites WHERE id = ?", {site}), "failed");
  EXPECT_EQ(g.Scalar("SELECT failed_step FROM site_provisioning WHERE site_id = ?", {site}),
            f.step);
  EXPECT_THAT(g.Scalar("SELECT failure FROM site_provisioning WHERE site_id = ?", {site}),
              HasSubstr("injected fault"));
  for (const char* col : {"leftover_kms_key", "leftover_access_key", "leftover_secret"}) {
    EXPECT_EQ(g.Scalar(std::string("SELECT ") + col + " FROM site_provisioning WHERE site_id = ?",
                       {site}),
              "<null>")
        << col;
  }
  const std::string leftover =
      g.Scalar("SELECT leftover_package FROM site_provisioning WHERE site_id = ?", {site});
  EXPECT_TRUE(leftover == "<null>" || leftover == g.PackagePath(site)) << leftover;
  ExpectNothingLeft(site);

  g.fault_fs_.FailAfter(0);
  auto again = P().Provision(g.Request(site));
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(again->attempt, 2);
  ExpectOneCompleteSite(site, *again);
  EXPECT_EQ(g.Scalar("SELECT leftover_package FROM site_provisioning WHERE site_id = ?", {site}),
            "<null>");
}

INSTANTIATE_TEST_SUITE_P(EveryPackageWriteStep, ProvisionFsFaultTest,
                         ::testing::ValuesIn(Recorded().fs),
                         [](const ::testing::TestParamInfo<Fault>& info) {
                           return info.param.Name();
                         });

// PROV_001 on real IAM: three sites, three principals under /vigie/sites/ tagged with their
// site, each with an inline policy naming only its own S3 prefix, secrets path and KMS key; no
// access key shared; provisioning a site again makes no AWS call and no second principal.
TEST_F(ProvisionMotoTest, ThreeSitesGetThreeConfinedPrincipalsAndReRunIsIdempotent) {
  const std::vector<std::string> sites = {"alpha-1", "bravo-2", "charlie-3"};
  std::vector<SiteRequest> requests;
  for (const auto& s : sites) requests.push_back(rig_->Request(s));
  auto batch = P().ProvisionBatch(requests);
  ASSERT_TRUE(batch) << batch.error().ToString();
  ASSERT_EQ(batch->failed, 0u);
  std::map<std::string, ProvisionResult> results;
  for (const auto& item : batch->items) {
    ASSERT_TRUE(item.result) << item.error->ToString();
    results[item.site_id] = *item.result;
  }
  Rig& r = *rig_;

  std::map<std::string, std::string> expected_users;
  for (const auto& s : sites) expected_users[backend::AwsIdentity::UserNameFor(s)] = kIamPath;
  EXPECT_EQ(r.SiteUsers(), expected_users);

  std::set<std::string> principal_arns, access_keys, kms_keys;
  for (const auto& site : sites) {
    SCOPED_TRACE(site);
    const ProvisionResult& res = results[site];
    const std::string user = backend::AwsIdentity::UserNameFor(site);
    principal_arns.insert(res.principal_arn);
    kms_keys.insert(res.kms_key_arn);
    EXPECT_THAT(res.principal_arn, HasSubstr(":user/vigie/sites/" + user));
    EXPECT_EQ(r.UserTags(user)["site"], site);

    const auto keys = r.AccessKeysOf(user);
    ASSERT_EQ(keys, std::vector<std::string>{res.access_key_id});
    access_keys.insert(keys[0]);

    auto doc = r.inspect_identity_->GetUserPolicyDocument(site);
    ASSERT_TRUE(doc) << doc.error().ToString();
    const Json policy = Json::parse(*doc);
    std::set<std::string> resources;
    for (const Json& st : policy.at("Statement")) {
      EXPECT_EQ(st.at("Effect"), "Allow");
      for (const Json& action : st.at("Action")) {
        EXPECT_THAT(action.get<std::string>(), Not(HasSubstr("*")));
      }
      for (const Json& res_json : st.at("Resource")) resources.insert(res_json.get<std::string>());
      if (st.contains("Condition")) {
        EXPECT_EQ(st.at("Condition").at("StringLike").at("s3:prefix"),
                  Json::array({"sites/" + site + "/*"}));
      }
    }
    EXPECT_EQ(resources, (std::set<std::string>{
                             "arn:aws:s3:::" + std::string(kBucket) + "/sites/" + site + "/*",
                             "arn:aws:s3:::" + std::string(kBucket),
                             "arn:aws:secretsmanager:" + std::string(kRegion) +
                                 ":*:secret:vigie/sites/" + site + "/*",
                             res.kms_key_arn}));
    // The site's KMS key rotates (yearly by default; MAINT_020), as moto reports it.
    auto rotation = r.JsonCall("kms", "TrentService.GetKeyRotationStatus",
                               Json{{"KeyId", res.kms_key_id}});
    ASSERT_TRUE(rotation) << rotation.error().ToString();
    EXPECT_EQ(rotation->value("KeyRotationEnabled", false), true) << rotation->dump();
    for (const auto& other : sites) {
      if (other == site) continue;
      EXPECT_THAT(*doc, Not(HasSubstr(other)));
      EXPECT_THAT(*doc, Not(HasSubstr(results[other].kms_key_id)));
    }
  }
  EXPECT_EQ(principal_arns.size(), 3u);
  EXPECT_EQ(access_keys.size(), 3u) << "an access key is shared between sites";
  EXPECT_EQ(kms_keys.size(), 3u);
  EXPECT_EQ(r.UsableKmsKeys().size(), 3u);
  EXPECT_EQ(r.AllSecrets().size(), 3u);

  // Again, same site: nothing is sent to AWS, nothing is created.
  moto_->http().ClearLog();
  auto again = P().Provision(r.Request("bravo-2"));
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_TRUE(again->already_provisioned);
  EXPECT_EQ(again->principal_arn, results["bravo-2"].principal_arn);
  EXPECT_EQ(again->access_key_id, results["bravo-2"].access_key_id);
  EXPECT_THAT(moto_->http().log(), ::testing::IsEmpty());
  EXPECT_EQ(r.SiteUsers(), expected_users);
  EXPECT_EQ(r.AccessKeysOf("vigie-site-bravo-2"),
            std::vector<std::string>{results["bravo-2"].access_key_id});
  EXPECT_EQ(r.UsableKmsKeys().size(), 3u);
  EXPECT_EQ(r.AllSecrets().size(), 3u);
}

// A site whose IAM user was created by an earlier run that crashed before recording anything
// (here: made by EnsurePrincipal directly) is adopted, not duplicated, and its stale access key
// is replaced: still one principal and one access key.
TEST_F(ProvisionMotoTest, ReRunAfterACrashAdoptsThePrincipalAndReplacesItsStaleKey) {
  const std::string site = "crashed-7";
  auto p = rig_->identity_->EnsurePrincipal(
      backend::SiteScope{site, kRegion, kBucket, "sites/" + site + "/", SecretsPrefix(site), ""});
  ASSERT_TRUE(p) << p.error().ToString();
  auto stale = rig_->identity_->CreateAccessKey(site);
  ASSERT_TRUE(stale) << stale.error().ToString();
  auto r = P().Provision(rig_->Request(site));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_NE(r->access_key_id, stale->access_key_id);
  ExpectOneCompleteSite(site, *r);
}

}  // namespace
}  // namespace vigie::provision
