#pragma once
// Anchors: where a signed tree head is published so that rewriting the ledger would also need
// rewriting something outside vigie's control (PROV_020, MAINT_043). Backends implement Anchor
// and are registered by plain calls from main:
//   - LocalAnchor (here): records the signed tree head only; the embedded default. Proves the
//     fleet key signed the root, but nothing is on a chain (AnchorRecord::on_chain() is false,
//     so PROV_020's check reports "not anchored on a chain").
//   - EthereumAnchor (ethereum_anchor.h) sends a transaction carrying the root and fills the
//     chain fields.
// Anchor records are persisted with the ledger (Ledger::RecordAnchor, file anchors.seg).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "crypto/sign.h"
#include "ledger/entry.h"

namespace vigie::ledger {

struct AnchorRecord {
  std::string anchor;  // backend kind: "local", "ethereum", ...
  TreeHead head;       // the signed tree head that was anchored (tree_size, root, signature)
  // On-chain fields; empty / 0 for the local anchor.
  std::string chain_id;  // e.g. "1337" (EIP-155 chain id, decimal)
  std::string tx_hash;   // 0x-prefixed hex
  uint64_t block_number = 0;
  std::string block_hash;  // 0x-prefixed hex
  uint64_t confirmations = 0;
  int64_t anchored_at = 0;  // Unix seconds when the anchor was made

  uint64_t tree_size() const { return head.tree_size; }
  const Hash& root() const { return head.root; }
  bool on_chain() const { return !tx_hash.empty(); }
};

// JSON form (persisted one record per frame; stable field names). FromJson errors:
// kIntegrity naming the field.
std::string AnchorRecordToJson(const AnchorRecord& record);
Result<AnchorRecord> AnchorRecordFromJson(std::string_view json);

struct AnchorStatus {
  enum class State {
    kConfirmed,   // on chain with enough confirmations, root matches
    kPending,     // on chain, not yet enough confirmations
    kNotOnChain,  // a valid signed tree head, but no chain (the local anchor)
    kMismatch,    // what is anchored does not match the record (root, signature, tx data)
    kNotFound,    // the transaction or block cannot be found
  };
  State state = State::kNotFound;
  uint64_t confirmations = 0;
  // On-chain anchors, once mined: where the transaction is (0 / empty otherwise).
  uint64_t block_number = 0;
  std::string block_hash;  // 0x-prefixed hex
  std::string detail;      // for a person
  bool ok() const { return state == State::kConfirmed || state == State::kNotOnChain; }
};
std::string_view AnchorStateName(AnchorStatus::State state);

class Anchor {
 public:
  virtual ~Anchor() = default;
  // Stable backend name, stored in AnchorRecord::anchor.
  virtual std::string_view Name() const = 0;
  // Publishes `head` (which must be signed) and returns the record to persist.
  // (Named AnchorHead, not Anchor: a member cannot share its class's name in C++.)
  virtual Result<AnchorRecord> AnchorHead(const TreeHead& head) = 0;
  // Re-checks a record previously returned by AnchorHead (for compliance checks).
  // Errors only when the check cannot run (e.g. kUnavailable); a failed check is a State.
  virtual Result<AnchorStatus> Check(const AnchorRecord& record) = 0;
};

// The embedded default: the record is the signed tree head itself. Check() verifies the head's
// signature under the fleet key. Thread-safe (immutable).
class LocalAnchor final : public Anchor {
 public:
  // `clock` is not owned and must outlive the anchor.
  LocalAnchor(const crypto::Ed25519PublicKey& fleet_key, Clock& clock)
      : fleet_key_(fleet_key), clock_(clock) {}
  static constexpr std::string_view kName = "local";
  std::string_view Name() const override { return kName; }
  Result<AnchorRecord> AnchorHead(const TreeHead& head) override;
  Result<AnchorStatus> Check(const AnchorRecord& record) override;

 private:
  crypto::Ed25519PublicKey fleet_key_;
  Clock& clock_;
};

}  // namespace vigie::ledger
