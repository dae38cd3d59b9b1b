// Checks of section "Provisioning: identity and credentials" of spec/INVARIANTS.md.
//
// A rule's check is `CheckResult Check_<RULE_ID>(const RuleInfo&, EvidenceSource&, std::string_view
// site)` in this file, registered below with Register(). Until the capability it judges exists
// (provisioning (src/provision) and the identity backend), a rule is registered with
// RegisterNotImplemented() and reports FAIL "not implemented" -- never PASS.

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "base/encoding.h"
#include "compliance/registry.h"
#include "compliance/rules/families.h"
#include "compliance/rules/vault_common.h"
#include "crypto/hash.h"

namespace vigie::compliance {

namespace {

// PROV_004: every share of the recorded init (indices 1..recovery_shares) is a secret of the
// secrets backend, tagged with the site and its share index. The "not on a local disk" half is
// a property of src/vault (shares live only in SecretBytes and the backend; its scan test proves
// no file holds one); this check cannot list other machines' disks and says so in its evidence.
CheckResult Check_PROV_004(const RuleInfo&, EvidenceSource& evidence, std::string_view site) {
  auto vault = evidence.VaultBootstrap(site);
  if (!vault) return vault_rules::NoVaultRecord(evidence, site);
  if (!vault->init) return vault_rules::NoInitRecord(site);
  const VaultInitEvidence& init = *vault->init;
  std::string prefix = vault_rules::RecoverySharePrefix(site);
  auto secrets = evidence.SecretsWithPrefix(prefix);
  if (!secrets) {
    return NoEvidence("the secrets backend is not visible to this check: the recovery shares "
                      "cannot be listed",
                      "run the compliance check with the fleet's secrets backend configured "
                      "(and its credentials in the environment)");
  }
  std::vector<std::string> missing;
  for (int64_t i = 1; i <= init.recovery_shares; ++i) {
    std::string name = prefix + std::to_string(i);
    bool found = std::any_of(secrets->begin(), secrets->end(), [&](const SecretEvidence& s) {
      auto site_tag = s.tags.find("site");
      auto index_tag = s.tags.find("share_index");
      return s.name == name && site_tag != s.tags.end() && site_tag->second == site &&
             index_tag != s.tags.end() && index_tag->second == std::to_string(i);
    });
    if (!found) missing.push_back(std::to_string(i));
  }
  std::vector<EvidenceItem> items = {
      {"secret_prefix", prefix},
      {"shares_expected", std::to_string(init.recovery_shares)},
      {"shares_present", std::to_string(init.recovery_shares - static_cast<int64_t>(missing.size()))},
      {"local_disk", "vigie writes no recovery share to disk (not scanned by this check)"}};
  if (init.recovery_shares <= 0 || !missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    items.push_back({"missing_share_indices", list.empty() ? "all" : list});
    return Fail(fmt::format("recovery shares missing from the secrets backend (indices {})",
                            list.empty() ? "all" : list),
                fmt::format("the Vault of site {} cannot be recovered without them: re-create "
                            "the Vault and run `vigie vault bootstrap --site {}`",
                            site, site),
                items);
  }
  return Pass(fmt::format("{} recovery shares in the secrets backend under {}*",
                          init.recovery_shares, prefix),
              items);
}

// --- Provisioning evidence (src/provision): PROV_001, PROV_002, PROV_003, PROV_005. ---

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

CheckResult NoProvisioningRecord(std::string_view site, std::string_view what) {
  return NoEvidence(fmt::format("no {} recorded for site {}", what, site),
                    fmt::format("provision the site with `vigie site provision {}` (a failed run "
                                "is completed by running it again)",
                                site));
}

// True when `resource` names `site` as one path segment ("/<site>/").
bool NamesSite(std::string_view resource, std::string_view site) {
  return resource.find(fmt::format("/{}/", site)) != std::string_view::npos;
}

// Returns the resources of `policy` that are not `site`'s own: every Resource must name the
// site as a path segment, or be the site's own KMS key, or be a bucket ARN whose statement
// restricts s3:prefix to the site's prefix. Actions must not be wildcards.
std::vector<std::string> ForeignResources(const std::string& policy, std::string_view site,
                                          std::string_view kms_key_arn) {
  std::vector<std::string> bad;
  auto doc = nlohmann::json::parse(policy, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("Statement") ||
      !doc["Statement"].is_array()) {
    return {"policy document is not an IAM policy with a Statement array"};
  }
  for (const auto& st : doc["Statement"]) {
    if (!st.is_object()) {
      bad.push_back("a statement that is not an object");
      continue;
    }
    if (st.value("Effect", "") != "Allow") continue;  // Deny statements only narrow
    auto as_list = [](const nlohmann::json& v) {
      std::vector<std::string> out;
      if (v.is_string()) out.push_back(v.get<std::string>());
      if (v.is_array()) {
        for (const auto& e : v) out.push_back(e.is_string() ? e.get<std::string>() : e.dump());
      }
      return out;
    };
    for (const auto& action : as_list(st.value("Action", nlohmann::json()))) {
      if (action.find('*') != std::string::npos) bad.push_back("action " + action);
    }
    if (st.contains("NotResource") || st.contains("NotAction")) {
      bad.push_back("a NotResource/NotAction statement");
    }
    std::vector<std::string> prefixes;
    if (st.contains("Condition") && st["Condition"].is_object()) {
      const auto& like = st["Condition"].value("StringLike", nlohmann::json::object());
      if (like.is_object() && like.contains("s3:prefix")) prefixes = as_list(like["s3:prefix"]);
    }
    for (const auto& resource : as_list(st.value("Resource", nlohmann::json()))) {
      if (NamesSite(resource, site)) continue;
      if (!kms_key_arn.empty() && resource == kms_key_arn) continue;
      const bool bucket_arn = resource.rfind("arn:aws:s3:::", 0) == 0 &&
                              resource.find('/') == std::string::npos &&
                              resource.find('*') == std::string::npos;
      const bool prefixes_ok =
          !prefixes.empty() && std::all_of(prefixes.begin(), prefixes.end(), [&](const auto& p) {
            return NamesSite("/" + p, site);
          });
      if (bucket_arn && prefixes_ok) continue;
      bad.push_back("resource " + resource);
    }
  }
  return bad;
}

// PROV_001: exactly one principal for the site; its name, ARN, access key and KMS key are not
// another site's; no secret is shared; its policy names only the site's own resources.
CheckResult Check_PROV_001(const RuleInfo&, EvidenceSource& evidence, std::string_view site) {
  // The fleet-wide index of the evaluation; a direct call (tests) builds its own.
  std::shared_ptr<const SharingIndex> own;
  const SharingIndex* index = evidence.sharing();
  if (index == nullptr) {
    own = BuildSharingIndex(evidence);
    index = own.get();
  }
  if (index == nullptr) return NoProvisioningRecord(site, "principal");
  auto found = index->principals_of_site.find(site);
  if (found == index->principals_of_site.end() || found->second.empty()) {
    return NoProvisioningRecord(site, "principal");
  }
  const std::vector<size_t>& mine = found->second;
  std::vector<EvidenceItem> items = {{"principal_count", std::to_string(mine.size())}};
  if (mine.size() > 1) {
    return Fail(fmt::format("site {} has {} principals", site, mine.size()),
                "delete the extra principals: a site has exactly one (PROV_001)", items);
  }
  const PrincipalEvidence& p = index->principals[mine[0]];
  items.push_back({"principal", p.arn});
  items.push_back({"backend", p.backend});
  std::vector<std::string> shared;
  auto others = [&](const auto& map, const std::string& key, std::string_view what) {
    if (key.empty()) return;
    auto it = map.find(key);
    if (it == map.end()) return;
    std::set<std::string> seen;
    for (const std::string& other : it->second) {
      if (other != site && seen.insert(other).second) {
        shared.push_back(fmt::format("{} {} with site {}", what, key, other));
      }
    }
  };
  others(index->by_name, p.name, "principal");
  others(index->by_arn, p.arn, "principal");
  others(index->by_access_key, p.access_key_id, "access key");
  others(index->by_kms_key, p.kms_key_arn, "KMS key");
  // Secrets: the readable copies a site's credentials name are its own.
  if (auto creds = evidence.Credentials(site)) {
    for (const auto& c : *creds) others(index->by_secret_ref, c.secret_ref, "secret");
  }
  if (!shared.empty()) {
    items.push_back({"shared", Join(shared)});
    return Fail(fmt::format("site {} shares {}", site, Join(shared)),
                fmt::format("give site {} its own principal, access key, key and secrets: "
                            "re-provision it (`vigie site provision {}`) after removing the "
                            "shared resource",
                            site, site),
                items);
  }
  std::vector<std::string> foreign = ForeignResources(p.policy_document, site, p.kms_key_arn);
  if (!foreign.empty()) {
    items.push_back({"foreign_policy_entries", Join(foreign)});
    return Fail(fmt::format("the policy of {} grants more than site {}'s own resources: {}",
                            p.arn, site, Join(foreign)),
                "re-apply the site policy (`vigie site provision` re-applies it) and remove "
                "hand-made statements",
                items);
  }
  return Pass(fmt::format("one principal {}, policy scoped to site {}", p.arn, site), items);
}

// PROV_002: every credential record says "generated", names its generator and has >= 128 bits.
CheckResult Check_PROV_002(const RuleInfo&, EvidenceSource& evidence, std::string_view site) {
  auto creds = evidence.Credentials(site);
  if (!creds || creds->empty()) return NoProvisioningRecord(site, "credential");
  std::vector<std::string> bad;
  std::vector<std::string> names;
  for (const auto& c : *creds) {
    names.push_back(fmt::format("{} ({}, {} bits)", c.name, c.generator, c.entropy_bits));
    if (c.provenance != "generated") {
      bad.push_back(fmt::format("{}: provenance '{}'", c.name, c.provenance));
    } else if (c.generator.empty()) {
      bad.push_back(fmt::format("{}: no generator", c.name));
    } else if (c.entropy_bits < 128) {
      bad.push_back(fmt::format("{}: {} bits of entropy", c.name, c.entropy_bits));
    }
  }
  std::vector<EvidenceItem> items = {{"credentials", Join(names)}};
  if (!bad.empty()) {
    items.push_back({"violations", Join(bad)});
    return Fail(fmt::format("credentials not generated with >= 128 bits: {}", Join(bad)),
                fmt::format("rotate them: vigie generates every credential (no operator-supplied "
                            "value); re-provision site {} if it never completed",
                            site),
                items);
  }
  return Pass(fmt::format("{} credentials generated, each >= 128 bits", creds->size()), items);
}

// True when `v` is 32 printable ASCII bytes: what a stored password looks like, and what a
// SHA-256 output is with probability (95/256)^32 < 1e-13.
bool LooksLikeText(const Bytes& v) {
  return std::all_of(v.begin(), v.end(), [](uint8_t c) { return c >= 0x20 && c < 0x7f; });
}

// PROV_003: the store keeps only verifiers (never a credential in clear), and every package of
// the site was sealed to the site's enrollment key, as its signed manifest says.
CheckResult Check_PROV_003(const RuleInfo&, EvidenceSource& evidence, std::string_view site) {
  auto creds = evidence.Credentials(site);
  if (!creds || creds->empty()) return NoProvisioningRecord(site, "credential");
  auto packages = evidence.Packages(site);
  if (!packages || packages->empty()) return NoProvisioningRecord(site, "package");
  std::vector<std::string> bad;
  for (const auto& c : *creds) {
    if (c.verifier_kind != "sha256") {
      bad.push_back(fmt::format("credential {} stored as '{}', not a verifier", c.name,
                                c.verifier_kind));
    } else if (c.verifier.size() != 32 || LooksLikeText(c.verifier)) {
      bad.push_back(fmt::format("credential {}: the stored verifier is not a SHA-256 digest "
                                "(plaintext?)",
                                c.name));
    }
    if (!c.secret_ref.empty() && !NamesSite("/" + c.secret_ref, site)) {
      bad.push_back(fmt::format("credential {}: readable copy {} outside the site's secrets path",
                                c.name, c.secret_ref));
    }
  }
  std::vector<std::string> sealed;
  for (const auto& p : *packages) {
    // The manifest (signed) names the key the secret section was sealed to.
    std::string manifest_key;
    if (p.signed_bytes.size() > 9) {
      auto m = nlohmann::json::parse(p.signed_bytes.begin() + 9, p.signed_bytes.end(), nullptr,
                                     false);
      if (m.is_object()) {
        manifest_key = m.value("site_enrollment_key", "");
        if (m.value("site_id", "") != site) manifest_key = "";
      }
    }
    const std::string fingerprint = HexEncode(crypto::Sha256(p.enrollment_key));
    if (p.enrollment_key.size() != 32 || manifest_key != HexEncode(p.enrollment_key) ||
        fingerprint != p.enrollment_key_fingerprint) {
      bad.push_back(fmt::format("package {}: not shown sealed to the site's enrollment key",
                                p.package_id));
    } else {
      sealed.push_back(fmt::format("{} sealed to {}", p.package_id, fingerprint));
    }
  }
  std::vector<EvidenceItem> items = {{"credential_records", std::to_string(creds->size())},
                                     {"store_form", "sha256 verifiers"},
                                     {"packages", Join(sealed)}};
  if (!bad.empty()) {
    items.push_back({"violations", Join(bad)});
    return Fail(fmt::format("credentials in clear or unsealed packages: {}", Join(bad)),
                fmt::format("treat the exposed credentials of site {} as compromised: rotate "
                            "them and keep only verifiers in the store",
                            site),
                items);
  }
  return Pass(fmt::format("{} credentials kept as verifiers only; {} package(s) sealed to the "
                          "site's enrollment key",
                          creds->size(), packages->size()),
              items);
}

// PROV_005: the initial admin credential is changed (timestamp) or still enforced must-change.
CheckResult Check_PROV_005(const RuleInfo&, EvidenceSource& evidence, std::string_view site) {
  auto creds = evidence.Credentials(site);
  if (!creds) return NoProvisioningRecord(site, "credential");
  const CredentialEvidence* admin = nullptr;
  for (const auto& c : *creds) {
    if (c.name == "admin_password") admin = &c;
  }
  if (admin == nullptr) return NoProvisioningRecord(site, "initial admin credential");
  if (admin->changed_at) {
    return Pass(fmt::format("initial admin password changed at {}",
                            FormatRfc3339(*admin->changed_at)),
                {{"changed_at", FormatRfc3339(*admin->changed_at)}});
  }
  if (admin->must_change) {
    return Pass("initial admin password not yet changed and enforced as must-change",
                {{"must_change", "true"}});
  }
  return Fail("the initial admin password is neither changed nor marked must-change",
              fmt::format("mark site {}'s admin credential must-change (or rotate it) so the "
                          "first login can only change it",
                          site),
              {{"must_change", "false"}, {"changed_at", "never"}});
}

}  // namespace

void RegisterProvIdentityRules(RuleRegistry& registry) {
  // PROV_001: every site has exactly one principal; no principal, access key, KMS key or secret
  // is shared between two sites; its policy names only its own site's resources.
  registry.Register("PROV_001", Check_PROV_001);

  // PROV_002: every credential record carries provenance "generated", its generator and >= 128
  // bits of entropy.
  registry.Register("PROV_002", Check_PROV_002);

  // PROV_003: the store keeps verifiers only, and every package is sealed to the site's
  // enrollment key (per its signed manifest). Logs and CLI output are proven clean by the scan
  // test of src/provision (cli_test.cc), which searches them for every generated value.
  registry.Register("PROV_003", Check_PROV_003);

  // PROV_004: all recovery shares of the site are in the secrets backend (Secrets Manager).
  registry.Register("PROV_004", Check_PROV_004);

  // PROV_005: the initial admin credential is changed (timestamp) or still enforced must-change.
  registry.Register("PROV_005", Check_PROV_005);
}

}  // namespace vigie::compliance
