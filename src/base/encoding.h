#pragma once
// Byte encodings used on the wire and in files: lowercase hex, standard base64 (RFC 4648 §4,
// padded), base64url (§5, unpadded) and percent-decoding (RFC 3986). Decoders reject malformed input with kInvalidArgument
// and never read past the input. Stateless and thread-safe.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace vigie {

using Bytes = std::vector<uint8_t>;

std::string HexEncode(std::span<const uint8_t> data);
Result<Bytes> HexDecode(std::string_view hex);  // accepts upper and lower case, even length
std::string Base64Encode(std::span<const uint8_t> data);
Result<Bytes> Base64Decode(std::string_view b64);
std::string Base64UrlEncode(std::span<const uint8_t> data);
Result<Bytes> Base64UrlDecode(std::string_view b64);

// RFC 3986 percent-decoding ("%7B" -> '{', either hex case). '+' is kept unless `plus_is_space`
// (application/x-www-form-urlencoded query components), where it becomes ' '.
// Errors: kInvalidArgument "truncated percent-escape at offset N" / "invalid percent-escape at
// offset N".
Result<std::string> PercentDecode(std::string_view s, bool plus_is_space = false);

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsString(std::span<const uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace vigie
