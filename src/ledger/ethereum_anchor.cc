#include "ledger/ethereum_anchor.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "base/encoding.h"
#include "base/log.h"
#include "chain/tx.h"

namespace vigie::ledger {
namespace {

Result<chain::Hash256> ParseTxHash(std::string_view text) {
  auto bytes = chain::ParseHexData(text);
  if (!bytes || bytes->size() != chain::kKeccak256Size) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        fmt::format("anchor record: tx_hash '{}' is not 0x + 64 hex digits", text.substr(0, 80)));
  }
  chain::Hash256 hash{};
  std::copy(bytes->begin(), bytes->end(), hash.begin());
  return hash;
}

std::optional<uint64_t> ParseDecimal(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

AnchorStatus StatusOf(AnchorStatus::State state, std::string detail) {
  AnchorStatus s;
  s.state = state;
  s.detail = std::move(detail);
  return s;
}

}  // namespace

uint64_t IntrinsicGas(std::span<const uint8_t> data) {
  uint64_t gas = 21000;
  for (uint8_t b : data) gas += b == 0 ? 4 : 16;
  return gas;
}

Result<AnchorStatus> CheckEthereumRecord(chain::EthRpcClient& rpc, const AnchorRecord& record,
                                         uint64_t required_confirmations) {
  using State = AnchorStatus::State;
  if (record.anchor != EthereumAnchor::kName || !record.on_chain()) {
    return StatusOf(State::kMismatch,
                    fmt::format("record was made by anchor \"{}\" without a transaction, not by "
                                "\"ethereum\"",
                                record.anchor));
  }
  auto hash = ParseTxHash(record.tx_hash);
  if (!hash) return StatusOf(State::kMismatch, hash.error().message);
  auto expected_chain = ParseDecimal(record.chain_id);
  if (!expected_chain) {
    return StatusOf(State::kMismatch,
                    fmt::format("record chain_id '{}' is not a decimal number", record.chain_id));
  }
  VIGIE_ASSIGN_OR_RETURN(uint64_t chain_id, rpc.ChainId());
  if (chain_id != *expected_chain) {
    return StatusOf(State::kMismatch,
                    fmt::format("the node at {} serves chain {}, the anchor is on chain {}",
                                rpc.endpoint_for_messages(), chain_id, *expected_chain));
  }
  VIGIE_ASSIGN_OR_RETURN(std::optional<chain::TxInfo> tx, rpc.GetTransactionByHash(*hash));
  if (!tx) {
    return StatusOf(State::kNotFound,
                    fmt::format("the node at {} does not know transaction {} (not propagated "
                                "yet, or dropped)",
                                rpc.endpoint_for_messages(), record.tx_hash));
  }
  if (!std::equal(tx->input.begin(), tx->input.end(), record.root().begin(), record.root().end())) {
    return StatusOf(
        State::kMismatch,
        fmt::format("transaction {} carries input {} but the anchored root is {}", record.tx_hash,
                    chain::FormatHexData(tx->input), chain::FormatHexData(record.root())));
  }
  if (!tx->to || *tx->to != tx->from) {
    return StatusOf(
        State::kMismatch,
        fmt::format("transaction {} is not a self-send by the anchoring account", record.tx_hash));
  }
  if (!tx->block_number) {
    return StatusOf(State::kPending,
                    fmt::format("transaction {} carries the root, not mined yet", record.tx_hash));
  }
  VIGIE_ASSIGN_OR_RETURN(std::optional<chain::TxReceipt> receipt, rpc.GetTransactionReceipt(*hash));
  if (!receipt) {
    return StatusOf(State::kPending,
                    fmt::format("transaction {} has no receipt yet", record.tx_hash));
  }
  if (!receipt->success) {
    return StatusOf(State::kMismatch,
                    fmt::format("transaction {} failed (receipt status 0)", record.tx_hash));
  }
  // The block must still be canonical: a reorganisation may have dropped it.
  VIGIE_ASSIGN_OR_RETURN(std::optional<chain::BlockInfo> block,
                         rpc.GetBlockByNumber(receipt->block_number));
  if (!block || block->hash != receipt->block_hash) {
    return StatusOf(State::kNotFound,
                    fmt::format("block {} of transaction {} is no longer canonical "
                                "(reorganisation); the transaction must be mined again",
                                receipt->block_number, record.tx_hash));
  }
  VIGIE_ASSIGN_OR_RETURN(uint64_t latest, rpc.BlockNumber());
  AnchorStatus status;
  status.block_number = receipt->block_number;
  status.block_hash = chain::FormatHexData(receipt->block_hash);
  status.confirmations = latest >= receipt->block_number ? latest - receipt->block_number + 1 : 0;
  const bool enough = status.confirmations >= required_confirmations;
  status.state = enough ? State::kConfirmed : State::kPending;
  status.detail = fmt::format(
      "transaction {} carries root {} in block {} ({}) with {} of {} required confirmations",
      record.tx_hash, HexEncode(record.root()), status.block_number, status.block_hash,
      status.confirmations, required_confirmations);
  return status;
}

EthereumAnchor::EthereumAnchor(chain::EthRpcClient& rpc, chain::EthKey key,
                               const crypto::Ed25519PublicKey& fleet_key, Clock& clock,
                               EthereumAnchorOptions options)
    : rpc_(rpc), key_(std::move(key)), fleet_key_(fleet_key), clock_(clock), options_(options) {}

Result<AnchorRecord> EthereumAnchor::AnchorHead(const TreeHead& head) {
  if (options_.chain_id == 0 || options_.chain_id > chain::kMaxChainId) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("ethereum anchor: chain_id {} is out of range; set "
                                 "ledger.ethereum.chain_id",
                                 options_.chain_id));
  }
  if (auto s = VerifyTreeHead(head, fleet_key_); !s) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("ethereum anchor: tree head of size {} is not signed by the "
                                 "fleet key ({})",
                                 head.tree_size, s.error().message));
  }
  VIGIE_ASSIGN_OR_RETURN(uint64_t node_chain, rpc_.ChainId());
  if (node_chain != options_.chain_id) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     fmt::format("ethereum anchor: the node at {} serves chain id {} but "
                                 "ledger.ethereum.chain_id is {}; point rpc_url at a node of "
                                 "chain {} or fix chain_id",
                                 rpc_.endpoint_for_messages(), node_chain, options_.chain_id,
                                 options_.chain_id));
  }
  chain::LegacyTx tx;
  tx.to = key_.address();
  tx.value = 0;
  tx.data.assign(head.root.begin(), head.root.end());
  tx.gas_limit = options_.gas_limit != 0 ? options_.gas_limit : IntrinsicGas(tx.data);
  VIGIE_ASSIGN_OR_RETURN(tx.nonce, rpc_.GetTransactionCount(key_.address(), "pending"));
  VIGIE_ASSIGN_OR_RETURN(tx.gas_price, rpc_.GasPrice());
  VIGIE_ASSIGN_OR_RETURN(chain::SignedTx signed_tx,
                         chain::SignLegacyTx(tx, options_.chain_id, key_));
  auto sent = rpc_.SendRawTransaction(signed_tx.raw);
  if (!sent) {
    return tl::unexpected(sent.error().Wrap(
        fmt::format("ethereum anchor from account {}", chain::FormatAddress(key_.address()))));
  }
  AnchorRecord record;
  record.anchor = std::string(kName);
  record.head = head;
  record.chain_id = std::to_string(options_.chain_id);
  record.tx_hash = chain::FormatHexData(signed_tx.hash);
  record.anchored_at = ToUnixSeconds(clock_.Now());
  log::Info("ledger.anchor.sent", {{"anchor", kName},
                                   {"tree_size", head.tree_size},
                                   {"root", HexEncode(head.root)},
                                   {"chain_id", record.chain_id},
                                   {"tx_hash", record.tx_hash},
                                   {"nonce", tx.nonce},
                                   {"account", chain::FormatAddress(key_.address())}});
  return record;
}

Result<AnchorStatus> EthereumAnchor::Check(const AnchorRecord& record) {
  if (auto s = VerifyTreeHead(record.head, fleet_key_); !s) {
    return StatusOf(AnchorStatus::State::kMismatch,
                    fmt::format("signed tree head of size {} does not verify under the fleet key",
                                record.head.tree_size));
  }
  return CheckEthereumRecord(rpc_, record, options_.confirmations);
}

}  // namespace vigie::ledger
