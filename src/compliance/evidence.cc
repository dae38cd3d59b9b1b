#include "compliance/evidence.h"

namespace vigie::compliance {

std::optional<std::string> MemoryEvidence::Config(std::string_view key) {
  auto it = config_.find(key);
  if (it == config_.end()) return std::nullopt;
  return it->second;
}

}  // namespace vigie::compliance
