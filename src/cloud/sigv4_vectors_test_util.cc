#include "cloud/sigv4_vectors_test_util.h"

#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "testing/temp_dir.h"

namespace vigie::cloud::testing {

namespace {

Result<std::string> Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(ErrorCode::kNotFound, "cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Parses an HTTP/1.1 message as the suite writes it: LF line ends, "Name:value" headers,
// continuation lines starting with whitespace, a blank line before the body.
void ParseMessage(const std::string& text, std::string* request_line, HeaderList* headers,
                  std::string* body) {
  size_t pos = 0;
  bool first = true;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (first) {
      *request_line = line;
      first = false;
      continue;
    }
    if (line.empty()) {
      if (pos <= text.size()) *body = text.substr(pos);
      return;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !headers->empty()) {
      headers->back().second += "\n" + line;
      continue;
    }
    size_t colon = line.find(':');
    headers->emplace_back(line.substr(0, colon),
                          colon == std::string::npos ? "" : line.substr(colon + 1));
  }
}

}  // namespace

std::vector<std::string> SigV4VectorNames() {
  return {
      "get-header-key-duplicate",
      "get-header-value-multiline",
      "get-header-value-order",
      "get-header-value-trim",
      "get-relative-normalized",
      "get-relative-relative-normalized",
      "get-relative-relative-unnormalized",
      "get-relative-unnormalized",
      "get-slash-dot-slash-normalized",
      "get-slash-dot-slash-unnormalized",
      "get-slash-normalized",
      "get-slash-pointless-dot-normalized",
      "get-slash-pointless-dot-unnormalized",
      "get-slash-unnormalized",
      "get-slashes-normalized",
      "get-slashes-unnormalized",
      "get-space-normalized",
      "get-space-unnormalized",
      "get-unreserved",
      "get-utf8",
      "get-vanilla",
      "get-vanilla-empty-query-key",
      "get-vanilla-query",
      "get-vanilla-query-order-encoded",
      "get-vanilla-query-order-key-case",
      "get-vanilla-query-unreserved",
      "get-vanilla-utf8-query",
      "get-vanilla-with-session-token",
      "post-header-key-case",
      "post-header-key-sort",
      "post-header-value-case",
      "post-sts-header-after",
      "post-sts-header-before",
      "post-vanilla",
      "post-vanilla-empty-query-value",
      "post-vanilla-query",
      "post-x-www-form-urlencoded",
      "post-x-www-form-urlencoded-parameters",
  };
}

std::string SigV4VectorDir() { return vigie::testing::SourceDir() + "/tests/data/aws-sigv4"; }

Result<SigV4Vector> LoadSigV4Vector(const std::string& name) {
  const std::string dir = SigV4VectorDir() + "/" + name + "/";
  SigV4Vector v;
  v.name = name;
  VIGIE_ASSIGN_OR_RETURN(std::string request, Slurp(dir + "request.txt"));
  std::string request_line;
  ParseMessage(request, &request_line, &v.headers, &v.body);
  size_t sp1 = request_line.find(' ');
  size_t sp2 = request_line.rfind(' ');
  v.method = request_line.substr(0, sp1);
  v.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t qmark = v.target.find('?');
  v.path = v.target.substr(0, qmark);
  if (qmark != std::string::npos) v.query = v.target.substr(qmark + 1);

  VIGIE_ASSIGN_OR_RETURN(std::string context_text, Slurp(dir + "context.json"));
  auto ctx = nlohmann::json::parse(context_text, nullptr, /*allow_exceptions=*/false);
  if (ctx.is_discarded()) return MakeError(ErrorCode::kInvalidArgument, dir + "context.json");
  const auto& c = ctx["credentials"];
  v.credentials.access_key_id = c.value("access_key_id", "");
  v.credentials.secret_access_key =
      SecretBytes::CopyFrom(std::string_view(c.value("secret_access_key", "")));
  v.credentials.session_token = SecretBytes::CopyFrom(std::string_view(c.value("token", "")));
  v.region = ctx.value("region", "");
  v.service = ctx.value("service", "");
  v.normalize = ctx.value("normalize", true);
  v.sign_body = ctx.value("sign_body", false);
  v.omit_session_token = ctx.value("omit_session_token", false);
  std::tm tm{};
  std::string ts = ctx.value("timestamp", "");
  if (strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) == nullptr) {
    return MakeError(ErrorCode::kInvalidArgument, dir + "context.json: bad timestamp " + ts);
  }
  v.time = std::chrono::system_clock::from_time_t(timegm(&tm));

  VIGIE_ASSIGN_OR_RETURN(v.canonical_request, Slurp(dir + "header-canonical-request.txt"));
  VIGIE_ASSIGN_OR_RETURN(v.string_to_sign, Slurp(dir + "header-string-to-sign.txt"));
  VIGIE_ASSIGN_OR_RETURN(v.signature, Slurp(dir + "header-signature.txt"));
  VIGIE_ASSIGN_OR_RETURN(std::string signed_request, Slurp(dir + "header-signed-request.txt"));
  std::string ignored_line, ignored_body;
  ParseMessage(signed_request, &ignored_line, &v.signed_request_headers, &ignored_body);
  for (const auto& [k, val] : v.signed_request_headers) {
    if (k == "Authorization") v.authorization = val;
  }
  return v;
}

}  // namespace vigie::cloud::testing
