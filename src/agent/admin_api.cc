#include "agent/admin_api.h"

#include <fmt/format.h>
#include <sodium.h>

#include <condition_variable>
#include <deque>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/encoding.h"
#include "base/log.h"
#include "crypto/hash.h"

namespace vigie::agent {
namespace {

using http::ServerResponse;

ServerResponse Err(ErrorCode code, std::string_view message) {
  return ServerResponse::Error(Error{code, std::string(message)});
}

// Wipes a std::string that held a secret (JSON parsing gives us no choice but to copy).
void Wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

// Moves the string field `key` of `j` into a SecretBytes, wiping the JSON copy.
std::optional<SecretBytes> TakeSecretField(nlohmann::json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_string()) return std::nullopt;
  std::string& s = j[key].get_ref<std::string&>();
  SecretBytes out = SecretBytes::CopyFrom(std::string_view(s));
  Wipe(s);
  return out;
}

bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle) {
  if (needle.empty() || needle.size() > haystack.size()) return false;
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    bool match = true;
    for (size_t k = 0; k < needle.size() && match; ++k) {
      match = std::tolower(static_cast<unsigned char>(haystack[i + k])) ==
              std::tolower(static_cast<unsigned char>(needle[k]));
    }
    if (match) return true;
  }
  return false;
}

std::string BearerToken(const std::string& authorization) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (authorization.size() <= kPrefix.size() ||
      !std::equal(kPrefix.begin(), kPrefix.end(), authorization.begin(),
                  [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
    return "";
  }
  return authorization.substr(kPrefix.size());
}

std::string TokenKey(std::string_view token) { return HexEncode(crypto::Sha256(AsBytes(token))); }

}  // namespace

Status CheckPasswordPolicy(std::string_view user, const SecretBytes& candidate,
                           const SecretBytes* current, const PasswordPolicy& policy) {
  std::vector<std::string> problems;
  std::string_view pw = candidate.view();
  if (pw.size() < policy.min_length) {
    problems.push_back(fmt::format("the new password has {} characters; at least {} are required",
                                   pw.size(), policy.min_length));
  }
  bool lower = false, upper = false, digit = false, other = false;
  for (char c : pw) {
    auto u = static_cast<unsigned char>(c);
    if (std::islower(u))
      lower = true;
    else if (std::isupper(u))
      upper = true;
    else if (std::isdigit(u))
      digit = true;
    else
      other = true;
  }
  int classes = lower + upper + digit + other;
  if (classes < policy.min_classes) {
    problems.push_back(fmt::format(
        "the new password uses {} of the 4 character classes (lowercase, uppercase, digits, "
        "symbols); at least {} are required",
        classes, policy.min_classes));
  }
  if (current != nullptr && candidate.Equals(*current)) {
    problems.push_back("the new password must differ from the current one");
  }
  if (ContainsIgnoreCase(pw, user)) {
    problems.push_back(fmt::format("the new password must not contain the user name \"{}\"", user));
  }
  if (problems.empty()) return OkStatus();
  std::string message = "password policy (PROV_005): ";
  for (size_t i = 0; i < problems.size(); ++i) {
    if (i) message += "; ";
    message += problems[i];
  }
  return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

// One thread running the Argon2id work, so the HTTP I/O threads never block on it.
struct AdminApi::Worker {
  Worker() : thread([this] { Loop(); }) {}
  ~Worker() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    cv.notify_all();
    thread.join();
  }
  void Post(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mu);
      jobs.push_back(std::move(job));
    }
    cv.notify_one();
  }
  void Loop() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return stop || !jobs.empty(); });
      if (jobs.empty()) return;  // stop requested and nothing left
      auto job = std::move(jobs.front());
      jobs.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
  }
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> jobs;
  bool stop = false;
  std::thread thread;
};

AdminApi::AdminApi(AdminApiOptions options, Env env)
    : options_(std::move(options)), env_(env), worker_(std::make_unique<Worker>()) {
  if (options_.pwhash_opslimit == 0) options_.pwhash_opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
  if (options_.pwhash_memlimit == 0) options_.pwhash_memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
}

AdminApi::~AdminApi() { worker_.reset(); }

Result<std::unique_ptr<AdminApi>> AdminApi::Open(AdminApiOptions options, Env env,
                                                 const SecretBytes* initial_password) {
  if (sodium_init() < 0) return MakeError(ErrorCode::kInternal, "libsodium failed to initialise");
  std::unique_ptr<AdminApi> api(new AdminApi(std::move(options), env));
  const std::string path = api->options_.state_dir + "/" + std::string(kAdminAccountFile);
  std::lock_guard<std::mutex> lock(api->mu_);
  if (env.fs->Exists(path)) {
    VIGIE_ASSIGN_OR_RETURN(std::string text, env.fs->ReadFile(path));
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    auto bad = [&](std::string_view what) {
      return MakeError(ErrorCode::kIntegrity,
                       fmt::format("{}: {}; restore it from a backup or remove it to re-initialise "
                                   "the admin account from the package",
                                   path, what));
    };
    if (!j.is_object()) return bad("not a JSON object");
    if (!j.contains("password_hash") || !j["password_hash"].is_string() ||
        j["password_hash"].get<std::string>().rfind("$argon2id$", 0) != 0) {
      return bad("\"password_hash\" missing or not an Argon2id hash");
    }
    if (!j.contains("must_change") || !j["must_change"].is_boolean()) {
      return bad("\"must_change\" missing or not a boolean");
    }
    api->password_hash_ = j["password_hash"].get<std::string>();
    api->must_change_ = j["must_change"].get<bool>();
    if (j.contains("changed_at") && j["changed_at"].is_number_integer()) {
      api->changed_at_ = FromUnixSeconds(j["changed_at"].get<int64_t>());
    }
    if (j.contains("initialized_at") && j["initialized_at"].is_number_integer()) {
      api->initialized_at_ = FromUnixSeconds(j["initialized_at"].get<int64_t>());
    }
    return api;
  }
  if (initial_password == nullptr || initial_password->empty()) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     fmt::format("no admin account in {} and the package carries no \"{}\": "
                                 "ask the fleet operator for a package with an admin password",
                                 api->options_.state_dir, "admin_password"));
  }
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(hash, reinterpret_cast<const char*>(initial_password->data()),
                        initial_password->size(), api->options_.pwhash_opslimit,
                        api->options_.pwhash_memlimit) != 0) {
    return MakeError(ErrorCode::kResourceExhausted, "Argon2id hashing ran out of memory");
  }
  api->password_hash_ = hash;
  api->must_change_ = true;
  api->initialized_at_ = env.clock->Now();
  VIGIE_RETURN_IF_ERROR(env.fs->CreateDirs(api->options_.state_dir));
  VIGIE_RETURN_IF_ERROR(api->Save());
  log::Info("agent_admin_account_initialized", {{"must_change", true}});
  return api;
}

Status AdminApi::Save() {
  nlohmann::json j = {{"version", 1},
                      {"user", std::string(kAdminUser)},
                      {"password_hash", password_hash_},
                      {"must_change", must_change_},
                      {"initialized_at", ToUnixSeconds(initialized_at_)}};
  j["changed_at"] = changed_at_ ? nlohmann::json(ToUnixSeconds(*changed_at_)) : nullptr;
  return env_.fs->WriteFileAtomic(options_.state_dir + "/" + std::string(kAdminAccountFile),
                                  j.dump(2) + "\n", 0600);
}

bool AdminApi::must_change() const {
  std::lock_guard<std::mutex> lock(mu_);
  return must_change_;
}

std::optional<WallTime> AdminApi::password_changed_at() const {
  std::lock_guard<std::mutex> lock(mu_);
  return changed_at_;
}

ServerResponse AdminApi::Login(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) {
    return Err(ErrorCode::kInvalidArgument, "login: body must be {\"user\":..,\"password\":..}");
  }
  std::optional<SecretBytes> password = TakeSecretField(j, "password");
  if (!j.contains("user") || !j["user"].is_string() || !password) {
    return Err(ErrorCode::kInvalidArgument,
               "login: \"user\" and \"password\" are required strings");
  }
  std::string user = j["user"].get<std::string>();
  std::string hash;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hash = password_hash_;
  }
  // Verify even for an unknown user, so timing does not tell which users exist.
  bool ok = crypto_pwhash_str_verify(hash.c_str(), reinterpret_cast<const char*>(password->data()),
                                     password->size()) == 0;
  if (!ok || user != kAdminUser) {
    log::Warn("agent_admin_login_failed", {});
    return Err(ErrorCode::kUnauthenticated, "login: wrong user name or password");
  }
  std::array<uint8_t, 32> raw{};
  env_.random->Fill(raw);
  std::string token = HexEncode(raw);
  sodium_memzero(raw.data(), raw.size());
  std::lock_guard<std::mutex> lock(mu_);
  std::string scope(must_change_ ? kScopeChangePasswordOnly : kScopeAdmin);
  // Drop expired sessions so the map stays bounded by the logins of one lifetime.
  MonoTime now = env_.clock->Monotonic();
  std::erase_if(sessions_, [&](const auto& kv) { return kv.second.expires_at <= now; });
  sessions_[TokenKey(token)] = Session{scope, now + kSessionLifetime};
  log::Info("agent_admin_login", {{"scope", scope}});
  nlohmann::json out = {
      {"token", token},
      {"scope", scope},
      {"expires_in_seconds",
       std::chrono::duration_cast<std::chrono::seconds>(kSessionLifetime).count()},
      {"must_change_password", must_change_}};
  Wipe(token);
  return ServerResponse::Json(200, out.dump());
}

std::optional<std::string> AdminApi::SessionKeyLocked(const std::string& authorization) {
  std::string token = BearerToken(authorization);
  if (token.empty()) return std::nullopt;
  std::string key = TokenKey(token);
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return std::nullopt;
  if (it->second.expires_at <= env_.clock->Monotonic()) {
    sessions_.erase(it);
    return std::nullopt;
  }
  return key;
}

std::optional<ServerResponse> AdminApi::Authorize(const std::string& authorization) {
  std::lock_guard<std::mutex> lock(mu_);
  auto key = SessionKeyLocked(authorization);
  if (!key) {
    return Err(ErrorCode::kUnauthenticated,
               "no valid admin session: POST /v1/admin/login, then send "
               "\"Authorization: Bearer <token>\"");
  }
  if (must_change_ || sessions_[*key].scope != kScopeAdmin) {
    return Err(ErrorCode::kPermissionDenied, kMustChangeMessage);
  }
  return std::nullopt;
}

ServerResponse AdminApi::ChangePassword(const std::string& authorization, const std::string& body) {
  std::string hash;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!SessionKeyLocked(authorization)) {
      return Err(ErrorCode::kUnauthenticated,
                 "no valid admin session: POST /v1/admin/login, then send "
                 "\"Authorization: Bearer <token>\"");
    }
    hash = password_hash_;
  }
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) {
    return Err(ErrorCode::kInvalidArgument, "password: body must be {\"old\":..,\"new\":..}");
  }
  std::optional<SecretBytes> old_pw = TakeSecretField(j, "old");
  std::optional<SecretBytes> new_pw = TakeSecretField(j, "new");
  if (!old_pw || !new_pw) {
    return Err(ErrorCode::kInvalidArgument, "password: \"old\" and \"new\" are required strings");
  }
  if (crypto_pwhash_str_verify(hash.c_str(), reinterpret_cast<const char*>(old_pw->data()),
                               old_pw->size()) != 0) {
    log::Warn("agent_admin_password_change_failed", {{"reason", "wrong_old_password"}});
    return Err(ErrorCode::kUnauthenticated, "password: the old password is wrong");
  }
  if (auto policy = CheckPasswordPolicy(kAdminUser, *new_pw, &*old_pw); !policy) {
    return ServerResponse::Error(policy.error());
  }
  char new_hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(new_hash, reinterpret_cast<const char*>(new_pw->data()), new_pw->size(),
                        options_.pwhash_opslimit, options_.pwhash_memlimit) != 0) {
    return Err(ErrorCode::kResourceExhausted, "password: Argon2id hashing ran out of memory");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (password_hash_ != hash) {
    return Err(ErrorCode::kConflict, "password: changed concurrently by another session; retry");
  }
  std::string previous_hash = password_hash_;
  bool previous_must_change = must_change_;
  auto previous_changed_at = changed_at_;
  password_hash_ = new_hash;
  must_change_ = false;
  changed_at_ = env_.clock->Now();
  if (auto saved = Save(); !saved) {
    // Not persisted: keep the old state so memory and disk agree.
    password_hash_ = previous_hash;
    must_change_ = previous_must_change;
    changed_at_ = previous_changed_at;
    return ServerResponse::Error(saved.error().Wrap("password: saving the admin account"));
  }
  sessions_.clear();
  log::Info("agent_admin_password_changed", {{"changed_at", FormatRfc3339(*changed_at_)}});
  nlohmann::json out = {{"changed_at", FormatRfc3339(*changed_at_)},
                        {"message", "password changed; log in again with the new password"}};
  return ServerResponse::Json(200, out.dump());
}

Status AdminApi::AddRoutes(http::Router& router) {
  VIGIE_RETURN_IF_ERROR(router.Add("POST", "/v1/admin/login",
                                   [this](const http::ServerRequest& req, http::Responder done) {
                                     worker_->Post([this, body = req.body, done]() mutable {
                                       done(Login(body));
                                       Wipe(body);
                                     });
                                   }));
  VIGIE_RETURN_IF_ERROR(router.Add(
      "POST", "/v1/admin/password", [this](const http::ServerRequest& req, http::Responder done) {
        worker_->Post([this, auth = req.Header("Authorization"), body = req.body, done]() mutable {
          done(ChangePassword(auth, body));
          Wipe(body);
        });
      }));
  VIGIE_RETURN_IF_ERROR(router.Add(
      "GET", "/v1/admin/status", [this](const http::ServerRequest& req, http::Responder done) {
        if (auto denied = Authorize(req.Header("Authorization"))) return done(*denied);
        std::string body = options_.status_json ? options_.status_json() : "{}";
        done(ServerResponse::Json(200, body.empty() ? "{}" : body));
      }));
  // Every other admin route: the PROV_005 gate first, then "no such route". POST /v1/admin/{a}
  // also matches login and password, but literal segments win in the router.
  auto other = [this](const http::ServerRequest& req, http::Responder done) {
    if (auto denied = Authorize(req.Header("Authorization"))) return done(*denied);
    done(Err(ErrorCode::kNotFound, fmt::format("no admin route {} {}", req.method, req.path)));
  };
  for (const char* method : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    for (const char* pattern : {"/v1/admin/{a}", "/v1/admin/{a}/{b}", "/v1/admin/{a}/{b}/{c}"}) {
      VIGIE_RETURN_IF_ERROR(router.Add(method, pattern, other));
    }
  }
  return OkStatus();
}

}  // namespace vigie::agent
