#pragma once
// The per-site policy document (PROV_001): the one definition of what a site's principal may do,
// shared by every IdentityBackend ("local" stores it, "aws" applies it as the IAM user's inline
// policy), so both produce the same JSON for the same scope.
//
// The policy allows only:
//  - s3:GetObject, s3:PutObject on arn:aws:s3:::<bucket>/<prefix>*, and s3:ListBucket on
//    arn:aws:s3:::<bucket> with the condition s3:prefix like "<prefix>*" (omitted when the scope
//    has no bucket);
//  - secretsmanager:GetSecretValue, PutSecretValue, DescribeSecret on
//    arn:aws:secretsmanager:<region>:*:secret:<secrets_prefix>*;
//  - kms:Encrypt, kms:Decrypt, kms:GenerateDataKey on the site's key ARN (omitted when the scope
//    has no key yet).
// Nothing else: no wildcard action, no other bucket, path or key.
//
// Thread-safety: pure functions, safe from any thread.

#include <string>

#include "backend/identity.h"
#include "base/error.h"

namespace vigie::backend {

// The IAM policy language version every vigie policy declares.
inline constexpr const char* kIamPolicyVersion = "2012-10-17";

// Checks that `scope` cannot widen a policy beyond its site:
//  - site_id matches [a-z0-9][a-z0-9-]{0,62};
//  - region matches [a-z0-9-]{1,32};
//  - secrets_prefix, and s3_prefix when s3_bucket is set, end with '/' and contain the site id as
//    one path segment ("vigie/sites/<id>/"), so "<prefix>*" matches this site's objects only;
//  - no field holds a wildcard ('*', '?'), a quote, a control character or whitespace;
//  - s3_bucket, when set, is a plausible bucket name ([a-z0-9.-]{3,63}).
// Errors: kInvalidArgument naming the field, the value and the rule (PROV_001).
Status ValidateSiteScope(const SiteScope& scope);

// The policy document for `scope`, as compact JSON (IAM policy grammar, statements in a fixed
// order, so equal scopes give byte-identical documents).
// REQUIRES: ValidateSiteScope(scope) succeeded.
std::string SitePolicyDocument(const SiteScope& scope);

// The one naming convention of a site's secrets, shared by provisioning (which writes them) and
// the fleet manager (which reads the agent secret to verify a site's requests):
// "vigie/sites/<site>/" and "vigie/sites/<site>/agent-api-secret".
std::string SiteSecretsPrefix(std::string_view site);
std::string AgentApiSecretName(std::string_view site);

}  // namespace vigie::backend
