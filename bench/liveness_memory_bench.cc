// vigie_liveness_memory_bench: the LivenessTracker's memory per site at a million simulated sites
// (issue 7 target: <= 512 bytes of tracker memory per site), and the cost of a heartbeat for an
// already tracked site at that size.
//
// Memory is measured two ways, both as a delta around building the tracker:
//   heap: glibc mallinfo2().uordblks (bytes handed out by malloc, what the tracker allocated);
//   rss:  resident set size from /proc/self/statm (what the process really holds, including
//         malloc's own overhead and free space it kept).
// Site ids are realistic: "site-000001" .. "site-1000000".
//
// Usage: vigie_liveness_memory_bench [--sites N]   (prints one JSON object)

#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/env.h"
#include "fleet/liveness.h"

namespace {

size_t RssBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long size = 0, resident = 0;
  if (std::fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
  std::fclose(f);
  return resident * static_cast<size_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

int main(int argc, char** argv) {
  size_t sites = 1'000'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--sites") == 0) sites = std::strtoul(argv[i + 1], nullptr, 10);
  }
  if (sites == 0) {
    std::fprintf(stderr, "usage: vigie_liveness_memory_bench [--sites N>0]\n");
    return 2;
  }
  // The ids exist before the measurement (the server holds them anyway, in its request).
  std::vector<std::string> ids;
  ids.reserve(sites);
  char name[32];
  for (size_t i = 0; i < sites; ++i) {
    std::snprintf(name, sizeof name, "site-%06zu", i + 1);
    ids.emplace_back(name);
  }
  malloc_trim(0);
  const size_t heap_before = mallinfo2().uordblks;
  const size_t rss_before = RssBytes();

  vigie::fleet::LivenessTracker tracker(vigie::RealClock(), vigie::fleet::LivenessOptions{},
                                        nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& id : ids) tracker.Track(id);
  const auto t1 = std::chrono::steady_clock::now();
  const size_t heap_after = mallinfo2().uordblks;
  const size_t rss_after = RssBytes();

  // A second round: a heartbeat for every (already tracked) site, as in steady state.
  const auto t2 = std::chrono::steady_clock::now();
  for (const auto& id : ids) tracker.RecordHeartbeat(id);
  const auto t3 = std::chrono::steady_clock::now();
  tracker.Tick();

  const double n = static_cast<double>(sites);
  const double heap_per_site = static_cast<double>(heap_after - heap_before) / n;
  const double rss_per_site = static_cast<double>(rss_after - rss_before) / n;
  const double track_ns = std::chrono::duration<double, std::nano>(t1 - t0).count() / n;
  const double heartbeat_ns = std::chrono::duration<double, std::nano>(t3 - t2).count() / n;
  std::printf(
      "{\"sites\": %zu, \"tracked\": %zu, \"heap_bytes_per_site\": %.1f, "
      "\"rss_bytes_per_site\": %.1f, \"target_bytes_per_site\": 512, \"track_ns\": %.0f, "
      "\"heartbeat_ns\": %.0f, \"meets_target\": %s}\n",
      sites, tracker.size(), heap_per_site, rss_per_site, track_ns, heartbeat_ns,
      (heap_per_site <= 512 && rss_per_site <= 512) ? "true" : "false");
  return 0;
}
