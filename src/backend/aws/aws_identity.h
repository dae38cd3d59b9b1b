#pragma once
// AwsIdentity: the "aws" IdentityBackend — one IAM user per site (PROV_001), through the IAM query
// API (POST form bodies, Action=...&Version=2010-05-08, service "iam", region "us-east-1").
//
// Per site <id> it manages:
//  - the IAM user "vigie-site-<id>" under `iam_path` (config aws.iam_path, default
//    "/vigie/sites/"), tagged site=<id> and managed-by=vigie;
//  - its inline policy "vigie-site-<id>" = SitePolicyDocument(scope) (backend/policy.h), which
//    names only the site's own S3 prefix, secrets path and KMS key;
//  - its access keys, created by IAM (PROV_002).
// A user of that name that vigie did not create for this site (other path, missing or different
// site / managed-by tag) is never adopted, changed or deleted: kConflict.
//
// Ownership: borrows the AwsClient, which must outlive this object.
// Thread-safety: no mutable state; safe from several threads when the AwsClient's HttpClient is.
// SECURITY: the secret access key of CreateAccessKey goes straight from the reply into
// SecretBytes; the reply body and the parsed copy are wiped (the XML parser's own transient copy
// of the reply, inside Boost.PropertyTree, is freed unwiped: a known limit). Nothing is logged
// but site ids, user names and key ids.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backend/identity.h"
#include "base/error.h"
#include "cloud/aws_client.h"

namespace vigie::backend {

struct AwsIdentityOptions {
  // IAM path of the per-site users: "/" or "/seg/.../" (config aws.iam_path).
  std::string iam_path = "/vigie/sites/";
};

class AwsIdentity final : public IdentityBackend {
 public:
  // IAM user names are at most 64 characters: "vigie-site-" leaves 53 for the site id.
  static constexpr size_t kMaxSiteIdLength = 53;

  // Errors: kInvalidArgument when options.iam_path is not "/" or "/seg/.../" (512 chars max,
  // printable ASCII, no whitespace).
  static Result<std::unique_ptr<AwsIdentity>> Create(const cloud::AwsClient& client,
                                                     AwsIdentityOptions options = {});

  std::string_view Name() const override { return "aws"; }

  // GetUser; when absent CreateUser (path, tags); then PutUserPolicy with the site's policy
  // (re-applied on every call). Errors: kInvalidArgument (scope, see ValidateSiteScope; site id
  // longer than kMaxSiteIdLength), kConflict (a foreign user holds the name), AWS errors.
  Result<Principal> EnsurePrincipal(const SiteScope& scope) override;
  // The user and its applied policy document. kNotFound when the site has no user; kConflict
  // when the user of that name is not vigie's for this site.
  Result<Principal> GetPrincipal(const std::string& site_id) override;
  // Users under iam_path named "vigie-site-*" (ListUsers, every page). policy_document is left
  // empty here (one extra call per user): use GetPrincipal / GetUserPolicyDocument.
  Result<std::vector<Principal>> ListPrincipals() override;

  // kNotFound when the site has no user; kResourceExhausted when IAM's limit of two keys per
  // user is reached (delete one first).
  Result<AccessKey> CreateAccessKey(const std::string& site_id) override;
  Result<std::vector<std::string>> ListAccessKeyIds(const std::string& site_id) override;
  // Deleting a missing key, or a key of a missing user, succeeds.
  Status DeleteAccessKey(const std::string& site_id, const std::string& key_id) override;
  // Compensation: every access key, every inline policy, then the user; NoSuchEntity at any
  // step counts as done. kConflict when the user is not vigie's for this site (nothing deleted)
  // or IAM refuses (DeleteConflict: resources vigie did not attach, e.g. managed policies).
  Status DeletePrincipal(const std::string& site_id) override;

  // The inline policy as IAM holds it (GetUserPolicy, URL-decoded JSON). kNotFound when the user
  // or the policy is missing. For tests and compliance checks (PROV_001).
  Result<std::string> GetUserPolicyDocument(const std::string& site_id) const;

  // "vigie-site-<site_id>": the user name and the inline policy name.
  static std::string UserNameFor(std::string_view site_id);

 private:
  AwsIdentity(const cloud::AwsClient& client, AwsIdentityOptions options)
      : client_(client), options_(std::move(options)) {}

  const cloud::AwsClient& client_;
  AwsIdentityOptions options_;
};

}  // namespace vigie::backend
