// Compliance classes for the MAINT_* rules, one per section of spec/001_abd1962c39c4ca60.txt.
// The customer named no methods for these; names are the snake-case of the customer's (French)
// rule titles, in the style of the PROV_* methods.

#include "rule_suite.h"

namespace vigie::compliance {
namespace {

constexpr std::string_view kMonitoring = "Maintenance: monitoring and alerting";
constexpr std::string_view kBackup = "Maintenance: backup and recovery";
constexpr std::string_view kRotation = "Maintenance: secret rotation";
constexpr std::string_view kPatching = "Maintenance: security patching";
constexpr std::string_view kLogs = "Maintenance: logs";
constexpr std::string_view kDocs = "Maintenance: documentation and procedures";

class TestMonitoring : public RuleSuite {};
class TestCapacity : public RuleSuite {};
class TestBackup : public RuleSuite {};
class TestRotation : public RuleSuite {};
class TestPatching : public RuleSuite {};
class TestLogs : public RuleSuite {};
class TestDocumentation : public RuleSuite {};

TEST_F(TestMonitoring, MAINT_001_heartbeat_60s) {
  ExpectNotImplementedYet("MAINT_001", kMonitoring);
}
TEST_F(TestMonitoring, MAINT_002_alert_heartbeat_missing_2min) {
  ExpectNotImplementedYet("MAINT_002", kMonitoring);
}
TEST_F(TestMonitoring, MAINT_003_prometheus_metrics) {
  ExpectNotImplementedYet("MAINT_003", kMonitoring);
}
TEST_F(TestMonitoring, MAINT_004_grafana_dashboards) {
  ExpectNotImplementedYet("MAINT_004", kMonitoring);
}
TEST_F(TestMonitoring, MAINT_005_multichannel_alerts) {
  ExpectNotImplementedYet("MAINT_005", kMonitoring);
}

// INVARIANTS.md files the capacity rules under monitoring; the customer gives them a section.
TEST_F(TestCapacity, MAINT_050_alert_disk_80_percent) {
  ExpectNotImplementedYet("MAINT_050", kMonitoring);
}
TEST_F(TestCapacity, MAINT_051_alert_ram_90_percent) {
  ExpectNotImplementedYet("MAINT_051", kMonitoring);
}
TEST_F(TestCapacity, MAINT_052_alert_cpu_80_percent_5min) {
  ExpectNotImplementedYet("MAINT_052", kMonitoring);
}
TEST_F(TestCapacity, MAINT_053_alert_latency_500ms) {
  ExpectNotImplementedYet("MAINT_053", kMonitoring);
}
TEST_F(TestCapacity, MAINT_054_auto_scaling) { ExpectNotImplementedYet("MAINT_054", kMonitoring); }

TEST_F(TestBackup, MAINT_010_daily_backup) { ExpectNotImplementedYet("MAINT_010", kBackup); }
TEST_F(TestBackup, MAINT_011_gpg_encrypted_backup) {
  ExpectNotImplementedYet("MAINT_011", kBackup);
}
TEST_F(TestBackup, MAINT_012_offsite_backup) { ExpectNotImplementedYet("MAINT_012", kBackup); }
TEST_F(TestBackup, MAINT_013_retention_90_days) { ExpectNotImplementedYet("MAINT_013", kBackup); }
TEST_F(TestBackup, MAINT_014_monthly_restore_test) {
  ExpectNotImplementedYet("MAINT_014", kBackup);
}
TEST_F(TestBackup, MAINT_015_rpo_under_1_hour) { ExpectNotImplementedYet("MAINT_015", kBackup); }
TEST_F(TestBackup, MAINT_016_rto_under_10_minutes) {
  ExpectNotImplementedYet("MAINT_016", kBackup);
}

TEST_F(TestRotation, MAINT_020_kms_yearly_rotation) {
  ExpectNotImplementedYet("MAINT_020", kRotation);
}
TEST_F(TestRotation, MAINT_021_db_credentials_quarterly_rotation) {
  ExpectNotImplementedYet("MAINT_021", kRotation);
}
TEST_F(TestRotation, MAINT_022_tls_rotation_before_expiry) {
  ExpectNotImplementedYet("MAINT_022", kRotation);
}
TEST_F(TestRotation, MAINT_023_api_keys_rotation_on_incident) {
  ExpectNotImplementedYet("MAINT_023", kRotation);
}
TEST_F(TestRotation, MAINT_024_previous_key_kept_30_days) {
  ExpectNotImplementedYet("MAINT_024", kRotation);
}

TEST_F(TestPatching, MAINT_030_daily_cve_scan) { ExpectNotImplementedYet("MAINT_030", kPatching); }
TEST_F(TestPatching, MAINT_031_critical_cve_under_24h) {
  ExpectNotImplementedYet("MAINT_031", kPatching);
}
TEST_F(TestPatching, MAINT_032_high_cve_under_7_days) {
  ExpectNotImplementedYet("MAINT_032", kPatching);
}
TEST_F(TestPatching, MAINT_033_medium_cve_under_30_days) {
  ExpectNotImplementedYet("MAINT_033", kPatching);
}
TEST_F(TestPatching, MAINT_034_automatic_os_updates) {
  ExpectNotImplementedYet("MAINT_034", kPatching);
}
TEST_F(TestPatching, MAINT_035_dependency_audit) {
  ExpectNotImplementedYet("MAINT_035", kPatching);
}

TEST_F(TestLogs, MAINT_040_centralized_logs_90_days) {
  ExpectNotImplementedYet("MAINT_040", kLogs);
}
TEST_F(TestLogs, MAINT_041_logs_archived_10_years) { ExpectNotImplementedYet("MAINT_041", kLogs); }
TEST_F(TestLogs, MAINT_042_logs_compressed_after_7_days) {
  ExpectNotImplementedYet("MAINT_042", kLogs);
}
TEST_F(TestLogs, MAINT_043_log_integrity_verifiable) {
  ExpectNotImplementedYet("MAINT_043", kLogs);
}

TEST_F(TestDocumentation, MAINT_060_runbook_mandatory) {
  ExpectNotImplementedYet("MAINT_060", kDocs);
}
TEST_F(TestDocumentation, MAINT_061_dr_tested_quarterly) {
  ExpectNotImplementedYet("MAINT_061", kDocs);
}
TEST_F(TestDocumentation, MAINT_062_automatic_changelog) {
  ExpectNotImplementedYet("MAINT_062", kDocs);
}
TEST_F(TestDocumentation, MAINT_063_postmortem_major_incidents) {
  ExpectNotImplementedYet("MAINT_063", kDocs);
}

}  // namespace
}  // namespace vigie::compliance
