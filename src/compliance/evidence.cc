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

std::shared_ptr<const SharingIndex> BuildSharingIndex(EvidenceSource& evidence) {
  auto principals = evidence.SitePrincipals();
  if (!principals) return nullptr;
  auto index = std::make_shared<SharingIndex>();
  index->principals = std::move(*principals);
  for (size_t i = 0; i < index->principals.size(); ++i) {
    const PrincipalEvidence& p = index->principals[i];
    index->principals_of_site[p.site_id].push_back(i);
    if (!p.name.empty()) index->by_name[p.name].push_back(p.site_id);
    if (!p.arn.empty()) index->by_arn[p.arn].push_back(p.site_id);
    if (!p.access_key_id.empty()) index->by_access_key[p.access_key_id].push_back(p.site_id);
    if (!p.kms_key_arn.empty()) index->by_kms_key[p.kms_key_arn].push_back(p.site_id);
  }
  for (const std::string& site : evidence.Sites()) {
    auto creds = evidence.Credentials(site);
    if (!creds) continue;
    for (const auto& c : *creds) {
      if (!c.secret_ref.empty()) index->by_secret_ref[c.secret_ref].push_back(site);
    }
  }
  return index;
}

}  // namespace vigie::compliance
