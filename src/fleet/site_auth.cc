#include "fleet/site_auth.h"

#include <sodium.h>

#include <boost/unordered/unordered_flat_set.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

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

namespace {

constexpr std::string_view kCanonicalPrefix = "vigie-v1\n";
constexpr size_t kHexSha256 = 2 * crypto::kSha256Size;

void WriteHex(std::span<const uint8_t> bytes, char* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (uint8_t b : bytes) {
    *out++ = kDigits[b >> 4];
    *out++ = kDigits[b & 0xf];
  }
}

size_t CanonicalSize(std::string_view method, std::string_view path, std::string_view site,
                     std::string_view timestamp, std::string_view nonce) {
  return kCanonicalPrefix.size() + method.size() + path.size() + site.size() + timestamp.size() +
         nonce.size() + 5 + kHexSha256;
}

// Writes CanonicalSiteRequest(...) into `out`, which has room for CanonicalSize(...) bytes.
void WriteCanonical(std::string_view method, std::string_view path, std::string_view site,
                    std::string_view timestamp, std::string_view nonce, std::string_view body,
                    char* out) {
  for (std::string_view part :
       {kCanonicalPrefix, method, std::string_view("\n"), path, std::string_view("\n"), site,
        std::string_view("\n"), timestamp, std::string_view("\n"), nonce, std::string_view("\n")}) {
    std::memcpy(out, part.data(), part.size());
    out += part.size();
  }
  WriteHex(crypto::Sha256(AsBytes(body)), out);
}

// n bytes of scratch space: on the stack when n <= N (no allocation), else on the heap.
template <size_t N>
class ScratchBuffer {
 public:
  explicit ScratchBuffer(size_t n) : data_(n <= N ? small_ : (large_.resize(n), large_.data())) {}
  char* data() { return data_; }

 private:
  char small_[N];
  std::string large_;
  char* data_;  // declared last: initialised after the two above
};

// HMAC-SHA256(secret, canonical), the canonical string built on the stack when it fits (a
// heartbeat's is ~190 bytes): no allocation per request. The canonical string is not secret.
crypto::Sha256Digest SiteMac(const SecretBytes& secret, std::string_view method,
                             std::string_view path, std::string_view site,
                             std::string_view timestamp, std::string_view nonce,
                             std::string_view body) {
  const size_t n = CanonicalSize(method, path, site, timestamp, nonce);
  ScratchBuffer<512> buf(n);
  WriteCanonical(method, path, site, timestamp, nonce, body, buf.data());
  return crypto::HmacSha256(secret, AsBytes(std::string_view(buf.data(), n)));
}

int HexNibble(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }  // REQUIRES: IsLowerHex

}  // namespace

std::string CanonicalSiteRequest(std::string_view method, std::string_view path,
                                 std::string_view site, std::string_view timestamp,
                                 std::string_view nonce, std::string_view body) {
  std::string out(CanonicalSize(method, path, site, timestamp, nonce), '\0');
  WriteCanonical(method, path, site, timestamp, nonce, body, out.data());
  return out;
}

std::string ComputeSiteSignature(const SecretBytes& secret, std::string_view method,
                                 std::string_view path, std::string_view site,
                                 std::string_view timestamp, std::string_view nonce,
                                 std::string_view body) {
  crypto::Sha256Digest mac = SiteMac(secret, method, path, site, timestamp, nonce, body);
  std::string hex(kHexSha256, '\0');
  WriteHex(mac, hex.data());
  return hex;
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

namespace {

// SipHash-2-4 (64-bit) of a signed (site, nonce, timestamp): the identity is its hash.
struct GuardKeyHash {
  using is_avalanching = std::true_type;  // SipHash output: Boost need not mix it again
  size_t operator()(uint64_t k) const noexcept { return static_cast<size_t>(k); }
};

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

// The keys, in buckets by the request's timestamp: a replay carries the timestamp it was signed
// with, so it can only be in its own bucket, and a bucket whose timestamps all left the window is
// dropped whole (no per-entry expiry to keep). Buckets sit in a ring of `slots` indexed by
// bucket number modulo slots; the ring spans more than the 2 x window + 1 bucket a valid
// timestamp can fall in, so a slot is reused only once its previous bucket is stale.
struct ReplayGuard::Table {
  struct Slot {
    int64_t bucket = INT64_MIN;  // bucket number held (INT64_MIN: none)
    boost::unordered_flat_set<uint64_t, GuardKeyHash> keys;
  };
  int64_t width = 1;                  // seconds per bucket
  std::vector<Slot> ring;             // slots
  int64_t cleared_below = INT64_MIN;  // every bucket below this number is empty
  size_t total = 0;                   // keys held, all slots

  explicit Table(int64_t window) {
    width = std::max<int64_t>(1, (window + 31) / 32);
    ring.resize(static_cast<size_t>(2 * window / width + 3));
  }

  Slot& SlotOf(int64_t bucket) {
    const int64_t n = static_cast<int64_t>(ring.size());
    return ring[static_cast<size_t>(((bucket % n) + n) % n)];
  }

  void Clear(Slot& slot) {
    total -= slot.keys.size();
    // Give memory back after a peak: keep the capacity for the next bucket only while it was at
    // least an eighth full.
    if (slot.keys.bucket_count() > 1024 && slot.keys.size() * 8 < slot.keys.bucket_count()) {
      slot.keys = {};
    } else {
      slot.keys.clear();
    }
    slot.bucket = INT64_MIN;
  }

  // Drops the buckets whose timestamps are all older than `oldest_valid`: amortised O(1) per
  // check (each bucket is dropped once), and one pass over the ring after a long quiet.
  void DropBelow(int64_t oldest_valid) {
    const int64_t live = FloorDiv(oldest_valid, width);  // the first bucket that may be valid
    if (cleared_below == INT64_MIN || live - cleared_below > static_cast<int64_t>(ring.size())) {
      for (Slot& slot : ring) {
        if (slot.bucket != INT64_MIN && slot.bucket < live) Clear(slot);
      }
    } else {
      for (int64_t b = cleared_below; b < live; ++b) {
        Slot& slot = SlotOf(b);
        if (slot.bucket == b) Clear(slot);
      }
    }
    cleared_below = std::max(cleared_below, live);
  }
};

ReplayGuard::ReplayGuard(std::chrono::seconds window)
    : window_(window), table_(std::make_unique<Table>(window.count())) {
  randombytes_buf(hash_key_.data(), hash_key_.size());
}

ReplayGuard::~ReplayGuard() = default;

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
  // site, nonce and timestamp are hashed with separators: a site id never contains '\n' (it is
  // checked against the route's {id}) and the nonce is hex, so distinct triples give distinct
  // inputs.
  char stamp[24];
  const auto [stamp_end, ec] = std::to_chars(stamp, stamp + sizeof stamp, timestamp);
  const size_t stamp_len = ec == std::errc() ? static_cast<size_t>(stamp_end - stamp) : 0;
  const size_t n = site.size() + 1 + nonce.size() + 1 + stamp_len;
  ScratchBuffer<160> buf(n);
  char* input = buf.data();
  std::memcpy(input, site.data(), site.size());
  input[site.size()] = '\n';
  std::memcpy(input + site.size() + 1, nonce.data(), nonce.size());
  input[site.size() + 1 + nonce.size()] = '\n';
  std::memcpy(input + site.size() + 2 + nonce.size(), stamp, stamp_len);
  uint64_t key = 0;
  static_assert(crypto_shorthash_siphash24_BYTES == sizeof key);
  crypto_shorthash_siphash24(reinterpret_cast<unsigned char*>(&key),
                             reinterpret_cast<const unsigned char*>(input), n, hash_key_.data());

  const int64_t bucket = FloorDiv(timestamp, table_->width);
  std::lock_guard lock(mu_);
  table_->DropBelow(now_s - window);
  Table::Slot& slot = table_->SlotOf(bucket);
  if (slot.bucket != bucket) {
    // The slot's previous bucket is stale (the ring spans every valid bucket): reuse it.
    if (slot.bucket != INT64_MIN) table_->Clear(slot);
    slot.bucket = bucket;
  }
  if (!slot.keys.insert(key).second) {
    return MakeError(ErrorCode::kUnauthenticated,
                     "replayed request: nonce already used by site " + std::string(site) +
                         " within the replay window; sign every request with a fresh nonce");
  }
  ++table_->total;
  return OkStatus();
}

size_t ReplayGuard::size() const {
  std::lock_guard lock(mu_);
  return table_->total;
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
  // The presented signature is decoded (it is public) and compared in constant time with the
  // expected MAC's bytes: no hex string of the expected MAC is ever built.
  uint8_t presented[crypto::kSha256Size];
  for (size_t i = 0; i < sizeof presented; ++i) {
    presented[i] = static_cast<uint8_t>(HexNibble(r.signature[2 * i]) << 4 |
                                        HexNibble(r.signature[2 * i + 1]));
  }
  crypto::Sha256Digest expected =
      SiteMac(secret, r.method, r.path, r.header_site, r.timestamp, r.nonce, r.body);
  if (sodium_memcmp(expected.data(), presented, expected.size()) != 0) {
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
