#include "config/config.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "testing/temp_dir.h"

namespace vigie::config {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// Parses `text` as "t.toml", expects a rejection and returns its message.
std::string Rejection(std::string_view text) {
  Result<Config> config = ParseConfig(text, "t.toml");
  EXPECT_FALSE(config.has_value()) << "accepted:\n" << text;
  if (config.has_value()) return "";
  EXPECT_EQ(config.error().code, ErrorCode::kConfig);
  return config.error().message;
}

Config Accepted(std::string_view text) {
  Result<Config> config = ParseConfig(text, "t.toml");
  EXPECT_TRUE(config.has_value()) << config.error().message;
  return config.value_or(Config{});
}

TEST(ConfigTest, EmptyFileGivesDocumentedDefaults) {
  Config c = Accepted("");
  EXPECT_EQ(c.data_dir, "/var/lib/vigie");
  EXPECT_EQ(c.server.listen_address, "127.0.0.1:8443");
  EXPECT_EQ(c.server.max_body_bytes, 65536);
  EXPECT_EQ(c.server.max_connections, 10000);
  EXPECT_EQ(c.server.read_timeout_seconds, 30);
  EXPECT_EQ(c.server.io_threads, 2);
  EXPECT_EQ(c.store.backend, StoreBackend::kSqlite);
  EXPECT_EQ(c.store.path, "/var/lib/vigie/vigie.db");
  EXPECT_EQ(c.store.batch_max_rows, 512);
  EXPECT_EQ(c.store.flush_interval_ms, 50);
  EXPECT_EQ(c.identity.backend, Backend::kLocal);
  EXPECT_EQ(c.secrets.backend, Backend::kLocal);
  EXPECT_EQ(c.kms.backend, Backend::kLocal);
  EXPECT_EQ(c.kms.key_rotation_period_days, 365);
  EXPECT_EQ(c.aws.iam_path, "/vigie/sites/");
  EXPECT_EQ(c.vault.recovery_shares, 5);
  EXPECT_EQ(c.vault.recovery_threshold, 3);
  EXPECT_EQ(c.vault.init_timeout_seconds, 120);
  EXPECT_EQ(c.vault.seal_types_allowed, std::vector<std::string>{"awskms"});
  EXPECT_EQ(c.ledger.anchor, AnchorBackend::kLocal);
  EXPECT_EQ(c.ledger.lock_timeout_seconds, 30);
  EXPECT_EQ(c.ledger.ethereum.confirmations, 12);
  EXPECT_EQ(c.ledger.ethereum.anchor_interval_seconds, 3600);
  EXPECT_EQ(c.ledger.ethereum.alert_after_seconds, 7200);
  EXPECT_EQ(c.agent.heartbeat_interval_seconds, 60);
  EXPECT_EQ(c.agent.heartbeat_jitter_percent, 10);
  EXPECT_EQ(c.agent.state_dir, "/var/lib/vigie/agent");
  EXPECT_EQ(c.agent.admin_listen_address, "127.0.0.1:8444");
  EXPECT_EQ(c.fleet.heartbeat_alert_after_seconds, 120);
  EXPECT_EQ(c.fleet.heartbeat_late_after_seconds, 90);
  EXPECT_EQ(c.fleet.license_health_window_seconds, 600);
  EXPECT_EQ(c.fleet.registration_grace_seconds, 86400);
  EXPECT_EQ(c.fleet.healthcheck_flush_interval_ms, 1000);
  EXPECT_EQ(c.fleet.healthcheck_batch_max, 32768);
  EXPECT_EQ(c.fleet.healthcheck_retention_minutes, 120);
  EXPECT_EQ(c.backup.interval_minutes, 60);
  EXPECT_EQ(c.backup.full_every_hours, 24);
  EXPECT_EQ(c.backup.retention_days, 90);
  EXPECT_EQ(c.backup.restore_test_interval_days, 30);
  EXPECT_EQ(c.backup.rto_target_seconds, 600);
  EXPECT_EQ(c.rotation.db_credential_max_age_days, 90);
  EXPECT_EQ(c.rotation.previous_version_keep_days, 30);
  EXPECT_EQ(c.rotation.tls_renew_before_days, 45);
  EXPECT_EQ(c.patching.scan_interval_hours, 24);
  EXPECT_EQ(c.patching.sla_critical_hours, 24);
  EXPECT_EQ(c.patching.sla_high_days, 7);
  EXPECT_EQ(c.patching.sla_medium_days, 30);
  EXPECT_EQ(c.logs.loki_retention_days, 90);
  EXPECT_EQ(c.logs.archive_retention_days, 3650);
  EXPECT_EQ(c.logs.compress_after_days, 7);
  EXPECT_EQ(c.alerting.smtp_port, 587);
  EXPECT_EQ(c.capacity.disk_warn_percent, 80);
  EXPECT_EQ(c.capacity.ram_warn_percent, 90);
  EXPECT_EQ(c.capacity.cpu_warn_percent, 80);
  EXPECT_EQ(c.capacity.cpu_for_minutes, 5);
  EXPECT_EQ(c.capacity.api_latency_p95_ms, 500);
  EXPECT_EQ(c.log.level, LogLevel::kInfo);
}

TEST(ConfigTest, ReadsValuesOfEveryKind) {
  Config c = Accepted(R"(
data_dir = "/srv/vigie"
[server]
listen_address = "[::1]:9443"
tls_cert_file = "/etc/vigie/cert.pem"
tls_key_file = "/etc/vigie/key.pem"
max_body_bytes = 1024
[store]
backend = "postgres"
dsn = "host=db dbname=vigie user=vigie sslmode=verify-full"
[identity]
backend = "aws"
[aws]
region = "eu-west-3"
endpoint_url = "http://127.0.0.1:5000"
[vault]
recovery_shares = 7
recovery_threshold = 4
seal_types_allowed = ["awskms", "transit"]
[ledger]
anchor = "ethereum"
[ledger.ethereum]
rpc_url = "http://127.0.0.1:8545"
chain_id = 1337
key_file = "/etc/vigie/anchor.key"
confirmations = 1
[backup]
target_bucket = "vigie-backups"
target_region = "eu-central-1"
gpg_recipients = ["0123456789ABCDEF0123456789abcdef01234567"]
[alerting]
email_to = ["ops@example.com"]
smtp_host = "smtp.example.com"
[log]
level = "debug"
)");
  EXPECT_EQ(c.data_dir, "/srv/vigie");
  EXPECT_EQ(c.server.listen_address, "[::1]:9443");
  EXPECT_EQ(c.server.max_body_bytes, 1024);
  EXPECT_EQ(c.store.backend, StoreBackend::kPostgres);
  EXPECT_EQ(c.store.path, "");  // Not derived for postgres.
  EXPECT_EQ(c.agent.state_dir, "/srv/vigie/agent");
  EXPECT_EQ(c.identity.backend, Backend::kAws);
  EXPECT_EQ(c.secrets.backend, Backend::kLocal);
  EXPECT_EQ(c.aws.region, "eu-west-3");
  EXPECT_EQ(c.vault.recovery_shares, 7);
  EXPECT_EQ(c.vault.recovery_threshold, 4);
  EXPECT_EQ(c.vault.seal_types_allowed, (std::vector<std::string>{"awskms", "transit"}));
  EXPECT_EQ(c.ledger.anchor, AnchorBackend::kEthereum);
  EXPECT_EQ(c.ledger.ethereum.chain_id, 1337);
  EXPECT_EQ(c.ledger.ethereum.confirmations, 1);
  EXPECT_EQ(c.backup.gpg_recipients.size(), 1u);
  EXPECT_EQ(c.alerting.email_to, std::vector<std::string>{"ops@example.com"});
  EXPECT_EQ(c.log.level, LogLevel::kDebug);
}

// --- Rejection classes -----------------------------------------------------------------------

TEST(ConfigTest, UnknownKeySuggestsClosestKnownKey) {
  std::string msg = Rejection("[server]\nlisten_adress = \"0.0.0.0:1\"\n");
  EXPECT_THAT(msg, HasSubstr("t.toml:2: server.listen_adress: unknown key; did you mean "
                             "\"listen_address\"?"));
}

TEST(ConfigTest, UnknownKeyFarFromAnyListsKnownKeys) {
  std::string msg = Rejection("[kms]\nbackend = \"local\"\ncolour = \"blue\"\n");
  EXPECT_THAT(msg, AllOf(HasSubstr("t.toml:3: kms.colour: unknown key; remove it"),
                         HasSubstr("backend, key_rotation_period_days"), Not(HasSubstr("mean"))));
}

TEST(ConfigTest, UnknownTableSuggestsClosestTable) {
  std::string msg = Rejection("\n[servr]\nmax_connections = 5\n");
  EXPECT_THAT(msg, HasSubstr("t.toml:2: servr: unknown table; did you mean [server]?"));
}

TEST(ConfigTest, UnknownKeyInNestedTableIsNamedWithFullPath) {
  std::string msg = Rejection("[ledger.ethereum]\nconfirmation = 3\n");
  EXPECT_THAT(msg, HasSubstr("t.toml:2: ledger.ethereum.confirmation: unknown key; did you mean "
                             "\"confirmations\"?"));
}

TEST(ConfigTest, UnknownTopLevelKey) {
  std::string msg = Rejection("datadir = \"/x\"\n");
  EXPECT_THAT(msg, HasSubstr("t.toml:1: datadir: unknown key; did you mean \"data_dir\"?"));
}

TEST(ConfigTest, WrongTypeStringWhereIntegerExpected) {
  std::string msg = Rejection("[server]\n\nmax_body_bytes = \"64k\"\n");
  EXPECT_THAT(msg, HasSubstr("t.toml:3: server.max_body_bytes: wrong type: expected an integer, "
                             "found a string; write a whole number without quotes"));
}

TEST(ConfigTest, WrongTypeFloatWhereIntegerExpected) {
  std::string msg = Rejection("[agent]\nheartbeat_interval_seconds = 30.5\n");
  EXPECT_THAT(msg, HasSubstr("t.toml:2: agent.heartbeat_interval_seconds: wrong type: expected "
                             "an integer, found a float"));
}

TEST(ConfigTest, WrongTypeIntegerWhereStringExpected) {
  std::string msg = Rejection("[aws]\nregion = 3\n");
  EXPECT_THAT(msg, HasSubstr("t.toml:2: aws.region: wrong type: expected a string, found an "
                             "integer; quote the value"));
}

TEST(ConfigTest, WrongTypeListElement) {
  std::string msg = Rejection("[alerting]\nemail_to = [\"a@b.c\",\n 7]\n");
  EXPECT_THAT(msg, HasSubstr("t.toml:3: alerting.email_to: wrong type: expected an array of "
                             "strings, found an element that is an integer"));
}

TEST(ConfigTest, WrongTypeSectionThatIsNotATable) {
  std::string msg = Rejection("server = 5\n");
  EXPECT_THAT(msg, HasSubstr("t.toml:1: server: wrong type: expected a table, found an integer"));
}

TEST(ConfigTest, OutOfRangeInteger) {
  std::string msg = Rejection("[server]\nmax_body_bytes = 16777217\n");
  EXPECT_THAT(msg, HasSubstr("t.toml:2: server.max_body_bytes: out of range: 16777217 is not in "
                             "1..16777216; use a value in that range"));
}

TEST(ConfigTest, NonPositiveDurationIsOutOfRange) {
  std::string msg = Rejection("[server]\nread_timeout_seconds = 0\n");
  EXPECT_THAT(msg, HasSubstr("t.toml:2: server.read_timeout_seconds: out of range: 0 is not in "
                             "1..3600"));
  EXPECT_THAT(Rejection("[store]\nflush_interval_ms = -5\n"),
              HasSubstr("t.toml:2: store.flush_interval_ms: out of range: -5"));
  EXPECT_THAT(Rejection("[server]\nio_threads = 0\n"),
              HasSubstr("t.toml:2: server.io_threads: out of range: 0 is not in 1..256"));
  EXPECT_THAT(Rejection("[fleet]\nhealthcheck_flush_interval_ms = 10001\n"),
              HasSubstr("t.toml:2: fleet.healthcheck_flush_interval_ms: out of range: 10001"));
  EXPECT_THAT(Rejection("[fleet]\nhealthcheck_batch_max = 255\n"),
              HasSubstr("t.toml:2: fleet.healthcheck_batch_max: out of range: 255"));
}

TEST(ConfigTest, OutOfRangePort) {
  EXPECT_THAT(Rejection("[server]\nlisten_address = \"0.0.0.0:65536\"\n"),
              HasSubstr("t.toml:2: server.listen_address: \"0.0.0.0:65536\" is not host:port "
                        "with a port in 1..65535"));
  EXPECT_THAT(Rejection("[agent]\nadmin_listen_address = \"localhost:0\"\n"),
              HasSubstr("t.toml:2: agent.admin_listen_address:"));
  EXPECT_THAT(Rejection("[alerting]\nsmtp_port = 70000\n"),
              HasSubstr("t.toml:2: alerting.smtp_port: out of range: 70000 is not in 1..65535"));
  Accepted("[server]\nlisten_address = \"0.0.0.0:65535\"\n");
}

TEST(ConfigTest, OutOfRangeEnum) {
  std::string msg = Rejection("[identity]\nbackend = \"gcp\"\n");
  EXPECT_THAT(msg, HasSubstr("t.toml:2: identity.backend: out of range: \"gcp\" is not one of "
                             "\"local\", \"aws\"; write one of them"));
  EXPECT_THAT(Rejection("[log]\nlevel = \"verbose\"\n"),
              HasSubstr("t.toml:2: log.level: out of range: \"verbose\" is not one of \"debug\", "
                        "\"info\", \"warn\", \"error\""));
  EXPECT_THAT(Rejection("[store]\nbackend = \"mysql\"\n"), HasSubstr("t.toml:2: store.backend:"));
}

TEST(ConfigTest, KmsRotationBelowAwsMinimumIsOutOfRangeNotARuleBreach) {
  std::string msg = Rejection("[kms]\nkey_rotation_period_days = 89\n");
  EXPECT_THAT(msg, AllOf(HasSubstr("t.toml:2: kms.key_rotation_period_days: out of range: 89 is "
                                   "not in 90..365 (AWS KMS accepts no rotation period below 90"),
                         Not(HasSubstr("MAINT_020"))));
  Accepted("[kms]\nkey_rotation_period_days = 90\n");
}

TEST(ConfigTest, VaultSharesBoundsAndThresholdAboveShares) {
  EXPECT_THAT(Rejection("[vault]\nrecovery_shares = 256\n"),
              HasSubstr("t.toml:2: vault.recovery_shares: out of range: 256 is not in 5..255"));
  EXPECT_THAT(Rejection("[vault]\nrecovery_shares = 5\nrecovery_threshold = 6\n"),
              HasSubstr("t.toml:3: vault.recovery_threshold: 6 exceeds recovery_shares = 5 "
                        "(PROV_011"));
  Accepted("[vault]\nrecovery_shares = 5\nrecovery_threshold = 5\n");
}

TEST(ConfigTest, SyntaxErrorGivesLineAndColumn) {
  Result<Config> config =
      ParseConfig("data_dir = \"/x\"\n[server\nmax_connections = 1\n", "t.toml");
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().code, ErrorCode::kConfig);
  // Line 2, column 8: the end of "[server" where ']' was expected.
  EXPECT_THAT(config.error().message, HasSubstr("t.toml:2:8: TOML syntax error: "));
  EXPECT_THAT(config.error().message, HasSubstr("expected ']'"));
  EXPECT_THAT(Rejection("a = 1\na = 2\n"), HasSubstr("t.toml:2:"));
}

TEST(ConfigTest, AwsBackendRequiresRegion) {
  std::string msg = Rejection("[log]\nlevel = \"info\"\n[kms]\nbackend = \"aws\"\n");
  EXPECT_THAT(msg, HasSubstr("t.toml:4: aws.region: required when kms.backend = \"aws\"; add "
                             "region"));
  Accepted("[kms]\nbackend = \"aws\"\n[aws]\nregion = \"eu-west-3\"\n");
}

TEST(ConfigTest, PostgresRequiresDsnWithoutPassword) {
  EXPECT_THAT(Rejection("[store]\nbackend = \"postgres\"\n"),
              HasSubstr("t.toml:2: store.dsn: required when store.backend = \"postgres\""));
  for (const char* dsn : {"host=db user=v password=hunter2", "postgres://v:hunter2@db/vigie"}) {
    std::string msg =
        Rejection(std::string("[store]\nbackend = \"postgres\"\ndsn = \"") + dsn + "\"\n");
    EXPECT_THAT(msg, HasSubstr("t.toml:3: store.dsn: contains a password"));
    EXPECT_THAT(msg, Not(HasSubstr("hunter2")));
  }
  Accepted("[store]\nbackend = \"postgres\"\ndsn = \"postgres://v@db/vigie\"\n");
  EXPECT_THAT(Rejection("[store]\ndsn = \"host=db\"\n"),
              HasSubstr("t.toml:2: store.dsn: set but store.backend is \"sqlite\""));
}

TEST(ConfigTest, EthereumAnchorRequiresItsKeys) {
  std::string msg = Rejection("[ledger]\nanchor = \"ethereum\"\n");
  EXPECT_THAT(msg, AllOf(HasSubstr("t.toml:2: ledger.ethereum.rpc_url: required"),
                         HasSubstr("t.toml:2: ledger.ethereum.chain_id: required"),
                         HasSubstr("t.toml:2: ledger.ethereum.key_file: required")));
  EXPECT_THAT(Rejection("[ledger.ethereum]\nanchor_interval_seconds = 7200\n"),
              HasSubstr("ledger.ethereum.alert_after_seconds: 7200 must exceed"));
}

TEST(ConfigTest, LedgerLockTimeoutIsBounded) {
  EXPECT_THAT(Rejection("[ledger]\nlock_timeout_seconds = 0\n"),
              HasSubstr("t.toml:2: ledger.lock_timeout_seconds: out of range: 0 is not in 1..600"));
  EXPECT_THAT(Rejection("[ledger]\nlock_timeout_seconds = 601\n"),
              HasSubstr("ledger.lock_timeout_seconds: out of range: 601"));
  Accepted("[ledger]\nlock_timeout_seconds = 5\n");
}

TEST(ConfigTest, TlsCertAndKeyGoTogether) {
  EXPECT_THAT(Rejection("[server]\ntls_cert_file = \"/c.pem\"\n"),
              HasSubstr("t.toml:2: server.tls_key_file: required when the other"));
  Accepted("[server]\ntls_cert_file = \"/c.pem\"\ntls_key_file = \"/k.pem\"\n");
}

TEST(ConfigTest, AwsCredentialsAreRefusedInTheFile) {
  std::string msg = Rejection("[aws]\nregion = \"eu-west-3\"\nsecret_access_key = \"abc123\"\n");
  EXPECT_THAT(msg, AllOf(HasSubstr("t.toml:3: aws.secret_access_key: AWS credentials are never "
                                   "read from the configuration"),
                         HasSubstr("AWS_ACCESS_KEY_ID"), Not(HasSubstr("abc123"))));
}

TEST(ConfigTest, OffSiteBackupNeedsEncryptionAndAnotherRegion) {
  EXPECT_THAT(Rejection("[backup]\ntarget_bucket = \"b\"\n"),
              AllOf(HasSubstr("t.toml:2: backup.gpg_recipients: required when target_bucket is "
                              "set (MAINT_011"),
                    HasSubstr("t.toml:2: backup.target_region: required when target_bucket is "
                              "set (MAINT_012")));
  EXPECT_THAT(Rejection("[aws]\nregion = \"eu-west-3\"\n[backup]\ntarget_region = \"eu-west-3\"\n"),
              HasSubstr("t.toml:4: backup.target_region: \"eu-west-3\" is the site's own region "
                        "(aws.region), forbidden by MAINT_012"));
  EXPECT_THAT(Rejection("[backup]\ngpg_recipients = [\"0123 4567\"]\n"),
              HasSubstr("t.toml:2: backup.gpg_recipients: \"0123 4567\" is not an OpenPGP "
                        "fingerprint"));
}

TEST(ConfigTest, FleetLateThresholdSitsBetweenAgentGapAndAlert) {
  EXPECT_THAT(Rejection("[fleet]\nheartbeat_alert_after_seconds = 100\n"
                        "heartbeat_late_after_seconds = 100\n"),
              HasSubstr("fleet.heartbeat_late_after_seconds: 100 must be below "
                        "heartbeat_alert_after_seconds = 100"));
  EXPECT_THAT(Rejection("[agent]\nheartbeat_jitter_percent = 50\n"),
              HasSubstr("t.toml:2: fleet.heartbeat_late_after_seconds: 90 does not exceed the "
                        "longest heartbeat gap of a healthy agent (90 s"));
}

// The healthcheck a licence decides on (at most license_health_window_seconds old) must still be
// kept: the retention covers the window.
TEST(ConfigTest, HealthcheckRetentionCoversTheLicenceWindow) {
  EXPECT_THAT(Rejection("[fleet]\nlicense_health_window_seconds = 3600\n"
                        "healthcheck_retention_minutes = 59\n"),
              HasSubstr("t.toml:3: fleet.healthcheck_retention_minutes: 59 min is shorter than "
                        "license_health_window_seconds = 3600"));
  Accepted("[fleet]\nlicense_health_window_seconds = 3600\nhealthcheck_retention_minutes = 60\n");
}

// A key an earlier release knew gets what replaced it, not a list of every known key.
TEST(ConfigTest, RetiredKeyNamesItsReplacement) {
  EXPECT_THAT(Rejection("[fleet]\nhealthchecks_kept_per_site = 100\n"),
              HasSubstr("t.toml:2: fleet.healthchecks_kept_per_site: unknown key; this key was "
                        "replaced by fleet.healthcheck_retention_minutes"));
}

TEST(ConfigTest, VaultSealListValidated) {
  EXPECT_THAT(Rejection("[vault]\nseal_types_allowed = []\n"),
              HasSubstr("t.toml:2: vault.seal_types_allowed: empty"));
  EXPECT_THAT(Rejection("[vault]\nseal_types_allowed = [\"awskms\", \"rot13\"]\n"),
              HasSubstr("t.toml:2: vault.seal_types_allowed: out of range: \"rot13\""));
}

TEST(ConfigTest, EveryProblemIsReportedInFileOrder) {
  std::string msg = Rejection(
      "[vault]\nrecovery_shares = 3\n[backup]\nretention_days = 7\n"
      "[server]\nbogus = 1\n");
  size_t a = msg.find("t.toml:2: vault.recovery_shares");
  size_t b = msg.find("t.toml:4: backup.retention_days");
  size_t c = msg.find("t.toml:6: server.bogus");
  ASSERT_NE(a, std::string::npos) << msg;
  ASSERT_NE(b, std::string::npos) << msg;
  ASSERT_NE(c, std::string::npos) << msg;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

// --- Rule limits: one row per limit set by an invariant --------------------------------------

struct RuleCase {
  const char* section;
  const char* key;
  const char* bad;   // TOML value breaking the rule
  const char* good;  // the limit itself, which must be accepted
  const char* rule;
};

class RuleLimitTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(RuleLimitTest, BreachIsRejectedCitingTheRuleAndTheLimitIsAccepted) {
  const RuleCase& rc = GetParam();
  auto toml = [&](const char* value) {
    return fmt::format("# comment\n[{}]\n{} = {}\n", rc.section, rc.key, value);
  };
  std::string msg = Rejection(toml(rc.bad));
  EXPECT_THAT(msg, HasSubstr(fmt::format("t.toml:3: {}.{}: ", rc.section, rc.key)));
  EXPECT_THAT(msg, HasSubstr(rc.rule));
  Accepted(toml(rc.good));
}

INSTANTIATE_TEST_SUITE_P(
    Rules, RuleLimitTest,
    ::testing::Values(RuleCase{"kms", "key_rotation_period_days", "366", "365", "MAINT_020"},
                      RuleCase{"vault", "recovery_shares", "4", "5", "PROV_011"},
                      RuleCase{"vault", "recovery_threshold", "2", "3", "PROV_011"},
                      RuleCase{"vault", "seal_types_allowed", "[\"awskms\", \"shamir\"]",
                               "[\"awskms\"]", "PROV_010"},
                      RuleCase{"agent", "heartbeat_interval_seconds", "61", "60", "MAINT_001"},
                      RuleCase{"fleet", "heartbeat_alert_after_seconds", "121", "120", "MAINT_002"},
                      RuleCase{"fleet", "healthcheck_retention_minutes", "10", "11", "MAINT_001"},
                      RuleCase{"fleet", "license_health_window_seconds", "3601", "3600",
                               "PROV_022"},
                      RuleCase{"fleet", "license_health_window_seconds", "0", "1", "PROV_022"},
                      RuleCase{"backup", "interval_minutes", "61", "60", "MAINT_015"},
                      RuleCase{"backup", "full_every_hours", "25", "24", "MAINT_010"},
                      RuleCase{"backup", "retention_days", "89", "90", "MAINT_013"},
                      RuleCase{"backup", "restore_test_interval_days", "32", "31", "MAINT_014"},
                      RuleCase{"backup", "rto_target_seconds", "601", "600", "MAINT_016"},
                      RuleCase{"rotation", "db_credential_max_age_days", "93", "92", "MAINT_021"},
                      RuleCase{"rotation", "previous_version_keep_days", "29", "30", "MAINT_024"},
                      RuleCase{"rotation", "tls_renew_before_days", "30", "31", "MAINT_022"},
                      RuleCase{"patching", "scan_interval_hours", "25", "24", "MAINT_030"},
                      RuleCase{"patching", "sla_critical_hours", "25", "24", "MAINT_031"},
                      RuleCase{"patching", "sla_high_days", "8", "7", "MAINT_032"},
                      RuleCase{"patching", "sla_medium_days", "31", "30", "MAINT_033"},
                      RuleCase{"logs", "loki_retention_days", "89", "90", "MAINT_040"},
                      RuleCase{"logs", "archive_retention_days", "3649", "3650", "MAINT_041"},
                      RuleCase{"logs", "compress_after_days", "8", "7", "MAINT_042"},
                      RuleCase{"capacity", "disk_warn_percent", "81", "80", "MAINT_050"},
                      RuleCase{"capacity", "ram_warn_percent", "91", "90", "MAINT_051"},
                      RuleCase{"capacity", "cpu_warn_percent", "81", "80", "MAINT_052"},
                      RuleCase{"capacity", "cpu_for_minutes", "6", "5", "MAINT_052"},
                      RuleCase{"capacity", "api_latency_p95_ms", "501", "500", "MAINT_053"}),
    [](const ::testing::TestParamInfo<RuleCase>& info) {
      return fmt::format("{}_{}_{}", info.param.rule, info.param.key, info.index);
    });

// --- Files, defaults, validation of code-built configs -----------------------------------------

TEST(ConfigTest, ExampleFileLoads) {
  const std::string path = vigie::testing::SourceDir() + "/deploy/vigie.example.toml";
  Result<Config> c = LoadConfigFile(path, *RealFileSystem());
  ASSERT_TRUE(c.has_value()) << c.error().message;
  // The example is a production layout: everything on AWS, anchored on Ethereum.
  EXPECT_EQ(c->identity.backend, Backend::kAws);
  EXPECT_EQ(c->store.backend, StoreBackend::kPostgres);
  EXPECT_EQ(c->ledger.anchor, AnchorBackend::kEthereum);
  EXPECT_FALSE(c->backup.gpg_recipients.empty());
  EXPECT_EQ(c->server.io_threads, 8);
}

TEST(ConfigTest, MissingFileNamesThePath) {
  vigie::testing::TempDir dir;
  const std::string path = dir.File("nope.toml");
  Result<Config> c = LoadConfigFile(path, *RealFileSystem());
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::kConfig);
  EXPECT_THAT(c.error().message, HasSubstr(path + ": configuration file does not exist"));
}

TEST(ConfigTest, LoadedFileErrorsNameThePath) {
  vigie::testing::TempDir dir;
  const std::string path = dir.File("vigie.toml");
  ASSERT_TRUE(RealFileSystem()->WriteFileAtomic(path, "[backup]\nretention_days = 30\n"));
  Result<Config> c = LoadConfigFile(path, *RealFileSystem());
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, HasSubstr(path + ":2: backup.retention_days: 30 is below the "
                                                  "minimum 90 required by MAINT_013"));
}

TEST(ConfigTest, DefaultConfigRunsLocallyAndValidates) {
  vigie::testing::TempDir dir;
  Config c = DefaultConfig(dir.path());
  EXPECT_TRUE(ValidateConfig(c).has_value()) << ValidateConfig(c).error().message;
  EXPECT_EQ(c.data_dir, dir.path());
  EXPECT_EQ(c.store.backend, StoreBackend::kSqlite);
  EXPECT_EQ(c.store.path, dir.File("vigie.db"));
  EXPECT_EQ(c.agent.state_dir, dir.File("agent"));
  EXPECT_EQ(c.identity.backend, Backend::kLocal);
  EXPECT_EQ(c.secrets.backend, Backend::kLocal);
  EXPECT_EQ(c.kms.backend, Backend::kLocal);
  EXPECT_EQ(c.ledger.anchor, AnchorBackend::kLocal);
}

TEST(ConfigTest, ValidateConfigRejectsCodeBuiltBreach) {
  Config c = DefaultConfig("/tmp/x");
  c.vault.recovery_shares = 3;
  Status s = ValidateConfig(c, "override");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::kConfig);
  EXPECT_THAT(s.error().message,
              HasSubstr("override: vault.recovery_shares: 3 is below the minimum 5 required by "
                        "PROV_011"));
  c = DefaultConfig("relative/dir");
  EXPECT_THAT(ValidateConfig(c).error().message,
              HasSubstr("config: data_dir: must be an absolute path"));
}

TEST(ConfigTest, EnumNamesRoundTrip) {
  EXPECT_EQ(BackendName(Backend::kAws), "aws");
  EXPECT_EQ(StoreBackendName(StoreBackend::kPostgres), "postgres");
  EXPECT_EQ(AnchorBackendName(AnchorBackend::kEthereum), "ethereum");
  EXPECT_EQ(LogLevelName(LogLevel::kWarn), "warn");
}

}  // namespace
}  // namespace vigie::config
