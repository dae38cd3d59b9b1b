// Checks of section "Maintenance: monitoring and alerting (capacity rules MAINT_050-054 included)"
// of spec/INVARIANTS.md.
//
// A rule's check is `CheckResult Check_<RULE_ID>(const RuleInfo&, EvidenceSource&, std::string_view
// site)` in this file, registered below with Register(). Until the capability it judges exists
// (the fleet manager heartbeats, metrics and alerting (src/fleet, src/alerting)), a rule is
// registered with RegisterNotImplemented() and reports FAIL "not implemented" -- never PASS.

#include <fmt/format.h>

#include <chrono>
#include <string>

#include "compliance/registry.h"
#include "compliance/rules/families.h"

namespace vigie::compliance {

namespace {

// Network and scheduling slack over the 60 s heartbeat interval (MAINT_001).
constexpr int64_t kHeartbeatToleranceSeconds = 15;
constexpr size_t kRecentIntervals = 10;

int64_t ConfigSeconds(EvidenceSource& evidence, std::string_view key, int64_t fallback) {
  if (auto v = evidence.Config(key)) {
    try {
      return std::stoll(*v);
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

int64_t Seconds(WallTime later, WallTime earlier) {
  return std::chrono::duration_cast<std::chrono::seconds>(later - earlier).count();
}

// MAINT_001: from the healthchecks the fleet manager stores for each accepted heartbeat.
CheckResult Check_MAINT_001(const RuleInfo&, EvidenceSource& evidence, std::string_view site) {
  auto fleet = evidence.FleetSite(site);
  if (!fleet || fleet->healthchecks.size() < 2) {
    return NoEvidence(fmt::format("fewer than two heartbeats recorded for site {}", site),
                      fmt::format("start the agent of site {} (it registers and sends a "
                                  "heartbeat every 60 s)",
                                  site));
  }
  const auto& hcs = fleet->healthchecks;
  const int64_t limit = 60 + kHeartbeatToleranceSeconds;
  const int64_t alert_after = ConfigSeconds(evidence, "fleet.heartbeat_alert_after_seconds", 120);
  const int64_t silence = Seconds(evidence.Now(), hcs.back().received_at);
  int64_t max_interval = 0;
  const size_t first = hcs.size() > kRecentIntervals + 1 ? hcs.size() - kRecentIntervals - 1 : 0;
  for (size_t i = first + 1; i < hcs.size(); ++i) {
    max_interval = std::max(max_interval, Seconds(hcs[i].received_at, hcs[i - 1].received_at));
  }
  std::vector<EvidenceItem> items = {
      {"last_heartbeat", FormatRfc3339(hcs.back().received_at)},
      {"seconds_since_last", std::to_string(silence)},
      {"intervals_examined", std::to_string(hcs.size() - 1 - first)},
      {"max_interval_seconds", std::to_string(max_interval)},
      {"limit_seconds", std::to_string(limit)}};
  if (silence > alert_after) {
    return Fail(fmt::format("site {} is not live: last heartbeat {} s ago", site, silence),
                fmt::format("check the agent of site {} and its network path to the fleet "
                            "manager",
                            site),
                items);
  }
  if (max_interval > limit) {
    return Fail(fmt::format("a recent heartbeat interval of site {} is {} s (> {} s)", site,
                            max_interval, limit),
                "check agent.heartbeat_interval_seconds (<= 60) and the agent's host load",
                items);
  }
  return Pass(fmt::format("last {} heartbeat intervals <= {} s (max {} s)",
                          hcs.size() - 1 - first, limit, max_interval),
              items);
}

// MAINT_002: every gap > threshold between recorded heartbeats has a MAINT_002 alert that
// started inside the gap and was resolved; a current silence > threshold has a firing alert.
CheckResult Check_MAINT_002(const RuleInfo&, EvidenceSource& evidence, std::string_view site) {
  auto fleet = evidence.FleetSite(site);
  if (!fleet || fleet->healthchecks.empty()) {
    return NoEvidence(fmt::format("no heartbeat recorded for site {}", site),
                      fmt::format("start the agent of site {}", site));
  }
  const int64_t threshold = ConfigSeconds(evidence, "fleet.heartbeat_alert_after_seconds", 120);
  const auto& hcs = fleet->healthchecks;
  auto has_alert = [&](WallTime from, std::optional<WallTime> to, bool resolved) {
    for (const auto& a : fleet->alerts) {
      if (a.rule != "MAINT_002" || a.severity != "critical") continue;
      if (Seconds(a.started_at, from) < threshold) continue;
      if (to && a.started_at > *to) continue;
      if (resolved ? !a.resolved_at.has_value() : a.state != "firing") continue;
      return true;
    }
    return false;
  };
  std::vector<std::string> missed;
  int gaps = 0;
  for (size_t i = 1; i < hcs.size(); ++i) {
    const int64_t gap = Seconds(hcs[i].received_at, hcs[i - 1].received_at);
    if (gap <= threshold) continue;
    ++gaps;
    if (!has_alert(hcs[i - 1].received_at, hcs[i].received_at, /*resolved=*/true)) {
      missed.push_back(fmt::format("{} s gap after {}", gap,
                                   FormatRfc3339(hcs[i - 1].received_at)));
    }
  }
  const int64_t silence = Seconds(evidence.Now(), hcs.back().received_at);
  if (silence > threshold) {
    ++gaps;
    if (!has_alert(hcs.back().received_at, std::nullopt, /*resolved=*/false)) {
      missed.push_back(fmt::format("current silence of {} s since {} has no firing alert", silence,
                                   FormatRfc3339(hcs.back().received_at)));
    }
  }
  std::vector<EvidenceItem> items = {{"threshold_seconds", std::to_string(threshold)},
                                     {"heartbeats_examined", std::to_string(hcs.size())},
                                     {"gaps_over_threshold", std::to_string(gaps)},
                                     {"alerts_recorded", std::to_string(fleet->alerts.size())}};
  if (!missed.empty()) {
    std::string joined;
    for (const auto& m : missed) joined += (joined.empty() ? "" : "; ") + m;
    items.push_back({"missed", joined});
    return Fail(fmt::format("heartbeat gap(s) without their critical alert: {}", joined),
                "check that the fleet manager's liveness tracker runs (vigie fleet serve) and "
                "its alerts table is writable",
                items);
  }
  return Pass(fmt::format("{} gap(s) > {} s among {} heartbeats, each with its critical alert",
                          gaps, threshold, hcs.size()),
              items);
}

}  // namespace

void RegisterMaintMonitoringRules(RuleRegistry& registry) {
  // MAINT_001: the site is live and its last 10 heartbeat intervals are <= 60 s + 15 s.
  registry.Register("MAINT_001", Check_MAINT_001);

  // MAINT_002: every recorded heartbeat gap > 120 s (and the current silence) has its
  // critical MAINT_002 alert; none was missed.
  registry.Register("MAINT_002", Check_MAINT_002);

  // MAINT_003 will prove: the fleet manager's and the agent's /metrics answer and parse.
  registry.RegisterNotImplemented("MAINT_003");

  // MAINT_004 will prove: dashboards are provisioned and every query's metric exists. (fleet rule)
  registry.RegisterNotImplemented("MAINT_004");

  // MAINT_005 will prove: routes send critical alerts to email and SMS; the last test delivery
  // succeeded. (fleet rule)
  registry.RegisterNotImplemented("MAINT_005");

  // MAINT_050 will prove: the disk > 80% WARNING rule is active with that threshold. (fleet rule)
  registry.RegisterNotImplemented("MAINT_050");

  // MAINT_051 will prove: the RAM > 90% WARNING rule is active with that threshold. (fleet rule)
  registry.RegisterNotImplemented("MAINT_051");

  // MAINT_052 will prove: the CPU > 80% for 5 min WARNING rule is active with those values. (fleet
  // rule)
  registry.RegisterNotImplemented("MAINT_052");

  // MAINT_053 will prove: the API latency p95 > 500 ms WARNING rule is active with that threshold.
  // (fleet rule)
  registry.RegisterNotImplemented("MAINT_053");

  // MAINT_054 will prove: scaling signals configured where the infrastructure supports it,
  // NOT_APPLICABLE with the reason where not.
  registry.RegisterNotImplemented("MAINT_054");
}

}  // namespace vigie::compliance
