#include "ledger/anchor_service.h"

#include <fmt/format.h>

#include "base/log.h"
#include "ledger/anchor_store.h"

namespace vigie::ledger {

LedgerOptions LedgerOptionsFromConfig(const config::LedgerConfig& config) {
  return LedgerOptions{.lock_timeout = std::chrono::seconds(config.lock_timeout_seconds)};
}

Result<std::unique_ptr<AnchorService>> StartAnchorService(const AnchorServiceOptions& options,
                                                          AlertSink* alerts) {
  if (options.fleet_key == nullptr || options.env.clock == nullptr || options.env.fs == nullptr) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "StartAnchorService needs the fleet signing key, env.clock and env.fs");
  }
  if (options.ledger != nullptr && options.ledger->dir() != options.ledger_dir) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("StartAnchorService: the ledger given is open on {}, not {}",
                                 options.ledger->dir(), options.ledger_dir));
  }
  std::unique_ptr<AnchorService> service(new AnchorService());
  VIGIE_ASSIGN_OR_RETURN(
      service->configured_,
      MakeAnchorFromConfig(options.config, options.fleet_key->public_key(), options.env));
  if (options.ledger != nullptr) {
    service->ledger_ = options.ledger;
  } else {
    VIGIE_ASSIGN_OR_RETURN(service->owned_ledger_,
                           Ledger::Open(options.ledger_dir, options.env, options.fleet_key,
                                        LedgerOptionsFromConfig(options.config)));
    service->ledger_ = service->owned_ledger_.get();
  }
  if (options.store != nullptr) {
    service->store_log_ = std::make_unique<StoreAnchorLog>(*options.store, *options.env.clock);
  }
  AnchorSchedulerOptions scheduler = service->configured_.scheduler;
  if (options.poll_interval) scheduler.poll_interval = *options.poll_interval;
  if (options.initial_backoff) scheduler.initial_backoff = *options.initial_backoff;
  service->scheduler_ = std::make_unique<AnchorScheduler>(
      *service->ledger_, *service->configured_.anchor, *options.env.clock, scheduler, alerts,
      service->store_log_.get());
  log::Info(
      "ledger.anchor.service_started",
      {{"dir", options.ledger_dir},
       {"anchor", service->configured_.anchor->Name()},
       {"interval_s", std::chrono::duration_cast<std::chrono::seconds>(scheduler.interval).count()},
       {"required_confirmations", scheduler.required_confirmations}});
  service->scheduler_->Start();
  return service;
}

AnchorService::~AnchorService() { Stop(); }

void AnchorService::Stop() {
  if (scheduler_ != nullptr) scheduler_->Stop();
}

Result<AnchorRunReport> AnchorService::RunOnce() { return scheduler_->RunOnce(); }

std::string_view AnchorService::anchor_name() const { return configured_.anchor->Name(); }

}  // namespace vigie::ledger
