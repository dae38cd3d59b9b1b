#pragma once
// `vigie ledger prove | check-proof | anchor` as plain functions the CLI (src/cli) wires to its
// flags (`vigie ledger verify` is RunLedgerVerify in verify.h), plus MakeAnchorFromConfig, the
// one place that turns [ledger] configuration into an Anchor (for the CLI and the daemon).
//
// Exit codes: 0 success; 1 the verification ran and failed (tampering, root not on chain, not
// enough confirmations); 2 it could not run (the error is printed).
// SECURITY: nothing printed holds a secret; the anchoring key stays in its EthKey.

#include <cstdio>
#include <memory>
#include <string>

#include "base/env.h"
#include "chain/rpc.h"
#include "config/config.h"
#include "crypto/sign.h"
#include "http/client.h"
#include "ledger/anchor.h"
#include "ledger/anchor_scheduler.h"
#include "store/store.h"

namespace vigie::ledger {

// An Anchor with what it needs (HTTP client and RPC client for "ethereum").
struct ConfiguredAnchor {
  std::unique_ptr<http::HttpClient> http;
  std::unique_ptr<chain::EthRpcClient> rpc;
  std::unique_ptr<Anchor> anchor;
  AnchorSchedulerOptions scheduler;  // interval, alert_after, required confirmations from config
};

// "local": LocalAnchor. "ethereum": EthereumAnchor over a CurlClient to rpc_url, with the key
// read from key_file (which must be mode 0600 or stricter). REQUIRES: env.clock and env.fs set.
// Errors: the key file's (kNotFound, kPermissionDenied, kInvalidArgument naming the path).
Result<ConfiguredAnchor> MakeAnchorFromConfig(const config::LedgerConfig& config,
                                              const crypto::Ed25519PublicKey& fleet_key,
                                              const Env& env);

// `vigie ledger prove <site>`: prints the site's proof (proof.h) as JSON to `out`. Opens the
// ledger read-only; works while the server (or a provisioning run) has it open too.
int RunLedgerProve(const std::string& ledger_dir, const std::string& site, std::FILE* out);

// `vigie ledger check-proof FILE [--rpc-url URL]`: verifies the proof offline against the fleet
// public key (PEM or hex file, see ReadFleetPublicKey) and, when `rpc_url` is not empty, asks that
// node for the anchor transaction (input == root, block, `required_confirmations`).
int RunLedgerCheckProof(const std::string& proof_file, const std::string& fleet_key_file,
                        const std::string& rpc_url, uint64_t required_confirmations,
                        std::FILE* out);

// `vigie ledger anchor`: one anchoring run now (AnchorScheduler::RunOnce) with the configured
// anchor, recording statuses in `store` when not null; then, while the anchor awaits
// confirmations and `wait` has not elapsed, polls every few seconds of env.clock. Prints the
// outcome. `fleet_key` signs the tree head. Works while `vigie server` anchors the same ledger
// (its AnchorService adopts what this records at its next run). Exit 0 when the ledger is fully
// anchored or an anchor was sent and awaits confirmations (printed); 2 on error.
int RunLedgerAnchor(const std::string& ledger_dir, const crypto::SigningKey& fleet_key,
                    const config::LedgerConfig& config, store::Store* store, Duration wait,
                    const Env& env, std::FILE* out);

}  // namespace vigie::ledger
