// Customer's compliance classes for the PROV_* rules (spec/000_df2650a029978f20.txt, section 5:
// TestCredentials, TestVault, TestRegistration, method names kept).

#include <fmt/format.h>

#include <map>
#include <utility>

#include "base/encoding.h"
#include "crypto/hash.h"
#include "crypto/sign.h"
#include "rule_suite.h"

namespace vigie::compliance {
namespace {

constexpr std::string_view kIdentity = "Provisioning: identity and credentials";
constexpr std::string_view kVault = "Provisioning: Vault and secrets";
constexpr std::string_view kRegistration = "Provisioning: registration";

// Evidence of a compliant Vault bootstrap of site-a (as src/vault records it), and helpers to
// judge one rule on one site.
class VaultEvidenceSuite : public RuleSuite {
 protected:
  VaultEvidenceSuite() {
    vault_.latest = {"bootstrap", "ok", FromUnixSeconds(1'799'990'000), "awskms", true, false, 0,
                     "ab12cd34ef56", "Vault initialised (3 of 5), shares stored, root revoked"};
    vault_.last_policy_run = vault_.latest;
    vault_.init = VaultInitEvidence{FromUnixSeconds(1'799'990'000), "ok", 5, 3, 5,
                                    FromUnixSeconds(1'799'990'001), true};
    for (int i = 1; i <= 5; ++i) {
      shares_.push_back({"vigie/sites/site-a/vault/recovery-share-" + std::to_string(i),
                         {{"site", "site-a"}, {"share_index", std::to_string(i)}}});
    }
    shares_.push_back({"vigie/sites/site-b/vault/recovery-share-1",
                       {{"site", "site-b"}, {"share_index", "1"}}});
  }
  // Installs vault_ / shares_ as the evidence of site-a and judges `id` there.
  CheckResult Judge(std::string_view id, std::string_view site = "site-a") {
    evidence_.SetVaultBootstrap("site-a", vault_);
    evidence_.SetSecrets(shares_);
    const RuleInfo* rule = FindRule(id);
    EXPECT_NE(rule, nullptr);
    const auto* reg = registry_.Find(id);
    EXPECT_NE(reg, nullptr);
    EXPECT_TRUE(reg->implemented) << id;
    return reg->check(*rule, evidence_, site);
  }
  static std::string Item(const CheckResult& r, std::string_view key) {
    for (const auto& e : r.evidence) {
      if (e.key == key) return e.value;
    }
    return "<absent>";
  }

  VaultBootstrapEvidence vault_;
  std::vector<SecretEvidence> shares_;
};

// Provisioning evidence of a compliant fleet of two sites, shaped as src/provision records it
// (site_principals, credentials, packages, the pinned fleet key), which tests then break.
struct ProvisionedFleet {
  explicit ProvisionedFleet(const crypto::SigningKey& key)
      : fleet_key(key.public_key().begin(), key.public_key().end()) {
    for (const std::string site : {"site-a", "site-b"}) {
      const std::string kms = "arn:aws:kms:eu-west-3:111122223333:key/kms-" + site;
      principals[site] = PrincipalEvidence{
          site, "aws", "vigie-site-" + site,
          "arn:aws:iam::111122223333:user/vigie/sites/vigie-site-" + site,
          fmt::format(
              R"({{"Version":"2012-10-17","Statement":[)"
              R"({{"Sid":"SiteObjects","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::vigie-data/sites/{0}/*"]}},)"
              R"({{"Sid":"SiteListPrefix","Effect":"Allow","Action":["s3:ListBucket"],"Resource":["arn:aws:s3:::vigie-data"],"Condition":{{"StringLike":{{"s3:prefix":["sites/{0}/*"]}}}}}},)"
              R"({{"Sid":"SiteSecrets","Effect":"Allow","Action":["secretsmanager:GetSecretValue"],"Resource":["arn:aws:secretsmanager:eu-west-3:*:secret:vigie/sites/{0}/*"]}},)"
              R"({{"Sid":"SiteKey","Effect":"Allow","Action":["kms:Decrypt"],"Resource":["{1}"]}}]}})",
              site, kms),
          "AKIA" + site, kms};
      for (const auto& [name, kind] : std::vector<std::pair<std::string, std::string>>{
               {"agent_api_secret", "api_secret"},
               {"admin_password", "admin_password"},
               {"cloud_secret_access_key", "cloud_access_key"},
               {"db_password", "db_password"}}) {
        CredentialEvidence c;
        c.name = name;
        c.kind = kind;
        c.provenance = "generated";
        c.generator = "vigie.csprng.libsodium";
        c.alphabet = "alnum";
        c.entropy_bits = 130;
        c.verifier_kind = "sha256";
        auto d = crypto::Sha256(AsBytes(site + "/" + name));
        c.verifier.assign(d.begin(), d.end());
        c.secret_ref =
            name == "agent_api_secret" ? "vigie/sites/" + site + "/agent-api-secret" : "";
        c.must_change = name == "admin_password";
        credentials[site].push_back(std::move(c));
      }
      PackageEvidence p;
      p.package_id = "pkg-" + site;
      p.enrollment_key = Bytes(32, static_cast<uint8_t>(site.back()));
      p.enrollment_key_fingerprint = HexEncode(crypto::Sha256(p.enrollment_key));
      const std::string manifest = fmt::format(R"({{"site_enrollment_key":"{}","site_id":"{}"}})",
                                               HexEncode(p.enrollment_key), site);
      p.signed_bytes = Bytes{'V', 'P', 'K', 'G', 1, 0, 0, 0, static_cast<uint8_t>(manifest.size())};
      p.signed_bytes.insert(p.signed_bytes.end(), manifest.begin(), manifest.end());
      auto sig = key.Sign(p.signed_bytes);
      p.signature.assign(sig.begin(), sig.end());
      p.fleet_key = fleet_key;
      packages[site].push_back(std::move(p));
    }
  }

  // Judges rule `id` on `site` over this evidence.
  CheckResult Judge(const RuleRegistry& registry, std::string_view id, std::string_view site) {
    MemoryEvidence e(FromUnixSeconds(1'800'000'000));
    for (const auto& [s, p] : principals) {
      e.AddSite(s);
      e.AddPrincipal(p);
    }
    for (const auto& [s, c] : credentials) e.SetCredentials(s, c);
    for (const auto& [s, p] : packages) e.SetPackages(s, p);
    e.SetFleetSigningKey(fleet_key);
    const RuleInfo* rule = FindRule(id);
    EXPECT_NE(rule, nullptr);
    const auto* reg = registry.Find(id);
    EXPECT_TRUE(reg != nullptr && reg->implemented) << id;
    return reg->check(*rule, e, site);
  }
  CredentialEvidence& Cred(const std::string& site, const std::string& name) {
    for (auto& c : credentials[site]) {
      if (c.name == name) return c;
    }
    ADD_FAILURE() << "no credential " << name;
    return credentials[site][0];
  }

  std::map<std::string, PrincipalEvidence> principals;
  std::map<std::string, std::vector<CredentialEvidence>> credentials;
  std::map<std::string, std::vector<PackageEvidence>> packages;
  Bytes fleet_key;
};

std::string EvidenceValue(const CheckResult& r, std::string_view key) {
  for (const auto& e : r.evidence) {
    if (e.key == key) return e.value;
  }
  return "<absent>";
}

class TestCredentials : public VaultEvidenceSuite {};
class TestVault : public VaultEvidenceSuite {};
class TestRegistration : public RuleSuite {};

TEST_F(TestCredentials, PROV_001_dedicated_iam_user) {
  EXPECT_EQ(FindRule("PROV_001")->section, kIdentity);
  crypto::SigningKey key = crypto::SigningKey::Generate(*RealRandom());
  ProvisionedFleet fleet(key);
  for (const char* site : {"site-a", "site-b"}) {
    CheckResult ok = fleet.Judge(registry_, "PROV_001", site);
    EXPECT_EQ(ok.status, Status::kPass) << site << ": " << ok.summary;
  }
  // A principal shared by two sites.
  ProvisionedFleet shared = fleet;
  shared.principals["site-b"].arn = shared.principals["site-a"].arn;
  CheckResult r = shared.Judge(registry_, "PROV_001", "site-a");
  EXPECT_EQ(r.status, Status::kFail);
  EXPECT_NE(EvidenceValue(r, "shared").find("with site site-b"), std::string::npos);
  // A secret shared by two sites.
  ProvisionedFleet secret = fleet;
  secret.Cred("site-b", "agent_api_secret").secret_ref = "vigie/sites/site-a/agent-api-secret";
  EXPECT_EQ(secret.Judge(registry_, "PROV_001", "site-a").status, Status::kFail);
  // A policy naming another site's resources, or a wildcard.
  for (const std::string bad : {"vigie/sites/site-b/*", "*"}) {
    ProvisionedFleet wide = fleet;
    auto& policy = wide.principals["site-a"].policy_document;
    policy.replace(policy.find("vigie/sites/site-a/*"), 20, bad);
    CheckResult w = wide.Judge(registry_, "PROV_001", "site-a");
    EXPECT_EQ(w.status, Status::kFail) << bad;
    EXPECT_NE(EvidenceValue(w, "foreign_policy_entries").find(bad), std::string::npos);
  }
  // No principal recorded: no evidence, never PASS.
  ProvisionedFleet none = fleet;
  none.principals.erase("site-b");
  EXPECT_EQ(none.Judge(registry_, "PROV_001", "site-b").status, Status::kFail);
}
TEST_F(TestCredentials, PROV_002_auto_generated_credentials) {
  EXPECT_EQ(FindRule("PROV_002")->section, kIdentity);
  crypto::SigningKey key = crypto::SigningKey::Generate(*RealRandom());
  ProvisionedFleet fleet(key);
  EXPECT_EQ(fleet.Judge(registry_, "PROV_002", "site-a").status, Status::kPass);
  ProvisionedFleet weak = fleet;
  weak.Cred("site-a", "db_password").entropy_bits = 64;
  CheckResult r = weak.Judge(registry_, "PROV_002", "site-a");
  EXPECT_EQ(r.status, Status::kFail);
  EXPECT_NE(EvidenceValue(r, "violations").find("db_password: 64 bits"), std::string::npos);
  ProvisionedFleet typed = fleet;
  typed.Cred("site-a", "admin_password").provenance = "operator";
  EXPECT_EQ(typed.Judge(registry_, "PROV_002", "site-a").status, Status::kFail);
  ProvisionedFleet empty = fleet;
  empty.credentials["site-a"].clear();
  EXPECT_EQ(empty.Judge(registry_, "PROV_002", "site-a").status, Status::kFail);
}
TEST_F(TestCredentials, PROV_003_encrypted_transmission) {
  EXPECT_EQ(FindRule("PROV_003")->section, kIdentity);
  crypto::SigningKey key = crypto::SigningKey::Generate(*RealRandom());
  ProvisionedFleet fleet(key);
  CheckResult ok = fleet.Judge(registry_, "PROV_003", "site-a");
  EXPECT_EQ(ok.status, Status::kPass) << ok.summary;
  EXPECT_NE(EvidenceValue(ok, "packages").find("sealed to"), std::string::npos);
  // A password stored in clear where its verifier belongs.
  ProvisionedFleet plain = fleet;
  const std::string password = "Adm1n-Password-Stored-In-Clear.x";
  plain.Cred("site-a", "admin_password").verifier.assign(password.begin(), password.end());
  EXPECT_EQ(plain.Judge(registry_, "PROV_003", "site-a").status, Status::kFail);
  ProvisionedFleet kind = fleet;
  kind.Cred("site-a", "db_password").verifier_kind = "plaintext";
  EXPECT_EQ(kind.Judge(registry_, "PROV_003", "site-a").status, Status::kFail);
  // A package record whose signed manifest names another enrollment key than it was sealed to.
  ProvisionedFleet unsealed = fleet;
  unsealed.packages["site-a"][0].enrollment_key = Bytes(32, 0x77);
  EXPECT_EQ(unsealed.Judge(registry_, "PROV_003", "site-a").status, Status::kFail);
}
TEST_F(TestCredentials, PROV_004_recovery_keys_in_secrets_manager) {
  CheckResult ok = Judge("PROV_004");
  EXPECT_EQ(ok.status, Status::kPass) << ok.summary;
  EXPECT_EQ(Item(ok, "shares_present"), "5");
  // Share 3 gone from Secrets Manager.
  shares_.erase(shares_.begin() + 2);
  CheckResult missing = Judge("PROV_004");
  EXPECT_EQ(missing.status, Status::kFail);
  EXPECT_EQ(Item(missing, "missing_share_indices"), "3");
  EXPECT_FALSE(missing.remedy.empty());
  // Present but tagged for another index: not counted.
  shares_.insert(shares_.begin() + 2, {"vigie/sites/site-a/vault/recovery-share-3",
                                       {{"site", "site-a"}, {"share_index", "4"}}});
  EXPECT_EQ(Judge("PROV_004").status, Status::kFail);
  // No bootstrap record on site-b; no listing possible: no evidence, never PASS.
  CheckResult none = Judge("PROV_004", "site-b");
  EXPECT_EQ(none.status, Status::kFail);
  EXPECT_EQ(none.summary.rfind("no evidence", 0), 0u) << none.summary;
  MemoryEvidence blind(evidence_.Now());
  blind.SetVaultBootstrap("site-a", vault_);
  const RuleInfo* rule = FindRule("PROV_004");
  CheckResult unseen = registry_.Find("PROV_004")->check(*rule, blind, "site-a");
  EXPECT_EQ(unseen.status, Status::kFail);
  EXPECT_NE(unseen.summary.find("secrets backend is not visible"), std::string::npos);
}
TEST_F(TestCredentials, PROV_005_force_password_change) {
  EXPECT_EQ(FindRule("PROV_005")->section, kIdentity);
  crypto::SigningKey key = crypto::SigningKey::Generate(*RealRandom());
  ProvisionedFleet fleet(key);
  CheckResult enforced = fleet.Judge(registry_, "PROV_005", "site-a");
  EXPECT_EQ(enforced.status, Status::kPass);
  EXPECT_EQ(EvidenceValue(enforced, "must_change"), "true");
  ProvisionedFleet changed = fleet;
  changed.Cred("site-a", "admin_password").must_change = false;
  changed.Cred("site-a", "admin_password").changed_at = FromUnixSeconds(1'799'000'000);
  EXPECT_EQ(changed.Judge(registry_, "PROV_005", "site-a").status, Status::kPass);
  ProvisionedFleet neither = fleet;
  neither.Cred("site-a", "admin_password").must_change = false;
  CheckResult r = neither.Judge(registry_, "PROV_005", "site-a");
  EXPECT_EQ(r.status, Status::kFail);
  EXPECT_FALSE(r.remedy.empty());
}

TEST_F(TestVault, PROV_010_kms_auto_unseal) {
  CheckResult ok = Judge("PROV_010");
  EXPECT_EQ(ok.status, Status::kPass) << ok.summary;
  EXPECT_EQ(Item(ok, "seal_type"), "awskms");
  vault_.latest.seal_type = "shamir";
  CheckResult shamir = Judge("PROV_010");
  EXPECT_EQ(shamir.status, Status::kFail);
  EXPECT_EQ(Item(shamir, "seal_type"), "shamir");
  EXPECT_NE(shamir.summary.find("not KMS auto-unseal"), std::string::npos);
  vault_.latest.seal_type = "awskms";
  vault_.latest.sealed = true;
  EXPECT_EQ(Judge("PROV_010").status, Status::kFail);
  vault_.latest.seal_type = "";
  EXPECT_EQ(Judge("PROV_010").status, Status::kFail);
  CheckResult none = Judge("PROV_010", "site-b");
  EXPECT_EQ(none.status, Status::kFail);
  EXPECT_EQ(none.summary.rfind("no evidence", 0), 0u);
  // No Vault configured is not a way out: still FAIL, and the summary says why.
  evidence_.SetConfig("vault.address", "");
  CheckResult unconfigured = Judge("PROV_010", "site-b");
  EXPECT_EQ(unconfigured.status, Status::kFail);
  EXPECT_NE(unconfigured.summary.find("no Vault configured"), std::string::npos);
}

TEST_F(TestVault, PROV_011_threshold_3_of_5) {
  EXPECT_EQ(Judge("PROV_011").status, Status::kPass);
  vault_.init->recovery_threshold = 2;  // 2 of 5
  CheckResult weak = Judge("PROV_011");
  EXPECT_EQ(weak.status, Status::kFail);
  EXPECT_EQ(Item(weak, "recovery_threshold"), "2");
  vault_.init->recovery_threshold = 3;
  vault_.init->recovery_shares = 4;
  vault_.init->shares_stored = 4;
  EXPECT_EQ(Judge("PROV_011").status, Status::kFail);
  vault_.init->recovery_shares = 5;
  vault_.init->shares_stored = 5;
  shares_.pop_back();  // site-b's share: irrelevant
  shares_.pop_back();  // site-a's share 5
  CheckResult lost = Judge("PROV_011");
  EXPECT_EQ(lost.status, Status::kFail);
  EXPECT_EQ(Item(lost, "shares_in_secrets_backend"), "4");
  vault_.init.reset();  // initialised outside vigie
  EXPECT_EQ(Judge("PROV_011").status, Status::kFail);
}

TEST_F(TestVault, PROV_012_root_token_revoked) {
  CheckResult ok = Judge("PROV_012");
  EXPECT_EQ(ok.status, Status::kPass) << ok.summary;
  vault_.init->root_revocation_verified = false;
  CheckResult unverified = Judge("PROV_012");
  EXPECT_EQ(unverified.status, Status::kFail);
  EXPECT_EQ(Item(unverified, "revocation_verified"), "false");
  vault_.init->root_revoked_at.reset();
  CheckResult kept = Judge("PROV_012");
  EXPECT_EQ(kept.status, Status::kFail);
  EXPECT_EQ(Item(kept, "root_revoked_at"), "never");
  EXPECT_EQ(Judge("PROV_012", "site-b").status, Status::kFail);
}

TEST_F(TestVault, PROV_013_policies_from_config) {
  CheckResult ok = Judge("PROV_013");
  EXPECT_EQ(ok.status, Status::kPass) << ok.summary;
  vault_.last_policy_run->drift = 2;
  vault_.last_policy_run->action = "check";
  vault_.last_policy_run->message = "policy drift changed: ops; extra: legacy";
  CheckResult drift = Judge("PROV_013");
  EXPECT_EQ(drift.status, Status::kFail);
  EXPECT_EQ(Item(drift, "drift"), "2");
  EXPECT_NE(drift.summary.find("legacy"), std::string::npos);
  vault_.last_policy_run.reset();
  EXPECT_EQ(Judge("PROV_013").status, Status::kFail);
  EXPECT_EQ(Judge("PROV_013", "site-b").status, Status::kFail);
}

// PROV_020 judged over what the ledger's anchoring recorded (src/ledger/anchor_store.h): the
// site's latest provisioning event and the best anchor covering it.
TEST_F(TestRegistration, PROV_020_blockchain_anchor) {
  const RuleInfo* rule = FindRule("PROV_020");
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->section, kRegistration);
  const auto* reg = registry_.Find("PROV_020");
  ASSERT_NE(reg, nullptr);
  ASSERT_TRUE(reg->implemented);
  auto judge = [&](std::string_view site = "site-a") {
    return reg->check(*rule, evidence_, site);
  };
  auto item = [](const CheckResult& r, std::string_view key) -> std::string {
    for (const auto& e : r.evidence) {
      if (e.key == key) return e.value;
    }
    return "<absent>";
  };
  evidence_.SetConfig("ledger.anchor", "ethereum");
  evidence_.SetConfig("ledger.ethereum.confirmations", "12");

  LedgerAnchorRowEvidence on_chain;
  on_chain.anchor = "ethereum";
  on_chain.tree_size = 8;
  on_chain.root = std::string(64, 'a');
  on_chain.chain_id = "1";
  on_chain.tx_hash = "0x" + std::string(64, 'b');
  on_chain.block_number = 19'000'000;
  on_chain.block_hash = "0x" + std::string(64, 'c');
  on_chain.state = "confirmed";
  on_chain.confirmations = 12;
  on_chain.required_confirmations = 12;
  on_chain.detail = "transaction carries the root";
  on_chain.checked_at = FromUnixSeconds(1'799'999'000);
  LedgerAnchorEvidence good;
  good.event_seq = 5;
  good.event_kind = "site.provisioned";
  good.covering = on_chain;
  good.latest = on_chain;

  // Compliant: the event (seq 5) is under a root of size 8, confirmed on chain, 12 >= 12.
  evidence_.SetLedgerAnchor("site-a", good);
  CheckResult ok = judge();
  EXPECT_EQ(ok.status, Status::kPass) << ok.summary;
  EXPECT_EQ(item(ok, "tx_hash"), on_chain.tx_hash);
  EXPECT_EQ(item(ok, "block_number"), "19000000");
  EXPECT_EQ(item(ok, "root"), on_chain.root);

  // No evidence for site-b: FAIL, never PASS.
  CheckResult none = judge("site-b");
  EXPECT_EQ(none.status, Status::kFail);
  EXPECT_NE(none.summary.find("no evidence"), std::string::npos) << none.summary;

  // The embedded default: a local anchor (signed tree head only) is not a chain.
  LedgerAnchorEvidence local = good;
  local.covering->anchor = "local";
  local.covering->tx_hash.clear();
  local.covering->chain_id.clear();
  local.covering->block_hash.clear();
  local.covering->block_number = 0;
  local.covering->state = "not_on_chain";
  evidence_.SetLedgerAnchor("site-a", local);
  evidence_.SetConfig("ledger.anchor", "local");
  CheckResult l = judge();
  EXPECT_EQ(l.status, Status::kFail);
  EXPECT_NE(l.summary.find("not anchored on a chain"), std::string::npos) << l.summary;
  EXPECT_NE(l.summary.find("local anchor"), std::string::npos) << l.summary;
  EXPECT_EQ(item(l, "ledger_anchor"), "local");
  evidence_.SetConfig("ledger.anchor", "ethereum");

  // Not enough confirmations (the configured requirement counts even if the record says less).
  LedgerAnchorEvidence young = good;
  young.covering->confirmations = 3;
  young.covering->state = "pending";
  evidence_.SetLedgerAnchor("site-a", young);
  CheckResult y = judge();
  EXPECT_EQ(y.status, Status::kFail);
  EXPECT_NE(y.summary.find("not enough confirmations"), std::string::npos) << y.summary;
  EXPECT_EQ(item(y, "required_confirmations"), "12");
  young.covering->state = "confirmed";  // confirmed under a lower past requirement
  young.covering->required_confirmations = 3;
  evidence_.SetLedgerAnchor("site-a", young);
  EXPECT_EQ(judge().status, Status::kFail);

  // The provisioning event came after the last anchored tree size.
  LedgerAnchorEvidence late = good;
  late.event_seq = 9;
  late.covering.reset();
  evidence_.SetLedgerAnchor("site-a", late);
  CheckResult after = judge();
  EXPECT_EQ(after.status, Status::kFail);
  EXPECT_NE(after.summary.find("not under any anchored root"), std::string::npos)
      << after.summary;
  EXPECT_EQ(item(after, "anchored_tree_size"), "8");

  // The chain does not carry the root.
  LedgerAnchorEvidence wrong = good;
  wrong.covering->state = "mismatch";
  wrong.covering->detail = "transaction carries input 0x00 but the anchored root is 0xaa";
  evidence_.SetLedgerAnchor("site-a", wrong);
  CheckResult w = judge();
  EXPECT_EQ(w.status, Status::kFail);
  EXPECT_NE(w.summary.find("does not carry root"), std::string::npos) << w.summary;

  // A provisioned site whose events were never indexed: no evidence.
  evidence_.SetLedgerAnchor("site-a", LedgerAnchorEvidence{});
  EXPECT_EQ(judge().status, Status::kFail);
  EXPECT_NE(judge().summary.find("no evidence"), std::string::npos);
}
// Judges `id` on `site` with the suite's MemoryEvidence (src/fleet's records set by the test).
CheckResult JudgeFleetRule(RuleRegistry& registry, MemoryEvidence& evidence, std::string_view id,
                           std::string_view site) {
  const RuleInfo* rule = FindRule(id);
  EXPECT_NE(rule, nullptr);
  const auto* reg = registry.Find(id);
  EXPECT_NE(reg, nullptr);
  EXPECT_TRUE(reg->implemented) << id;
  return reg->check(*rule, evidence, site);
}

TEST_F(TestRegistration, PROV_021_fleet_manager_registration) {
  EXPECT_EQ(FindRule("PROV_021")->section, kRegistration);
  const WallTime now = evidence_.Now();
  PackageEvidence pkg;
  pkg.package_id = "pkg-site-a";
  pkg.created_at = now - std::chrono::hours(48);
  pkg.expires_at = now - std::chrono::hours(1);  // expired: the grace period is over
  evidence_.SetPackages("site-a", {pkg});
  // Never registered, package expired -> FAIL.
  evidence_.SetFleetSite("site-a", FleetSiteEvidence{});
  CheckResult r = JudgeFleetRule(registry_, evidence_, "PROV_021", "site-a");
  EXPECT_EQ(r.status, Status::kFail) << r.summary;
  EXPECT_NE(r.summary.find("never registered"), std::string::npos) << r.summary;
  // Inside the grace period (package still valid) -> PASS, saying it is not active yet.
  pkg.expires_at = now + std::chrono::hours(24);
  evidence_.SetPackages("site-a", {pkg});
  r = JudgeFleetRule(registry_, evidence_, "PROV_021", "site-a");
  EXPECT_EQ(r.status, Status::kPass) << r.summary;
  EXPECT_NE(r.summary.find("grace period"), std::string::npos);
  // Registered with its own package -> PASS.
  FleetSiteEvidence fleet;
  fleet.registered_at = now - std::chrono::hours(2);
  fleet.registered_package_id = "pkg-site-a";
  evidence_.SetFleetSite("site-a", fleet);
  r = JudgeFleetRule(registry_, evidence_, "PROV_021", "site-a");
  EXPECT_EQ(r.status, Status::kPass) << r.summary;
  // Registered with a package not issued to the site -> FAIL.
  fleet.registered_package_id = "pkg-site-b";
  evidence_.SetFleetSite("site-a", fleet);
  r = JudgeFleetRule(registry_, evidence_, "PROV_021", "site-a");
  EXPECT_EQ(r.status, Status::kFail) << r.summary;
  // No fleet records at all -> FAIL (no evidence).
  r = JudgeFleetRule(registry_, evidence_, "PROV_021", "site-b");
  EXPECT_EQ(r.status, Status::kFail);
}

TEST_F(TestRegistration, PROV_022_healthcheck_before_license) {
  EXPECT_EQ(FindRule("PROV_022")->section, kRegistration);
  const WallTime now = evidence_.Now();
  FleetSiteEvidence fleet;
  fleet.registered_at = now - std::chrono::hours(1);
  HealthcheckEvidence failed{1, now - std::chrono::minutes(30), false};
  HealthcheckEvidence passed{2, now - std::chrono::minutes(20), true};
  fleet.healthchecks = {failed, passed};
  evidence_.SetFleetSite("site-a", fleet);
  // No activation -> not applicable.
  CheckResult r = JudgeFleetRule(registry_, evidence_, "PROV_022", "site-a");
  EXPECT_EQ(r.status, Status::kNotApplicable) << r.summary;
  // Activation 5 min after a passing healthcheck -> PASS naming the healthcheck used.
  fleet.activations = {{passed.received_at + std::chrono::minutes(5), 2, passed.received_at,
                        passed}};
  evidence_.SetFleetSite("site-a", fleet);
  r = JudgeFleetRule(registry_, evidence_, "PROV_022", "site-a");
  EXPECT_EQ(r.status, Status::kPass) << r.summary;
  EXPECT_NE(r.summary.find("#2"), std::string::npos);
  // Relying on a failed healthcheck -> FAIL.
  fleet.activations = {{failed.received_at + std::chrono::minutes(1), 1, failed.received_at,
                        failed}};
  evidence_.SetFleetSite("site-a", fleet);
  r = JudgeFleetRule(registry_, evidence_, "PROV_022", "site-a");
  EXPECT_EQ(r.status, Status::kFail) << r.summary;
  EXPECT_NE(r.summary.find("failed healthcheck #1"), std::string::npos) << r.summary;
  // Outside the window (default 600 s) -> FAIL.
  fleet.activations = {{passed.received_at + std::chrono::minutes(11), 2, passed.received_at,
                        passed}};
  evidence_.SetFleetSite("site-a", fleet);
  r = JudgeFleetRule(registry_, evidence_, "PROV_022", "site-a");
  EXPECT_EQ(r.status, Status::kFail) << r.summary;
  // A wider configured window accepts it.
  evidence_.SetConfig("fleet.license_health_window_seconds", "900");
  r = JudgeFleetRule(registry_, evidence_, "PROV_022", "site-a");
  EXPECT_EQ(r.status, Status::kPass) << r.summary;
}
TEST_F(TestRegistration, PROV_023_signed_deployment_package) {
  EXPECT_EQ(FindRule("PROV_023")->section, kRegistration);
  crypto::SigningKey key = crypto::SigningKey::Generate(*RealRandom());
  ProvisionedFleet fleet(key);
  CheckResult ok = fleet.Judge(registry_, "PROV_023", "site-a");
  EXPECT_EQ(ok.status, Status::kPass) << ok.summary;
  EXPECT_EQ(EvidenceValue(ok, "packages_verified"), "pkg-site-a");
  // The manifest altered after signing.
  ProvisionedFleet tampered = fleet;
  tampered.packages["site-a"][0].signed_bytes.back() ^= 1;
  CheckResult r = tampered.Judge(registry_, "PROV_023", "site-a");
  EXPECT_EQ(r.status, Status::kFail);
  EXPECT_NE(EvidenceValue(r, "packages_failing").find("pkg-site-a"), std::string::npos);
  // Signed by another key (that the record names as its signer).
  crypto::SigningKey other = crypto::SigningKey::Generate(*RealRandom());
  ProvisionedFleet forged = fleet;
  auto& p = forged.packages["site-b"][0];
  auto sig = other.Sign(p.signed_bytes);
  p.signature.assign(sig.begin(), sig.end());
  EXPECT_EQ(forged.Judge(registry_, "PROV_023", "site-b").status, Status::kFail);
  p.fleet_key.assign(other.public_key().begin(), other.public_key().end());
  EXPECT_EQ(forged.Judge(registry_, "PROV_023", "site-b").status, Status::kFail);
  // No package: no evidence.
  ProvisionedFleet none = fleet;
  none.packages["site-a"].clear();
  EXPECT_EQ(none.Judge(registry_, "PROV_023", "site-a").status, Status::kFail);
}

}  // namespace
}  // namespace vigie::compliance
