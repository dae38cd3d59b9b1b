// MAINT_003 with real peers: a provisioned site, `vigie server` (HTTPS, the self-signed
// certificate the packages pin), `vigie agent run`, and a real Prometheus (/usr/bin/prometheus)
// scraping both /metrics every second with the shipped alerting rules loaded
// (deploy/prometheus/rules.yml). Both targets must be "up" (the fleet over TLS verified against
// its certificate, by name), the scraped series must hold the expected values, the rules must
// evaluate without error, both bodies must pass `promtool check metrics` and vigie's own parser,
// and `vigie compliance check --rule MAINT_003` must PASS from the recorded self-checks.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "http/curl_client.h"
#include "http/metrics_parse.h"
#include "testing/process_util.h"
#include "testing/temp_dir.h"

namespace vigie {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace vt = vigie::testing;

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Runs a shell command, returns its output (stdout + stderr) and sets *rc to its exit status.
std::string Shell(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while (p && (n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = p ? ::pclose(p) : -1;
  *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// A child process in its own group, terminated (group) on destruction.
class Child {
 public:
  Child(const std::string& exe, std::vector<std::string> args, const std::string& log) {
    int err = vt::SpawnInGroup(exe, std::move(args), environ, log, &pid_);
    EXPECT_EQ(err, 0) << "cannot start " << exe;
  }
  ~Child() {
    if (pid_ > 0) vt::TerminateGroup(pid_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

 private:
  pid_t pid_ = -1;
};

bool WaitAccepts(uint16_t port, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (vt::Accepts(port)) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

class PrometheusScrapeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    prometheus_ = vt::FindOnPath("prometheus");
    promtool_ = vt::FindOnPath("promtool");
    if (prometheus_.empty() || promtool_.empty()) {
      GTEST_SKIP() << "prometheus / promtool not on PATH (Debian package prometheus)";
    }
  }

  // GET `url` with `client`; the body, or "" with a test failure.
  static std::string Get(http::CurlClient& client, const std::string& url) {
    http::HttpRequest req;
    req.url = url;
    req.timeout = 10s;
    auto r = client.Send(req);
    EXPECT_TRUE(r) << url << ": " << r.error().ToString();
    if (!r) return "";
    EXPECT_EQ(r->status, 200) << url << ": " << r->body;
    return r->body;
  }

  // Writes `body` to a file and runs `promtool check metrics` on it; "" when clean.
  std::string PromtoolLint(const std::string& body, const std::string& file) {
    std::ofstream(file) << body;
    int rc = 0;
    std::string out = Shell(promtool_ + " check metrics < " + file, &rc);
    if (rc != 0 || !out.empty()) return fmt::format("rc {}: {}", rc, out);
    return "";
  }

  std::string prometheus_, promtool_;
};

TEST_F(PrometheusScrapeTest, PrometheusScrapesFleetOverTlsAndAgentBothPromtoolClean) {
  vt::TempDir dir;
  const uint16_t server_port = vt::FreePort(), admin_port = vt::FreePort(),
                 prom_port = vt::FreePort();
  const std::string data = dir.File("data");
  const std::string config = dir.File("vigie.toml");
  std::ofstream(config) << fmt::format(
      "data_dir = \"{0}\"\n"
      "[server]\nlisten_address = \"127.0.0.1:{1}\"\npublic_url = \"https://127.0.0.1:{1}\"\n"
      "[agent]\nadmin_listen_address = \"127.0.0.1:{2}\"\nstate_dir = \"{0}/agent\"\n"
      "heartbeat_interval_seconds = 5\nheartbeat_jitter_percent = 0\n",
      data, server_port, admin_port);
  const std::string vigie = vt::VigieBinary();
  int rc = 0;
  std::string out = Shell(vigie + " agent keygen --out " + dir.File("site"), &rc);
  ASSERT_EQ(rc, 0) << out;
  out = Shell(fmt::format("{} site provision site-prom --region eu-west-3 --enrollment-key {} "
                          "--config {}",
                          vigie, dir.File("site/enrollment.pub"), config),
              &rc);
  ASSERT_EQ(rc, 0) << out;

  Child server(vigie, {"vigie", "server", "--config", config}, dir.File("server.log"));
  Child agent(vigie,
              {"vigie", "agent", "run", "--config", config, "--package",
               data + "/packages/site-prom.vpkg", "--enrollment-key",
               dir.File("site/enrollment.key"), "--fleet-key", data + "/fleet/signing.pub.pem"},
              dir.File("agent.log"));
  auto logs = [&] {
    return "\nserver log:\n" + Slurp(dir.File("server.log")) + "\nagent log:\n" +
           Slurp(dir.File("agent.log")) + "\nprometheus log:\n" + Slurp(dir.File("prometheus.log"));
  };
  ASSERT_TRUE(WaitAccepts(server_port, 20s)) << logs();
  ASSERT_TRUE(WaitAccepts(admin_port, 20s)) << logs();

  // The fleet manager's certificate (written by provisioning, pinned by the package): its only
  // name is "vigie-fleet", so Prometheus verifies it by that name.
  const std::string fleet_cert = data + "/fleet/tls.crt";
  ASSERT_FALSE(Slurp(fleet_cert).empty());
  const std::string prom_config = dir.File("prometheus.yml");
  std::ofstream(prom_config) << fmt::format(
      "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
      "rule_files:\n  - {0}/deploy/prometheus/rules.yml\n"
      "scrape_configs:\n"
      "  - job_name: vigie-fleet\n    scheme: https\n"
      "    tls_config:\n      ca_file: {1}\n      server_name: vigie-fleet\n"
      "    static_configs:\n      - targets: ['127.0.0.1:{2}']\n"
      "  - job_name: vigie-agent\n"
      "    static_configs:\n      - targets: ['127.0.0.1:{3}']\n        labels:\n"
      "          site: site-prom\n",
      vt::SourceDir(), fleet_cert, server_port, admin_port);
  int check_rc = 0;
  std::string check = Shell(promtool_ + " check config " + prom_config, &check_rc);
  ASSERT_EQ(check_rc, 0) << check;
  Child prometheus(
      prometheus_,
      {"prometheus", "--config.file=" + prom_config, "--storage.tsdb.path=" + dir.File("tsdb"),
       fmt::format("--web.listen-address=127.0.0.1:{}", prom_port), "--rules.alert.resend-delay=5s",
       "--log.level=warn"},
      dir.File("prometheus.log"));
  ASSERT_TRUE(WaitAccepts(prom_port, 20s)) << logs();
  const std::string api = fmt::format("http://127.0.0.1:{}/api/v1/", prom_port);
  http::CurlClient plain;
  // The API answers 503 until the TSDB is open: wait for /-/ready.
  bool ready = false;
  for (auto deadline = std::chrono::steady_clock::now() + 20s;
       !ready && std::chrono::steady_clock::now() < deadline;) {
    http::HttpRequest req;
    req.url = fmt::format("http://127.0.0.1:{}/-/ready", prom_port);
    auto r = plain.Send(req);
    ready = r && r->status == 200;
    if (!ready) std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(ready) << logs();

  // Both targets up within 30 s.
  json targets;
  bool both_up = false;
  for (auto deadline = std::chrono::steady_clock::now() + 30s;
       !both_up && std::chrono::steady_clock::now() < deadline;) {
    targets = json::parse(Get(plain, api + "targets?state=active"), nullptr, false);
    int up = 0;
    if (targets.is_object() && targets["data"]["activeTargets"].is_array()) {
      for (const auto& t : targets["data"]["activeTargets"]) {
        if (t["health"] == "up") ++up;
      }
    }
    both_up = up == 2;
    if (!both_up) std::this_thread::sleep_for(500ms);
  }
  ASSERT_TRUE(both_up) << targets.dump(2) << logs();
  for (const auto& t : targets["data"]["activeTargets"]) {
    EXPECT_EQ(t["lastError"], "") << t.dump();
    if (t["labels"]["job"] == "vigie-fleet")
      EXPECT_EQ(t["scrapeUrl"].get<std::string>().rfind("https://", 0), 0u);
  }

  // Instant queries: poll until the agent registered, heartbeated, and both were scraped.
  auto query = [&](const std::string& promql) -> json {
    std::string url = api + "query?query=" + promql;
    json j = json::parse(Get(plain, url), nullptr, false);
    if (!j.is_object() || j["status"] != "success") return json::array();
    return j["data"]["result"];
  };
  auto value = [](const json& result) {
    return std::stod(result[0]["value"][1].get<std::string>());
  };
  json heartbeat, registered, received;
  for (auto deadline = std::chrono::steady_clock::now() + 30s;
       std::chrono::steady_clock::now() < deadline;) {
    heartbeat = query("vigie_site_last_heartbeat_timestamp_seconds%7Bsite%3D%22site-prom%22%7D");
    registered = query("vigie_agent_registered%7Bjob%3D%22vigie-agent%22%7D");
    received = query("vigie_heartbeats_received_total%7Bjob%3D%22vigie-fleet%22%7D");
    if (heartbeat.size() == 1 && registered.size() == 1 && value(registered) == 1 &&
        received.size() == 1 && value(received) >= 2) {
      break;
    }
    std::this_thread::sleep_for(500ms);
  }
  ASSERT_EQ(heartbeat.size(), 1u) << heartbeat.dump() << logs();
  EXPECT_EQ(heartbeat[0]["metric"]["job"], "vigie-fleet");
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  // The last heartbeat (every 5 s) is recent: at most one interval plus a scrape old.
  EXPECT_LT(now - value(heartbeat), 15.0) << heartbeat.dump();
  EXPECT_GT(now - value(heartbeat), -2.0) << heartbeat.dump();
  ASSERT_EQ(registered.size(), 1u) << logs();
  EXPECT_EQ(value(registered), 1.0);
  EXPECT_EQ(registered[0]["metric"]["site"], "site-prom");
  ASSERT_EQ(received.size(), 1u);
  EXPECT_GE(value(received), 2.0);
  // The liveness gauge says "ok", and the shipped MAINT_002 rule does not fire for this site.
  json state = query("vigie_site_liveness_state%7Bsite%3D%22site-prom%22%2Cstate%3D%22ok%22%7D");
  ASSERT_EQ(state.size(), 1u) << state.dump();
  EXPECT_EQ(value(state), 1.0);
  EXPECT_TRUE(query("ALERTS%7Balertname%3D%22VigieSiteHeartbeatMissing%22%7D").empty());

  // The shipped rules loaded and evaluate without error against the real series, and none is
  // pending or firing. Their group runs every 15 s, and an evaluation that ran before the first
  // scrape sees no `up` series (absent() is then pending): poll until all are evaluated, healthy
  // and inactive; a rule that really fires keeps the loop from succeeding.
  json rules;
  int rule_count = 0, settled = 0;
  for (auto deadline = std::chrono::steady_clock::now() + 45s;
       std::chrono::steady_clock::now() < deadline;) {
    rules = json::parse(Get(plain, api + "rules"), nullptr, false);
    rule_count = settled = 0;
    if (rules.is_object()) {
      for (const auto& g : rules["data"]["groups"]) {
        for (const auto& r : g["rules"]) {
          ++rule_count;
          if (r["health"] == "ok" && r["state"] == "inactive") ++settled;
        }
      }
    }
    if (rule_count > 0 && settled == rule_count) break;
    std::this_thread::sleep_for(500ms);
  }
  EXPECT_GE(rule_count, 4) << rules.dump() << logs();
  EXPECT_EQ(settled, rule_count) << rules.dump(2);

  // Both bodies: promtool-clean and accepted by vigie's own parser.
  http::CurlClientOptions tls;
  tls.ca_file = fleet_cert;
  tls.connect_to = {fmt::format("vigie-fleet:{0}:127.0.0.1:{0}", server_port)};
  http::CurlClient fleet_client(std::move(tls));
  const std::string fleet_body =
      Get(fleet_client, fmt::format("https://vigie-fleet:{}/metrics", server_port));
  const std::string agent_body = Get(plain, fmt::format("http://127.0.0.1:{}/metrics", admin_port));
  EXPECT_EQ(PromtoolLint(fleet_body, dir.File("fleet.prom")), "") << fleet_body;
  EXPECT_EQ(PromtoolLint(agent_body, dir.File("agent.prom")), "") << agent_body;
  http::MetricsSelfCheck fleet_check = http::SelfCheckMetricsText(fleet_body);
  http::MetricsSelfCheck agent_check = http::SelfCheckMetricsText(agent_body);
  EXPECT_TRUE(fleet_check.ok) << fleet_check.error;
  EXPECT_TRUE(agent_check.ok) << agent_check.error;
  EXPECT_GE(fleet_check.families, 8u);
  EXPECT_GE(agent_check.families, 8u);
  // promtool agrees that a broken body is broken (the lint step can fail).
  EXPECT_NE(PromtoolLint("# TYPE c counter\nc 1\n", dir.File("bad.prom")), "");

  // MAINT_003 from the recorded evidence: the server's self-check and the agent's report.
  std::string maint003 = Shell(
      fmt::format("{} compliance check --config {} --rule MAINT_003 --format json", vigie, config),
      &rc);
  json report = json::parse(maint003, nullptr, false);
  ASSERT_TRUE(report.is_object()) << maint003;
  const json& result = report["rules"][0]["results"][0];
  EXPECT_EQ(result["status"], "PASS") << result.dump(2) << logs();
}

}  // namespace
}  // namespace vigie
