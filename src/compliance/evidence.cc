#include "compliance/evidence.h"

namespace vigie::compliance {

std::optional<std::string> MemoryEvidence::Config(std::string_view key) {
  auto it = config_.find(key);
  if (it == config_.end()) return std::nullopt;
  return it->second;
}

std::optional<VaultBootstrapEvidence> MemoryEvidence::VaultBootstrap(std::string_view site) {
  auto it = vault_.find(site);
  if (it == vault_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::vector<SecretEvidence>> MemoryEvidence::SecretsWithPrefix(
    std::string_view prefix) {
  if (!secrets_) return std::nullopt;
  std::vector<SecretEvidence> out;
  for (const auto& s : *secrets_) {
    if (s.name.compare(0, prefix.size(), prefix) == 0) out.push_back(s);
  }
  return out;
}

std::optional<std::vector<PrincipalEvidence>> MemoryEvidence::SitePrincipals() {
  if (principals_.empty()) return std::nullopt;
  return principals_;
}

std::optional<std::vector<CredentialEvidence>> MemoryEvidence::Credentials(std::string_view site) {
  auto it = credentials_.find(site);
  if (it == credentials_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::vector<PackageEvidence>> MemoryEvidence::Packages(std::string_view site) {
  auto it = packages_.find(site);
  if (it == packages_.end()) return std::nullopt;
  return it->second;
}

}  // namespace vigie::compliance
