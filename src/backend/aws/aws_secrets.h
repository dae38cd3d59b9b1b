#pragma once
// AwsSecrets: the "aws" SecretsBackend — AWS Secrets Manager, JSON 1.1 protocol
// (X-Amz-Target: secretsmanager.<Op>, Content-Type application/x-amz-json-1.1).
//
// Choices:
//  - Values are stored as SecretBinary (base64 on the wire), never SecretString: vigie's secrets
//    are arbitrary bytes (Shamir shares, keys) and SecretString would have to be valid UTF-8.
//    Get() also reads a SecretString written by someone else, as its bytes.
//  - `request_token` becomes Secrets Manager's ClientRequestToken (and so the VersionId) through
//    AwsClientRequestToken(): used as-is when it already is 32..64 characters of [A-Za-z0-9_-],
//    else a UUID-shaped token derived from it with SHA-256. The mapping is deterministic, so a
//    retry after a crash or a lost reply sends the same token and AWS treats it as the same
//    request. An empty request_token is refused (there would be nothing to make a retry safe).
//  - Idempotency, whatever the emulator's leniency: Create on an existing name looks up the
//    version named by the token and succeeds only when its value is equal (constant-time);
//    PutVersion looks that version up first and returns it unchanged when the value is equal.
//    A different value under the same token, or an existing name created by another token, is
//    kAlreadyExists.
//  - Delete uses ForceDeleteWithoutRecovery=true: it is provisioning's compensation step, and a
//    scheduled deletion (7..30 days of recovery window) would keep the name reserved, so a re-run
//    of provisioning would fail on CreateSecret. ResourceNotFoundException counts as done.
//
// Errors: ResourceExistsException -> kAlreadyExists, ResourceNotFoundException -> kNotFound,
// InvalidRequestException (e.g. the name is scheduled for deletion) -> kFailedPrecondition, the
// rest as cloud::AwsErrorFromResponse maps them. Messages name the secret, never its value.
//
// Ownership: borrows the AwsClient, which must outlive this object.
// Thread-safety: no mutable state; safe from several threads when the AwsClient's HttpClient is.
// SECURITY: request bodies carrying a value are assembled in one pre-sized buffer (no
// reallocation leaves a stray copy) and handed to AwsClient::Call; the base64 text, reply bodies
// and parsed JSON holding a value are wiped here. Nothing is logged but names and version ids.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backend/secrets.h"
#include "cloud/aws_client.h"

namespace vigie::backend {

struct AwsSecretsOptions {
  std::string region;  // Secrets Manager region (config aws.region). Required.
};

// The ClientRequestToken sent for `request_token` (see the header comment). Deterministic.
// REQUIRES: !request_token.empty().
std::string AwsClientRequestToken(std::string_view request_token);

class AwsSecrets final : public SecretsBackend {
 public:
  // Errors: kInvalidArgument when options.region is empty or not [a-z0-9-]+.
  static Result<std::unique_ptr<AwsSecrets>> Create(const cloud::AwsClient& client,
                                                    AwsSecretsOptions options);

  std::string_view Name() const override { return "aws"; }

  // Secret names: 1..512 characters of [A-Za-z0-9/_+=.@-] (AWS's rule); kInvalidArgument else.
  // CreateSecret{Name, ClientRequestToken, SecretBinary, Tags}. The version gets AWSCURRENT.
  Result<SecretVersion> Create(const std::string& name, const SecretBytes& value, const Tags& tags,
                               const std::string& request_token) override;
  // PutSecretValue{SecretId, ClientRequestToken, SecretBinary[, VersionStages]}.
  Result<SecretVersion> PutVersion(const std::string& name, const SecretBytes& value,
                                   const std::string& request_token,
                                   const std::vector<std::string>& stages = {}) override;
  // GetSecretValue{SecretId, VersionId | VersionStage}.
  Result<SecretBytes> Get(const std::string& name, const std::string& stage = "AWSCURRENT",
                          const std::string& version_id = "") override;
  // ListSecrets with Filters=[{Key:name, Values:[prefix]}], every page; each name is re-checked
  // to start with `prefix` exactly (AWS's name filter is a looser, case-insensitive prefix match).
  // An empty prefix lists every secret the caller may see.
  Result<std::vector<SecretInfo>> List(const std::string& prefix) override;
  // DeleteSecret{SecretId, ForceDeleteWithoutRecovery: true}.
  Status Delete(const std::string& name) override;

 private:
  AwsSecrets(const cloud::AwsClient& client, AwsSecretsOptions options)
      : client_(client), options_(std::move(options)) {}

  // GetSecretValue by version id; the reply's ARN, name, stages and value.
  struct Fetched;
  Result<Fetched> Fetch(const std::string& name, const std::string& stage,
                        const std::string& version_id);
  Result<SecretVersion> SameVersionOrConflict(const std::string& name, const SecretBytes& value,
                                              const std::string& token, const Error& cause);

  const cloud::AwsClient& client_;
  AwsSecretsOptions options_;
};

}  // namespace vigie::backend
