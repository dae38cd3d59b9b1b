#include "agent/agent.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "config/config.h"
#include "fleet/health_report.h"
#include "fleet/site_auth.h"
#include "http/curl_client.h"
#include "package/enrollment_key.h"
#include "package/package.h"
#include "package/package_test_util.h"
#include "testing/temp_dir.h"

namespace vigie::agent {
namespace {

using namespace std::chrono_literals;

struct Call {
  std::string path;  // URL path
  nlohmann::json body;
  http::Headers headers;
  MonoTime at;
};

// A fleet manager double: answers register/heartbeat with scripted statuses and records calls.
class ScriptedFleet final : public http::HttpClient {
 public:
  explicit ScriptedFleet(Clock* clock) : clock_(clock) {}
  Result<http::HttpResponse> Send(const http::HttpRequest& request) override {
    std::lock_guard<std::mutex> lock(mu_);
    Call c;
    c.path = request.url.substr(request.url.find('/', request.url.find("://") + 3));
    c.body = nlohmann::json::parse(request.body, nullptr, false);
    c.headers = request.headers;
    c.at = clock_->Monotonic();
    calls_.push_back(c);
    bool is_register = c.path.ends_with("/register");
    int status = is_register ? 201 : 200;
    auto& script = is_register ? register_script_ : heartbeat_script_;
    if (!script.empty()) {
      status = script.front();
      script.erase(script.begin());
    }
    if (status == 0) return MakeError(ErrorCode::kUnavailable, "connection refused (scripted)");
    http::HttpResponse r;
    r.status = status;
    r.body = status < 300 ? "{}" : R"({"error":{"code":"unavailable","message":"scripted"}})";
    return r;
  }
  std::vector<Call> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  std::vector<Call> heartbeats() {
    std::vector<Call> out;
    for (auto& c : calls()) {
      if (c.path.ends_with("/heartbeat")) out.push_back(c);
    }
    return out;
  }
  // Statuses for the next calls (0 = transport error); afterwards 201/200.
  void ScriptRegister(std::vector<int> s) { register_script_ = std::move(s); }
  void ScriptHeartbeat(std::vector<int> s) { heartbeat_script_ = std::move(s); }

 private:
  Clock* clock_;
  std::mutex mu_;
  std::vector<Call> calls_;
  std::vector<int> register_script_, heartbeat_script_;
};

std::string HeaderOf(const http::Headers& h, std::string_view name) {
  for (auto& [k, v] : h) {
    if (http::HeaderNameEquals(k, name)) return v;
  }
  return "";
}

class AgentTest : public ::testing::Test {
 protected:
  AgentTest() : fleet_(&f_.clock) {
    secrets_ = f_.NewSecrets();
    initial_password_ = std::string(secrets_.Find(package::kAdminPassword)->value.view());
    agent_secret_ = secrets_.Find(package::kAgentApiSecret)->value.Clone();
    Bytes pkg = f_.Build(secrets_);
    package_path_ = dir_.File("acme-paris.vpkg");
    EXPECT_TRUE(RealFileSystem()->WriteFileAtomic(package_path_, AsString(pkg), 0644));
    key_path_ = dir_.File("enrollment.key");
    SecretBytes pem = package::EnrollmentPrivateKeyToPem(f_.site_key.secret_key);
    EXPECT_TRUE(RealFileSystem()->WriteFileAtomic(key_path_, pem.view(), 0600));
    files_ = {{"/proc/meminfo", "MemTotal: 1000 kB\nMemAvailable: 250 kB\n"},
              {"/proc/stat", "cpu  10 0 10 80 0 0 0 0\n"},
              {"/proc/loadavg", "0.5 0.4 0.3 1/100 42\n"}};
  }
  ~AgentTest() override { sodium_memzero(initial_password_.data(), initial_password_.size()); }

  AgentOptions Options() {
    AgentOptions o;
    o.package_file = package_path_;
    o.enrollment_key_file = key_path_;
    o.fleet_public_key = f_.fleet_key.public_key();
    o.state_dir = dir_.File("state");
    o.heartbeat_interval = 60s;
    o.jitter_percent = 10;
    o.admin_listen_address = "127.0.0.1:0";
    o.disk_paths = {"/"};
    o.version = "9.9.9-test";
    o.fleet_client = &fleet_;
    o.proc_reader = [this](const std::string& path) -> Result<std::string> {
      auto it = files_.find(path);
      if (it == files_.end()) return MakeError(ErrorCode::kNotFound, path);
      return it->second;
    };
    o.disk_statter = [](const std::string& path) -> Result<DiskUsage> {
      return DiskUsage{path, 33.0, 100, 67};
    };
    o.pwhash_opslimit = crypto_pwhash_OPSLIMIT_MIN;
    o.pwhash_memlimit = crypto_pwhash_MEMLIMIT_MIN;
    return o;
  }

  std::unique_ptr<Agent> StartAgent(AgentOptions o) {
    auto agent = Agent::Start(std::move(o), f_.env);
    EXPECT_TRUE(agent) << agent.error().ToString();
    return agent ? std::move(*agent) : nullptr;
  }

  // Advances the fake clock one second at a time (each due timer fires on this thread).
  void RunFor(Duration d) {
    for (Duration t{0}; t < d; t += 1s) f_.clock.Advance(1s);
  }

  void ExpectSigned(const Call& c) {
    std::string sig = fleet::ComputeSiteSignature(
        agent_secret_, "POST", c.path, HeaderOf(c.headers, "X-Vigie-Site"),
        HeaderOf(c.headers, "X-Vigie-Timestamp"), HeaderOf(c.headers, "X-Vigie-Nonce"),
        c.body.dump());
    EXPECT_EQ(HeaderOf(c.headers, "X-Vigie-Site"), "acme-paris");
    EXPECT_EQ(HeaderOf(c.headers, "X-Vigie-Signature"), sig) << c.path;
  }

  package::testing::Fixture f_;
  testing::TempDir dir_;
  package::SiteSecrets secrets_;
  std::string initial_password_;
  SecretBytes agent_secret_;
  std::string package_path_, key_path_;
  std::map<std::string, std::string> files_;
  ScriptedFleet fleet_;
};

TEST_F(AgentTest, RegistersFirstThenHeartbeatsAtMostEverySixtySeconds) {
  auto agent = StartAgent(Options());
  ASSERT_TRUE(agent);
  f_.clock.Advance(0s);
  auto calls = fleet_.calls();
  ASSERT_GE(calls.size(), 2u);
  EXPECT_EQ(calls[0].path, "/v1/sites/acme-paris/register");
  EXPECT_EQ(calls[0].body["package_id"], f_.manifest.package_id);
  EXPECT_EQ(calls[0].body["enrollment_key_fingerprint"],
            package::EnrollmentKeyFingerprint(f_.site_key.public_key));
  EXPECT_EQ(calls[0].body["agent_version"], "9.9.9-test");
  ExpectSigned(calls[0]);
  EXPECT_EQ(calls[1].path, "/v1/sites/acme-paris/heartbeat");
  ExpectSigned(calls[1]);
  auto& health = calls[1].body;
  EXPECT_DOUBLE_EQ(health["memory"]["used_percent"].get<double>(), 75.0);
  EXPECT_DOUBLE_EQ(health["disk"]["paths"][0]["used_percent"].get<double>(), 33.0);
  EXPECT_TRUE(health["vault"].is_null());
  EXPECT_EQ(health["passed"], true) << health.dump();
  EXPECT_EQ(health["agent_version"], "9.9.9-test");
  auto parsed = fleet::ParseHealthReport(health.dump());  // what the fleet manager runs
  ASSERT_TRUE(parsed) << parsed.error().ToString();
  EXPECT_TRUE(parsed->passed);
  // MAINT_003: the agent's self-check of its own /metrics rides along, and the fleet reads it.
  ASSERT_TRUE(parsed->metrics) << health.dump();
  EXPECT_TRUE(parsed->metrics->ok) << parsed->metrics->error;
  EXPECT_GE(parsed->metrics->families, 9);
  EXPECT_GT(parsed->metrics->samples, 9);
  EXPECT_EQ(health["metrics"]["error"], "");
  EXPECT_TRUE(calls[1].body["admin_password_changed_at"].is_null());
  EXPECT_EQ(calls[1].body["admin_password_must_change"], true);

  RunFor(30min);
  auto beats = fleet_.heartbeats();
  ASSERT_GE(beats.size(), 30u);
  std::set<int64_t> gaps;
  for (size_t i = 1; i < beats.size(); ++i) {
    auto gap = std::chrono::duration_cast<std::chrono::seconds>(beats[i].at - beats[i - 1].at);
    EXPECT_LE(gap, 60s) << "MAINT_001: heartbeat " << i;
    EXPECT_GE(gap, 54s) << "jitter is at most 10% of the interval";
    gaps.insert(gap.count());
  }
  EXPECT_GT(gaps.size(), 1u) << "jitter spreads the heartbeats";
  EXPECT_EQ(fleet_.calls().size(), beats.size() + 1) << "registered exactly once";
  EXPECT_TRUE(agent->status().registered);
}

// Vault's seal-status double: answers GET /v1/sys/seal-status with `sealed`.
class FakeVault final : public http::HttpClient {
 public:
  Result<http::HttpResponse> Send(const http::HttpRequest& request) override {
    last_url = request.url;
    if (down) return MakeError(ErrorCode::kUnavailable, "vault down (scripted)");
    http::HttpResponse r;
    r.status = 200;
    r.body =
        nlohmann::json{{"type", "awskms"}, {"initialized", true}, {"sealed", sealed.load()}}.dump();
    return r;
  }
  std::atomic<bool> sealed{false};
  std::atomic<bool> down{false};
  std::string last_url;
};

TEST_F(AgentTest, HeartbeatCarriesTheVaultSealStatus) {
  FakeVault vault;
  AgentOptions o = Options();
  o.vault_address = "https://vault.site.internal:8200/";
  o.vault_client = &vault;
  auto agent = StartAgent(std::move(o));
  ASSERT_TRUE(agent);
  f_.clock.Advance(0s);
  EXPECT_EQ(vault.last_url, "https://vault.site.internal:8200/v1/sys/seal-status");
  auto beat = fleet_.heartbeats().back().body;
  EXPECT_EQ(beat["vault"]["sealed"], false);
  EXPECT_EQ(beat["vault"]["type"], "awskms");
  EXPECT_EQ(beat["passed"], true);

  vault.sealed = true;
  RunFor(60s);
  beat = fleet_.heartbeats().back().body;
  EXPECT_EQ(beat["vault"]["sealed"], true);
  EXPECT_EQ(beat["passed"], false);
  auto parsed = fleet::ParseHealthReport(beat.dump());
  ASSERT_TRUE(parsed);
  EXPECT_FALSE(parsed->passed);

  vault.sealed = false;
  vault.down = true;  // configured but unreachable: fails closed
  RunFor(60s);
  beat = fleet_.heartbeats().back().body;
  EXPECT_EQ(beat["vault"]["ok"], false);
  EXPECT_EQ(beat["passed"], false);
}

TEST_F(AgentTest, BacksOffOnErrorsRecoversAndNeverGivesUp) {
  AgentOptions o = Options();
  o.jitter_percent = 0;  // exact delays
  fleet_.ScriptRegister({503, 0, 201});
  auto agent = StartAgent(std::move(o));
  ASSERT_TRUE(agent);
  f_.clock.Advance(0s);
  EXPECT_EQ(agent->status().register_attempts, 1u);
  EXPECT_EQ(agent->status().next_delay, 1s);
  f_.clock.Advance(1s);  // second attempt: transport error
  EXPECT_EQ(agent->status().next_delay, 2s);
  EXPECT_TRUE(fleet_.heartbeats().empty()) << "no heartbeat before registration";
  f_.clock.Advance(2s);  // third attempt: accepted, then the first heartbeat at once
  EXPECT_TRUE(agent->status().registered);
  ASSERT_EQ(fleet_.heartbeats().size(), 1u);

  // Ten failures in a row: 1, 2, 4, 8, 16, 32, then capped at 60 s.
  fleet_.ScriptHeartbeat({503, 503, 503, 503, 503, 503, 503, 503, 503, 503});
  size_t before = fleet_.heartbeats().size();
  RunFor(60s);  // the next regular heartbeat fails
  std::vector<Duration> delays;
  for (int i = 0; i < 10; ++i) {
    delays.push_back(agent->status().next_delay);
    RunFor(std::chrono::duration_cast<std::chrono::seconds>(agent->status().next_delay));
  }
  EXPECT_EQ(delays[0], 1s);
  EXPECT_EQ(delays[1], 2s);
  EXPECT_EQ(delays[5], 32s);
  EXPECT_EQ(delays[6], 60s);
  EXPECT_EQ(delays[8], 60s);
  EXPECT_EQ(fleet_.heartbeats().size(), before + 11);
  EXPECT_EQ(agent->status().consecutive_failures, 0u) << "recovered after the 10 failures";
  EXPECT_EQ(agent->status().heartbeat_failures, 10u);
  EXPECT_EQ(agent->status().next_delay, 60s);

  // A long outage: the agent keeps trying at least once a minute.
  std::vector<int> outage(200, 0);
  fleet_.ScriptHeartbeat(outage);
  size_t at_start = fleet_.heartbeats().size();
  RunFor(2h);
  EXPECT_GE(fleet_.heartbeats().size() - at_start, 115u);
  EXPECT_GT(agent->status().consecutive_failures, 100u);
  EXPECT_NE(agent->status().last_error.find("connection refused"), std::string::npos);
}

TEST_F(AgentTest, TamperedPackageIsRefusedAtStart) {
  Bytes pkg = package::testing::ReadAll(package_path_);
  pkg[pkg.size() - 5] ^= 0x01;  // inside the sealed payload
  ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(package_path_, AsString(pkg), 0644));
  auto agent = Agent::Start(Options(), f_.env);
  ASSERT_FALSE(agent);
  EXPECT_EQ(package::PackageErrorOf(agent.error()), package::PackageError::kTamperedPayload)
      << agent.error().ToString();
  EXPECT_NE(agent.error().message.find(package_path_), std::string::npos);
  EXPECT_NE(ExitCodeFor(agent.error().code), 0);
  EXPECT_TRUE(fleet_.calls().empty());
}

TEST_F(AgentTest, PackageFromAnotherFleetIsRefused) {
  AgentOptions o = Options();
  o.fleet_public_key = f_.other_fleet_key.public_key();
  auto agent = Agent::Start(std::move(o), f_.env);
  ASSERT_FALSE(agent);
  EXPECT_EQ(package::PackageErrorOf(agent.error()), package::PackageError::kBadSignature);
}

// Without an operator-given fleet key the first package's key is pinned (trust on first use);
// a later package signed by another fleet key is then refused.
TEST_F(AgentTest, FleetKeyIsPinnedOnFirstUse) {
  AgentOptions o = Options();
  o.fleet_public_key.reset();
  auto agent = StartAgent(o);
  ASSERT_TRUE(agent);
  agent->Stop();
  agent.reset();
  auto forged =
      package::BuildPackage(f_.manifest, secrets_, f_.site_key.public_key, f_.other_fleet_key);
  ASSERT_TRUE(forged) << forged.error().ToString();
  ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(package_path_, AsString(*forged), 0644));
  auto refused = Agent::Start(o, f_.env);
  ASSERT_FALSE(refused);
  EXPECT_EQ(package::PackageErrorOf(refused.error()), package::PackageError::kBadSignature)
      << refused.error().ToString();
}

TEST_F(AgentTest, IntervalAboveSixtySecondsIsRefused) {
  AgentOptions o = Options();
  o.heartbeat_interval = 61s;
  auto agent = Agent::Start(std::move(o), f_.env);
  ASSERT_FALSE(agent);
  EXPECT_NE(agent.error().message.find("MAINT_001"), std::string::npos);
}

TEST_F(AgentTest, PasswordChangeIsReportedAndStateSurvivesRestart) {
  auto agent = StartAgent(Options());
  ASSERT_TRUE(agent);
  f_.clock.Advance(0s);
  http::CurlClient client;
  std::string base = "http://127.0.0.1:" + std::to_string(agent->admin_port());
  auto post = [&](std::string path, nlohmann::json body, std::string auth = "") {
    http::HttpRequest req{.method = "POST", .url = base + path, .body = body.dump()};
    if (!auth.empty()) req.headers.emplace_back("Authorization", auth);
    auto r = client.Send(req);
    EXPECT_TRUE(r);
    return r ? *r : http::HttpResponse{};
  };
  auto login = post("/v1/admin/login", {{"user", "admin"}, {"password", initial_password_}});
  ASSERT_EQ(login.status, 200) << login.body;
  std::string auth = "Bearer " + nlohmann::json::parse(login.body)["token"].get<std::string>();
  auto status = client.Send(
      {.method = "GET", .url = base + "/v1/admin/status", .headers = {{"Authorization", auth}}});
  ASSERT_TRUE(status);
  EXPECT_EQ(status->status, 403);
  EXPECT_NE(status->body.find("PROV_005"), std::string::npos);
  f_.clock.Advance(10s);
  auto changed = post("/v1/admin/password",
                      {{"old", initial_password_}, {"new", "Brand-New-Passw0rd!"}}, auth);
  ASSERT_EQ(changed.status, 200) << changed.body;
  std::string changed_at = FormatRfc3339(f_.clock.Now());

  RunFor(60s);
  auto beats = fleet_.heartbeats();
  ASSERT_GE(beats.size(), 2u);
  EXPECT_EQ(beats.back().body["admin_password_changed_at"], changed_at);
  EXPECT_EQ(beats.back().body["admin_password_must_change"], false);

  // /metrics carries the host metrics.
  auto metrics = client.Send({.url = base + "/metrics"});
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("vigie_agent_memory_used_percent 75"), std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("vigie_agent_disk_used_percent{path=\"/\"} 33"), std::string::npos);
  EXPECT_NE(metrics->body.find("vigie_agent_admin_password_must_change 0"), std::string::npos);
  EXPECT_NE(
      metrics->body.find("vigie_agent_fleet_exchanges_total{kind=\"register\",result=\"ok\"} 1"),
      std::string::npos);

  // Restart: no second registration, the changed password and its time are kept, and the
  // package's initial password no longer logs in.
  agent->Stop();
  agent.reset();
  size_t calls_before = fleet_.calls().size();
  auto again = StartAgent(Options());
  ASSERT_TRUE(again);
  f_.clock.Advance(0s);
  auto calls = fleet_.calls();
  ASSERT_EQ(calls.size(), calls_before + 1);
  EXPECT_EQ(calls.back().path, "/v1/sites/acme-paris/heartbeat");
  EXPECT_EQ(calls.back().body["admin_password_changed_at"], changed_at);
  EXPECT_FALSE(again->status().admin_password_must_change);
  base = "http://127.0.0.1:" + std::to_string(again->admin_port());
  EXPECT_EQ(post("/v1/admin/login", {{"user", "admin"}, {"password", initial_password_}}).status,
            401);
  // The agent API secret is never written to the state directory.
  for (const auto& name : {"agent_state.json", "admin_account.json"}) {
    std::string text = *RealFileSystem()->ReadFile(dir_.File("state") + "/" + name);
    EXPECT_EQ(text.find(agent_secret_.view()), std::string::npos) << name;
    EXPECT_EQ(text.find(HexEncode(agent_secret_.span())), std::string::npos) << name;
  }
}

TEST_F(AgentTest, StateOfAnotherSiteIsRefused) {
  ASSERT_TRUE(RealFileSystem()->CreateDirs(dir_.File("state")));
  ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(dir_.File("state") + "/agent_state.json",
                                                R"({"site_id":"other-site","registered":true})"));
  auto agent = Agent::Start(Options(), f_.env);
  ASSERT_FALSE(agent);
  EXPECT_EQ(agent.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(agent.error().message.find("other-site"), std::string::npos);
}

// The daemon entry point: sd_notify READY=1 once started, clean stop (exit 0) on SIGTERM.
// NOTIFY_SOCKET points at a datagram socket of the test, as systemd does for Type=notify.
TEST_F(AgentTest, RunAgentNotifiesReadyAndStopsCleanlyOnSigterm) {
  // A fleet that refuses connections at once: the daemon keeps retrying in the background.
  f_.manifest.fleet_url = "https://127.0.0.1:1";
  // RunAgent runs on the real clock: a package valid now.
  f_.manifest.created_at = FromUnixSeconds(ToUnixSeconds(std::chrono::system_clock::now()) - 3600);
  f_.manifest.expires_at = f_.manifest.created_at + std::chrono::hours(24 * 7);
  Bytes pkg = f_.Build(secrets_);
  ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(package_path_, AsString(pkg), 0644));
  std::string fleet_pub = dir_.File("fleet.pub");
  ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(
      fleet_pub, crypto::Ed25519PublicKeyToPem(f_.fleet_key.public_key()), 0644));

  int sock = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(sock, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string sock_path = dir_.File("notify.sock");
  ASSERT_LT(sock_path.size(), sizeof(addr.sun_path));
  std::strncpy(addr.sun_path, sock_path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval tv{1, 0};
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setenv("NOTIFY_SOCKET", sock_path.c_str(), 1);

  config::Config config = config::DefaultConfig(dir_.File("data"));
  config.agent.state_dir = dir_.File("state");
  config.agent.package_file = package_path_;
  config.agent.admin_listen_address = "127.0.0.1:0";
  RunAgentArgs args{.enrollment_key_file = key_path_, .fleet_public_key_file = fleet_pub};
  std::atomic<int> rc{-1};
  std::atomic<bool> returned{false};
  std::thread daemon([&] {
    rc = RunAgent(config, args);
    returned = true;
  });
  // Waits up to 30 s for one notification, giving up early if RunAgent returned.
  auto receive = [&] {
    char buf[512];
    for (int i = 0; i < 30; ++i) {
      ssize_t n = ::recv(sock, buf, sizeof(buf), 0);
      if (n > 0) return std::string(buf, static_cast<size_t>(n));
      if (returned) break;
    }
    return std::string();
  };
  std::string ready = receive();
  if (ready.find("READY=1") == std::string::npos) {
    ::unsetenv("NOTIFY_SOCKET");
    daemon.join();  // the agent failed to start and returned
    ::close(sock);
    FAIL() << "no READY=1 (got \"" << ready << "\"), RunAgent returned " << rc.load();
  }
  EXPECT_TRUE(RealFileSystem()->Exists(dir_.File("state") + "/agent_state.json"));
  ASSERT_EQ(::pthread_kill(daemon.native_handle(), SIGTERM), 0);
  daemon.join();
  EXPECT_EQ(rc, 0);
  EXPECT_NE(receive().find("STOPPING=1"), std::string::npos);
  ::unsetenv("NOTIFY_SOCKET");
  ::close(sock);
}

TEST_F(AgentTest, RunAgentExitsNonZeroOnATamperedPackage) {
  Bytes pkg = package::testing::ReadAll(package_path_);
  pkg[20] ^= 0x01;  // inside the signed manifest
  ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(package_path_, AsString(pkg), 0644));
  config::Config config = config::DefaultConfig(dir_.File("data"));
  config.agent.state_dir = dir_.File("state");
  config.agent.package_file = package_path_;
  config.agent.admin_listen_address = "127.0.0.1:0";
  std::string fleet_pub = dir_.File("fleet.pub");
  ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(
      fleet_pub, crypto::Ed25519PublicKeyToPem(f_.fleet_key.public_key()), 0644));
  ::testing::internal::CaptureStderr();
  int rc = RunAgent(config, {.enrollment_key_file = key_path_, .fleet_public_key_file = fleet_pub});
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc, ExitCodeFor(ErrorCode::kIntegrity));
  EXPECT_NE(err.find("tampered_manifest"), std::string::npos) << err;
}

TEST(JitterTest, StaysWithinBoundsAndNeverExceedsTheInterval) {
  Random& random = *RealRandom();
  std::set<int64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    auto d = JitteredInterval(60s, 10, random);
    ASSERT_LE(d, 60s);
    ASSERT_GE(d, 54s);
    seen.insert(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  }
  EXPECT_GT(seen.size(), 100u);
  EXPECT_EQ(JitteredInterval(60s, 0, random), 60s);
  EXPECT_EQ(BackoffDelay(1, 1s, 60s, 0, random), 1s);
  EXPECT_EQ(BackoffDelay(4, 1s, 60s, 0, random), 8s);
  EXPECT_EQ(BackoffDelay(1000, 1s, 60s, 0, random), 60s);
}

}  // namespace
}  // namespace vigie::agent
