#include "package/cli.h"

#include <fmt/format.h>

#include "base/encoding.h"
#include "base/error.h"
#include "crypto/sign.h"
#include "package/enrollment_key.h"
#include "package/package.h"

namespace vigie::package {

namespace {

int Fail(std::FILE* err, const Error& error) {
  fmt::print(err, "vigie: {}\n", error.message);
  return ExitCodeFor(error.code);
}

std::string Remaining(WallTime now, WallTime until) {
  const int64_t s = ToUnixSeconds(until) - ToUnixSeconds(now);
  if (s >= 86400) return fmt::format("in {}d {}h", s / 86400, (s % 86400) / 3600);
  if (s >= 3600) return fmt::format("in {}h {}m", s / 3600, (s % 3600) / 60);
  return fmt::format("in {}m {}s", s / 60, s % 60);
}

}  // namespace

int RunPackageVerify(const std::string& file, const std::string& fleet_key_file,
                     const std::string& site_key_file, Env& env, std::FILE* out, std::FILE* err) {
  auto fleet_pem = env.fs->ReadFile(fleet_key_file);
  if (!fleet_pem) return Fail(err, fleet_pem.error().Wrap("--fleet-key"));
  auto fleet_key = crypto::Ed25519PublicKeyFromPem(*fleet_pem);
  if (!fleet_key) {
    return Fail(err, fleet_key.error().Wrap("--fleet-key " + fleet_key_file +
                                            ": expected the fleet's Ed25519 public key PEM"));
  }
  auto bytes = env.fs->ReadFile(file);
  if (!bytes) return Fail(err, bytes.error());
  const WallTime now = env.clock->Now();
  auto verified = VerifyPackage(AsBytes(*bytes), *fleet_key, now);
  if (!verified) return Fail(err, verified.error().Wrap(file));

  std::string secrets_line;
  if (!site_key_file.empty()) {
    auto site_key = LoadEnrollmentKeyPair(site_key_file, *env.fs);
    if (!site_key) return Fail(err, site_key.error().Wrap("--site-key"));
    auto secrets = OpenPackageSecrets(*verified, *site_key);
    if (!secrets) return Fail(err, secrets.error().Wrap(file));
    // Names only: the values are secrets (PROV_003).
    std::string names;
    for (const auto& item : secrets->items) {
      if (!names.empty()) names += ", ";
      names += item.name;
      if (item.must_change) names += " (must change)";
    }
    secrets_line = fmt::format("  secrets:     opened with the site key: {} items: {}\n",
                               secrets->items.size(), names);
  }

  const Manifest& m = verified->manifest;
  std::string tls;
  if (!m.fleet_tls_pin.empty()) tls = "pin " + m.fleet_tls_pin;
  if (!m.fleet_ca_pem.empty()) tls += std::string(tls.empty() ? "" : " + ") + "CA bundle";
  fmt::print(out,
             "package OK: {}\n"
             "  signature:   valid, fleet key {}\n"
             "  site:        {}\n"
             "  package id:  {}\n"
             "  fleet url:   {}\n"
             "  fleet tls:   {}\n"
             "  created at:  {}\n"
             "  expires at:  {} ({})\n"
             "  sealed to:   enrollment key {}\n"
             "  payload:     {} bytes, sha256 {}\n"
             "{}",
             file, HexEncode(m.fleet_signing_key), m.site_id, m.package_id, m.fleet_url, tls,
             FormatRfc3339(m.created_at), FormatRfc3339(m.expires_at), Remaining(now, m.expires_at),
             HexEncode(m.site_enrollment_key), m.payload_size, HexEncode(m.payload_sha256),
             secrets_line);
  return 0;
}

int RunPackageVerify(const std::string& file, const std::string& fleet_key_file,
                     const std::string& site_key_file, std::FILE* out) {
  Env env = RealEnv();
  return RunPackageVerify(file, fleet_key_file, site_key_file, env, out, stderr);
}

int RunAgentKeygen(const std::string& out_dir, Env& env, std::FILE* out, std::FILE* err) {
  auto files = WriteEnrollmentKeyPair(out_dir, env);
  if (!files) return Fail(err, files.error());
  fmt::print(out,
             "enrollment key pair written:\n"
             "  private key: {} (mode 0600; keep it on this host, never send it)\n"
             "  public key:  {}\n"
             "  fingerprint: sha256 {}\n"
             "Hand only the public key to the fleet operator; confirm the fingerprint with them "
             "out of band:\n"
             "{}",
             files->private_key_path, files->public_key_path,
             EnrollmentKeyFingerprint(files->public_key),
             EnrollmentPublicKeyToPem(files->public_key));
  return 0;
}

int RunAgentKeygen(const std::string& out_dir, std::FILE* out) {
  Env env = RealEnv();
  return RunAgentKeygen(out_dir, env, out, stderr);
}

}  // namespace vigie::package
