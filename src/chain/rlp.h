#pragma once
// Recursive Length Prefix (RLP), Ethereum's serialisation (yellow paper, appendix B): an item is
// either a byte string or a list of items. Unsigned integers are encoded as their minimal
// big-endian bytes (zero is the empty string).
//
// SECURITY: RlpDecode parses untrusted bytes (a node's reply, a raw transaction). It accepts only
// the canonical encoding: a single byte below 0x80 must not be wrapped, lengths must use the short
// form when they can and carry no leading zero byte, list payloads must hold exactly their items,
// nesting is bounded (kMaxRlpDepth), and nothing is read past the input.
//
// Thread-safety: RlpItem is a plain value; the free functions are stateless and thread-safe.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/encoding.h"
#include "base/error.h"

namespace vigie::chain {

// Deepest list nesting RlpDecode accepts (bounds recursion on hostile input).
inline constexpr int kMaxRlpDepth = 64;

class RlpItem {
 public:
  // The empty byte string (which is also the integer 0).
  RlpItem() = default;

  static RlpItem Bytes(std::span<const uint8_t> bytes);
  static RlpItem String(std::string_view text);
  // The minimal big-endian encoding of `value` (0 -> empty string, 1024 -> 0x04 0x00).
  static RlpItem Uint(uint64_t value);
  // A big-endian unsigned integer of any width (e.g. a 256-bit signature component); leading zero
  // bytes are stripped so the encoding is canonical.
  static RlpItem UintBigEndian(std::span<const uint8_t> big_endian);
  static RlpItem List(std::vector<RlpItem> items);

  bool is_list() const { return is_list_; }
  // REQUIRES: !is_list().
  const vigie::Bytes& bytes() const { return bytes_; }
  // REQUIRES: is_list().
  const std::vector<RlpItem>& items() const { return items_; }

  // The item as an unsigned integer. Errors (kInvalidArgument): a list, more than 8 bytes, or a
  // leading zero byte (non-canonical integer). `what` names the field in the message.
  Result<uint64_t> AsUint(std::string_view what = "integer") const;

  bool operator==(const RlpItem& other) const = default;

 private:
  bool is_list_ = false;
  vigie::Bytes bytes_;          // when !is_list_
  std::vector<RlpItem> items_;  // when is_list_
};

// The canonical encoding of `item`.
vigie::Bytes RlpEncode(const RlpItem& item);

// Decodes exactly one item spanning all of `input`. Errors (kInvalidArgument, message naming the
// byte offset): truncated input, trailing bytes, non-canonical length or single byte, nesting
// deeper than kMaxRlpDepth.
Result<RlpItem> RlpDecode(std::span<const uint8_t> input);

}  // namespace vigie::chain
