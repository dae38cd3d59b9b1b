#pragma once
// StoreAnchorLog: records, in the fleet Store, what the compliance check of PROV_020 judges
// (compliance::StoreEvidence reads these tables; migration "ledger_anchoring"):
//
//   ledger_site_events(seq PRIMARY KEY, site, kind, at)   one row per ledger entry that names a
//       site, indexed from the ledger itself at the start of every anchoring run (OnRun): the
//       ledger is the source of truth, so an event can never be missing from the index because
//       a caller forgot to record it. The scan position is kept in kv under
//       kSiteEventsPositionKey. Idempotent (ON CONFLICT DO NOTHING).
//   ledger_anchors(...)   one row per status observed for an anchor (sent, polled, confirmed,
//       dropped): anchor, tree_size, root, chain_id, tx_hash, block_number, block_hash, state
//       (AnchorStateName), confirmations, required_confirmations, detail, checked_at.
//
// Thread-safety: as the Store; the scheduler calls it from one run at a time.

#include <string_view>

#include "base/env.h"
#include "ledger/anchor_scheduler.h"
#include "store/store.h"

namespace vigie::ledger {

inline constexpr std::string_view kSiteEventsPositionKey = "ledger.site_events.next_seq";

class StoreAnchorLog final : public AnchorListener {
 public:
  // `store` and `clock` are borrowed and must outlive this object.
  StoreAnchorLog(store::Store& store, Clock& clock) : store_(store), clock_(clock) {}

  // Indexes the ledger's site entries not yet in ledger_site_events.
  Status OnRun(Ledger& ledger) override { return SyncSiteEvents(ledger); }
  Status OnAnchorStatus(const AnchorRecord& record, const AnchorStatus& status,
                        uint64_t required_confirmations) override;

  // Errors: the ledger's (kIo, kIntegrity) or the store's.
  Status SyncSiteEvents(Ledger& ledger);

 private:
  store::Store& store_;
  Clock& clock_;
};

}  // namespace vigie::ledger
