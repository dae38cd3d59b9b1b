#pragma once
// Test-only: loads one awslabs aws-c-auth SigV4 reference vector from
// tests/data/aws-sigv4/<name>/ (see ORIGIN.md there) into plain structs.

#include <string>
#include <vector>

#include "base/env.h"
#include "base/error.h"
#include "cloud/sigv4.h"

namespace vigie::cloud::testing {

struct SigV4Vector {
  std::string name;
  // request.txt
  std::string method;
  std::string target;  // request-target as written ("/?a=b", "/example space/")
  std::string path;
  std::string query;
  HeaderList headers;  // obs-folded continuation lines are kept, joined with "\n"
  std::string body;
  // context.json
  AwsCredentials credentials;
  std::string region;
  std::string service;
  WallTime time;
  bool normalize = true;
  bool sign_body = false;
  bool omit_session_token = false;
  // expected header-form results
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;
  std::string authorization;  // value of the Authorization line of header-signed-request.txt
  HeaderList signed_request_headers;
};

// Every folder of the awslabs aws-c-auth v4 suite vendored in tests/data/aws-sigv4.
std::vector<std::string> SigV4VectorNames();
// Directory holding the vectors (<SourceDir()>/tests/data/aws-sigv4).
std::string SigV4VectorDir();
Result<SigV4Vector> LoadSigV4Vector(const std::string& name);

}  // namespace vigie::cloud::testing
