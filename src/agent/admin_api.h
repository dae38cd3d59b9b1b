#pragma once
// The agent's local admin API (PROV_005): one admin account whose initial password comes from the
// deployment package with must-change set.
//
//   POST /v1/admin/login     {"user","password"} -> 200 {"token","scope","expires_in_seconds",
//                            "must_change_password"}; 401 on bad credentials.
//   POST /v1/admin/password  {"old","new"} with "Authorization: Bearer <token>" -> 200
//                            {"changed_at"}; 400 naming each policy violation; 401 when the old
//                            password is wrong. Every session is revoked afterwards: log in again.
//   GET  /v1/admin/status    full-scope session -> the agent's status JSON.
//   any other /v1/admin/x[/y] (any method): full-scope session -> 404.
// Order of checks on every route but login: a valid session (else 401 unauthenticated), then its
// scope: while the password must change the session's scope is "change_password_only" and every
// route but /v1/admin/password answers 403 permission_denied "the initial admin password must be
// changed first (PROV_005): POST /v1/admin/password".
//
// Password policy (kPasswordPolicy): at least 14 characters, at least 3 of the 4 classes
// (lowercase, uppercase, digit, other), different from the current password, not containing the
// user name (case-insensitive).
//
// State: `<state_dir>/admin_account.json`, written atomically, mode 0600: {"version":1,"user",
// "password_hash" (libsodium crypto_pwhash_str, Argon2id), "must_change", "changed_at"
// (RFC 3339 | null), "initialized_at"}. The password itself is never stored. The file is created
// from the package's admin_password at the first start; afterwards it wins over the package
// (a restart does not reset a changed password).
//
// Sessions: 32 random bytes (hex) given to the client; only their SHA-256 is kept, in memory;
// they expire 15 minutes after login (monotonic clock) and do not survive a restart.
//
// Threading: Argon2id costs tens of milliseconds and 64 MiB, so login and password change run on
// the API's own worker thread, never on the HTTP server's I/O threads. All methods are
// thread-safe.
//
// SECURITY: passwords are moved into SecretBytes as soon as the request is parsed and the JSON
// copies are wiped; they are never logged. Login failures are answered after the same Argon2id
// work whether or not the user exists.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "base/env.h"
#include "base/error.h"
#include "base/secret.h"
#include "http/server.h"

namespace vigie::agent {

inline constexpr std::string_view kAdminUser = "admin";
inline constexpr std::string_view kAdminAccountFile = "admin_account.json";
inline constexpr std::string_view kScopeChangePasswordOnly = "change_password_only";
inline constexpr std::string_view kScopeAdmin = "admin";
inline constexpr std::string_view kMustChangeMessage =
    "the initial admin password must be changed first (PROV_005): POST /v1/admin/password";
inline constexpr std::chrono::minutes kSessionLifetime{15};

struct PasswordPolicy {
  size_t min_length = 14;
  int min_classes = 3;
};
inline constexpr PasswordPolicy kPasswordPolicy{};

// Checks `candidate` against the policy. Errors: kInvalidArgument whose message lists every
// violation, separated by "; ". `current` may be null (no comparison).
// SECURITY: the message never contains the password.
Status CheckPasswordPolicy(std::string_view user, const SecretBytes& candidate,
                           const SecretBytes* current, const PasswordPolicy& policy = {});

struct AdminApiOptions {
  std::string state_dir;
  // Argon2id cost; tests lower them (crypto_pwhash_*_MIN). 0 = libsodium's INTERACTIVE values.
  unsigned long long pwhash_opslimit = 0;
  size_t pwhash_memlimit = 0;
  // The body of GET /v1/admin/status (JSON). May be empty: {} is answered.
  std::function<std::string()> status_json;
};

class AdminApi {
 public:
  // Loads `<state_dir>/admin_account.json`, or creates it from `initial_password` (must_change =
  // true) when it does not exist. The plaintext is only hashed, then dropped by the caller.
  // Errors: kFailedPrecondition when there is no state and no initial password (package without
  // admin_password); kIntegrity naming the file when it is not a valid account file; kIo.
  static Result<std::unique_ptr<AdminApi>> Open(AdminApiOptions options, Env env,
                                                const SecretBytes* initial_password);
  ~AdminApi();
  AdminApi(const AdminApi&) = delete;
  AdminApi& operator=(const AdminApi&) = delete;

  // Adds the /v1/admin routes to `router`.
  Status AddRoutes(http::Router& router);

  bool must_change() const;
  // When the initial password was changed (PROV_005 evidence for the heartbeat); nullopt before.
  std::optional<WallTime> password_changed_at() const;

  // Synchronous forms of the two handlers (what the worker runs; also for tests).
  http::ServerResponse Login(const std::string& body);
  http::ServerResponse ChangePassword(const std::string& authorization, const std::string& body);
  // Authorises a call to any other admin route: nullopt when allowed, else the 401/403 answer.
  std::optional<http::ServerResponse> Authorize(const std::string& authorization);

 private:
  struct Worker;
  struct Session {
    std::string scope;
    MonoTime expires_at;
  };
  AdminApi(AdminApiOptions options, Env env);
  Status Save();  // REQUIRES: mu_ held
  std::optional<std::string> SessionKeyLocked(const std::string& authorization);

  AdminApiOptions options_;
  Env env_;
  std::unique_ptr<Worker> worker_;
  mutable std::mutex mu_;
  // Guarded by mu_:
  std::string password_hash_;
  bool must_change_ = true;
  std::optional<WallTime> changed_at_;
  WallTime initialized_at_;
  std::map<std::string, Session> sessions_;  // key: hex SHA-256 of the token
};

}  // namespace vigie::agent
