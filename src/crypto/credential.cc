#include "crypto/credential.h"

#include <array>
#include <cmath>

namespace vigie::crypto {

namespace {

constexpr std::string_view kLower = "abcdefghijklmnopqrstuvwxyz";
constexpr std::string_view kUpper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
constexpr std::string_view kDigits = "0123456789";
constexpr std::string_view kSymbols = "-_.";

constexpr std::string_view kAlnumChars =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
constexpr std::string_view kAlnumSymbolChars =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.";
constexpr std::string_view kHexChars = "0123456789abcdef";
constexpr std::string_view kBase64UrlChars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

bool RequiresEachClass(Alphabet a) { return a == Alphabet::kAlnumSymbols; }

// log2 of the probability that a uniform string of `length` over kAlnumSymbolChars holds at least
// one character of each of the four classes, by inclusion-exclusion over the missing classes.
double Log2ProbabilityAllClasses(int length) {
  const std::array<double, 4> sizes = {double(kLower.size()), double(kUpper.size()),
                                       double(kDigits.size()), double(kSymbols.size())};
  const double total = double(kAlnumSymbolChars.size());
  double p = 0;
  for (int mask = 0; mask < 16; ++mask) {
    double missing = 0;
    int bits = 0;
    for (int c = 0; c < 4; ++c) {
      if (mask & (1 << c)) {
        missing += sizes[c];
        ++bits;
      }
    }
    const double term = std::pow((total - missing) / total, length);
    p += (bits % 2 == 0) ? term : -term;
  }
  return std::log2(p);
}

// Entropy in bits of the distribution GenerateCredential draws from, for `length` characters.
double EntropyBits(Alphabet alphabet, int length) {
  double bits = length * std::log2(double(AlphabetCharacters(alphabet).size()));
  if (RequiresEachClass(alphabet)) bits += Log2ProbabilityAllClasses(length);
  return bits;
}

bool HasEachClass(const SecretBytes& value) {
  bool lower = false, upper = false, digit = false, symbol = false;
  for (uint8_t c : value.span()) {
    lower |= kLower.find(char(c)) != std::string_view::npos;
    upper |= kUpper.find(char(c)) != std::string_view::npos;
    digit |= kDigits.find(char(c)) != std::string_view::npos;
    symbol |= kSymbols.find(char(c)) != std::string_view::npos;
  }
  return lower && upper && digit && symbol;
}

}  // namespace

std::string_view AlphabetName(Alphabet alphabet) {
  switch (alphabet) {
    case Alphabet::kAlnum:
      return "alnum";
    case Alphabet::kAlnumSymbols:
      return "alnum_symbols";
    case Alphabet::kHex:
      return "hex";
    case Alphabet::kBase64Url:
      return "base64url";
  }
  return "unknown";
}

std::string_view AlphabetCharacters(Alphabet alphabet) {
  switch (alphabet) {
    case Alphabet::kAlnum:
      return kAlnumChars;
    case Alphabet::kAlnumSymbols:
      return kAlnumSymbolChars;
    case Alphabet::kHex:
      return kHexChars;
    case Alphabet::kBase64Url:
      return kBase64UrlChars;
  }
  return {};
}

Result<GeneratedCredential> GenerateCredential(Env& env, Alphabet alphabet, int min_entropy_bits) {
  if (env.random == nullptr || env.clock == nullptr) {
    return MakeError(ErrorCode::kInternal, "GenerateCredential needs an Env with random and clock");
  }
  if (min_entropy_bits < kMinCredentialEntropyBits) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "credential entropy of " + std::to_string(min_entropy_bits) +
                         " bits requested; PROV_002 requires at least 128 bits");
  }
  if (min_entropy_bits > kMaxCredentialEntropyBits) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "credential entropy of " + std::to_string(min_entropy_bits) +
                         " bits requested; the maximum is 4096 (bits, not bytes?)");
  }
  const std::string_view chars = AlphabetCharacters(alphabet);
  // Shortest length whose entropy reaches the target. The small epsilon keeps exact cases
  // (32 hex characters = 128 bits) from being pushed up by floating-point rounding.
  int length = 1;
  while (EntropyBits(alphabet, length) + 1e-9 < min_entropy_bits) ++length;

  SecretBytes value(static_cast<size_t>(length));
  // Rejection keeps the accepted values uniform over the strings that hold every class; forcing
  // a class into a chosen position would make that position predictable. With a real CSPRNG a
  // draw fails with probability < 0.4, so hitting the cap means the random source is broken.
  constexpr int kMaxAttempts = 1000;
  int attempt = 0;
  do {
    if (++attempt > kMaxAttempts) {
      return MakeError(ErrorCode::kInternal,
                       "credential generator drew 1000 values lacking a character class: the "
                       "random source is not random");
    }
    for (uint8_t& c : value.mutable_span()) {
      c = static_cast<uint8_t>(chars[env.random->Uniform(static_cast<uint32_t>(chars.size()))]);
    }
  } while (RequiresEachClass(alphabet) && !HasEachClass(value));

  GeneratedCredential out;
  out.value = std::move(value);
  out.provenance.generator = std::string(kCsprngGenerator);
  out.provenance.entropy_bits = static_cast<int>(std::floor(EntropyBits(alphabet, length) + 1e-9));
  out.provenance.alphabet = std::string(AlphabetName(alphabet));
  out.provenance.created_at = env.clock->Now();
  return out;
}

}  // namespace vigie::crypto
