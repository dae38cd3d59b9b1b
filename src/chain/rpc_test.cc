#include "chain/rpc.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

namespace vigie::chain {
namespace {

using nlohmann::json;

// A scripted HttpClient: `handler` sees each parsed JSON-RPC request and returns the reply.
class FakeHttp final : public http::HttpClient {
 public:
  std::function<Result<http::HttpResponse>(const json& request)> handler;
  std::vector<http::HttpRequest> requests;

  Result<http::HttpResponse> Send(const http::HttpRequest& request) override {
    requests.push_back(request);
    return handler(json::parse(request.body));
  }
};

http::HttpResponse Json(const json& body, int status = 200) {
  http::HttpResponse r;
  r.status = status;
  r.headers = {{"Content-Type", "application/json"}};
  r.body = body.dump();
  return r;
}

// A handler answering `result` to `method` (and failing the test on any other method).
std::function<Result<http::HttpResponse>(const json&)> Answer(std::string method, json result) {
  return [method, result](const json& req) -> Result<http::HttpResponse> {
    EXPECT_EQ(req["method"], method);
    return Json({{"jsonrpc", "2.0"}, {"id", req["id"]}, {"result", result}});
  };
}

class EthRpcClientTest : public ::testing::Test {
 protected:
  FakeHttp http_;
  EthRpcClient client_{http_, {.url = "http://127.0.0.1:8545", .timeout = std::chrono::seconds(5)}};
};

TEST_F(EthRpcClientTest, ChainIdSendsWellFormedJsonRpc) {
  http_.handler = Answer("eth_chainId", "0x539");
  auto id = client_.ChainId();
  ASSERT_TRUE(id) << id.error().ToString();
  EXPECT_EQ(*id, 1337u);
  ASSERT_EQ(http_.requests.size(), 1u);
  const http::HttpRequest& req = http_.requests[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, "http://127.0.0.1:8545");
  EXPECT_EQ(req.timeout, std::chrono::seconds(5));
  json body = json::parse(req.body);
  EXPECT_EQ(body["jsonrpc"], "2.0");
  EXPECT_EQ(body["params"], json::array());
  bool has_content_type = false;
  for (const auto& [k, v] : req.headers) {
    if (http::HeaderNameEquals(k, "content-type") && v == "application/json") {
      has_content_type = true;
    }
  }
  EXPECT_TRUE(has_content_type);
}

TEST_F(EthRpcClientTest, RequestIdsIncreaseAndMismatchedIdIsRejected) {
  std::vector<uint64_t> ids;
  http_.handler = [&](const json& req) -> Result<http::HttpResponse> {
    ids.push_back(req["id"].get<uint64_t>());
    return Json({{"jsonrpc", "2.0"}, {"id", req["id"].get<uint64_t>() + 100}, {"result", "0x1"}});
  };
  auto r = client_.BlockNumber();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kIntegrity);
  EXPECT_NE(r.error().message.find("eth_blockNumber"), std::string::npos);
  (void)client_.BlockNumber();
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_LT(ids[0], ids[1]);
}

TEST_F(EthRpcClientTest, NodeErrorsCarryMethodAndMessage) {
  http_.handler = [](const json& req) -> Result<http::HttpResponse> {
    return Json({{"jsonrpc", "2.0"},
                 {"id", req["id"]},
                 {"error", {{"code", -32000}, {"message", "nonce too low"}}}});
  };
  auto r = client_.SendRawTransaction(Bytes{0xc0});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(r.error().message.find("eth_sendRawTransaction"), std::string::npos);
  EXPECT_NE(r.error().message.find("nonce too low"), std::string::npos);
  EXPECT_NE(r.error().message.find("-32000"), std::string::npos);

  http_.handler = [](const json& req) -> Result<http::HttpResponse> {
    return Json({{"jsonrpc", "2.0"},
                 {"id", req["id"]},
                 {"error", {{"code", -32601}, {"message", "method not found"}}}},
                404);
  };
  auto missing = client_.EstimateGas(Address{}, LegacyTx{});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kUnimplemented);
}

TEST_F(EthRpcClientTest, TransportAndHttpFailures) {
  http_.handler = [](const json&) -> Result<http::HttpResponse> {
    return MakeError(ErrorCode::kUnavailable, "connect to 127.0.0.1:8545 refused");
  };
  auto down = client_.ChainId();
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(down.error().message.find("eth_chainId"), std::string::npos);

  http_.handler = [](const json&) -> Result<http::HttpResponse> {
    return MakeError(ErrorCode::kDeadlineExceeded, "timed out");
  };
  EXPECT_EQ(client_.ChainId().error().code, ErrorCode::kDeadlineExceeded);

  http_.handler = [](const json&) -> Result<http::HttpResponse> {
    http::HttpResponse r;
    r.status = 503;
    r.body = "<html>busy</html>";
    return r;
  };
  EXPECT_EQ(client_.ChainId().error().code, ErrorCode::kUnavailable);

  http_.handler = [](const json&) -> Result<http::HttpResponse> {
    http::HttpResponse r;
    r.status = 401;
    return r;
  };
  EXPECT_EQ(client_.ChainId().error().code, ErrorCode::kUnauthenticated);

  http_.handler = [](const json&) -> Result<http::HttpResponse> {
    http::HttpResponse r;
    r.status = 200;
    r.body = "not json";
    return r;
  };
  EXPECT_EQ(client_.ChainId().error().code, ErrorCode::kIntegrity);
}

TEST(EthRpcEndpointTest, MessagesNeverShowCredentialsOrPath) {
  FakeHttp http;
  http.handler = [](const json&) -> Result<http::HttpResponse> {
    return MakeError(ErrorCode::kUnavailable, "refused");
  };
  EthRpcClient client(http, {.url = "https://user:pw@rpc.example:8443/v3/SECRETKEY?x=1"});
  EXPECT_EQ(client.endpoint_for_messages(), "https://rpc.example:8443");
  auto r = client.ChainId();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.find("SECRETKEY"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("pw"), std::string::npos) << r.error().message;
}

TEST(HexQuantityTest, ParsesStrictly) {
  EXPECT_EQ(ParseHexQuantity("0x0").value(), 0u);
  EXPECT_EQ(ParseHexQuantity("0x539").value(), 1337u);
  EXPECT_EQ(ParseHexQuantity("0xffffffffffffffff").value(), UINT64_MAX);
  EXPECT_EQ(ParseHexQuantity("0xABC").value(), 0xabcu);
  for (const char* bad : {"", "0x", "0", "539", "0x0539", "0x00", "0x1g", "0x10000000000000000",
                          " 0x1", "0X1", "-0x1"}) {
    EXPECT_FALSE(ParseHexQuantity(bad)) << "accepted '" << bad << "'";
  }
  EXPECT_EQ(FormatHexQuantity(0), "0x0");
  EXPECT_EQ(FormatHexQuantity(1337), "0x539");
  EXPECT_EQ(ParseHexData("0x").value(), Bytes{});
  EXPECT_EQ(ParseHexData("0x00ff").value(), (Bytes{0x00, 0xff}));
  EXPECT_FALSE(ParseHexData("0x0"));
  EXPECT_FALSE(ParseHexData("00ff"));
  EXPECT_FALSE(ParseHexData("0xzz"));
}

TEST_F(EthRpcClientTest, GetTransactionCountSendsAddressAndTag) {
  const Address addr = ParseAddress("0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1").value();
  http_.handler = [](const json& req) -> Result<http::HttpResponse> {
    EXPECT_EQ(req["method"], "eth_getTransactionCount");
    EXPECT_EQ(req["params"],
              json::array({"0x90f8bf6a479f320ead074411a4b0e7944ea8c9c1", "pending"}));
    return Json({{"jsonrpc", "2.0"}, {"id", req["id"]}, {"result", "0x2a"}});
  };
  EXPECT_EQ(client_.GetTransactionCount(addr).value(), 42u);
}

TEST_F(EthRpcClientTest, SendRawTransactionChecksTheReturnedHash) {
  const Bytes raw = {0xc3, 0x01, 0x02, 0x03};
  const std::string good = FormatHexData(Keccak256(raw));
  http_.handler = Answer("eth_sendRawTransaction", good);
  auto hash = client_.SendRawTransaction(raw);
  ASSERT_TRUE(hash) << hash.error().ToString();
  EXPECT_EQ(FormatHexData(*hash), good);
  EXPECT_EQ(json::parse(http_.requests.back().body)["params"], json::array({"0xc3010203"}));

  http_.handler = Answer("eth_sendRawTransaction", FormatHexData(Keccak256(Bytes{0xc0})));
  auto lie = client_.SendRawTransaction(raw);
  ASSERT_FALSE(lie);
  EXPECT_EQ(lie.error().code, ErrorCode::kIntegrity);
}

TEST_F(EthRpcClientTest, TransactionAndReceiptParsing) {
  const Hash256 tx_hash = Keccak256(AsBytes("tx"));
  const Hash256 block_hash = Keccak256(AsBytes("block"));
  http_.handler = Answer("eth_getTransactionByHash", nullptr);
  auto none = client_.GetTransactionByHash(tx_hash);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());

  json tx = {{"hash", FormatHexData(tx_hash)},
             {"nonce", "0x3"},
             {"from", "0x90f8bf6a479f320ead074411a4b0e7944ea8c9c1"},
             {"to", "0x90f8bf6a479f320ead074411a4b0e7944ea8c9c1"},
             {"input", "0xdeadbeef"},
             {"blockHash", FormatHexData(block_hash)},
             {"blockNumber", "0x7"}};
  http_.handler = Answer("eth_getTransactionByHash", tx);
  auto info = client_.GetTransactionByHash(tx_hash);
  ASSERT_TRUE(info) << info.error().ToString();
  ASSERT_TRUE(info->has_value());
  EXPECT_EQ((*info)->nonce, 3u);
  EXPECT_EQ((*info)->input, (Bytes{0xde, 0xad, 0xbe, 0xef}));
  EXPECT_EQ((*info)->block_hash, block_hash);
  EXPECT_EQ((*info)->block_number, 7u);

  tx["input"] = "0xdeadbee";  // odd length
  http_.handler = Answer("eth_getTransactionByHash", tx);
  auto bad = client_.GetTransactionByHash(tx_hash);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kIntegrity);
  EXPECT_NE(bad.error().message.find("input"), std::string::npos);

  json receipt = {{"transactionHash", FormatHexData(tx_hash)},
                  {"blockHash", FormatHexData(block_hash)},
                  {"blockNumber", "0x7"},
                  {"status", "0x1"},
                  {"gasUsed", "0x5408"}};
  http_.handler = Answer("eth_getTransactionReceipt", receipt);
  auto rec = client_.GetTransactionReceipt(tx_hash);
  ASSERT_TRUE(rec) << rec.error().ToString();
  ASSERT_TRUE(rec->has_value());
  EXPECT_TRUE((*rec)->success);
  EXPECT_EQ((*rec)->gas_used, 21512u);

  receipt["transactionHash"] = FormatHexData(block_hash);
  http_.handler = Answer("eth_getTransactionReceipt", receipt);
  EXPECT_EQ(client_.GetTransactionReceipt(tx_hash).error().code, ErrorCode::kIntegrity);
}

TEST_F(EthRpcClientTest, BlockByNumber) {
  json block = {{"hash", FormatHexData(Keccak256(AsBytes("b")))},
                {"parentHash", FormatHexData(Keccak256(AsBytes("a")))},
                {"number", "0x10"},
                {"timestamp", "0x65000000"}};
  std::vector<json> params;
  http_.handler = [&](const json& req) -> Result<http::HttpResponse> {
    params.push_back(req["params"]);
    return Json({{"jsonrpc", "2.0"}, {"id", req["id"]}, {"result", block}});
  };
  auto b = client_.GetBlockByNumber(16);
  ASSERT_TRUE(b) << b.error().ToString();
  EXPECT_EQ(params.at(0), json::array({"0x10", false}));
  ASSERT_TRUE(b->has_value());
  EXPECT_EQ((*b)->timestamp, 0x65000000u);
  EXPECT_FALSE(client_.GetBlockByNumber(17));  // reply names block 16
}

}  // namespace
}  // namespace vigie::chain
