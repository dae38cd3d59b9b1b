#include "ledger/proof.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "base/encoding.h"
#include "ledger/ethereum_anchor.h"

namespace vigie::ledger {
namespace {

using nlohmann::json;

// The latest record per transaction (or per head for records without one), in first-seen order.
std::vector<AnchorRecord> LatestRecords(const std::vector<AnchorRecord>& all) {
  std::map<std::string, size_t> index;
  std::vector<AnchorRecord> out;
  for (const AnchorRecord& r : all) {
    std::string key = r.on_chain() ? r.tx_hash : fmt::format("{}:{}", r.anchor, r.tree_size());
    auto it = index.find(key);
    if (it == index.end()) {
      index.emplace(key, out.size());
      out.push_back(r);
    } else {
      out[it->second] = r;
    }
  }
  return out;
}

json HeadToJson(const TreeHead& h) {
  return {{"tree_size", h.tree_size},
          {"timestamp_ms", h.timestamp_ms},
          {"root", HexEncode(h.root)},
          {"signature", HexEncode(h.signature)}};
}

json AnchorToJson(const AnchorRecord& r) {
  return {{"anchor", r.anchor},          {"chain_id", r.chain_id},
          {"tx_hash", r.tx_hash},        {"block_number", r.block_number},
          {"block_hash", r.block_hash},  {"confirmations", r.confirmations},
          {"anchored_at", r.anchored_at}};
}

Error Bad(std::string_view field, std::string_view why) {
  return Error{ErrorCode::kInvalidArgument, fmt::format("proof: field {} {}", field, why)};
}

template <size_t N>
Result<std::array<uint8_t, N>> FixedHex(const json& j, std::string_view field) {
  if (!j.is_string()) return tl::unexpected(Bad(field, "must be a hex string"));
  auto bytes = HexDecode(j.get<std::string>());
  if (!bytes || bytes->size() != N) {
    return tl::unexpected(Bad(field, fmt::format("must be {} hex-encoded bytes", N)));
  }
  std::array<uint8_t, N> out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

Result<const json*> Field(const json& obj, std::string_view name, std::string_view where) {
  if (!obj.is_object()) return tl::unexpected(Bad(where, "must be an object"));
  auto it = obj.find(name);
  if (it == obj.end()) {
    return tl::unexpected(Bad(fmt::format("{}.{}", where, name), "is missing"));
  }
  return &*it;
}

Result<uint64_t> U64(const json& obj, std::string_view name, std::string_view where) {
  VIGIE_ASSIGN_OR_RETURN(const json* j, Field(obj, name, where));
  if (!j->is_number_unsigned()) {
    return tl::unexpected(Bad(fmt::format("{}.{}", where, name), "must be a non-negative integer"));
  }
  return j->get<uint64_t>();
}

Result<int64_t> I64(const json& obj, std::string_view name, std::string_view where) {
  VIGIE_ASSIGN_OR_RETURN(const json* j, Field(obj, name, where));
  if (!j->is_number_integer()) {
    return tl::unexpected(Bad(fmt::format("{}.{}", where, name), "must be an integer"));
  }
  return j->get<int64_t>();
}

Result<std::string> Str(const json& obj, std::string_view name, std::string_view where) {
  VIGIE_ASSIGN_OR_RETURN(const json* j, Field(obj, name, where));
  if (!j->is_string()) {
    return tl::unexpected(Bad(fmt::format("{}.{}", where, name), "must be a string"));
  }
  return j->get<std::string>();
}

}  // namespace

Result<std::string> BuildSiteProofJson(Ledger& ledger, std::string_view site) {
  // The site's provisioning events.
  std::vector<Entry> events;
  const uint64_t size = ledger.size();
  for (uint64_t seq = 0; seq < size; ++seq) {
    VIGIE_ASSIGN_OR_RETURN(Entry e, ledger.ReadEntry(seq));
    if (e.site == site && std::string_view(e.kind).starts_with(kProvisioningKindPrefix)) {
      events.push_back(std::move(e));
    }
  }
  if (events.empty()) {
    return MakeError(ErrorCode::kNotFound,
                     fmt::format("ledger {}: no provisioning event of site '{}' (entries of "
                                 "kind {}*); check the site id",
                                 ledger.dir(), site, kProvisioningKindPrefix));
  }

  // The head: the largest anchor mined on a chain, else the latest signed head.
  std::optional<AnchorRecord> anchor;
  for (const AnchorRecord& r : LatestRecords(ledger.AnchorRecords())) {
    if (!r.on_chain() || r.block_hash.empty()) continue;
    if (!anchor || r.tree_size() > anchor->tree_size()) anchor = r;
  }
  const bool anchored = anchor.has_value();
  TreeHead head;
  if (anchored) {
    head = anchor->head;
  } else {
    std::optional<TreeHead> latest = ledger.LatestTreeHead();
    if (!latest) {
      return MakeError(ErrorCode::kFailedPrecondition,
                       fmt::format("ledger {}: no signed tree head yet; run `vigie ledger "
                                   "anchor` first",
                                   ledger.dir()));
    }
    head = *latest;
    for (const AnchorRecord& r : LatestRecords(ledger.AnchorRecords())) {
      if (!r.on_chain() && r.tree_size() == head.tree_size && r.root() == head.root) anchor = r;
    }
  }
  if (events.front().seq >= head.tree_size) {
    return MakeError(ErrorCode::kFailedPrecondition,
                     fmt::format("ledger {}: the provisioning events of site '{}' (from entry "
                                 "{}) are after the {} tree head of size {}; run `vigie ledger "
                                 "anchor` and try again",
                                 ledger.dir(), site, events.front().seq,
                                 anchored ? "anchored" : "latest signed", head.tree_size));
  }

  json entries = json::array();
  json unanchored = json::array();
  TreeHasher hasher;
  for (const Entry& e : events) {
    if (e.seq >= head.tree_size) {
      unanchored.push_back(e.seq);
      continue;
    }
    VIGIE_ASSIGN_OR_RETURN(InclusionProof p, ledger.ProveInclusion(e.seq, head.tree_size));
    const std::string bytes = EncodeEntry(e);
    json path = json::array();
    for (const Hash& h : p.path) path.push_back(HexEncode(h));
    entries.push_back({{"seq", e.seq},
                       {"kind", e.kind},
                       {"timestamp_ms", e.timestamp_ms},
                       {"entry", HexEncode(AsBytes(bytes))},
                       {"leaf_hash", HexEncode(p.leaf_hash)},
                       {"inclusion_path", std::move(path)}});
  }
  json doc = {{"format", kProofFormat},
              {"site", site},
              {"anchored", anchored},
              {"tree_head", HeadToJson(head)},
              {"entries", std::move(entries)},
              {"unanchored", std::move(unanchored)},
              {"anchor", anchor ? AnchorToJson(*anchor) : json(nullptr)}};
  return doc.dump(2) + "\n";
}

Result<ProofCheck> CheckProofJson(std::string_view json_text,
                                  const crypto::Ed25519PublicKey& fleet_key,
                                  chain::EthRpcClient* node, uint64_t required_confirmations) {
  json doc = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return MakeError(ErrorCode::kInvalidArgument, "proof: not a JSON object");
  }
  ProofCheck check;
  VIGIE_ASSIGN_OR_RETURN(std::string format, Str(doc, "format", "proof"));
  if (format != kProofFormat) {
    return tl::unexpected(
        Bad("format", fmt::format("is '{}', expected '{}'", format.substr(0, 60), kProofFormat)));
  }
  VIGIE_ASSIGN_OR_RETURN(check.site, Str(doc, "site", "proof"));
  VIGIE_ASSIGN_OR_RETURN(const json* anchored, Field(doc, "anchored", "proof"));
  if (!anchored->is_boolean()) return tl::unexpected(Bad("anchored", "must be true or false"));
  check.anchored = anchored->get<bool>();

  // The tree head and its signature.
  VIGIE_ASSIGN_OR_RETURN(const json* jh, Field(doc, "tree_head", "proof"));
  VIGIE_ASSIGN_OR_RETURN(check.head.tree_size, U64(*jh, "tree_size", "tree_head"));
  VIGIE_ASSIGN_OR_RETURN(check.head.timestamp_ms, I64(*jh, "timestamp_ms", "tree_head"));
  VIGIE_ASSIGN_OR_RETURN(const json* jroot, Field(*jh, "root", "tree_head"));
  VIGIE_ASSIGN_OR_RETURN(check.head.root, FixedHex<32>(*jroot, "tree_head.root"));
  VIGIE_ASSIGN_OR_RETURN(const json* jsig, Field(*jh, "signature", "tree_head"));
  VIGIE_ASSIGN_OR_RETURN(check.head.signature,
                         FixedHex<crypto::kEd25519SignatureSize>(*jsig, "tree_head.signature"));
  if (auto s = VerifyTreeHead(check.head, fleet_key); !s) {
    return MakeError(ErrorCode::kIntegrity,
                     fmt::format("proof: the tree head of size {} is not signed by the fleet key "
                                 "given ({})",
                                 check.head.tree_size, s.error().message));
  }

  // Each entry: bytes -> leaf hash -> inclusion path -> root.
  VIGIE_ASSIGN_OR_RETURN(const json* jentries, Field(doc, "entries", "proof"));
  if (!jentries->is_array() || jentries->empty()) {
    return tl::unexpected(Bad("entries", "must be a non-empty array"));
  }
  TreeHasher hasher;
  for (size_t i = 0; i < jentries->size(); ++i) {
    const json& je = (*jentries)[i];
    const std::string where = fmt::format("entries[{}]", i);
    VIGIE_ASSIGN_OR_RETURN(uint64_t seq, U64(je, "seq", where));
    VIGIE_ASSIGN_OR_RETURN(std::string kind, Str(je, "kind", where));
    VIGIE_ASSIGN_OR_RETURN(std::string entry_hex, Str(je, "entry", where));
    auto bytes = HexDecode(entry_hex);
    if (!bytes) return tl::unexpected(Bad(where + ".entry", "must be hex"));
    VIGIE_ASSIGN_OR_RETURN(const json* jleaf, Field(je, "leaf_hash", where));
    VIGIE_ASSIGN_OR_RETURN(Hash leaf, FixedHex<32>(*jleaf, where + ".leaf_hash"));
    VIGIE_ASSIGN_OR_RETURN(const json* jpath, Field(je, "inclusion_path", where));
    if (!jpath->is_array() || jpath->size() > 64) {
      return tl::unexpected(Bad(where + ".inclusion_path", "must be an array of at most 64"));
    }
    std::vector<Hash> path;
    for (const json& p : *jpath) {
      VIGIE_ASSIGN_OR_RETURN(Hash h, FixedHex<32>(p, where + ".inclusion_path[]"));
      path.push_back(h);
    }
    if (hasher.HashLeaf(*bytes) != leaf) {
      return MakeError(ErrorCode::kIntegrity,
                       fmt::format("proof: entry {}: its bytes do not hash to its leaf_hash "
                                   "(the entry was altered)",
                                   seq));
    }
    auto entry = DecodeEntry(*bytes);
    if (!entry) {
      return MakeError(ErrorCode::kIntegrity,
                       fmt::format("proof: entry {}: {}", seq, entry.error().message));
    }
    if (entry->seq != seq || entry->kind != kind || entry->site != check.site) {
      return MakeError(
          ErrorCode::kIntegrity,
          fmt::format("proof: entry {}: its bytes say seq {}, kind '{}', site '{}', "
                      "not what the document states (seq {}, kind '{}', site '{}')",
                      seq, entry->seq, entry->kind, entry->site, seq, kind, check.site));
    }
    if (seq >= check.head.tree_size ||
        !VerifyInclusion(leaf, seq, check.head.tree_size, path, check.head.root)) {
      return MakeError(ErrorCode::kIntegrity,
                       fmt::format("proof: entry {}: the inclusion path does not lead to the root "
                                   "{} of the tree of size {}",
                                   seq, HexEncode(check.head.root), check.head.tree_size));
    }
    ++check.entries;
  }
  if (auto it = doc.find("unanchored"); it != doc.end() && it->is_array()) {
    for (const json& s : *it) {
      if (!s.is_number_unsigned()) return tl::unexpected(Bad("unanchored", "must hold integers"));
      check.unanchored.push_back(s.get<uint64_t>());
    }
  }

  // The anchor record of that head.
  VIGIE_ASSIGN_OR_RETURN(const json* ja, Field(doc, "anchor", "proof"));
  if (ja->is_null()) {
    if (check.anchored) return tl::unexpected(Bad("anchor", "is null but anchored is true"));
    return check;
  }
  AnchorRecord record;
  record.head = check.head;
  VIGIE_ASSIGN_OR_RETURN(record.anchor, Str(*ja, "anchor", "anchor"));
  VIGIE_ASSIGN_OR_RETURN(record.chain_id, Str(*ja, "chain_id", "anchor"));
  VIGIE_ASSIGN_OR_RETURN(record.tx_hash, Str(*ja, "tx_hash", "anchor"));
  VIGIE_ASSIGN_OR_RETURN(record.block_number, U64(*ja, "block_number", "anchor"));
  VIGIE_ASSIGN_OR_RETURN(record.block_hash, Str(*ja, "block_hash", "anchor"));
  VIGIE_ASSIGN_OR_RETURN(record.confirmations, U64(*ja, "confirmations", "anchor"));
  VIGIE_ASSIGN_OR_RETURN(record.anchored_at, I64(*ja, "anchored_at", "anchor"));
  if (check.anchored && (!record.on_chain() || record.block_hash.empty())) {
    return tl::unexpected(
        Bad("anchor", "claims an on-chain anchor without tx_hash and block_hash"));
  }
  if (node != nullptr && record.on_chain()) {
    VIGIE_ASSIGN_OR_RETURN(AnchorStatus status,
                           CheckEthereumRecord(*node, record, required_confirmations));
    if ((status.state == AnchorStatus::State::kConfirmed ||
         status.state == AnchorStatus::State::kPending) &&
        !status.block_hash.empty() && status.block_hash != record.block_hash) {
      status.state = AnchorStatus::State::kMismatch;
      status.detail = fmt::format(
          "the node puts transaction {} in block {} ({}), the proof says "
          "block {} ({})",
          record.tx_hash, status.block_number, status.block_hash, record.block_number,
          record.block_hash);
    }
    check.chain = status;
  }
  check.anchor = std::move(record);
  return check;
}

}  // namespace vigie::ledger
