#pragma once
// EthRpcClient: the Ethereum JSON-RPC 2.0 methods vigie's ledger anchoring needs, spoken over
// the HttpClient seam (CurlClient in production, a fake in unit tests, ganache in integration
// tests). vigie signs its own transactions (tx.h) and only ever sends them raw: it never asks a
// node to sign, so no node holds an unlocked account.
//
// Errors (every message names the JSON-RPC method and the endpoint as scheme://host[:port] only,
// since an RPC URL's path or query often embeds a provider API key):
//   kUnavailable       the node cannot be reached or answers HTTP 429/5xx; retry may succeed.
//   kDeadlineExceeded  the request timed out; for eth_sendRawTransaction the outcome is unknown,
//                      so look the hash up (resending the same raw bytes is harmless).
//   kUnauthenticated / kPermissionDenied  HTTP 401 / 403 from the endpoint.
//   kFailedPrecondition  the node answered a JSON-RPC error (e.g. "nonce too low", "insufficient
//                      funds"); the message carries the node's code and message.
//   kUnimplemented     JSON-RPC -32601: the node does not offer the method.
//   kInvalidArgument   JSON-RPC -32700 / -32600 / -32602 (the node found our request malformed).
//   kIntegrity         the reply is not valid JSON-RPC, carries another id, a malformed hex
//                      quantity or data, or (eth_sendRawTransaction) a hash other than ours.
//
// SECURITY: replies are untrusted input: every field is validated (hex quantities strictly: "0x"
// prefix, no leading zeros, at most 64 bits) before use.
//
// Thread-safety: as thread-safe as the HttpClient given (request ids come from an atomic).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/encoding.h"
#include "base/error.h"
#include "chain/eth_key.h"
#include "chain/keccak.h"
#include "chain/tx.h"
#include "http/client.h"

namespace vigie::chain {

struct TxReceipt {
  Hash256 transaction_hash{};
  Hash256 block_hash{};
  uint64_t block_number = 0;
  bool success = false;  // status 0x1
  uint64_t gas_used = 0;
};

struct TxInfo {
  Hash256 hash{};
  uint64_t nonce = 0;
  Address from{};
  std::optional<Address> to;  // empty for contract creation
  vigie::Bytes input;
  std::optional<Hash256> block_hash;     // empty while pending
  std::optional<uint64_t> block_number;  // empty while pending
};

struct BlockInfo {
  Hash256 hash{};
  Hash256 parent_hash{};
  uint64_t number = 0;
  uint64_t timestamp = 0;  // seconds since the Unix epoch
};

struct EthRpcOptions {
  std::string url;  // "http://127.0.0.1:8545", "https://mainnet.example/v3/KEY"
  std::chrono::milliseconds timeout{30000};
};

class EthRpcClient {
 public:
  // `http` is borrowed and must outlive the client.
  EthRpcClient(http::HttpClient& http, EthRpcOptions options);

  Result<uint64_t> ChainId();      // eth_chainId
  Result<uint64_t> BlockNumber();  // eth_blockNumber
  Result<uint64_t> GasPrice();     // eth_gasPrice
  // eth_getTransactionCount; `block` is a tag ("pending", "latest") or a 0x quantity.
  Result<uint64_t> GetTransactionCount(const Address& address, std::string_view block = "pending");
  // eth_estimateGas for `tx` sent by `from`.
  Result<uint64_t> EstimateGas(const Address& from, const LegacyTx& tx);
  // eth_sendRawTransaction; returns the node's transaction hash, checked to equal keccak(raw).
  Result<Hash256> SendRawTransaction(std::span<const uint8_t> raw);
  // eth_getTransactionReceipt; nullopt while the transaction is not mined (or unknown).
  Result<std::optional<TxReceipt>> GetTransactionReceipt(const Hash256& tx_hash);
  // eth_getTransactionByHash; nullopt when the node does not know the transaction.
  Result<std::optional<TxInfo>> GetTransactionByHash(const Hash256& tx_hash);
  // eth_getBlockByNumber (without transaction bodies); nullopt when the block does not exist.
  Result<std::optional<BlockInfo>> GetBlockByNumber(uint64_t number);

  // The endpoint as shown in messages: scheme://host[:port], no credentials, path or query.
  const std::string& endpoint_for_messages() const { return endpoint_for_messages_; }

 private:
  // Performs one call; `params_json` is the JSON text of the params array. Returns the JSON text
  // of "result" (keeps nlohmann_json out of this header).
  Result<std::string> Call(std::string_view method, std::string params_json);

  http::HttpClient& http_;
  EthRpcOptions options_;
  std::string endpoint_for_messages_;
  std::atomic<uint64_t> next_id_{1};
};

// Parses a JSON-RPC hex quantity strictly ("0x0", "0x1a"; not "0x", "0x01", "1a", > 64 bits).
Result<uint64_t> ParseHexQuantity(std::string_view text);
// Formats `value` as a JSON-RPC quantity ("0x0", "0x1a").
std::string FormatHexQuantity(uint64_t value);
// Parses JSON-RPC unformatted data ("0x" + an even number of hex digits).
Result<vigie::Bytes> ParseHexData(std::string_view text);
// "0x" + lowercase hex.
std::string FormatHexData(std::span<const uint8_t> data);

}  // namespace vigie::chain
