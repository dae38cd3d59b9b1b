#include "fleet/site_auth.h"

#include <sodium.h>

#include <charconv>
#include <cstring>
#include <cstdlib>

#include "base/encoding.h"
#include "crypto/hash.h"

namespace vigie::fleet {
namespace {

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string CanonicalSiteRequest(std::string_view method, std::string_view path,
                                 std::string_view site, std::string_view timestamp,
                                 std::string_view nonce, std::string_view body) {
  std::string out = "vigie-v1\n";
  out.append(method).append("\n");
  out.append(path).append("\n");
  out.append(site).append("\n");
  out.append(timestamp).append("\n");
  out.append(nonce).append("\n");
  out.append(HexEncode(crypto::Sha256(AsBytes(body))));
  return out;
}

std::string ComputeSiteSignature(const SecretBytes& secret, std::string_view method,
                                 std::string_view path, std::string_view site,
                                 std::string_view timestamp, std::string_view nonce,
                                 std::string_view body) {
  std::string canonical = CanonicalSiteRequest(method, path, site, timestamp, nonce, body);
  return HexEncode(crypto::HmacSha256(secret, AsBytes(canonical)));
}

http::Headers SignSiteRequest(std::string_view site, const SecretBytes& secret,
                              std::string_view method, std::string_view path, std::string_view body,
                              WallTime now, Random& random) {
  uint8_t nonce_bytes[16];
  random.Fill(nonce_bytes);
  std::string nonce = HexEncode(nonce_bytes);
  std::string timestamp = std::to_string(ToUnixSeconds(now));
  std::string signature = ComputeSiteSignature(secret, method, path, site, timestamp, nonce, body);
  return {{std::string(kSiteHeader), std::string(site)},
          {std::string(kTimestampHeader), timestamp},
          {std::string(kNonceHeader), nonce},
          {std::string(kSignatureHeader), signature}};
}

ReplayGuard::ReplayGuard(std::chrono::seconds window) : window_(window) {
  randombytes_buf(hash_key_.data(), hash_key_.size());
}

ReplayGuard::Key ReplayGuard::KeyOf(std::string_view site, std::string_view nonce) const {
  // site and nonce are hashed with a separator: a site id never contains '\n' (it is checked
  // against the route's {id}) and the nonce is hex, so distinct pairs give distinct inputs.
  uint8_t out[crypto_shorthash_siphashx24_BYTES];
  const size_t n = site.size() + 1 + nonce.size();
  char small[128];
  std::string large;
  char* input = small;
  if (n > sizeof small) {
    large.resize(n);
    input = large.data();
  }
  std::memcpy(input, site.data(), site.size());
  input[site.size()] = '\n';
  std::memcpy(input + site.size() + 1, nonce.data(), nonce.size());
  crypto_shorthash_siphashx24(out, reinterpret_cast<const unsigned char*>(input), n,
                              hash_key_.data());
  Key k;
  std::memcpy(&k.hi, out, 8);
  std::memcpy(&k.lo, out + 8, 8);
  return k;
}

Status ReplayGuard::CheckAndRecord(std::string_view site, std::string_view nonce, int64_t timestamp,
                                   WallTime now) {
  const int64_t now_s = ToUnixSeconds(now);
  const int64_t window = window_.count();
  const int64_t skew = timestamp - now_s;
  if (skew > window || skew < -window) {
    return MakeError(ErrorCode::kUnauthenticated,
                     "stale timestamp: X-Vigie-Timestamp is " + std::to_string(skew) +
                         " s from the server's clock (allowed +-" + std::to_string(window) +
                         " s); fix the agent's clock (NTP) and retry");
  }
  const Key key = KeyOf(site, nonce);
  std::lock_guard lock(mu_);
  EvictLocked(now_s);
  if (keys_.count(key) != 0) {
    return MakeError(ErrorCode::kUnauthenticated,
                     "replayed request: nonce already used by site " + std::string(site) +
                         " within the replay window; sign every request with a fresh nonce");
  }
  // The entry must live until the timestamp itself falls out of the window.
  order_.push_back(Seen{timestamp + window, key});
  keys_.insert(key);
  return OkStatus();
}

void ReplayGuard::EvictLocked(int64_t now_s) {
  // Entries arrive roughly in expiry order (timestamps are within +-window of arrival); an
  // entry expiring later than its successors only delays their eviction, never correctness
  // (an entry is kept at least until its own expiry).
  while (!order_.empty() && order_.front().expires_at < now_s) {
    keys_.erase(order_.front().key);
    order_.pop_front();
  }
}

size_t ReplayGuard::size() const {
  std::lock_guard lock(mu_);
  return keys_.size();
}

Status VerifySiteRequest(const SiteRequestView& r, const SecretBytes& secret, ReplayGuard& guard,
                         WallTime now) {
  auto missing = [](std::string_view header) {
    return MakeError(ErrorCode::kUnauthenticated,
                     "missing header " + std::string(header) +
                         ": site requests must be signed (X-Vigie-Site, X-Vigie-Timestamp, "
                         "X-Vigie-Nonce, X-Vigie-Signature)");
  };
  if (r.header_site.empty()) return missing(kSiteHeader);
  if (r.timestamp.empty()) return missing(kTimestampHeader);
  if (r.nonce.empty()) return missing(kNonceHeader);
  if (r.signature.empty()) return missing(kSignatureHeader);

  int64_t ts = 0;
  auto [ptr, ec] = std::from_chars(r.timestamp.data(), r.timestamp.data() + r.timestamp.size(), ts);
  if (ec != std::errc() || ptr != r.timestamp.data() + r.timestamp.size() || ts < 0) {
    return MakeError(ErrorCode::kUnauthenticated,
                     "malformed header X-Vigie-Timestamp: expected unix seconds");
  }
  if (r.nonce.size() != 32 || !IsLowerHex(r.nonce)) {
    return MakeError(ErrorCode::kUnauthenticated,
                     "malformed header X-Vigie-Nonce: expected 16 random bytes in lowercase hex");
  }
  if (r.signature.size() != 64 || !IsLowerHex(r.signature)) {
    return MakeError(ErrorCode::kUnauthenticated,
                     "malformed header X-Vigie-Signature: expected HMAC-SHA256 in lowercase hex");
  }
  if (secret.empty()) {
    return MakeError(ErrorCode::kUnauthenticated,
                     "no credential known for site " + std::string(r.header_site));
  }
  std::string expected =
      ComputeSiteSignature(secret, r.method, r.path, r.header_site, r.timestamp, r.nonce, r.body);
  if (sodium_memcmp(expected.data(), r.signature.data(), expected.size()) != 0) {
    WipeBytes(expected.data(), expected.size());
    return MakeError(ErrorCode::kUnauthenticated,
                     "bad signature: X-Vigie-Signature does not match the request signed with "
                     "site " +
                         std::string(r.header_site) +
                         "'s agent credential (check the secret, method, path and body)");
  }
  WipeBytes(expected.data(), expected.size());
  if (r.header_site != r.path_site) {
    return MakeError(ErrorCode::kPermissionDenied,
                     "site " + std::string(r.header_site) + " may not act on site " +
                         std::string(r.path_site) +
                         ": a site's credential acts only on its own site");
  }
  return guard.CheckAndRecord(r.header_site, r.nonce, ts, now);
}

}  // namespace vigie::fleet
