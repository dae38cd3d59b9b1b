#pragma once
// The catalog of the 49 rules of spec/INVARIANTS.md and the registry mapping each rule id to
// the function that checks it.
//
// The catalog (catalog.cc) is one table, in the order of spec/INVARIANTS.md; a test parses the
// spec and asserts the table holds exactly its ids and titles. Checks are registered by plain
// calls (RegisterAllRules in rules/all_rules.cc), never by static initialisers.
//
// Thread-safety: Catalog()/FindRule() are safe from any thread. A RuleRegistry is built once,
// then only read; concurrent reads are safe, registration is not.

#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "compliance/evidence.h"
#include "compliance/rule.h"

namespace vigie::compliance {

struct RuleInfo {
  std::string_view id;       // "PROV_001", verbatim from spec/INVARIANTS.md.
  std::string_view title;    // English title, verbatim from the spec's "rule" column.
  std::string_view section;  // "Provisioning: identity and credentials", ...
  Scope scope = Scope::kSite;
};

// Every rule, in spec order. The views point to static storage.
std::span<const RuleInfo> Catalog();
// The catalog entry for `id`, or nullptr when `id` is not a rule id.
const RuleInfo* FindRule(std::string_view id);
// "provisioning_identity_and_credentials": lower-case, runs of non-alphanumerics become '_'.
std::string SectionSlug(std::string_view section);

// Judges one rule. `site` is the site to judge for a kSite rule, empty for a kFleet rule.
// Must not throw (the engine turns an escaped exception into a FAIL naming the bug).
using CheckFn = std::function<CheckResult(const RuleInfo& rule, EvidenceSource& evidence,
                                          std::string_view site)>;

class RuleRegistry {
 public:
  struct Registration {
    CheckFn check;
    // False for placeholders registered with RegisterNotImplemented().
    bool implemented = true;
  };

  RuleRegistry() = default;
  RuleRegistry(const RuleRegistry&) = delete;
  RuleRegistry& operator=(const RuleRegistry&) = delete;
  RuleRegistry(RuleRegistry&&) = default;
  RuleRegistry& operator=(RuleRegistry&&) = default;

  // Registers the check of rule `id`.
  // REQUIRES: `id` is in Catalog(), is not yet registered, and `check` is non-empty; otherwise
  // the process aborts with a message (a programming error, caught by the unit tests).
  void Register(std::string_view id, CheckFn check);
  // Registers the placeholder for a rule whose capability does not exist yet: it reports
  // NotImplemented() (FAIL). Same REQUIRES as Register().
  void RegisterNotImplemented(std::string_view id);

  // The registration of `id`, or nullptr when none (the engine reports FAIL "not registered").
  const Registration* Find(std::string_view id) const;
  size_t size() const { return checks_.size(); }

 private:
  void Add(std::string_view id, Registration registration);

  std::map<std::string, Registration, std::less<>> checks_;
};

// Registers the check (or placeholder) of every catalog rule. Defined in rules/all_rules.cc.
void RegisterAllRules(RuleRegistry& registry);

}  // namespace vigie::compliance
