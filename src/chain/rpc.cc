#include "chain/rpc.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace vigie::chain {
namespace {

using nlohmann::json;

// scheme://host[:port] of `url`, dropping any user:password@, path, query and fragment.
std::string EndpointForMessages(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "<malformed RPC URL>";
  std::string_view rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  const size_t at = rest.rfind('@');
  if (at != std::string_view::npos) rest.remove_prefix(at + 1);
  return std::string(url.substr(0, scheme_end + 3)) + std::string(rest);
}

int HexNibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Accessors for the reply objects: each failure names the method and field at fault.
class Reply {
 public:
  Reply(std::string_view method, const json& j) : method_(method), j_(j) {}

  tl::unexpected<Error> Bad(std::string_view field, std::string_view why) const {
    return MakeError(ErrorCode::kIntegrity,
                     fmt::format("{}: reply field {} {}", method_, field, why));
  }

  Result<std::string> String(std::string_view field) const {
    auto it = j_.find(field);
    if (it == j_.end() || !it->is_string()) return Bad(field, "is missing or not a string");
    return it->get<std::string>();
  }
  bool IsNull(std::string_view field) const {
    auto it = j_.find(field);
    return it == j_.end() || it->is_null();
  }
  Result<uint64_t> Quantity(std::string_view field) const {
    VIGIE_ASSIGN_OR_RETURN(std::string s, String(field));
    auto q = ParseHexQuantity(s);
    if (!q) return Bad(field, q.error().message);
    return *q;
  }
  Result<vigie::Bytes> Data(std::string_view field) const {
    VIGIE_ASSIGN_OR_RETURN(std::string s, String(field));
    auto d = ParseHexData(s);
    if (!d) return Bad(field, d.error().message);
    return *d;
  }
  Result<Hash256> Hash(std::string_view field) const {
    VIGIE_ASSIGN_OR_RETURN(vigie::Bytes b, Data(field));
    if (b.size() != 32) return Bad(field, fmt::format("is {} bytes, expected 32", b.size()));
    Hash256 h{};
    std::copy(b.begin(), b.end(), h.begin());
    return h;
  }
  Result<Address> Addr(std::string_view field) const {
    VIGIE_ASSIGN_OR_RETURN(std::string s, String(field));
    auto a = ParseAddress(s);
    if (!a) return Bad(field, a.error().message);
    return *a;
  }

 private:
  std::string_view method_;
  const json& j_;
};

Result<json> ParseResult(std::string_view method, const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return MakeError(ErrorCode::kInternal, fmt::format("{}: result JSON did not re-parse", method));
  }
  return j;
}

Result<json> ParseObjectOrNull(std::string_view method, const std::string& text) {
  VIGIE_ASSIGN_OR_RETURN(json j, ParseResult(method, text));
  if (!j.is_null() && !j.is_object()) {
    return MakeError(ErrorCode::kIntegrity,
                     fmt::format("{}: result is neither an object nor null", method));
  }
  return j;
}

Result<uint64_t> QuantityResult(std::string_view method, const std::string& text) {
  VIGIE_ASSIGN_OR_RETURN(json j, ParseResult(method, text));
  if (!j.is_string()) {
    return MakeError(ErrorCode::kIntegrity, fmt::format("{}: result is not a string", method));
  }
  auto q = ParseHexQuantity(j.get<std::string>());
  if (!q) {
    return MakeError(ErrorCode::kIntegrity,
                     fmt::format("{}: result {}", method, q.error().message));
  }
  return *q;
}

ErrorCode CodeForRpcError(int64_t code) {
  switch (code) {
    case -32601:
      return ErrorCode::kUnimplemented;
    case -32700:
    case -32600:
    case -32602:
      return ErrorCode::kInvalidArgument;
    default:
      return ErrorCode::kFailedPrecondition;
  }
}

}  // namespace

Result<uint64_t> ParseHexQuantity(std::string_view text) {
  if (text.size() < 3 || text[0] != '0' || text[1] != 'x') {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("'{}' is not a hex quantity (expected 0x followed by digits)",
                                 text.substr(0, 80)));
  }
  std::string_view digits = text.substr(2);
  if (digits.size() > 1 && digits[0] == '0') {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("hex quantity '{}' has a leading zero", text.substr(0, 80)));
  }
  if (digits.size() > 16) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("hex quantity '{}' exceeds 64 bits", text.substr(0, 80)));
  }
  uint64_t value = 0;
  for (char c : digits) {
    const int n = HexNibble(c);
    if (n < 0) {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("hex quantity '{}' has a non-hex digit", text.substr(0, 80)));
    }
    value = (value << 4) | static_cast<uint64_t>(n);
  }
  return value;
}

std::string FormatHexQuantity(uint64_t value) { return fmt::format("0x{:x}", value); }

Result<vigie::Bytes> ParseHexData(std::string_view text) {
  if (text.size() < 2 || text[0] != '0' || text[1] != 'x') {
    return MakeError(ErrorCode::kInvalidArgument, "hex data must start with 0x");
  }
  if (text.size() % 2 != 0) {
    return MakeError(ErrorCode::kInvalidArgument, "hex data has an odd number of digits");
  }
  auto bytes = HexDecode(text.substr(2));
  if (!bytes) return MakeError(ErrorCode::kInvalidArgument, "hex data has a non-hex digit");
  return std::move(*bytes);
}

std::string FormatHexData(std::span<const uint8_t> data) { return "0x" + HexEncode(data); }

EthRpcClient::EthRpcClient(http::HttpClient& http, EthRpcOptions options)
    : http_(http),
      options_(std::move(options)),
      endpoint_for_messages_(EndpointForMessages(options_.url)) {}

Result<std::string> EthRpcClient::Call(std::string_view method, std::string params_json) {
  const uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
  const std::string where = fmt::format("{} via {}", method, endpoint_for_messages_);

  http::HttpRequest request;
  request.method = "POST";
  request.url = options_.url;
  request.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
  request.body = fmt::format(R"({{"jsonrpc":"2.0","id":{},"method":"{}","params":{}}})", id, method,
                             params_json);
  request.timeout = options_.timeout;

  Result<http::HttpResponse> response = http_.Send(request);
  if (!response) {
    const ErrorCode code = response.error().code == ErrorCode::kDeadlineExceeded
                               ? ErrorCode::kDeadlineExceeded
                               : ErrorCode::kUnavailable;
    return MakeError(code, fmt::format("{}: {}", where, response.error().message));
  }

  json reply = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  // Some nodes pair a JSON-RPC error with an HTTP error status: prefer the node's own words.
  if (reply.is_object() && reply.contains("error") && reply["error"].is_object()) {
    const json& err = reply["error"];
    int64_t code = 0;
    if (auto it = err.find("code"); it != err.end() && it->is_number_integer()) {
      code = it->get<int64_t>();
    }
    std::string message = "(no message)";
    if (auto it = err.find("message"); it != err.end() && it->is_string()) {
      message = it->get<std::string>();
    }
    return MakeError(CodeForRpcError(code),
                     fmt::format("{}: node error {}: {}", where, code, message.substr(0, 500)));
  }
  if (response->status != 200) {
    ErrorCode code = ErrorCode::kFailedPrecondition;
    if (response->status == 401) code = ErrorCode::kUnauthenticated;
    if (response->status == 403) code = ErrorCode::kPermissionDenied;
    if (response->status == 429 || response->status >= 500) code = ErrorCode::kUnavailable;
    return MakeError(code, fmt::format("{}: HTTP status {}; check the RPC URL and credentials",
                                       where, response->status));
  }
  if (!reply.is_object()) {
    return MakeError(ErrorCode::kIntegrity, fmt::format("{}: reply is not a JSON object", where));
  }
  if (reply.value("jsonrpc", json()) != "2.0") {
    return MakeError(ErrorCode::kIntegrity, fmt::format("{}: reply is not JSON-RPC 2.0", where));
  }
  if (!reply.contains("id") || !reply["id"].is_number_unsigned() ||
      reply["id"].get<uint64_t>() != id) {
    return MakeError(ErrorCode::kIntegrity,
                     fmt::format("{}: reply id does not match request id {}", where, id));
  }
  if (!reply.contains("result")) {
    return MakeError(ErrorCode::kIntegrity,
                     fmt::format("{}: reply has neither result nor error", where));
  }
  return reply["result"].dump();
}

Result<uint64_t> EthRpcClient::ChainId() {
  VIGIE_ASSIGN_OR_RETURN(std::string r, Call("eth_chainId", "[]"));
  return QuantityResult("eth_chainId", r);
}

Result<uint64_t> EthRpcClient::BlockNumber() {
  VIGIE_ASSIGN_OR_RETURN(std::string r, Call("eth_blockNumber", "[]"));
  return QuantityResult("eth_blockNumber", r);
}

Result<uint64_t> EthRpcClient::GasPrice() {
  VIGIE_ASSIGN_OR_RETURN(std::string r, Call("eth_gasPrice", "[]"));
  return QuantityResult("eth_gasPrice", r);
}

Result<uint64_t> EthRpcClient::GetTransactionCount(const Address& address, std::string_view block) {
  json params = json::array({FormatHexData(address), std::string(block)});
  VIGIE_ASSIGN_OR_RETURN(std::string r, Call("eth_getTransactionCount", params.dump()));
  return QuantityResult("eth_getTransactionCount", r);
}

Result<uint64_t> EthRpcClient::EstimateGas(const Address& from, const LegacyTx& tx) {
  json call = {{"from", FormatHexData(from)},
               {"value", FormatHexQuantity(tx.value)},
               {"data", FormatHexData(tx.data)}};
  if (tx.to) call["to"] = FormatHexData(*tx.to);
  if (tx.gas_price != 0) call["gasPrice"] = FormatHexQuantity(tx.gas_price);
  VIGIE_ASSIGN_OR_RETURN(std::string r, Call("eth_estimateGas", json::array({call}).dump()));
  return QuantityResult("eth_estimateGas", r);
}

Result<Hash256> EthRpcClient::SendRawTransaction(std::span<const uint8_t> raw) {
  constexpr std::string_view kMethod = "eth_sendRawTransaction";
  json params = json::array({FormatHexData(raw)});
  VIGIE_ASSIGN_OR_RETURN(std::string r, Call(kMethod, params.dump()));
  VIGIE_ASSIGN_OR_RETURN(json j, ParseResult(kMethod, r));
  const json wrapper = {{"result", j}};
  VIGIE_ASSIGN_OR_RETURN(Hash256 hash, Reply(kMethod, wrapper).Hash("result"));
  const Hash256 expected = Keccak256(raw);
  if (hash != expected) {
    return MakeError(
        ErrorCode::kIntegrity,
        fmt::format("{} via {}: node returned hash {} but the transaction hashes to "
                    "{}; do not trust this node",
                    kMethod, endpoint_for_messages_, FormatHexData(hash), FormatHexData(expected)));
  }
  return hash;
}

Result<std::optional<TxReceipt>> EthRpcClient::GetTransactionReceipt(const Hash256& tx_hash) {
  constexpr std::string_view kMethod = "eth_getTransactionReceipt";
  VIGIE_ASSIGN_OR_RETURN(std::string r,
                         Call(kMethod, json::array({FormatHexData(tx_hash)}).dump()));
  VIGIE_ASSIGN_OR_RETURN(json j, ParseObjectOrNull(kMethod, r));
  if (j.is_null()) return std::optional<TxReceipt>();
  Reply reply(kMethod, j);
  TxReceipt receipt;
  VIGIE_ASSIGN_OR_RETURN(receipt.transaction_hash, reply.Hash("transactionHash"));
  if (receipt.transaction_hash != tx_hash) {
    return reply.Bad("transactionHash", "names another transaction");
  }
  VIGIE_ASSIGN_OR_RETURN(receipt.block_hash, reply.Hash("blockHash"));
  VIGIE_ASSIGN_OR_RETURN(receipt.block_number, reply.Quantity("blockNumber"));
  VIGIE_ASSIGN_OR_RETURN(uint64_t status, reply.Quantity("status"));
  if (status > 1) return reply.Bad("status", "is neither 0x0 nor 0x1");
  receipt.success = status == 1;
  VIGIE_ASSIGN_OR_RETURN(receipt.gas_used, reply.Quantity("gasUsed"));
  return std::optional<TxReceipt>(receipt);
}

Result<std::optional<TxInfo>> EthRpcClient::GetTransactionByHash(const Hash256& tx_hash) {
  constexpr std::string_view kMethod = "eth_getTransactionByHash";
  VIGIE_ASSIGN_OR_RETURN(std::string r,
                         Call(kMethod, json::array({FormatHexData(tx_hash)}).dump()));
  VIGIE_ASSIGN_OR_RETURN(json j, ParseObjectOrNull(kMethod, r));
  if (j.is_null()) return std::optional<TxInfo>();
  Reply reply(kMethod, j);
  TxInfo info;
  VIGIE_ASSIGN_OR_RETURN(info.hash, reply.Hash("hash"));
  if (info.hash != tx_hash) return reply.Bad("hash", "names another transaction");
  VIGIE_ASSIGN_OR_RETURN(info.nonce, reply.Quantity("nonce"));
  VIGIE_ASSIGN_OR_RETURN(info.from, reply.Addr("from"));
  if (!reply.IsNull("to")) {
    VIGIE_ASSIGN_OR_RETURN(Address to, reply.Addr("to"));
    info.to = to;
  }
  VIGIE_ASSIGN_OR_RETURN(info.input, reply.Data("input"));
  if (!reply.IsNull("blockHash")) {
    VIGIE_ASSIGN_OR_RETURN(Hash256 block_hash, reply.Hash("blockHash"));
    VIGIE_ASSIGN_OR_RETURN(uint64_t block_number, reply.Quantity("blockNumber"));
    info.block_hash = block_hash;
    info.block_number = block_number;
  }
  return std::optional<TxInfo>(std::move(info));
}

Result<std::optional<BlockInfo>> EthRpcClient::GetBlockByNumber(uint64_t number) {
  constexpr std::string_view kMethod = "eth_getBlockByNumber";
  json params = json::array({FormatHexQuantity(number), false});
  VIGIE_ASSIGN_OR_RETURN(std::string r, Call(kMethod, params.dump()));
  VIGIE_ASSIGN_OR_RETURN(json j, ParseObjectOrNull(kMethod, r));
  if (j.is_null()) return std::optional<BlockInfo>();
  Reply reply(kMethod, j);
  BlockInfo block;
  VIGIE_ASSIGN_OR_RETURN(block.hash, reply.Hash("hash"));
  VIGIE_ASSIGN_OR_RETURN(block.parent_hash, reply.Hash("parentHash"));
  VIGIE_ASSIGN_OR_RETURN(block.number, reply.Quantity("number"));
  if (block.number != number) return reply.Bad("number", "names another block");
  VIGIE_ASSIGN_OR_RETURN(block.timestamp, reply.Quantity("timestamp"));
  return std::optional<BlockInfo>(block);
}

}  // namespace vigie::chain
