#pragma once
// EventSink: where a capability appends the events that are evidence for the compliance checks
// (provisioning: PROV_001-005, 023; Vault bootstrap: PROV_004, 010-013). src/cli connects it to
// the tamper-evident ledger (PROV_020); tests use a recording fake or NullEventSink.
//
// Contract: Append either records the event durably and returns OK, or returns an error and
// records nothing. `kind` is a stable event name ("site.provisioned", "vault.bootstrap", ...),
// `body_json` one JSON object. SECURITY: bodies never hold a secret (names, counts, digests).
// Thread-safety: implementations document their own.

#include <string_view>

#include "base/error.h"

namespace vigie {

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual Status Append(std::string_view kind, std::string_view site,
                        std::string_view body_json) = 0;
};

// Discards every event (callers with no ledger, e.g. a dry run). Always OK.
class NullEventSink final : public EventSink {
 public:
  Status Append(std::string_view, std::string_view, std::string_view) override {
    return OkStatus();
  }
};

}  // namespace vigie
