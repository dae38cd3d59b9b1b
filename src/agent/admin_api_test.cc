#include "agent/admin_api.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <nlohmann/json.hpp>

#include "http/curl_client.h"
#include "http/server.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace vigie::agent {
namespace {

constexpr char kInitial[] = "Initial-Pass-0123456789";
constexpr char kNewGood[] = "Correct-Horse-Battery-42";

class AdminApiTest : public ::testing::Test {
 protected:
  AdminApiTest() { env_ = Env{&clock_, RealFileSystem(), RealRandom()}; }

  std::unique_ptr<AdminApi> Open(const char* initial = kInitial) {
    AdminApiOptions o;
    o.state_dir = dir_.path() + "/state";
    o.pwhash_opslimit = crypto_pwhash_OPSLIMIT_MIN;
    o.pwhash_memlimit = crypto_pwhash_MEMLIMIT_MIN;
    o.status_json = [] { return std::string(R"({"site_id":"s1"})"); };
    SecretBytes pw = SecretBytes::CopyFrom(std::string_view(initial ? initial : ""));
    auto api = AdminApi::Open(std::move(o), env_, initial ? &pw : nullptr);
    EXPECT_TRUE(api) << api.error().ToString();
    return api ? std::move(*api) : nullptr;
  }

  static std::string LoginBody(std::string_view password, std::string_view user = "admin") {
    return nlohmann::json{{"user", user}, {"password", password}}.dump();
  }
  static std::string ChangeBody(std::string_view old_pw, std::string_view new_pw) {
    return nlohmann::json{{"old", old_pw}, {"new", new_pw}}.dump();
  }
  // Logs in and returns "Bearer <token>", or "" on failure.
  static std::string LoginAuth(AdminApi& api, std::string_view password,
                               std::string* scope = nullptr) {
    auto r = api.Login(LoginBody(password));
    if (r.status != 200) return "";
    auto j = nlohmann::json::parse(r.body);
    if (scope) *scope = j["scope"];
    return "Bearer " + j["token"].get<std::string>();
  }
  static std::string ErrorMessage(const http::ServerResponse& r) {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    return j.is_object() ? j["error"]["message"].get<std::string>() : "";
  }

  testing::FakeClock clock_;
  testing::TempDir dir_;
  Env env_;
};

TEST(PasswordPolicyTest, EachViolationIsNamed) {
  auto check = [](std::string_view pw, const char* current = nullptr) {
    SecretBytes c = SecretBytes::CopyFrom(std::string_view(pw));
    SecretBytes cur = SecretBytes::CopyFrom(std::string_view(current ? current : ""));
    return CheckPasswordPolicy("admin", c, current ? &cur : nullptr);
  };
  EXPECT_TRUE(check(kNewGood));
  auto short_pw = check("Ab1!short");
  ASSERT_FALSE(short_pw);
  EXPECT_EQ(short_pw.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(short_pw.error().message.find("at least 14"), std::string::npos);
  auto classes = check("alllowercaseletters");
  ASSERT_FALSE(classes);
  EXPECT_NE(classes.error().message.find("1 of the 4 character classes"), std::string::npos);
  EXPECT_TRUE(check("lowercase-and-digits-123"));  // 3 classes
  auto same = check(kNewGood, kNewGood);
  ASSERT_FALSE(same);
  EXPECT_NE(same.error().message.find("differ from the current"), std::string::npos);
  auto user = check("My-ADMIN-password-99");
  ASSERT_FALSE(user);
  EXPECT_NE(user.error().message.find("user name"), std::string::npos);
  EXPECT_EQ(user.error().message.find("My-ADMIN"), std::string::npos);  // never echoes it
}

TEST_F(AdminApiTest, InitialLoginOnlyAllowsPasswordChange) {
  auto api = Open();
  ASSERT_TRUE(api);
  EXPECT_TRUE(api->must_change());
  EXPECT_FALSE(api->password_changed_at());
  // The state file keeps a verifier, never the password, and is private.
  std::string state = *env_.fs->ReadFile(dir_.path() + "/state/admin_account.json");
  EXPECT_EQ(state.find(kInitial), std::string::npos);
  EXPECT_NE(state.find("$argon2id$"), std::string::npos);

  EXPECT_EQ(api->Login(LoginBody("wrong-password")).status, 401);
  EXPECT_EQ(api->Login(LoginBody(kInitial, "root")).status, 401);
  std::string scope;
  std::string auth = LoginAuth(*api, kInitial, &scope);
  ASSERT_FALSE(auth.empty());
  EXPECT_EQ(scope, kScopeChangePasswordOnly);

  auto denied = api->Authorize(auth);
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 403);
  auto j = nlohmann::json::parse(denied->body);
  EXPECT_EQ(j["error"]["code"], "permission_denied");
  EXPECT_EQ(j["error"]["message"], std::string(kMustChangeMessage));
  // No session at all: 401, not 403.
  auto anonymous = api->Authorize("");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
}

TEST_F(AdminApiTest, PolicyViolationsAre400WithClearMessages) {
  auto api = Open();
  std::string auth = LoginAuth(*api, kInitial);
  auto same = api->ChangePassword(auth, ChangeBody(kInitial, kInitial));
  EXPECT_EQ(same.status, 400);
  EXPECT_NE(ErrorMessage(same).find("differ from the current"), std::string::npos);
  auto short_pw = api->ChangePassword(auth, ChangeBody(kInitial, "Ab1!"));
  EXPECT_EQ(short_pw.status, 400);
  EXPECT_NE(ErrorMessage(short_pw).find("at least 14"), std::string::npos);
  auto wrong_old = api->ChangePassword(auth, ChangeBody("not-the-old-one", kNewGood));
  EXPECT_EQ(wrong_old.status, 401);
  EXPECT_EQ(api->ChangePassword("Bearer nope", ChangeBody(kInitial, kNewGood)).status, 401);
  EXPECT_TRUE(api->must_change());
}

TEST_F(AdminApiTest, ChangeUnlocksTheApiRecordsTimeAndSurvivesRestart) {
  auto api = Open();
  std::string auth = LoginAuth(*api, kInitial);
  clock_.Advance(std::chrono::minutes(3));
  auto changed = api->ChangePassword(auth, ChangeBody(kInitial, kNewGood));
  ASSERT_EQ(changed.status, 200) << changed.body;
  EXPECT_FALSE(api->must_change());
  ASSERT_TRUE(api->password_changed_at());
  EXPECT_EQ(ToUnixSeconds(*api->password_changed_at()), ToUnixSeconds(clock_.Now()));
  // The old session is revoked; the old password no longer works; the new one gives full scope.
  EXPECT_EQ(api->Authorize(auth)->status, 401);
  EXPECT_EQ(api->Login(LoginBody(kInitial)).status, 401);
  std::string scope;
  std::string full = LoginAuth(*api, kNewGood, &scope);
  EXPECT_EQ(scope, kScopeAdmin);
  EXPECT_FALSE(api->Authorize(full));

  // Restart: the package's initial password is offered again but the stored account wins.
  WallTime changed_at = *api->password_changed_at();
  api.reset();
  auto again = Open();
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->must_change());
  ASSERT_TRUE(again->password_changed_at());
  EXPECT_EQ(ToUnixSeconds(*again->password_changed_at()), ToUnixSeconds(changed_at));
  EXPECT_EQ(again->Login(LoginBody(kInitial)).status, 401);
  EXPECT_FALSE(LoginAuth(*again, kNewGood).empty());
}

TEST_F(AdminApiTest, SessionsExpireAfterFifteenMinutes) {
  auto api = Open();
  std::string auth = LoginAuth(*api, kInitial);
  clock_.Advance(kSessionLifetime + std::chrono::seconds(1));
  EXPECT_EQ(api->ChangePassword(auth, ChangeBody(kInitial, kNewGood)).status, 401);
}

TEST_F(AdminApiTest, NoStateAndNoPasswordIsRefused) {
  AdminApiOptions o;
  o.state_dir = dir_.path() + "/empty";
  auto api = AdminApi::Open(std::move(o), env_, nullptr);
  ASSERT_FALSE(api);
  EXPECT_EQ(api.error().code, ErrorCode::kFailedPrecondition);
}

TEST_F(AdminApiTest, CorruptStateIsRefused) {
  ASSERT_TRUE(env_.fs->CreateDirs(dir_.path() + "/state"));
  ASSERT_TRUE(env_.fs->WriteFileAtomic(dir_.path() + "/state/admin_account.json",
                                       R"({"password_hash":"plain","must_change":false})"));
  AdminApiOptions o;
  o.state_dir = dir_.path() + "/state";
  SecretBytes pw = SecretBytes::CopyFrom(std::string_view(kInitial));
  auto api = AdminApi::Open(std::move(o), env_, &pw);
  ASSERT_FALSE(api);
  EXPECT_EQ(api.error().code, ErrorCode::kIntegrity);
}

// The same flow over HTTP, through the router and the worker thread.
TEST_F(AdminApiTest, OverHttp) {
  auto api = Open();
  http::Router router;
  ASSERT_TRUE(api->AddRoutes(router));
  http::ServerOptions so;
  so.tls = false;
  auto server = http::HttpServer::Start(std::move(so), std::move(router));
  ASSERT_TRUE(server) << server.error().ToString();
  http::CurlClient client;
  std::string base = "http://127.0.0.1:" + std::to_string((*server)->port());
  auto call = [&](std::string method, std::string path, std::string body, std::string auth) {
    http::HttpRequest req;
    req.method = method;
    req.url = base + path;
    req.body = body;
    if (!auth.empty()) req.headers.emplace_back("Authorization", auth);
    if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
    auto r = client.Send(req);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : http::HttpResponse{};
  };
  auto login = call("POST", "/v1/admin/login", LoginBody(kInitial), "");
  ASSERT_EQ(login.status, 200) << login.body;
  std::string auth = "Bearer " + nlohmann::json::parse(login.body)["token"].get<std::string>();
  for (auto [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/v1/admin/status"},
                                                        {"POST", "/v1/admin/users"},
                                                        {"DELETE", "/v1/admin/sessions/all"}}) {
    auto r = call(method, path, "", auth);
    EXPECT_EQ(r.status, 403) << method << " " << path;
    EXPECT_NE(r.body.find("must be changed first (PROV_005)"), std::string::npos);
  }
  auto changed = call("POST", "/v1/admin/password", ChangeBody(kInitial, kNewGood), auth);
  ASSERT_EQ(changed.status, 200) << changed.body;
  auto relog = call("POST", "/v1/admin/login", LoginBody(kNewGood), "");
  std::string full = "Bearer " + nlohmann::json::parse(relog.body)["token"].get<std::string>();
  auto status = call("GET", "/v1/admin/status", "", full);
  EXPECT_EQ(status.status, 200);
  EXPECT_EQ(nlohmann::json::parse(status.body)["site_id"], "s1");
  EXPECT_EQ(call("GET", "/v1/admin/users", "", full).status, 404);
  (*server)->Stop();
}

}  // namespace
}  // namespace vigie::agent
