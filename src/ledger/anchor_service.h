#pragma once
// AnchorService: the anchoring daemon of `vigie server` (PROV_020). It owns what one anchoring
// loop needs: the Anchor configured in [ledger] (MakeAnchorFromConfig, cli.h: "local" or
// "ethereum"), a Ledger on the ledger directory (its own, or one the caller already has open),
// the StoreAnchorLog recording statuses for the compliance checks (when a Store is given), and
// an AnchorScheduler running on env.clock's timers.
//
// Other processes (`vigie site provision`, `vigie vault bootstrap`, `vigie ledger anchor`)
// keep appending to the same ledger while the service runs: every run catches up with the
// ledger first (ledger.h), so an entry they append is anchored by the next run. The ledger's
// lock is taken only for the short signing and recording steps: sending the transaction and
// waiting for its confirmations (the poll_interval cadence) never hold it.
//
// Thread-safety: RunOnce and Stop may be called from any thread; runs are serialised. Borrowed
// pointers (fleet key, store, ledger, alert sink, env members) must outlive the service.

#include <memory>
#include <optional>
#include <string>

#include "base/env.h"
#include "base/error.h"
#include "config/config.h"
#include "crypto/sign.h"
#include "ledger/anchor_scheduler.h"
#include "ledger/cli.h"
#include "ledger/ledger.h"
#include "store/store.h"

namespace vigie::ledger {

struct AnchorServiceOptions {
  std::string ledger_dir;                         // <data_dir>/ledger
  const crypto::SigningKey* fleet_key = nullptr;  // required; signs the tree heads
  config::LedgerConfig config;                    // anchor backend, cadence, lock timeout
  store::Store* store = nullptr;                  // optional: statuses for compliance checks
  Env env;                                        // clock (timers), fs; required
  // Optional: a Ledger this process already has open on ledger_dir with the same fleet key;
  // null: the service opens its own (LedgerOptions::lock_timeout from config).
  Ledger* ledger = nullptr;
  // Optional overrides of the scheduler's cadence; the configured interval, alert delay and
  // confirmations are kept unless set here.
  std::optional<Duration> poll_interval;
  std::optional<Duration> initial_backoff;
};

class AnchorService {
 public:
  ~AnchorService();  // Stop()
  AnchorService(const AnchorService&) = delete;
  AnchorService& operator=(const AnchorService&) = delete;

  // One anchoring run now (e.g. after a provisioning batch, or `vigie ledger anchor` asking
  // the server); the periodic cadence continues. Errors: the run's (AnchorScheduler::RunOnce).
  Result<AnchorRunReport> RunOnce();
  // Stops the periodic runs, waiting for one in progress. Idempotent.
  void Stop();

  AnchorScheduler& scheduler() { return *scheduler_; }
  Ledger& ledger() { return *ledger_; }
  std::string_view anchor_name() const;

 private:
  friend Result<std::unique_ptr<AnchorService>> StartAnchorService(const AnchorServiceOptions&,
                                                                   AlertSink*);
  AnchorService() = default;

  ConfiguredAnchor configured_;           // anchor + its HTTP/RPC clients
  std::unique_ptr<Ledger> owned_ledger_;  // when the service opened the ledger itself
  Ledger* ledger_ = nullptr;
  std::unique_ptr<AnchorListener> store_log_;
  std::unique_ptr<AnchorScheduler> scheduler_;
};

// The ledger options [ledger] sets (lock_timeout_seconds), for every Ledger::Open of the fleet.
LedgerOptions LedgerOptionsFromConfig(const config::LedgerConfig& config);

// Builds the configured anchor, opens the ledger (unless options.ledger), and starts periodic
// anchoring (the first run at once, on env.clock's timer thread; failures are retried with
// backoff and surface through `alerts`, see anchor_scheduler.h). `alerts` (borrowed, may be null)
// receives kAnchorOverdueAlert raise/resolve.
// Errors: kInvalidArgument (no fleet key, or options.ledger is on another directory); the
// anchor's (key file: kNotFound, kPermissionDenied, kInvalidArgument); the ledger's Open
// (kIntegrity, kUnavailable, kIo).
Result<std::unique_ptr<AnchorService>> StartAnchorService(const AnchorServiceOptions& options,
                                                          AlertSink* alerts);

}  // namespace vigie::ledger
