#pragma once
// Site request signing (issue 7, site API): how an agent signs a request to the fleet manager
// with the agent API secret from its package, and how the fleet manager verifies it.
//
// Headers sent with every site request:
//   X-Vigie-Site       the site id (must equal the {id} of the path: a site acts on itself only)
//   X-Vigie-Timestamp  unix seconds at signing
//   X-Vigie-Nonce      16 random bytes, lowercase hex (32 chars)
//   X-Vigie-Signature  hex(HMAC-SHA256(agent_secret, canonical))
// where canonical = "vigie-v1\n" + method + "\n" + path + "\n" + site + "\n" + timestamp + "\n"
//                   + nonce + "\n" + hex(SHA-256(body))
// `path` is the request path without the query string (as the server routes it).
//
// Replay protection: the timestamp must be within +-window of the server's clock, and each signed
// (site, nonce, timestamp) is accepted once (ReplayGuard). A replay is the same signed request,
// so it carries the same timestamp; once that timestamp leaves the window, it alone rejects it.
//
// SECURITY: the secret is only ever held in SecretBytes; signatures are compared in constant
// time; error messages never carry the secret or the expected signature.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "base/env.h"
#include "base/error.h"
#include "base/secret.h"
#include "http/client.h"

namespace vigie::fleet {

inline constexpr std::string_view kSiteHeader = "X-Vigie-Site";
inline constexpr std::string_view kTimestampHeader = "X-Vigie-Timestamp";
inline constexpr std::string_view kNonceHeader = "X-Vigie-Nonce";
inline constexpr std::string_view kSignatureHeader = "X-Vigie-Signature";
inline constexpr std::chrono::seconds kDefaultReplayWindow{300};

// The canonical string that is MACed (exposed for tests and documentation).
std::string CanonicalSiteRequest(std::string_view method, std::string_view path,
                                 std::string_view site, std::string_view timestamp,
                                 std::string_view nonce, std::string_view body);

// hex(HMAC-SHA256(secret, CanonicalSiteRequest(...))).
std::string ComputeSiteSignature(const SecretBytes& secret, std::string_view method,
                                 std::string_view path, std::string_view site,
                                 std::string_view timestamp, std::string_view nonce,
                                 std::string_view body);

// Agent side: the four X-Vigie-* headers for one request. Thread-safe if `random` is.
http::Headers SignSiteRequest(std::string_view site, const SecretBytes& secret,
                              std::string_view method, std::string_view path, std::string_view body,
                              WallTime now, Random& random);

// Remembers the signed (site, nonce, timestamp) triples accepted within the replay window. Thread-
// safe.
//
// Each triple is remembered as its 64-bit SipHash-2-4 (libsodium crypto_shorthash) under a key
// drawn at construction, in Boost's open-addressing boost::unordered_flat_set (no node per entry):
// one set per bucket of request timestamps (window / 32 seconds wide, so ~65 buckets), in a ring.
// A replay carries the timestamp it was signed with, so only its own bucket is looked up; a
// bucket whose timestamps all left the window is dropped whole, with no per-entry expiry to keep.
// About 9-15 bytes per accepted request (a million sites heartbeating every 60 s with the 300 s
// window: 5 M entries, ~60 MB; docs/PERFORMANCE.md, session 5). A bucket's set reuses its
// capacity for the next bucket in its slot, and gives it back when it was under 1/8 full, so
// memory follows the load. The hash key is secret to the process, so nobody can choose nonces
// that collide in the table; an accidental collision (2^-64 per pair within one bucket: at a
// sustained 50,000 requests a second, about once in 20 years) could only reject a legitimate
// request, which the agent retries with a fresh nonce; a replay is never accepted.
class ReplayGuard {
 public:
  explicit ReplayGuard(std::chrono::seconds window = kDefaultReplayWindow);
  ~ReplayGuard();
  ReplayGuard(const ReplayGuard&) = delete;
  ReplayGuard& operator=(const ReplayGuard&) = delete;

  std::chrono::seconds window() const { return window_; }

  // Checks `timestamp` against `now` (+-window) and records (site, nonce).
  // Errors: kUnauthenticated "stale timestamp" naming the clock skew in seconds;
  // kUnauthenticated "replayed" when (site, nonce) was already accepted within the window.
  Status CheckAndRecord(std::string_view site, std::string_view nonce, int64_t timestamp,
                        WallTime now);

  size_t size() const;

 private:
  struct Table;  // site_auth.cc: keeps Boost.Unordered out of this header

  std::chrono::seconds window_;
  std::array<uint8_t, 16> hash_key_{};  // random, set once by the constructor
  mutable std::mutex mu_;
  std::unique_ptr<Table> table_;  // guarded by mu_
};

struct SiteRequestView {
  std::string_view method;
  std::string_view path;       // without the query
  std::string_view path_site;  // the {id} of the route
  std::string_view header_site;
  std::string_view timestamp;
  std::string_view nonce;
  std::string_view signature;
  std::string_view body;
};

// Server side. Order of checks: headers present and well-formed (kUnauthenticated naming the
// missing or malformed header), signature under `secret` = the secret of header_site
// (kUnauthenticated "bad signature", constant-time), header site == path site
// (kPermissionDenied -> 403: a site's credential acts only on its own site), then timestamp
// window and nonce (ReplayGuard: "stale timestamp" / "replayed"). The nonce is recorded only
// once the signature verified, so a forger cannot burn nonces.
Status VerifySiteRequest(const SiteRequestView& request, const SecretBytes& secret,
                         ReplayGuard& guard, WallTime now);

}  // namespace vigie::fleet
