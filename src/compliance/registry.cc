#include "compliance/registry.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace vigie::compliance {

namespace {

// A registration error is a bug in vigie's own wiring: continuing would report a rule wrongly.
[[noreturn]] void DieRegistration(std::string_view id, std::string_view why) {
  std::fprintf(stderr, "vigie: compliance rule registration bug: rule '%.*s' %.*s\n",
               static_cast<int>(id.size()), id.data(), static_cast<int>(why.size()), why.data());
  std::abort();
}

}  // namespace

const RuleInfo* FindRule(std::string_view id) {
  for (const RuleInfo& rule : Catalog()) {
    if (rule.id == id) return &rule;
  }
  return nullptr;
}

std::string SectionSlug(std::string_view section) {
  std::string slug;
  bool pending_sep = false;
  for (char c : section) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) {
      if (pending_sep && !slug.empty()) slug += '_';
      pending_sep = false;
      slug += static_cast<char>(std::tolower(u));
    } else {
      pending_sep = true;
    }
  }
  return slug;
}

void RuleRegistry::Register(std::string_view id, CheckFn check) {
  if (!check) DieRegistration(id, "was registered with an empty check function");
  Add(id, Registration{std::move(check), true});
}

void RuleRegistry::RegisterNotImplemented(std::string_view id) {
  Add(id, Registration{
              [](const RuleInfo&, EvidenceSource&, std::string_view) { return NotImplemented(); },
              false});
}

void RuleRegistry::Add(std::string_view id, Registration registration) {
  if (FindRule(id) == nullptr) {
    DieRegistration(id, "is not in the catalog (src/compliance/catalog.cc, spec/INVARIANTS.md)");
  }
  auto [it, inserted] = checks_.emplace(std::string(id), std::move(registration));
  if (!inserted) DieRegistration(id, "was registered twice");
}

const RuleRegistry::Registration* RuleRegistry::Find(std::string_view id) const {
  auto it = checks_.find(id);
  return it == checks_.end() ? nullptr : &it->second;
}

}  // namespace vigie::compliance
