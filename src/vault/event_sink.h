#pragma once
// EventSink: where the vault module appends the events that are evidence for the compliance
// checks (the bootstrap record of PROV_010..PROV_013, PROV_004). The lead connects it to the
// tamper-evident ledger (PROV_020); tests use a recording fake.
//
// Contract: Append either records the event durably and returns OK, or returns an error and
// records nothing. `body_json` is one JSON object. SECURITY: bodies never hold a secret (the
// vault module puts secret names and counts in them, never values).
// Thread-safety: implementations document their own; the vault module calls from one thread.

#include <string_view>

#include "base/error.h"

namespace vigie::vault {

class EventSink {
 public:
  virtual ~EventSink() = default;
  // `kind` is a stable event name ("vault.bootstrap", "vault.reconcile", "vault.check",
  // "vault.needs_recovery"); `site` the site id.
  virtual Status Append(std::string_view kind, std::string_view site,
                        std::string_view body_json) = 0;
};

// Discards every event (for callers with no ledger, e.g. a dry run). Always OK.
class NullEventSink final : public EventSink {
 public:
  Status Append(std::string_view, std::string_view, std::string_view) override {
    return OkStatus();
  }
};

}  // namespace vigie::vault
