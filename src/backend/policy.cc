#include "backend/policy.h"

#include <fmt/format.h>

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

namespace vigie::backend {
namespace {

using Json = nlohmann::ordered_json;

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool ValidSiteId(std::string_view id) {
  if (id.empty() || id.size() > 63 || !IsLowerAlnum(id[0])) return false;
  for (char c : id) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

// Characters that would change the meaning of an ARN pattern or break out of a JSON string /
// condition value. nlohmann escapes JSON, but '*' and '?' are IAM wildcards: refuse them.
bool HasForbiddenChar(std::string_view s) {
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f || c == '*' || c == '?' || c == '"' || c == '\\') return true;
  }
  return false;
}

// True when `prefix` ends with '/' and one of its '/'-separated segments equals `site_id`.
bool PrefixNamesSite(std::string_view prefix, std::string_view site_id) {
  if (prefix.empty() || prefix.back() != '/') return false;
  size_t start = 0;
  while (start < prefix.size()) {
    size_t end = prefix.find('/', start);
    if (prefix.substr(start, end - start) == site_id) return true;
    start = end + 1;
  }
  return false;
}

Status FieldError(std::string_view field, std::string_view value, std::string_view rule) {
  return MakeError(ErrorCode::kInvalidArgument,
                   fmt::format("site scope field {}='{}' {} (PROV_001: a site's policy must name "
                               "only that site's own resources)",
                               field, value, rule));
}

}  // namespace

Status ValidateSiteScope(const SiteScope& scope) {
  if (!ValidSiteId(scope.site_id)) {
    return FieldError("site_id", scope.site_id, "must match [a-z0-9][a-z0-9-]{0,62}");
  }
  if (scope.region.empty() || scope.region.size() > 32) {
    return FieldError("region", scope.region, "must be 1..32 characters of [a-z0-9-]");
  }
  for (char c : scope.region) {
    if (!IsLowerAlnum(c) && c != '-') {
      return FieldError("region", scope.region, "must be 1..32 characters of [a-z0-9-]");
    }
  }
  const std::pair<std::string_view, const std::string*> fields[] = {
      {"s3_bucket", &scope.s3_bucket},
      {"s3_prefix", &scope.s3_prefix},
      {"secrets_prefix", &scope.secrets_prefix},
      {"kms_key_arn", &scope.kms_key_arn}};
  for (const auto& [name, value] : fields) {
    if (HasForbiddenChar(*value)) {
      return FieldError(name, *value,
                        "must not contain wildcards ('*', '?'), quotes, backslashes, spaces or "
                        "control characters");
    }
  }
  if (!PrefixNamesSite(scope.secrets_prefix, scope.site_id)) {
    return FieldError("secrets_prefix", scope.secrets_prefix,
                      fmt::format("must end with '/' and contain the site id '{}' as a path "
                                  "segment, e.g. 'vigie/sites/{}/'",
                                  scope.site_id, scope.site_id));
  }
  if (!scope.s3_bucket.empty()) {
    if (scope.s3_bucket.size() < 3 || scope.s3_bucket.size() > 63) {
      return FieldError("s3_bucket", scope.s3_bucket, "must be 3..63 characters of [a-z0-9.-]");
    }
    for (char c : scope.s3_bucket) {
      if (!IsLowerAlnum(c) && c != '-' && c != '.') {
        return FieldError("s3_bucket", scope.s3_bucket, "must be 3..63 characters of [a-z0-9.-]");
      }
    }
    if (!PrefixNamesSite(scope.s3_prefix, scope.site_id)) {
      return FieldError("s3_prefix", scope.s3_prefix,
                        fmt::format("must end with '/' and contain the site id '{}' as a path "
                                    "segment, e.g. 'sites/{}/'",
                                    scope.site_id, scope.site_id));
    }
  }
  return OkStatus();
}

std::string SitePolicyDocument(const SiteScope& scope) {
  // Built field by field (not with nested brace lists, whose one-element case nlohmann may read
  // as a copy rather than an array) so every Action and Resource is a JSON array.
  auto statement = [](std::string_view sid, std::initializer_list<std::string_view> actions,
                      std::string resource) {
    Json s = Json::object();
    s["Sid"] = sid;
    s["Effect"] = "Allow";
    s["Action"] = Json::array();
    for (std::string_view a : actions) s["Action"].push_back(a);
    s["Resource"] = Json::array();
    s["Resource"].push_back(std::move(resource));
    return s;
  };
  Json statements = Json::array();
  if (!scope.s3_bucket.empty()) {
    statements.push_back(
        statement("SiteObjects", {"s3:GetObject", "s3:PutObject"},
                  fmt::format("arn:aws:s3:::{}/{}*", scope.s3_bucket, scope.s3_prefix)));
    Json list = statement("SiteListPrefix", {"s3:ListBucket"},
                          fmt::format("arn:aws:s3:::{}", scope.s3_bucket));
    Json prefixes = Json::array();
    prefixes.push_back(scope.s3_prefix + "*");
    list["Condition"]["StringLike"]["s3:prefix"] = std::move(prefixes);
    statements.push_back(std::move(list));
  }
  statements.push_back(statement(
      "SiteSecrets",
      {"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
       "secretsmanager:DescribeSecret"},
      fmt::format("arn:aws:secretsmanager:{}:*:secret:{}*", scope.region, scope.secrets_prefix)));
  if (!scope.kms_key_arn.empty()) {
    statements.push_back(statement("SiteKey", {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"},
                                   scope.kms_key_arn));
  }
  Json doc = Json::object();
  doc["Version"] = kIamPolicyVersion;
  doc["Statement"] = std::move(statements);
  return doc.dump();
}

std::string SiteSecretsPrefix(std::string_view site) {
  return "vigie/sites/" + std::string(site) + "/";
}

std::string AgentApiSecretName(std::string_view site) {
  return SiteSecretsPrefix(site) + "agent-api-secret";
}

}  // namespace vigie::backend
