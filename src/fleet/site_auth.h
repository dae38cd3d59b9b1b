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
// Replay protection: the timestamp must be within +-window of the server's clock, and each
// (site, nonce) is accepted once while its timestamp is inside the window (ReplayGuard). A
// nonce older than the window needs no memory: its timestamp alone rejects it.
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

// Remembers nonces seen within the replay window, per site. Memory is bounded by the number of
// requests accepted within one window; expired entries are evicted in arrival order
// (amortised O(1) per check). Thread-safe.
//
// Each (site, nonce) is remembered as its 128-bit SipHash (libsodium crypto_shorthash_siphashx24)
// under a key drawn at construction, not as a string. The keys sit in Boost's open-addressing
// boost::unordered_flat_set (no node allocation per check, one or two cache misses where a
// node-based std::unordered_set took four or five) and, with their expiry, in a deque in arrival
// order. About 45-70 bytes per accepted request (a million sites heartbeating every 60 s with the
// 300 s window: 5 M entries, ~0.3 GB). The set rehashes when it grows (one pause under the lock,
// tens of ms at millions of entries) and is shrunk while under 1/8 full, so memory follows the
// load. The hash key is secret to the process, so nobody can choose nonces that cluster in the
// table or whose entry collides with another site's; an accidental collision (2^-128 per pair)
// could only reject a legitimate request, never accept a replay.
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
