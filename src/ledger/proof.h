#pragma once
// Site proofs (PROV_020, `vigie ledger prove` / `vigie ledger check-proof`): a self-contained
// JSON document proving that a site's provisioning events are in the ledger under a signed tree
// head whose root is anchored on a chain. Format "vigie-ledger-proof/1", documented field by
// field in docs/LEDGER_PROOF.md.
//
// What is proven: the site's provisioning events (entries of that site whose kind starts with
// kProvisioningKindPrefix, "site.provision"), each with its canonical bytes and an RFC 9162
// inclusion path to the root of the chosen tree head; that head with its fleet-key signature;
// and the anchor record (chain id, transaction hash, block number and hash) of that head.
// The head chosen is that of the largest anchor mined on a chain; without one, the latest signed
// head ("anchored": false, and the local anchor record if there is one). Events after the
// chosen head are listed in "unanchored" (not proven).
//
// Checking needs only the document and the fleet public key; a node, when given, is asked for
// the transaction by hash (its input must equal the root) and its confirmations.
//
// Thread-safety: stateless functions; the Ledger and EthRpcClient are as thread-safe as they are.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "chain/rpc.h"
#include "crypto/sign.h"
#include "ledger/anchor.h"
#include "ledger/ledger.h"

namespace vigie::ledger {

inline constexpr std::string_view kProofFormat = "vigie-ledger-proof/1";
// Ledger entry kinds that are provisioning events (PROV_020): "site.provisioned",
// "site.provision_failed" (src/provision). compliance::StoreEvidence uses the same prefix.
inline constexpr std::string_view kProvisioningKindPrefix = "site.provision";

// Builds the proof of `site` from `ledger` (reads every entry once: O(ledger size) reads).
// Errors: kNotFound (no provisioning event of that site); kFailedPrecondition (none of its
// events is under a signed tree head yet: run `vigie ledger anchor`); the ledger's errors.
Result<std::string> BuildSiteProofJson(Ledger& ledger, std::string_view site);

struct ProofCheck {
  std::string site;
  uint64_t entries = 0;              // provisioning entries proven (leaf + inclusion verified)
  std::vector<uint64_t> unanchored;  // listed as not under the head (not proven)
  TreeHead head;                     // verified under the fleet key
  bool anchored = false;             // the document claims an on-chain anchor
  std::optional<AnchorRecord> anchor;
  std::optional<AnchorStatus> chain;  // what the node said (only when a node was given)
};

// Verifies a proof document. Offline: each entry's bytes hash to its leaf hash, decode to an
// entry of the document's site with the stated seq and kind, and its inclusion path leads to the
// head's root; the head's signature verifies under `fleet_key`; the anchor record names the same
// head. With `node` (may be null) and an on-chain anchor: CheckEthereumRecord with
// `required_confirmations` fills ProofCheck::chain (a mismatch there is not an error: inspect
// chain->state).
// SECURITY: `json_text` is untrusted; every field is validated.
// Errors: kInvalidArgument (not a proof document, a field missing or malformed: named);
// kIntegrity (a verification failed: the entry or the head at fault is named); the node's errors
// (kUnavailable, ...) when it cannot be asked.
Result<ProofCheck> CheckProofJson(std::string_view json_text,
                                  const crypto::Ed25519PublicKey& fleet_key,
                                  chain::EthRpcClient* node, uint64_t required_confirmations = 1);

}  // namespace vigie::ledger
