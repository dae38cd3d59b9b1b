#include "cloud/sigv4.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <map>

#include "base/encoding.h"

namespace vigie::cloud {

namespace {

// SHA-256 and HMAC-SHA256 straight from OpenSSL, private to this file so the signer does not
// depend on src/crypto (written in parallel); swap for crypto/hash.h once it lands.
using Digest = std::array<uint8_t, 32>;

Digest Sha256(std::string_view data) {
  Digest out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

Digest Hmac(std::span<const uint8_t> key, std::string_view data) {
  Digest out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return out;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ToLower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), Lower);
  return out;
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

// RFC 3986 §5.2.4 dot-segment removal plus collapsing of empty segments, as AWS normalises a path
// for every service but S3. A trailing '/' (or a trailing "." / "..") keeps the result a
// "directory" path.
std::string NormalizePath(std::string_view path) {
  std::vector<std::string_view> out;
  bool trailing_slash = false;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(pos, end - pos);
    bool last = end == path.size();
    if (seg.empty() || seg == ".") {
      trailing_slash = last;
    } else if (seg == "..") {
      if (!out.empty()) out.pop_back();
      trailing_slash = last;
    } else {
      out.push_back(seg);
      trailing_slash = false;
    }
    pos = end + 1;
  }
  std::string result = "/";
  for (size_t i = 0; i < out.size(); ++i) {
    if (i > 0) result += '/';
    result += out[i];
  }
  if (trailing_slash && !out.empty()) result += '/';
  return result;
}

// Header value canonical form: unfold obs-fold line breaks, trim, and collapse every run of
// spaces/tabs to one space.
std::string CanonicalHeaderValue(std::string_view v) {
  std::string out;
  bool pending_space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

std::string AmzDate(WallTime t, bool date_only) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), date_only ? "%Y%m%d" : "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

bool IsSignerOwned(std::string_view lower_name) {
  return lower_name == "authorization" || lower_name == "x-amz-date" ||
         lower_name == "x-amz-security-token";
}

}  // namespace

std::string SigV4UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256(data)); }

SigV4Options SigV4OptionsFor(std::string_view service) {
  SigV4Options o;
  if (service == "s3") {
    o.add_content_sha256_header = true;
    o.normalize_path = false;
    o.double_encode_path = false;
  }
  return o;
}

Result<SigV4Result> SigV4Sign(const SigV4Request& request, const AwsCredentials& credentials,
                              std::string_view region, std::string_view service, WallTime now,
                              const SigV4Options& options) {
  if (region.empty() || service.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "SigV4: region and service must not be empty");
  }
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "SigV4: the access key id and secret access key must not be empty");
  }
  const std::string amz_date = AmzDate(now, false);
  const std::string date = AmzDate(now, true);
  const std::string payload_hash =
      request.payload_hash.empty() ? Sha256Hex(request.body) : request.payload_hash;
  const bool has_token = !credentials.session_token.empty();

  // Canonical headers: lowercase names, sorted; repeated names joined with ',' in request order.
  std::map<std::string, std::string> canonical;
  bool has_host = false;
  for (const auto& [name, value] : request.headers) {
    std::string lower = ToLower(name);
    if (IsSignerOwned(lower)) {
      return MakeError(
          ErrorCode::kInvalidArgument,
          fmt::format("SigV4: request already has a '{}' header; the signer adds it", name));
    }
    has_host = has_host || lower == "host";
    auto [it, inserted] = canonical.try_emplace(lower, CanonicalHeaderValue(value));
    if (!inserted) it->second += "," + CanonicalHeaderValue(value);
  }
  if (!has_host) {
    return MakeError(ErrorCode::kInvalidArgument, "SigV4: the request has no Host header");
  }
  SigV4Result result;
  result.headers_to_add.emplace_back("X-Amz-Date", amz_date);
  canonical["x-amz-date"] = amz_date;
  if (options.add_content_sha256_header) {
    canonical["x-amz-content-sha256"] = payload_hash;
    result.headers_to_add.emplace_back("x-amz-content-sha256", payload_hash);
  }
  if (has_token) {
    if (options.sign_session_token) {
      canonical["x-amz-security-token"] = std::string(credentials.session_token.view());
    }
    result.headers_to_add.emplace_back("X-Amz-Security-Token",
                                       std::string(credentials.session_token.view()));
  }

  // Canonical URI.
  std::string path = request.path.empty() ? "/" : request.path;
  if (options.normalize_path) path = NormalizePath(path);
  std::string canonical_uri = options.double_encode_path ? SigV4UriEncode(path, true) : path;

  // Canonical query: decode each name and value, re-encode with the SigV4 set, sort by encoded
  // name then encoded value.
  std::vector<std::pair<std::string, std::string>> params;
  std::string_view q = request.query;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view piece = q.substr(0, amp);
    q = amp == std::string_view::npos ? "" : q.substr(amp + 1);
    if (piece.empty()) continue;
    size_t eq = piece.find('=');
    auto key = PercentDecode(piece.substr(0, eq));
    auto value = PercentDecode(eq == std::string_view::npos ? "" : piece.substr(eq + 1));
    if (!key || !value) {
      return MakeError(
          ErrorCode::kInvalidArgument,
          fmt::format("SigV4: query parameter '{}' has a malformed %-escape", piece.substr(0, eq)));
    }
    params.emplace_back(SigV4UriEncode(*key, false), SigV4UriEncode(*value, false));
  }
  std::sort(params.begin(), params.end());
  std::string canonical_query;
  for (const auto& [k, v] : params) {
    if (!canonical_query.empty()) canonical_query += '&';
    canonical_query += k + "=" + v;
  }

  std::string canonical_headers;
  for (const auto& [name, value] : canonical) {
    canonical_headers += name + ":" + value + "\n";
    if (!result.signed_headers.empty()) result.signed_headers += ';';
    result.signed_headers += name;
  }

  result.canonical_request =
      fmt::format("{}\n{}\n{}\n{}\n{}\n{}", request.method, canonical_uri, canonical_query,
                  canonical_headers, result.signed_headers, payload_hash);
  const std::string scope = fmt::format("{}/{}/{}/aws4_request", date, region, service);
  result.string_to_sign = fmt::format("AWS4-HMAC-SHA256\n{}\n{}\n{}", amz_date, scope,
                                      Sha256Hex(result.canonical_request));

  // Key derivation: kSecret = "AWS4" + secret; kDate, kRegion, kService, kSigning by HMAC chain.
  SecretBytes k_secret(4 + credentials.secret_access_key.size());
  std::copy_n("AWS4", 4, k_secret.data());
  std::copy(credentials.secret_access_key.data(),
            credentials.secret_access_key.data() + credentials.secret_access_key.size(),
            k_secret.data() + 4);
  Digest k = Hmac(k_secret.span(), date);
  k = Hmac(k, region);
  k = Hmac(k, service);
  k = Hmac(k, "aws4_request");
  Digest sig = Hmac(k, result.string_to_sign);
  OPENSSL_cleanse(k.data(), k.size());
  result.signature = HexEncode(sig);

  result.authorization =
      fmt::format("AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={}, Signature={}",
                  credentials.access_key_id, scope, result.signed_headers, result.signature);
  result.headers_to_add.emplace_back("Authorization", result.authorization);
  return result;
}

}  // namespace vigie::cloud
