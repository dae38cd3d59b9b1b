#pragma once
// EthereumAnchor: publishes a signed tree head's root on an Ethereum chain (PROV_020).
//
// The transaction vigie signs itself (no node holds the key, so public nodes work):
//   legacy EIP-155, chain id from the options (checked against eth_chainId before sending),
//   to = the anchoring account itself, value = 0,
//   data = exactly the 32-byte Merkle root of the head (RFC 9162, ledger/merkle.h),
//   nonce = eth_getTransactionCount(account, "pending"), gas price = eth_gasPrice,
//   gas = the intrinsic gas of that data (21000 + 16 per non-zero byte + 4 per zero byte,
//   EIP-2028) unless options.gas_limit is set.
// The data carries the root only, so anyone can compare a transaction's input with a root with
// no vigie-specific decoding; the tree size, head timestamp and signature are in the record
// (ledger anchors.seg) and in every proof (proof.h).
//
// AnchorHead() returns as soon as the node accepted the transaction: the record (tx hash, chain
// id, block 0) must be persisted at once (Ledger::RecordAnchor) so nothing is lost if vigie
// stops; Check() then follows it to a block and counts confirmations
// (= latest block - tx block + 1). The AnchorScheduler (anchor_scheduler.h) does both.
//
// Thread-safety: as thread-safe as the EthRpcClient (the anchor itself is immutable).

#include <cstdint>
#include <string>
#include <string_view>

#include "base/env.h"
#include "chain/eth_key.h"
#include "chain/rpc.h"
#include "crypto/sign.h"
#include "ledger/anchor.h"

namespace vigie::ledger {

struct EthereumAnchorOptions {
  uint64_t chain_id = 0;        // EIP-155 chain id the endpoint must serve (1..kMaxChainId)
  uint64_t confirmations = 12;  // blocks (including the tx's own) before an anchor is final
  uint64_t gas_limit = 0;       // 0: the intrinsic gas of the 32-byte data (see above)
};

// The gas a self-send of `data` needs (21000 + EIP-2028 calldata cost).
uint64_t IntrinsicGas(std::span<const uint8_t> data);

// Looks `record` (an "ethereum" record) up through `rpc` and judges it:
//   kMismatch   the chain id differs, the transaction's input is not the record's root, it is
//               not a self-send, or it reverted;
//   kNotFound   the node does not know the transaction (not yet propagated, or dropped), or its
//               block vanished (a reorganisation);
//   kPending    known but unmined, or mined with fewer than `required_confirmations`;
//   kConfirmed  mined, input == root, at least `required_confirmations` (block number and hash
//               filled in the status).
// Does NOT check the head's signature (the caller holds the fleet key).
// Errors: only when the node cannot be asked (kUnavailable, kDeadlineExceeded, ...).
Result<AnchorStatus> CheckEthereumRecord(chain::EthRpcClient& rpc, const AnchorRecord& record,
                                         uint64_t required_confirmations);

class EthereumAnchor final : public Anchor {
 public:
  static constexpr std::string_view kName = "ethereum";

  // `rpc` and `clock` are borrowed and must outlive the anchor. `key` is the anchoring account.
  // SECURITY: the key stays in the EthKey (SecretBytes); only signatures leave it.
  EthereumAnchor(chain::EthRpcClient& rpc, chain::EthKey key,
                 const crypto::Ed25519PublicKey& fleet_key, Clock& clock,
                 EthereumAnchorOptions options);

  std::string_view Name() const override { return kName; }
  // Verifies the head's signature, checks the node's chain id, signs and sends the transaction.
  // Errors: kInvalidArgument (head not signed by the fleet key, bad options);
  // kFailedPrecondition (the node serves another chain id: both are named; or the node refused
  // the transaction, e.g. insufficient funds: fund the account named in the message);
  // the EthRpcClient's errors (kUnavailable, kDeadlineExceeded: the transaction may or may not
  // have been sent; anchoring again is harmless).
  Result<AnchorRecord> AnchorHead(const TreeHead& head) override;
  // CheckEthereumRecord with options.confirmations, after verifying the head's signature
  // (kMismatch when it does not verify).
  Result<AnchorStatus> Check(const AnchorRecord& record) override;

  const chain::Address& address() const { return key_.address(); }
  const EthereumAnchorOptions& options() const { return options_; }

 private:
  chain::EthRpcClient& rpc_;
  chain::EthKey key_;
  crypto::Ed25519PublicKey fleet_key_;
  Clock& clock_;
  EthereumAnchorOptions options_;
};

}  // namespace vigie::ledger
