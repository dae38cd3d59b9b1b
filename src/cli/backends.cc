#include "cli/backends.h"

#include "ledger/anchor_service.h"

#include "backend/aws/aws_identity.h"
#include "backend/aws/aws_kms.h"
#include "backend/aws/aws_secrets.h"
#include "backend/local/local_identity.h"
#include "backend/local/local_kms.h"
#include "backend/local/local_secrets.h"
#include "cli/fleet_keys.h"
#include "cloud/aws_client.h"
#include "http/curl_client.h"
#include "http/tls_material.h"
#include "store/sqlite_store.h"

namespace vigie::cli {

struct FleetBackends::AwsParts {
  std::unique_ptr<http::CurlClient> http;
  std::unique_ptr<cloud::AwsClient> client;
};

FleetBackends::FleetBackends() = default;
FleetBackends::~FleetBackends() = default;
FleetBackends::FleetBackends(FleetBackends&&) noexcept = default;
FleetBackends& FleetBackends::operator=(FleetBackends&&) noexcept = default;

namespace {

Result<std::unique_ptr<store::Store>> OpenStore(const config::Config& c, Env env) {
  if (c.store.backend != config::StoreBackend::kSqlite) {
    return MakeError(ErrorCode::kUnimplemented,
                     "store.backend = \"postgres\" is not available in this build yet; use "
                     "\"sqlite\"");
  }
  VIGIE_RETURN_IF_ERROR(env.fs->CreateDirs(c.data_dir, 0700));
  store::SqliteOptions opts;
  opts.path = c.store.path;
  opts.batch_max = static_cast<int>(c.store.batch_max_rows);
  opts.clock = env.clock;
  return store::OpenSqliteStore(opts);
}

bool AnyAws(const config::Config& c) {
  return c.identity.backend == config::Backend::kAws ||
         c.secrets.backend == config::Backend::kAws || c.kms.backend == config::Backend::kAws;
}

}  // namespace

Result<FleetBackends> OpenFleetBackends(const config::Config& c, Env env, bool open_ledger) {
  FleetBackends b;
  VIGIE_ASSIGN_OR_RETURN(b.store, OpenStore(c, env));

  if (AnyAws(c)) {
    VIGIE_ASSIGN_OR_RETURN(cloud::AwsCredentials creds, cloud::LoadAwsCredentialsFromEnv());
    b.aws = std::make_unique<FleetBackends::AwsParts>();
    b.aws->http = std::make_unique<http::CurlClient>();
    cloud::AwsClientOptions opts;
    opts.endpoint_override = c.aws.endpoint_url;
    b.aws->client =
        std::make_unique<cloud::AwsClient>(*b.aws->http, *env.clock, std::move(creds), opts);
  }

  if (c.kms.backend == config::Backend::kAws) {
    VIGIE_ASSIGN_OR_RETURN(b.kms, backend::AwsKms::Create(*b.aws->client, {c.aws.region}));
  } else {
    VIGIE_ASSIGN_OR_RETURN(b.kms, backend::OpenLocalKms(c.data_dir, env));
  }
  if (c.secrets.backend == config::Backend::kAws) {
    VIGIE_ASSIGN_OR_RETURN(b.secrets, backend::AwsSecrets::Create(*b.aws->client, {c.aws.region}));
  } else {
    // The local secrets backend wraps its data keys with a local KMS key, even when the site
    // keys live in AWS KMS: local secrets must not depend on a remote service.
    backend::KmsBackend* wrap = b.kms.get();
    if (c.kms.backend == config::Backend::kAws) {
      VIGIE_ASSIGN_OR_RETURN(b.secrets_kms, backend::OpenLocalKms(c.data_dir, env));
      wrap = b.secrets_kms.get();
    }
    b.secrets = backend::NewLocalSecrets(*b.store, *wrap, "", env);
  }
  if (c.identity.backend == config::Backend::kAws) {
    backend::AwsIdentityOptions opts;
    opts.iam_path = c.aws.iam_path;
    VIGIE_ASSIGN_OR_RETURN(b.identity, backend::AwsIdentity::Create(*b.aws->client, opts));
  } else {
    b.identity = backend::NewLocalIdentity(*b.store, env);
  }

  VIGIE_ASSIGN_OR_RETURN(crypto::SigningKey key, LoadOrCreateFleetKey(c.data_dir, env));
  b.fleet_key = std::make_unique<crypto::SigningKey>(std::move(key));
  if (open_ledger) {
    VIGIE_ASSIGN_OR_RETURN(b.ledger, ledger::Ledger::Open(c.data_dir + "/ledger", env,
                                                          b.fleet_key.get(),
                                                          ledger::LedgerOptionsFromConfig(c.ledger)));
  }
  return b;
}

Result<std::string> FleetTlsPin(const config::Config& c, Env env) {
  std::string cert = c.server.tls_cert_file;
  std::string key = c.server.tls_key_file;
  if (cert.empty()) {
    cert = c.data_dir + "/fleet/tls.crt";
    key = c.data_dir + "/fleet/tls.key";
    if (!env.fs->Exists(cert)) {
      VIGIE_RETURN_IF_ERROR(env.fs->CreateDirs(c.data_dir + "/fleet", 0700));
      // Dev/embedded default: a self-signed certificate, pinned by every package.
      VIGIE_ASSIGN_OR_RETURN(http::TlsMaterial m,
                             http::GenerateSelfSignedCertificate("vigie-fleet", 825));
      VIGIE_RETURN_IF_ERROR(env.fs->WriteFileAtomic(key, m.key_pem.view(), 0600));
      VIGIE_RETURN_IF_ERROR(env.fs->WriteFileAtomic(cert, m.cert_pem, 0644));
      return m.spki_pin;
    }
  }
  VIGIE_ASSIGN_OR_RETURN(std::string pem, env.fs->ReadFile(cert));
  return http::SpkiPinFromCertificatePem(pem);
}

Status LedgerEventSink::Append(std::string_view kind, std::string_view site,
                               std::string_view body_json) {
  auto ref = ledger_.Append(kind, site, body_json);
  if (!ref) return tl::unexpected(ref.error().Wrap("ledger"));
  return OkStatus();
}

}  // namespace vigie::cli
