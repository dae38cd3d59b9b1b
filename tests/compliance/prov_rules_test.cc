// Customer's compliance classes for the PROV_* rules (spec/000_df2650a029978f20.txt, section 5:
// TestCredentials, TestVault, TestRegistration, method names kept).

#include "rule_suite.h"

namespace vigie::compliance {
namespace {

constexpr std::string_view kIdentity = "Provisioning: identity and credentials";
constexpr std::string_view kVault = "Provisioning: Vault and secrets";
constexpr std::string_view kRegistration = "Provisioning: registration";

class TestCredentials : public RuleSuite {};
class TestVault : public RuleSuite {};
class TestRegistration : public RuleSuite {};

TEST_F(TestCredentials, PROV_001_dedicated_iam_user) {
  ExpectNotImplementedYet("PROV_001", kIdentity);
}
TEST_F(TestCredentials, PROV_002_auto_generated_credentials) {
  ExpectNotImplementedYet("PROV_002", kIdentity);
}
TEST_F(TestCredentials, PROV_003_encrypted_transmission) {
  ExpectNotImplementedYet("PROV_003", kIdentity);
}
TEST_F(TestCredentials, PROV_004_recovery_keys_in_secrets_manager) {
  ExpectNotImplementedYet("PROV_004", kIdentity);
}
TEST_F(TestCredentials, PROV_005_force_password_change) {
  ExpectNotImplementedYet("PROV_005", kIdentity);
}

TEST_F(TestVault, PROV_010_kms_auto_unseal) { ExpectNotImplementedYet("PROV_010", kVault); }
TEST_F(TestVault, PROV_011_threshold_3_of_5) { ExpectNotImplementedYet("PROV_011", kVault); }
TEST_F(TestVault, PROV_012_root_token_revoked) { ExpectNotImplementedYet("PROV_012", kVault); }
TEST_F(TestVault, PROV_013_policies_from_config) { ExpectNotImplementedYet("PROV_013", kVault); }

TEST_F(TestRegistration, PROV_020_blockchain_anchor) {
  ExpectNotImplementedYet("PROV_020", kRegistration);
}
TEST_F(TestRegistration, PROV_021_fleet_manager_registration) {
  ExpectNotImplementedYet("PROV_021", kRegistration);
}
TEST_F(TestRegistration, PROV_022_healthcheck_before_license) {
  ExpectNotImplementedYet("PROV_022", kRegistration);
}
TEST_F(TestRegistration, PROV_023_signed_deployment_package) {
  ExpectNotImplementedYet("PROV_023", kRegistration);
}

}  // namespace
}  // namespace vigie::compliance
