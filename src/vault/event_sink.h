#pragma once
// The vault module appends its evidence events ("vault.bootstrap", "vault.reconcile",
// "vault.check", "vault.needs_recovery") through the shared EventSink of base/event_sink.h.

#include "base/event_sink.h"

namespace vigie::vault {

using EventSink = vigie::EventSink;
using NullEventSink = vigie::NullEventSink;

}  // namespace vigie::vault
