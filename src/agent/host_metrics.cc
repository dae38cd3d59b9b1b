#include "agent/host_metrics.h"

#include <fmt/format.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace vigie::agent {

FileReader ProcFileReader() {
  return [](const std::string& path) -> Result<std::string> {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return MakeError(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                       fmt::format("cannot read {}: {}", path, std::strerror(errno)));
    }
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  };
}

DiskStatter StatvfsDiskStatter() {
  return [](const std::string& path) -> Result<DiskUsage> {
    struct statvfs st {};
    if (::statvfs(path.c_str(), &st) != 0) {
      return MakeError(ErrorCode::kIo,
                       fmt::format("statvfs {} failed: {}", path, std::strerror(errno)));
    }
    DiskUsage usage;
    usage.path = path;
    uint64_t frsize = st.f_frsize ? st.f_frsize : st.f_bsize;
    usage.total_bytes = static_cast<uint64_t>(st.f_blocks) * frsize;
    usage.available_bytes = static_cast<uint64_t>(st.f_bavail) * frsize;
    // As df(1): used / (used + available to users), so root's reserve counts as unavailable.
    uint64_t used = static_cast<uint64_t>(st.f_blocks - st.f_bfree);
    uint64_t denom = used + static_cast<uint64_t>(st.f_bavail);
    usage.used_percent = denom == 0 ? 0.0 : 100.0 * static_cast<double>(used) / denom;
    return usage;
  };
}

Result<CpuSample> ParseProcStat(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("cpu ", 0) != 0) continue;
    std::istringstream fields(line.substr(4));
    // user nice system idle iowait irq softirq steal (guest time is already inside user/nice).
    uint64_t v[8] = {};
    int n = 0;
    while (n < 8 && fields >> v[n]) ++n;
    if (n < 4) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "/proc/stat: the \"cpu\" line has fewer than 4 counters");
    }
    CpuSample s;
    uint64_t idle = v[3] + v[4];
    s.busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    s.total = s.busy + idle;
    return s;
  }
  return MakeError(ErrorCode::kInvalidArgument, "/proc/stat: no aggregate \"cpu\" line");
}

Result<double> ParseMemInfoUsedPercent(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string key;
  uint64_t value = 0;
  std::optional<uint64_t> total, available;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    if (!(fields >> key >> value)) continue;
    if (key == "MemTotal:") total = value;
    if (key == "MemAvailable:") available = value;
  }
  if (!total || *total == 0) {
    return MakeError(ErrorCode::kInvalidArgument, "/proc/meminfo: MemTotal missing or zero");
  }
  if (!available) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "/proc/meminfo: MemAvailable missing (Linux >= 3.14 required)");
  }
  uint64_t avail = std::min(*available, *total);
  return 100.0 * static_cast<double>(*total - avail) / static_cast<double>(*total);
}

Result<std::array<double, 3>> ParseLoadAvg(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::array<double, 3> out{};
  if (!(in >> out[0] >> out[1] >> out[2])) {
    return MakeError(ErrorCode::kInvalidArgument, "/proc/loadavg: expected three load averages");
  }
  return out;
}

double CpuPercentBetween(const CpuSample& before, const CpuSample& after) {
  if (after.total <= before.total || after.busy < before.busy) return 0.0;
  double busy = static_cast<double>(after.busy - before.busy);
  double total = static_cast<double>(after.total - before.total);
  return std::min(100.0, 100.0 * busy / total);
}

HostMetricsCollector::HostMetricsCollector(FileReader reader, DiskStatter statter,
                                           std::vector<std::string> disk_paths,
                                           std::string proc_root)
    : reader_(std::move(reader)),
      statter_(std::move(statter)),
      disk_paths_(std::move(disk_paths)),
      proc_root_(std::move(proc_root)) {}

Result<HostSample> HostMetricsCollector::Sample() {
  HostSample sample;
  VIGIE_ASSIGN_OR_RETURN(std::string meminfo, reader_(proc_root_ + "/meminfo"));
  VIGIE_ASSIGN_OR_RETURN(sample.memory_used_percent, ParseMemInfoUsedPercent(meminfo));
  VIGIE_ASSIGN_OR_RETURN(std::string stat, reader_(proc_root_ + "/stat"));
  VIGIE_ASSIGN_OR_RETURN(CpuSample cpu, ParseProcStat(stat));
  sample.cpu_percent = previous_cpu_ ? CpuPercentBetween(*previous_cpu_, cpu) : 0.0;
  previous_cpu_ = cpu;
  VIGIE_ASSIGN_OR_RETURN(std::string loadavg, reader_(proc_root_ + "/loadavg"));
  VIGIE_ASSIGN_OR_RETURN(sample.load_average, ParseLoadAvg(loadavg));
  for (const std::string& path : disk_paths_) {
    VIGIE_ASSIGN_OR_RETURN(DiskUsage usage, statter_(path));
    sample.disks.push_back(std::move(usage));
  }
  return sample;
}

HealthReport BuildHealthReport(const HostSample& sample, std::vector<ServiceHealth> services,
                               bool vault_configured, std::optional<VaultSealStatus> vault,
                               std::optional<WallTime> admin_password_changed_at,
                               std::string agent_version) {
  HealthReport r;
  r.disks = sample.disks;
  r.memory_used_percent = sample.memory_used_percent;
  r.cpu_percent = sample.cpu_percent;
  r.load_average = sample.load_average;
  r.services = std::move(services);
  r.vault_configured = vault_configured;
  r.vault = std::move(vault);
  r.admin_password_changed_at = admin_password_changed_at;
  r.agent_version = std::move(agent_version);
  for (const ServiceHealth& s : r.services) {
    if (!s.ok) {
      r.failures.push_back(
          fmt::format("service {} is not ok{}{}", s.name, s.detail.empty() ? "" : ": ", s.detail));
    }
  }
  if (r.vault_configured) {
    if (!r.vault) {
      r.failures.push_back("vault seal status unknown (vault configured but not reachable)");
    } else if (!r.vault->initialized) {
      r.failures.push_back("vault is not initialized");
    } else if (r.vault->sealed) {
      r.failures.push_back("vault is sealed");
    }
  }
  for (const DiskUsage& d : r.disks) {
    if (d.used_percent >= kDiskFailPercent) {
      r.failures.push_back(fmt::format("disk {} is {:.1f}% used (fails at {:.0f}%)", d.path,
                                       d.used_percent, kDiskFailPercent));
    }
  }
  if (r.memory_used_percent >= kMemoryFailPercent) {
    r.failures.push_back(fmt::format("memory is {:.1f}% used (fails at {:.0f}%)",
                                     r.memory_used_percent, kMemoryFailPercent));
  }
  r.passed = r.failures.empty();
  return r;
}

std::string HealthReportJson(const HealthReport& r) {
  nlohmann::json j;
  j["agent_version"] = r.agent_version;
  nlohmann::json paths = nlohmann::json::array();
  std::string disk_detail;
  for (const DiskUsage& d : r.disks) {
    paths.push_back({{"path", d.path}, {"used_percent", d.used_percent}});
    if (d.used_percent >= kDiskFailPercent) {
      disk_detail +=
          fmt::format("{}{} {:.1f}% used", disk_detail.empty() ? "" : ", ", d.path, d.used_percent);
    }
  }
  j["disk"] = {{"ok", disk_detail.empty()}, {"paths", paths}};
  if (!disk_detail.empty()) j["disk"]["detail"] = disk_detail;
  j["memory"] = {{"ok", r.memory_used_percent < kMemoryFailPercent},
                 {"used_percent", r.memory_used_percent}};
  j["cpu"] = {{"ok", true},
              {"used_percent", r.cpu_percent},
              {"load_average", {r.load_average[0], r.load_average[1], r.load_average[2]}}};
  j["services"] = nlohmann::json::object();
  for (const ServiceHealth& s : r.services) {
    nlohmann::json e = {{"ok", s.ok}};
    if (!s.detail.empty()) e["detail"] = s.detail;
    j["services"][s.name] = std::move(e);
  }
  if (r.vault) {
    j["vault"] = {{"ok", r.vault->initialized && !r.vault->sealed},
                  {"sealed", r.vault->sealed},
                  {"initialized", r.vault->initialized},
                  {"type", r.vault->type}};
  } else if (r.vault_configured) {
    j["vault"] = {{"ok", false},
                  {"sealed", true},
                  {"initialized", false},
                  {"detail", "seal status unknown (vault configured but not reachable)"}};
  } else {
    j["vault"] = nullptr;
  }
  j["passed"] = r.passed;
  j["failures"] = r.failures;
  if (r.admin_password_changed_at) {
    j["admin_password_changed_at"] = FormatRfc3339(*r.admin_password_changed_at);
  } else {
    j["admin_password_changed_at"] = nullptr;
  }
  return j.dump();
}

Result<VaultSealStatus> ParseVaultSealStatus(std::string_view json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return MakeError(ErrorCode::kInvalidArgument, "vault seal-status: body is not a JSON object");
  }
  VaultSealStatus s;
  for (const char* key : {"sealed", "initialized"}) {
    if (!j.contains(key) || !j[key].is_boolean()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("vault seal-status: \"{}\" missing or not a boolean", key));
    }
  }
  s.sealed = j["sealed"].get<bool>();
  s.initialized = j["initialized"].get<bool>();
  if (j.contains("type") && j["type"].is_string()) s.type = j["type"].get<std::string>();
  return s;
}

}  // namespace vigie::agent
