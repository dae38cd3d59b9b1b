#include "package/package.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "package/package_test_util.h"

namespace vigie::package {
namespace {

using testing::Fixture;
using testing::T0;

constexpr auto kHour = std::chrono::hours(1);

// Asserts that `r` failed with `expected`, its ErrorCode, and a message naming it.
template <typename T>
void ExpectRefused(const Result<T>& r, PackageError expected) {
  ASSERT_FALSE(r.has_value()) << "accepted; expected " << PackageErrorName(expected);
  EXPECT_EQ(PackageErrorOf(r.error()), expected) << r.error().ToString();
  EXPECT_EQ(r.error().code, PackageErrorCode(expected)) << r.error().ToString();
  EXPECT_NE(r.error().message.find("package rejected (" + std::string(PackageErrorName(expected)) +
                                   "): "),
            std::string::npos)
      << r.error().message;
}

// Offset of the first occurrence of `needle` in `hay`.
size_t Find(const Bytes& hay, std::string_view needle) {
  auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end());
  EXPECT_NE(it, hay.end()) << needle;
  return static_cast<size_t>(it - hay.begin());
}

TEST(PackageTest, RoundTripRecoversManifestAndSecrets) {
  Fixture f;
  SiteSecrets secrets = f.NewSecrets();
  const Bytes pkg = f.Build(secrets);
  ASSERT_TRUE(std::equal(kMagic.begin(), kMagic.end(), pkg.begin()));
  EXPECT_EQ(pkg[4], kFormatVersion);

  auto verified = VerifyPackage(pkg, f.fleet_key.public_key(), T0() + kHour);
  ASSERT_TRUE(verified.has_value()) << verified.error().ToString();
  const Manifest& m = verified->manifest;
  EXPECT_EQ(m.site_id, "acme-paris");
  EXPECT_EQ(m.package_id, f.manifest.package_id);
  EXPECT_EQ(m.fleet_url, f.manifest.fleet_url);
  EXPECT_EQ(m.fleet_tls_pin, f.manifest.fleet_tls_pin);
  EXPECT_TRUE(m.fleet_ca_pem.empty());
  EXPECT_EQ(m.created_at, f.manifest.created_at);
  EXPECT_EQ(m.expires_at, f.manifest.expires_at);
  EXPECT_EQ(m.fleet_signing_key, f.fleet_key.public_key());
  EXPECT_EQ(m.site_enrollment_key, f.site_key.public_key);
  EXPECT_EQ(m.payload_size, verified->sealed_payload.size());
  EXPECT_EQ(m.payload_sha256, crypto::Sha256(verified->sealed_payload));

  auto opened = OpenPackageSecrets(*verified, f.site_key);
  ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
  ASSERT_EQ(opened->items.size(), secrets.items.size());
  for (size_t i = 0; i < secrets.items.size(); ++i) {
    EXPECT_EQ(opened->items[i].name, secrets.items[i].name);
    EXPECT_TRUE(opened->items[i].value == secrets.items[i].value) << secrets.items[i].name;
    EXPECT_EQ(opened->items[i].must_change, secrets.items[i].must_change);
  }
  ASSERT_NE(opened->Find(kAdminPassword), nullptr);
  EXPECT_TRUE(opened->Find(kAdminPassword)->must_change);
  EXPECT_FALSE(opened->Find(kAgentApiSecret)->must_change);
  EXPECT_EQ(opened->Find("nope"), nullptr);

  auto both = VerifyAndOpenPackage(pkg, f.fleet_key.public_key(), f.site_key, T0() + kHour);
  ASSERT_TRUE(both.has_value()) << both.error().ToString();
  EXPECT_EQ(both->manifest.package_id, f.manifest.package_id);
  EXPECT_EQ(both->secrets.items.size(), secrets.items.size());
}

TEST(PackageTest, ArbitrarySecretBytesAndCaBundleRoundTrip) {
  Fixture f;
  f.manifest.fleet_tls_pin.clear();
  f.manifest.fleet_ca_pem =
      "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\"quoted\"\\back\n"
      "-----END CERTIFICATE-----\n";
  SiteSecrets s;
  Bytes all(256);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint8_t>(i);
  s.items.push_back({"binary_blob", SecretBytes::CopyFrom(all), false});
  s.items.push_back({"quote_and_brackets", SecretBytes::CopyFrom("\"]},{\"x\":"), true});
  const Bytes pkg = f.Build(s);
  auto opened = VerifyAndOpenPackage(pkg, f.fleet_key.public_key(), f.site_key, T0());
  ASSERT_TRUE(opened.has_value()) << opened.error().ToString();
  EXPECT_EQ(opened->manifest.fleet_ca_pem, f.manifest.fleet_ca_pem);
  ASSERT_EQ(opened->secrets.items.size(), 2u);
  EXPECT_TRUE(opened->secrets.items[0].value == s.items[0].value);
  EXPECT_TRUE(opened->secrets.items[1].value == s.items[1].value);
  EXPECT_TRUE(opened->secrets.items[1].must_change);
}

TEST(PackageTest, LayoutMatchesTheDocumentedOffsets) {
  Fixture f;
  const Bytes pkg = f.Build(f.NewSecrets());
  auto parts = ExtractSignedParts(pkg);
  ASSERT_TRUE(parts.has_value()) << parts.error().ToString();
  const size_t m = (size_t{pkg[5]} << 24) | (size_t{pkg[6]} << 16) | (size_t{pkg[7]} << 8) | pkg[8];
  const size_t n = 9 + m;
  EXPECT_EQ(parts->signed_bytes.size(), n);
  EXPECT_EQ(parts->manifest.data(), pkg.data() + 9);
  EXPECT_EQ(parts->manifest.size(), m);
  EXPECT_EQ(parts->signature_offset, n + 4);
  EXPECT_EQ(Bytes(pkg.begin() + n, pkg.begin() + n + 4), (Bytes{0, 0, 0, 64}));
  EXPECT_TRUE(std::equal(parts->signature.begin(), parts->signature.end(), pkg.begin() + n + 4));
  EXPECT_EQ(parts->payload_offset, n + 72);
  EXPECT_EQ(parts->payload_offset + parts->payload.size(), pkg.size());
  EXPECT_TRUE(crypto::VerifyEd25519(f.fleet_key.public_key(), parts->signed_bytes, parts->signature)
                  .has_value());

  // The manifest is canonical JSON: compact, keys sorted, and it carries the payload digest.
  const std::string text(AsString(parts->manifest));
  const auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j.dump(), text);
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  EXPECT_EQ(j["payload_sha256"], HexEncode(crypto::Sha256(parts->payload)));
  EXPECT_EQ(j["payload_size"], parts->payload.size());
  EXPECT_EQ(j["fleet_signing_key"], HexEncode(f.fleet_key.public_key()));
  EXPECT_EQ(j["site_enrollment_key"], HexEncode(f.site_key.public_key));
  EXPECT_EQ(j["created_at"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(j["expires_at"], "2026-01-08T00:00:00Z");
  EXPECT_EQ(j["format_version"], 1);
}

// PROV_003: a scan for every secret finds none in the package, in any common encoding.
TEST(PackageTest, PackageBytesHoldNoSecretInClear) {
  Fixture f;
  SiteSecrets secrets = f.NewSecrets();
  const Bytes pkg = f.Build(secrets);
  const std::string_view hay = AsString(pkg);
  for (const std::string& v : Fixture::Values(secrets)) {
    ASSERT_GE(v.size(), 16u);
    for (const std::string& form : {v, Base64Encode(AsBytes(v)), HexEncode(AsBytes(v)),
                                    v.substr(0, 12), Base64Encode(AsBytes(v)).substr(0, 12)}) {
      EXPECT_EQ(hay.find(form), std::string_view::npos) << "a secret leaked into the package";
    }
  }
  for (const auto& item : secrets.items) {
    EXPECT_EQ(hay.find(item.name), std::string_view::npos) << "secret names are sealed too";
  }
}

TEST(PackageTest, SealingIsFreshEachTime) {
  Fixture f;
  SiteSecrets secrets = f.NewSecrets();
  const Bytes a = f.Build(secrets);
  const Bytes b = f.Build(secrets);
  const auto pa = *ExtractSignedParts(a);
  const auto pb = *ExtractSignedParts(b);
  // Same secrets, new ephemeral key each time: the ciphertexts (and so the digests) differ.
  EXPECT_EQ(pa.payload.size(), pb.payload.size());
  EXPECT_FALSE(std::equal(pa.payload.begin(), pa.payload.end(), pb.payload.begin()));
}

// --- Each refusal class, with its own reason. ---

TEST(PackageTest, UnsignedPackageIsRefused) {
  Fixture f;
  auto unsigned_pkg =
      BuildUnsignedPackageForTesting(f.manifest, f.NewSecrets(), f.site_key.public_key);
  ASSERT_TRUE(unsigned_pkg.has_value()) << unsigned_pkg.error().ToString();
  ExpectRefused(VerifyPackage(*unsigned_pkg, f.fleet_key.public_key(), T0()),
                PackageError::kUnsigned);
  ExpectRefused(ExtractSignedParts(*unsigned_pkg), PackageError::kUnsigned);

  // Signature section missing altogether: the file stops after the manifest.
  const Bytes pkg = f.Build(f.NewSecrets());
  const size_t n = ExtractSignedParts(pkg)->signed_bytes.size();
  const Bytes cut(pkg.begin(), pkg.begin() + static_cast<long>(n));
  ExpectRefused(VerifyPackage(cut, f.fleet_key.public_key(), T0()), PackageError::kUnsigned);
}

TEST(PackageTest, SignedByAnotherFleetKeyIsBadSignature) {
  Fixture f;
  auto pkg = BuildPackage(f.manifest, f.NewSecrets(), f.site_key.public_key, f.other_fleet_key);
  ASSERT_TRUE(pkg.has_value());
  auto r = VerifyPackage(*pkg, f.fleet_key.public_key(), T0());
  ExpectRefused(r, PackageError::kBadSignature);
  EXPECT_NE(r.error().message.find("which did sign it"), std::string::npos) << r.error().message;
  // It verifies under the key that did sign it.
  EXPECT_TRUE(VerifyPackage(*pkg, f.other_fleet_key.public_key(), T0()).has_value());
}

TEST(PackageTest, FlippedManifestByteIsTamperedManifest) {
  Fixture f;
  Bytes pkg = f.Build(f.NewSecrets());
  const size_t at = Find(pkg, "acme-paris");
  pkg[at] = 'b';  // "bcme-paris": still a valid manifest, but not the one signed
  ExpectRefused(VerifyPackage(pkg, f.fleet_key.public_key(), T0()),
                PackageError::kTamperedManifest);
  pkg[at] = '"';  // breaks the JSON itself
  ExpectRefused(VerifyPackage(pkg, f.fleet_key.public_key(), T0()),
                PackageError::kTamperedManifest);
}

TEST(PackageTest, FlippedSignatureByteIsTamperedManifest) {
  Fixture f;
  Bytes pkg = f.Build(f.NewSecrets());
  const size_t sig = ExtractSignedParts(pkg)->signature_offset;
  pkg[sig + 10] ^= 0x01;
  ExpectRefused(VerifyPackage(pkg, f.fleet_key.public_key(), T0()),
                PackageError::kTamperedManifest);
}

TEST(PackageTest, FlippedPayloadByteIsTamperedPayload) {
  Fixture f;
  const Bytes good = f.Build(f.NewSecrets());
  const size_t start = ExtractSignedParts(good)->payload_offset;
  // Every byte of the sealed section, one at a time.
  for (size_t i = start; i < good.size(); ++i) {
    Bytes pkg = good;
    pkg[i] ^= 0x40;
    auto r = VerifyPackage(pkg, f.fleet_key.public_key(), T0());
    ASSERT_FALSE(r.has_value()) << "byte " << i;
    ASSERT_EQ(PackageErrorOf(r.error()), PackageError::kTamperedPayload) << r.error().message;
  }
  Bytes pkg = good;
  pkg.back() ^= 0x01;
  ExpectRefused(VerifyPackage(pkg, f.fleet_key.public_key(), T0()), PackageError::kTamperedPayload);
}

TEST(PackageTest, NoSingleByteChangeAnywhereIsAccepted) {
  Fixture f;
  const Bytes good = f.Build(f.NewSecrets());
  const auto parts = *ExtractSignedParts(good);
  const size_t n = parts.signed_bytes.size();
  std::map<PackageError, int> seen;
  for (size_t i = 0; i < good.size(); ++i) {
    Bytes pkg = good;
    pkg[i] ^= 0x04;
    auto r = VerifyPackage(pkg, f.fleet_key.public_key(), T0());
    ASSERT_FALSE(r.has_value()) << "a change at byte " << i << " was accepted";
    auto reason = PackageErrorOf(r.error());
    ASSERT_TRUE(reason.has_value()) << r.error().ToString();
    ++seen[*reason];
    if (i >= 9 && i < n) {
      // Inside the manifest: the signature fails; a changed fleet_signing_key names another key.
      EXPECT_TRUE(*reason == PackageError::kTamperedManifest ||
                  *reason == PackageError::kBadSignature)
          << i << ": " << r.error().message;
    } else if (i >= parts.payload_offset) {
      EXPECT_EQ(*reason, PackageError::kTamperedPayload) << i;
    }
  }
  EXPECT_GT(seen[PackageError::kTamperedManifest], 0);
  EXPECT_GT(seen[PackageError::kTamperedPayload], 0);
  EXPECT_GT(seen[PackageError::kUnknownVersion], 0);
  EXPECT_GT(seen[PackageError::kMalformed], 0);
}

TEST(PackageTest, ExpiredPackageIsRefusedAtExpiry) {
  Fixture f;
  const Bytes pkg = f.Build(f.NewSecrets());
  const WallTime expiry = f.manifest.expires_at;
  EXPECT_TRUE(
      VerifyPackage(pkg, f.fleet_key.public_key(), expiry - std::chrono::seconds(1)).has_value());
  auto r = VerifyPackage(pkg, f.fleet_key.public_key(), expiry);
  ExpectRefused(r, PackageError::kExpired);
  EXPECT_NE(r.error().message.find("2026-01-08T00:00:00Z"), std::string::npos);
  ExpectRefused(VerifyPackage(pkg, f.fleet_key.public_key(), expiry + kHour * 24 * 365),
                PackageError::kExpired);
}

TEST(PackageTest, WrongSiteKeyCannotOpenSecrets) {
  Fixture f;
  const Bytes pkg = f.Build(f.NewSecrets());
  auto verified = VerifyPackage(pkg, f.fleet_key.public_key(), T0());
  ASSERT_TRUE(verified.has_value());
  auto r = OpenPackageSecrets(*verified, f.other_site_key);
  ExpectRefused(r, PackageError::kWrongSiteKey);
  EXPECT_NE(r.error().message.find("acme-paris"), std::string::npos);
  ExpectRefused(VerifyAndOpenPackage(pkg, f.fleet_key.public_key(), f.other_site_key, T0()),
                PackageError::kWrongSiteKey);

  // Even if the manifest claimed the other key, the sealed box itself does not open with it.
  VerifiedPackage lying = *verified;
  lying.manifest.site_enrollment_key = f.other_site_key.public_key;
  ExpectRefused(OpenPackageSecrets(lying, f.other_site_key), PackageError::kWrongSiteKey);
}

TEST(PackageTest, UnknownFormatVersionIsRefused) {
  Fixture f;
  Bytes pkg = f.Build(f.NewSecrets());
  for (uint8_t v : {0, 2, 255}) {
    pkg[4] = v;
    auto r = VerifyPackage(pkg, f.fleet_key.public_key(), T0());
    ExpectRefused(r, PackageError::kUnknownVersion);
    EXPECT_NE(r.error().message.find("version " + std::to_string(v)), std::string::npos);
  }
  // Recognised even when nothing follows the version byte.
  ExpectRefused(VerifyPackage(Bytes{'V', 'P', 'K', 'G', 9}, f.fleet_key.public_key(), T0()),
                PackageError::kUnknownVersion);
}

TEST(PackageTest, TruncatedOrMalformedFilesAreRefused) {
  Fixture f;
  const Bytes good = f.Build(f.NewSecrets());
  const size_t n = ExtractSignedParts(good)->signed_bytes.size();
  for (size_t len = 0; len < good.size(); ++len) {
    const Bytes cut(good.begin(), good.begin() + static_cast<long>(len));
    auto r = VerifyPackage(cut, f.fleet_key.public_key(), T0());
    ASSERT_FALSE(r.has_value()) << len;
    const PackageError want = len == n ? PackageError::kUnsigned : PackageError::kMalformed;
    ASSERT_EQ(PackageErrorOf(r.error()), want) << len << ": " << r.error().message;
  }
  Bytes trailing = good;
  trailing.push_back(0);
  ExpectRefused(VerifyPackage(trailing, f.fleet_key.public_key(), T0()), PackageError::kMalformed);
  ExpectRefused(VerifyPackage(AsBytes("PK\x03\x04 a zip file"), f.fleet_key.public_key(), T0()),
                PackageError::kMalformed);
  Bytes huge_manifest = good;
  huge_manifest[5] = 0x7f;  // M far beyond kMaxManifestSize
  ExpectRefused(VerifyPackage(huge_manifest, f.fleet_key.public_key(), T0()),
                PackageError::kMalformed);
  Bytes bad_sig_len = good;
  bad_sig_len[n + 3] = 63;
  ExpectRefused(VerifyPackage(bad_sig_len, f.fleet_key.public_key(), T0()),
                PackageError::kMalformed);
}

TEST(PackageTest, EveryRefusalHasItsOwnReasonAndMessage) {
  Fixture f;
  const Bytes good = f.Build(f.NewSecrets());
  const auto parts = *ExtractSignedParts(good);
  const auto fleet = f.fleet_key.public_key();
  std::map<PackageError, std::string> messages;
  auto record = [&](const Error& e) { messages[PackageErrorOf(e).value()] = e.message; };

  record(VerifyPackage(
             *BuildUnsignedPackageForTesting(f.manifest, f.NewSecrets(), f.site_key.public_key),
             fleet, T0())
             .error());
  record(VerifyPackage(
             *BuildPackage(f.manifest, f.NewSecrets(), f.site_key.public_key, f.other_fleet_key),
             fleet, T0())
             .error());
  Bytes pkg = good;
  pkg[Find(pkg, "acme-paris")] = 'x';
  record(VerifyPackage(pkg, fleet, T0()).error());
  pkg = good;
  pkg[parts.payload_offset + 3] ^= 1;
  record(VerifyPackage(pkg, fleet, T0()).error());
  record(VerifyPackage(good, fleet, f.manifest.expires_at).error());
  record(OpenPackageSecrets(*VerifyPackage(good, fleet, T0()), f.other_site_key).error());
  pkg = good;
  pkg[4] = 2;
  record(VerifyPackage(pkg, fleet, T0()).error());
  record(VerifyPackage(Bytes{1, 2, 3}, fleet, T0()).error());

  ASSERT_EQ(messages.size(), 8u) << "each of the 8 classes must be reachable and distinct";
  std::set<std::string> distinct;
  std::set<std::string> names;
  for (const auto& [reason, message] : messages) {
    distinct.insert(message);
    names.insert(std::string(PackageErrorName(reason)));
    // Every message tells the operator what to do next.
    EXPECT_TRUE(message.find("ask") != std::string::npos ||
                message.find("check") != std::string::npos ||
                message.find("use the") != std::string::npos ||
                message.find("upgrade") != std::string::npos)
        << message;
  }
  EXPECT_EQ(distinct.size(), 8u);
  EXPECT_EQ(names.size(), 8u);
}

TEST(PackageTest, PackageErrorOfSurvivesWrapAndIgnoresOtherErrors) {
  Fixture f;
  auto r = VerifyPackage(Bytes{'V', 'P', 'K', 'G', 7}, f.fleet_key.public_key(), T0());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(PackageErrorOf(r.error().Wrap("/srv/acme-paris.vpkg")), PackageError::kUnknownVersion);
  EXPECT_EQ(PackageErrorOf(Error{ErrorCode::kIo, "read x: No such file"}), std::nullopt);
  // A message that merely mentions the marker with the wrong code is not a package refusal.
  EXPECT_EQ(PackageErrorOf(Error{ErrorCode::kIo, "package rejected (expired): x"}), std::nullopt);
}

// --- Build-time validation. ---

TEST(PackageBuildTest, RejectsInvalidManifestAndSecrets) {
  Fixture f;
  auto build = [&](const Manifest& m, const SiteSecrets& s) {
    return BuildPackage(m, s, f.site_key.public_key, f.fleet_key);
  };
  struct Case {
    const char* what;
    std::function<void(Manifest&)> edit;
    const char* needle;
  };
  const std::vector<Case> cases = {
      {"uppercase site", [](Manifest& m) { m.site_id = "Acme"; }, "site_id"},
      {"leading dash", [](Manifest& m) { m.site_id = "-acme"; }, "site_id"},
      {"empty site", [](Manifest& m) { m.site_id = ""; }, "site_id"},
      {"short package id", [](Manifest& m) { m.package_id = "abc"; }, "package_id"},
      {"plain http", [](Manifest& m) { m.fleet_url = "http://fleet.example"; }, "https"},
      {"no host", [](Manifest& m) { m.fleet_url = "https://"; }, "fleet_url"},
      {"space in url", [](Manifest& m) { m.fleet_url = "https://a b"; }, "fleet_url"},
      {"no pin no ca", [](Manifest& m) { m.fleet_tls_pin.clear(); }, "neither"},
      {"pin not sha256", [](Manifest& m) { m.fleet_tls_pin = "sha1//AAAA"; }, "fleet_tls_pin"},
      {"pin short", [](Manifest& m) { m.fleet_tls_pin = "sha256//AAAA"; }, "fleet_tls_pin"},
      {"ca not pem", [](Manifest& m) { m.fleet_ca_pem = "hello"; }, "fleet_ca_pem"},
      {"expiry before creation",
       [](Manifest& m) { m.expires_at = m.created_at - std::chrono::seconds(1); }, "expires_at"},
      {"expiry equals creation", [](Manifest& m) { m.expires_at = m.created_at; }, "expires_at"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    Manifest m = f.manifest;
    c.edit(m);
    auto r = build(m, f.NewSecrets());
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(c.needle), std::string::npos) << r.error().message;
  }

  SiteSecrets none;
  EXPECT_FALSE(build(f.manifest, none).has_value());
  SiteSecrets dup = f.NewSecrets();
  dup.items.push_back({std::string(kDbPassword), SecretBytes::CopyFrom("x"), false});
  auto r = build(f.manifest, dup);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("twice"), std::string::npos);
  SiteSecrets bad_name;
  bad_name.items.push_back({"Bad Name", SecretBytes::CopyFrom("x"), false});
  EXPECT_FALSE(build(f.manifest, bad_name).has_value());
  SiteSecrets empty_value;
  empty_value.items.push_back({"empty", SecretBytes(), false});
  EXPECT_FALSE(build(f.manifest, empty_value).has_value());

  // A low-order X25519 point would make the sealed box readable by anyone.
  auto low = BuildPackage(f.manifest, f.NewSecrets(), crypto::BoxPublicKey{}, f.fleet_key);
  ASSERT_FALSE(low.has_value());
  EXPECT_EQ(low.error().code, ErrorCode::kInvalidArgument);
}

TEST(PackageBuildTest, SubSecondTimesAreTruncatedToWholeSeconds) {
  Fixture f;
  f.manifest.created_at = T0() + std::chrono::milliseconds(900);
  const Bytes pkg = f.Build(f.NewSecrets());
  auto v = VerifyPackage(pkg, f.fleet_key.public_key(), T0() + kHour);
  ASSERT_TRUE(v.has_value()) << v.error().ToString();
  EXPECT_EQ(v->manifest.created_at, T0());
}

TEST(ManifestTest, ParseIsStrictAndCanonical) {
  Fixture f;
  const Bytes pkg = f.Build(f.NewSecrets());
  const std::string text(AsString(ExtractSignedParts(pkg)->manifest));
  auto m = ParseManifest(text);
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(SerializeManifest(*m).value(), text);

  auto j = nlohmann::json::parse(text);
  EXPECT_FALSE(ParseManifest(j.dump(1)).has_value()) << "whitespace is not canonical";
  auto extra = j;
  extra["zzz"] = 1;
  auto r = ParseManifest(extra.dump());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("unknown key \"zzz\""), std::string::npos);
  auto missing = j;
  missing.erase("expires_at");
  r = ParseManifest(missing.dump());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("expires_at"), std::string::npos);
  auto wrong_type = j;
  wrong_type["payload_size"] = "12";
  EXPECT_FALSE(ParseManifest(wrong_type.dump()).has_value());
  auto upper = j;
  upper["fleet_signing_key"] = HexEncode(f.fleet_key.public_key());
  std::transform(upper["fleet_signing_key"].get_ref<std::string&>().begin(),
                 upper["fleet_signing_key"].get_ref<std::string&>().end(),
                 upper["fleet_signing_key"].get_ref<std::string&>().begin(), ::toupper);
  EXPECT_FALSE(ParseManifest(upper.dump()).has_value());
  auto bad_date = j;
  bad_date["created_at"] = "2026-02-30T00:00:00Z";
  r = ParseManifest(bad_date.dump());
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("RFC 3339"), std::string::npos);
  auto v2 = j;
  v2["format_version"] = 2;
  EXPECT_FALSE(ParseManifest(v2.dump()).has_value());
  EXPECT_FALSE(ParseManifest("[]").has_value());
  EXPECT_FALSE(ParseManifest("{").has_value());
}

}  // namespace
}  // namespace vigie::package
