// Checks of section "Provisioning: registration" of spec/INVARIANTS.md.
//
// A rule's check is `CheckResult Check_<RULE_ID>(const RuleInfo&, EvidenceSource&, std::string_view
// site)` in this file, registered below with Register(). Until the capability it judges exists
// (the ledger (src/ledger), fleet manager (src/fleet) and package signing), a rule is registered
// with RegisterNotImplemented() and reports FAIL "not implemented" -- never PASS.

#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "base/encoding.h"
#include "compliance/registry.h"
#include "compliance/rules/families.h"
#include "crypto/sign.h"

namespace vigie::compliance {

namespace {

// PROV_023: every package recorded for the site (the signed header + manifest and the signature,
// as written by src/provision) verifies, with Ed25519, against the fleet's pinned signing key.
CheckResult Check_PROV_023(const RuleInfo&, EvidenceSource& evidence, std::string_view site) {
  auto fleet_key = evidence.FleetSigningKey();
  if (!fleet_key) {
    return NoEvidence("no fleet signing key is pinned in the store",
                      "provision a site (`vigie site provision`): the first run pins the fleet's "
                      "signing key");
  }
  auto packages = evidence.Packages(site);
  if (!packages || packages->empty()) {
    return NoEvidence(fmt::format("no package recorded for site {}", site),
                      fmt::format("provision the site with `vigie site provision {}`", site));
  }
  std::vector<std::string> good;
  std::vector<std::string> bad;
  for (const auto& p : *packages) {
    if (p.fleet_key != *fleet_key) {
      bad.push_back(fmt::format("{} names signer {}", p.package_id, HexEncode(p.fleet_key)));
      continue;
    }
    auto verified = crypto::VerifyEd25519(*fleet_key, p.signed_bytes, p.signature);
    if (!verified) {
      bad.push_back(fmt::format("{}: {}", p.package_id, verified.error().message));
    } else {
      good.push_back(p.package_id);
    }
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  };
  std::vector<EvidenceItem> items = {{"fleet_key", HexEncode(*fleet_key)},
                                     {"packages_verified", join(good)}};
  if (!bad.empty()) {
    items.push_back({"packages_failing", join(bad)});
    return Fail(fmt::format("package signature does not verify against the fleet key: {}",
                            join(bad)),
                fmt::format("withdraw the package(s) and re-provision site {} so that it gets "
                            "a package signed by the fleet key",
                            site),
                items);
  }
  return Pass(fmt::format("{} package(s) signed by the fleet key verify", good.size()), items);
}

}  // namespace

namespace {

// PROV_020: the site's latest provisioning event (ledger seq, from the index the anchoring run
// keeps in ledger_site_events) lies under an anchor recorded in ledger_anchors that is on a chain,
// whose transaction was found carrying exactly the root (state "confirmed", checked by
// src/ledger/ethereum_anchor.h), with at least the required confirmations. Earlier events are
// covered too: an anchored root covers every entry before its tree size. The local anchor (signed
// tree heads only) is reported truthfully as not anchored on a chain.
CheckResult Check_PROV_020(const RuleInfo&, EvidenceSource& evidence, std::string_view site) {
  const std::string configured = evidence.Config("ledger.anchor").value_or("");
  uint64_t required = 1;
  if (auto c = evidence.Config("ledger.ethereum.confirmations")) {
    try {
      required = std::max<uint64_t>(required, std::stoull(*c));
    } catch (const std::exception&) {
      // An unparsable value is the config loader's to reject; keep the floor of 1.
    }
  }
  auto ev = evidence.LedgerAnchor(site);
  if (!ev || !ev->event_seq) {
    return NoEvidence(
        fmt::format("no provisioning event of site {} in the ledger index (ledger_site_events)",
                    site),
        fmt::format("provision the site (`vigie site provision {}`), then run `vigie ledger "
                    "anchor`, which indexes the ledger and anchors it",
                    site));
  }
  std::vector<EvidenceItem> items = {{"event_seq", std::to_string(*ev->event_seq)},
                                     {"event_kind", ev->event_kind},
                                     {"ledger_anchor", configured.empty() ? "unset" : configured}};
  if (!ev->covering) {
    const std::string anchored =
        ev->latest ? std::to_string(ev->latest->tree_size) : std::string("none");
    items.push_back({"anchored_tree_size", anchored});
    return Fail(fmt::format("provisioning event {} ({}) is not under any anchored root: the last "
                            "anchored tree size is {}",
                            *ev->event_seq, ev->event_kind, anchored),
                "run `vigie ledger anchor` (the anchoring service does it periodically; see the "
                "ledger.anchor.overdue alert and ledger.anchor.failed logs for why it did not)",
                items);
  }
  const LedgerAnchorRowEvidence& a = *ev->covering;
  required = std::max(required, a.required_confirmations);
  items.insert(items.end(), {{"anchor", a.anchor},
                             {"tree_size", std::to_string(a.tree_size)},
                             {"root", a.root},
                             {"state", a.state},
                             {"checked_at", FormatRfc3339(a.checked_at)}});
  if (a.tx_hash.empty()) {
    return Fail(fmt::format("not anchored on a chain: the ledger uses the {} anchor (signed tree "
                            "heads only); configure ledger.anchor = \"ethereum\"",
                            a.anchor),
                "set ledger.anchor = \"ethereum\" with [ledger.ethereum] rpc_url, chain_id and "
                "key_file (a funded account), then run `vigie ledger anchor`",
                items);
  }
  items.insert(items.end(), {{"chain_id", a.chain_id},
                             {"tx_hash", a.tx_hash},
                             {"block_number", std::to_string(a.block_number)},
                             {"block_hash", a.block_hash},
                             {"confirmations", std::to_string(a.confirmations)},
                             {"required_confirmations", std::to_string(required)}});
  if (a.state == "mismatch" || a.state == "not_found") {
    return Fail(fmt::format("the anchor transaction {} on chain {} does not carry root {}: {}",
                            a.tx_hash, a.chain_id, a.root, a.detail),
                "run `vigie ledger anchor` to anchor the ledger again, and investigate: the "
                "anchor record or the chain disagrees with the ledger",
                items);
  }
  if (a.state != "confirmed" || a.confirmations < required) {
    return Fail(fmt::format("not enough confirmations: transaction {} has {} of {} required",
                            a.tx_hash, a.confirmations, required),
                "wait for more blocks; the anchoring service polls until the anchor is final "
                "(or run `vigie ledger anchor` again later)",
                items);
  }
  return Pass(fmt::format("provisioning event {} is under root {} (tree size {}) carried by "
                          "transaction {} in block {} of chain {}, {} confirmations (>= {})",
                          *ev->event_seq, a.root, a.tree_size, a.tx_hash, a.block_number,
                          a.chain_id, a.confirmations, required),
              items);
}

}  // namespace

namespace {

// PROV_021: registered with a package issued to the site, or not yet registered while its latest
// package is still valid (the registration grace period is the package lifetime).
CheckResult Check_PROV_021(const RuleInfo&, EvidenceSource& evidence, std::string_view site) {
  auto fleet = evidence.FleetSite(site);
  if (!fleet) {
    return NoEvidence(fmt::format("no fleet manager records for site {}", site),
                      "run the fleet manager (`vigie server`) with this store");
  }
  auto packages = evidence.Packages(site);
  if (fleet->registered_at) {
    std::vector<EvidenceItem> items = {{"registered_at", FormatRfc3339(*fleet->registered_at)},
                                       {"package_id", fleet->registered_package_id}};
    if (packages) {
      bool issued = std::any_of(packages->begin(), packages->end(), [&](const auto& p) {
        return p.package_id == fleet->registered_package_id;
      });
      if (!issued) {
        return Fail(fmt::format("site {} registered with package {}, which was not issued to it",
                                site, fleet->registered_package_id),
                    fmt::format("re-provision site {} and let its agent register with the new "
                                "package",
                                site),
                    items);
      }
    }
    return Pass(fmt::format("registered at {} with package {}",
                            FormatRfc3339(*fleet->registered_at), fleet->registered_package_id),
                items);
  }
  if (!packages || packages->empty()) {
    return NoEvidence(fmt::format("site {} is not registered and has no package", site),
                      fmt::format("provision the site with `vigie site provision {}`", site));
  }
  const PackageEvidence& latest = packages->back();
  std::vector<EvidenceItem> items = {{"registered", "no"},
                                     {"package_id", latest.package_id},
                                     {"package_expires_at", FormatRfc3339(latest.expires_at)}};
  if (evidence.Now() <= latest.expires_at) {
    return Pass(fmt::format("not registered yet, inside its registration grace period (package {} "
                            "valid until {}); the site is not active until it registers",
                            latest.package_id, FormatRfc3339(latest.expires_at)),
                items);
  }
  return Fail(fmt::format("site {} never registered and its package {} expired at {}", site,
                          latest.package_id, FormatRfc3339(latest.expires_at)),
              fmt::format("install the agent with a fresh package (`vigie site provision {}`); "
                          "it registers itself at first start",
                          site),
              items);
}

// PROV_022: each activation relied on a stored, passing healthcheck received inside the window
// before the activation.
CheckResult Check_PROV_022(const RuleInfo&, EvidenceSource& evidence, std::string_view site) {
  auto fleet = evidence.FleetSite(site);
  if (!fleet) {
    return NoEvidence(fmt::format("no fleet manager records for site {}", site),
                      "run the fleet manager (`vigie server`) with this store");
  }
  if (fleet->activations.empty()) {
    return NotApplicable(fmt::format("no licence activated on site {}", site));
  }
  int64_t window = 600;
  if (auto w = evidence.Config("fleet.license_health_window_seconds")) {
    try {
      window = std::stoll(*w);
    } catch (const std::exception&) {
    }
  }
  std::vector<std::string> bad;
  std::string used;
  for (const auto& a : fleet->activations) {
    const std::string at = FormatRfc3339(a.activated_at);
    const auto age = std::chrono::duration_cast<std::chrono::seconds>(a.activated_at -
                                                                       a.healthcheck_at)
                         .count();
    if (!a.healthcheck) {
      bad.push_back(fmt::format("activation at {} names healthcheck #{} which is not recorded", at,
                                a.healthcheck_id));
    } else if (!a.healthcheck->passed) {
      bad.push_back(fmt::format("activation at {} relied on failed healthcheck #{}", at,
                                a.healthcheck_id));
    } else if (a.healthcheck->received_at != a.healthcheck_at || age < 0 || age > window) {
      bad.push_back(fmt::format("activation at {}: healthcheck #{} is {} s before it (window {} s)",
                                at, a.healthcheck_id, age, window));
    } else {
      used += (used.empty() ? "" : ", ") + fmt::format("#{} ({} s before {})", a.healthcheck_id,
                                                        age, at);
    }
  }
  std::vector<EvidenceItem> items = {{"window_seconds", std::to_string(window)},
                                     {"activations", std::to_string(fleet->activations.size())},
                                     {"healthchecks_used", used}};
  if (!bad.empty()) {
    std::string joined;
    for (const auto& b : bad) joined += (joined.empty() ? "" : "; ") + b;
    items.push_back({"violations", joined});
    return Fail(joined,
                fmt::format("deactivate the licence of site {}, wait for a passing heartbeat "
                            "healthcheck and activate again (the fleet manager refuses otherwise)",
                            site),
                items);
  }
  return Pass(fmt::format("{} activation(s), each after a passing healthcheck within {} s: {}",
                          fleet->activations.size(), window, used),
              items);
}

}  // namespace

void RegisterProvRegistrationRules(RuleRegistry& registry) {
  // PROV_020: every provisioning event is included under an anchored root, and the on-chain
  // transaction carries that root.
  registry.Register("PROV_020", Check_PROV_020);

  // PROV_021: the site registered (site_registrations, written by the fleet manager when the
  // agent registers), or is still inside its grace period (its latest package has not expired).
  registry.Register("PROV_021", Check_PROV_021);

  // PROV_022: every licence activation names a stored healthcheck that passed, from that site,
  // within fleet.license_health_window_seconds before the activation.
  registry.Register("PROV_022", Check_PROV_022);

  // PROV_023: each package's Ed25519 signature verifies against the fleet key.
  registry.Register("PROV_023", Check_PROV_023);
}

}  // namespace vigie::compliance
