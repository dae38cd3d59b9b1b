#pragma once
// Vault ACL policies as configuration (PROV_013): one `<name>.hcl` file per policy in
// vault.policies_dir, plus vigie's built-in admin policy, applied to every site's Vault.
//
// Thread-safety: stateless functions.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/env.h"
#include "base/error.h"

namespace vigie::vault {

// The policy of vigie's non-root credential (the AppRole "vigie-admin"): what `vigie vault
// reconcile` needs -- manage ACL policies, read auth mounts, and look up / revoke its own token
// -- and nothing else (no secrets engines, no sys/generate-root, no auth/token/create).
// Note that managing policies is inherently administrative: the holder can widen its own policy.
inline constexpr std::string_view kAdminPolicyName = "vigie-admin";
std::string_view AdminPolicyText();

// Names Vault never lets vigie own: "root" (immutable) and "default" (Vault's own), and the
// built-in admin policy (a config file may not replace it: a mistake would lock vigie out).
bool IsReservedPolicyName(std::string_view name);

// kConfig unless `name` matches [a-z0-9_-]{1,128} and is not reserved. `origin` names the file.
Status ValidatePolicyName(std::string_view name, std::string_view origin);

struct PolicySet {
  std::map<std::string, std::string> policies;  // name -> HCL text, as applied (byte for byte)
  std::string digest;                           // hex SHA-256, see PolicyDigest
};

// SHA-256 over the policies sorted by name, each encoded as
// u32be(len(name)) || name || u32be(len(text)) || text, so no two sets share a digest.
std::string PolicyDigest(const std::map<std::string, std::string>& policies);

// Loads `dir` through `fs`: every regular file named `<name>.hcl` is one policy (other files and
// sub-directories are ignored; hidden files too). An empty `dir` yields the built-in policy only.
// Errors: kConfig naming the file for an unreadable directory or file, an invalid or reserved
// name, an empty file, or a file larger than 64 KiB.
Result<PolicySet> LoadPolicies(const std::string& dir, FileSystem& fs);

// The built-in policies only (no config directory).
PolicySet BuiltinPolicies();

// Differences between a desired set and what a Vault holds.
struct PolicyDrift {
  std::vector<std::string> missing;  // in config, not in Vault
  std::vector<std::string> changed;  // in both, text differs
  std::vector<std::string> extra;    // in Vault, not in config (root and default excluded)
  size_t count() const { return missing.size() + changed.size() + extra.size(); }
  bool empty() const { return count() == 0; }
  std::string Describe() const;  // "missing: a, b; changed: c; extra: d" or "none"
};

}  // namespace vigie::vault
