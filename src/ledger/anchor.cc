#include "ledger/anchor.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "base/encoding.h"

namespace vigie::ledger {

std::string_view AnchorStateName(AnchorStatus::State state) {
  switch (state) {
    case AnchorStatus::State::kConfirmed:
      return "confirmed";
    case AnchorStatus::State::kPending:
      return "pending";
    case AnchorStatus::State::kNotOnChain:
      return "not_on_chain";
    case AnchorStatus::State::kMismatch:
      return "mismatch";
    case AnchorStatus::State::kNotFound:
      return "not_found";
  }
  return "unknown";
}

std::string AnchorRecordToJson(const AnchorRecord& r) {
  nlohmann::json j = {
      {"anchor", r.anchor},
      {"tree_size", r.head.tree_size},
      {"root", HexEncode(r.head.root)},
      {"head_timestamp_ms", r.head.timestamp_ms},
      {"head_signature", HexEncode(r.head.signature)},
      {"chain_id", r.chain_id},
      {"tx_hash", r.tx_hash},
      {"block_number", r.block_number},
      {"block_hash", r.block_hash},
      {"confirmations", r.confirmations},
      {"anchored_at", r.anchored_at},
  };
  return j.dump();
}

Result<AnchorRecord> AnchorRecordFromJson(std::string_view json) {
  AnchorRecord r;
  try {
    auto j = nlohmann::json::parse(json);
    r.anchor = j.at("anchor").get<std::string>();
    r.head.tree_size = j.at("tree_size").get<uint64_t>();
    r.head.timestamp_ms = j.at("head_timestamp_ms").get<int64_t>();
    r.chain_id = j.at("chain_id").get<std::string>();
    r.tx_hash = j.at("tx_hash").get<std::string>();
    r.block_number = j.at("block_number").get<uint64_t>();
    r.block_hash = j.at("block_hash").get<std::string>();
    r.confirmations = j.at("confirmations").get<uint64_t>();
    r.anchored_at = j.at("anchored_at").get<int64_t>();
    auto root = HexDecode(j.at("root").get<std::string>());
    auto sig = HexDecode(j.at("head_signature").get<std::string>());
    if (!root || root->size() != r.head.root.size() || !sig ||
        sig->size() != r.head.signature.size()) {
      return MakeError(ErrorCode::kIntegrity,
                       "anchor record: root must be 32 and head_signature 64 hex-encoded bytes");
    }
    std::copy(root->begin(), root->end(), r.head.root.begin());
    std::copy(sig->begin(), sig->end(), r.head.signature.begin());
  } catch (const nlohmann::json::exception& e) {
    return MakeError(ErrorCode::kIntegrity, fmt::format("anchor record: {}", e.what()));
  }
  return r;
}

Result<AnchorRecord> LocalAnchor::AnchorHead(const TreeHead& head) {
  if (auto s = VerifyTreeHead(head, fleet_key_); !s) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("local anchor: tree head of size {} is not signed by the fleet "
                                 "key ({})",
                                 head.tree_size, s.error().message));
  }
  AnchorRecord r;
  r.anchor = std::string(kName);
  r.head = head;
  r.anchored_at = ToUnixSeconds(clock_.Now());
  return r;
}

Result<AnchorStatus> LocalAnchor::Check(const AnchorRecord& record) {
  AnchorStatus status;
  if (record.anchor != kName) {
    status.state = AnchorStatus::State::kMismatch;
    status.detail =
        fmt::format("record was made by anchor \"{}\", not \"{}\"", record.anchor, kName);
    return status;
  }
  if (auto s = VerifyTreeHead(record.head, fleet_key_); !s) {
    status.state = AnchorStatus::State::kMismatch;
    status.detail = fmt::format("signed tree head of size {} does not verify under the fleet key",
                                record.head.tree_size);
    return status;
  }
  status.state = AnchorStatus::State::kNotOnChain;
  status.detail = fmt::format(
      "signed tree head of size {} (root {}) verifies; not anchored on a chain (local anchor)",
      record.head.tree_size, HexEncode(record.head.root));
  return status;
}

}  // namespace vigie::ledger
