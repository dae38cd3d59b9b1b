#pragma once
// AnchorScheduler: keeps the ledger anchored (PROV_020), periodically and on demand.
//
// One run (RunOnce):
//   0. the ledger's anchor records are re-read: anchors recorded by another process (e.g.
//      `vigie ledger anchor` while the server anchors) count as if made here;
//   1. an anchor already sent and not final is checked (Anchor::Check): confirmed (or, for the
//      local anchor, not_on_chain) makes it final and the updated record (block, confirmations)
//      is persisted; pending waits; not_found for longer than `drop_after` (the transaction was
//      dropped: evicted from the mempool, or its block was reorganised away) or mismatch
//      forgets it, and step 2 anchors again;
//   2. if the ledger holds entries beyond the last final anchor, the latest signed tree head is
//      anchored if it covers every entry, else a new head is signed and anchored; the record is
//      persisted (Ledger::RecordAnchor) before anything else, so a crash loses nothing, then
//      checked once (an instant-mining node confirms it in the same run).
// An event counts as anchored once it lies under a final anchor's tree size.
//
// Failures (node down, refused transaction, I/O) are retried with exponential backoff
// (initial_backoff doubling up to max_backoff) instead of the normal cadence; the entries stay
// in the ledger meanwhile. When the oldest entry not under a final anchor is older than
// `alert_after` (wall time of the entry), the alert "ledger.anchor.overdue" is raised once
// (warn log event of the same name + AlertSink::Raise) and resolved (info log
// "ledger.anchor.recovered" + AlertSink::Resolve) when a final anchor covers everything again.
//
// Scheduling: Start() runs the first run at once on the clock's timer thread, then after
// `interval` (nothing pending), `poll_interval` (an anchor awaiting confirmations) or the backoff
// delay (the last run failed). RunOnce() may also be called directly (on demand) from any
// thread; runs are serialised.
//
// Thread-safety: all methods are thread-safe. The ledger, anchor, clock, alert sink and listener
// are borrowed and must outlive the scheduler (Stop() or destroy it first).

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "base/env.h"
#include "base/error.h"
#include "ledger/anchor.h"
#include "ledger/ledger.h"

namespace vigie::ledger {

inline constexpr std::string_view kAnchorOverdueAlert = "ledger.anchor.overdue";

// Where the scheduler raises its alert (the alerting module, or a test recorder).
class AlertSink {
 public:
  virtual ~AlertSink() = default;
  // `name` is a stable alert name (kAnchorOverdueAlert); `detail` for a person.
  virtual void Raise(std::string_view name, std::string_view detail) = 0;
  virtual void Resolve(std::string_view name) = 0;
};

// Observes what the scheduler does (StoreAnchorLog, anchor_store.h, records it in the Store for
// the compliance checks). An error is logged ("ledger.anchor.listener_failed") and never stops
// anchoring.
class AnchorListener {
 public:
  virtual ~AnchorListener() = default;
  // At the start of every run.
  virtual Status OnRun(Ledger& ledger) { return OkStatus(); }
  // Every status observed for a record (right after sending, on each poll, when final).
  virtual Status OnAnchorStatus(const AnchorRecord& record, const AnchorStatus& status,
                                uint64_t required_confirmations) = 0;
};

struct AnchorSchedulerOptions {
  Duration interval = std::chrono::hours(1);          // between runs when all is anchored
  Duration poll_interval = std::chrono::seconds(15);  // while an anchor awaits confirmations
  Duration initial_backoff = std::chrono::seconds(5);
  Duration max_backoff = std::chrono::minutes(10);
  Duration alert_after = std::chrono::hours(2);
  // How long a sent transaction may stay unknown to the node before it counts as dropped.
  Duration drop_after = std::chrono::minutes(10);
  // Reported to the listener with each status (the anchor itself enforces it); 0 for local.
  uint64_t required_confirmations = 0;
};

struct AnchorRunReport {
  bool sent = false;                   // a new anchor was made in this run
  std::optional<AnchorRecord> record;  // the anchor checked or made in this run, if any
  std::optional<AnchorStatus> status;  // its status
  uint64_t ledger_size = 0;
  uint64_t anchored_size = 0;  // entries under a final anchor after this run
  bool up_to_date() const { return anchored_size == ledger_size; }
};

class AnchorScheduler {
 public:
  // Reads the anchors already recorded in `ledger` by `anchor` (same Name()): the largest final
  // one sets anchored_size(); the latest later unconfirmed one is followed as pending.
  // `alerts` and `listener` may be null.
  AnchorScheduler(Ledger& ledger, Anchor& anchor, Clock& clock, AnchorSchedulerOptions options,
                  AlertSink* alerts = nullptr, AnchorListener* listener = nullptr);
  ~AnchorScheduler();
  AnchorScheduler(const AnchorScheduler&) = delete;
  AnchorScheduler& operator=(const AnchorScheduler&) = delete;

  // Starts periodic runs (the first at once). Idempotent.
  void Start();
  // Stops periodic runs, waiting for a run in progress. Idempotent.
  void Stop();

  // One run, now, on the calling thread. Errors: what made the run fail (the anchor's or the
  // ledger's error); the next periodic run then comes after the backoff delay.
  Result<AnchorRunReport> RunOnce();

  uint64_t anchored_size() const;
  std::optional<AnchorRecord> pending() const;
  bool alert_raised() const;
  int consecutive_failures() const;
  // The delay the next periodic run will be scheduled after, given the current state.
  Duration NextDelay() const;

 private:
  Result<AnchorRunReport> RunLocked();
  // Adopts what the ledger's anchor records say (records of other processes included).
  void SyncFromRecordsLocked();
  // Applies `status` of the pending record: finalises, keeps waiting or forgets it.
  Status HandleStatusLocked(const AnchorStatus& status, AnchorRunReport& report);
  void Notify(const AnchorRecord& record, const AnchorStatus& status);
  void UpdateAlertLocked();
  Duration NextDelayLocked() const;
  void OnTimer();

  Ledger& ledger_;
  Anchor& anchor_;
  Clock& clock_;
  const AnchorSchedulerOptions options_;
  AlertSink* const alerts_;
  AnchorListener* const listener_;

  mutable std::mutex mu_;                    // held for a whole run
  uint64_t anchored_size_ = 0;               // GUARDED_BY(mu_)
  std::optional<AnchorRecord> pending_;      // GUARDED_BY(mu_)
  std::optional<MonoTime> not_found_since_;  // GUARDED_BY(mu_)
  int failures_ = 0;                         // GUARDED_BY(mu_)
  bool alert_raised_ = false;                // GUARDED_BY(mu_)
  std::set<std::string> forgotten_;          // GUARDED_BY(mu_): tx hashes dropped/mismatched

  std::mutex timer_mu_;           // never held while a run holds mu_ waits on it
  bool started_ = false;          // GUARDED_BY(timer_mu_)
  std::unique_ptr<Timer> timer_;  // GUARDED_BY(timer_mu_)
};

}  // namespace vigie::ledger
