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

// The site's last heartbeat: its newest healthcheck row, or its heartbeats_last record when that
// is newer or when the rows aged out of the fleet manager's retention.
std::optional<WallTime> LastHeartbeat(const FleetSiteEvidence& fleet) {
  std::optional<WallTime> last = fleet.last_heartbeat_at;
  if (!fleet.healthchecks.empty() && (!last || fleet.healthchecks.back().received_at > *last)) {
    last = fleet.healthchecks.back().received_at;
  }
  return last;
}

// MAINT_001: from the healthchecks the fleet manager stores for each accepted heartbeat. A
// silent site fails with whatever is left of its rows (they age out after
// fleet.healthcheck_retention_minutes; its last heartbeat stays in heartbeats_last).
CheckResult Check_MAINT_001(const RuleInfo&, EvidenceSource& evidence, std::string_view site) {
  auto fleet = evidence.FleetSite(site);
  const int64_t alert_after = ConfigSeconds(evidence, "fleet.heartbeat_alert_after_seconds", 120);
  const std::optional<WallTime> last = fleet ? LastHeartbeat(*fleet) : std::nullopt;
  const int64_t silence = last ? Seconds(evidence.Now(), *last) : 0;
  const size_t recorded = fleet ? fleet->healthchecks.size() : 0;
  if (recorded < 2 && !(last && silence > alert_after)) {
    return NoEvidence(fmt::format("fewer than two heartbeats recorded for site {}", site),
                      fmt::format("start the agent of site {} (it registers and sends a "
                                  "heartbeat every 60 s)",
                                  site));
  }
  const int64_t limit = 60 + kHeartbeatToleranceSeconds;
  int64_t max_interval = 0;
  size_t examined = 0;
  std::vector<EvidenceItem> items = {{"last_heartbeat", FormatRfc3339(*last)},
                                     {"seconds_since_last", std::to_string(silence)}};
  if (recorded >= 2) {
    const auto& hcs = fleet->healthchecks;
    const size_t first = recorded > kRecentIntervals + 1 ? recorded - kRecentIntervals - 1 : 0;
    for (size_t i = first + 1; i < recorded; ++i) {
      max_interval = std::max(max_interval, Seconds(hcs[i].received_at, hcs[i - 1].received_at));
    }
    examined = recorded - 1 - first;
    items.push_back({"intervals_examined", std::to_string(examined)});
    items.push_back({"max_interval_seconds", std::to_string(max_interval)});
    items.push_back({"limit_seconds", std::to_string(limit)});
  } else {
    items.push_back({"healthchecks_recorded", std::to_string(recorded)});
  }
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
  return Pass(
      fmt::format("last {} heartbeat intervals <= {} s (max {} s)", examined, limit, max_interval),
      items);
}

// MAINT_002: every gap > threshold between recorded heartbeats has a MAINT_002 alert that
// started inside the gap and was resolved; a current silence > threshold has a firing alert
// (also once the silent site's rows aged out: its last heartbeat is in heartbeats_last).
CheckResult Check_MAINT_002(const RuleInfo&, EvidenceSource& evidence, std::string_view site) {
  auto fleet = evidence.FleetSite(site);
  const std::optional<WallTime> last = fleet ? LastHeartbeat(*fleet) : std::nullopt;
  if (!last) {
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
  const int64_t silence = Seconds(evidence.Now(), *last);
  if (silence > threshold) {
    ++gaps;
    if (!has_alert(*last, std::nullopt, /*resolved=*/false)) {
      missed.push_back(fmt::format("current silence of {} s since {} has no firing alert", silence,
                                   FormatRfc3339(*last)));
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
                "check that the fleet manager's liveness tracker runs (vigie server) and "
                "its alerts table is writable",
                items);
  }
  return Pass(fmt::format("{} gap(s) > {} s among {} heartbeats, each with its critical alert",
                          gaps, threshold, hcs.size()),
              items);
}

// MAINT_003: how old a /metrics self-check may be to count as proof that the endpoint answers
// and parses (the fleet manager re-checks every minute, agents with every heartbeat).
constexpr int64_t kMetricsSelfCheckMaxAgeSeconds = 600;

// MAINT_003: the fleet manager's latest /metrics self-check (metrics_selfcheck) is recent and
// ok, and the site's agent reported an ok self-check of its own /metrics with its latest
// heartbeat, recent too. Both parse and lint the body as promtool would.
CheckResult Check_MAINT_003(const RuleInfo&, EvidenceSource& evidence, std::string_view site) {
  const int64_t max_age = kMetricsSelfCheckMaxAgeSeconds;
  auto fleet = evidence.MetricsSelfCheckRecord("fleet");
  if (!fleet) {
    return NoEvidence("the fleet manager recorded no self-check of its /metrics",
                      "start the fleet manager (vigie server): it checks its own /metrics at "
                      "start and every minute");
  }
  const int64_t fleet_age = Seconds(evidence.Now(), fleet->checked_at);
  std::vector<EvidenceItem> items = {
      {"fleet_metrics_checked_at", FormatRfc3339(fleet->checked_at)},
      {"fleet_metrics_age_seconds", std::to_string(fleet_age)},
      {"fleet_metrics_families", std::to_string(fleet->families)},
      {"fleet_metrics_samples", std::to_string(fleet->samples)},
      {"max_age_seconds", std::to_string(max_age)}};
  if (!fleet->ok) {
    items.push_back({"fleet_metrics_error", fleet->error});
    return Fail(fmt::format("the fleet manager's /metrics fails its self-check ({} s ago): {}",
                            fleet_age, fleet->error),
                "fix the fleet manager's exporter (the error names the line or the metric "
                "family); check with: curl -s --cacert <fleet cert> https://<fleet>/metrics | "
                "promtool check metrics",
                items);
  }
  if (fleet_age > max_age) {
    return Fail(fmt::format("the fleet manager's last /metrics self-check is {} s old (> {} s)",
                            fleet_age, max_age),
                "check that the fleet manager (vigie server) is running: it re-checks its "
                "/metrics every minute",
                items);
  }
  auto agent = evidence.AgentMetricsReport(site);
  if (!agent) {
    return NoEvidence(fmt::format("no heartbeat recorded for site {}, so no report of its "
                                  "agent's /metrics",
                                  site),
                      fmt::format("start the agent of site {}", site));
  }
  const int64_t agent_age = Seconds(evidence.Now(), agent->received_at);
  items.push_back({"agent_metrics_reported_at", FormatRfc3339(agent->received_at)});
  items.push_back({"agent_metrics_age_seconds", std::to_string(agent_age)});
  if (!agent->reported) {
    return Fail(fmt::format("no evidence: the latest heartbeat of site {} ({} s ago) carries no "
                            "self-check of the agent's /metrics",
                            site, agent_age),
                fmt::format("upgrade the agent of site {} to a version that reports its "
                            "/metrics self-check in its heartbeats",
                            site),
                items);
  }
  items.push_back({"agent_metrics_families", std::to_string(agent->families)});
  items.push_back({"agent_metrics_samples", std::to_string(agent->samples)});
  if (!agent->ok) {
    items.push_back({"agent_metrics_error", agent->error});
    return Fail(fmt::format("the agent of site {} reports that its /metrics fails its "
                            "self-check ({} s ago): {}",
                            site, agent_age, agent->error),
                fmt::format("fix the agent's exporter on site {} (the error names the line or "
                            "the metric family); check with: curl -s "
                            "http://127.0.0.1:8444/metrics | promtool check metrics",
                            site),
                items);
  }
  if (agent_age > max_age) {
    return Fail(fmt::format("the latest /metrics self-check of the agent of site {} is {} s old "
                            "(> {} s): its last heartbeat",
                            site, agent_age, max_age),
                fmt::format("check the agent of site {} and its path to the fleet manager "
                            "(MAINT_001)",
                            site),
                items);
  }
  return Pass(fmt::format("fleet manager /metrics: {} families, {} samples, parsed {} s ago; "
                          "agent of site {}: {} families, {} samples, parsed {} s ago",
                          fleet->families, fleet->samples, fleet_age, site, agent->families,
                          agent->samples, agent_age),
              items);
}

}  // namespace

void RegisterMaintMonitoringRules(RuleRegistry& registry) {
  // MAINT_001: the site is live and its last 10 heartbeat intervals are <= 60 s + 15 s.
  registry.Register("MAINT_001", Check_MAINT_001);

  // MAINT_002: every recorded heartbeat gap > 120 s (and the current silence) has its
  // critical MAINT_002 alert; none was missed.
  registry.Register("MAINT_002", Check_MAINT_002);

  // MAINT_003: the fleet manager's and the site agent's /metrics self-checks (parse + promtool
  // lint) are ok and at most 10 min old.
  registry.Register("MAINT_003", Check_MAINT_003);

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
