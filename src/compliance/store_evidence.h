#pragma once
// StoreEvidence: the EvidenceSource that reads what capabilities recorded in the fleet Store.
// Config values come from the loaded configuration (see config::EvidenceValues).
// Thread-safety: as the Store (queries from any thread).

#include <map>
#include <string>

#include "compliance/evidence.h"
#include "store/store.h"

namespace vigie::compliance {

class StoreEvidence final : public EvidenceSource {
 public:
  // `store` and `clock` must outlive this object.
  StoreEvidence(store::Store& store, Clock& clock, std::map<std::string, std::string> config);

  // Sites in the `sites` table. A query failure is not hidden: it is remembered in error() and
  // the list is empty, so every per-site rule reports FAIL "no evidence".
  std::vector<std::string> Sites() override;
  WallTime Now() override { return clock_.Now(); }
  std::optional<std::string> Config(std::string_view key) override;

  // The last query error, if any (the CLI prints it beside the report).
  const std::optional<Error>& error() const { return error_; }

 private:
  store::Store& store_;
  Clock& clock_;
  std::map<std::string, std::string, std::less<>> config_;
  std::optional<Error> error_;
};

}  // namespace vigie::compliance
