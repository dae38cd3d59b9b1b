#pragma once
// The healthcheck report the heartbeat benchmark sends (bench/heartbeat_load.cc) and pre-fills
// the history with (bench/heartbeat_setup.cc --history): what agent::HealthReportJson writes for
// a healthy host.

namespace vigie::bench {

inline constexpr const char* kHealthyReport =
    R"({"agent_version":"0.1.0","cpu":{"load_average":[0.42,0.37,0.31],"ok":true,)"
    R"("used_percent":7.5},"disk":{"ok":true,"paths":[{"path":"/","used_percent":41.2},)"
    R"({"path":"/var/lib/vigie","used_percent":12.8}]},"memory":{"ok":true,)"
    R"("used_percent":38.4},"services":{"vault-agent":{"ok":true},"vigie-agent":{"ok":true},)"
    R"("nginx":{"ok":true}}})";

}  // namespace vigie::bench
