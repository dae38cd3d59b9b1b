// End to end with the real binaries: a site is provisioned, `vigie server` runs, `vigie agent
// run` starts with the site's package and registers by itself over TLS pinned from the package
// (no operator step: PROV_021), then heartbeats; the compliance check sees it. Then the licence
// is refused until a passing healthcheck (PROV_022) and a silent agent raises the critical
// MAINT_002 alert, resolved when it returns (time compressed through the configuration:
// heartbeat_alert_after_seconds = 10 instead of 120).

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "http/curl_client.h"
#include "testing/process_util.h"
#include "testing/temp_dir.h"

namespace vigie {
namespace {

// A child process running `vigie ARGS`, killed (SIGTERM) on destruction.
class Daemon {
 public:
  Daemon(const std::vector<std::string>& args, const std::string& log) {
    pid_ = ::fork();
    if (pid_ == 0) {
      FILE* f = std::freopen(log.c_str(), "w", stdout);
      (void)f;
      ::dup2(STDOUT_FILENO, STDERR_FILENO);
      std::vector<char*> argv;
      std::string bin = vigie::testing::VigieBinary();
      argv.push_back(bin.data());
      std::vector<std::string> copy = args;
      for (auto& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(bin.c_str(), argv.data());
      ::_exit(127);
    }
  }
  ~Daemon() { Stop(); }
  void Stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
};

std::string RunShell(const std::string& cmd, int* exit_code) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::string RunVigie(const std::string& args, int* exit_code) {
  return RunShell(vigie::testing::VigieBinary() + " " + args + " 2>&1", exit_code);
}

std::string RuleField(const std::string& config, const std::string& rule,
                      const std::string& field) {
  int rc = 0;
  std::string out = RunVigie(
      fmt::format("compliance check --config {} --rule {} --format json", config, rule), &rc);
  try {
    auto j = nlohmann::json::parse(out);
    return j["rules"][0]["results"][0][field].get<std::string>();
  } catch (const std::exception&) {
    return "unparseable: " + out;
  }
}

std::string RuleSummary(const std::string& config, const std::string& rule) {
  return RuleField(config, rule, "summary");
}

std::string RuleStatus(const std::string& config, const std::string& rule) {
  return RuleField(config, rule, "status");
}

TEST(FleetEndToEndTest, AgentRegistersByItselfOverPinnedTlsThenHeartbeats) {
  vigie::testing::TempDir dir;
  int server_port = vigie::testing::FreePort(), admin_port = vigie::testing::FreePort();
  std::string data = dir.File("data");
  std::string config = dir.File("vigie.toml");
  std::ofstream(config) << fmt::format(
      "data_dir = \"{0}\"\n"
      "[server]\nlisten_address = \"127.0.0.1:{1}\"\npublic_url = \"https://127.0.0.1:{1}\"\n"
      "[agent]\nadmin_listen_address = \"127.0.0.1:{2}\"\nstate_dir = \"{0}/agent\"\n"
      "heartbeat_interval_seconds = 5\nheartbeat_jitter_percent = 0\n",
      data, server_port, admin_port);
  int rc = 0;
  std::string out = RunVigie("agent keygen --out " + dir.File("site"), &rc);
  ASSERT_EQ(rc, 0) << out;
  out = RunVigie(fmt::format("site provision site-e2e --region eu-west-3 --enrollment-key {} "
                        "--config {}",
                        dir.File("site/enrollment.pub"), config),
            &rc);
  ASSERT_EQ(rc, 0) << out;
  // Not registered yet: PROV_021 passes only inside the registration grace period, and the
  // summary says so (checked below once registered).
  EXPECT_EQ(RuleSummary(config, "PROV_021").find("registered at"), std::string::npos);

  Daemon server({"server", "--config", config}, dir.File("server.log"));
  Daemon agent({"agent", "run", "--config", config, "--package", data + "/packages/site-e2e.vpkg",
                "--enrollment-key", dir.File("site/enrollment.key"), "--fleet-key",
                data + "/fleet/signing.pub.pem"},
               dir.File("agent.log"));

  // The agent registers and heartbeats (every 5 s here) with no operator step.
  std::string prov021, maint001;
  for (int i = 0; i < 60; ++i) {
    prov021 = RuleStatus(config, "PROV_021");
    maint001 = RuleStatus(config, "MAINT_001");
    if (prov021 == "PASS" && maint001 == "PASS") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  auto slurp = [](const std::string& p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  EXPECT_EQ(prov021, "PASS") << "server log:\n"
                             << slurp(dir.File("server.log")) << "\nagent log:\n"
                             << slurp(dir.File("agent.log"));
  EXPECT_EQ(maint001, "PASS");
  EXPECT_NE(RuleSummary(config, "PROV_021").find("registered at"), std::string::npos);
}

// Polls `pred` every 250 ms for up to `seconds`.
template <typename Pred>
bool Eventually(Pred pred, int seconds) {
  for (int i = 0; i < seconds * 4; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return pred();
}

TEST(FleetEndToEndTest, LicenceNeedsPassingHealthcheckAndSilenceRaisesThenResolvesAlert) {
  vigie::testing::TempDir dir;
  int server_port = vigie::testing::FreePort(), admin_port = vigie::testing::FreePort();
  int closed_port = vigie::testing::FreePort();  // nothing listens: "Vault" unreachable
  std::string data = dir.File("data");
  auto write_config = [&](const std::string& path, bool with_unreachable_vault) {
    std::ofstream(path) << fmt::format(
        "data_dir = \"{0}\"\n"
        "[server]\nlisten_address = \"127.0.0.1:{1}\"\npublic_url = \"https://127.0.0.1:{1}\"\n"
        "[agent]\nadmin_listen_address = \"127.0.0.1:{2}\"\nstate_dir = \"{0}/agent\"\n"
        "heartbeat_interval_seconds = 5\nheartbeat_jitter_percent = 0\n"
        "[fleet]\nheartbeat_alert_after_seconds = 10\nheartbeat_late_after_seconds = 7\n{3}",
        data, server_port, admin_port,
        with_unreachable_vault
            ? fmt::format("[vault]\naddress = \"http://127.0.0.1:{}\"\n", closed_port)
            : "");
  };
  std::string config = dir.File("vigie.toml"), config_vault = dir.File("vigie-vault.toml");
  write_config(config, false);
  write_config(config_vault, true);
  int rc = 0;
  std::string out = RunVigie("agent keygen --out " + dir.File("site"), &rc);
  ASSERT_EQ(rc, 0) << out;
  out = RunVigie(fmt::format("site provision site-lic --region eu-west-3 --enrollment-key {} "
                             "--config {}",
                             dir.File("site/enrollment.pub"), config),
                 &rc);
  ASSERT_EQ(rc, 0) << out;

  Daemon server({"server", "--config", config}, dir.File("server.log"));
  ASSERT_TRUE(Eventually([&] { return vigie::testing::Accepts(server_port); }, 30));
  std::string token;
  ASSERT_TRUE(Eventually(
      [&] {
        std::ifstream f(data + "/fleet/operator.token");
        std::getline(f, token);
        return !token.empty();
      },
      10));
  // The fleet's self-signed certificate is pinned by its public key, as agents do (the pin
  // computed with the openssl tool, independently of vigie's code).
  http::CurlClientOptions tls;
  int pin_rc = 0;
  std::string pin = RunShell(
      "openssl x509 -in " + data + "/fleet/tls.crt -pubkey -noout | openssl pkey -pubin -outform "
      "der | openssl dgst -sha256 -binary | base64 -w0",
      &pin_rc);
  ASSERT_EQ(pin_rc, 0) << pin;
  tls.pinned_public_key = "sha256//" + pin;
  http::CurlClient client(std::move(tls));
  auto call = [&](const std::string& method, const std::string& path) {
    http::HttpRequest req;
    req.method = method;
    req.url = fmt::format("https://127.0.0.1:{}{}", server_port, path);
    req.headers = {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}};
    if (method == "POST") req.body = "{}";
    auto r = client.Send(req);
    return r ? *r : http::HttpResponse{0, {}, r.error().message};
  };
  auto activate = [&] { return call("POST", "/v1/sites/site-lic/license/activate"); };
  auto site_json = [&] {
    auto r = call("GET", "/v1/sites/site-lic");
    return r.status == 200 ? nlohmann::json::parse(r.body, nullptr, false) : nlohmann::json();
  };
  auto slurp = [](const std::string& p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };

  // Not registered yet: refused, naming the rule.
  auto r = activate();
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_NE(r.body.find("PROV_022"), std::string::npos) << r.body;

  // Registered and heartbeating, but its healthcheck fails (Vault configured, unreachable).
  auto agent = std::make_unique<Daemon>(
      std::vector<std::string>{"agent", "run", "--config", config_vault, "--package",
                               data + "/packages/site-lic.vpkg", "--enrollment-key",
                               dir.File("site/enrollment.key"), "--fleet-key",
                               data + "/fleet/signing.pub.pem"},
      dir.File("agent-vault.log"));
  ASSERT_TRUE(Eventually([&] { return site_json().contains("last_report"); }, 30))
      << slurp(dir.File("server.log")) << slurp(dir.File("agent-vault.log"));
  nlohmann::json site = site_json();
  EXPECT_TRUE(site["last_pass_at"].is_null()) << site.dump();
  r = activate();
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_NE(r.body.find("PROV_022"), std::string::npos) << r.body;
  agent->Stop();

  // The same site without the unreachable Vault: its next healthcheck passes, the licence follows.
  std::vector<std::string> agent_args = {"agent", "run", "--config", config, "--package",
                                         data + "/packages/site-lic.vpkg", "--enrollment-key",
                                         dir.File("site/enrollment.key"), "--fleet-key",
                                         data + "/fleet/signing.pub.pem"};
  agent = std::make_unique<Daemon>(agent_args, dir.File("agent.log"));
  ASSERT_TRUE(Eventually([&] { return !site_json()["last_pass_at"].is_null(); }, 30))
      << slurp(dir.File("agent.log"));
  r = activate();
  EXPECT_EQ(r.status / 100, 2) << r.body;
  EXPECT_EQ(site_json()["licensed"], true) << site_json().dump();

  // The agent stops: after 10 s of silence (the compressed 120 s) a critical MAINT_002 alert.
  auto maint002 = [&](const std::string& state) {
    nlohmann::json s = site_json();
    if (!s.contains("alerts")) return false;
    for (const auto& a : s["alerts"]) {
      if (a.value("rule", "") == "MAINT_002" && a.value("severity", "") == "critical" &&
          a.value("state", "") == state) {
        return true;
      }
    }
    return false;
  };
  auto stopped_at = std::chrono::steady_clock::now();
  agent->Stop();
  EXPECT_FALSE(maint002("firing"));  // not before the silence lasts 10 s
  ASSERT_TRUE(Eventually([&] { return maint002("firing"); }, 40)) << site_json().dump();
  EXPECT_GE(std::chrono::steady_clock::now() - stopped_at, std::chrono::seconds(5));
  EXPECT_EQ(site_json().value("state", ""), "down") << site_json().dump();

  // It comes back: the alert resolves.
  agent = std::make_unique<Daemon>(agent_args, dir.File("agent2.log"));
  EXPECT_TRUE(Eventually([&] { return maint002("resolved"); }, 30))
      << site_json().dump() << slurp(dir.File("agent2.log"));
}

}  // namespace
}  // namespace vigie
