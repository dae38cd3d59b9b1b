#include "cli/fleet_keys.h"

#include <sys/stat.h>

#include <fmt/format.h>

#include "base/encoding.h"

namespace vigie::cli {

namespace {
std::string FleetDir(const std::string& data_dir) { return data_dir + "/fleet"; }
std::string SeedPath(const std::string& data_dir) { return FleetDir(data_dir) + "/signing.key"; }
}  // namespace

std::string FleetPublicKeyPath(const std::string& data_dir) {
  return FleetDir(data_dir) + "/signing.pub.pem";
}

Result<crypto::SigningKey> LoadOrCreateFleetKey(const std::string& data_dir, Env env) {
  std::string seed_path = SeedPath(data_dir);
  if (!env.fs->Exists(seed_path)) {
    VIGIE_RETURN_IF_ERROR(env.fs->CreateDirs(FleetDir(data_dir), 0700));
    crypto::SigningKey key = crypto::SigningKey::Generate(*env.random);
    SecretBytes seed = key.Seed();
    std::string hex = HexEncode(seed.span());
    auto st = env.fs->WriteFileAtomic(seed_path, hex + "\n", 0600);
    WipeString(hex);
    VIGIE_RETURN_IF_ERROR(st);
    VIGIE_RETURN_IF_ERROR(env.fs->WriteFileAtomic(
        FleetPublicKeyPath(data_dir), crypto::Ed25519PublicKeyToPem(key.public_key()), 0644));
    return key;
  }
  // The FileSystem seam has no stat; the mode check reads the real file (see chain/eth_key.cc).
  struct stat st;
  if (::stat(seed_path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    return MakeError(ErrorCode::kPermissionDenied,
                     fmt::format("{}: the fleet signing key is readable by group or others; run "
                                 "`chmod 600 {}`",
                                 seed_path, seed_path));
  }
  VIGIE_ASSIGN_OR_RETURN(std::string hex, env.fs->ReadFile(seed_path));
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) hex.pop_back();
  auto bytes = HexDecode(hex);
  WipeString(hex);
  if (!bytes || bytes->size() != 32) {
    return MakeError(ErrorCode::kIntegrity,
                     fmt::format("{}: not a 64-hex-digit Ed25519 seed; restore it from backup",
                                 seed_path));
  }
  SecretBytes seed = SecretBytes::CopyFrom(std::span<const uint8_t>(*bytes));
  WipeBytes(bytes->data(), bytes->size());
  return crypto::SigningKey::FromSeed(seed);
}

}  // namespace vigie::cli
