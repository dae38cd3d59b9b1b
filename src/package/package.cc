#include "package/package.h"

#include <fmt/format.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>

namespace vigie::package {

namespace {

constexpr size_t kSignatureSize = crypto::kEd25519SignatureSize;
constexpr size_t kMinPayloadSize = crypto::kSealOverhead + 1;
constexpr size_t kMaxSecretValueSize = 16 * 1024;
constexpr size_t kMaxSecretNameSize = 64;
constexpr size_t kMaxUrlSize = 2048;
constexpr size_t kMaxCaPemSize = 32 * 1024;
constexpr std::string_view kPinPrefix = "sha256//";
constexpr std::string_view kRejected = "package rejected (";

tl::unexpected<Error> Refuse(PackageError e, std::string_view detail) {
  return MakeError(PackageErrorCode(e),
                   fmt::format("{}{}): {}", kRejected, PackageErrorName(e), detail));
}

Error Invalid(std::string message) {
  return Error{ErrorCode::kInvalidArgument, std::move(message)};
}

uint32_t ReadBe32(std::span<const uint8_t> b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
         uint32_t{b[at + 3]};
}

void AppendBe32(Bytes& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 24));
  out.push_back(static_cast<uint8_t>(v >> 16));
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

void EnsureSodium() {
  if (sodium_init() < 0) std::abort();
}

// Hex of a public key, shortened for messages: enough to tell keys apart by eye.
std::string ShortKey(std::span<const uint8_t> key) { return HexEncode(key).substr(0, 16) + "..."; }

// --- Manifest field validation (shared by SerializeManifest and ParseManifest). ---

bool IsSiteId(std::string_view s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool IsLowerHex(std::string_view s, size_t len) {
  return s.size() == len && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool IsPrintableAsciiNoSpace(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

Status ValidateFields(const Manifest& m) {
  if (!IsSiteId(m.site_id)) {
    return tl::unexpected(
        Invalid("manifest site_id \"" + m.site_id +
                "\" is not a DNS label (1-63 of a-z, 0-9, '-', not starting or ending with '-')"));
  }
  if (!IsLowerHex(m.package_id, 32)) {
    return tl::unexpected(
        Invalid("manifest package_id must be 32 lowercase hex digits (use NewPackageId)"));
  }
  if (m.fleet_url.size() > kMaxUrlSize || !m.fleet_url.starts_with("https://") ||
      m.fleet_url.size() == 8 || m.fleet_url[8] == '/' || !IsPrintableAsciiNoSpace(m.fleet_url)) {
    return tl::unexpected(Invalid("manifest fleet_url \"" + m.fleet_url.substr(0, 200) +
                                  "\" must be an https:// URL with a host (TLS is mandatory, "
                                  "PROV_003)"));
  }
  if (m.fleet_tls_pin.empty() && m.fleet_ca_pem.empty()) {
    return tl::unexpected(Invalid(
        "manifest has neither fleet_tls_pin nor fleet_ca_pem: the agent could not authenticate "
        "its fleet manager; set at least one"));
  }
  if (!m.fleet_tls_pin.empty()) {
    auto pin = m.fleet_tls_pin.starts_with(kPinPrefix)
                   ? Base64Decode(std::string_view(m.fleet_tls_pin).substr(kPinPrefix.size()))
                   : Result<Bytes>(tl::unexpected(Invalid("")));
    if (!pin || pin->size() != crypto::kSha256Size) {
      return tl::unexpected(Invalid(
          "manifest fleet_tls_pin must be \"sha256//\" followed by the base64 SHA-256 of the "
          "fleet manager's public key (curl's pinnedpubkey form)"));
    }
  }
  if (!m.fleet_ca_pem.empty()) {
    const bool ascii = std::all_of(m.fleet_ca_pem.begin(), m.fleet_ca_pem.end(), [](char c) {
      return (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\r';
    });
    if (!ascii || m.fleet_ca_pem.size() > kMaxCaPemSize ||
        m.fleet_ca_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos ||
        m.fleet_ca_pem.find("-----END CERTIFICATE-----") == std::string::npos) {
      return tl::unexpected(Invalid(
          "manifest fleet_ca_pem must be a PEM bundle of CERTIFICATE blocks (ASCII, at most "
          "32 KiB)"));
    }
  }
  if (m.expires_at <= m.created_at) {
    return tl::unexpected(Invalid("manifest expires_at (" + FormatRfc3339(m.expires_at) +
                                  ") must be after created_at (" + FormatRfc3339(m.created_at) +
                                  ")"));
  }
  if (m.format_version != kFormatVersion) {
    return tl::unexpected(Invalid("manifest format_version " + std::to_string(m.format_version) +
                                  " is not " + std::to_string(kFormatVersion)));
  }
  return OkStatus();
}

// Strict RFC 3339 UTC with whole seconds, exactly as FormatRfc3339 writes it.
std::optional<WallTime> ParseRfc3339(std::string_view s) {
  if (s.size() != 20) return std::nullopt;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = (i == 4 || i == 7)     ? c == '-'
                    : i == 10              ? c == 'T'
                    : (i == 13 || i == 16) ? c == ':'
                    : i == 19              ? c == 'Z'
                                           : (c >= '0' && c <= '9');
    if (!ok) return std::nullopt;
  }
  auto num = [&](size_t at, size_t len) {
    int v = 0;
    for (size_t i = at; i < at + len; ++i) v = v * 10 + (s[i] - '0');
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(5, 2) - 1;
  tm.tm_mday = num(8, 2);
  tm.tm_hour = num(11, 2);
  tm.tm_min = num(14, 2);
  tm.tm_sec = num(17, 2);
  const std::time_t t = timegm(&tm);
  const WallTime wt = FromUnixSeconds(static_cast<int64_t>(t));
  // timegm normalises out-of-range fields (Feb 30 → Mar 2); a round trip rejects them.
  if (FormatRfc3339(wt) != s) return std::nullopt;
  return wt;
}

WallTime TruncateToSeconds(WallTime t) { return FromUnixSeconds(ToUnixSeconds(t)); }

// --- Secret section codec. ---
//
// Canonical JSON in exactly this shape (keys sorted, no whitespace, values standard base64):
//   {"format":"vigie.site_secrets.v1","items":[{"must_change":B,"name":"N","value":"V"},...]}
// It is written into and parsed from SecretBytes by hand rather than through a JSON library,
// because a library would leave copies of every secret in unwiped heap strings.

constexpr std::string_view kSecretsHead = R"({"format":"vigie.site_secrets.v1","items":[)";
constexpr std::string_view kItemHead = R"({"must_change":)";
constexpr std::string_view kItemName = R"(,"name":")";
constexpr std::string_view kItemValue = R"(","value":")";
constexpr std::string_view kItemTail = R"("})";
constexpr std::string_view kSecretsTail = "]}";
constexpr int kB64 = sodium_base64_VARIANT_ORIGINAL;

bool IsSecretName(std::string_view s) {
  if (s.empty() || s.size() > kMaxSecretNameSize) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Status ValidateSecrets(const SiteSecrets& secrets) {
  if (secrets.items.empty()) {
    return tl::unexpected(
        Invalid("package has no secrets: a site needs at least its agent API "
                "secret (" +
                std::string(kAgentApiSecret) + ")"));
  }
  std::set<std::string_view> seen;
  for (const auto& item : secrets.items) {
    if (!IsSecretName(item.name)) {
      return tl::unexpected(
          Invalid("secret name \"" + item.name.substr(0, 80) + "\" must be 1-64 of a-z, 0-9, '_'"));
    }
    if (!seen.insert(item.name).second) {
      return tl::unexpected(Invalid("secret \"" + item.name + "\" appears twice"));
    }
    if (item.value.empty() || item.value.size() > kMaxSecretValueSize) {
      return tl::unexpected(Invalid("secret \"" + item.name + "\" is " +
                                    std::to_string(item.value.size()) +
                                    " bytes; values must be 1 to 16384 bytes"));
    }
  }
  return OkStatus();
}

// Writes the canonical secret section to `out`, or, when `out` is null, only counts its size.
size_t EmitSecrets(const SiteSecrets& secrets, uint8_t* out) {
  size_t n = 0;
  auto put = [&](std::string_view text) {
    if (out != nullptr) std::memcpy(out + n, text.data(), text.size());
    n += text.size();
  };
  put(kSecretsHead);
  for (size_t i = 0; i < secrets.items.size(); ++i) {
    const SecretItem& item = secrets.items[i];
    if (i > 0) put(",");
    put(kItemHead);
    put(item.must_change ? "true" : "false");
    put(kItemName);
    put(item.name);
    put(kItemValue);
    const size_t b64_len = sodium_base64_ENCODED_LEN(item.value.size(), kB64);  // with NUL
    if (out != nullptr) {
      SecretBytes b64(b64_len);
      sodium_bin2base64(reinterpret_cast<char*>(b64.data()), b64_len, item.value.data(),
                        item.value.size(), kB64);
      std::memcpy(out + n, b64.data(), b64_len - 1);
    }
    n += b64_len - 1;
    put(kItemTail);
  }
  put(kSecretsTail);
  return n;
}

SecretBytes EncodeSecrets(const SiteSecrets& secrets) {
  SecretBytes plain(EmitSecrets(secrets, nullptr));
  EmitSecrets(secrets, plain.data());
  return plain;
}

Result<SiteSecrets> DecodeSecrets(const SecretBytes& plain) {
  const std::string_view text = plain.view();
  size_t pos = 0;
  auto fail = [&](std::string_view expected) {
    // Positions and structure only: never echo the content, it holds secrets.
    return Refuse(PackageError::kMalformed,
                  fmt::format("the secret section is not valid: expected {} at byte {} of {}; "
                              "the package was built by an incompatible vigie, ask the fleet "
                              "operator to rebuild it",
                              expected, pos, text.size()));
  };
  auto take = [&](std::string_view lit) {
    if (text.substr(pos, lit.size()) != lit) return false;
    pos += lit.size();
    return true;
  };
  auto until_quote = [&]() -> std::optional<std::string_view> {
    const size_t end = text.find('"', pos);
    if (end == std::string_view::npos) return std::nullopt;
    std::string_view v = text.substr(pos, end - pos);
    pos = end;
    return v;
  };

  SiteSecrets secrets;
  if (!take(kSecretsHead)) return fail("the secret section header");
  while (true) {
    SecretItem item;
    if (!take(kItemHead)) return fail("an item");
    if (take("true")) {
      item.must_change = true;
    } else if (!take("false")) {
      return fail("true or false");
    }
    if (!take(kItemName)) return fail("\"name\"");
    auto name = until_quote();
    if (!name || !IsSecretName(*name)) return fail("a secret name");
    item.name = std::string(*name);
    if (!take(kItemValue)) return fail("\"value\"");
    auto b64 = until_quote();
    if (!b64 || b64->empty()) return fail("a base64 value");
    SecretBytes decoded(b64->size() / 4 * 3 + 3);
    size_t len = 0;
    const char* end = nullptr;
    if (sodium_base642bin(decoded.data(), decoded.size(), b64->data(), b64->size(), nullptr, &len,
                          &end, kB64) != 0 ||
        end != b64->data() + b64->size() || len == 0) {
      return fail("a base64 value");
    }
    item.value = SecretBytes::CopyFrom(std::span<const uint8_t>(decoded.data(), len));
    if (!take(kItemTail)) return fail("the end of an item");
    secrets.items.push_back(std::move(item));
    if (take(",")) continue;
    if (take(kSecretsTail)) break;
    return fail("',' or ']}'");
  }
  if (pos != text.size()) return fail("the end of the section");
  if (auto st = ValidateSecrets(secrets); !st) {
    return Refuse(PackageError::kMalformed,
                  "the secret section is not valid: " + st.error().message);
  }
  return secrets;
}

// An X25519 public key that is a low-order point would make every shared secret all-zero, so a
// sealed box to it would be readable by anyone (and crypto::Seal aborts on it).
bool IsUsableBoxPublicKey(const crypto::BoxPublicKey& key) {
  EnsureSodium();
  uint8_t scalar[crypto_scalarmult_SCALARBYTES];
  std::memset(scalar, 0x5a, sizeof scalar);
  uint8_t shared[crypto_scalarmult_BYTES];
  const bool ok = crypto_scalarmult(shared, scalar, key.data()) == 0;
  sodium_memzero(shared, sizeof shared);
  return ok;
}

Result<Bytes> Build(const Manifest& manifest, const SiteSecrets& secrets,
                    const crypto::BoxPublicKey& site_enrollment_key,
                    const crypto::SigningKey* fleet_key, const crypto::Ed25519PublicKey& signer) {
  VIGIE_RETURN_IF_ERROR(ValidateSecrets(secrets));
  if (!IsUsableBoxPublicKey(site_enrollment_key)) {
    return tl::unexpected(Invalid(
        "the site enrollment public key is not a usable X25519 key (low-order point); ask the "
        "site for the enrollment.pub written by `vigie agent keygen`"));
  }
  Bytes sealed;
  {
    SecretBytes plain = EncodeSecrets(secrets);
    if (plain.size() + crypto::kSealOverhead > kMaxPayloadSize) {
      return tl::unexpected(Invalid("the secret section is " + std::to_string(plain.size()) +
                                    " bytes; a package holds at most 1 MiB"));
    }
    sealed = crypto::Seal(site_enrollment_key, plain.span());
  }  // the plaintext is wiped here

  Manifest m = manifest;
  m.format_version = kFormatVersion;
  m.created_at = TruncateToSeconds(m.created_at);
  m.expires_at = TruncateToSeconds(m.expires_at);
  m.fleet_signing_key = signer;
  m.site_enrollment_key = site_enrollment_key;
  m.payload_sha256 = crypto::Sha256(sealed);
  m.payload_size = sealed.size();
  VIGIE_ASSIGN_OR_RETURN(std::string json, SerializeManifest(m));
  if (json.size() > kMaxManifestSize) {
    return tl::unexpected(Invalid("the manifest is " + std::to_string(json.size()) +
                                  " bytes; at most 65536 (shorten fleet_ca_pem)"));
  }

  Bytes out;
  out.reserve(kHeaderSize + json.size() + 8 + kSignatureSize + sealed.size());
  out.insert(out.end(), kMagic.begin(), kMagic.end());
  out.push_back(kFormatVersion);
  AppendBe32(out, static_cast<uint32_t>(json.size()));
  out.insert(out.end(), json.begin(), json.end());
  if (fleet_key != nullptr) {
    const crypto::Ed25519Signature sig = fleet_key->Sign(out);
    AppendBe32(out, kSignatureSize);
    out.insert(out.end(), sig.begin(), sig.end());
  } else {
    AppendBe32(out, 0);
  }
  AppendBe32(out, static_cast<uint32_t>(sealed.size()));
  out.insert(out.end(), sealed.begin(), sealed.end());
  return out;
}

}  // namespace

std::string_view PackageErrorName(PackageError e) {
  switch (e) {
    case PackageError::kUnsigned:
      return "unsigned";
    case PackageError::kBadSignature:
      return "bad_signature";
    case PackageError::kTamperedManifest:
      return "tampered_manifest";
    case PackageError::kTamperedPayload:
      return "tampered_payload";
    case PackageError::kExpired:
      return "expired";
    case PackageError::kWrongSiteKey:
      return "wrong_site_key";
    case PackageError::kUnknownVersion:
      return "unknown_version";
    case PackageError::kMalformed:
      return "malformed";
  }
  return "malformed";
}

ErrorCode PackageErrorCode(PackageError e) {
  switch (e) {
    case PackageError::kUnsigned:
    case PackageError::kBadSignature:
      return ErrorCode::kUnauthenticated;
    case PackageError::kTamperedManifest:
    case PackageError::kTamperedPayload:
      return ErrorCode::kIntegrity;
    case PackageError::kExpired:
      return ErrorCode::kFailedPrecondition;
    case PackageError::kWrongSiteKey:
      return ErrorCode::kPermissionDenied;
    case PackageError::kUnknownVersion:
      return ErrorCode::kUnimplemented;
    case PackageError::kMalformed:
      return ErrorCode::kInvalidArgument;
  }
  return ErrorCode::kInvalidArgument;
}

std::optional<PackageError> PackageErrorOf(const Error& error) {
  const size_t at = error.message.find(kRejected);
  if (at == std::string::npos) return std::nullopt;
  const size_t start = at + kRejected.size();
  const size_t end = error.message.find(')', start);
  if (end == std::string::npos) return std::nullopt;
  const std::string_view name = std::string_view(error.message).substr(start, end - start);
  for (PackageError e :
       {PackageError::kUnsigned, PackageError::kBadSignature, PackageError::kTamperedManifest,
        PackageError::kTamperedPayload, PackageError::kExpired, PackageError::kWrongSiteKey,
        PackageError::kUnknownVersion, PackageError::kMalformed}) {
    if (PackageErrorName(e) == name && PackageErrorCode(e) == error.code) return e;
  }
  return std::nullopt;
}

const SecretItem* SiteSecrets::Find(std::string_view name) const {
  for (const auto& item : items) {
    if (item.name == name) return &item;
  }
  return nullptr;
}

std::string NewPackageId(Random& random) {
  uint8_t id[16];
  random.Fill(id);
  return HexEncode(id);
}

Result<std::string> SerializeManifest(const Manifest& m) {
  VIGIE_RETURN_IF_ERROR(ValidateFields(m));
  try {
    nlohmann::json j = nlohmann::json::object();  // std::map underneath: keys sorted
    j["format_version"] = static_cast<unsigned>(m.format_version);
    j["site_id"] = m.site_id;
    j["package_id"] = m.package_id;
    j["fleet_url"] = m.fleet_url;
    if (!m.fleet_tls_pin.empty()) j["fleet_tls_pin"] = m.fleet_tls_pin;
    if (!m.fleet_ca_pem.empty()) j["fleet_ca_pem"] = m.fleet_ca_pem;
    j["fleet_signing_key"] = HexEncode(m.fleet_signing_key);
    j["site_enrollment_key"] = HexEncode(m.site_enrollment_key);
    j["created_at"] = FormatRfc3339(m.created_at);
    j["expires_at"] = FormatRfc3339(m.expires_at);
    j["payload_sha256"] = HexEncode(m.payload_sha256);
    j["payload_size"] = m.payload_size;
    return j.dump();
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInternal, std::string("manifest serialisation: ") + e.what());
  }
}

Result<Manifest> ParseManifest(std::string_view json) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json);
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInvalidArgument, std::string("manifest is not JSON: ") + e.what());
  }
  if (!j.is_object()) return MakeError(ErrorCode::kInvalidArgument, "manifest is not an object");
  static const std::set<std::string> kRequired = {
      "format_version",      "site_id",    "package_id", "fleet_url",      "fleet_signing_key",
      "site_enrollment_key", "created_at", "expires_at", "payload_sha256", "payload_size"};
  static const std::set<std::string> kOptional = {"fleet_tls_pin", "fleet_ca_pem"};
  for (const auto& [key, value] : j.items()) {
    if (!kRequired.contains(key) && !kOptional.contains(key)) {
      return MakeError(ErrorCode::kInvalidArgument, "manifest has unknown key \"" + key + "\"");
    }
    const bool numeric = key == "format_version" || key == "payload_size";
    if (numeric ? !value.is_number_unsigned() : !value.is_string()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "manifest key \"" + key + "\" must be " +
                           (numeric ? "a non-negative integer" : "a string"));
    }
  }
  for (const auto& key : kRequired) {
    if (!j.contains(key)) {
      return MakeError(ErrorCode::kInvalidArgument, "manifest lacks key \"" + key + "\"");
    }
  }
  Manifest m;
  const uint64_t version = j["format_version"].get<uint64_t>();
  if (version != kFormatVersion) {
    return MakeError(ErrorCode::kInvalidArgument, "manifest format_version " +
                                                      std::to_string(version) + " is not " +
                                                      std::to_string(kFormatVersion));
  }
  m.format_version = kFormatVersion;
  m.site_id = j["site_id"].get<std::string>();
  m.package_id = j["package_id"].get<std::string>();
  m.fleet_url = j["fleet_url"].get<std::string>();
  if (j.contains("fleet_tls_pin")) m.fleet_tls_pin = j["fleet_tls_pin"].get<std::string>();
  if (j.contains("fleet_ca_pem")) m.fleet_ca_pem = j["fleet_ca_pem"].get<std::string>();
  auto hex32 = [&](const char* key, std::span<uint8_t> out) -> Status {
    const std::string s = j[key].get<std::string>();
    auto b = HexDecode(s);
    if (!IsLowerHex(s, 64) || !b || b->size() != 32) {
      return MakeError(ErrorCode::kInvalidArgument,
                       std::string("manifest ") + key + " must be 64 lowercase hex digits");
    }
    std::copy(b->begin(), b->end(), out.begin());
    return OkStatus();
  };
  VIGIE_RETURN_IF_ERROR(hex32("fleet_signing_key", m.fleet_signing_key));
  VIGIE_RETURN_IF_ERROR(hex32("site_enrollment_key", m.site_enrollment_key));
  VIGIE_RETURN_IF_ERROR(hex32("payload_sha256", m.payload_sha256));
  for (const char* key : {"created_at", "expires_at"}) {
    const std::string s = j[key].get<std::string>();
    auto t = ParseRfc3339(s);
    if (!t) {
      return MakeError(ErrorCode::kInvalidArgument,
                       std::string("manifest ") + key + " \"" + s.substr(0, 40) +
                           "\" is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SSZ)");
    }
    (std::string_view(key) == "created_at" ? m.created_at : m.expires_at) = *t;
  }
  m.payload_size = j["payload_size"].get<uint64_t>();
  if (m.payload_size < kMinPayloadSize || m.payload_size > kMaxPayloadSize) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "manifest payload_size " + std::to_string(m.payload_size) + " is outside 49..1048576");
  }
  if ((j.contains("fleet_tls_pin") && m.fleet_tls_pin.empty()) ||
      (j.contains("fleet_ca_pem") && m.fleet_ca_pem.empty())) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "manifest fleet_tls_pin / fleet_ca_pem, when present, must not be empty");
  }
  VIGIE_ASSIGN_OR_RETURN(std::string canonical, SerializeManifest(m));
  if (canonical != json) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "manifest is not in canonical form (compact JSON, sorted keys, lowercase "
                     "hex, no duplicate keys)");
  }
  return m;
}

Result<Bytes> BuildPackage(const Manifest& manifest, const SiteSecrets& secrets,
                           const crypto::BoxPublicKey& site_enrollment_key,
                           const crypto::SigningKey& fleet_key) {
  return Build(manifest, secrets, site_enrollment_key, &fleet_key, fleet_key.public_key());
}

Result<Bytes> BuildUnsignedPackageForTesting(const Manifest& manifest, const SiteSecrets& secrets,
                                             const crypto::BoxPublicKey& site_enrollment_key) {
  return Build(manifest, secrets, site_enrollment_key, nullptr, crypto::Ed25519PublicKey{});
}

Result<SignedParts> ExtractSignedParts(std::span<const uint8_t> file) {
  auto truncated = [&](std::string_view where) {
    return Refuse(PackageError::kMalformed,
                  fmt::format("the file is truncated ({} bytes) in {}; copy the package again "
                              "from the fleet operator",
                              file.size(), where));
  };
  if (file.size() < kMagic.size() || std::memcmp(file.data(), kMagic.data(), kMagic.size()) != 0) {
    return Refuse(PackageError::kMalformed,
                  "not a vigie package (it does not start with \"VPKG\"); check the file name");
  }
  if (file.size() < 5) return truncated("the header");
  if (file[4] != kFormatVersion) {
    return Refuse(PackageError::kUnknownVersion,
                  fmt::format("package format version {} is not supported by this vigie (it "
                              "reads version {}); upgrade vigie or ask the fleet operator for a "
                              "version {} package",
                              file[4], kFormatVersion, kFormatVersion));
  }
  if (file.size() < kHeaderSize) return truncated("the header");
  const size_t m = ReadBe32(file, 5);
  if (m == 0 || m > kMaxManifestSize) {
    return Refuse(PackageError::kMalformed,
                  fmt::format("manifest length {} is outside 1..{}; the file is corrupt", m,
                              kMaxManifestSize));
  }
  if (file.size() < kHeaderSize + m) return truncated("the manifest");
  SignedParts parts;
  const size_t n = kHeaderSize + m;
  parts.signed_bytes = file.subspan(0, n);
  parts.manifest = file.subspan(kHeaderSize, m);
  if (file.size() == n) {
    return Refuse(PackageError::kUnsigned,
                  "the package has no signature section: it was not signed by a fleet key, so "
                  "nothing vouches for it; do not use it, ask the fleet operator for a signed "
                  "package");
  }
  if (file.size() < n + 4) return truncated("the signature length");
  const size_t s = ReadBe32(file, n);
  if (s == 0) {
    return Refuse(PackageError::kUnsigned,
                  "the package's signature section is empty: it was not signed by a fleet key, "
                  "so nothing vouches for it; do not use it, ask the fleet operator for a signed "
                  "package");
  }
  if (s != kSignatureSize) {
    return Refuse(PackageError::kMalformed,
                  fmt::format("signature length {} is not 64 (Ed25519); the file is corrupt", s));
  }
  parts.signature_offset = n + 4;
  if (file.size() < parts.signature_offset + kSignatureSize) return truncated("the signature");
  std::copy_n(file.begin() + static_cast<std::ptrdiff_t>(parts.signature_offset), kSignatureSize,
              parts.signature.begin());
  const size_t p_at = parts.signature_offset + kSignatureSize;
  if (file.size() < p_at + 4) return truncated("the payload length");
  const size_t p = ReadBe32(file, p_at);
  if (p < kMinPayloadSize || p > kMaxPayloadSize) {
    return Refuse(PackageError::kMalformed,
                  fmt::format("payload length {} is outside {}..{}; the file is corrupt", p,
                              kMinPayloadSize, kMaxPayloadSize));
  }
  parts.payload_offset = p_at + 4;
  if (file.size() < parts.payload_offset + p) return truncated("the payload");
  if (file.size() > parts.payload_offset + p) {
    return Refuse(PackageError::kMalformed,
                  fmt::format("{} unexpected bytes follow the payload; the file is corrupt or "
                              "was appended to",
                              file.size() - parts.payload_offset - p));
  }
  parts.payload = file.subspan(parts.payload_offset, p);
  return parts;
}

Result<VerifiedPackage> VerifyPackage(std::span<const uint8_t> file,
                                      const crypto::Ed25519PublicKey& fleet_key, WallTime now) {
  VIGIE_ASSIGN_OR_RETURN(SignedParts parts, ExtractSignedParts(file));
  const std::string_view manifest_json = AsString(parts.manifest);
  if (!crypto::VerifyEd25519(fleet_key, parts.signed_bytes, parts.signature)) {
    // Only to word the refusal: nothing in an unverified manifest is trusted.
    auto claimed = ParseManifest(manifest_json);
    if (claimed && claimed->fleet_signing_key != fleet_key) {
      const bool self_consistent =
          crypto::VerifyEd25519(claimed->fleet_signing_key, parts.signed_bytes, parts.signature)
              .has_value();
      return Refuse(
          PackageError::kBadSignature,
          fmt::format("the signature is not by the expected fleet key {}: the manifest names "
                      "fleet key {}{}; check that --fleet-key is this fleet's signing public "
                      "key, otherwise the package comes from another fleet or is forged: do not "
                      "use it",
                      ShortKey(fleet_key), ShortKey(claimed->fleet_signing_key),
                      self_consistent ? ", which did sign it" : ", and that key did not sign it"));
    }
    return Refuse(PackageError::kTamperedManifest,
                  fmt::format("the signature does not verify under fleet key {}{}: the manifest "
                              "or signature was altered after signing; do not use it, ask the "
                              "fleet operator for a new package",
                              ShortKey(fleet_key),
                              claimed ? " although the manifest names that key"
                                      : " and the manifest is no longer valid"));
  }
  auto manifest = ParseManifest(manifest_json);
  if (!manifest) {
    return Refuse(PackageError::kMalformed,
                  "the signature is valid but the manifest is not: " + manifest.error().message +
                      "; the package was built by an incompatible vigie, ask the fleet operator "
                      "to rebuild it");
  }
  if (manifest->fleet_signing_key != fleet_key) {
    return Refuse(PackageError::kMalformed, "the manifest names fleet key " +
                                                ShortKey(manifest->fleet_signing_key) +
                                                " but was signed by " + ShortKey(fleet_key) +
                                                "; ask the fleet operator to rebuild it");
  }
  const crypto::Sha256Digest digest = crypto::Sha256(parts.payload);
  if (parts.payload.size() != manifest->payload_size || digest != manifest->payload_sha256) {
    return Refuse(PackageError::kTamperedPayload,
                  fmt::format("the sealed secret section ({} bytes, SHA-256 {}) does not match "
                              "the signed manifest ({} bytes, SHA-256 {}): it was altered after "
                              "signing; do not use it, ask the fleet operator for a new package",
                              parts.payload.size(), ShortKey(digest), manifest->payload_size,
                              ShortKey(manifest->payload_sha256)));
  }
  if (now >= manifest->expires_at) {
    return Refuse(PackageError::kExpired,
                  fmt::format("package {} for site {} expired at {} (now {}); ask the fleet "
                              "operator for a fresh package",
                              manifest->package_id, manifest->site_id,
                              FormatRfc3339(manifest->expires_at), FormatRfc3339(now)));
  }
  return VerifiedPackage{std::move(*manifest), Bytes(parts.payload.begin(), parts.payload.end())};
}

Result<SiteSecrets> OpenPackageSecrets(const VerifiedPackage& package,
                                       const crypto::BoxKeyPair& site_key) {
  const Manifest& m = package.manifest;
  if (site_key.public_key != m.site_enrollment_key) {
    return Refuse(PackageError::kWrongSiteKey,
                  fmt::format("package {} for site {} is sealed to enrollment key {}, but the key "
                              "given is {}; use the enrollment.key of site {} (the one whose "
                              "enrollment.pub was handed to the fleet operator)",
                              m.package_id, m.site_id, ShortKey(m.site_enrollment_key),
                              ShortKey(site_key.public_key), m.site_id));
  }
  auto plain = crypto::Open(site_key, package.sealed_payload);
  if (!plain) {
    return Refuse(PackageError::kWrongSiteKey,
                  fmt::format("the secret section of package {} does not open with enrollment "
                              "key {} although the manifest names it; ask the fleet operator to "
                              "rebuild the package for this key",
                              m.package_id, ShortKey(site_key.public_key)));
  }
  return DecodeSecrets(*plain);
}

Result<OpenedPackage> VerifyAndOpenPackage(std::span<const uint8_t> file,
                                           const crypto::Ed25519PublicKey& fleet_key,
                                           const crypto::BoxKeyPair& site_key, WallTime now) {
  VIGIE_ASSIGN_OR_RETURN(VerifiedPackage verified, VerifyPackage(file, fleet_key, now));
  VIGIE_ASSIGN_OR_RETURN(SiteSecrets secrets, OpenPackageSecrets(verified, site_key));
  return OpenedPackage{std::move(verified.manifest), std::move(secrets)};
}

}  // namespace vigie::package
