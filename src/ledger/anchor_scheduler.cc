#include "ledger/anchor_scheduler.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <string>

#include "base/encoding.h"
#include "base/log.h"

namespace vigie::ledger {
namespace {

using State = AnchorStatus::State;

// A record is final when its anchor is done with it: on chain with the confirmations recorded
// when it was confirmed (block hash set), or a local record (a signed head is all it can be).
bool IsFinalRecord(const AnchorRecord& r, uint64_t required) {
  if (!r.on_chain()) return true;
  return !r.block_hash.empty() && r.confirmations >= required && r.confirmations > 0;
}

}  // namespace

AnchorScheduler::AnchorScheduler(Ledger& ledger, Anchor& anchor, Clock& clock,
                                 AnchorSchedulerOptions options, AlertSink* alerts,
                                 AnchorListener* listener)
    : ledger_(ledger),
      anchor_(anchor),
      clock_(clock),
      options_(options),
      alerts_(alerts),
      listener_(listener) {
  std::lock_guard<std::mutex> lock(mu_);
  SyncFromRecordsLocked();
}

void AnchorScheduler::SyncFromRecordsLocked() {
  // The latest record per transaction (or per head, for records without one) is its state.
  // Another process (`vigie ledger anchor` while the server runs) may have recorded anchors
  // since the last run: a final one raises anchored_size_, a pending one is followed unless
  // this scheduler follows one already or gave up on it.
  std::map<std::string, AnchorRecord> latest;
  std::vector<std::string> order;
  for (AnchorRecord& r : ledger_.AnchorRecords()) {
    if (r.anchor != anchor_.Name()) continue;
    std::string key = r.on_chain() ? r.tx_hash : fmt::format("head:{}", r.head.tree_size);
    if (!latest.count(key)) order.push_back(key);
    latest[key] = std::move(r);
  }
  for (const std::string& key : order) {
    const AnchorRecord& r = latest[key];
    if (IsFinalRecord(r, options_.required_confirmations)) {
      anchored_size_ = std::max(anchored_size_, r.head.tree_size);
    }
  }
  if (pending_ && pending_->head.tree_size <= anchored_size_) {
    pending_.reset();  // another process's final anchor covers it
    not_found_since_.reset();
  }
  if (pending_) return;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const AnchorRecord& r = latest[*it];
    if (!IsFinalRecord(r, options_.required_confirmations) && r.head.tree_size > anchored_size_ &&
        !forgotten_.count(r.tx_hash)) {
      pending_ = r;
      break;
    }
  }
}

AnchorScheduler::~AnchorScheduler() { Stop(); }

void AnchorScheduler::Start() {
  std::lock_guard<std::mutex> lock(timer_mu_);
  if (started_) return;
  started_ = true;
  timer_ = clock_.RunAfter(Duration::zero(), [this] { OnTimer(); });
}

void AnchorScheduler::Stop() {
  std::unique_ptr<Timer> timer;
  {
    std::lock_guard<std::mutex> lock(timer_mu_);
    started_ = false;
    timer = std::move(timer_);
  }
  // Outside timer_mu_: destroying waits for a callback in progress, which takes timer_mu_.
  timer.reset();
}

void AnchorScheduler::OnTimer() {
  (void)RunOnce();  // failures are logged and drive the backoff
  std::lock_guard<std::mutex> lock(timer_mu_);
  if (!started_) return;
  // Replacing the handle of the timer now running, from its own callback, is allowed (env.h).
  timer_ = clock_.RunAfter(NextDelay(), [this] { OnTimer(); });
}

Result<AnchorRunReport> AnchorScheduler::RunOnce() {
  std::lock_guard<std::mutex> lock(mu_);
  if (listener_ != nullptr) {
    if (auto s = listener_->OnRun(ledger_); !s) {
      log::Warn("ledger.anchor.listener_failed", {{"error", s.error().ToString()}});
    }
  }
  auto report = RunLocked();
  if (report) {
    failures_ = 0;
  } else {
    ++failures_;
    log::Warn("ledger.anchor.failed",
              {{"anchor", anchor_.Name()},
               {"error", report.error().ToString()},
               {"consecutive_failures", failures_},
               {"retry_in_ms",
                std::chrono::duration_cast<std::chrono::milliseconds>(NextDelayLocked()).count()}});
  }
  UpdateAlertLocked();
  return report;
}

void AnchorScheduler::Notify(const AnchorRecord& record, const AnchorStatus& status) {
  if (listener_ == nullptr) return;
  if (auto s = listener_->OnAnchorStatus(record, status, options_.required_confirmations); !s) {
    log::Warn("ledger.anchor.listener_failed", {{"error", s.error().ToString()}});
  }
}

Status AnchorScheduler::HandleStatusLocked(const AnchorStatus& status, AnchorRunReport& report) {
  AnchorRecord record = *pending_;
  report.record = record;
  report.status = status;
  switch (status.state) {
    case State::kConfirmed:
    case State::kNotOnChain: {
      not_found_since_.reset();
      if (record.on_chain()) {
        record.block_number = status.block_number;
        record.block_hash = status.block_hash;
        record.confirmations = status.confirmations;
        // The final record, so a restart knows this anchor is done.
        VIGIE_RETURN_IF_ERROR(ledger_.RecordAnchor(record));
      }
      report.record = record;
      Notify(record, status);
      anchored_size_ = std::max(anchored_size_, record.head.tree_size);
      pending_.reset();
      log::Info("ledger.anchor.confirmed", {{"anchor", record.anchor},
                                            {"tree_size", record.head.tree_size},
                                            {"root", HexEncode(record.head.root)},
                                            {"tx_hash", record.tx_hash},
                                            {"block_number", record.block_number},
                                            {"confirmations", record.confirmations}});
      return OkStatus();
    }
    case State::kPending:
      not_found_since_.reset();
      Notify(record, status);
      return OkStatus();
    case State::kNotFound: {
      Notify(record, status);
      const MonoTime now = clock_.Monotonic();
      if (!not_found_since_) not_found_since_ = now;
      if (now - *not_found_since_ < options_.drop_after) return OkStatus();
      log::Warn("ledger.anchor.dropped", {{"anchor", record.anchor},
                                          {"tree_size", record.head.tree_size},
                                          {"tx_hash", record.tx_hash},
                                          {"detail", status.detail}});
      forgotten_.insert(record.tx_hash);
      pending_.reset();
      not_found_since_.reset();
      return OkStatus();
    }
    case State::kMismatch:
      Notify(record, status);
      log::Error("ledger.anchor.mismatch", {{"anchor", record.anchor},
                                            {"tree_size", record.head.tree_size},
                                            {"tx_hash", record.tx_hash},
                                            {"detail", status.detail}});
      forgotten_.insert(record.tx_hash);
      pending_.reset();
      not_found_since_.reset();
      return OkStatus();
  }
  return OkStatus();
}

Result<AnchorRunReport> AnchorScheduler::RunLocked() {
  AnchorRunReport report;
  SyncFromRecordsLocked();
  if (pending_) {
    VIGIE_ASSIGN_OR_RETURN(AnchorStatus status, anchor_.Check(*pending_));
    VIGIE_RETURN_IF_ERROR(HandleStatusLocked(status, report));
  }
  report.ledger_size = ledger_.size();
  if (!pending_ && report.ledger_size > anchored_size_) {
    std::optional<TreeHead> head = ledger_.LatestTreeHead();
    if (!head || head->tree_size != report.ledger_size) {
      VIGIE_ASSIGN_OR_RETURN(TreeHead signed_head, ledger_.SignTreeHead());
      head = signed_head;
    }
    VIGIE_ASSIGN_OR_RETURN(AnchorRecord record, anchor_.AnchorHead(*head));
    if (auto s = ledger_.RecordAnchor(record); !s) {
      // The transaction is out; keep following it in memory and say where it is.
      log::Error("ledger.anchor.record_failed", {{"tx_hash", record.tx_hash},
                                                 {"tree_size", record.head.tree_size},
                                                 {"error", s.error().ToString()}});
    }
    pending_ = record;
    not_found_since_.reset();
    report.sent = true;
    report.record = record;
    report.ledger_size = std::max(report.ledger_size, head->tree_size);
    auto status = anchor_.Check(record);
    if (status) {
      VIGIE_RETURN_IF_ERROR(HandleStatusLocked(*status, report));
    } else {
      // Sent but not checkable right now: the next poll will tell.
      AnchorStatus unknown;
      unknown.state = State::kPending;
      unknown.detail = fmt::format("sent; not checked yet ({})", status.error().ToString());
      report.status = unknown;
      Notify(record, unknown);
    }
  }
  report.anchored_size = anchored_size_;
  return report;
}

void AnchorScheduler::UpdateAlertLocked() {
  const uint64_t size = ledger_.size();
  if (size <= anchored_size_) {
    if (alert_raised_) {
      alert_raised_ = false;
      log::Info("ledger.anchor.recovered",
                {{"anchor", anchor_.Name()}, {"anchored_size", anchored_size_}});
      if (alerts_ != nullptr) alerts_->Resolve(kAnchorOverdueAlert);
    }
    return;
  }
  if (alert_raised_) return;
  // Age of the oldest entry that no final anchor covers.
  auto oldest = ledger_.ReadEntry(anchored_size_);
  if (!oldest) return;
  const auto age = clock_.Now() - (WallTime() + std::chrono::milliseconds(oldest->timestamp_ms));
  if (age < options_.alert_after) return;
  alert_raised_ = true;
  const std::string detail = fmt::format(
      "ledger entries {}..{} are not anchored ({} anchor): the oldest is {} s old, above the "
      "{} s limit; {}",
      anchored_size_, size - 1, anchor_.Name(),
      std::chrono::duration_cast<std::chrono::seconds>(age).count(),
      std::chrono::duration_cast<std::chrono::seconds>(options_.alert_after).count(),
      pending_ ? fmt::format("transaction {} awaits confirmation", pending_->tx_hash)
               : std::string("anchoring keeps failing (see ledger.anchor.failed)"));
  log::Warn(kAnchorOverdueAlert, {{"anchor", anchor_.Name()},
                                  {"unanchored_from", anchored_size_},
                                  {"ledger_size", size},
                                  {"detail", detail}});
  if (alerts_ != nullptr) alerts_->Raise(kAnchorOverdueAlert, detail);
}

Duration AnchorScheduler::NextDelayLocked() const {
  if (failures_ > 0) {
    Duration d = options_.initial_backoff;
    for (int i = 1; i < failures_ && d < options_.max_backoff; ++i) d *= 2;
    return std::min(d, options_.max_backoff);
  }
  if (pending_) return options_.poll_interval;
  return options_.interval;
}

Duration AnchorScheduler::NextDelay() const {
  std::lock_guard<std::mutex> lock(mu_);
  return NextDelayLocked();
}

uint64_t AnchorScheduler::anchored_size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return anchored_size_;
}

std::optional<AnchorRecord> AnchorScheduler::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_;
}

bool AnchorScheduler::alert_raised() const {
  std::lock_guard<std::mutex> lock(mu_);
  return alert_raised_;
}

int AnchorScheduler::consecutive_failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_;
}

}  // namespace vigie::ledger
