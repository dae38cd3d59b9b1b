#pragma once
// The one place that turns a configuration into concrete backends (store, KMS, secrets,
// identity, ledger) and owns them for the length of a command. Modules only ever see the
// interfaces (house style: explicit wiring in src/cli).

#include <memory>

#include "backend/identity.h"
#include "backend/kms.h"
#include "backend/secrets.h"
#include "base/event_sink.h"
#include "config/config.h"
#include "crypto/sign.h"
#include "ledger/ledger.h"
#include "provision/provisioner.h"
#include "store/store.h"

namespace vigie::cli {

struct FleetBackends {
  FleetBackends();
  ~FleetBackends();
  FleetBackends(FleetBackends&&) noexcept;
  FleetBackends& operator=(FleetBackends&&) noexcept;

  std::unique_ptr<store::Store> store;
  std::unique_ptr<backend::KmsBackend> kms;
  // Wraps the data keys of the local secrets backend when the site keys live in AWS KMS.
  std::unique_ptr<backend::KmsBackend> secrets_kms;
  std::unique_ptr<backend::SecretsBackend> secrets;
  std::unique_ptr<backend::IdentityBackend> identity;
  std::unique_ptr<crypto::SigningKey> fleet_key;
  std::unique_ptr<ledger::Ledger> ledger;
  // Owns whatever the AWS backends borrow (HTTP client, AWS client).
  struct AwsParts;
  std::unique_ptr<AwsParts> aws;
};

// Opens the store, the KMS / secrets / identity backends named in `c`, the fleet key and the
// ledger. Errors name the backend or file at fault (e.g. missing AWS_ACCESS_KEY_ID).
// `open_ledger` = false leaves `ledger` null (read-only commands must not take the ledger's lock,
// which a running server holds).
Result<FleetBackends> OpenFleetBackends(const config::Config& c, Env env, bool open_ledger = true);

// The fleet manager's TLS identity: server.tls_cert_file/tls_key_file when configured, else a
// self-signed certificate generated once under <data_dir>/fleet/tls.{crt,key} (key 0600).
// Returns the SPKI pin ("sha256//...") that packages carry so agents pin their fleet manager.
Result<std::string> FleetTlsPin(const config::Config& c, Env env);

// Appends provisioning events to the ledger, committed (fsync) before provisioning continues.
class LedgerEventSink final : public EventSink {
 public:
  explicit LedgerEventSink(ledger::Ledger& ledger) : ledger_(ledger) {}
  Status Append(std::string_view kind, std::string_view site, std::string_view body_json) override;

 private:
  ledger::Ledger& ledger_;
};

}  // namespace vigie::cli
