#include "http/tls_material.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <memory>

#include "base/encoding.h"

namespace vigie::http {

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct ExtFree {
  void operator()(X509_EXTENSION* e) const { X509_EXTENSION_free(e); }
};
struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* g) const { GENERAL_NAMES_free(g); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

tl::unexpected<Error> OpenSslError(std::string_view what) {
  return MakeError(ErrorCode::kInternal, fmt::format("OpenSSL {} failed", what));
}

Result<std::string> BioToString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len < 0 || data == nullptr) return OpenSslError("BIO_get_mem_data");
  return std::string(data, static_cast<size_t>(len));
}

Result<X509Ptr> ParseCertificate(std::string_view pem, std::string_view source) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpenSslError("BIO_new_mem_buf");
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        fmt::format("{}: no PEM certificate (expected -----BEGIN CERTIFICATE-----)", source));
  }
  return cert;
}

Result<PkeyPtr> ParsePrivateKey(const SecretBytes& pem, std::string_view source) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpenSslError("BIO_new_mem_buf");
  // An empty passphrase callback: encrypted keys are refused instead of prompting on a tty.
  PkeyPtr key(PEM_read_bio_PrivateKey(
      bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  if (!key) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("{}: no unencrypted PEM private key", source));
  }
  return key;
}

Result<std::string> SpkiPin(X509* cert) {
  EVP_PKEY* pub = X509_get0_pubkey(cert);
  if (pub == nullptr) return OpenSslError("X509_get0_pubkey");
  unsigned char* der = nullptr;
  int der_len = i2d_PUBKEY(pub, &der);
  if (der_len <= 0) return OpenSslError("i2d_PUBKEY");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  int ok =
      EVP_Digest(der, static_cast<size_t>(der_len), digest, &digest_len, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  if (ok != 1) return OpenSslError("EVP_Digest");
  return "sha256//" + Base64Encode(std::span<const uint8_t>(digest, digest_len));
}

Status AddExtension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, ExtFree> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) return OpenSslError("X509_add_ext");
  return OkStatus();
}

// subjectAltName built from GENERAL_NAME objects (not from a config string) so that a name
// containing ',' or ':' cannot inject extra entries.
Status AddSubjectAltNames(X509* cert, const std::vector<std::string>& names) {
  std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> gens(sk_GENERAL_NAME_new_null());
  if (!gens) return OpenSslError("sk_GENERAL_NAME_new_null");
  for (const std::string& name : names) {
    unsigned char ip[16];
    int ip_len = 0;
    if (inet_pton(AF_INET, name.c_str(), ip) == 1) {
      ip_len = 4;
    } else if (inet_pton(AF_INET6, name.c_str(), ip) == 1) {
      ip_len = 16;
    }
    GENERAL_NAME* gen = GENERAL_NAME_new();
    if (gen == nullptr) return OpenSslError("GENERAL_NAME_new");
    if (ip_len > 0) {
      ASN1_OCTET_STRING* os = ASN1_OCTET_STRING_new();
      if (os == nullptr || ASN1_OCTET_STRING_set(os, ip, ip_len) != 1) {
        ASN1_OCTET_STRING_free(os);
        GENERAL_NAME_free(gen);
        return OpenSslError("ASN1_OCTET_STRING_set");
      }
      GENERAL_NAME_set0_value(gen, GEN_IPADD, os);
    } else {
      bool valid = !name.empty() && name.size() <= 253;
      for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '*';
        valid = valid && ok;
      }
      if (!valid) {
        GENERAL_NAME_free(gen);
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("certificate alt name '{}' is neither a DNS name nor an IP "
                                     "address",
                                     name));
      }
      ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
      if (ia5 == nullptr || ASN1_STRING_set(ia5, name.data(), static_cast<int>(name.size())) != 1) {
        ASN1_IA5STRING_free(ia5);
        GENERAL_NAME_free(gen);
        return OpenSslError("ASN1_STRING_set");
      }
      GENERAL_NAME_set0_value(gen, GEN_DNS, ia5);
    }
    if (sk_GENERAL_NAME_push(gens.get(), gen) == 0) {
      GENERAL_NAME_free(gen);
      return OpenSslError("sk_GENERAL_NAME_push");
    }
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, gens.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return OpenSslError("X509_add1_ext_i2d(subjectAltName)");
  }
  return OkStatus();
}

Status CheckKeyMatches(X509* cert, EVP_PKEY* key, std::string_view source) {
  if (X509_check_private_key(cert, key) != 1) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        fmt::format("{}: the private key does not match the certificate's public key", source));
  }
  return OkStatus();
}

}  // namespace

Result<TlsMaterial> GenerateSelfSignedCertificate(std::string_view common_name, int validity_days,
                                                  const std::vector<std::string>& alt_names) {
  if (common_name.empty() || common_name.size() > 64) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "self-signed certificate: common name must be 1..64 characters");
  }
  if (validity_days < 1 || validity_days > 3650) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        fmt::format("self-signed certificate: validity_days {} is outside 1..3650", validity_days));
  }
  std::vector<std::string> names = alt_names;
  if (names.empty()) {
    names.emplace_back(common_name);
    if (common_name == "localhost") {
      names.emplace_back("127.0.0.1");
      names.emplace_back("::1");
    }
  }

  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return OpenSslError("EVP_EC_gen(P-256)");
  X509Ptr cert(X509_new());
  if (!cert) return OpenSslError("X509_new");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) return OpenSslError("X509_set_version");

  // A random positive 127-bit serial (RFC 5280 §4.1.2.2: at most 20 octets, positive).
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1) return OpenSslError("RAND_bytes");
  serial_bytes[0] &= 0x7f;
  std::unique_ptr<BIGNUM, BnFree> serial(BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr));
  if (!serial || BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return OpenSslError("BN_to_ASN1_INTEGER");
  }
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), validity_days, 0, nullptr) == nullptr) {
    return OpenSslError("X509_gmtime_adj");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  std::string cn(common_name);
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1) {
    return OpenSslError("X509_NAME_add_entry_by_txt");
  }
  if (X509_set_issuer_name(cert.get(), name) != 1) return OpenSslError("X509_set_issuer_name");
  if (X509_set_pubkey(cert.get(), key.get()) != 1) return OpenSslError("X509_set_pubkey");
  VIGIE_RETURN_IF_ERROR(AddExtension(cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
  VIGIE_RETURN_IF_ERROR(AddExtension(cert.get(), NID_ext_key_usage, "serverAuth"));
  VIGIE_RETURN_IF_ERROR(AddExtension(cert.get(), NID_subject_key_identifier, "hash"));
  VIGIE_RETURN_IF_ERROR(AddSubjectAltNames(cert.get(), names));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) return OpenSslError("X509_sign");

  TlsMaterial out;
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  if (!cert_bio || PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1) {
    return OpenSslError("PEM_write_bio_X509");
  }
  VIGIE_ASSIGN_OR_RETURN(out.cert_pem, BioToString(cert_bio.get()));

  // BIO_s_secmem keeps the PEM key in OpenSSL's secure heap when it is enabled, and wipes it on
  // free; the bytes are then copied into SecretBytes.
  BioPtr key_bio(BIO_new(BIO_s_secmem()));
  if (!key_bio || PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                           nullptr) != 1) {
    return OpenSslError("PEM_write_bio_PrivateKey");
  }
  char* key_data = nullptr;
  long key_len = BIO_get_mem_data(key_bio.get(), &key_data);
  if (key_len <= 0 || key_data == nullptr) return OpenSslError("BIO_get_mem_data");
  out.key_pem = SecretBytes::CopyFrom(std::string_view(key_data, static_cast<size_t>(key_len)));

  VIGIE_ASSIGN_OR_RETURN(out.spki_pin, SpkiPin(cert.get()));
  return out;
}

Result<std::string> SpkiPinFromCertificatePem(std::string_view cert_pem) {
  VIGIE_ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificate(cert_pem, "certificate"));
  return SpkiPin(cert.get());
}

Status ValidateTlsMaterial(const TlsMaterial& material) {
  VIGIE_ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificate(material.cert_pem, "TLS certificate"));
  VIGIE_ASSIGN_OR_RETURN(PkeyPtr key, ParsePrivateKey(material.key_pem, "TLS private key"));
  return CheckKeyMatches(cert.get(), key.get(), "TLS material");
}

Result<TlsMaterial> LoadTlsMaterial(FileSystem& fs, const std::string& cert_path,
                                    const std::string& key_path) {
  TlsMaterial out;
  VIGIE_ASSIGN_OR_RETURN(out.cert_pem, fs.ReadFile(cert_path));
  {
    auto key_text = fs.ReadFile(key_path);
    if (!key_text) return tl::unexpected(key_text.error());
    out.key_pem = SecretBytes::CopyFrom(*key_text);
    WipeString(*key_text);
  }
  VIGIE_ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificate(out.cert_pem, cert_path));
  VIGIE_ASSIGN_OR_RETURN(PkeyPtr key, ParsePrivateKey(out.key_pem, key_path));
  VIGIE_RETURN_IF_ERROR(CheckKeyMatches(cert.get(), key.get(), key_path));
  VIGIE_ASSIGN_OR_RETURN(out.spki_pin, SpkiPin(cert.get()));
  return out;
}

}  // namespace vigie::http
