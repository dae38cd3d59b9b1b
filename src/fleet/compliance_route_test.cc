// GET /v1/compliance and the vigie_compliance_* metrics (issue 3), with a fake evaluator. The
// real evaluator is tested in src/compliance/server_feed_test.cc.

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "fleet/compliance_feed.h"
#include "fleet/fleet_service.h"
#include "http/curl_client.h"
#include "store/sqlite_store.h"
#include "testing/fake_clock.h"
#include "testing/fake_secrets.h"
#include "testing/temp_dir.h"

namespace vigie::fleet {
namespace {

using nlohmann::json;
using std::chrono::seconds;

// Records every query and the thread it ran on; answers with `snapshot` or `error`.
class FakeEvaluator {
 public:
  Result<ComplianceSnapshot> operator()(const ComplianceQuery& q) {
    std::lock_guard lock(mu_);
    queries_.push_back(q);
    threads_.insert(std::this_thread::get_id());
    if (error_) return tl::make_unexpected(*error_);
    ComplianceSnapshot s = snapshot_;
    s.json = json({{"schema", "vigie.compliance.v1"}, {"site", q.site}, {"rules", q.rules}}).dump();
    return s;
  }
  void Set(std::vector<ComplianceStatusSample> samples, std::string evidence_error = "") {
    std::lock_guard lock(mu_);
    snapshot_.samples = std::move(samples);
    snapshot_.any_fail = true;
    snapshot_.evidence_error = std::move(evidence_error);
    error_.reset();
  }
  void Fail(Error e) {
    std::lock_guard lock(mu_);
    error_ = std::move(e);
  }
  std::vector<ComplianceQuery> queries() {
    std::lock_guard lock(mu_);
    return queries_;
  }
  std::set<std::thread::id> threads() {
    std::lock_guard lock(mu_);
    return threads_;
  }

 private:
  std::mutex mu_;
  ComplianceSnapshot snapshot_;
  std::optional<Error> error_;
  std::vector<ComplianceQuery> queries_;
  std::set<std::thread::id> threads_;
};

class ComplianceRouteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::OpenSqliteStore({.path = dir_.File("vigie.db")});
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    env_ = Env{&clock_, RealFileSystem(), RealRandom()};
    fake_.Set({{"PROV_001", "site-a", kComplianceStatusPass},
               {"PROV_001", "site-b", kComplianceStatusFail},
               {"MAINT_004", std::string(kComplianceFleetSiteLabel), kComplianceStatusPass},
               {"MAINT_054", "site-b", kComplianceStatusNotApplicable}});
  }

  void Start(bool with_evaluator = true) {
    FleetServerOptions o;
    o.listen_address = "127.0.0.1:0";  // a free port: tests run in parallel
    o.tls = false;
    o.data_dir = dir_.path();
    o.compliance_interval = seconds(300);
    FleetDeps deps{env_, store_.get(), &secrets_, nullptr};
    if (with_evaluator) {
      deps.compliance = [this](const ComplianceQuery& q) { return fake_(q); };
    }
    auto server = StartFleetServer(std::move(o), std::move(deps));
    ASSERT_TRUE(server) << server.error().ToString();
    server_ = std::move(*server);
    token_ = std::string(server_->generated_operator_token().view());
    client_ = std::make_unique<http::CurlClient>(http::CurlClientOptions{});
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }

  http::HttpResponse Get(const std::string& path, const std::string& token) {
    http::HttpRequest req;
    req.url = base_ + path;
    if (!token.empty()) req.headers = {{"Authorization", "Bearer " + token}};
    auto resp = client_->Send(req);
    EXPECT_TRUE(resp) << resp.error().ToString();
    return resp ? *resp : http::HttpResponse{};
  }
  static std::string Message(const http::HttpResponse& r) {
    auto j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.contains("error")) return r.body;
    return j["error"]["message"].get<std::string>();
  }
  std::string Metrics() { return server_->metrics().Render(); }
  // Only the vigie_compliance_* samples (other families move with every request).
  std::string ComplianceSamples() {
    std::string out, text = Metrics();
    size_t pos = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      std::string line = text.substr(pos, end - pos);
      if (line.rfind("vigie_compliance_", 0) == 0) out += line + "\n";
      pos = end == std::string::npos ? text.size() : end + 1;
    }
    return out;
  }

  vigie::testing::TempDir dir_;
  vigie::testing::FakeClock clock_{FromUnixSeconds(1'800'000'000)};
  Env env_;
  std::unique_ptr<store::Store> store_;
  vigie::testing::FakeSecrets secrets_;
  FakeEvaluator fake_;
  std::unique_ptr<FleetServer> server_;
  std::unique_ptr<http::CurlClient> client_;
  std::string base_;
  std::string token_;
};

TEST_F(ComplianceRouteTest, RequiresTheOperatorToken) {
  Start();
  ASSERT_TRUE(server_->RefreshComplianceNow());
  const size_t before = fake_.queries().size();
  EXPECT_EQ(Get("/v1/compliance", "").status, 401);
  auto wrong = Get("/v1/compliance", std::string(64, 'a'));
  EXPECT_EQ(wrong.status, 401);
  EXPECT_NE(Message(wrong).find("operator token"), std::string::npos) << wrong.body;
  EXPECT_EQ(fake_.queries().size(), before) << "evaluated for an unauthenticated request";
}

TEST_F(ComplianceRouteTest, ServesTheEvaluatorJsonAndPassesTheQueryThrough) {
  Start();
  auto all = Get("/v1/compliance", token_);
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(all.Header("Content-Type").rfind("application/json", 0), 0u)
      << all.Header("Content-Type");
  EXPECT_EQ(json::parse(all.body)["schema"], "vigie.compliance.v1");
  EXPECT_EQ(json::parse(all.body)["site"], "");

  auto some = Get("/v1/compliance?site=site-a&rule=PROV_001&rule=MAINT%5F004&", token_);
  ASSERT_EQ(some.status, 200) << some.body;
  auto j = json::parse(some.body);
  EXPECT_EQ(j["site"], "site-a");
  EXPECT_EQ(j["rules"], json({"PROV_001", "MAINT_004"}));
  const auto queries = fake_.queries();
  ASSERT_FALSE(queries.empty());
  EXPECT_EQ(queries.back().site, "site-a");
  EXPECT_EQ(queries.back().rules, (std::vector<std::string>{"PROV_001", "MAINT_004"}));
  // Every evaluation (the start-up one, both requests) ran on one thread: the worker.
  EXPECT_EQ(fake_.threads().size(), 1u);
  EXPECT_EQ(fake_.threads().count(std::this_thread::get_id()), 0u);
}

TEST_F(ComplianceRouteTest, BadQueryParametersAre400NamingThem) {
  Start();
  ASSERT_TRUE(server_->RefreshComplianceNow());
  const size_t before = fake_.queries().size();
  for (const auto& [query, named] :
       std::vector<std::pair<std::string, std::string>>{{"format=json", "'format'"},
                                                        {"site=", "'site' is empty"},
                                                        {"site=a&site=b", "'site' given twice"},
                                                        {"rule=", "'rule' is empty"},
                                                        {"rule=PROV%2", "percent-encoding"}}) {
    auto r = Get("/v1/compliance?" + query, token_);
    EXPECT_EQ(r.status, 400) << query << ": " << r.body;
    EXPECT_NE(Message(r).find(named), std::string::npos) << query << ": " << Message(r);
  }
  EXPECT_EQ(fake_.queries().size(), before) << "a bad query reached the evaluator";
}

TEST_F(ComplianceRouteTest, WithoutAnEvaluatorAnswers503AndExportsNothing) {
  Start(/*with_evaluator=*/false);
  auto r = Get("/v1/compliance", token_);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(Message(r).find("not enabled"), std::string::npos) << r.body;
  EXPECT_EQ(Get("/v1/compliance", "").status, 401);  // the token is still checked first
  EXPECT_EQ(Metrics().find("vigie_compliance_"), std::string::npos);
  EXPECT_EQ(server_->RefreshComplianceNow().error().code, ErrorCode::kFailedPrecondition);
}

TEST_F(ComplianceRouteTest, EvaluatorErrorsMapToTheirStatus) {
  Start();
  ASSERT_TRUE(server_->RefreshComplianceNow());
  fake_.Fail(Error{ErrorCode::kNotFound, "site 'site-z' is unknown to this fleet manager"});
  auto missing = Get("/v1/compliance?site=site-z", token_);
  EXPECT_EQ(missing.status, 404) << missing.body;
  EXPECT_NE(Message(missing).find("site-z"), std::string::npos);
  fake_.Fail(Error{ErrorCode::kInvalidArgument, "unknown rule id 'PROV_999'"});
  auto bad = Get("/v1/compliance?rule=PROV_999", token_);
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(Message(bad).find("PROV_999"), std::string::npos);
  // Rejected queries are not evaluation errors.
  EXPECT_NE(Metrics().find("vigie_compliance_evaluation_errors_total 0\n"), std::string::npos)
      << Metrics();
  fake_.Fail(Error{ErrorCode::kUnavailable, "database is locked"});
  auto down = Get("/v1/compliance", token_);
  EXPECT_EQ(down.status, 503) << down.body;
  EXPECT_NE(Metrics().find("vigie_compliance_evaluation_errors_total 1\n"), std::string::npos)
      << Metrics();
}

TEST_F(ComplianceRouteTest, MetricsFollowTheFullEvaluationsAndPassPromtool) {
  Start();
  ASSERT_TRUE(server_->RefreshComplianceNow());
  std::string m = Metrics();
  for (const char* line : {"vigie_compliance_rule_status{rule=\"PROV_001\",site=\"site-a\"} 1\n",
                           "vigie_compliance_rule_status{rule=\"PROV_001\",site=\"site-b\"} 0\n",
                           "vigie_compliance_rule_status{rule=\"MAINT_004\",site=\"_fleet\"} 1\n",
                           "vigie_compliance_rule_status{rule=\"MAINT_054\",site=\"site-b\"} -1\n",
                           "vigie_compliance_last_evaluation_timestamp_seconds 1800000000\n",
                           "vigie_compliance_evaluation_errors_total 0\n"}) {
    EXPECT_NE(m.find(line), std::string::npos) << line << "\n" << m;
  }

  // site-b leaves the report (deprovisioned): its series disappear at the next periodic run.
  fake_.Set({{"PROV_001", "site-a", kComplianceStatusFail},
             {"MAINT_004", std::string(kComplianceFleetSiteLabel), kComplianceStatusPass}});
  const size_t before = fake_.queries().size();
  clock_.Advance(seconds(300));  // the timer queues a full evaluation on the worker
  // The worker runs jobs in order: once this one is done, the periodic one is too.
  ASSERT_TRUE(server_->RefreshComplianceNow());
  EXPECT_EQ(fake_.queries().size(), before + 2) << "the periodic evaluation did not run";
  m = Metrics();
  EXPECT_NE(m.find("vigie_compliance_rule_status{rule=\"PROV_001\",site=\"site-a\"} 0\n"),
            std::string::npos)
      << m;
  EXPECT_EQ(m.find("site=\"site-b\""), std::string::npos) << m;
  EXPECT_NE(m.find("vigie_compliance_last_evaluation_timestamp_seconds 1800000300\n"),
            std::string::npos)
      << m;

  // A filtered query answers the client but leaves the fleet-wide series alone.
  const std::string samples = ComplianceSamples();
  fake_.Set({{"PROV_001", "site-a", kComplianceStatusPass}});
  ASSERT_EQ(Get("/v1/compliance?site=site-a", token_).status, 200);
  EXPECT_EQ(ComplianceSamples(), samples);

  // Incomplete evidence is counted (the report itself is still served and exported).
  fake_.Set({{"PROV_001", "site-a", kComplianceStatusFail}}, "listing the secrets backend: down");
  ASSERT_EQ(Get("/v1/compliance", token_).status, 200);
  m = Metrics();
  EXPECT_NE(m.find("vigie_compliance_evaluation_errors_total 1\n"), std::string::npos) << m;
  EXPECT_EQ(ComplianceSamples().find("MAINT_004"), std::string::npos) << m;

  if (std::system("test -x /usr/bin/promtool || command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool not installed";
  }
  std::ofstream(dir_.File("metrics.txt")) << Get("/metrics", "").body;
  std::string cmd = "promtool check metrics < " + dir_.File("metrics.txt") + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[256];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  int rc = p ? pclose(p) : -1;
  EXPECT_EQ(rc, 0) << out;
}

TEST_F(ComplianceRouteTest, StopEndsThePeriodicEvaluation) {
  Start();
  ASSERT_TRUE(server_->RefreshComplianceNow());
  server_->Stop();
  const size_t before = fake_.queries().size();
  clock_.Advance(seconds(900));
  EXPECT_EQ(fake_.queries().size(), before);
  EXPECT_EQ(server_->RefreshComplianceNow().error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace vigie::fleet
