#include "chain/tx.h"

#include <fmt/format.h>

#include <algorithm>

#include "chain/rlp.h"

namespace vigie::chain {
namespace {

// The six fields common to the signing payload and the signed transaction.
std::vector<RlpItem> BodyFields(const LegacyTx& tx) {
  std::vector<RlpItem> fields;
  fields.reserve(9);
  fields.push_back(RlpItem::Uint(tx.nonce));
  fields.push_back(RlpItem::Uint(tx.gas_price));
  fields.push_back(RlpItem::Uint(tx.gas_limit));
  fields.push_back(tx.to ? RlpItem::Bytes(*tx.to) : RlpItem());
  fields.push_back(RlpItem::Uint(tx.value));
  fields.push_back(RlpItem::Bytes(tx.data));
  return fields;
}

Status CheckChainId(uint64_t chain_id) {
  if (chain_id == 0 || chain_id > kMaxChainId) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("chain id {} is out of range [1, {}]", chain_id, kMaxChainId));
  }
  return OkStatus();
}

// Left-pads a big-endian integer of at most 32 bytes into a 32-byte array.
Result<std::array<uint8_t, 32>> To32(const RlpItem& item, std::string_view what) {
  if (item.is_list() || item.bytes().size() > 32 ||
      (!item.bytes().empty() && item.bytes()[0] == 0)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("transaction field {} must be a canonical integer of at most 32 "
                                 "bytes",
                                 what));
  }
  std::array<uint8_t, 32> out{};
  std::copy(item.bytes().begin(), item.bytes().end(), out.end() - item.bytes().size());
  return out;
}

// secp256k1n / 2: EIP-2 makes a signature with a larger s invalid (it is malleable).
constexpr std::array<uint8_t, 32> kHalfOrder = {
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
};

}  // namespace

Result<Hash256> LegacySigningHash(const LegacyTx& tx, uint64_t chain_id) {
  VIGIE_RETURN_IF_ERROR(CheckChainId(chain_id));
  std::vector<RlpItem> fields = BodyFields(tx);
  fields.push_back(RlpItem::Uint(chain_id));
  fields.push_back(RlpItem::Uint(0));
  fields.push_back(RlpItem::Uint(0));
  return Keccak256(RlpEncode(RlpItem::List(std::move(fields))));
}

Result<SignedTx> SignLegacyTx(const LegacyTx& tx, uint64_t chain_id, const EthKey& key) {
  VIGIE_ASSIGN_OR_RETURN(Hash256 signing_hash, LegacySigningHash(tx, chain_id));
  VIGIE_ASSIGN_OR_RETURN(RecoverableSignature sig, key.Sign(signing_hash));
  std::vector<RlpItem> fields = BodyFields(tx);
  fields.push_back(RlpItem::Uint(sig.recovery_id + 2 * chain_id + 35));
  fields.push_back(RlpItem::UintBigEndian(sig.r));
  fields.push_back(RlpItem::UintBigEndian(sig.s));
  SignedTx out;
  out.raw = RlpEncode(RlpItem::List(std::move(fields)));
  out.hash = Keccak256(out.raw);
  return out;
}

Result<DecodedLegacyTx> DecodeLegacyTx(std::span<const uint8_t> raw) {
  if (!raw.empty() && raw[0] < 0xc0) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("not a legacy transaction (starts with 0x{:02x}: a typed "
                                 "EIP-2718 transaction?)",
                                 raw[0]));
  }
  VIGIE_ASSIGN_OR_RETURN(RlpItem item, RlpDecode(raw));
  if (!item.is_list() || item.items().size() != 9) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "a signed legacy transaction is an RLP list of 9 fields");
  }
  const std::vector<RlpItem>& f = item.items();
  DecodedLegacyTx out;
  VIGIE_ASSIGN_OR_RETURN(out.tx.nonce, f[0].AsUint("nonce"));
  VIGIE_ASSIGN_OR_RETURN(out.tx.gas_price, f[1].AsUint("gasPrice"));
  VIGIE_ASSIGN_OR_RETURN(out.tx.gas_limit, f[2].AsUint("gas"));
  if (f[3].is_list() || (f[3].bytes().size() != 0 && f[3].bytes().size() != kAddressSize)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "transaction field to must be empty or a 20-byte address");
  }
  if (!f[3].bytes().empty()) {
    Address to{};
    std::copy(f[3].bytes().begin(), f[3].bytes().end(), to.begin());
    out.tx.to = to;
  }
  VIGIE_ASSIGN_OR_RETURN(out.tx.value, f[4].AsUint("value"));
  if (f[5].is_list()) {
    return MakeError(ErrorCode::kInvalidArgument, "transaction field data must be a byte string");
  }
  out.tx.data = f[5].bytes();
  VIGIE_ASSIGN_OR_RETURN(uint64_t v, f[6].AsUint("v"));
  if (v < 37) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("transaction v = {} carries no EIP-155 chain id; vigie accepts "
                                 "only replay-protected transactions",
                                 v));
  }
  out.chain_id = (v - 35) / 2;
  RecoverableSignature sig;
  sig.recovery_id = static_cast<uint8_t>((v - 35) % 2);
  VIGIE_ASSIGN_OR_RETURN(sig.r, To32(f[7], "r"));
  VIGIE_ASSIGN_OR_RETURN(sig.s, To32(f[8], "s"));
  if (sig.s > kHalfOrder) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "transaction signature has a high s value, invalid since EIP-2");
  }
  VIGIE_ASSIGN_OR_RETURN(Hash256 signing_hash, LegacySigningHash(out.tx, out.chain_id));
  VIGIE_ASSIGN_OR_RETURN(out.sender, RecoverAddress(signing_hash, sig));
  return out;
}

}  // namespace vigie::chain
