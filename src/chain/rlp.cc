#include "chain/rlp.h"

#include <fmt/format.h>

namespace vigie::chain {
namespace {

// Minimal big-endian bytes of `value` (none for 0).
vigie::Bytes MinimalBigEndian(uint64_t value) {
  vigie::Bytes out;
  while (value != 0) {
    out.insert(out.begin(), static_cast<uint8_t>(value & 0xff));
    value >>= 8;
  }
  return out;
}

// Appends the header for a payload of `length` bytes: `short_base` + length when it fits in 55
// bytes, else `short_base` + 55 + (length of the length) followed by the big-endian length.
void AppendHeader(vigie::Bytes& out, uint8_t short_base, size_t length) {
  if (length <= 55) {
    out.push_back(static_cast<uint8_t>(short_base + length));
    return;
  }
  vigie::Bytes len = MinimalBigEndian(length);
  out.push_back(static_cast<uint8_t>(short_base + 55 + len.size()));
  out.insert(out.end(), len.begin(), len.end());
}

void EncodeInto(const RlpItem& item, vigie::Bytes& out) {
  if (!item.is_list()) {
    const vigie::Bytes& b = item.bytes();
    if (b.size() == 1 && b[0] < 0x80) {
      out.push_back(b[0]);  // a single low byte is its own encoding
      return;
    }
    AppendHeader(out, 0x80, b.size());
    out.insert(out.end(), b.begin(), b.end());
    return;
  }
  vigie::Bytes payload;
  for (const RlpItem& child : item.items()) EncodeInto(child, payload);
  AppendHeader(out, 0xc0, payload.size());
  out.insert(out.end(), payload.begin(), payload.end());
}

tl::unexpected<Error> DecodeError(size_t offset, std::string_view what) {
  return MakeError(ErrorCode::kInvalidArgument, fmt::format("rlp: {} at offset {}", what, offset));
}

class Decoder {
 public:
  explicit Decoder(std::span<const uint8_t> input) : input_(input) {}

  // Decodes the item starting at `pos`, which must end at or before `end`; advances `pos`.
  Result<RlpItem> Item(size_t& pos, size_t end, int depth) {
    if (pos >= end) return DecodeError(pos, "truncated input: expected an item");
    const size_t start = pos;
    const uint8_t prefix = input_[pos++];

    if (prefix < 0x80) return RlpItem::Bytes(input_.subspan(start, 1));

    const bool is_list = prefix >= 0xc0;
    const uint8_t base = is_list ? 0xc0 : 0x80;
    size_t length = 0;
    if (prefix - base <= 55) {
      length = prefix - base;
    } else {
      const size_t len_of_len = prefix - base - 55;
      if (len_of_len > sizeof(size_t) || len_of_len > end - pos) {
        return DecodeError(start, "truncated input: length prefix runs past the end");
      }
      if (input_[pos] == 0) return DecodeError(start, "non-canonical length (leading zero byte)");
      for (size_t i = 0; i < len_of_len; ++i) length = (length << 8) | input_[pos++];
      if (length <= 55) {
        return DecodeError(start, "non-canonical length (long form used for <= 55 bytes)");
      }
    }
    if (length > end - pos) {
      return DecodeError(
          start, fmt::format("truncated input: {} bytes announced, {} present", length, end - pos));
    }

    if (!is_list) {
      if (length == 1 && input_[pos] < 0x80) {
        return DecodeError(start, "non-canonical single byte (must not be wrapped)");
      }
      RlpItem item = RlpItem::Bytes(input_.subspan(pos, length));
      pos += length;
      return item;
    }

    if (depth >= kMaxRlpDepth) return DecodeError(start, "lists nested too deeply");
    const size_t list_end = pos + length;
    std::vector<RlpItem> items;
    while (pos < list_end) {
      VIGIE_ASSIGN_OR_RETURN(RlpItem child, Item(pos, list_end, depth + 1));
      items.push_back(std::move(child));
    }
    return RlpItem::List(std::move(items));
  }

 private:
  std::span<const uint8_t> input_;
};

}  // namespace

RlpItem RlpItem::Bytes(std::span<const uint8_t> bytes) {
  RlpItem item;
  item.bytes_.assign(bytes.begin(), bytes.end());
  return item;
}

RlpItem RlpItem::String(std::string_view text) { return Bytes(AsBytes(text)); }

RlpItem RlpItem::Uint(uint64_t value) {
  RlpItem item;
  item.bytes_ = MinimalBigEndian(value);
  return item;
}

RlpItem RlpItem::UintBigEndian(std::span<const uint8_t> big_endian) {
  size_t first = 0;
  while (first < big_endian.size() && big_endian[first] == 0) ++first;
  return Bytes(big_endian.subspan(first));
}

RlpItem RlpItem::List(std::vector<RlpItem> items) {
  RlpItem item;
  item.is_list_ = true;
  item.items_ = std::move(items);
  return item;
}

Result<uint64_t> RlpItem::AsUint(std::string_view what) const {
  if (is_list_) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("rlp: {} must be an integer, found a list", what));
  }
  if (bytes_.size() > 8) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("rlp: {} is {} bytes, larger than 64 bits", what, bytes_.size()));
  }
  if (!bytes_.empty() && bytes_[0] == 0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("rlp: {} has a leading zero byte (non-canonical integer)", what));
  }
  uint64_t value = 0;
  for (uint8_t b : bytes_) value = (value << 8) | b;
  return value;
}

vigie::Bytes RlpEncode(const RlpItem& item) {
  vigie::Bytes out;
  EncodeInto(item, out);
  return out;
}

Result<RlpItem> RlpDecode(std::span<const uint8_t> input) {
  Decoder decoder(input);
  size_t pos = 0;
  VIGIE_ASSIGN_OR_RETURN(RlpItem item, decoder.Item(pos, input.size(), 0));
  if (pos != input.size()) {
    return DecodeError(pos, fmt::format("{} trailing bytes after the item", input.size() - pos));
  }
  return item;
}

}  // namespace vigie::chain
