#pragma once
// Host metrics and the health report an agent sends with each heartbeat (MAINT_001).
//
// Sources (Linux): /proc/meminfo (MemTotal, MemAvailable), /proc/stat (the aggregate "cpu" line;
// CPU % is the busy share of the jiffies elapsed between two samples), /proc/loadavg, and
// statvfs(3) of each configured path for disk usage. Files are read through an injectable
// FileReader and disks through a DiskStatter, so tests feed fixed /proc text.
//
// Health rule ("passed": the site is healthy enough to run), documented here and in the report:
//   - every service of the agent reports ok, and
//   - when a Vault is configured: its seal status is known, it is initialised and unsealed, and
//   - every monitored disk is below kDiskFailPercent (95 %) used, and
//   - memory is below kMemoryFailPercent (98 %) used.
// CPU load never fails the report (a busy site still runs); the capacity.* warning thresholds
// (MAINT_050..052) are evaluated by the fleet manager from the figures, not here.
//
// Thread-safety: the parse functions are pure; HostMetricsCollector is not thread-safe (one
// owner, e.g. the heartbeat loop).

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/env.h"
#include "base/error.h"

namespace vigie::agent {

inline constexpr double kDiskFailPercent = 95.0;
inline constexpr double kMemoryFailPercent = 98.0;

// Returns the whole content of a (pseudo-)file. Errors: kNotFound / kIo naming the path.
using FileReader = std::function<Result<std::string>(const std::string& path)>;
// The production reader (reads with std::ifstream: /proc files report size 0).
FileReader ProcFileReader();

struct DiskUsage {
  std::string path;
  double used_percent = 0;  // of the blocks available to the file system, root's reserve counted
  uint64_t total_bytes = 0;
  uint64_t available_bytes = 0;  // to unprivileged users
};
using DiskStatter = std::function<Result<DiskUsage>(const std::string& path)>;
// The production statter (statvfs). Errors: kIo naming the path and the OS error.
DiskStatter StatvfsDiskStatter();

struct CpuSample {
  uint64_t busy = 0;   // user+nice+system+irq+softirq+steal jiffies
  uint64_t total = 0;  // busy + idle + iowait
};

// Parse functions. Errors: kInvalidArgument naming the file and the missing/bad field.
Result<CpuSample> ParseProcStat(std::string_view text);
// Used % = 100 * (MemTotal - MemAvailable) / MemTotal.
Result<double> ParseMemInfoUsedPercent(std::string_view text);
Result<std::array<double, 3>> ParseLoadAvg(std::string_view text);
// Busy share of the jiffies between `before` and `after`, 0..100 (0 when no time elapsed or the
// counters went backwards).
double CpuPercentBetween(const CpuSample& before, const CpuSample& after);

struct HostSample {
  double memory_used_percent = 0;
  double cpu_percent = 0;  // since the previous sample (0 for the very first one)
  std::array<double, 3> load_average{};
  std::vector<DiskUsage> disks;
};

class HostMetricsCollector {
 public:
  // `disk_paths`: mount points to watch ("/" and the data directory, typically).
  HostMetricsCollector(FileReader reader, DiskStatter statter, std::vector<std::string> disk_paths,
                       std::string proc_root = "/proc");

  // Reads every source. A source that fails fails the sample (kIo / kInvalidArgument naming it).
  Result<HostSample> Sample();

 private:
  FileReader reader_;
  DiskStatter statter_;
  std::vector<std::string> disk_paths_;
  std::string proc_root_;
  std::optional<CpuSample> previous_cpu_;
};

struct ServiceHealth {
  std::string name;  // "admin_api", "fleet_link", ...
  bool ok = false;
  std::string detail;  // why not ok; "" when ok
};

// Vault's /v1/sys/seal-status, as far as the agent needs it.
struct VaultSealStatus {
  bool sealed = true;
  bool initialized = false;
  std::string type;  // "awskms", "shamir", ...
};

struct HealthReport {
  std::vector<DiskUsage> disks;
  double memory_used_percent = 0;
  double cpu_percent = 0;
  std::array<double, 3> load_average{};
  std::vector<ServiceHealth> services;
  bool vault_configured = false;
  std::optional<VaultSealStatus> vault;               // nullopt: not configured, or status unknown
  std::optional<WallTime> admin_password_changed_at;  // PROV_005
  std::string agent_version;
  bool passed = false;
  std::vector<std::string> failures;  // why passed is false, one sentence each
};

// Fills the figures from `sample`, then computes passed/failures by the rule above.
HealthReport BuildHealthReport(const HostSample& sample, std::vector<ServiceHealth> services,
                               bool vault_configured, std::optional<VaultSealStatus> vault,
                               std::optional<WallTime> admin_password_changed_at,
                               std::string agent_version);

// JSON, in the fleet manager's heartbeat format (src/fleet/health_report.h: each component an
// object with "ok"; unknown keys are ignored there) plus the figures:
//   {"agent_version", "disk":{"ok","paths":[{"path","used_percent"}],"detail"?},
//    "memory":{"ok","used_percent"}, "cpu":{"ok":true,"used_percent","load_average":[3]},
//    "services":{"<name>":{"ok","detail"?}}, "vault":{"ok","sealed","initialized","type",
//    "detail"?}|null, "passed", "failures":[..], "admin_password_changed_at":RFC3339|null}
// "vault" is null when no Vault is configured; when configured but unreachable it is
// {"ok":false,"sealed":true,"initialized":false,"detail":"seal status unknown"} (fail closed).
std::string HealthReportJson(const HealthReport& report);

// Parses Vault's seal-status body. Errors: kInvalidArgument naming the missing field.
Result<VaultSealStatus> ParseVaultSealStatus(std::string_view json);

}  // namespace vigie::agent
