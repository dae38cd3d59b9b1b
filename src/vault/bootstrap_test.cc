// Bootstrap and reconcile against the Vault API test double, an in-memory secrets backend with a
// call observer, a fake KMS, and a real SQLite store in a temp dir.

#include "vault/bootstrap.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/encoding.h"
#include "base/log.h"
#include "compliance/registry.h"
#include "compliance/store_evidence.h"
#include "crypto/hash.h"
#include "crypto/shamir.h"
#include "http/curl_client.h"
#include "store/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/fake_secrets.h"
#include "testing/temp_dir.h"
#include "testing/vault_double.h"

namespace vigie::vault {
namespace {

using nlohmann::json;
using testing::FakeSecrets;
using testing::VaultDouble;
using testing::VaultDoubleOptions;

constexpr const char* kSite = "site-a";
constexpr const char* kKey = "key-1234";

// Mirrors backend::KmsBackend; only DescribeKey matters to bootstrap.
class FakeKms final : public backend::KmsBackend {
 public:
  std::string_view Name() const override { return "fake"; }
  Result<backend::KmsKeyInfo> CreateKey(const std::string&, const backend::Tags&) override {
    return MakeError(ErrorCode::kUnimplemented, "fake");
  }
  Result<backend::KmsKeyInfo> DescribeKey(const std::string& key_id) override {
    ++describe_calls;
    if (!exists || key_id != kKey) {
      return MakeError(ErrorCode::kNotFound,
                       "kms DescribeKey: NotFoundException: no key " + key_id);
    }
    backend::KmsKeyInfo info;
    info.key_id = key_id;
    info.enabled = enabled;
    return info;
  }
  vigie::Status EnableKeyRotation(const std::string&, int) override { return OkStatus(); }
  Result<backend::DataKey> GenerateDataKey(const std::string&) override {
    return MakeError(ErrorCode::kUnimplemented, "fake");
  }
  Result<Bytes> Encrypt(const std::string&, const SecretBytes&) override {
    return MakeError(ErrorCode::kUnimplemented, "fake");
  }
  Result<SecretBytes> Decrypt(const Bytes&) override {
    return MakeError(ErrorCode::kUnimplemented, "fake");
  }
  vigie::Status ScheduleKeyDeletion(const std::string&, int) override { return OkStatus(); }

  bool exists = true;
  bool enabled = true;
  int describe_calls = 0;
};

// Records the order of every exchange, with a digest of the token used (never the token).
class Timeline {
 public:
  void Add(std::string e) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
  }
  std::vector<std::string> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> events_;
};

std::string TokenTag(std::string_view token) {
  return HexEncode(crypto::Sha256(AsBytes(token))).substr(0, 16);
}

class RecordingHttp final : public http::HttpClient {
 public:
  RecordingHttp(http::HttpClient& inner, Timeline& timeline) : inner_(inner), timeline_(timeline) {}
  Result<http::HttpResponse> Send(const http::HttpRequest& r) override {
    std::string token = "none";
    for (const auto& [k, v] : r.headers) {
      if (http::HeaderNameEquals(k, "X-Vault-Token")) token = TokenTag(v);
    }
    std::string path = r.url.substr(r.url.find('/', 8));
    timeline_.Add("vault " + r.method + " " + path + " token=" + token);
    last_timeout = r.timeout;
    if (path == "/v1/sys/init") init_timeout = r.timeout;
    return inner_.Send(r);
  }
  std::chrono::milliseconds last_timeout{0}, init_timeout{0};

 private:
  http::HttpClient& inner_;
  Timeline& timeline_;
};

class RecordingSink final : public EventSink {
 public:
  vigie::Status Append(std::string_view kind, std::string_view site,
                       std::string_view body) override {
    events.push_back({std::string(kind), std::string(site), std::string(body)});
    return OkStatus();
  }
  struct Event {
    std::string kind, site, body;
  };
  std::vector<Event> events;
};

class BootstrapTest : public ::testing::Test {
 protected:
  BootstrapTest() : clock_(FromUnixSeconds(1'800'000'000)), secrets_(&clock_) {
    env_ = Env{&clock_, RealFileSystem(), RealRandom()};
    std::filesystem::create_directories(dir_.File("policies"));
    WritePolicy("ops", "path \"kv/data/ops/*\" {\n  capabilities = [\"read\"]\n}\n");
    WritePolicy("backup", "path \"sys/storage/raft/snapshot\" {\n  capabilities = [\"read\"]\n}\n");
    store::SqliteOptions so;
    so.path = dir_.File("vigie.db");
    so.clock = &clock_;
    auto st = store::OpenSqliteStore(so);
    EXPECT_TRUE(st) << st.error().ToString();
    store_ = std::move(*st);
    secrets_.SetObserver([this](std::string_view op, std::string_view name) {
      timeline_.Add("secrets " + std::string(op) + " " + std::string(name));
    });
  }

  void WritePolicy(const std::string& name, const std::string& text) {
    ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(dir_.File("policies/" + name + ".hcl"), text));
  }
  PolicySet Policies() {
    auto p = LoadPolicies(dir_.File("policies"), *RealFileSystem());
    EXPECT_TRUE(p) << p.error().ToString();
    return p.value_or(BuiltinPolicies());
  }

  void StartDouble(VaultDoubleOptions options = {}) {
    auto d = VaultDouble::Start(options);
    ASSERT_TRUE(d) << d.error().ToString();
    double_ = std::move(*d);
    client_ = std::make_unique<VaultClient>(recording_, double_->Address());
  }

  BootstrapOptions Options() {
    BootstrapOptions o;
    o.site = kSite;
    o.kms_key_id = kKey;
    o.init_timeout = std::chrono::seconds(77);
    o.policies = Policies();
    return o;
  }
  Result<BootstrapReport> RunBootstrap() {
    return Bootstrap(Options(), *client_, secrets_, kms_, *store_, sink_, env_);
  }
  Result<BootstrapReport> RunReconcile(bool check_only, bool prune) {
    ReconcileOptions o{kSite, Policies(), check_only, prune};
    return Reconcile(o, *client_, secrets_, *store_, sink_, env_);
  }

  json DoubleState() { return json::parse(double_->State().value()); }
  std::vector<json> DoubleCalls() {
    auto calls = json::parse(double_->Calls().value())["calls"];
    return {calls.begin(), calls.end()};
  }
  int CountCalls(std::string_view method, std::string_view path) {
    int n = 0;
    for (const auto& c : DoubleCalls()) {
      if (c["method"] == method && c["path"] == path) ++n;
    }
    return n;
  }
  std::vector<store::Row> Records() {
    auto rows = store_->Query("SELECT * FROM vault_bootstrap WHERE site = ? ORDER BY id",
                              {std::string(kSite)});
    EXPECT_TRUE(rows) << rows.error().ToString();
    return rows.value_or(std::vector<store::Row>{});
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  FakeSecrets secrets_;
  FakeKms kms_;
  RecordingSink sink_;
  Timeline timeline_;
  http::CurlClient curl_;
  RecordingHttp recording_{curl_, timeline_};
  Env env_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<VaultDouble> double_;
  std::unique_ptr<VaultClient> client_;
};

TEST_F(BootstrapTest, FreshVaultIsBootstrappedInTheRequiredOrder) {
  StartDouble();
  auto report = RunBootstrap();
  ASSERT_TRUE(report) << report.error().ToString();
  const VaultRecord& r = report->record;
  EXPECT_EQ(r.outcome, "ok") << r.message;
  EXPECT_TRUE(r.initialized_now);
  EXPECT_EQ(r.seal_type, "awskms");
  EXPECT_TRUE(r.kms_key_checked);
  EXPECT_EQ(kms_.describe_calls, 1);
  EXPECT_EQ(recording_.init_timeout, std::chrono::seconds(77));

  // PROV_004: five secrets, one per share, tagged with site and index, holding the real shares.
  ASSERT_EQ(r.share_secret_names.size(), 5u);
  std::vector<SecretBytes> shares;
  for (int i = 1; i <= 5; ++i) {
    std::string name = RecoveryShareSecretName(kSite, i);
    EXPECT_EQ(r.share_secret_names[i - 1], name);
    auto tags = secrets_.TagsOf(name);
    ASSERT_TRUE(tags) << name;
    EXPECT_EQ(tags->at("site"), kSite);
    EXPECT_EQ(tags->at("share_index"), std::to_string(i));
    auto value = secrets_.Get(name, "AWSCURRENT", "");
    ASSERT_TRUE(value);
    auto raw = Base64Decode(value->view());
    ASSERT_TRUE(raw);
    EXPECT_EQ(raw->size(), 33u);
    shares.push_back(SecretBytes::CopyFrom(*raw));
  }
  std::vector<SecretBytes> three;
  for (int i : {1, 3, 4}) three.push_back(shares[i].Clone());
  auto key = crypto::ShamirCombine(three);
  ASSERT_TRUE(key);
  json state = DoubleState();
  EXPECT_EQ(HexEncode(crypto::Sha256(key->span())), state["recovery_key_sha256"]);
  EXPECT_EQ(state["recovery_shares"], 5);
  EXPECT_EQ(state["recovery_threshold"], 3);

  // Order: every share stored before the root token is used for anything.
  std::string root_tag = TokenTag(state["root_token"].get<std::string>());
  auto events = timeline_.events();
  size_t first_root = events.size(), last_share = 0, init_at = events.size();
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].find("token=" + root_tag) != std::string::npos && first_root == events.size()) {
      first_root = i;
    }
    if (events[i].rfind("secrets Create " + RecoverySharePrefix(kSite), 0) == 0) last_share = i;
    if (events[i] == "vault PUT /v1/sys/init token=none") init_at = i;
  }
  ASSERT_LT(first_root, events.size());
  EXPECT_LT(init_at, last_share);
  EXPECT_LT(last_share, first_root) << "a root-token call came before the shares were stored";
  EXPECT_EQ(events[0], "vault GET /v1/sys/seal-status token=none");

  // PROV_012: root revoked, then refused; nothing but the policies' AppRole is left.
  EXPECT_TRUE(r.root_revocation_verified);
  ASSERT_TRUE(r.root_revoked_at.has_value());
  EXPECT_EQ(*r.root_revoked_at, clock_.Now());
  EXPECT_TRUE(state["live_tokens"].empty()) << state["live_tokens"].dump();
  auto calls = DoubleCalls();
  ASSERT_GE(calls.size(), 2u);
  bool saw_revoke = false, saw_refused_lookup = false;
  for (const auto& c : calls) {
    if (c["path"] == "/v1/auth/token/revoke-self" && c["token"] == "root") saw_revoke = true;
    if (saw_revoke && c["path"] == "/v1/auth/token/lookup-self" && c["token"] == "invalid" &&
        c["status"] == 403) {
      saw_refused_lookup = true;
    }
    // PROV_013 with the non-root credential.
    if (std::string(c["path"]).rfind("/v1/sys/policies/acl", 0) == 0 && c["method"] != "GET") {
      if (c["path"] != "/v1/sys/policies/acl/vigie-admin") EXPECT_EQ(c["token"], "approle") << c;
    }
  }
  EXPECT_TRUE(saw_revoke);
  EXPECT_TRUE(saw_refused_lookup);
  EXPECT_EQ(CountCalls("PUT", "/v1/sys/init"), 1);

  // PROV_013: the Vault holds exactly the config's policies.
  PolicySet desired = Policies();
  for (const auto& [name, text] : desired.policies) EXPECT_EQ(state["policies"][name], text);
  EXPECT_EQ(r.drift, 0);
  EXPECT_EQ(r.policy_digest, desired.digest);

  // The record: one row, one event, no secret in it.
  auto rows = Records();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].GetText("outcome").value(), "ok");
  EXPECT_EQ(rows[0].GetInt("shares_stored").value(), 5);
  EXPECT_EQ(rows[0].GetInt("root_revocation_verified").value(), 1);
  EXPECT_EQ(rows[0].GetInt("root_revoked_at").value(), 1'800'000'000);
  ASSERT_EQ(sink_.events.size(), 1u);
  EXPECT_EQ(sink_.events[0].kind, "vault.bootstrap");
  EXPECT_EQ(sink_.events[0].body, rows[0].GetText("body").value());
  EXPECT_EQ(json::parse(sink_.events[0].body)["policy_digest"], desired.digest);
}

TEST_F(BootstrapTest, RefusesShamirSealAndDoesNothing) {
  VaultDoubleOptions o;
  o.seal_type = "shamir";
  StartDouble(o);
  auto report = RunBootstrap();
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(report.error().message.find("'shamir'"), std::string::npos) << report.error().message;
  EXPECT_NE(report.error().message.find("PROV_010"), std::string::npos);
  EXPECT_EQ(DoubleCalls().size(), 1u);  // seal-status only
  EXPECT_EQ(kms_.describe_calls, 0);
  EXPECT_EQ(secrets_.size(), 0u);
  auto rows = Records();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].GetText("outcome").value(), "refused");
  EXPECT_EQ(rows[0].GetText("seal_type").value(), "shamir");
}

TEST_F(BootstrapTest, RefusesUnknownSealTypes) {
  for (const char* seal : {"pkcs11", "mystery"}) {
    VaultDoubleOptions o;
    o.seal_type = seal;
    StartDouble(o);
    auto report = RunBootstrap();
    ASSERT_FALSE(report) << seal;
    EXPECT_EQ(report.error().code, ErrorCode::kFailedPrecondition);
    EXPECT_NE(report.error().message.find(seal), std::string::npos);
    EXPECT_EQ(CountCalls("PUT", "/v1/sys/init"), 0);
  }
}

TEST_F(BootstrapTest, RefusesMissingOrDisabledKmsKeyBeforeInit) {
  StartDouble();
  kms_.exists = false;
  auto missing = RunBootstrap();
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(missing.error().message.find("does not exist"), std::string::npos);
  kms_.exists = true;
  kms_.enabled = false;
  auto disabled = RunBootstrap();
  ASSERT_FALSE(disabled);
  EXPECT_NE(disabled.error().message.find("disabled"), std::string::npos);
  EXPECT_EQ(CountCalls("PUT", "/v1/sys/init"), 0);
  EXPECT_FALSE(DoubleState()["initialized"].get<bool>());
  EXPECT_EQ(secrets_.size(), 0u);
}

TEST_F(BootstrapTest, RejectsParametersBelowThreeOfFive) {
  StartDouble();
  BootstrapOptions o = Options();
  o.recovery_threshold = 2;
  auto r = Bootstrap(o, *client_, secrets_, kms_, *store_, sink_, env_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("PROV_011"), std::string::npos);
  EXPECT_EQ(DoubleCalls().size(), 0u);
}

class LostInitTest : public BootstrapTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(LostInitTest, MarksNeedsRecoveryAfterExactlyOneInit) {
  VaultDoubleOptions o;
  if (GetParam() == "kms") {
    o.kms_unreachable = true;
  } else {
    o.lose_init_response = GetParam();
  }
  StartDouble(o);
  auto report = RunBootstrap();
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(report.error().message.find("needs recovery"), std::string::npos);
  EXPECT_NE(report.error().message.find("generate-root"), std::string::npos);
  EXPECT_NE(report.error().message.find("wipe its storage"), std::string::npos);
  EXPECT_EQ(CountCalls("PUT", "/v1/sys/init"), 1);
  EXPECT_EQ(secrets_.size(), 0u);
  auto last = LastOutcome(*store_, kSite);
  ASSERT_TRUE(last);
  EXPECT_EQ(*last, std::optional<std::string>("needs_recovery"));
  ASSERT_EQ(sink_.events.size(), 1u);
  EXPECT_EQ(sink_.events[0].kind, "vault.needs_recovery");

  // A second run does not loop into init again: it refuses with the same explanation.
  auto again = RunBootstrap();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(again.error().message.find("needs recovery"), std::string::npos);
  EXPECT_EQ(CountCalls("PUT", "/v1/sys/init"), 1);
}

INSTANTIATE_TEST_SUITE_P(Modes, LostInitTest, ::testing::Values("500", "drop", "kms"));

TEST_F(BootstrapTest, ShareStorageFailureStopsBeforeAnyOtherRootUse) {
  StartDouble();
  secrets_.FailNextCall(Error{ErrorCode::kUnavailable, "secretsmanager: connection reset"}, 2);
  auto report = RunBootstrap();
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(report.error().message.find("share 3 of 5"), std::string::npos)
      << report.error().message;
  // The root token was used only to revoke itself (and verify it): no AppRole, no policy.
  for (const auto& c : DoubleCalls()) {
    if (c["token"] == "root") EXPECT_EQ(c["path"], "/v1/auth/token/revoke-self") << c;
  }
  EXPECT_EQ(CountCalls("GET", "/v1/sys/auth"), 0);
  EXPECT_TRUE(DoubleState()["live_tokens"].empty());
  EXPECT_EQ(LastOutcome(*store_, kSite).value(), std::optional<std::string>("needs_recovery"));
}

TEST_F(BootstrapTest, RerunOnInitialisedVaultUsesTheNonRootCredential) {
  StartDouble();
  ASSERT_TRUE(RunBootstrap());
  size_t calls_before = DoubleCalls().size();
  auto again = RunBootstrap();
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_FALSE(again->record.initialized_now);
  EXPECT_EQ(again->record.outcome, "ok");
  EXPECT_EQ(again->record.drift, 0);
  EXPECT_EQ(CountCalls("PUT", "/v1/sys/init"), 1);
  auto calls = DoubleCalls();
  for (size_t i = calls_before; i < calls.size(); ++i) {
    EXPECT_NE(calls[i]["token"], "root") << calls[i];
    if (std::string(calls[i]["path"]).rfind("/v1/sys/policies", 0) == 0) {
      EXPECT_EQ(calls[i]["token"], "approle") << calls[i];
    }
  }
  EXPECT_EQ(secrets_.size(), 6u);  // 5 shares + the AppRole credential, nothing added
  EXPECT_TRUE(DoubleState()["live_tokens"].empty());  // the login token was revoked too
  ASSERT_EQ(Records().size(), 2u);
}

TEST_F(BootstrapTest, DriftIsReportedThenRepairedAndPrunedNeverRootOrDefault) {
  StartDouble();
  ASSERT_TRUE(RunBootstrap());
  ASSERT_TRUE(double_->Request("PUT", "/_double/policy/ops", R"({"policy":"path \"*\" {}"})"));
  ASSERT_TRUE(double_->Request("DELETE", "/_double/policy/backup"));
  ASSERT_TRUE(double_->Request("PUT", "/_double/policy/legacy", R"({"policy":"path \"x\" {}"})"));

  auto check = RunReconcile(/*check_only=*/true, /*prune=*/false);
  ASSERT_TRUE(check) << check.error().ToString();
  EXPECT_EQ(check->record.outcome, "drift");
  EXPECT_EQ(check->record.drift, 3);
  EXPECT_EQ(check->record.policies->before.missing, std::vector<std::string>{"backup"});
  EXPECT_EQ(check->record.policies->before.changed, std::vector<std::string>{"ops"});
  EXPECT_EQ(check->record.policies->before.extra, std::vector<std::string>{"legacy"});
  EXPECT_EQ(DoubleState()["policies"]["ops"], "path \"*\" {}");  // check changes nothing

  auto fix = RunReconcile(false, false);
  ASSERT_TRUE(fix);
  EXPECT_EQ(fix->record.policies->created, std::vector<std::string>{"backup"});
  EXPECT_EQ(fix->record.policies->updated, std::vector<std::string>{"ops"});
  EXPECT_EQ(fix->record.drift, 1);  // legacy stays without --prune
  EXPECT_EQ(fix->record.outcome, "drift");

  auto prune = RunReconcile(false, true);
  ASSERT_TRUE(prune);
  EXPECT_EQ(prune->record.policies->deleted, std::vector<std::string>{"legacy"});
  EXPECT_EQ(prune->record.drift, 0);
  EXPECT_EQ(prune->record.outcome, "ok");
  json policies = DoubleState()["policies"];
  EXPECT_TRUE(policies.contains("root"));
  EXPECT_TRUE(policies.contains("default"));
  EXPECT_FALSE(policies.contains("legacy"));
  EXPECT_EQ(CountCalls("DELETE", "/v1/sys/policies/acl/root"), 0);
  EXPECT_EQ(CountCalls("DELETE", "/v1/sys/policies/acl/default"), 0);
  auto rows = Records();
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[1].GetText("action").value(), "check");
  EXPECT_EQ(rows[1].GetInt("drift").value(), 3);
}

TEST_F(BootstrapTest, RunFunctionsReturnExitCodesAndCheckDrift) {
  StartDouble();
  config::Config config = config::DefaultConfig(dir_.path());
  config.vault.address = "http://127.0.0.1:" + std::to_string(double_->port());
  config.vault.policies_dir = dir_.File("policies");
  VaultCommandDeps deps{&curl_, &secrets_, &kms_, store_.get(), &sink_, env_};
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  EXPECT_EQ(RunVaultBootstrap(config, kSite, kKey, deps, out, err), 0);
  EXPECT_EQ(RunVaultReconcile(config, kSite, true, false, deps, out, err), 0);
  WritePolicy("new", "path \"new/*\" {}\n");
  EXPECT_EQ(RunVaultReconcile(config, kSite, true, false, deps, out, err),
            ExitCodeFor(ErrorCode::kCheckFailed));
  EXPECT_EQ(RunVaultReconcile(config, kSite, false, false, deps, out, err), 0);
  config.vault.address.clear();
  EXPECT_EQ(RunVaultReconcile(config, kSite, false, false, deps, out, err),
            ExitCodeFor(ErrorCode::kFailedPrecondition));
  std::fclose(out);
  std::fclose(err);
}

// The records a real bootstrap leaves are what the compliance checks judge: PASS when compliant,
// FAIL once the Vault drifts (keeps src/vault and src/compliance/rules in step).
TEST_F(BootstrapTest, RecordsSatisfyTheComplianceChecks) {
  StartDouble();
  ASSERT_TRUE(RunBootstrap());
  compliance::RuleRegistry registry;
  compliance::RegisterAllRules(registry);
  auto judge = [&](std::string_view id) {
    compliance::StoreEvidence evidence(*store_, clock_, {});
    evidence.SetSecretLister(
        [this](std::string_view prefix) -> Result<std::vector<compliance::SecretEvidence>> {
          VIGIE_ASSIGN_OR_RETURN(auto list, secrets_.List(std::string(prefix)));
          std::vector<compliance::SecretEvidence> out;
          for (auto& s : list) out.push_back({s.name, {s.tags.begin(), s.tags.end()}});
          return out;
        });
    auto result = registry.Find(id)->check(*compliance::FindRule(id), evidence, kSite);
    EXPECT_FALSE(evidence.error().has_value()) << evidence.error()->ToString();
    return result;
  };
  for (const char* id : {"PROV_004", "PROV_010", "PROV_011", "PROV_012", "PROV_013"}) {
    auto r = judge(id);
    EXPECT_EQ(r.status, compliance::Status::kPass) << id << ": " << r.summary;
  }
  ASSERT_TRUE(double_->Request("PUT", "/_double/policy/legacy", R"({"policy":"path \"x\" {}"})"));
  ASSERT_TRUE(RunReconcile(/*check_only=*/true, false));
  EXPECT_EQ(judge("PROV_013").status, compliance::Status::kFail);
  ASSERT_TRUE(secrets_.Delete(RecoveryShareSecretName(kSite, 2)));
  EXPECT_EQ(judge("PROV_004").status, compliance::Status::kFail);
  EXPECT_EQ(judge("PROV_011").status, compliance::Status::kFail);
}

TEST(VaultAddressTest, SiteTemplate) {
  config::VaultConfig v;
  EXPECT_FALSE(VaultAddressFor(v, "a"));
  v.address = "https://vault.{site}.internal:8200";
  EXPECT_EQ(VaultAddressFor(v, "site-7").value(), "https://vault.site-7.internal:8200");
  EXPECT_TRUE(ValidateSiteId("site-7"));
  EXPECT_FALSE(ValidateSiteId("../etc"));
  EXPECT_FALSE(ValidateSiteId("-a"));
}

// No share, root token or AppRole secret_id may appear in logs, stdout, stderr or any file.
std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_F(BootstrapTest, NoSecretReachesLogsOutputOrDisk) {
  StartDouble();
  std::ostringstream logs;
  log::LogToStream(logs, log::Level::kDebug);
  config::Config config = config::DefaultConfig(dir_.path());
  config.vault.address = double_->Address();
  config.vault.policies_dir = dir_.File("policies");
  VaultCommandDeps deps{&curl_, &secrets_, &kms_, store_.get(), &sink_, env_};
  std::string out_path = dir_.File("stdout.txt"), err_path = dir_.File("stderr.txt");
  std::FILE* out = std::fopen(out_path.c_str(), "w");
  std::FILE* err = std::fopen(err_path.c_str(), "w");
  EXPECT_EQ(RunVaultBootstrap(config, kSite, kKey, deps, out, err), 0);
  EXPECT_EQ(RunVaultReconcile(config, kSite, false, true, deps, out, err), 0);
  std::fclose(out);
  std::fclose(err);
  ASSERT_TRUE(store_->Close());
  log::LogToStderr();

  std::vector<std::string> needles;
  needles.push_back(DoubleState()["root_token"].get<std::string>());
  for (int i = 1; i <= 5; ++i) {
    auto v = secrets_.Get(RecoveryShareSecretName(kSite, i), "AWSCURRENT", "").value();
    needles.emplace_back(v.view());                                // base64
    needles.push_back(HexEncode(Base64Decode(v.view()).value()));  // hex (recovery_keys)
  }
  auto cred = secrets_.Get(AdminCredentialSecretName(kSite), "AWSCURRENT", "").value();
  needles.push_back(json::parse(cred.view())["secret_id"].get<std::string>());

  // The scan can fail: a share planted in a file of the temp dir is found, and only there.
  ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(dir_.File("planted.txt"), "x" + needles[1]));
  std::vector<std::pair<std::string, std::string>> haystacks = {{"logs", logs.str()}};
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.path())) {
    if (entry.is_regular_file()) {
      haystacks.emplace_back(entry.path().string(), ReadAll(entry.path().string()));
    }
  }
  for (const auto& e : sink_.events) haystacks.emplace_back("event " + e.kind, e.body);
  ASSERT_GE(haystacks.size(), 5u);  // logs, stdout, stderr, the database, planted.txt
  EXPECT_NE(ReadAll(out_path).find("stored 5 recovery shares"), std::string::npos);
  EXPECT_NE(logs.str().find("vault.step"), std::string::npos);
  std::vector<std::string> hits;
  for (const auto& needle : needles) {
    ASSERT_GE(needle.size(), 20u);
    for (const auto& [where, text] : haystacks) {
      if (text.find(needle) != std::string::npos) hits.push_back(where);
    }
  }
  EXPECT_EQ(hits, std::vector<std::string>{dir_.File("planted.txt")});
}

}  // namespace
}  // namespace vigie::vault
