#pragma once
// Credential generation (PROV_002): every credential vigie hands out is drawn here from the Env's
// CSPRNG, never typed in, and carries a provenance record (generator, alphabet, entropy, time).
//
// Alphabets, and the systems they suit:
//   kAlnum         [A-Za-z0-9], 62 symbols, ~5.95 bits/char. Database passwords (PostgreSQL):
//                  the value travels in libpq URIs (where @ : / ? # % need escaping), key=value
//                  conninfo strings (quotes, backslash, spaces) and SQL literals (quotes), so
//                  only letters and digits survive all three untouched.
//   kAlnumSymbols  [A-Za-z0-9] plus "-_.", 65 symbols, ~6.02 bits/char. Initial admin
//                  passwords: the symbols are RFC 3986 unreserved characters, inert in shells,
//                  URLs, JSON and SQL (no quotes, backslash, space, $, !, #, *, & or ~). Every
//                  value holds at least one lowercase, uppercase, digit and symbol, because
//                  password policies demand it; values lacking a class are regenerated (not
//                  patched), and entropy_bits records the entropy of that conditioned
//                  distribution, which is slightly below length * log2(65).
//   kHex           [0-9a-f], 16 symbols, 4 bits/char. Secrets compared case-insensitively or
//                  stored where only hex is accepted (tokens in identifiers, legacy fields).
//   kBase64Url     [A-Za-z0-9-_], 64 symbols, 6 bits/char. Bearer tokens and API secrets
//                  (the agent API secret): header- and URL-safe, densest of the four.
//
// Thread-safety: GenerateCredential is as thread-safe as the Env it is given.

#include <string>
#include <string_view>

#include "base/env.h"
#include "base/error.h"
#include "base/secret.h"

namespace vigie::crypto {

enum class Alphabet { kAlnum, kAlnumSymbols, kHex, kBase64Url };

// Minimum entropy of any generated credential (PROV_002).
inline constexpr int kMinCredentialEntropyBits = 128;
// Upper bound accepted for min_entropy_bits, to catch unit mistakes (bytes for bits x 8...).
inline constexpr int kMaxCredentialEntropyBits = 4096;
// The provenance generator name of every credential produced here.
inline constexpr std::string_view kCsprngGenerator = "vigie.csprng.libsodium";

// Stable lower_snake_case name ("alnum", "alnum_symbols", "hex", "base64url").
std::string_view AlphabetName(Alphabet alphabet);
// The characters of `alphabet`, each once.
std::string_view AlphabetCharacters(Alphabet alphabet);

struct Provenance {
  std::string generator;  // kCsprngGenerator
  int entropy_bits = 0;   // floor of the true entropy of the value's distribution
  std::string alphabet;   // AlphabetName()
  WallTime created_at;    // env.clock->Now() at generation
};

struct GeneratedCredential {
  SecretBytes value;  // printable ASCII from the alphabet; SECURITY: never log it
  Provenance provenance;
};

// Generates a credential over `alphabet` with at least `min_entropy_bits` bits of entropy: the
// shortest length whose entropy reaches the target, each character chosen with
// env.random->Uniform() (uniform, no modulo bias).
// REQUIRES: env.random and env.clock are set.
// Errors: kInvalidArgument if min_entropy_bits < 128 (PROV_002) or > 4096.
Result<GeneratedCredential> GenerateCredential(Env& env, Alphabet alphabet,
                                               int min_entropy_bits = kMinCredentialEntropyBits);

}  // namespace vigie::crypto
