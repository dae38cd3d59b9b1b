#include "fleet/metrics_selfcheck.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "compliance/engine.h"
#include "compliance/registry.h"
#include "compliance/store_evidence.h"
#include "fleet/fleet_service.h"
#include "fleet/health_report.h"
#include "fleet/site_auth.h"
#include "fleet/test_util.h"
#include "http/curl_client.h"
#include "store/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/fake_secrets.h"
#include "testing/temp_dir.h"

namespace vigie::fleet {
namespace {

using std::chrono::seconds;

constexpr std::string_view kGood =
    "# HELP up_things Things.\n# TYPE up_things gauge\nup_things 1\n";

class MetricsSelfCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::OpenSqliteStore({.path = dir_.File("vigie.db")});
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
  }

  struct Row {
    int64_t ok, families, samples, checked_at;
    std::string error;
  };
  std::optional<Row> Latest(const std::string& component) {
    auto rows = store_->Query(
        "SELECT ok, families, samples, error, checked_at FROM metrics_selfcheck WHERE "
        "component = ?",
        {component});
    EXPECT_TRUE(rows) << rows.error().ToString();
    if (!rows || rows->empty()) return std::nullopt;
    const auto& r = (*rows)[0];
    return Row{*r.GetInt("ok"), *r.GetInt("families"), *r.GetInt("samples"),
               *r.GetInt("checked_at"), *r.GetText("error")};
  }
  // WriteAsync rows land once the writer commits: a blocking no-op write after them waits.
  void Drain() {
    ASSERT_TRUE(store_->Write([](store::Txn&) { return OkStatus(); }));
  }

  vigie::testing::TempDir dir_;
  vigie::testing::FakeClock clock_{FromUnixSeconds(1'800'000'000)};
  std::unique_ptr<store::Store> store_;
};

TEST_F(MetricsSelfCheckTest, ChecksAtStartThenEveryIntervalAndRecordsTheLatestOnly) {
  std::atomic<int> renders{0};
  std::string body(kGood);
  std::mutex mu;
  MetricsSelfChecker checker(
      "fleet",
      [&] {
        ++renders;
        std::lock_guard lock(mu);
        return body;
      },
      &clock_, store_.get(), std::chrono::milliseconds(60000));
  checker.Start();
  clock_.Advance(std::chrono::nanoseconds(0));
  Drain();
  auto row = Latest("fleet");
  ASSERT_TRUE(row);
  EXPECT_EQ(row->ok, 1);
  EXPECT_EQ(row->families, 1);
  EXPECT_EQ(row->samples, 1);
  EXPECT_EQ(row->error, "");
  EXPECT_EQ(row->checked_at, 1'800'000'000);
  EXPECT_EQ(renders.load(), 1);

  // The rendering breaks: the next check (one interval later) records the parser's error.
  {
    std::lock_guard lock(mu);
    body = "# TYPE up_things gauge\nup_things one\n";
  }
  clock_.Advance(seconds(59));
  EXPECT_EQ(renders.load(), 1);
  clock_.Advance(seconds(1));
  Drain();
  row = Latest("fleet");
  ASSERT_TRUE(row);
  EXPECT_EQ(row->ok, 0);
  EXPECT_EQ(row->checked_at, 1'800'000'060);
  EXPECT_NE(row->error.find("line 2: invalid value \"one\""), std::string::npos) << row->error;
  auto count = store_->Query("SELECT COUNT(*) AS n FROM metrics_selfcheck");
  EXPECT_EQ(*(*count)[0].GetInt("n"), 1);

  // Lint problems count as a failure too.
  EXPECT_FALSE(http::SelfCheckMetricsText("# TYPE c counter\nc 1\n").ok);

  // Stopped: no more checks.
  checker.Stop();
  clock_.Advance(seconds(600));
  EXPECT_EQ(renders.load(), 2);
  EXPECT_EQ(clock_.PendingTimers(), 0u);
}

TEST(HealthReportMetricsTest, ParsesTheAgentsMetricsSelfCheck) {
  constexpr std::string_view kBase = R"({"agent_version":"0.1.0","disk":{"ok":true},
    "memory":{"ok":true},"cpu":{"ok":true},"services":{"a":{"ok":true}})";
  auto r = ParseHealthReport(std::string(kBase) + "}");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->metrics.has_value());
  r = ParseHealthReport(std::string(kBase) +
                        R"(,"metrics":{"ok":false,"families":3,"samples":7,"error":"line 2: x"}})");
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_TRUE(r->metrics);
  EXPECT_FALSE(r->metrics->ok);
  EXPECT_EQ(r->metrics->families, 3);
  EXPECT_EQ(r->metrics->samples, 7);
  EXPECT_EQ(r->metrics->error, "line 2: x");
  EXPECT_TRUE(r->passed);  // not gated on metrics (MAINT_003 judges it)
  for (const char* bad : {R"("metrics":true)", R"("metrics":{"families":1})",
                          R"("metrics":{"ok":true})", R"("metrics":{"ok":true,"families":-1})",
                          R"("metrics":{"ok":true,"families":1,"error":5})"}) {
    auto e = ParseHealthReport(std::string(kBase) + "," + bad + "}");
    ASSERT_FALSE(e) << bad;
    EXPECT_NE(e.error().message.find("field metrics"), std::string::npos) << e.error().message;
  }
}

// The whole path on a real server: the fleet manager's own self-check row, an agent's report in
// its heartbeat, and MAINT_003 judged from the store (per call and in a bulk evaluation).
TEST_F(MetricsSelfCheckTest, FleetServerRecordsItsSelfCheckAndMaint003JudgesTheStore) {
  const int64_t now = ToUnixSeconds(clock_.Now());
  for (const std::string site : {"site-a", "site-b"}) {
    ASSERT_TRUE(store_->Write(
        [&](store::Txn& txn) { return testutil::InsertProvisionedSite(txn, site, now); }));
  }
  vigie::testing::FakeSecrets secrets;
  auto secret = SecretBytes::CopyFrom("agent-secret-of-site-a");
  ASSERT_TRUE(secrets.Create("vigie/sites/site-a/agent-api-secret", secret, {}, "t"));
  FleetServerOptions o;
  o.listen_address = "127.0.0.1:0";  // a free port: tests run in parallel
  o.tls = false;
  o.data_dir = dir_.path();
  Env env{&clock_, RealFileSystem(), RealRandom()};
  auto server = StartFleetServer(std::move(o), FleetDeps{env, store_.get(), &secrets, nullptr});
  ASSERT_TRUE(server) << server.error().ToString();
  clock_.Advance(std::chrono::nanoseconds(0));  // the check at start
  Drain();
  auto row = Latest("fleet");
  ASSERT_TRUE(row);
  EXPECT_EQ(row->ok, 1) << row->error;
  EXPECT_GE(row->families, 8);

  http::CurlClient client{http::CurlClientOptions{}};
  const std::string base = "http://127.0.0.1:" + std::to_string((*server)->port());
  auto post = [&](const std::string& path, const std::string& body) {
    http::HttpRequest req;
    req.method = "POST";
    req.url = base + path;
    req.body = body;
    req.headers =
        SignSiteRequest("site-a", secret, "POST", path, body, clock_.Now(), *RealRandom());
    auto r = client.Send(req);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? r->status : 0;
  };
  ASSERT_EQ(post("/v1/sites/site-a/register",
                 R"({"package_id":"pkg-site-a","enrollment_key_fingerprint":"fp-site-a",)"
                 R"("agent_version":"0.1.0"})"),
            200);
  auto heartbeat = [&](bool ok) {
    nlohmann::json hb = {{"agent_version", "0.1.0"},
                         {"disk", {{"ok", true}}},
                         {"memory", {{"ok", true}}},
                         {"cpu", {{"ok", true}}},
                         {"services", {{"a", {{"ok", true}}}}},
                         {"metrics",
                          {{"ok", ok},
                           {"families", 9},
                           {"samples", 17},
                           {"error", ok ? "" : "line 3: invalid value"}}}};
    return post("/v1/sites/site-a/heartbeat", hb.dump());
  };
  ASSERT_EQ(heartbeat(true), 200);

  compliance::RuleRegistry registry;
  compliance::RegisterAllRules(registry);
  auto judge = [&](std::string_view site) {
    // Healthcheck rows are written in batches (every healthcheck_flush_interval of the fake
    // clock): hand the pending one to the store and let it land first.
    EXPECT_TRUE((*server)->FlushNow());
    compliance::StoreEvidence evidence(*store_, clock_, {});
    auto r = registry.Find("MAINT_003")->check(*compliance::FindRule("MAINT_003"), evidence, site);
    EXPECT_FALSE(evidence.error().has_value()) << evidence.error()->ToString();
    return r;
  };
  auto r = judge("site-a");
  EXPECT_EQ(r.status, compliance::Status::kPass) << r.summary;
  EXPECT_NE(r.summary.find("agent of site site-a: 9 families, 17 samples"), std::string::npos)
      << r.summary;
  r = judge("site-b");
  EXPECT_EQ(r.status, compliance::Status::kFail);
  EXPECT_NE(r.summary.find("no evidence: no heartbeat recorded for site site-b"), std::string::npos)
      << r.summary;
  // Bulk path (inside an evaluation): same answers.
  {
    // Healthcheck rows are written in batches (every healthcheck_flush_interval of the fake
    // clock): hand the pending one to the store and let it land first.
    EXPECT_TRUE((*server)->FlushNow());
    compliance::StoreEvidence evidence(*store_, clock_, {});
    auto report = compliance::Evaluate(registry, evidence, compliance::Filter{{}, {"MAINT_003"}});
    ASSERT_TRUE(report) << report.error().ToString();
    ASSERT_EQ(report->rules[0].results.size(), 2u);
    EXPECT_EQ(report->rules[0].results[0].first, "site-a");
    EXPECT_EQ(report->rules[0].results[0].second.status, compliance::Status::kPass)
        << report->rules[0].results[0].second.summary;
    EXPECT_EQ(report->rules[0].results[1].second.status, compliance::Status::kFail);
  }
  // The agent now reports its /metrics broken -> FAIL with its error.
  ASSERT_EQ(heartbeat(false), 200);
  r = judge("site-a");
  EXPECT_EQ(r.status, compliance::Status::kFail);
  EXPECT_NE(r.summary.find("line 3: invalid value"), std::string::npos) << r.summary;
  // Fixed again, but the fleet manager stops: 11 min later its self-check is stale.
  ASSERT_EQ(heartbeat(true), 200);
  (*server)->Stop();
  clock_.Advance(seconds(660));
  r = judge("site-a");
  EXPECT_EQ(r.status, compliance::Status::kFail);
  EXPECT_NE(r.summary.find("self-check is 660 s old"), std::string::npos) << r.summary;
}

}  // namespace
}  // namespace vigie::fleet
