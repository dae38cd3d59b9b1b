#pragma once
// Legacy Ethereum transactions with EIP-155 replay protection, the kind vigie signs itself to
// anchor a ledger root (to its own address, value 0, the root in `data`) and sends with
// eth_sendRawTransaction: no node ever holds the key.
//
//   signing hash = keccak256(rlp([nonce, gasPrice, gas, to, value, data, chainId, 0, 0]))
//   v            = recovery_id + 2 * chainId + 35
//   raw          = rlp([nonce, gasPrice, gas, to, value, data, v, r, s])
//   tx hash      = keccak256(raw)
//
// Quantities are 64-bit: enough for any nonce, gas figure or gas price, and for values up to
// ~18.4 ether (vigie's transactions carry value 0).
//
// Thread-safety: plain values and stateless functions; safe from any thread.

#include <cstdint>
#include <optional>
#include <span>

#include "base/encoding.h"
#include "base/error.h"
#include "chain/eth_key.h"
#include "chain/keccak.h"

namespace vigie::chain {

// Largest chain id for which v = 2 * chainId + 36 still fits in 64 bits.
inline constexpr uint64_t kMaxChainId = (UINT64_MAX - 36) / 2;

struct LegacyTx {
  uint64_t nonce = 0;
  uint64_t gas_price = 0;  // wei per gas
  uint64_t gas_limit = 0;
  std::optional<Address> to;  // empty: contract creation
  uint64_t value = 0;         // wei
  vigie::Bytes data;
};

struct SignedTx {
  vigie::Bytes raw;  // what eth_sendRawTransaction takes (as 0x-hex)
  Hash256 hash{};    // what the node returns and receipts are looked up by
};

// The EIP-155 signing hash. Errors: kInvalidArgument if chain_id is 0 or above kMaxChainId.
Result<Hash256> LegacySigningHash(const LegacyTx& tx, uint64_t chain_id);

// Signs `tx` for `chain_id` with `key`. Errors: as LegacySigningHash, or the key's Sign().
Result<SignedTx> SignLegacyTx(const LegacyTx& tx, uint64_t chain_id, const EthKey& key);

// The parsed content of a raw signed legacy transaction, with its sender recovered.
struct DecodedLegacyTx {
  LegacyTx tx;
  uint64_t chain_id = 0;
  Address sender{};
};

// Parses a raw EIP-155 legacy transaction and recovers its sender.
// SECURITY: `raw` may be hostile; RLP is validated strictly and a signature that does not recover
// is rejected. Errors: kInvalidArgument for a malformed encoding or a pre-EIP-155 v (27/28),
// kIntegrity for a signature that recovers no key.
Result<DecodedLegacyTx> DecodeLegacyTx(std::span<const uint8_t> raw);

}  // namespace vigie::chain
