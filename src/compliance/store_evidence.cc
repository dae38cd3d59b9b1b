#include "compliance/store_evidence.h"

namespace vigie::compliance {

StoreEvidence::StoreEvidence(store::Store& store, Clock& clock,
                             std::map<std::string, std::string> config)
    : store_(store), clock_(clock), config_(config.begin(), config.end()) {}

std::vector<std::string> StoreEvidence::Sites() {
  std::vector<std::string> out;
  auto rows = store_.Query("SELECT id FROM sites ORDER BY id", {});
  if (!rows) {
    error_ = rows.error().Wrap("reading the sites table");
    return out;
  }
  for (const auto& row : *rows) {
    auto id = row.GetText("id");
    if (!id) {
      error_ = id.error();
      return {};
    }
    out.push_back(std::move(*id));
  }
  return out;
}

std::optional<std::string> StoreEvidence::Config(std::string_view key) {
  auto it = config_.find(key);
  if (it == config_.end()) return std::nullopt;
  return it->second;
}

}  // namespace vigie::compliance
