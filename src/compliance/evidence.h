#pragma once
// EvidenceSource: the read-only view of recorded facts that compliance checks judge.
//
// Checks never act on the world: they read what the capabilities recorded (sites, bootstrap
// records, heartbeats, backups, ...) through this interface, so the same check runs against the
// production store, a snapshot, or an in-memory fixture. The interface is deliberately minimal;
// each capability adds the typed queries its checks need when it lands.
//
// Thread-safety: implementations need not be thread-safe; the engine calls one source from one
// thread.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/env.h"

namespace vigie::compliance {

class EvidenceSource {
 public:
  virtual ~EvidenceSource() = default;

  // Ids of every provisioned site, sorted, without duplicates.
  virtual std::vector<std::string> Sites() = 0;
  // The time checks compare ages against ("last backup < 24 h old"); also the report's
  // generated_at.
  virtual WallTime Now() = 0;
  // A configuration value as read by vigie (e.g. "backup.retention_days"), or nullopt when the
  // key is not set. SECURITY: never returns a secret; implementations refuse secret keys.
  virtual std::optional<std::string> Config(std::string_view key) = 0;
};

// An EvidenceSource held in memory: for tests and benchmarks.
// Thread-safety: not thread-safe.
class MemoryEvidence final : public EvidenceSource {
 public:
  explicit MemoryEvidence(WallTime now) : now_(now) {}

  void AddSite(std::string id) { sites_.insert(std::move(id)); }
  void SetNow(WallTime now) { now_ = now; }
  void SetConfig(std::string key, std::string value) { config_[std::move(key)] = std::move(value); }

  std::vector<std::string> Sites() override { return {sites_.begin(), sites_.end()}; }
  WallTime Now() override { return now_; }
  std::optional<std::string> Config(std::string_view key) override;

 private:
  WallTime now_;
  std::set<std::string> sites_;
  std::map<std::string, std::string, std::less<>> config_;
};

}  // namespace vigie::compliance
