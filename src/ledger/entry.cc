#include "ledger/entry.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "ledger/frame.h"

namespace vigie::ledger {

using internal::GetU16;
using internal::GetU32;
using internal::GetU64;
using internal::PutU16;
using internal::PutU32;
using internal::PutU64;

namespace {

constexpr size_t kEntryFixedSize = 1 + 8 + 8 + 32;
constexpr std::string_view kTreeHeadContext = "vigie-ledger-sth";

Error Malformed(std::string_view what) {
  return Error{ErrorCode::kIntegrity, fmt::format("malformed ledger entry: {}", what)};
}

bool ValidKindChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

}  // namespace

std::string EncodeEntry(const Entry& e) {
  std::string out;
  out.reserve(kEntryFixedSize + 8 + e.kind.size() + e.site.size() + e.body.size());
  out.push_back(static_cast<char>(kEntryVersion));
  PutU64(out, e.seq);
  PutU64(out, static_cast<uint64_t>(e.timestamp_ms));
  out.append(reinterpret_cast<const char*>(e.prev_hash.data()), e.prev_hash.size());
  PutU16(out, static_cast<uint16_t>(e.kind.size()));
  out += e.kind;
  PutU16(out, static_cast<uint16_t>(e.site.size()));
  out += e.site;
  PutU32(out, static_cast<uint32_t>(e.body.size()));
  out += e.body;
  return out;
}

Result<EntryHeader> DecodeEntryHeader(std::span<const uint8_t> b) {
  if (b.size() < kEntryFixedSize) return tl::unexpected(Malformed("shorter than its header"));
  if (b[0] != kEntryVersion) {
    return tl::unexpected(Malformed(fmt::format("unknown version {}", b[0])));
  }
  EntryHeader h;
  h.seq = GetU64(b.data() + 1);
  h.timestamp_ms = static_cast<int64_t>(GetU64(b.data() + 9));
  std::copy_n(b.data() + 17, 32, h.prev_hash.begin());
  return h;
}

Result<Entry> DecodeEntry(std::span<const uint8_t> b) {
  VIGIE_ASSIGN_OR_RETURN(EntryHeader h, DecodeEntryHeader(b));
  Entry e;
  e.seq = h.seq;
  e.timestamp_ms = h.timestamp_ms;
  e.prev_hash = h.prev_hash;
  size_t pos = kEntryFixedSize;
  auto take = [&](size_t len_size, std::string& out, const char* field) -> Status {
    if (b.size() - pos < len_size) return tl::unexpected(Malformed(fmt::format("{} cut", field)));
    size_t len = len_size == 2 ? GetU16(b.data() + pos) : GetU32(b.data() + pos);
    pos += len_size;
    if (b.size() - pos < len) return tl::unexpected(Malformed(fmt::format("{} cut", field)));
    out.assign(reinterpret_cast<const char*>(b.data() + pos), len);
    pos += len;
    return OkStatus();
  };
  VIGIE_RETURN_IF_ERROR(take(2, e.kind, "kind"));
  VIGIE_RETURN_IF_ERROR(take(2, e.site, "site"));
  VIGIE_RETURN_IF_ERROR(take(4, e.body, "body"));
  if (pos != b.size()) {
    return tl::unexpected(Malformed(fmt::format("{} trailing bytes", b.size() - pos)));
  }
  return e;
}

Result<std::string> ValidateEntryFields(std::string_view kind, std::string_view site,
                                        std::string_view body_json) {
  if (kind.empty() || kind.size() > kMaxKindSize ||
      !std::all_of(kind.begin(), kind.end(), ValidKindChar)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("ledger entry kind \"{}\" must be 1 to {} characters of "
                                 "[a-z0-9._-] (e.g. \"site.provisioned\")",
                                 kind.substr(0, kMaxKindSize), kMaxKindSize));
  }
  if (site.size() > kMaxSiteSize) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("ledger entry site id is {} bytes; at most {} allowed",
                                 site.size(), kMaxSiteSize));
  }
  nlohmann::json body;
  try {
    body = nlohmann::json::parse(body_json);
  } catch (const nlohmann::json::exception& e) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        fmt::format("ledger entry body (kind {}) is not valid JSON: {}", kind, e.what()));
  }
  std::string canonical;
  try {
    canonical = body.dump();
  } catch (const nlohmann::json::exception& e) {  // invalid UTF-8 in a string
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("ledger entry body (kind {}): {}", kind, e.what()));
  }
  if (canonical.size() > kMaxBodySize) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("ledger entry body (kind {}) is {} bytes; at most {} allowed",
                                 kind, canonical.size(), kMaxBodySize));
  }
  return canonical;
}

namespace {
std::string TreeHeadStruct(const TreeHead& head) {
  std::string out;
  out.push_back(0);  // version v1
  out.push_back(1);  // signature_type tree_hash
  PutU64(out, static_cast<uint64_t>(head.timestamp_ms));
  PutU64(out, head.tree_size);
  out.append(reinterpret_cast<const char*>(head.root.data()), head.root.size());
  return out;
}
}  // namespace

std::string TreeHeadSignedBytes(const TreeHead& head) {
  return std::string(kTreeHeadContext) + TreeHeadStruct(head);
}

std::string EncodeTreeHead(const TreeHead& head) {
  std::string out = TreeHeadStruct(head);
  out.append(reinterpret_cast<const char*>(head.signature.data()), head.signature.size());
  return out;
}

Result<TreeHead> DecodeTreeHead(std::span<const uint8_t> b) {
  if (b.size() != kTreeHeadRecordSize || b[0] != 0 || b[1] != 1) {
    return MakeError(ErrorCode::kIntegrity,
                     fmt::format("malformed tree head record ({} bytes, expected {} starting "
                                 "00 01)",
                                 b.size(), kTreeHeadRecordSize));
  }
  TreeHead head;
  head.timestamp_ms = static_cast<int64_t>(GetU64(b.data() + 2));
  head.tree_size = GetU64(b.data() + 10);
  std::copy_n(b.data() + 18, 32, head.root.begin());
  std::copy_n(b.data() + kTreeHeadStructSize, head.signature.size(), head.signature.begin());
  return head;
}

Status VerifyTreeHead(const TreeHead& head, const crypto::Ed25519PublicKey& fleet_key) {
  std::string msg = TreeHeadSignedBytes(head);
  return crypto::VerifyEd25519(
      fleet_key, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(msg.data()), msg.size()),
      head.signature);
}

}  // namespace vigie::ledger
