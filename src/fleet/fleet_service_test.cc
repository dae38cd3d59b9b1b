#include "fleet/fleet_service.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "compliance/registry.h"
#include "compliance/store_evidence.h"
#include "fleet/site_auth.h"
#include "fleet/test_util.h"
#include "http/curl_client.h"
#include "http/tls_material.h"
#include "store/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/fake_secrets.h"
#include "testing/temp_dir.h"

namespace vigie::fleet {
namespace {

using nlohmann::json;
using std::chrono::seconds;

constexpr std::string_view kHealthy = R"({"agent_version":"0.1.0","disk":{"ok":true},
  "memory":{"ok":true},"cpu":{"ok":true},"services":{"vigie-agent":{"ok":true}},
  "vault":{"ok":true,"sealed":false}})";
constexpr std::string_view kUnhealthy = R"({"agent_version":"0.1.0","disk":{"ok":false},
  "memory":{"ok":true},"cpu":{"ok":true},"services":{"vigie-agent":{"ok":true}}})";

// Records webhook posts.
class RecordingClient final : public http::HttpClient {
 public:
  Result<http::HttpResponse> Send(const http::HttpRequest& request) override {
    std::lock_guard lock(mu_);
    bodies_.push_back(request.body);
    return http::HttpResponse{.status = 200};
  }
  std::vector<std::string> bodies() {
    std::lock_guard lock(mu_);
    return bodies_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> bodies_;
};

class FleetServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::OpenSqliteStore({.path = dir_.File("vigie.db")});
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    for (const char* site : {"site-a", "site-b"}) AddSite(site);
    env_ = Env{&clock_, RealFileSystem(), RealRandom()};
  }

  void AddSite(const std::string& site) {
    const int64_t now = ToUnixSeconds(clock_.Now());
    ASSERT_TRUE(store_->Write(
        [&](store::Txn& txn) { return testutil::InsertProvisionedSite(txn, site, now); }));
    auto secret = SecretBytes::CopyFrom("agent-secret-of-" + site);
    ASSERT_TRUE(
        secrets_.Create("vigie/sites/" + site + "/agent-api-secret", secret, {}, "t-" + site));
  }

  void Start(bool tls = false, std::function<void(FleetServerOptions&)> tweak = {}) {
    FleetServerOptions o;
    o.listen_address = "127.0.0.1:0";  // a free port: tests run in parallel
    o.tls = tls;
    o.data_dir = dir_.path();
    o.max_body_bytes = 4096;
    o.webhook_url = "https://hooks.example/alert";
    if (tweak) tweak(o);
    if (tls) {
      auto m = http::GenerateSelfSignedCertificate("localhost", 1, {"127.0.0.1"});
      ASSERT_TRUE(m);
      std::ofstream(dir_.File("ca.pem")) << m->cert_pem;
      o.tls_material = std::move(*m);
    }
    auto server =
        StartFleetServer(std::move(o), FleetDeps{env_, store_.get(), &secrets_, &webhook_});
    ASSERT_TRUE(server) << server.error().ToString();
    server_ = std::move(*server);
    token_ = std::string(server_->generated_operator_token().view());
    ASSERT_EQ(token_.size(), 64u);
    http::CurlClientOptions co;
    if (tls) co.ca_file = dir_.File("ca.pem");
    client_ = std::make_unique<http::CurlClient>(std::move(co));
    base_ = std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(server_->port());
  }

  // Stops the server and starts another on the same store and data dir (the token file is
  // reused), with default options.
  void Restart() {
    server_->Stop();
    server_.reset();
    FleetServerOptions o;
    o.listen_address = "127.0.0.1:0";
    o.tls = false;
    o.data_dir = dir_.path();
    auto again = StartFleetServer(std::move(o), FleetDeps{env_, store_.get(), &secrets_, nullptr});
    ASSERT_TRUE(again) << again.error().ToString();
    server_ = std::move(*again);
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }

  http::HttpResponse Post(const std::string& signer, const std::string& path, std::string body,
                          std::optional<WallTime> at = std::nullopt,
                          http::Headers* sent = nullptr) {
    auto secret = SecretBytes::CopyFrom("agent-secret-of-" + signer);
    http::HttpRequest req;
    req.method = "POST";
    req.url = base_ + path;
    req.body = std::move(body);
    req.headers = SignSiteRequest(signer, secret, "POST", path, req.body, at.value_or(clock_.Now()),
                                  *RealRandom());
    if (sent) *sent = req.headers;
    return Send(req);
  }
  http::HttpResponse Send(const http::HttpRequest& req) {
    auto resp = client_->Send(req);
    EXPECT_TRUE(resp) << resp.error().ToString();
    return resp ? *resp : http::HttpResponse{};
  }
  http::HttpResponse Get(const std::string& path, const std::string& token) {
    http::HttpRequest req;
    req.url = base_ + path;
    if (!token.empty()) req.headers = {{"Authorization", "Bearer " + token}};
    return Send(req);
  }
  std::string Register(const std::string& site) {
    json body = {{"package_id", "pkg-" + site},
                 {"enrollment_key_fingerprint", "fp-" + site},
                 {"agent_version", "0.1.0"}};
    auto r = Post(site, "/v1/sites/" + site + "/register", body.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    return r.body;
  }
  std::string Message(const http::HttpResponse& r) {
    auto j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.contains("error")) return r.body;
    return j["error"]["message"].get<std::string>();
  }
  // Waits for every write job enqueued so far (a Store::Write runs after them).
  void Sync() {
    ASSERT_TRUE(store_->Write([](store::Txn&) { return OkStatus(); }));
  }
  double CounterValue(const std::string& series) {
    const std::string text = server_->metrics().Render();
    size_t at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + series.size() + 2));
  }
  int64_t Count(const std::string& sql) {
    auto rows = store_->Query(sql);
    EXPECT_TRUE(rows);
    return rows && !rows->empty() ? *(*rows)[0].GetInt("n") : -1;
  }

  vigie::testing::TempDir dir_;
  vigie::testing::FakeClock clock_{FromUnixSeconds(1'800'000'000)};
  Env env_;
  std::unique_ptr<store::Store> store_;
  vigie::testing::FakeSecrets secrets_;
  RecordingClient webhook_;
  std::unique_ptr<FleetServer> server_;
  std::unique_ptr<http::CurlClient> client_;
  std::string base_;
  std::string token_;
};

TEST_F(FleetServerTest, RegisterHeartbeatThenLicenceOnlyAfterPassingHealthcheck) {
  Start();
  // PROV_021: unregistered site is not active, heartbeat refused.
  auto hb = Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy));
  EXPECT_EQ(hb.status, 412) << hb.body;
  EXPECT_NE(Message(hb).find("not registered"), std::string::npos);

  Register("site-a");
  EXPECT_EQ(Count("SELECT COUNT(*) AS n FROM site_registrations WHERE site_id = 'site-a'"), 1);

  // PROV_022: no healthcheck yet -> 409 naming PROV_022.
  auto lic = Post("site-a", "/v1/sites/site-a/license/activate", "");
  EXPECT_EQ(lic.status, 409) << lic.body;
  EXPECT_NE(Message(lic).find("PROV_022"), std::string::npos);

  // A failing healthcheck is accepted as a heartbeat but does not allow the licence.
  hb = Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kUnhealthy));
  ASSERT_EQ(hb.status, 200) << hb.body;
  EXPECT_FALSE(json::parse(hb.body)["passed"].get<bool>());
  lic = Post("site-a", "/v1/sites/site-a/license/activate", "");
  EXPECT_EQ(lic.status, 409);
  EXPECT_NE(Message(lic).find("failed"), std::string::npos);

  hb = Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy));
  ASSERT_EQ(hb.status, 200) << hb.body;
  EXPECT_TRUE(json::parse(hb.body)["passed"].get<bool>());

  // Outside the window (default 600 s) -> refused; a fresh one -> accepted.
  clock_.Advance(seconds(601));
  lic = Post("site-a", "/v1/sites/site-a/license/activate", "");
  EXPECT_EQ(lic.status, 409);
  EXPECT_NE(Message(lic).find("s old"), std::string::npos);
  hb = Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy));
  ASSERT_EQ(hb.status, 200) << hb.body;
  // The reply does not wait for the row's commit; the activation (a Store::Write, run after
  // every job enqueued before it) relies on that latest, committed healthcheck.
  lic = Post("site-a", "/v1/sites/site-a/license/activate", "");
  ASSERT_EQ(lic.status, 200) << lic.body;
  const int64_t hc_id =
      Count("SELECT MAX(id) AS n FROM healthchecks WHERE site_id = 'site-a' AND passed = 1");
  EXPECT_EQ(json::parse(lic.body)["healthcheck_id"].get<int64_t>(), hc_id);
  EXPECT_EQ(Count("SELECT COUNT(*) AS n FROM license_activations WHERE site_id = 'site-a' AND "
                  "healthcheck_id = " +
                  std::to_string(hc_id)),
            1);

  // Admin API with the operator token.
  auto site = Get("/v1/sites/site-a", token_);
  ASSERT_EQ(site.status, 200) << site.body;
  auto j = json::parse(site.body);
  EXPECT_EQ(j["state"], "ok");
  EXPECT_TRUE(j["licensed"].get<bool>());
  EXPECT_EQ(Get("/v1/sites/site-a", "").status, 401);
  EXPECT_EQ(Get("/v1/sites", std::string(64, 'a')).status, 401);
  auto list = Get("/v1/sites", token_);
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(json::parse(list.body)["sites"].size(), 1u);
}

// The compliance checks judge what the server recorded, read back through StoreEvidence.
TEST_F(FleetServerTest, ComplianceChecksJudgeTheRecordedEvidence) {
  Start();
  compliance::RuleRegistry registry;
  compliance::RegisterAllRules(registry);
  auto judge = [&](std::string_view id, std::string_view site) {
    // Healthcheck rows are written in batches (every healthcheck_flush_interval of the fake
    // clock): hand the pending ones to the store and let them land first.
    EXPECT_TRUE(server_->FlushNow());
    compliance::StoreEvidence evidence(*store_, clock_, {});
    const auto* reg = registry.Find(id);
    EXPECT_TRUE(reg && reg->implemented) << id;
    auto r = reg->check(*compliance::FindRule(id), evidence, site);
    EXPECT_FALSE(evidence.error().has_value()) << evidence.error()->ToString();
    return r;
  };
  // site-b never registers; its package is still valid: inside the grace period.
  EXPECT_EQ(judge("PROV_021", "site-b").status, compliance::Status::kPass);
  Register("site-a");
  EXPECT_EQ(judge("PROV_021", "site-a").status, compliance::Status::kPass);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
    clock_.Advance(seconds(60));
  }
  EXPECT_EQ(judge("MAINT_001", "site-a").status, compliance::Status::kPass)
      << judge("MAINT_001", "site-a").summary;
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/license/activate", "").status, 200);
  auto prov022 = judge("PROV_022", "site-a");
  EXPECT_EQ(prov022.status, compliance::Status::kPass) << prov022.summary;
  // 200 s of silence: the tracker raised the alert, so MAINT_002 holds; MAINT_001 does not.
  clock_.Advance(seconds(140));
  for (int i = 0; i < 1000; ++i) {  // up to 10 s on a loaded machine (the alert's commit)
    if (server_->alerts().List("site-a")->size() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto maint002 = judge("MAINT_002", "site-a");
  EXPECT_EQ(maint002.status, compliance::Status::kPass) << maint002.summary;
  EXPECT_EQ(judge("MAINT_001", "site-a").status, compliance::Status::kFail);
  // The alert row lost (as if the tracker had not run) -> MAINT_002 fails.
  ASSERT_TRUE(store_->Write([](store::Txn& txn) { return txn.Exec("DELETE FROM alerts"); }));
  maint002 = judge("MAINT_002", "site-a");
  EXPECT_EQ(maint002.status, compliance::Status::kFail) << maint002.summary;
}

TEST_F(FleetServerTest, RegisterRejectsWrongPackageOrKey) {
  Start();
  json body = {{"package_id", "pkg-site-a"},
               {"enrollment_key_fingerprint", "fp-other"},
               {"agent_version", "0.1.0"}};
  auto r = Post("site-a", "/v1/sites/site-a/register", body.dump());
  EXPECT_EQ(r.status, 403) << r.body;
  body["enrollment_key_fingerprint"] = "fp-site-b";
  body["package_id"] = "pkg-site-b";
  r = Post("site-a", "/v1/sites/site-a/register", body.dump());
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(Message(r).find("another site"), std::string::npos);
  EXPECT_EQ(Count("SELECT COUNT(*) AS n FROM site_registrations"), 0);
}

TEST_F(FleetServerTest, SecurityRejectionsAreClear4xxAndServerKeepsServing) {
  Start();
  Register("site-a");
  Register("site-b");
  // Site A's credential on site B's endpoints -> 403.
  for (const std::string path : {"/v1/sites/site-b/heartbeat", "/v1/sites/site-b/register",
                                 "/v1/sites/site-b/license/activate"}) {
    auto r = Post("site-a", path, std::string(kHealthy));
    EXPECT_EQ(r.status, 403) << path << " " << r.body;
  }
  // Replay.
  http::Headers sent;
  auto ok =
      Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy), std::nullopt, &sent);
  ASSERT_EQ(ok.status, 200);
  http::HttpRequest replay{.method = "POST",
                           .url = base_ + "/v1/sites/site-a/heartbeat",
                           .headers = sent,
                           .body = std::string(kHealthy)};
  auto r = Send(replay);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(Message(r).find("replayed"), std::string::npos);
  // Bad HMAC (body changed after signing).
  Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy), std::nullopt, &sent);
  http::HttpRequest tampered{
      .method = "POST",
      .url = base_ + "/v1/sites/site-a/heartbeat",
      .headers =
          SignSiteRequest("site-a", SecretBytes::CopyFrom("wrong-secret"), "POST",
                          "/v1/sites/site-a/heartbeat", kHealthy, clock_.Now(), *RealRandom()),
      .body = std::string(kHealthy)};
  r = Send(tampered);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(Message(r).find("bad signature"), std::string::npos);
  // Stale timestamp.
  r = Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy),
           clock_.Now() - seconds(1000));
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(Message(r).find("stale timestamp"), std::string::npos);
  // Unsigned.
  r = Send(http::HttpRequest{.method = "POST",
                             .url = base_ + "/v1/sites/site-a/heartbeat",
                             .body = std::string(kHealthy)});
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(Message(r).find("missing header"), std::string::npos);
  // Oversized body.
  r = Post("site-a", "/v1/sites/site-a/heartbeat", std::string(8192, 'x'));
  EXPECT_EQ(r.status, 413);
  // Malformed JSON: 400 naming the position.
  r = Post("site-a", "/v1/sites/site-a/heartbeat", R"({"disk": {"ok": tru})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(Message(r).find("malformed JSON at byte"), std::string::npos) << r.body;
  // Well-formed JSON missing a field: 400 naming it.
  r = Post("site-a", "/v1/sites/site-a/heartbeat", R"({"agent_version":"1"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(Message(r).find("disk"), std::string::npos);
  // Unknown site.
  r = Post("site-zz", "/v1/sites/site-zz/heartbeat", std::string(kHealthy));
  EXPECT_EQ(r.status, 401);
  // Still serving.
  ok = Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy));
  EXPECT_EQ(ok.status, 200);

  auto metrics = Get("/metrics", "").body;
  EXPECT_NE(metrics.find("vigie_heartbeats_rejected_total{reason=\"replayed\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("vigie_heartbeats_rejected_total{reason=\"bad_signature\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("vigie_heartbeats_rejected_total{reason=\"stale_timestamp\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("vigie_heartbeats_rejected_total{reason=\"wrong_site\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("vigie_heartbeats_rejected_total{reason=\"malformed_report\"} 2"),
            std::string::npos);
}

TEST_F(FleetServerTest, SilenceRaisesCriticalAlertAndHeartbeatResolvesIt) {
  Start();
  Register("site-a");
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  clock_.Advance(seconds(100));
  EXPECT_EQ(server_->tracker().Get("site-a")->state, SiteLiveness::kLate);
  EXPECT_EQ(Count("SELECT COUNT(*) AS n FROM alerts"), 0);
  clock_.Advance(seconds(21));  // 121 s of silence
  EXPECT_EQ(server_->tracker().Get("site-a")->state, SiteLiveness::kDown);
  // The alert is stored (WriteAsync) then notified.
  server_->notifier()->Drain();
  for (int i = 0; i < 100 && webhook_.bodies().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    server_->notifier()->Drain();
  }
  EXPECT_EQ(Count("SELECT COUNT(*) AS n FROM alerts WHERE site_id = 'site-a' AND rule = "
                  "'MAINT_002' AND severity = 'critical' AND state = 'firing'"),
            1);
  ASSERT_EQ(webhook_.bodies().size(), 1u);
  EXPECT_EQ(json::parse(webhook_.bodies()[0])["state"], "firing");
  auto metrics = Get("/metrics", "").body;
  EXPECT_NE(metrics.find("vigie_alerts_firing{severity=\"critical\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("vigie_site_liveness_state{site=\"site-a\",state=\"down\"} 1"),
            std::string::npos);

  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  for (int i = 0; i < 100 && webhook_.bodies().size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    server_->notifier()->Drain();
  }
  EXPECT_EQ(Count("SELECT COUNT(*) AS n FROM alerts WHERE state = 'resolved' AND resolved_at "
                  "IS NOT NULL"),
            1);
  ASSERT_EQ(webhook_.bodies().size(), 2u);
  EXPECT_EQ(json::parse(webhook_.bodies()[1])["state"], "resolved");
  metrics = Get("/metrics", "").body;
  EXPECT_NE(metrics.find("vigie_alerts_firing{severity=\"critical\"} 0"), std::string::npos);
  EXPECT_NE(metrics.find("vigie_alerts_total{severity=\"critical\",state=\"resolved\"} 1"),
            std::string::npos);
}

TEST_F(FleetServerTest, LastSeenFlushedAndReloadedAfterRestart) {
  Start();
  Register("site-a");
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  EXPECT_EQ(Count("SELECT COUNT(*) AS n FROM heartbeats_last"), 0);  // not flushed yet
  clock_.Advance(seconds(6));                                        // one flush interval
  for (int i = 0; i < 100 && Count("SELECT COUNT(*) AS n FROM heartbeats_last") == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(Count("SELECT COUNT(*) AS n FROM heartbeats_last WHERE last_pass_at IS NOT NULL"), 1);
  server_->Stop();
  server_.reset();
  // Restart: the registration and the liveness state survive; the token file is reused.
  FleetServerOptions o;
  o.listen_address = "127.0.0.1:0";  // a free port: tests run in parallel
  o.tls = false;
  o.data_dir = dir_.path();
  auto again = StartFleetServer(std::move(o), FleetDeps{env_, store_.get(), &secrets_, nullptr});
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_TRUE((*again)->generated_operator_token().empty());
  ASSERT_TRUE((*again)->tracker().Get("site-a"));
  clock_.Advance(seconds(120));
  EXPECT_EQ((*again)->tracker().Get("site-a")->state, SiteLiveness::kDown);
}

// The fleet manager gives healthcheck ids: in arrival order, recorded in kv with each batch, and
// never given twice across restarts -- also on a database where the last id was not recorded yet
// (migrated from version 9).
TEST_F(FleetServerTest, HealthcheckIdsGoOnAfterARestart) {
  Start();
  Register("site-a");
  Register("site-b");
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  ASSERT_EQ(Post("site-b", "/v1/sites/site-b/heartbeat", std::string(kHealthy)).status, 200);
  ASSERT_TRUE(server_->FlushNow());
  EXPECT_EQ(Count("SELECT value AS n FROM kv WHERE key = 'fleet.healthchecks.last_id'"), 2);
  Restart();
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  ASSERT_TRUE(server_->FlushNow());
  EXPECT_EQ(Count("SELECT MAX(id) AS n FROM healthchecks WHERE site_id = 'site-a'"), 3);
  // The record lost: the next start finds the last id in the rows themselves.
  ASSERT_TRUE(store_->Write([](store::Txn& t) {
    return t.Exec("DELETE FROM kv WHERE key = 'fleet.healthchecks.last_id'");
  }));
  Restart();
  ASSERT_EQ(Post("site-b", "/v1/sites/site-b/heartbeat", std::string(kHealthy)).status, 200);
  ASSERT_TRUE(server_->FlushNow());
  auto rows = store_->Query("SELECT id, site_id FROM healthchecks ORDER BY id");
  ASSERT_TRUE(rows) << rows.error().ToString();
  std::vector<std::string> got;
  for (const auto& r : *rows) {
    got.push_back(std::to_string(*r.GetInt("id")) + *r.GetText("site_id"));
  }
  EXPECT_EQ(got, (std::vector<std::string>{"1site-a", "2site-b", "3site-a", "4site-b"}));
  EXPECT_EQ(Count("SELECT value AS n FROM kv WHERE key = 'fleet.healthchecks.last_id'"), 4);
}

// The default healthcheck_flush_interval: the tests advance the FakeClock by it.
const std::chrono::milliseconds kHcFlush = FleetServerOptions{}.healthcheck_flush_interval;
constexpr const char* kHealthchecks = "SELECT COUNT(*) AS n FROM healthchecks";

// Healthcheck rows are written in batches, one WriteAsync job per healthcheck_flush_interval.
TEST_F(FleetServerTest, HealthcheckRowIsCommittedAfterTheFlushInterval) {
  Start();
  Register("site-a");
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kUnhealthy)).status, 200);
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  Sync();
  EXPECT_EQ(Count(kHealthchecks), 0);  // pending: the timer has not fired
  clock_.Advance(kHcFlush - std::chrono::milliseconds(1));
  Sync();
  EXPECT_EQ(Count(kHealthchecks), 0);
  clock_.Advance(std::chrono::milliseconds(1));  // one healthcheck_flush_interval
  Sync();
  EXPECT_EQ(Count(kHealthchecks), 2);
  // Same table and columns as one row per heartbeat, in arrival order; the report stored is the
  // body exactly as the site signed it.
  auto rows = store_->Query("SELECT site_id, passed, report FROM healthchecks ORDER BY id");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ(*(*rows)[0].GetText("site_id"), "site-a");
  EXPECT_EQ(*(*rows)[0].GetInt("passed"), 0);
  EXPECT_EQ(*(*rows)[1].GetInt("passed"), 1);
  EXPECT_EQ(*(*rows)[1].GetText("report"), kHealthy);
  // Stop() writes what is pending.
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  server_->Stop();
  EXPECT_EQ(Count(kHealthchecks), 3);
}

// PROV_022 decides on committed rows, and an activation right after a passing heartbeat (before
// the batch timer fires) still sees it: the activation hands the pending batch to the store.
TEST_F(FleetServerTest, ActivationRightAfterAPassingHeartbeatSeesIt) {
  Start();
  Register("site-a");
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kUnhealthy)).status, 200);
  clock_.Advance(kHcFlush);
  Sync();
  ASSERT_EQ(Count(kHealthchecks), 1);
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  EXPECT_EQ(Count(kHealthchecks), 1);  // still pending
  auto lic = Post("site-a", "/v1/sites/site-a/license/activate", "");
  ASSERT_EQ(lic.status, 200) << lic.body;
  const int64_t hc_id = Count("SELECT MAX(id) AS n FROM healthchecks WHERE passed = 1");
  EXPECT_EQ(Count(kHealthchecks), 2);
  EXPECT_EQ(json::parse(lic.body)["healthcheck_id"].get<int64_t>(), hc_id);

  // And the other way round: a failing heartbeat right after a passing one refuses the licence.
  Register("site-b");
  ASSERT_EQ(Post("site-b", "/v1/sites/site-b/heartbeat", std::string(kHealthy)).status, 200);
  ASSERT_EQ(Post("site-b", "/v1/sites/site-b/heartbeat", std::string(kUnhealthy)).status, 200);
  lic = Post("site-b", "/v1/sites/site-b/license/activate", "");
  EXPECT_EQ(lic.status, 409) << lic.body;
  EXPECT_NE(Message(lic).find("failed"), std::string::npos);
}

TEST_F(FleetServerTest, HealthcheckBatchMaxTriggersAnEarlyFlush) {
  Start(false, [](FleetServerOptions& o) { o.healthcheck_batch_max = 3; });
  Register("site-a");
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  }
  Sync();
  EXPECT_EQ(Count(kHealthchecks), 0);
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  Sync();  // no clock advance: the third row filled the batch
  EXPECT_EQ(Count(kHealthchecks), 3);
}

// Pruning by age: the batches drop every healthcheck received more than healthcheck_retention
// ago, of every site alike, except the rows a licence relied on.
TEST_F(FleetServerTest, PruningDropsRowsOlderThanTheRetentionButTheLicencedOne) {
  Start(false, [](FleetServerOptions& o) { o.healthcheck_retention = std::chrono::minutes(20); });
  Register("site-a");
  Register("site-b");
  ASSERT_EQ(Post("site-b", "/v1/sites/site-b/heartbeat", std::string(kHealthy)).status, 200);
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  auto lic = Post("site-a", "/v1/sites/site-a/license/activate", "");  // hands both rows over
  ASSERT_EQ(lic.status, 200) << lic.body;
  const int64_t licenced = json::parse(lic.body)["healthcheck_id"].get<int64_t>();
  ASSERT_EQ(licenced, 2);
  for (int i = 1; i <= 30; ++i) {  // ids 3..32, one a minute: the batches prune as they go
    clock_.Advance(seconds(60));
    ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  }
  ASSERT_TRUE(server_->FlushNow());  // 30 min in: rows before minute 10 are older than 20 min
  auto rows = store_->Query("SELECT id FROM healthchecks ORDER BY id");
  ASSERT_TRUE(rows);
  std::vector<int64_t> ids;
  for (const auto& r : *rows) ids.push_back(*r.GetInt("id"));
  std::vector<int64_t> want = {2};  // the licence's row, then minutes 10..30 (ids 12..32)
  for (int64_t id = 12; id <= 32; ++id) want.push_back(id);
  EXPECT_EQ(ids, want);
  EXPECT_EQ(Count("SELECT COUNT(*) AS n FROM healthchecks WHERE site_id = 'site-b'"), 0);
  EXPECT_EQ(Count("SELECT value AS n FROM kv WHERE key = 'fleet.healthchecks.pruned_through'"), 11);
  // A pruning that fails is rolled back with its batch: the mark does not move past rows it
  // did not delete.
  ASSERT_TRUE(store_->Write([](store::Txn& txn) {
    return txn.Exec(
        "CREATE TRIGGER fail_prune BEFORE DELETE ON healthchecks BEGIN SELECT "
        "RAISE(ABORT, 'injected failure'); END");
  }));
  clock_.Advance(seconds(120));
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  ASSERT_TRUE(server_->FlushNow());
  EXPECT_EQ(Count("SELECT value AS n FROM kv WHERE key = 'fleet.healthchecks.pruned_through'"), 11);
  EXPECT_EQ(Count("SELECT MIN(id) AS n FROM healthchecks WHERE id > 2"), 12);
  ASSERT_TRUE(store_->Write([](store::Txn& txn) { return txn.Exec("DROP TRIGGER fail_prune"); }));
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  ASSERT_TRUE(server_->FlushNow());  // 32 min in: minutes 10 and 11 go
  EXPECT_EQ(Count("SELECT MIN(id) AS n FROM healthchecks WHERE id > 2"), 14);
  EXPECT_EQ(Count("SELECT value AS n FROM kv WHERE key = 'fleet.healthchecks.pruned_through'"), 13);
}

// A licence decides on the site's latest healthcheck, also right after a restart that followed
// a crash: heartbeats_last may name an older row than the latest stored (its flush comes every
// few seconds); the rows above its mark are read back at start.
TEST_F(FleetServerTest, ActivationAfterARestartSeesTheLatestHealthcheck) {
  Start();
  Register("site-a");
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  ASSERT_TRUE(server_->FlushNow());  // row 1 and heartbeats_last (naming row 1, mark 1)
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kUnhealthy)).status, 200);
  clock_.Advance(kHcFlush);  // row 2 stored; heartbeats_last not flushed yet
  Sync();
  EXPECT_EQ(Count("SELECT last_healthcheck_id AS n FROM heartbeats_last"), 1);
  for (bool mark_lost : {false, true}) {
    SCOPED_TRACE(mark_lost ? "no heartbeats_last mark (migrated database)" : "after a crash");
    server_->Stop();
    // What the crash left: heartbeats_last and its mark as of row 1 (Stop flushed them).
    ASSERT_TRUE(store_->Write([&](store::Txn& t) -> Status {
      VIGIE_RETURN_IF_ERROR(t.Exec("UPDATE heartbeats_last SET last_healthcheck_id = 1"));
      return mark_lost ? t.Exec("DELETE FROM kv WHERE key = 'fleet.heartbeats_last.through_id'")
                       : t.Exec(
                             "UPDATE kv SET value = 1 WHERE key = "
                             "'fleet.heartbeats_last.through_id'");
    }));
    Restart();
    auto lic = Post("site-a", "/v1/sites/site-a/license/activate", "");
    EXPECT_EQ(lic.status, 409) << lic.body;
    EXPECT_NE(Message(lic).find("(#2) failed"), std::string::npos) << lic.body;
  }
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  auto lic = Post("site-a", "/v1/sites/site-a/license/activate", "");
  ASSERT_EQ(lic.status, 200) << lic.body;
  EXPECT_EQ(json::parse(lic.body)["healthcheck_id"].get<int64_t>(), 3);
}

// The row a licence would decide on is missing (its batch failed): refused, naming it.
TEST_F(FleetServerTest, ActivationRefusedWhenTheLatestHealthcheckWasNotStored) {
  Start();
  Register("site-a");
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  ASSERT_TRUE(server_->FlushNow());
  ASSERT_TRUE(store_->Write([](store::Txn& txn) {
    return txn.Exec(
        "CREATE TRIGGER fail_healthchecks BEFORE INSERT ON healthchecks BEGIN SELECT "
        "RAISE(ABORT, 'injected failure'); END");
  }));
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  auto lic = Post("site-a", "/v1/sites/site-a/license/activate", "");
  EXPECT_EQ(lic.status, 409) << lic.body;
  EXPECT_NE(Message(lic).find("PROV_022: the latest healthcheck of site site-a (#2) is not in the "
                              "database"),
            std::string::npos)
      << lic.body;
  EXPECT_EQ(Count("SELECT COUNT(*) AS n FROM license_activations"), 0);
}

// A healthcheck row keeps its report while the site holds no licence (so the row a licence
// names keeps the report it relied on) and whenever it failed; a licensed site's passing
// healthcheck is stored without it (NULL), its report being the site's last one.
TEST_F(FleetServerTest, LicensedSitesPassingHealthchecksAreStoredWithoutTheirReport) {
  Start();
  Register("site-a");
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  auto lic = Post("site-a", "/v1/sites/site-a/license/activate", "");
  ASSERT_EQ(lic.status, 200) << lic.body;
  const int64_t licenced = json::parse(lic.body)["healthcheck_id"].get<int64_t>();
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kUnhealthy)).status, 200);
  ASSERT_TRUE(server_->FlushNow());
  auto rows = store_->Query(
      "SELECT id, passed, report FROM healthchecks WHERE site_id = 'site-a' ORDER BY id");
  ASSERT_TRUE(rows) << rows.error().ToString();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ(*(*rows)[0].GetInt("id"), licenced);
  EXPECT_EQ(*(*rows)[0].GetText("report"), kHealthy);  // the licence's evidence, whole
  EXPECT_EQ(*(*rows)[1].GetInt("passed"), 1);
  EXPECT_TRUE(*(*rows)[1].IsNull("report"));  // licensed and passing: no report
  EXPECT_EQ(*(*rows)[2].GetInt("passed"), 0);
  EXPECT_EQ(*(*rows)[2].GetText("report"), kUnhealthy);  // what failed
  // The last report is the site's, in heartbeats_last.
  auto last = store_->Query("SELECT last_report FROM heartbeats_last WHERE site_id = 'site-a'");
  ASSERT_TRUE(last) << last.error().ToString();
  ASSERT_EQ(last->size(), 1u);
  EXPECT_EQ(*(*last)[0].GetText("last_report"), kUnhealthy);
}

TEST_F(FleetServerTest, HealthcheckStoreFailuresAreCountedAndRefusalsAnswered) {
  Start();
  Register("site-a");
  // A commit that fails after the heartbeat was acknowledged is counted, per row.
  ASSERT_TRUE(store_->Write([](store::Txn& txn) {
    return txn.Exec(
        "CREATE TRIGGER fail_healthchecks BEFORE INSERT ON healthchecks BEGIN SELECT "
        "RAISE(ABORT, 'injected failure'); END");
  }));
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  EXPECT_EQ(CounterValue("vigie_healthcheck_store_failures_total"), 0);
  clock_.Advance(kHcFlush);
  Sync();
  EXPECT_EQ(CounterValue("vigie_healthcheck_store_failures_total"), 2);
  EXPECT_EQ(Count(kHealthchecks), 0);
  ASSERT_TRUE(
      store_->Write([](store::Txn& txn) { return txn.Exec("DROP TRIGGER fail_healthchecks"); }));

  // A store that refuses the batch (closed): the heartbeats that follow are answered with its
  // error and counted as store_unavailable; the rows acknowledged before are counted as lost.
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  ASSERT_TRUE(store_->Close());
  clock_.Advance(kHcFlush);
  auto r = Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy));
  EXPECT_GE(r.status, 400) << r.body;
  EXPECT_EQ(CounterValue("vigie_heartbeats_rejected_total{reason=\"store_unavailable\"}"), 1);
  server_->Stop();
  EXPECT_EQ(CounterValue("vigie_healthcheck_store_failures_total"), 3);
}

TEST_F(FleetServerTest, OverTlsAndMetricsPassPromtool) {
  Start(/*tls=*/true);
  Register("site-a");
  ASSERT_EQ(Post("site-a", "/v1/sites/site-a/heartbeat", std::string(kHealthy)).status, 200);
  auto m = Get("/metrics", "");
  ASSERT_EQ(m.status, 200);
  for (const char* name :
       {"vigie_site_last_heartbeat_timestamp_seconds{site=\"site-a\"} 1800000000",
        "vigie_heartbeats_received_total 1", "vigie_http_request_duration_seconds_bucket",
        "vigie_sites_registered 1", "vigie_sites_active 1", "vigie_sites_licensed 0",
        "vigie_alerts_total{severity=\"critical\",state=\"firing\"} 0"}) {
    EXPECT_NE(m.body.find(name), std::string::npos) << name << "\n" << m.body;
  }
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool not installed";
  }
  std::ofstream(dir_.File("metrics.txt")) << m.body;
  std::string cmd = "promtool check metrics < " + dir_.File("metrics.txt") + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[256];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  int rc = p ? pclose(p) : -1;
  EXPECT_EQ(rc, 0) << out;
}

}  // namespace
}  // namespace vigie::fleet

namespace vigie::fleet {
namespace {

// The [server] and [fleet] keys reach the fleet server's options.
TEST(FleetOptionsFromConfigTest, TuningKeysAreMapped) {
  config::Config c;
  c.server.io_threads = 6;
  c.fleet.healthcheck_flush_interval_ms = 2500;
  c.fleet.healthcheck_batch_max = 4096;
  c.fleet.healthcheck_retention_minutes = 40;
  const FleetServerOptions o = FleetOptionsFromConfig(c);
  EXPECT_EQ(o.io_threads, 6);
  EXPECT_EQ(o.healthcheck_flush_interval, std::chrono::milliseconds(2500));
  EXPECT_EQ(o.healthcheck_batch_max, 4096u);
  EXPECT_EQ(o.healthcheck_retention, std::chrono::minutes(40));
  // Defaults: the same as the options' own.
  const FleetServerOptions d = FleetOptionsFromConfig(config::Config{});
  const FleetServerOptions built;
  EXPECT_EQ(d.io_threads, built.io_threads);
  EXPECT_EQ(d.healthcheck_flush_interval, built.healthcheck_flush_interval);
  EXPECT_EQ(d.healthcheck_batch_max, built.healthcheck_batch_max);
  EXPECT_EQ(d.healthcheck_retention, built.healthcheck_retention);
}

}  // namespace
}  // namespace vigie::fleet
