#include "backend/aws/aws_identity.h"

#include <fmt/format.h>

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <istream>
#include <map>
#include <streambuf>

#include "backend/aws/aws_common.h"
#include "base/encoding.h"
#include "backend/policy.h"
#include "base/log.h"
#include "base/secret.h"

namespace vigie::backend {
namespace {

namespace pt = boost::property_tree;
using aws_internal::QueryForm;

constexpr char kIamVersion[] = "2010-05-08";
constexpr char kIamRegion[] = "us-east-1";
constexpr char kUserPrefix[] = "vigie-site-";
constexpr char kSiteTag[] = "site";
constexpr char kManagedByTag[] = "managed-by";
constexpr char kManagedByValue[] = "vigie";

// Lets the XML parser read a reply in place, so that the only copies of a secret-bearing reply
// are the body we wipe, the parser's transient buffer and the tree we wipe.
class ViewBuf : public std::streambuf {
 public:
  ViewBuf(char* data, size_t size) { setg(data, data, data + size); }
};

// Parses an IAM reply and returns its <Action>Result element (empty for actions without one,
// e.g. PutUserPolicy). SECURITY: when `wipe_body`, the body is wiped whatever the outcome.
Result<pt::ptree> ParseIamReply(std::string& body, const std::string& action, bool wipe_body) {
  pt::ptree tree;
  std::string parse_error;
  try {
    ViewBuf buf(body.data(), body.size());
    std::istream in(&buf);
    pt::read_xml(in, tree, pt::xml_parser::no_comments);
  } catch (const pt::ptree_error& e) {
    parse_error = e.what();
  }
  if (wipe_body) WipeString(body);
  if (!parse_error.empty()) {
    // The parser's message may quote the reply: only name the action.
    return MakeError(ErrorCode::kUnavailable,
                     fmt::format("aws iam {}: the reply is not well-formed XML; check that the "
                                 "endpoint is IAM or a compatible emulator",
                                 action));
  }
  auto response = tree.get_child_optional(action + "Response");
  if (!response) {
    return MakeError(ErrorCode::kUnavailable,
                     fmt::format("aws iam {}: the reply has no <{}Response> element; check that "
                                 "the endpoint is IAM or a compatible emulator",
                                 action, action));
  }
  auto result = response->get_child_optional(action + "Result");
  return result ? std::move(*result) : pt::ptree();
}

// Sends one IAM action; returns its <Action>Result element.
Result<pt::ptree> Iam(const cloud::AwsClient& client, const QueryForm& form,
                      bool secret_reply = false) {
  auto response = client.Call("iam", kIamRegion, "POST", "/", "",
                              {{"Content-Type", aws_internal::kFormContentType}}, form.body());
  if (!response) return tl::unexpected(std::move(response).error());
  return ParseIamReply(response->body, form.action(), secret_reply);
}

std::string Text(const pt::ptree& t, const std::string& path) {
  return t.get<std::string>(path, "");
}

// Children named <member> of the element at `path` (IAM's list encoding).
std::vector<const pt::ptree*> Members(const pt::ptree& t, const std::string& path) {
  std::vector<const pt::ptree*> out;
  auto list = t.get_child_optional(path);
  if (!list) return out;
  for (const auto& [name, child] : *list) {
    if (name == "member") out.push_back(&child);
  }
  return out;
}

WallTime TimeOf(const pt::ptree& user) {
  auto t = aws_internal::ParseIso8601(Text(user, "CreateDate"));
  return t ? *t : WallTime{};
}

Status CheckSiteId(std::string_view site_id) {
  bool ok =
      !site_id.empty() && site_id.size() <= AwsIdentity::kMaxSiteIdLength && site_id.front() != '-';
  for (char c : site_id) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  }
  if (!ok) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("site id '{}' is not valid for the aws identity backend: it must "
                                 "match [a-z0-9][a-z0-9-]{{0,{}}} (IAM user names are at most 64 "
                                 "characters, \"vigie-site-\" included)",
                                 site_id.substr(0, 80), AwsIdentity::kMaxSiteIdLength - 1));
  }
  return OkStatus();
}

bool IsNotFound(const Error& e) { return e.code == ErrorCode::kNotFound; }

Error InSite(const Error& e, std::string_view site_id) {
  return e.Wrap(fmt::format("aws identity, site {}", site_id));
}

}  // namespace

std::string AwsIdentity::UserNameFor(std::string_view site_id) {
  return fmt::format("{}{}", kUserPrefix, site_id);
}

Result<std::unique_ptr<AwsIdentity>> AwsIdentity::Create(const cloud::AwsClient& client,
                                                         AwsIdentityOptions options) {
  const std::string& path = options.iam_path;
  bool ok = !path.empty() && path.size() <= 512 && path.front() == '/' && path.back() == '/' &&
            path.find("//") == std::string::npos;
  for (char c : path) ok = ok && c > 0x20 && c < 0x7f;
  if (!ok) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("aws.iam_path '{}' must be \"/\" or \"/segment/.../\" (printable "
                                 "ASCII, no spaces, at most 512 characters), e.g. /vigie/sites/",
                                 path.substr(0, 80)));
  }
  return std::unique_ptr<AwsIdentity>(new AwsIdentity(client, std::move(options)));
}

namespace {

// Ownership check: vigie adopts, changes or deletes only a user it created for this site.
Status CheckOwned(const pt::ptree& user, const std::string& site_id, const std::string& iam_path) {
  std::map<std::string, std::string> tags;
  for (const pt::ptree* m : Members(user, "Tags")) tags[Text(*m, "Key")] = Text(*m, "Value");
  const std::string name = Text(user, "UserName");
  const std::string path = Text(user, "Path");
  std::string why;
  if (path != iam_path) {
    why = fmt::format("its path is '{}', not '{}'", path, iam_path);
  } else if (tags[kSiteTag] != site_id) {
    why = tags.contains(kSiteTag)
              ? fmt::format("its tag site='{}' names another site", tags[kSiteTag])
              : "it has no site tag";
  } else if (tags[kManagedByTag] != kManagedByValue) {
    why = "it has no managed-by=vigie tag";
  }
  if (why.empty()) return OkStatus();
  return MakeError(ErrorCode::kConflict,
                   fmt::format("IAM user '{}' exists but was not created by vigie for site '{}' "
                               "({}); vigie never adopts a foreign user (PROV_001): rename or "
                               "remove that user, or choose another site id",
                               name, site_id, why));
}

Principal PrincipalOf(const pt::ptree& user, const std::string& site_id) {
  return Principal{.site_id = site_id,
                   .name = Text(user, "UserName"),
                   .arn = Text(user, "Arn"),
                   .policy_document = "",
                   .created_at = TimeOf(user)};
}

Result<pt::ptree> GetUser(const cloud::AwsClient& client, const std::string& user_name) {
  VIGIE_ASSIGN_OR_RETURN(pt::ptree result,
                         Iam(client, QueryForm("GetUser", kIamVersion).Add("UserName", user_name)));
  auto user = result.get_child_optional("User");
  if (!user) {
    return MakeError(ErrorCode::kUnavailable,
                     "aws iam GetUser: the reply has no <User> element; check that the endpoint "
                     "is IAM or a compatible emulator");
  }
  return std::move(*user);
}

}  // namespace

Result<Principal> AwsIdentity::EnsurePrincipal(const SiteScope& scope) {
  VIGIE_RETURN_IF_ERROR(ValidateSiteScope(scope));
  VIGIE_RETURN_IF_ERROR(CheckSiteId(scope.site_id));
  const std::string& site = scope.site_id;
  const std::string user_name = UserNameFor(site);
  const std::string policy = SitePolicyDocument(scope);

  bool created = false;
  auto user = GetUser(client_, user_name);
  if (!user && IsNotFound(user.error())) {
    QueryForm create("CreateUser", kIamVersion);
    create.Add("Path", options_.iam_path)
        .Add("UserName", user_name)
        .Add("Tags.member.1.Key", kSiteTag)
        .Add("Tags.member.1.Value", site)
        .Add("Tags.member.2.Key", kManagedByTag)
        .Add("Tags.member.2.Value", kManagedByValue);
    auto result = Iam(client_, create);
    if (result) {
      auto u = result->get_child_optional("User");
      if (!u) {
        return MakeError(ErrorCode::kUnavailable,
                         "aws iam CreateUser: the reply has no <User> element");
      }
      user = std::move(*u);
      created = true;
    } else if (result.error().code == ErrorCode::kAlreadyExists) {
      // Another run created it between our GetUser and CreateUser: check whose it is.
      user = GetUser(client_, user_name);
    } else {
      return tl::unexpected(InSite(result.error(), site));
    }
  }
  if (!user) return tl::unexpected(InSite(user.error(), site));
  if (!created) VIGIE_RETURN_IF_ERROR(CheckOwned(*user, site, options_.iam_path));

  auto put = Iam(client_, QueryForm("PutUserPolicy", kIamVersion)
                              .Add("UserName", user_name)
                              .Add("PolicyName", user_name)
                              .Add("PolicyDocument", policy));
  if (!put) return tl::unexpected(InSite(put.error(), site));

  Principal p = PrincipalOf(*user, site);
  p.policy_document = policy;
  log::Info("backend.aws.principal.ensured",
            {{"site", site}, {"user", user_name}, {"created", created}});
  return p;
}

Result<Principal> AwsIdentity::GetPrincipal(const std::string& site_id) {
  VIGIE_RETURN_IF_ERROR(CheckSiteId(site_id));
  auto user = GetUser(client_, UserNameFor(site_id));
  if (!user) return tl::unexpected(InSite(user.error(), site_id));
  VIGIE_RETURN_IF_ERROR(CheckOwned(*user, site_id, options_.iam_path));
  Principal p = PrincipalOf(*user, site_id);
  auto policy = GetUserPolicyDocument(site_id);
  if (policy) {
    p.policy_document = std::move(*policy);
  } else if (!IsNotFound(policy.error())) {
    return tl::unexpected(policy.error());
  }
  return p;
}

Result<std::vector<Principal>> AwsIdentity::ListPrincipals() {
  std::vector<Principal> out;
  std::string marker;
  for (int page = 0; page < 10000; ++page) {
    QueryForm list("ListUsers", kIamVersion);
    list.Add("PathPrefix", options_.iam_path).Add("MaxItems", "100");
    if (!marker.empty()) list.Add("Marker", marker);
    auto result = Iam(client_, list);
    if (!result) return tl::unexpected(result.error().Wrap("aws identity: listing site users"));
    for (const pt::ptree* user : Members(*result, "Users")) {
      const std::string name = Text(*user, "UserName");
      // PathPrefix matches by prefix: keep the exact path and vigie's naming only.
      if (Text(*user, "Path") != options_.iam_path || !name.starts_with(kUserPrefix)) continue;
      out.push_back(PrincipalOf(*user, name.substr(sizeof(kUserPrefix) - 1)));
    }
    if (Text(*result, "IsTruncated") != "true") return out;
    marker = Text(*result, "Marker");
    if (marker.empty()) {
      return MakeError(ErrorCode::kUnavailable,
                       "aws iam ListUsers: IsTruncated is true but the reply has no Marker");
    }
  }
  return MakeError(ErrorCode::kResourceExhausted, "aws iam ListUsers: more than 10000 pages");
}

Result<AccessKey> AwsIdentity::CreateAccessKey(const std::string& site_id) {
  VIGIE_RETURN_IF_ERROR(CheckSiteId(site_id));
  auto result =
      Iam(client_, QueryForm("CreateAccessKey", kIamVersion).Add("UserName", UserNameFor(site_id)),
          /*secret_reply=*/true);
  if (!result) {
    Error e = result.error();
    if (IsNotFound(e)) {
      e = aws_internal::Recode(
          e, ErrorCode::kNotFound,
          "the site has no IAM user yet: provision it (EnsurePrincipal) first");
    } else if (aws_internal::AwsCodeOf(e) == "LimitExceeded") {
      e = aws_internal::Recode(e, ErrorCode::kResourceExhausted,
                               "IAM allows two access keys per user: delete an old key first");
    }
    return tl::unexpected(InSite(e, site_id));
  }
  AccessKey key;
  key.access_key_id = Text(*result, "AccessKey.AccessKeyId");
  auto secret = result->get_child_optional("AccessKey.SecretAccessKey");
  if (secret) {
    key.secret_access_key = SecretBytes::CopyFrom(std::string_view(secret->data()));
    WipeString(secret->data());
  }
  if (key.access_key_id.empty() || key.secret_access_key.empty()) {
    return MakeError(ErrorCode::kUnavailable,
                     fmt::format("aws identity, site {}: aws iam CreateAccessKey: the reply lacks "
                                 "AccessKeyId or SecretAccessKey; delete any half-created key "
                                 "with ListAccessKeyIds / DeleteAccessKey",
                                 site_id));
  }
  log::Info("backend.aws.access_key.created",
            {{"site", site_id}, {"access_key_id", key.access_key_id}});
  return key;
}

Result<std::vector<std::string>> AwsIdentity::ListAccessKeyIds(const std::string& site_id) {
  VIGIE_RETURN_IF_ERROR(CheckSiteId(site_id));
  std::vector<std::string> ids;
  std::string marker;
  for (int page = 0; page < 1000; ++page) {
    QueryForm list("ListAccessKeys", kIamVersion);
    list.Add("UserName", UserNameFor(site_id));
    if (!marker.empty()) list.Add("Marker", marker);
    auto result = Iam(client_, list);
    if (!result) return tl::unexpected(InSite(result.error(), site_id));
    for (const pt::ptree* m : Members(*result, "AccessKeyMetadata")) {
      ids.push_back(Text(*m, "AccessKeyId"));
    }
    if (Text(*result, "IsTruncated") != "true") return ids;
    marker = Text(*result, "Marker");
    if (marker.empty()) {
      return MakeError(ErrorCode::kUnavailable,
                       "aws iam ListAccessKeys: IsTruncated is true but the reply has no Marker");
    }
  }
  return MakeError(ErrorCode::kResourceExhausted, "aws iam ListAccessKeys: more than 1000 pages");
}

Status AwsIdentity::DeleteAccessKey(const std::string& site_id, const std::string& key_id) {
  VIGIE_RETURN_IF_ERROR(CheckSiteId(site_id));
  auto result = Iam(client_, QueryForm("DeleteAccessKey", kIamVersion)
                                 .Add("UserName", UserNameFor(site_id))
                                 .Add("AccessKeyId", key_id));
  if (!result && !IsNotFound(result.error()))
    return tl::unexpected(InSite(result.error(), site_id));
  if (result) {
    log::Info("backend.aws.access_key.deleted", {{"site", site_id}, {"access_key_id", key_id}});
  }
  return OkStatus();
}

Status AwsIdentity::DeletePrincipal(const std::string& site_id) {
  VIGIE_RETURN_IF_ERROR(CheckSiteId(site_id));
  const std::string user_name = UserNameFor(site_id);
  auto user = GetUser(client_, user_name);
  if (!user) {
    if (IsNotFound(user.error())) return OkStatus();
    return tl::unexpected(InSite(user.error(), site_id));
  }
  VIGIE_RETURN_IF_ERROR(CheckOwned(*user, site_id, options_.iam_path));

  auto keys = ListAccessKeyIds(site_id);
  if (!keys) return IsNotFound(keys.error()) ? OkStatus() : Status(tl::unexpected(keys.error()));
  for (const std::string& key : *keys) VIGIE_RETURN_IF_ERROR(DeleteAccessKey(site_id, key));

  std::string marker;
  for (int page = 0; page < 1000; ++page) {
    QueryForm list("ListUserPolicies", kIamVersion);
    list.Add("UserName", user_name);
    if (!marker.empty()) list.Add("Marker", marker);
    auto policies = Iam(client_, list);
    if (!policies) {
      if (IsNotFound(policies.error())) return OkStatus();
      return tl::unexpected(InSite(policies.error(), site_id));
    }
    for (const pt::ptree* m : Members(*policies, "PolicyNames")) {
      auto del = Iam(client_, QueryForm("DeleteUserPolicy", kIamVersion)
                                  .Add("UserName", user_name)
                                  .Add("PolicyName", m->data()));
      if (!del && !IsNotFound(del.error())) return tl::unexpected(InSite(del.error(), site_id));
    }
    if (Text(*policies, "IsTruncated") != "true") break;
    marker = Text(*policies, "Marker");
    if (marker.empty()) break;
  }

  auto del = Iam(client_, QueryForm("DeleteUser", kIamVersion).Add("UserName", user_name));
  if (!del) {
    Error e = del.error();
    if (IsNotFound(e)) return OkStatus();
    if (aws_internal::AwsCodeOf(e) == "DeleteConflict") {
      e = aws_internal::Recode(e, ErrorCode::kConflict,
                               "the user holds resources vigie did not create (managed policies, "
                               "groups, a login profile, MFA devices): detach them, then retry");
    }
    return tl::unexpected(InSite(e, site_id));
  }
  log::Info("backend.aws.principal.deleted", {{"site", site_id}, {"user", user_name}});
  return OkStatus();
}

Result<std::string> AwsIdentity::GetUserPolicyDocument(const std::string& site_id) const {
  VIGIE_RETURN_IF_ERROR(CheckSiteId(site_id));
  const std::string user_name = UserNameFor(site_id);
  auto result = Iam(client_, QueryForm("GetUserPolicy", kIamVersion)
                                 .Add("UserName", user_name)
                                 .Add("PolicyName", user_name));
  if (!result) return tl::unexpected(InSite(result.error(), site_id));
  auto doc = PercentDecode(Text(*result, "PolicyDocument"));
  if (!doc) {
    return tl::unexpected(doc.error().Wrap(
        fmt::format("aws identity, site {}: aws iam GetUserPolicy: PolicyDocument", site_id)));
  }
  return doc;
}

}  // namespace vigie::backend
