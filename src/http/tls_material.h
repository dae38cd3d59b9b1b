#pragma once
// TLS key material for vigie's HTTPS servers (fleet manager, agent): loading a certificate and
// its private key, generating a self-signed pair for development and tests, and computing the
// SubjectPublicKeyInfo pin that agents use to pin the fleet manager's key.
//
// OpenSSL stays in tls_material.cc. All functions are stateless and thread-safe.
//
// SECURITY: the private key only ever lives in SecretBytes (key_pem); nothing here logs it.

#include <string>
#include <string_view>
#include <vector>

#include "base/env.h"
#include "base/error.h"
#include "base/secret.h"

namespace vigie::http {

struct TlsMaterial {
  // PEM certificate chain, leaf first.
  std::string cert_pem;
  // PEM private key (PKCS#8) matching the leaf certificate. SECURITY: secret.
  SecretBytes key_pem;
  // "sha256//<base64>" of the leaf's DER SubjectPublicKeyInfo: the form of curl's
  // CURLOPT_PINNEDPUBLICKEY (and of `openssl x509 -pubkey | openssl pkey -pubin -outform der |
  // openssl dgst -sha256 -binary | base64`). Survives certificate renewal with the same key.
  std::string spki_pin;
};

// Generates a fresh ECDSA P-256 key and a self-signed X.509 v3 certificate for it, valid from one
// minute ago (clock skew) for `validity_days`. Subject and issuer are CN=`common_name`;
// subjectAltName lists `alt_names` (each a DNS name or an IPv4/IPv6 literal); when `alt_names`
// is empty it is {common_name}, plus 127.0.0.1 and ::1 when common_name is "localhost".
// Extensions: basicConstraints CA:FALSE, extendedKeyUsage serverAuth. A client trusts it by
// using cert_pem as its CA file, or by pinning spki_pin.
// Errors: kInvalidArgument (empty common name, validity_days outside 1..3650, bad alt name),
// kInternal (OpenSSL failure).
// SECURITY: for development, tests and first boot only; production certificates come from the
// operator's PKI.
Result<TlsMaterial> GenerateSelfSignedCertificate(std::string_view common_name, int validity_days,
                                                  const std::vector<std::string>& alt_names = {});

// "sha256//<base64>" pin of the first certificate in `cert_pem`.
// Errors: kInvalidArgument (no parsable PEM certificate).
Result<std::string> SpkiPinFromCertificatePem(std::string_view cert_pem);

// Reads a PEM certificate chain and a PEM private key from files through `fs`, checks that the
// key matches the leaf certificate and fills spki_pin.
// Errors: whatever fs.ReadFile returns (kNotFound, kIo), kInvalidArgument (unparsable PEM, key
// does not match the certificate; the message names the file).
Result<TlsMaterial> LoadTlsMaterial(FileSystem& fs, const std::string& cert_path,
                                    const std::string& key_path);

// Checks that `material` parses and that its key matches its leaf certificate.
// Errors: kInvalidArgument.
Status ValidateTlsMaterial(const TlsMaterial& material);

}  // namespace vigie::http
