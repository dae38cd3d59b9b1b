#include "package/package_test_util.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "crypto/credential.h"

namespace vigie::package::testing {

namespace {
crypto::SigningKey SeededKey(uint8_t fill) {
  SecretBytes seed(crypto::kEd25519SeedSize);
  for (size_t i = 0; i < seed.size(); ++i) seed.data()[i] = static_cast<uint8_t>(fill + i);
  return std::move(crypto::SigningKey::FromSeed(seed).value());
}
}  // namespace

WallTime T0() { return FromUnixSeconds(1767225600); }

Fixture::Fixture()
    : clock(T0()),
      env{&clock, RealFileSystem(), RealRandom()},
      fleet_key(SeededKey(0x10)),
      other_fleet_key(SeededKey(0x80)),
      site_key(crypto::GenerateBoxKeyPair(*RealRandom())),
      other_site_key(crypto::GenerateBoxKeyPair(*RealRandom())) {
  manifest.site_id = "acme-paris";
  manifest.package_id = NewPackageId(*RealRandom());
  manifest.fleet_url = "https://fleet.example.net:8443";
  manifest.fleet_tls_pin = "sha256//" + Base64Encode(Bytes(32, 0xab));
  manifest.created_at = T0();
  manifest.expires_at = T0() + std::chrono::hours(24 * 7);
}

SiteSecrets Fixture::NewSecrets() {
  auto gen = [&](crypto::Alphabet a) {
    auto c = crypto::GenerateCredential(env, a);
    EXPECT_TRUE(c.has_value());
    return std::move(c->value);
  };
  SiteSecrets s;
  s.items.push_back({std::string(kAgentApiSecret), gen(crypto::Alphabet::kBase64Url), false});
  s.items.push_back({std::string(kAdminPassword), gen(crypto::Alphabet::kAlnumSymbols), true});
  s.items.push_back({std::string(kDbPassword), gen(crypto::Alphabet::kAlnum), false});
  s.items.push_back(
      {std::string(kCloudAccessKeyId), SecretBytes::CopyFrom("AKIAVIGIETEST0000001"), false});
  s.items.push_back({std::string(kCloudSecretAccessKey), gen(crypto::Alphabet::kBase64Url), false});
  return s;
}

std::vector<std::string> Fixture::Values(const SiteSecrets& secrets) {
  std::vector<std::string> out;
  for (const auto& item : secrets.items) out.emplace_back(item.value.view());
  return out;
}

Bytes Fixture::Build(const SiteSecrets& secrets) {
  auto pkg = BuildPackage(manifest, secrets, site_key.public_key, fleet_key);
  EXPECT_TRUE(pkg.has_value()) << pkg.error().ToString();
  return pkg.value_or(Bytes{});
}

Bytes ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << path;
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void WriteAll(const std::string& path, std::span<const uint8_t> data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  EXPECT_TRUE(f.good()) << path;
}

bool HaveCommand(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

int RunShell(const std::string& dir, const std::string& script, std::string* output) {
  const std::string script_path = dir + "/run.sh";
  WriteAll(script_path, AsBytes(script));
  const std::string cmd = "cd '" + dir + "' && /bin/sh -e ./run.sh 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  std::array<char, 4096> buf;
  size_t n;
  output->clear();
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) output->append(buf.data(), n);
  const int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace vigie::package::testing
