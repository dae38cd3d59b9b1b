#include "agent/host_metrics.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "fleet/health_report.h"

namespace vigie::agent {
namespace {

constexpr char kMemInfo[] =
    "MemTotal:       16000000 kB\n"
    "MemFree:         2000000 kB\n"
    "MemAvailable:    4000000 kB\n"
    "Buffers:          100000 kB\n";

// user nice system idle iowait irq softirq steal guest guest_nice
constexpr char kStat1[] =
    "cpu  100 0 100 700 100 0 0 0 0 0\n"
    "cpu0 50 0 50 350 50 0 0 0 0 0\n"
    "intr 12345\n";
constexpr char kStat2[] =
    "cpu  400 0 200 1300 100 0 0 0 0 0\n"
    "cpu0 200 0 100 650 50 0 0 0 0 0\n";

FileReader FakeProc(std::map<std::string, std::string>* files) {
  return [files](const std::string& path) -> Result<std::string> {
    auto it = files->find(path);
    if (it == files->end()) return MakeError(ErrorCode::kNotFound, "no " + path);
    return it->second;
  };
}

DiskStatter FakeDisks(std::map<std::string, double> used) {
  return [used](const std::string& path) -> Result<DiskUsage> {
    auto it = used.find(path);
    if (it == used.end()) return MakeError(ErrorCode::kIo, "statvfs " + path);
    return DiskUsage{path, it->second, 100, 10};
  };
}

TEST(HostMetricsTest, ParsesMemInfo) {
  auto used = ParseMemInfoUsedPercent(kMemInfo);
  ASSERT_TRUE(used) << used.error().ToString();
  EXPECT_DOUBLE_EQ(*used, 75.0);
}

TEST(HostMetricsTest, MemInfoWithoutMemAvailableIsAnError) {
  auto used = ParseMemInfoUsedPercent("MemTotal: 100 kB\nMemFree: 10 kB\n");
  ASSERT_FALSE(used);
  EXPECT_NE(used.error().message.find("MemAvailable"), std::string::npos);
}

TEST(HostMetricsTest, CpuPercentBetweenTwoSamples) {
  auto a = ParseProcStat(kStat1);
  auto b = ParseProcStat(kStat2);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->busy, 200u);
  EXPECT_EQ(a->total, 1000u);
  // busy +400 of total +1000 jiffies.
  EXPECT_DOUBLE_EQ(CpuPercentBetween(*a, *b), 40.0);
  EXPECT_DOUBLE_EQ(CpuPercentBetween(*b, *a), 0.0);  // counters went back (reboot)
}

TEST(HostMetricsTest, ProcStatWithoutCpuLineIsAnError) {
  EXPECT_FALSE(ParseProcStat("cpu0 1 2 3 4\nintr 5\n"));
}

TEST(HostMetricsTest, ParsesLoadAvg) {
  auto load = ParseLoadAvg("0.52 1.25 2.00 3/456 7890\n");
  ASSERT_TRUE(load);
  EXPECT_DOUBLE_EQ((*load)[0], 0.52);
  EXPECT_DOUBLE_EQ((*load)[2], 2.0);
  EXPECT_FALSE(ParseLoadAvg("garbage"));
}

TEST(HostMetricsTest, CollectorSamplesCpuBetweenCalls) {
  std::map<std::string, std::string> files = {
      {"/proc/meminfo", kMemInfo}, {"/proc/stat", kStat1}, {"/proc/loadavg", "1 2 3 1/1 1\n"}};
  HostMetricsCollector collector(FakeProc(&files), FakeDisks({{"/", 42.5}}), {"/"});
  auto first = collector.Sample();
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_DOUBLE_EQ(first->cpu_percent, 0.0);
  ASSERT_EQ(first->disks.size(), 1u);
  EXPECT_DOUBLE_EQ(first->disks[0].used_percent, 42.5);
  files["/proc/stat"] = kStat2;
  auto second = collector.Sample();
  ASSERT_TRUE(second);
  EXPECT_DOUBLE_EQ(second->cpu_percent, 40.0);
  EXPECT_DOUBLE_EQ(second->memory_used_percent, 75.0);
  files.erase("/proc/loadavg");
  EXPECT_FALSE(collector.Sample());
}

TEST(HostMetricsTest, RealStatvfsOfRoot) {
  auto usage = StatvfsDiskStatter()("/");
  ASSERT_TRUE(usage) << usage.error().ToString();
  EXPECT_GT(usage->total_bytes, 0u);
  EXPECT_GE(usage->used_percent, 0.0);
  EXPECT_LE(usage->used_percent, 100.0);
  EXPECT_FALSE(StatvfsDiskStatter()("/no/such/path/for/vigie"));
}

TEST(HostMetricsTest, RealProcParses) {
  HostMetricsCollector collector(ProcFileReader(), StatvfsDiskStatter(), {"/"});
  auto sample = collector.Sample();
  ASSERT_TRUE(sample) << sample.error().ToString();
  EXPECT_GT(sample->memory_used_percent, 0.0);
}

HostSample HealthySample() {
  HostSample s;
  s.memory_used_percent = 50;
  s.cpu_percent = 99;  // busy CPU never fails the report
  s.disks = {DiskUsage{"/", 60, 0, 0}};
  return s;
}

TEST(HealthReportTest, PassesWhenServicesOkVaultUnsealedDiskBelowLimit) {
  auto r = BuildHealthReport(HealthySample(), {{"admin_api", true, ""}}, true,
                             VaultSealStatus{false, true, "awskms"}, std::nullopt, "0.1.0");
  EXPECT_TRUE(r.passed);
  EXPECT_TRUE(r.failures.empty());
}

TEST(HealthReportTest, EachRuleFailsTheReport) {
  auto sealed = BuildHealthReport(HealthySample(), {{"admin_api", true, ""}}, true,
                                  VaultSealStatus{true, true, "awskms"}, std::nullopt, "v");
  EXPECT_FALSE(sealed.passed);
  ASSERT_EQ(sealed.failures.size(), 1u);
  EXPECT_EQ(sealed.failures[0], "vault is sealed");

  auto unknown = BuildHealthReport(HealthySample(), {}, true, std::nullopt, std::nullopt, "v");
  EXPECT_FALSE(unknown.passed);

  auto no_vault = BuildHealthReport(HealthySample(), {}, false, std::nullopt, std::nullopt, "v");
  EXPECT_TRUE(no_vault.passed);

  auto service = BuildHealthReport(HealthySample(), {{"fleet_link", false, "3 failed"}}, false,
                                   std::nullopt, std::nullopt, "v");
  EXPECT_FALSE(service.passed);
  EXPECT_NE(service.failures[0].find("fleet_link"), std::string::npos);

  HostSample full = HealthySample();
  full.disks.push_back(DiskUsage{"/var/lib/vigie", 95.0, 0, 0});
  auto disk = BuildHealthReport(full, {}, false, std::nullopt, std::nullopt, "v");
  EXPECT_FALSE(disk.passed);
  EXPECT_NE(disk.failures[0].find("/var/lib/vigie"), std::string::npos);
}

TEST(HealthReportTest, JsonShape) {
  auto r = BuildHealthReport(HealthySample(), {{"admin_api", true, ""}}, false, std::nullopt,
                             FromUnixSeconds(1790000000), "0.1.0");
  auto j = nlohmann::json::parse(HealthReportJson(r));
  EXPECT_EQ(j["disk"]["ok"], true);
  EXPECT_EQ(j["disk"]["paths"][0]["path"], "/");
  EXPECT_DOUBLE_EQ(j["disk"]["paths"][0]["used_percent"].get<double>(), 60.0);
  EXPECT_DOUBLE_EQ(j["memory"]["used_percent"].get<double>(), 50.0);
  EXPECT_EQ(j["memory"]["ok"], true);
  EXPECT_EQ(j["cpu"]["ok"], true);
  EXPECT_TRUE(j["vault"].is_null());
  EXPECT_EQ(j["services"]["admin_api"]["ok"], true);
  EXPECT_EQ(j["passed"], true);
  EXPECT_EQ(j["admin_password_changed_at"], FormatRfc3339(FromUnixSeconds(1790000000)));
  EXPECT_EQ(j["agent_version"], "0.1.0");
}

// The fleet manager parses what the agent sends (src/fleet/health_report.h) and reaches the
// same verdict.
TEST(HealthReportTest, FleetManagerAcceptsTheReport) {
  auto ok = BuildHealthReport(HealthySample(), {{"admin_api", true, ""}}, true,
                              VaultSealStatus{false, true, "awskms"}, std::nullopt, "0.1.0");
  auto parsed = fleet::ParseHealthReport(HealthReportJson(ok));
  ASSERT_TRUE(parsed) << parsed.error().ToString();
  EXPECT_TRUE(parsed->passed);
  EXPECT_EQ(parsed->agent_version, "0.1.0");

  HostSample full = HealthySample();
  full.disks[0].used_percent = 97;
  auto bad = BuildHealthReport(full, {{"admin_api", true, ""}, {"fleet_link", false, "down"}}, true,
                               std::nullopt, std::nullopt, "0.1.0");
  auto parsed_bad = fleet::ParseHealthReport(HealthReportJson(bad));
  ASSERT_TRUE(parsed_bad) << parsed_bad.error().ToString();
  EXPECT_FALSE(parsed_bad->passed);
  EXPECT_EQ(parsed_bad->failing,
            (std::vector<std::string>{"disk", "services.fleet_link", "vault"}));
}

TEST(HealthReportTest, ParsesVaultSealStatus) {
  auto s = ParseVaultSealStatus(
      R"({"type":"awskms","initialized":true,"sealed":false,"t":1,"n":1,"progress":0})");
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->sealed);
  EXPECT_TRUE(s->initialized);
  EXPECT_EQ(s->type, "awskms");
  EXPECT_FALSE(ParseVaultSealStatus(R"({"type":"awskms"})"));
  EXPECT_FALSE(ParseVaultSealStatus("not json"));
}

}  // namespace
}  // namespace vigie::agent
