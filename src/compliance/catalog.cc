// The 49 rules, one table, in the order and with the titles of spec/INVARIANTS.md.
// catalog_spec_test (tests/compliance) fails if this table and the spec disagree.
//
// Scope: a rule is kFleet when the fact it proves lives once for the whole fleet (dashboards,
// alert routes and thresholds, runbook, post-mortems, the product's dependency audit); every
// other rule is judged per site.

#include <array>

#include "compliance/registry.h"

namespace vigie::compliance {

namespace {

constexpr std::string_view kProvIdentity = "Provisioning: identity and credentials";
constexpr std::string_view kProvVault = "Provisioning: Vault and secrets";
constexpr std::string_view kProvRegistration = "Provisioning: registration";
constexpr std::string_view kMaintMonitoring = "Maintenance: monitoring and alerting";
constexpr std::string_view kMaintBackup = "Maintenance: backup and recovery";
constexpr std::string_view kMaintRotation = "Maintenance: secret rotation";
constexpr std::string_view kMaintPatching = "Maintenance: security patching";
constexpr std::string_view kMaintLogs = "Maintenance: logs";
constexpr std::string_view kMaintDocs = "Maintenance: documentation and procedures";

constexpr Scope kSite = Scope::kSite;
constexpr Scope kFleet = Scope::kFleet;

// clang-format off
constexpr std::array<RuleInfo, 49> kCatalog = {{
  {"PROV_001", "a dedicated cloud IAM user per site", kProvIdentity, kSite},
  {"PROV_002", "credentials generated automatically", kProvIdentity, kSite},
  {"PROV_003", "credentials never transmitted in clear", kProvIdentity, kSite},
  {"PROV_004", "recovery keys in AWS Secrets Manager, not local", kProvIdentity, kSite},
  {"PROV_005", "first login forces the admin credential change", kProvIdentity, kSite},

  {"PROV_010", "Vault initialised with KMS auto-unseal, not manual Shamir", kProvVault, kSite},
  {"PROV_011", "recovery keys threshold 3 of 5 minimum", kProvVault, kSite},
  {"PROV_012", "root token revoked after initial setup", kProvVault, kSite},
  {"PROV_013", "Vault policies created automatically from config", kProvVault, kSite},

  {"PROV_020", "provisioning anchored in a blockchain (proof of creation)", kProvRegistration, kSite},
  {"PROV_021", "the site registers itself with the fleet manager (mandatory)", kProvRegistration, kSite},
  {"PROV_022", "healthcheck validated BEFORE licence activation", kProvRegistration, kSite},
  {"PROV_023", "deployment package cryptographically signed", kProvRegistration, kSite},

  {"MAINT_001", "heartbeat to the fleet manager every 60 s", kMaintMonitoring, kSite},
  {"MAINT_002", "alert when a heartbeat is missing > 2 min", kMaintMonitoring, kSite},
  {"MAINT_003", "system metrics in Prometheus format", kMaintMonitoring, kSite},
  {"MAINT_004", "monitoring dashboards (Grafana)", kMaintMonitoring, kFleet},
  {"MAINT_005", "multi-channel alerts (email, + SMS for critical)", kMaintMonitoring, kFleet},
  {"MAINT_050", "alert when disk > 80% (WARNING)", kMaintMonitoring, kFleet},
  {"MAINT_051", "alert when RAM > 90% (WARNING)", kMaintMonitoring, kFleet},
  {"MAINT_052", "alert when CPU > 80% for 5 minutes (WARNING)", kMaintMonitoring, kFleet},
  {"MAINT_053", "alert when API latency p95 > 500 ms (WARNING)", kMaintMonitoring, kFleet},
  {"MAINT_054", "auto-scaling where the infrastructure supports it", kMaintMonitoring, kSite},

  {"MAINT_010", "automatic daily backup", kMaintBackup, kSite},
  {"MAINT_011", "backup GPG-encrypted before transfer", kMaintBackup, kSite},
  {"MAINT_012", "backup stored off-site (S3, another region)", kMaintBackup, kSite},
  {"MAINT_013", "retention ≥ 90 days", kMaintBackup, kSite},
  {"MAINT_014", "automatic monthly restore test", kMaintBackup, kSite},
  {"MAINT_015", "RPO < 1 hour", kMaintBackup, kSite},
  {"MAINT_016", "RTO < 10 minutes", kMaintBackup, kSite},

  {"MAINT_020", "KMS keys rotated yearly", kMaintRotation, kSite},
  {"MAINT_021", "DB credentials rotated quarterly", kMaintRotation, kSite},
  {"MAINT_022", "TLS certificates rotated before expiry (alert at 30 days)", kMaintRotation, kSite},
  {"MAINT_023", "API keys rotated on demand or incident", kMaintRotation, kSite},
  {"MAINT_024", "previous key kept 30 days (rollback possible)", kMaintRotation, kSite},

  {"MAINT_030", "daily CVE scan of deployed images", kMaintPatching, kSite},
  {"MAINT_031", "critical CVE patched < 24 h", kMaintPatching, kSite},
  {"MAINT_032", "high CVE patched < 7 days", kMaintPatching, kSite},
  {"MAINT_033", "medium CVE patched < 30 days", kMaintPatching, kSite},
  {"MAINT_034", "automatic OS updates (security only)", kMaintPatching, kSite},
  {"MAINT_035", "Python/Node dependencies audited", kMaintPatching, kFleet},

  {"MAINT_040", "logs centralised (Loki), 90 days online", kMaintLogs, kSite},
  {"MAINT_041", "logs archived (S3) 10 years", kMaintLogs, kSite},
  {"MAINT_042", "logs compressed after 7 days", kMaintLogs, kSite},
  {"MAINT_043", "log integrity verifiable (hash chain)", kMaintLogs, kSite},

  {"MAINT_060", "operational runbook mandatory and up to date", kMaintDocs, kFleet},
  {"MAINT_061", "disaster recovery tested quarterly", kMaintDocs, kSite},
  {"MAINT_062", "automatic changelog for each deployment", kMaintDocs, kSite},
  {"MAINT_063", "post-mortem for major incidents", kMaintDocs, kFleet},
}};
// clang-format on

}  // namespace

std::span<const RuleInfo> Catalog() { return kCatalog; }

}  // namespace vigie::compliance
