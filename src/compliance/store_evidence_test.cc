#include "compliance/store_evidence.h"

#include <gtest/gtest.h>

#include "compliance/engine.h"
#include "compliance/output.h"
#include "compliance/registry.h"
#include "store/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace vigie::compliance {
namespace {

TEST(StoreEvidenceTest, ListsSitesFromTheStoreAndConfigValues) {
  vigie::testing::TempDir dir;
  vigie::testing::FakeClock clock;
  store::SqliteOptions opts;
  opts.path = dir.File("vigie.db");
  auto st = store::OpenSqliteStore(opts);
  ASSERT_TRUE(st) << st.error().ToString();
  auto& s = **st;
  ASSERT_TRUE(s.Write([](store::Txn& txn) -> vigie::Status {
    VIGIE_RETURN_IF_ERROR(txn.Exec(
        "INSERT INTO sites (id, region, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        {std::string("site-b"), std::string("eu-west-3"), std::string("active"), int64_t{1},
         int64_t{1}}));
    return txn.Exec(
        "INSERT INTO sites (id, region, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        {std::string("site-a"), std::string("eu-west-3"), std::string("active"), int64_t{1},
         int64_t{1}});
  }));
  StoreEvidence ev(s, clock, {{"vault.recovery_shares", "5"}});
  EXPECT_EQ(ev.Sites(), (std::vector<std::string>{"site-a", "site-b"}));
  EXPECT_EQ(ev.Config("vault.recovery_shares"), "5");
  EXPECT_FALSE(ev.Config("nope").has_value());
  EXPECT_EQ(ev.Now(), clock.Now());
  EXPECT_FALSE(ev.error().has_value());
}

// --- Per-evaluation bulk reads (BeginEvaluation .. EndEvaluation) answer exactly what the
// per-site queries answer. The per-query path (outside an evaluation) is the reference.

using store::Value;

// A store holding evidence of every kind for several sites, with the cases the bulk reads must
// get right: interleaved rows of different sites, several runs per site, ties on created_at,
// a TEXT verifier, anchors superseded by a later status, an activation naming a missing
// healthcheck, a site without any evidence.
class StoreEvidenceBulkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::SqliteOptions opts;
    opts.path = dir_.File("vigie.db");
    auto st = store::OpenSqliteStore(opts);
    ASSERT_TRUE(st) << st.error().ToString();
    store_ = std::move(*st);
    Exec("INSERT INTO kv (key, value) VALUES ('provision.fleet_signing_public_key', ?)",
         {Bytes(32, 0x42)});
    for (const char* site : {"s1", "s2", "s3", "s4-bare"}) {
      Exec(
          "INSERT INTO sites (id, region, state, created_at, updated_at) "
          "VALUES (?, 'eu-west-3', 'active', 1, 1)",
          {std::string(site)});
    }
    for (const char* site : {"s2", "s1"}) {
      std::string id(site);
      Exec(
          "INSERT INTO site_principals (site_id, backend, name, arn, policy, access_key_id, "
          "kms_key_arn, created_at) VALUES (?, 'local', ?, ?, '{}', ?, ?, 1)",
          {id, "vigie-" + id, "arn:local:" + id, "AK" + id, "arn:kms:" + id});
    }
    auto credential = [&](std::string site, std::string name, Value verifier, Value changed_at) {
      Exec(
          "INSERT INTO credentials (site_id, name, kind, provenance, generator, entropy_bits, "
          "alphabet, verifier_kind, verifier, secret_ref, must_change, changed_at, created_at) "
          "VALUES (?, ?, 'api_secret', 'generated', 'csprng', 256, 'base64', 'sha256', ?, ?, "
          "1, ?, 1)",
          {site, name, std::move(verifier), "vigie/sites/" + site + "/" + name,
           std::move(changed_at)});
    };
    credential("s2", "db_password", Bytes(32, 7), Value());
    credential("s1", "db_password", std::string("plaintext-in-a-blob-column"), int64_t{100});
    credential("s1", "admin_password", Bytes(32, 9), Value());
    auto package = [&](std::string id, std::string site, int64_t created) {
      Exec(
          "INSERT INTO packages (package_id, site_id, path, file_sha256, signed_bytes, "
          "signature, fleet_key, enrollment_key, enrollment_key_fingerprint, created_at, "
          "expires_at) VALUES (?, ?, '/p', 'ff', ?, ?, ?, ?, 'fp', ?, ?)",
          {id, site, Bytes{1, 2, static_cast<uint8_t>(id[0])}, Bytes(64, 3), Bytes(32, 0x42),
           Bytes(32, 4), created, created + 1000});
    };
    package("p-late", "s1", 200);
    package("p-b", "s2", 50);
    package("p-early", "s1", 100);
    package("p-a", "s2", 50);
    auto vault = [&](std::string site, std::string action, int64_t init_now, int64_t drift,
                     Value revoked) {
      Exec(
          "INSERT INTO vault_bootstrap (site, action, outcome, started_at, finished_at, "
          "seal_type, initialized, sealed, initialized_now, recovery_shares, "
          "recovery_threshold, shares_stored, root_revoked_at, root_revocation_verified, "
          "policy_digest, drift, message, body) VALUES (?, ?, 'ok', 1, ?, 'awskms', 1, 0, ?, "
          "5, 3, 5, ?, 1, 'digest', ?, ?, '{}')",
          {site, action, int64_t{10} + drift, init_now, std::move(revoked), drift,
           action + " of " + site});
    };
    vault("s1", "bootstrap", 1, 0, int64_t{11});
    vault("s2", "check", 0, -1, Value());
    vault("s1", "reconcile", 0, 2, Value());
    vault("s1", "bootstrap", 1, 1, Value());
    vault("s1", "check", 0, -1, Value());
    auto event = [&](int64_t seq, std::string site, std::string kind) {
      Exec("INSERT INTO ledger_site_events (seq, site, kind, at) VALUES (?, ?, ?, 1)",
           {seq, site, kind});
    };
    event(1, "s1", "site.provisioned");
    event(3, "s2", "site.provisioned");
    event(4, "s3", "vault.bootstrap");
    event(5, "s1", "vault.bootstrap");
    event(9, "s2", "site.provision_retried");
    auto anchor = [&](std::string name, int64_t size, std::string tx, std::string state) {
      Exec(
          "INSERT INTO ledger_anchors (anchor, tree_size, root, chain_id, tx_hash, "
          "block_number, block_hash, state, confirmations, required_confirmations, detail, "
          "checked_at) VALUES (?, ?, 'root', ?, ?, 7, 'bh', ?, 1, 2, 'detail', 1)",
          {name, size, std::string(tx.empty() ? "" : "1"), tx, state});
    };
    anchor("local", 4, "", "local");
    anchor("ethereum", 6, "aa", "pending");
    anchor("ethereum", 6, "aa", "confirmed");
    anchor("local", 10, "", "local");
    anchor("ethereum", 12, "bb", "pending");
    anchor("ethereum", 2, "cc", "confirmed");
    Exec(
        "INSERT INTO site_registrations (site_id, package_id, enrollment_key_fingerprint, "
        "agent_version, registered_at) VALUES ('s1', 'p-late', 'fp', '1.0', 300)");
    int64_t hc_id = 0;  // the fleet manager gives healthcheck ids in arrival order
    auto healthcheck = [&](std::string site, int64_t at, int64_t passed) {
      Exec(
          "INSERT INTO healthchecks (id, site_id, received_at, passed, report) VALUES (?, ?, ?, "
          "?, '{}')",
          {++hc_id, site, at, passed});
    };
    healthcheck("s1", 400, 1);  // id 1
    healthcheck("s2", 410, 0);  // id 2
    healthcheck("s1", 420, 0);  // id 3
    // The last heartbeats: s1's, and s3's, whose rows aged out of the retention.
    Exec(
        "INSERT INTO heartbeats_last (site_id, last_seen, last_report, last_pass_at, "
        "last_healthcheck_id) VALUES ('s1', 425, '{}', 400, 3), ('s3', 90, '{}', 90, NULL)");
    auto activation = [&](std::string site, int64_t hc) {
      Exec(
          "INSERT INTO license_activations (site_id, activated_at, healthcheck_id, "
          "healthcheck_at) VALUES (?, 500, ?, 420)",
          {site, hc});
    };
    activation("s1", 3);
    activation("s1", 99);
    activation("s2", 1);  // another site's healthcheck: not this site's evidence
    auto alert = [&](std::string site, std::string state, Value resolved) {
      Exec(
          "INSERT INTO alerts (site_id, rule, severity, state, started_at, resolved_at, detail) "
          "VALUES (?, 'MAINT_002', 'critical', ?, 600, ?, 'silent')",
          {site, state, std::move(resolved)});
    };
    alert("s1", "resolved", int64_t{700});
    alert("s2", "firing", Value());
    alert("s1", "firing", Value());
  }

  void Exec(std::string sql, std::vector<Value> params = {}) {
    auto status = store_->Write([&](store::Txn& txn) { return txn.Exec(sql, params); });
    ASSERT_TRUE(status) << sql << ": " << status.error().ToString();
  }

  vigie::testing::TempDir dir_;
  vigie::testing::FakeClock clock_;
  std::unique_ptr<store::Store> store_;
};

const std::vector<std::string> kAskedSites = {"s1", "s2", "s3", "s4-bare", "not-a-site"};

TEST_F(StoreEvidenceBulkTest, BulkReadsAnswerWhatThePerSiteQueriesAnswer) {
  StoreEvidence reference(*store_, clock_, {});
  StoreEvidence bulk(*store_, clock_, {});
  bulk.BeginEvaluation();
  EXPECT_EQ(bulk.Sites(), reference.Sites());
  EXPECT_EQ(bulk.Sites(), (std::vector<std::string>{"s1", "s2", "s3", "s4-bare"}));
  EXPECT_EQ(bulk.SitePrincipals(), reference.SitePrincipals());
  EXPECT_EQ(bulk.FleetSigningKey(), reference.FleetSigningKey());
  for (const std::string& site : kAskedSites) {
    SCOPED_TRACE(site);
    EXPECT_EQ(bulk.Credentials(site), reference.Credentials(site));
    EXPECT_EQ(bulk.Packages(site), reference.Packages(site));
    EXPECT_EQ(bulk.VaultBootstrap(site), reference.VaultBootstrap(site));
    EXPECT_EQ(bulk.LedgerAnchor(site), reference.LedgerAnchor(site));
    EXPECT_EQ(bulk.FleetSite(site), reference.FleetSite(site));
  }
  bulk.EndEvaluation();
  EXPECT_FALSE(reference.error().has_value()) << reference.error()->ToString();
  EXPECT_FALSE(bulk.error().has_value()) << bulk.error()->ToString();

  // The fixture's cases are really exercised (a vacuous comparison would pass too).
  StoreEvidence ev(*store_, clock_, {});
  ev.BeginEvaluation();
  auto creds = ev.Credentials("s1");
  ASSERT_TRUE(creds && creds->size() == 2u);
  EXPECT_EQ((*creds)[0].name, "admin_password");
  EXPECT_EQ((*creds)[1].verifier, Bytes(std::string_view("plaintext-in-a-blob-column").begin(),
                                        std::string_view("plaintext-in-a-blob-column").end()));
  auto packages = ev.Packages("s2");
  ASSERT_TRUE(packages && packages->size() == 2u);
  EXPECT_EQ((*packages)[0].package_id, "p-a");
  auto vault = ev.VaultBootstrap("s1");
  ASSERT_TRUE(vault && vault->last_policy_run && vault->init);
  EXPECT_EQ(vault->latest.action, "check");
  EXPECT_EQ(vault->last_policy_run->drift, 1);
  EXPECT_FALSE(vault->init->root_revoked_at.has_value()) << "the latest init, not the first";
  auto s1 = ev.LedgerAnchor("s1");
  ASSERT_TRUE(s1 && s1->covering);
  EXPECT_EQ(s1->event_seq, 1u);
  // Confirmed anchors covering seq 1: tree sizes 6 (older) and 2 (newer): the newest wins.
  EXPECT_EQ(s1->covering->tree_size, 2u);
  EXPECT_EQ(s1->covering->tx_hash, "cc");
  EXPECT_EQ(s1->covering->state, "confirmed");
  auto s2 = ev.LedgerAnchor("s2");
  ASSERT_TRUE(s2 && s2->covering && s2->latest);
  EXPECT_EQ(s2->event_seq, 9u);
  EXPECT_EQ(s2->covering->tx_hash, "bb");
  EXPECT_EQ(s2->latest->tx_hash, "cc");
  EXPECT_FALSE(ev.LedgerAnchor("s3").has_value());
  auto fleet = ev.FleetSite("s1");
  ASSERT_TRUE(fleet);
  EXPECT_EQ(fleet->healthchecks.size(), 2u);
  ASSERT_EQ(fleet->activations.size(), 2u);
  EXPECT_TRUE(fleet->activations[0].healthcheck.has_value());
  EXPECT_FALSE(fleet->activations[1].healthcheck.has_value());
  EXPECT_FALSE(ev.FleetSite("s2")->activations[0].healthcheck.has_value());
  EXPECT_EQ(fleet->alerts.size(), 2u);
  EXPECT_EQ(fleet->last_heartbeat_at, FromUnixSeconds(425));
  EXPECT_EQ(ev.FleetSite("s3")->last_heartbeat_at, FromUnixSeconds(90));
  EXPECT_FALSE(ev.FleetSite("s2")->last_heartbeat_at.has_value());
  ev.EndEvaluation();
}

// An EvidenceSource forwarding to a StoreEvidence but hiding the evaluation brackets: the engine
// then runs every check on the per-site queries (the reference path).
class PerQuery final : public EvidenceSource {
 public:
  explicit PerQuery(StoreEvidence& e) : e_(e) {}
  std::vector<std::string> Sites() override { return e_.Sites(); }
  WallTime Now() override { return e_.Now(); }
  std::optional<std::string> Config(std::string_view key) override { return e_.Config(key); }
  std::optional<VaultBootstrapEvidence> VaultBootstrap(std::string_view site) override {
    return e_.VaultBootstrap(site);
  }
  std::optional<std::vector<SecretEvidence>> SecretsWithPrefix(std::string_view prefix) override {
    return e_.SecretsWithPrefix(prefix);
  }
  std::optional<std::vector<PrincipalEvidence>> SitePrincipals() override {
    return e_.SitePrincipals();
  }
  std::optional<std::vector<CredentialEvidence>> Credentials(std::string_view site) override {
    return e_.Credentials(site);
  }
  std::optional<std::vector<PackageEvidence>> Packages(std::string_view site) override {
    return e_.Packages(site);
  }
  std::optional<Bytes> FleetSigningKey() override { return e_.FleetSigningKey(); }
  std::optional<LedgerAnchorEvidence> LedgerAnchor(std::string_view site) override {
    return e_.LedgerAnchor(site);
  }
  std::optional<FleetSiteEvidence> FleetSite(std::string_view site) override {
    return e_.FleetSite(site);
  }
  std::optional<MetricsSelfCheckEvidence> MetricsSelfCheckRecord(
      std::string_view component) override {
    return e_.MetricsSelfCheckRecord(component);
  }
  std::optional<AgentMetricsEvidence> AgentMetricsReport(std::string_view site) override {
    return e_.AgentMetricsReport(site);
  }

 private:
  StoreEvidence& e_;
};

TEST_F(StoreEvidenceBulkTest, ReportIsTheSameAsThroughPerSiteQueries) {
  RuleRegistry registry;
  RegisterAllRules(registry);
  std::map<std::string, std::string> config = {{"vault.address", ""},
                                               {"ledger.anchor", "ethereum"}};
  int listings = 0;
  auto lister = [&](std::string_view prefix) -> Result<std::vector<SecretEvidence>> {
    ++listings;
    return std::vector<SecretEvidence>{
        {std::string(prefix) + "1", {{"site", "s1"}, {"share_index", "1"}}}};
  };
  StoreEvidence direct(*store_, clock_, config);
  direct.SetSecretLister(lister);
  StoreEvidence per_query_store(*store_, clock_, config);
  per_query_store.SetSecretLister(lister);
  PerQuery per_query(per_query_store);

  auto bulk = Evaluate(registry, direct);
  ASSERT_TRUE(bulk) << bulk.error().ToString();
  const int bulk_listings = listings;
  auto reference = Evaluate(registry, per_query);
  ASSERT_TRUE(reference) << reference.error().ToString();
  EXPECT_EQ(RenderJson(*bulk), RenderJson(*reference));
  EXPECT_FALSE(direct.error().has_value()) << direct.error()->ToString();
  EXPECT_FALSE(per_query_store.error().has_value()) << per_query_store.error()->ToString();
  EXPECT_LE(bulk_listings, listings - bulk_listings) << "each prefix listed at most once";
}

TEST_F(StoreEvidenceBulkTest, EachEvaluationReadsAfreshAndDirectCallsSeeNewWrites) {
  StoreEvidence ev(*store_, clock_, {});
  ev.BeginEvaluation();
  EXPECT_EQ(ev.Credentials("s3")->size(), 0u);
  ev.EndEvaluation();
  Exec(
      "INSERT INTO credentials (site_id, name, kind, provenance, generator, entropy_bits, "
      "alphabet, verifier_kind, verifier, secret_ref, must_change, changed_at, created_at) "
      "VALUES ('s3', 'db_password', 'db_password', 'generated', 'csprng', 256, 'b64', "
      "'sha256', ?, '', 0, NULL, 1)",
      {Bytes(32, 1)});
  EXPECT_EQ(ev.Credentials("s3")->size(), 1u) << "outside an evaluation: the store as it is";
  ev.BeginEvaluation();
  EXPECT_EQ(ev.Credentials("s3")->size(), 1u) << "a new evaluation reads afresh";
  ev.EndEvaluation();
}

TEST_F(StoreEvidenceBulkTest, UnreadableTableIsNoEvidenceForEverySiteAndARememberedError) {
  Exec("DROP TABLE alerts");
  StoreEvidence ev(*store_, clock_, {});
  ev.BeginEvaluation();
  EXPECT_FALSE(ev.FleetSite("s1").has_value());
  EXPECT_FALSE(ev.FleetSite("s2").has_value());
  EXPECT_TRUE(ev.Credentials("s1").has_value()) << "other tables still answer";
  ev.EndEvaluation();
  ASSERT_TRUE(ev.error().has_value());
  EXPECT_NE(ev.error()->message.find("alerts"), std::string::npos) << ev.error()->ToString();
}

}  // namespace
}  // namespace vigie::compliance
