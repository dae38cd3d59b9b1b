#pragma once
// The Env seam: every source of non-determinism vigie uses (time, timers, the filesystem,
// randomness) goes through these interfaces, so tests substitute a fake clock advanced by hand
// and a fault-injecting filesystem (tests/testing/), and production uses RealEnv().
//
// Thread-safety: every implementation here is safe to call from several threads.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/secret.h"

namespace vigie {

using WallTime = std::chrono::system_clock::time_point;
using MonoTime = std::chrono::steady_clock::time_point;
using Duration = std::chrono::nanoseconds;

// A pending timer; destroying or cancelling it guarantees the callback will not start later
// (a callback already running is waited for, unless Cancel() is called from the callback).
class Timer {
 public:
  virtual ~Timer() = default;
  virtual void Cancel() = 0;
};

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (UTC), for timestamps that are recorded or shown.
  virtual WallTime Now() const = 0;
  // Monotonic time, for intervals, deadlines and timeouts.
  virtual MonoTime Monotonic() const = 0;
  // Blocks the caller for `d` of this clock's time (a fake clock returns once advanced past it).
  virtual void SleepFor(Duration d) = 0;
  // Runs `callback` once, on a clock-owned thread, after `delay` of this clock's time.
  virtual std::unique_ptr<Timer> RunAfter(Duration delay, std::function<void()> callback) = 0;
};

// Seconds since the Unix epoch, for storage and JSON.
int64_t ToUnixSeconds(WallTime t);
// Saturates outside the range WallTime can hold (years 1678..2262) instead of overflowing.
WallTime FromUnixSeconds(int64_t s);
// RFC 3339 UTC with seconds ("2026-11-21T19:36:00Z").
std::string FormatRfc3339(WallTime t);

struct DirEntry {
  std::string name;
  bool is_dir = false;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  virtual Result<std::string> ReadFile(const std::string& path) = 0;
  // Writes `data` to `path` so that a reader (or a crash) sees either the old content or the
  // new, never a mix: write to a temporary sibling, fsync it, rename over `path`, fsync the
  // directory. `mode` applies to the new file (0600 by default: vigie's files are private).
  virtual Status WriteFileAtomic(const std::string& path, std::string_view data,
                                 uint32_t mode = 0600) = 0;
  // Appends and, when `sync`, fdatasyncs before returning.
  virtual Status AppendFile(const std::string& path, std::string_view data, bool sync) = 0;
  virtual bool Exists(const std::string& path) = 0;
  virtual Status CreateDirs(const std::string& path, uint32_t mode = 0700) = 0;
  virtual Result<std::vector<DirEntry>> ListDir(const std::string& path) = 0;
  virtual Status Remove(const std::string& path) = 0;
  virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  virtual Status Truncate(const std::string& path, uint64_t size) = 0;
};

class Random {
 public:
  virtual ~Random() = default;
  // Fills `out` from a CSPRNG (randombytes_buf in production).
  virtual void Fill(std::span<uint8_t> out) = 0;
  // Uniform in [0, upper_bound) without modulo bias. REQUIRES: upper_bound > 0.
  virtual uint32_t Uniform(uint32_t upper_bound) = 0;
  SecretBytes SecretOfSize(size_t n);
};

// The bundle handed to components. Non-owning: the owner (main, or a test) outlives users.
struct Env {
  Clock* clock = nullptr;
  FileSystem* fs = nullptr;
  Random* random = nullptr;
};

// The process-wide production Env: system clocks, POSIX filesystem, libsodium CSPRNG.
Env RealEnv();
Clock* RealClock();
FileSystem* RealFileSystem();
Random* RealRandom();

}  // namespace vigie
