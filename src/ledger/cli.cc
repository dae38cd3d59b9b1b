#include "ledger/cli.h"

#include <fmt/format.h>

#include "base/encoding.h"
#include "chain/eth_key.h"
#include "http/curl_client.h"
#include "ledger/anchor_service.h"
#include "ledger/anchor_store.h"
#include "ledger/ethereum_anchor.h"
#include "ledger/ledger.h"
#include "ledger/proof.h"
#include "ledger/verify.h"

namespace vigie::ledger {

Result<ConfiguredAnchor> MakeAnchorFromConfig(const config::LedgerConfig& config,
                                              const crypto::Ed25519PublicKey& fleet_key,
                                              const Env& env) {
  ConfiguredAnchor out;
  const config::EthereumConfig& eth = config.ethereum;
  out.scheduler.interval = std::chrono::seconds(eth.anchor_interval_seconds);
  out.scheduler.alert_after = std::chrono::seconds(eth.alert_after_seconds);
  if (config.anchor == config::AnchorBackend::kLocal) {
    out.anchor = std::make_unique<LocalAnchor>(fleet_key, *env.clock);
    out.scheduler.required_confirmations = 0;
    return out;
  }
  VIGIE_ASSIGN_OR_RETURN(chain::EthKey key, chain::LoadEthKeyFile(eth.key_file, *env.fs));
  out.http = std::make_unique<http::CurlClient>();
  out.rpc =
      std::make_unique<chain::EthRpcClient>(*out.http, chain::EthRpcOptions{.url = eth.rpc_url});
  EthereumAnchorOptions options;
  options.chain_id = static_cast<uint64_t>(eth.chain_id);
  options.confirmations = static_cast<uint64_t>(eth.confirmations);
  out.scheduler.required_confirmations = options.confirmations;
  out.anchor =
      std::make_unique<EthereumAnchor>(*out.rpc, std::move(key), fleet_key, *env.clock, options);
  return out;
}

int RunLedgerProve(const std::string& ledger_dir, const std::string& site, std::FILE* out) {
  auto ledger = Ledger::Open(ledger_dir, RealEnv(), nullptr);
  if (!ledger) {
    fmt::print(out, "ledger prove: {}\n", ledger.error().ToString());
    return 2;
  }
  auto proof = BuildSiteProofJson(**ledger, site);
  if (!proof) {
    fmt::print(out, "ledger prove: {}\n", proof.error().ToString());
    return 2;
  }
  fmt::print(out, "{}", *proof);
  return 0;
}

int RunLedgerCheckProof(const std::string& proof_file, const std::string& fleet_key_file,
                        const std::string& rpc_url, uint64_t required_confirmations,
                        std::FILE* out) {
  auto key = ReadFleetPublicKey(fleet_key_file);
  if (!key) {
    fmt::print(out, "ledger check-proof: {}\n", key.error().ToString());
    return 2;
  }
  auto text = RealFileSystem()->ReadFile(proof_file);
  if (!text) {
    fmt::print(out, "ledger check-proof: {}\n", text.error().ToString());
    return 2;
  }
  std::unique_ptr<http::CurlClient> http;
  std::unique_ptr<chain::EthRpcClient> rpc;
  if (!rpc_url.empty()) {
    http = std::make_unique<http::CurlClient>();
    rpc = std::make_unique<chain::EthRpcClient>(*http, chain::EthRpcOptions{.url = rpc_url});
  }
  auto check = CheckProofJson(*text, *key, rpc.get(), required_confirmations);
  if (!check) {
    fmt::print(out, "ledger check-proof {}: {}: {}\n", proof_file,
               check.error().code == ErrorCode::kIntegrity ? "FAILED" : "ERROR",
               check.error().ToString());
    return check.error().code == ErrorCode::kIntegrity ? 1 : 2;
  }
  fmt::print(out,
             "ledger check-proof {}: site '{}': {} provisioning event(s) included under the tree "
             "head of size {} (root {}), signed by the fleet key\n",
             proof_file, check->site, check->entries, check->head.tree_size,
             HexEncode(check->head.root));
  if (!check->unanchored.empty()) {
    fmt::print(out, "  {} later event(s) not under this head (not proven)\n",
               check->unanchored.size());
  }
  if (!check->anchor) {
    fmt::print(out, "  NOT ANCHORED: no anchor record for this head\n");
    return 1;
  }
  const AnchorRecord& a = *check->anchor;
  if (!a.on_chain()) {
    fmt::print(out, "  NOT ANCHORED on a chain: {} anchor (signed tree head only)\n", a.anchor);
    return 1;
  }
  fmt::print(out, "  anchor: chain {} transaction {} block {} ({})\n", a.chain_id, a.tx_hash,
             a.block_number, a.block_hash);
  if (!check->chain) {
    fmt::print(out, "  on-chain check skipped (no --rpc-url): offline verification only\n");
    return 0;
  }
  const AnchorStatus& s = *check->chain;
  fmt::print(out, "  node: {}: {}\n", AnchorStateName(s.state), s.detail);
  return s.state == AnchorStatus::State::kConfirmed ? 0 : 1;
}

int RunLedgerAnchor(const std::string& ledger_dir, const crypto::SigningKey& fleet_key,
                    const config::LedgerConfig& config, store::Store* store, Duration wait,
                    const Env& env, std::FILE* out) {
  auto configured = MakeAnchorFromConfig(config, fleet_key.public_key(), env);
  if (!configured) {
    fmt::print(out, "ledger anchor: {}\n", configured.error().ToString());
    return 2;
  }
  auto ledger = Ledger::Open(ledger_dir, env, &fleet_key, LedgerOptionsFromConfig(config));
  if (!ledger) {
    fmt::print(out, "ledger anchor: {}\n", ledger.error().ToString());
    return 2;
  }
  std::unique_ptr<StoreAnchorLog> log;
  if (store != nullptr) log = std::make_unique<StoreAnchorLog>(*store, *env.clock);
  AnchorScheduler scheduler(**ledger, *configured->anchor, *env.clock, configured->scheduler,
                            nullptr, log.get());
  const MonoTime deadline = env.clock->Monotonic() + wait;
  auto report = scheduler.RunOnce();
  while (report && scheduler.pending() && env.clock->Monotonic() < deadline) {
    env.clock->SleepFor(std::chrono::seconds(2));
    report = scheduler.RunOnce();
  }
  if (!report) {
    fmt::print(out, "ledger anchor: {}\n", report.error().ToString());
    return 2;
  }
  if (report->record && report->status) {
    const AnchorRecord& r = *report->record;
    fmt::print(out, "ledger anchor: {} anchor of tree size {} (root {}): {}: {}\n", r.anchor,
               r.head.tree_size, HexEncode(r.head.root), AnchorStateName(report->status->state),
               report->status->detail);
  }
  fmt::print(out, "ledger anchor: {} of {} entries under a final anchor{}\n", report->anchored_size,
             report->ledger_size,
             scheduler.pending() ? "; one anchor awaits confirmations (run again later)" : "");
  return 0;
}

}  // namespace vigie::ledger
