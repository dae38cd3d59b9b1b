#include "vault/vault_client.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "base/encoding.h"

namespace vigie::vault {

namespace {

using nlohmann::json;

constexpr size_t kMaxErrorText = 400;

// Percent-encodes a path segment (policy or role names that came from Vault's own listing).
std::string Segment(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

Result<json> ParseBody(std::string_view method, std::string_view path, const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return MakeError(ErrorCode::kUnavailable,
                     fmt::format("vault {} {}: the reply is not a JSON object; is the address a "
                                 "Vault server?",
                                 method, path));
  }
  return j;
}

// Overwrites every string in `j` (recursively) before it is destroyed: used on replies that held
// keys or tokens, since nlohmann keeps its own copies of the strings.
void WipeJson(json& j) {
  if (j.is_string()) {
    WipeString(j.get_ref<std::string&>());
  } else if (j.is_structured()) {
    for (auto& v : j) WipeJson(v);
  }
}

Error Malformed(std::string_view method, std::string_view path, std::string_view what) {
  return Error{ErrorCode::kUnavailable,
               fmt::format("vault {} {}: unexpected reply: {}", method, path, what)};
}

Result<std::vector<std::string>> StringArray(const json& j, std::string_view method,
                                             std::string_view path, std::string_view field) {
  if (!j.is_array())
    return tl::unexpected(Malformed(method, path, std::string(field) + " missing"));
  std::vector<std::string> out;
  for (const auto& v : j) {
    if (!v.is_string()) {
      return tl::unexpected(Malformed(method, path, std::string(field) + " holds a non-string"));
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

std::string_view HealthName(Health h) {
  switch (h) {
    case Health::kActive:
      return "active";
    case Health::kStandby:
      return "standby";
    case Health::kNotInitialized:
      return "not_initialized";
    case Health::kSealed:
      return "sealed";
    case Health::kOther:
      return "other";
  }
  return "other";
}

Error VaultErrorFromResponse(std::string_view method, std::string_view path,
                             const http::HttpResponse& response) {
  std::string text;
  json j = json::parse(response.body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("errors") && j["errors"].is_array()) {
    for (const auto& e : j["errors"]) {
      if (!e.is_string()) continue;
      std::string s = e.get<std::string>();
      // Vault's multierror texts ("1 error occurred:\n\t* permission denied\n\n") on one line.
      std::string flat;
      for (char c : s) {
        if (c == '\n' || c == '\t') {
          if (!flat.empty() && flat.back() != ' ') flat.push_back(' ');
        } else {
          flat.push_back(c);
        }
      }
      while (!flat.empty() && flat.back() == ' ') flat.pop_back();
      if (flat.empty()) continue;
      if (!text.empty()) text += "; ";
      text += flat;
    }
  }
  if (text.empty()) text = "no error text";
  if (text.size() > kMaxErrorText) text = text.substr(0, kMaxErrorText) + "...";
  ErrorCode code = ErrorCode::kUnavailable;
  int s = response.status;
  if (s == 400) {
    code = ErrorCode::kInvalidArgument;
  } else if (s == 401 || s == 403) {
    code = ErrorCode::kPermissionDenied;
  } else if (s == 404) {
    code = ErrorCode::kNotFound;
  } else if (s >= 400 && s < 500 && s != 429) {
    code = ErrorCode::kInvalidArgument;
  }
  std::string hint;
  if (s == 503) hint = " (Vault is sealed or unavailable: check its seal and its KMS key)";
  if (s == 429) hint = " (this node is a standby: point vault.address at the active node)";
  return Error{code, fmt::format("vault {} {}: HTTP {}: {}{}", method, path, s, text, hint)};
}

VaultClient::VaultClient(http::HttpClient& http, std::string address,
                         std::chrono::milliseconds timeout)
    : http_(http), address_(std::move(address)), timeout_(timeout) {
  while (!address_.empty() && address_.back() == '/') address_.pop_back();
}

Result<http::HttpResponse> VaultClient::Send(std::string_view method, std::string_view path,
                                             std::string body, const SecretBytes* token,
                                             std::chrono::milliseconds timeout) {
  http::HttpRequest req;
  req.method = std::string(method);
  req.url = address_ + std::string(path);
  req.timeout = timeout;
  req.headers.emplace_back("Accept", "application/json");
  if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  if (token != nullptr) req.headers.emplace_back("X-Vault-Token", std::string(token->view()));
  req.body = std::move(body);
  auto resp = http_.Send(req);
  WipeString(req.body);
  for (auto& [name, value] : req.headers) WipeString(value);
  if (!resp) {
    return tl::unexpected(resp.error().Wrap(fmt::format("vault {} {}", method, path)));
  }
  return resp;
}

Result<http::HttpResponse> VaultClient::Call(std::string_view method, std::string_view path,
                                             std::string body, const SecretBytes* token) {
  VIGIE_ASSIGN_OR_RETURN(auto resp, Send(method, path, std::move(body), token, timeout_));
  if (resp.status < 200 || resp.status > 299) {
    return tl::unexpected(VaultErrorFromResponse(method, path, resp));
  }
  return resp;
}

Result<SealStatus> VaultClient::GetSealStatus() {
  constexpr std::string_view kPath = "/v1/sys/seal-status";
  VIGIE_ASSIGN_OR_RETURN(auto resp, Call("GET", kPath, "", nullptr));
  VIGIE_ASSIGN_OR_RETURN(json j, ParseBody("GET", kPath, resp.body));
  if (!j.contains("initialized") || !j["initialized"].is_boolean() || !j.contains("sealed") ||
      !j["sealed"].is_boolean()) {
    return tl::unexpected(Malformed("GET", kPath, "no boolean 'initialized'/'sealed'"));
  }
  SealStatus s;
  s.type = j.value("type", std::string());
  s.initialized = j["initialized"].get<bool>();
  s.sealed = j["sealed"].get<bool>();
  s.threshold = j.value("t", 0);
  s.shares = j.value("n", 0);
  s.recovery_seal = j.value("recovery_seal", false);
  s.version = j.value("version", std::string());
  return s;
}

Result<Health> VaultClient::GetHealth() {
  VIGIE_ASSIGN_OR_RETURN(auto resp, Send("GET", "/v1/sys/health", "", nullptr, timeout_));
  switch (resp.status) {
    case 200:
      return Health::kActive;
    case 429:
      return Health::kStandby;
    case 501:
      return Health::kNotInitialized;
    case 503:
      return Health::kSealed;
    default:
      return Health::kOther;
  }
}

Result<InitResult> VaultClient::Init(int shares, int threshold, std::chrono::milliseconds timeout) {
  constexpr std::string_view kPath = "/v1/sys/init";
  json req = {{"recovery_shares", shares}, {"recovery_threshold", threshold}};
  VIGIE_ASSIGN_OR_RETURN(auto resp, Send("PUT", kPath, req.dump(), nullptr, timeout));
  if (resp.status < 200 || resp.status > 299) {
    Error e = VaultErrorFromResponse("PUT", kPath, resp);
    if (resp.status == 400 && e.message.find("already initialized") != std::string::npos) {
      e.code = ErrorCode::kConflict;
    }
    return tl::unexpected(e);
  }
  json j = json::parse(resp.body, nullptr, false);
  WipeString(resp.body);
  InitResult out;
  std::string problem;
  if (j.is_discarded() || !j.is_object()) {
    problem = "the reply is not a JSON object";
  } else if (!j.contains("recovery_keys_base64") || !j["recovery_keys_base64"].is_array() ||
             !j.contains("root_token") || !j["root_token"].is_string()) {
    problem = "no recovery_keys_base64 / root_token (was the seal really auto-unseal?)";
  } else {
    for (auto& k : j["recovery_keys_base64"]) {
      if (!k.is_string()) {
        problem = "a recovery key is not a string";
        break;
      }
      auto bytes = Base64Decode(k.get_ref<const std::string&>());
      if (!bytes) {
        problem = "a recovery key is not base64";
        break;
      }
      out.recovery_keys.push_back(SecretBytes::CopyFrom(*bytes));
      WipeBytes(bytes->data(), bytes->size());
    }
    out.root_token = SecretBytes::CopyFrom(j["root_token"].get_ref<const std::string&>());
  }
  if (!j.is_discarded()) WipeJson(j);
  if (!problem.empty()) {
    return MakeError(ErrorCode::kInternal,
                     fmt::format("vault PUT {}: HTTP {} but {}", kPath, resp.status, problem));
  }
  if (static_cast<int>(out.recovery_keys.size()) != shares || out.root_token.empty()) {
    return MakeError(ErrorCode::kInternal,
                     fmt::format("vault PUT {}: asked for {} recovery shares, Vault returned {}",
                                 kPath, shares, out.recovery_keys.size()));
  }
  return out;
}

Result<std::vector<std::string>> VaultClient::ListPolicies(const SecretBytes& token) {
  constexpr std::string_view kPath = "/v1/sys/policies/acl?list=true";
  VIGIE_ASSIGN_OR_RETURN(auto resp, Call("GET", kPath, "", &token));
  VIGIE_ASSIGN_OR_RETURN(json j, ParseBody("GET", kPath, resp.body));
  if (!j.contains("data") || !j["data"].is_object() || !j["data"].contains("keys")) {
    return tl::unexpected(Malformed("GET", kPath, "no .data.keys"));
  }
  return StringArray(j["data"]["keys"], "GET", kPath, ".data.keys");
}

Result<std::optional<std::string>> VaultClient::GetPolicy(const SecretBytes& token,
                                                          std::string_view name) {
  std::string path = "/v1/sys/policies/acl/" + Segment(name);
  VIGIE_ASSIGN_OR_RETURN(auto resp, Send("GET", path, "", &token, timeout_));
  if (resp.status == 404) return std::optional<std::string>();
  if (resp.status < 200 || resp.status > 299) {
    return tl::unexpected(VaultErrorFromResponse("GET", path, resp));
  }
  VIGIE_ASSIGN_OR_RETURN(json j, ParseBody("GET", path, resp.body));
  if (!j.contains("data") || !j["data"].is_object() || !j["data"].contains("policy") ||
      !j["data"]["policy"].is_string()) {
    return tl::unexpected(Malformed("GET", path, "no .data.policy"));
  }
  return std::optional<std::string>(j["data"]["policy"].get<std::string>());
}

Status VaultClient::PutPolicy(const SecretBytes& token, std::string_view name,
                              std::string_view policy) {
  json body = {{"policy", std::string(policy)}};
  VIGIE_RETURN_IF_ERROR(Call("PUT", "/v1/sys/policies/acl/" + Segment(name), body.dump(), &token));
  return OkStatus();
}

Status VaultClient::DeletePolicy(const SecretBytes& token, std::string_view name) {
  VIGIE_RETURN_IF_ERROR(Call("DELETE", "/v1/sys/policies/acl/" + Segment(name), "", &token));
  return OkStatus();
}

Result<std::vector<std::string>> VaultClient::ListAuthMounts(const SecretBytes& token) {
  constexpr std::string_view kPath = "/v1/sys/auth";
  VIGIE_ASSIGN_OR_RETURN(auto resp, Call("GET", kPath, "", &token));
  VIGIE_ASSIGN_OR_RETURN(json j, ParseBody("GET", kPath, resp.body));
  if (!j.contains("data") || !j["data"].is_object()) {
    return tl::unexpected(Malformed("GET", kPath, "no .data"));
  }
  std::vector<std::string> out;
  for (auto it = j["data"].begin(); it != j["data"].end(); ++it) out.push_back(it.key());
  return out;
}

Status VaultClient::EnableAuth(const SecretBytes& token, std::string_view path,
                               std::string_view type) {
  json body = {{"type", std::string(type)}};
  VIGIE_RETURN_IF_ERROR(Call("POST", "/v1/sys/auth/" + Segment(path), body.dump(), &token));
  return OkStatus();
}

Status VaultClient::WriteAppRole(const SecretBytes& token, std::string_view role,
                                 const std::vector<std::string>& policies,
                                 std::string_view token_ttl, std::string_view token_max_ttl) {
  json body = {{"token_policies", policies},
               {"token_ttl", std::string(token_ttl)},
               {"token_max_ttl", std::string(token_max_ttl)},
               {"token_type", "service"},
               {"bind_secret_id", true},
               {"secret_id_ttl", "0"},
               {"secret_id_num_uses", 0}};
  VIGIE_RETURN_IF_ERROR(
      Call("POST", "/v1/auth/approle/role/" + Segment(role), body.dump(), &token));
  return OkStatus();
}

Result<std::string> VaultClient::ReadRoleId(const SecretBytes& token, std::string_view role) {
  std::string path = "/v1/auth/approle/role/" + Segment(role) + "/role-id";
  VIGIE_ASSIGN_OR_RETURN(auto resp, Call("GET", path, "", &token));
  VIGIE_ASSIGN_OR_RETURN(json j, ParseBody("GET", path, resp.body));
  if (!j.contains("data") || !j["data"].is_object() || !j["data"].contains("role_id") ||
      !j["data"]["role_id"].is_string()) {
    return tl::unexpected(Malformed("GET", path, "no .data.role_id"));
  }
  return j["data"]["role_id"].get<std::string>();
}

Result<SecretBytes> VaultClient::GenerateSecretId(const SecretBytes& token, std::string_view role) {
  std::string path = "/v1/auth/approle/role/" + Segment(role) + "/secret-id";
  VIGIE_ASSIGN_OR_RETURN(auto resp, Call("POST", path, "{}", &token));
  json j = json::parse(resp.body, nullptr, false);
  WipeString(resp.body);
  if (j.is_discarded() || !j.is_object() || !j.contains("data") || !j["data"].is_object() ||
      !j["data"].contains("secret_id") || !j["data"]["secret_id"].is_string()) {
    if (!j.is_discarded()) WipeJson(j);
    return tl::unexpected(Malformed("POST", path, "no .data.secret_id"));
  }
  SecretBytes out = SecretBytes::CopyFrom(j["data"]["secret_id"].get_ref<const std::string&>());
  WipeJson(j);
  return out;
}

Result<SecretBytes> VaultClient::AppRoleLogin(std::string_view role_id,
                                              const SecretBytes& secret_id) {
  constexpr std::string_view kPath = "/v1/auth/approle/login";
  json body = {{"role_id", std::string(role_id)}, {"secret_id", std::string(secret_id.view())}};
  std::string text = body.dump();
  WipeJson(body);
  VIGIE_ASSIGN_OR_RETURN(auto resp, Call("POST", kPath, std::move(text), nullptr));
  json j = json::parse(resp.body, nullptr, false);
  WipeString(resp.body);
  if (j.is_discarded() || !j.is_object() || !j.contains("auth") || !j["auth"].is_object() ||
      !j["auth"].contains("client_token") || !j["auth"]["client_token"].is_string()) {
    if (!j.is_discarded()) WipeJson(j);
    return tl::unexpected(Malformed("POST", kPath, "no .auth.client_token"));
  }
  SecretBytes out = SecretBytes::CopyFrom(j["auth"]["client_token"].get_ref<const std::string&>());
  WipeJson(j);
  return out;
}

Result<TokenInfo> VaultClient::LookupSelf(const SecretBytes& token) {
  constexpr std::string_view kPath = "/v1/auth/token/lookup-self";
  VIGIE_ASSIGN_OR_RETURN(auto resp, Call("GET", kPath, "", &token));
  json j = json::parse(resp.body, nullptr, false);
  WipeString(resp.body);
  if (j.is_discarded() || !j.is_object() || !j.contains("data") || !j["data"].is_object()) {
    if (!j.is_discarded()) WipeJson(j);
    return tl::unexpected(Malformed("GET", kPath, "no .data"));
  }
  TokenInfo info;
  info.display_name = j["data"].value("display_name", std::string());
  if (j["data"].contains("policies") && j["data"]["policies"].is_array()) {
    for (const auto& p : j["data"]["policies"]) {
      if (p.is_string()) info.policies.push_back(p.get<std::string>());
    }
  }
  WipeJson(j);  // lookup-self echoes the token itself in .data.id
  return info;
}

Status VaultClient::RevokeSelf(const SecretBytes& token) {
  VIGIE_RETURN_IF_ERROR(Call("POST", "/v1/auth/token/revoke-self", "", &token));
  return OkStatus();
}

}  // namespace vigie::vault
