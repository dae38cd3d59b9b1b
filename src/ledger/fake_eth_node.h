#pragma once
// FakeEthNode (tests only): an HttpClient that answers the JSON-RPC methods EthRpcClient uses
// like a small Ethereum node would, so anchor and scheduler tests run without a peer and can
// script failures: the node down, a transaction accepted then dropped, slow mining, a
// reorganisation. Raw transactions are really decoded (chain::DecodeLegacyTx: RLP, EIP-155,
// signature recovery), so a badly signed transaction is refused as a real node would.
// The real-node counterpart is ganache (ethereum_anchor_integration_test.cc).
// Thread-safety: not thread-safe (tests drive it from one thread).

#include <fmt/format.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "chain/keccak.h"
#include "chain/rpc.h"
#include "chain/tx.h"
#include "http/client.h"

namespace vigie::ledger::testutil {

class FakeEthNode final : public http::HttpClient {
 public:
  struct Tx {
    chain::DecodedLegacyTx decoded;
    std::optional<uint64_t> block;
  };

  uint64_t chain_id = 1337;
  uint64_t gas_price = 2'000'000'000;
  bool down = false;                 // every request fails with kUnavailable
  bool drop_next = false;            // the next accepted transaction is forgotten (evicted)
  bool auto_mine = true;             // a transaction is mined in a new block on arrival
  uint64_t salt = 0;                 // changes every block hash (a reorganisation)
  std::vector<std::string> methods;  // every method asked, in order
  std::function<void(const std::string&)> on_request;  // called for each request (even down)
  std::map<std::string, Tx> txs;                       // by 0x hash

  uint64_t head() const { return head_; }
  // Mines `n` blocks; unmined transactions go in the first.
  void Mine(uint64_t n = 1) {
    for (uint64_t i = 0; i < n; ++i) {
      ++head_;
      for (auto& [hash, tx] : txs) {
        if (!tx.block) tx.block = head_;
      }
    }
  }

  Result<http::HttpResponse> Send(const http::HttpRequest& request) override {
    using nlohmann::json;
    json req = json::parse(request.body);
    const std::string method = req["method"];
    if (on_request) on_request(method);
    methods.push_back(method);
    if (down) {
      return MakeError(ErrorCode::kUnavailable, "connect to 127.0.0.1:8545: connection refused");
    }
    const json& params = req["params"];
    json result;
    std::optional<std::string> error;
    if (method == "eth_chainId") {
      result = chain::FormatHexQuantity(chain_id);
    } else if (method == "eth_blockNumber") {
      result = chain::FormatHexQuantity(head_);
    } else if (method == "eth_gasPrice") {
      result = chain::FormatHexQuantity(gas_price);
    } else if (method == "eth_getTransactionCount") {
      auto addr = chain::ParseAddress(params[0].get<std::string>());
      result = chain::FormatHexQuantity(addr ? nonces_[*addr] : 0);
    } else if (method == "eth_sendRawTransaction") {
      auto raw = chain::ParseHexData(params[0].get<std::string>());
      auto decoded = chain::DecodeLegacyTx(*raw);
      if (!decoded) {
        error = "invalid transaction: " + decoded.error().message;
      } else if (decoded->chain_id != chain_id) {
        error = "invalid chain id";
      } else if (decoded->tx.nonce != nonces_[decoded->sender]) {
        error = "nonce too low";
      } else {
        ++nonces_[decoded->sender];
        const std::string hash = chain::FormatHexData(chain::Keccak256(*raw));
        result = hash;
        if (drop_next) {
          drop_next = false;
          --nonces_[decoded->sender];  // evicted: the nonce is free again
        } else {
          txs[hash] = Tx{*decoded, std::nullopt};
          if (auto_mine) Mine(1);
        }
      }
    } else if (method == "eth_getTransactionByHash") {
      auto it = txs.find(params[0].get<std::string>());
      if (it == txs.end()) {
        result = nullptr;
      } else {
        const Tx& tx = it->second;
        result = {
            {"hash", it->first},
            {"nonce", chain::FormatHexQuantity(tx.decoded.tx.nonce)},
            {"from", Lower(chain::FormatAddress(tx.decoded.sender))},
            {"to", tx.decoded.tx.to ? json(Lower(chain::FormatAddress(*tx.decoded.tx.to)))
                                    : json(nullptr)},
            {"input", chain::FormatHexData(tx.decoded.tx.data)},
            {"blockHash", tx.block ? json(BlockHash(*tx.block)) : json(nullptr)},
            {"blockNumber", tx.block ? json(chain::FormatHexQuantity(*tx.block)) : json(nullptr)}};
      }
    } else if (method == "eth_getTransactionReceipt") {
      auto it = txs.find(params[0].get<std::string>());
      if (it == txs.end() || !it->second.block) {
        result = nullptr;
      } else {
        result = {{"transactionHash", it->first},
                  {"blockHash", BlockHash(*it->second.block)},
                  {"blockNumber", chain::FormatHexQuantity(*it->second.block)},
                  {"status", "0x1"},
                  {"gasUsed", chain::FormatHexQuantity(it->second.decoded.tx.gas_limit)}};
      }
    } else if (method == "eth_getBlockByNumber") {
      auto n = chain::ParseHexQuantity(params[0].get<std::string>());
      if (!n || *n > head_) {
        result = nullptr;
      } else {
        result = {{"hash", BlockHash(*n)},
                  {"parentHash", *n == 0 ? BlockHash(0) : BlockHash(*n - 1)},
                  {"number", chain::FormatHexQuantity(*n)},
                  {"timestamp", "0x6553f100"}};
      }
    } else {
      return Reply(req, nullptr, json{{"code", -32601}, {"message", "method not found"}});
    }
    if (error) return Reply(req, nullptr, json{{"code", -32000}, {"message", *error}});
    return Reply(req, result, nullptr);
  }

  std::string BlockHash(uint64_t n) const {
    std::string seed = fmt::format("block-{}-{}", n, salt);
    return chain::FormatHexData(chain::Keccak256(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(seed.data()), seed.size())));
  }

 private:
  static std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  static http::HttpResponse Reply(const nlohmann::json& req, const nlohmann::json& result,
                                  const nlohmann::json& error) {
    nlohmann::json body = {{"jsonrpc", "2.0"}, {"id", req["id"]}};
    if (error.is_null()) {
      body["result"] = result;
    } else {
      body["error"] = error;
    }
    http::HttpResponse r;
    r.status = 200;
    r.headers = {{"Content-Type", "application/json"}};
    r.body = body.dump();
    return r;
  }

  uint64_t head_ = 0;
  std::map<chain::Address, uint64_t> nonces_;
};

}  // namespace vigie::ledger::testutil
