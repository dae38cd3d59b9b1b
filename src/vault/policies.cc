#include "vault/policies.h"

#include <fmt/format.h>

#include "base/encoding.h"
#include "crypto/hash.h"

namespace vigie::vault {

namespace {

constexpr size_t kMaxPolicyBytes = 64 * 1024;

constexpr std::string_view kAdminPolicy =
    R"hcl(# vigie-admin: the non-root credential of `vigie vault reconcile` (PROV_012, PROV_013).
# Managed by vigie; do not edit in Vault (reconcile restores it).
path "sys/policies/acl" {
  capabilities = ["list"]
}
path "sys/policies/acl/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "sys/auth" {
  capabilities = ["read"]
}
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}
)hcl";

void AppendLen(crypto::Sha256Hasher& h, size_t n) {
  uint8_t b[4] = {static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
                  static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
  h.Update(b);
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

}  // namespace

std::string_view AdminPolicyText() { return kAdminPolicy; }

bool IsReservedPolicyName(std::string_view name) {
  return name == "root" || name == "default" || name == kAdminPolicyName;
}

Status ValidatePolicyName(std::string_view name, std::string_view origin) {
  bool ok = !name.empty() && name.size() <= 128;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) ok = false;
  }
  if (!ok) {
    return MakeError(ErrorCode::kConfig,
                     fmt::format("{}: policy name '{}' is invalid; use lower-case letters, digits, "
                                 "'-' and '_' only (PROV_013)",
                                 origin, name));
  }
  if (IsReservedPolicyName(name)) {
    return MakeError(ErrorCode::kConfig,
                     fmt::format("{}: policy '{}' is reserved (root and default belong to Vault, "
                                 "{} to vigie); rename the file (PROV_013)",
                                 origin, name, kAdminPolicyName));
  }
  return OkStatus();
}

std::string PolicyDigest(const std::map<std::string, std::string>& policies) {
  crypto::Sha256Hasher h;
  for (const auto& [name, text] : policies) {  // std::map: sorted by name
    AppendLen(h, name.size());
    h.Update(AsBytes(name));
    AppendLen(h, text.size());
    h.Update(AsBytes(text));
  }
  auto d = h.Finish();
  return HexEncode(d);
}

PolicySet BuiltinPolicies() {
  PolicySet set;
  set.policies.emplace(std::string(kAdminPolicyName), std::string(kAdminPolicy));
  set.digest = PolicyDigest(set.policies);
  return set;
}

Result<PolicySet> LoadPolicies(const std::string& dir, FileSystem& fs) {
  PolicySet set = BuiltinPolicies();
  if (dir.empty()) return set;
  auto entries = fs.ListDir(dir);
  if (!entries) {
    return MakeError(ErrorCode::kConfig,
                     fmt::format("vault.policies_dir '{}' cannot be read: {}; create it or fix "
                                 "the path",
                                 dir, entries.error().message));
  }
  for (const DirEntry& e : *entries) {
    if (e.is_dir || e.name.empty() || e.name[0] == '.' || !EndsWith(e.name, ".hcl")) continue;
    std::string path = dir + "/" + e.name;
    std::string name = e.name.substr(0, e.name.size() - 4);
    VIGIE_RETURN_IF_ERROR(ValidatePolicyName(name, path));
    auto text = fs.ReadFile(path);
    if (!text) {
      return MakeError(ErrorCode::kConfig,
                       fmt::format("{}: cannot be read: {}", path, text.error().message));
    }
    if (text->find_first_not_of(" \t\r\n") == std::string::npos) {
      return MakeError(ErrorCode::kConfig,
                       fmt::format("{}: the policy is empty; Vault rejects empty policies", path));
    }
    if (text->size() > kMaxPolicyBytes) {
      return MakeError(ErrorCode::kConfig, fmt::format("{}: {} bytes, more than the {} allowed",
                                                       path, text->size(), kMaxPolicyBytes));
    }
    set.policies.emplace(std::move(name), std::move(*text));
  }
  set.digest = PolicyDigest(set.policies);
  return set;
}

std::string PolicyDrift::Describe() const {
  if (empty()) return "none";
  std::vector<std::string> parts;
  if (!missing.empty()) parts.push_back("missing: " + Join(missing));
  if (!changed.empty()) parts.push_back("changed: " + Join(changed));
  if (!extra.empty()) parts.push_back("extra: " + Join(extra));
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += "; ";
    out += p;
  }
  return out;
}

}  // namespace vigie::vault
