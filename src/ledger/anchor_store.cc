#include "ledger/anchor_store.h"

#include <fmt/format.h>

#include <string>
#include <vector>

#include "base/encoding.h"

namespace vigie::ledger {
namespace {

// Entries indexed per Write: bounded so one run never holds the writer for long.
constexpr uint64_t kMaxEntriesPerSync = 10000;

struct SiteEventRow {
  int64_t seq;
  std::string site;
  std::string kind;
  int64_t at;
};

}  // namespace

Status StoreAnchorLog::SyncSiteEvents(Ledger& ledger) {
  VIGIE_ASSIGN_OR_RETURN(store::Rows rows, store_.Query("SELECT value FROM kv WHERE key = ?",
                                                        {std::string(kSiteEventsPositionKey)}));
  uint64_t next = 0;
  if (!rows.empty()) {
    VIGIE_ASSIGN_OR_RETURN(int64_t v, rows[0].GetInt("value"));
    next = v < 0 ? 0 : static_cast<uint64_t>(v);
  }
  const uint64_t size = ledger.size();
  while (next < size) {
    // Read the ledger first: never do file I/O inside a write job (it would hold the writer).
    const uint64_t end = std::min(size, next + kMaxEntriesPerSync);
    std::vector<SiteEventRow> batch;
    for (uint64_t seq = next; seq < end; ++seq) {
      VIGIE_ASSIGN_OR_RETURN(Entry e, ledger.ReadEntry(seq));
      if (e.site.empty()) continue;
      batch.push_back(
          {static_cast<int64_t>(seq), std::move(e.site), std::move(e.kind), e.timestamp_ms / 1000});
    }
    VIGIE_RETURN_IF_ERROR(store_.Write([&](store::Txn& t) -> vigie::Status {
      for (const SiteEventRow& r : batch) {
        VIGIE_RETURN_IF_ERROR(
            t.Exec("INSERT INTO ledger_site_events(seq, site, kind, at) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (seq) DO NOTHING",
                   {r.seq, r.site, r.kind, r.at}));
      }
      return t.Exec(
          "INSERT INTO kv(key, value) VALUES (?, ?) "
          "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
          {std::string(kSiteEventsPositionKey), static_cast<int64_t>(end)});
    }));
    next = end;
  }
  return OkStatus();
}

Status StoreAnchorLog::OnAnchorStatus(const AnchorRecord& record, const AnchorStatus& status,
                                      uint64_t required_confirmations) {
  // The status carries the block once mined; the record may predate it.
  const uint64_t block_number =
      status.block_number != 0 ? status.block_number : record.block_number;
  const std::string block_hash = !status.block_hash.empty() ? status.block_hash : record.block_hash;
  const int64_t now = ToUnixSeconds(clock_.Now());
  return store_.Write([&](store::Txn& t) -> vigie::Status {
    return t.Exec(
        "INSERT INTO ledger_anchors(anchor, tree_size, root, chain_id, tx_hash, block_number, "
        "block_hash, state, confirmations, required_confirmations, detail, checked_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        {record.anchor, static_cast<int64_t>(record.head.tree_size), HexEncode(record.head.root),
         record.chain_id, record.tx_hash, static_cast<int64_t>(block_number), block_hash,
         std::string(AnchorStateName(status.state)), static_cast<int64_t>(status.confirmations),
         static_cast<int64_t>(required_confirmations), status.detail, now});
  });
}

}  // namespace vigie::ledger
