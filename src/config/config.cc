#include "config/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <map>
#include <memory>
#include <utility>

namespace vigie::config {
namespace {

// ---------------------------------------------------------------------------------------------
// Problems: every error found, reported together so an operator fixes a file in one pass.

struct Problem {
  uint32_t line = 0;  // 0 = the value did not come from a known line (a default, or code).
  std::string key;
  std::string text;  // "<what is wrong>; <what to do>"
};

class Problems {
 public:
  explicit Problems(std::string_view source) : source_(source) {}

  void Add(uint32_t line, std::string_view key, std::string text) {
    problems_.push_back(Problem{line, std::string(key), std::move(text)});
  }
  bool empty() const { return problems_.empty(); }

  // One line per problem, in file order (problems without a line last).
  Error ToError() const {
    std::vector<Problem> sorted = problems_;
    std::stable_sort(sorted.begin(), sorted.end(), [](const Problem& a, const Problem& b) {
      return std::make_pair(a.line == 0, a.line) < std::make_pair(b.line == 0, b.line);
    });
    std::string message;
    for (const Problem& p : sorted) {
      if (!message.empty()) message += '\n';
      if (p.line > 0) {
        message += fmt::format("{}:{}: {}: {}", source_, p.line, p.key, p.text);
      } else {
        message += fmt::format("{}: {}: {}", source_, p.key, p.text);
      }
    }
    return Error{ErrorCode::kConfig, std::move(message)};
  }

 private:
  std::string source_;
  std::vector<Problem> problems_;
};

// Dotted key -> line where its value was written. Empty when validating a Config built in code.
using LineMap = std::map<std::string, uint32_t, std::less<>>;

uint32_t LineOf(const LineMap& lines, std::string_view key) {
  auto it = lines.find(key);
  return it == lines.end() ? 0 : it->second;
}

// The line of the first of `keys` written in the file (for problems involving several keys).
uint32_t FirstLineOf(const LineMap& lines, std::initializer_list<std::string_view> keys) {
  for (std::string_view k : keys) {
    if (uint32_t line = LineOf(lines, k)) return line;
  }
  return 0;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string_view TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date/time";
    default:
      return "nothing";
  }
}

uint32_t LineOfNode(const toml::node& node) { return node.source().begin.line; }

// Keys an earlier release knew and this one replaced: what to write instead (empty: none).
std::string_view ReplacementOf(std::string_view dotted_key) {
  if (dotted_key == "fleet.healthchecks_kept_per_site") {
    return "this key was replaced by fleet.healthcheck_retention_minutes (healthchecks are now "
           "kept by age, for every site alike): remove it and set the retention instead, e.g. "
           "120 for 100 heartbeats of 60 s plus margin";
  }
  return {};
}

// ---------------------------------------------------------------------------------------------
// TableReader: reads typed values out of one TOML table and remembers every key it was asked
// about, so that whatever is left in the table afterwards is an unknown key.

class TableReader {
 public:
  // `table` may be null (section absent): every read then leaves its default in place.
  TableReader(const toml::table* table, std::string path, Problems* problems, LineMap* lines)
      : table_(table), path_(std::move(path)), problems_(problems), lines_(lines) {}

  std::string Dotted(std::string_view key) const {
    return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
  }

  void Int(std::string_view key, int64_t& out) {
    const toml::node* node = Get(key);
    if (node == nullptr) return;
    if (const auto* v = node->as_integer()) {
      out = v->get();
    } else {
      WrongType(key, *node, "an integer",
                fmt::format("write a whole number without quotes, e.g. {} = {}", key, out));
    }
  }

  void String(std::string_view key, std::string& out) {
    const toml::node* node = Get(key);
    if (node == nullptr) return;
    if (const auto* v = node->as_string()) {
      out = v->get();
    } else {
      WrongType(key, *node, "a string", fmt::format("quote the value, e.g. {} = \"...\"", key));
    }
  }

  void StringList(std::string_view key, std::vector<std::string>& out) {
    const toml::node* node = Get(key);
    if (node == nullptr) return;
    const toml::array* array = node->as_array();
    const std::string hint =
        fmt::format("write a list of quoted strings, e.g. {} = [\"a\", \"b\"]", key);
    if (array == nullptr) {
      WrongType(key, *node, "an array of strings", hint);
      return;
    }
    std::vector<std::string> values;
    for (const toml::node& element : *array) {
      const auto* s = element.as_string();
      if (s == nullptr) {
        problems_->Add(LineOfNode(element), Dotted(key),
                       fmt::format("wrong type: expected an array of strings, found an element "
                                   "that is {}; {}",
                                   TypeName(element), hint));
        return;
      }
      values.push_back(s->get());
    }
    out = std::move(values);
  }

  template <typename E>
  void Enum(std::string_view key, std::initializer_list<std::pair<std::string_view, E>> choices,
            E& out) {
    const toml::node* node = Get(key);
    if (node == nullptr) return;
    std::string allowed;
    for (const auto& [name, value] : choices) {
      allowed += fmt::format("{}\"{}\"", allowed.empty() ? "" : ", ", name);
    }
    const auto* s = node->as_string();
    if (s == nullptr) {
      WrongType(key, *node, "a string", fmt::format("write one of {}", allowed));
      return;
    }
    for (const auto& [name, value] : choices) {
      if (s->get() == name) {
        out = value;
        return;
      }
    }
    problems_->Add(
        LineOfNode(*node), Dotted(key),
        fmt::format("out of range: \"{}\" is not one of {}; write one of them", s->get(), allowed));
  }

  // A known key that must not be used; `text` says why and what to do instead.
  void Forbidden(std::string_view key, std::string_view text) {
    const toml::node* node = Get(key);
    if (node != nullptr) problems_->Add(LineOfNode(*node), Dotted(key), std::string(text));
  }

  // The sub-table `key` (absent: a reader over nothing; not a table: reported, then nothing).
  TableReader Table(std::string_view key) {
    const toml::node* node = Get(key);
    const toml::table* table = nullptr;
    if (node != nullptr) {
      table = node->as_table();
      if (table == nullptr) {
        WrongType(key, *node, "a table",
                  fmt::format("write its keys under a [{}] header", Dotted(key)));
      }
    }
    return TableReader(table, Dotted(key), problems_, lines_);
  }

  // Reports every key of the table that no read asked about.
  void RejectUnknown() const {
    if (table_ == nullptr) return;
    for (auto&& [key, node] : *table_) {
      std::string_view name = key.str();
      if (std::find(known_.begin(), known_.end(), name) != known_.end()) continue;
      const bool is_table = node.is_table();
      std::string_view best;
      size_t best_distance = 3;
      for (const std::string& candidate : known_) {
        size_t d = EditDistance(name, candidate);
        if (d < best_distance) {
          best = candidate;
          best_distance = d;
        }
      }
      std::string fix;
      if (std::string_view replaced = ReplacementOf(Dotted(name)); !replaced.empty()) {
        fix = std::string(replaced);
      } else if (!best.empty()) {
        fix = is_table ? fmt::format("did you mean [{}]?", Dotted(best))
                       : fmt::format("did you mean \"{}\"?", best);
      } else {
        std::vector<std::string> sorted = known_;
        std::sort(sorted.begin(), sorted.end());
        sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
        std::string list;
        for (const std::string& k : sorted)
          list += fmt::format("{}{}", list.empty() ? "" : ", ", k);
        fix = fmt::format("remove it (known keys{}: {})",
                          path_.empty() ? " at top level" : fmt::format(" in [{}]", path_), list);
      }
      uint32_t line = key.source().begin.line;
      if (line == 0) line = LineOfNode(node);
      problems_->Add(line, Dotted(name),
                     fmt::format("{}; {}", is_table ? "unknown table" : "unknown key", fix));
    }
  }

 private:
  // Registers `key` as known and returns its node, or null when absent.
  const toml::node* Get(std::string_view key) {
    known_.emplace_back(key);
    if (table_ == nullptr) return nullptr;
    const toml::node* node = table_->get(key);
    if (node != nullptr) (*lines_)[Dotted(key)] = LineOfNode(*node);
    return node;
  }

  void WrongType(std::string_view key, const toml::node& node, std::string_view expected,
                 std::string_view fix) {
    problems_->Add(
        LineOfNode(node), Dotted(key),
        fmt::format("wrong type: expected {}, found {}; {}", expected, TypeName(node), fix));
  }

  const toml::table* table_;
  std::string path_;
  Problems* problems_;
  LineMap* lines_;
  std::vector<std::string> known_;
};

// ---------------------------------------------------------------------------------------------
// Integer fields: one table gives, for each, where it lives, its range and the rule (if any)
// that sets each limit. Reading and validation both walk it.

struct Limit {
  int64_t value;
  const char* rule = nullptr;  // Rule id that sets this limit, or null (plain range).
  const char* why = nullptr;   // Short reason shown after the rule id or the range.
};

struct IntField {
  const char* section;  // dotted table path, e.g. "ledger.ethereum"
  const char* key;
  const int64_t& (*get)(const Config&);
  int64_t& (*mut)(Config&);
  Limit min;
  Limit max;
};

#define VIGIE_INT_FIELD(section, key)                            \
#section, #key,                                                \
      [](const Config& c)                                        \
           -> const int64_t& { return c.section.key; },          \
                                                     [](Config & \
                                                        c) -> int64_t& { return c.section.key; }

constexpr int64_t kMiB = 1024 * 1024;
constexpr int64_t kDay = 86400;

const std::vector<IntField>& IntFields() {
  static const std::vector<IntField> fields = {
      {VIGIE_INT_FIELD(server, max_body_bytes), {1}, {16 * kMiB}},
      {VIGIE_INT_FIELD(server, max_connections), {1}, {1000000}},
      {VIGIE_INT_FIELD(server, read_timeout_seconds), {1}, {3600}},
      {VIGIE_INT_FIELD(server, io_threads), {1}, {256}},
      {VIGIE_INT_FIELD(store, batch_max_rows), {1}, {100000}},
      {VIGIE_INT_FIELD(store, flush_interval_ms), {1}, {10000}},
      {VIGIE_INT_FIELD(kms, key_rotation_period_days),
       {90, nullptr, "AWS KMS accepts no rotation period below 90 days"},
       {365, "MAINT_020", "KMS keys rotated yearly"}},
      {VIGIE_INT_FIELD(vault, recovery_shares),
       {5, "PROV_011", "recovery keys threshold 3 of 5 minimum"},
       {255, nullptr, "Vault splits into at most 255 shares"}},
      {VIGIE_INT_FIELD(vault, recovery_threshold),
       {3, "PROV_011", "recovery keys threshold 3 of 5 minimum"},
       {255, nullptr, "Vault splits into at most 255 shares"}},
      {VIGIE_INT_FIELD(vault, init_timeout_seconds), {1}, {3600}},
      {VIGIE_INT_FIELD(ledger, lock_timeout_seconds),
       {1},
       {600, nullptr, "a longer wait hides a stuck vigie process"}},
      {VIGIE_INT_FIELD(ledger.ethereum, chain_id),
       {0, nullptr, "0 means unset"},
       {int64_t{1} << 53, nullptr, "EIP-2294 bound"}},
      {VIGIE_INT_FIELD(ledger.ethereum, confirmations), {1}, {1000}},
      {VIGIE_INT_FIELD(ledger.ethereum, anchor_interval_seconds), {60}, {kDay}},
      {VIGIE_INT_FIELD(ledger.ethereum, alert_after_seconds), {61}, {7 * kDay}},
      {VIGIE_INT_FIELD(agent, heartbeat_interval_seconds),
       {5, nullptr, "shorter intervals only load the fleet manager"},
       {60, "MAINT_001", "heartbeat to the fleet manager every 60 s"}},
      {VIGIE_INT_FIELD(agent, heartbeat_jitter_percent), {0}, {50}},
      {VIGIE_INT_FIELD(fleet, heartbeat_alert_after_seconds),
       {10},
       {120, "MAINT_002", "alert when a heartbeat is missing > 2 min"}},
      {VIGIE_INT_FIELD(fleet, heartbeat_late_after_seconds), {1}, {119}},
      {VIGIE_INT_FIELD(fleet, license_health_window_seconds),
       {1, "PROV_022", "a healthcheck must precede licence activation inside the window"},
       {3600, "PROV_022", "the healthcheck must be recent: at most 1 h"}},
      {VIGIE_INT_FIELD(fleet, registration_grace_seconds), {60}, {30 * kDay}},
      {VIGIE_INT_FIELD(fleet, healthcheck_flush_interval_ms),
       {100, nullptr, "shorter intervals only multiply the store's commits"},
       {10000, nullptr, "a crash loses at most one interval of healthcheck rows"}},
      {VIGIE_INT_FIELD(fleet, healthcheck_batch_max), {256}, {1048576}},
      {VIGIE_INT_FIELD(fleet, healthcheck_retention_minutes),
       {11, "MAINT_001", "the check examines each site's last 10 heartbeat intervals"},
       {525600, nullptr, "a year of heartbeats per site"}},
      {VIGIE_INT_FIELD(backup, interval_minutes), {1}, {60, "MAINT_015", "RPO < 1 h"}},
      {VIGIE_INT_FIELD(backup, full_every_hours), {1}, {24, "MAINT_010", "daily backup"}},
      {VIGIE_INT_FIELD(backup, retention_days),
       {90, "MAINT_013", "backup retention >= 90 days"},
       {36500}},
      {VIGIE_INT_FIELD(backup, restore_test_interval_days),
       {1},
       {31, "MAINT_014", "monthly restore test"}},
      {VIGIE_INT_FIELD(backup, rto_target_seconds), {1}, {600, "MAINT_016", "RTO < 10 minutes"}},
      {VIGIE_INT_FIELD(rotation, db_credential_max_age_days),
       {1},
       {92, "MAINT_021", "DB credentials rotated quarterly"}},
      {VIGIE_INT_FIELD(rotation, previous_version_keep_days),
       {30, "MAINT_024", "previous key kept 30 days"},
       {365}},
      {VIGIE_INT_FIELD(rotation, tls_renew_before_days),
       {31, "MAINT_022", "certificates alert at 30 days before expiry, renewal must come first"},
       {180}},
      {VIGIE_INT_FIELD(patching, scan_interval_hours), {1}, {24, "MAINT_030", "daily CVE scan"}},
      {VIGIE_INT_FIELD(patching, sla_critical_hours),
       {1},
       {24, "MAINT_031", "critical CVE patched < 24 h"}},
      {VIGIE_INT_FIELD(patching, sla_high_days),
       {1},
       {7, "MAINT_032", "high CVE patched < 7 days"}},
      {VIGIE_INT_FIELD(patching, sla_medium_days),
       {1},
       {30, "MAINT_033", "medium CVE patched < 30 days"}},
      {VIGIE_INT_FIELD(logs, loki_retention_days),
       {90, "MAINT_040", "logs 90 days online"},
       {3650}},
      {VIGIE_INT_FIELD(logs, archive_retention_days),
       {3650, "MAINT_041", "logs archived 10 years"},
       {36500}},
      {VIGIE_INT_FIELD(logs, compress_after_days),
       {1},
       {7, "MAINT_042", "logs compressed after 7 days"}},
      {VIGIE_INT_FIELD(alerting, smtp_port), {1}, {65535}},
      {VIGIE_INT_FIELD(capacity, disk_warn_percent),
       {1},
       {80, "MAINT_050", "alert when disk > 80%"}},
      {VIGIE_INT_FIELD(capacity, ram_warn_percent), {1}, {90, "MAINT_051", "alert when RAM > 90%"}},
      {VIGIE_INT_FIELD(capacity, cpu_warn_percent),
       {1},
       {80, "MAINT_052", "alert when CPU > 80% for 5 minutes"}},
      {VIGIE_INT_FIELD(capacity, cpu_for_minutes),
       {1},
       {5, "MAINT_052", "alert when CPU > 80% for 5 minutes"}},
      {VIGIE_INT_FIELD(capacity, api_latency_p95_ms),
       {1},
       {500, "MAINT_053", "alert when API latency p95 > 500 ms"}},
  };
  return fields;
}

#undef VIGIE_INT_FIELD

void CheckIntField(const IntField& f, int64_t v, uint32_t line, Problems& problems) {
  const std::string key = fmt::format("{}.{}", f.section, f.key);
  const Limit* broken = v < f.min.value ? &f.min : v > f.max.value ? &f.max : nullptr;
  if (broken == nullptr) return;
  const bool below = broken == &f.min;
  if (broken->rule != nullptr) {
    problems.Add(line, key,
                 fmt::format("{} is {} the {} {} {} by {} ({}); set {} = {} or {}", v,
                             below ? "below" : "above", below ? "minimum" : "maximum",
                             broken->value, below ? "required" : "allowed", broken->rule,
                             broken->why, f.key, broken->value, below ? "more" : "less"));
  } else {
    problems.Add(line, key,
                 fmt::format("out of range: {} is not in {}..{}{}; use a value in that range", v,
                             f.min.value, f.max.value,
                             broken->why ? fmt::format(" ({})", broken->why) : std::string()));
  }
}

// ---------------------------------------------------------------------------------------------
// Checks on strings and lists.

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool IsHttpUrl(std::string_view s) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (StartsWith(s, scheme) && s.size() > scheme.size()) return true;
  }
  return false;
}

// "host:port", "[v6]:port"; port 1..65535.
bool IsHostPort(std::string_view s) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view host = s.substr(0, colon);
  std::string_view port = s.substr(colon + 1);
  if (host.find(':') != std::string_view::npos && !(host.front() == '[' && host.back() == ']')) {
    return false;
  }
  if (port.empty() || port.size() > 5) return false;
  int64_t n = 0;
  for (char ch : port) {
    if (!std::isdigit(static_cast<unsigned char>(ch))) return false;
    n = n * 10 + (ch - '0');
  }
  return n >= 1 && n <= 65535;
}

bool IsFingerprint(std::string_view s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char ch) {
           return std::isxdigit(static_cast<unsigned char>(ch)) != 0;
         });
}

bool IsEmail(std::string_view s) {
  size_t at = s.find('@');
  return at != std::string_view::npos && at > 0 && at + 1 < s.size() &&
         s.find('@', at + 1) == std::string_view::npos &&
         std::none_of(s.begin(), s.end(),
                      [](char ch) { return std::isspace(static_cast<unsigned char>(ch)) != 0; });
}

bool IsRegionName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
  });
}

// True when a libpq connection string (keyword or URI form) carries a password.
bool DsnHasPassword(std::string_view dsn) {
  std::string lower(dsn);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (lower.find("password") != std::string::npos) return true;
  for (std::string_view scheme : {"postgres://", "postgresql://"}) {
    if (!StartsWith(lower, scheme)) continue;
    std::string_view rest = std::string_view(lower).substr(scheme.size());
    std::string_view authority = rest.substr(0, rest.find('/'));
    size_t at = authority.rfind('@');
    if (at != std::string_view::npos && authority.substr(0, at).find(':') != std::string::npos) {
      return true;
    }
  }
  return false;
}

constexpr std::string_view kKnownSeals[] = {"awskms", "alicloudkms", "azurekeyvault", "gcpckms",
                                            "ocikms", "pkcs11",      "transit"};

// Every check that is not a plain integer range: formats, required keys, cross-field rules.
void ValidateInto(const Config& c, const LineMap& lines, Problems& p) {
  auto line = [&](std::string_view key) { return LineOf(lines, key); };

  for (const IntField& f : IntFields()) {
    CheckIntField(f, f.get(c), line(fmt::format("{}.{}", f.section, f.key)), p);
  }

  if (c.data_dir.empty() || c.data_dir.front() != '/') {
    p.Add(line("data_dir"), "data_dir",
          "must be an absolute path; write e.g. data_dir = \"/var/lib/vigie\"");
  }

  // [server]
  if (!IsHostPort(c.server.listen_address)) {
    p.Add(line("server.listen_address"), "server.listen_address",
          fmt::format("\"{}\" is not host:port with a port in 1..65535; write e.g. "
                      "\"0.0.0.0:8443\"",
                      c.server.listen_address));
  }
  if (c.server.tls_cert_file.empty() != c.server.tls_key_file.empty()) {
    const char* missing = c.server.tls_cert_file.empty() ? "tls_cert_file" : "tls_key_file";
    p.Add(FirstLineOf(lines, {"server.tls_cert_file", "server.tls_key_file"}),
          fmt::format("server.{}", missing),
          "required when the other of tls_cert_file / tls_key_file is set; set both, or neither "
          "to use a generated self-signed certificate");
  }
  if (!c.server.public_url.empty() && !IsHttpUrl(c.server.public_url)) {
    p.Add(line("server.public_url"), "server.public_url",
          "not an http:// or https:// URL; write e.g. \"https://fleet.example.com\"");
  }

  // [store]
  if (c.store.backend == StoreBackend::kPostgres) {
    if (c.store.dsn.empty()) {
      p.Add(line("store.backend"), "store.dsn",
            "required when store.backend = \"postgres\"; add dsn = \"host=... dbname=vigie "
            "user=vigie\" under [store]");
    } else if (DsnHasPassword(c.store.dsn)) {
      // SECURITY: the value is not echoed: it holds a password.
      p.Add(line("store.dsn"), "store.dsn",
            "contains a password; remove it from the configuration and give it to libpq through "
            "PGPASSFILE or ~/.pgpass");
    }
  } else if (!c.store.dsn.empty()) {
    p.Add(line("store.dsn"), "store.dsn",
          "set but store.backend is \"sqlite\"; remove dsn or set backend = \"postgres\"");
  }
  if (c.store.backend == StoreBackend::kSqlite && c.store.path.empty()) {
    p.Add(line("store.backend"), "store.path", "required for sqlite; set path under [store]");
  }

  // [aws]: needed as soon as one backend talks to AWS.
  std::vector<std::string> aws_users;
  if (c.identity.backend == Backend::kAws) aws_users.push_back("identity.backend");
  if (c.secrets.backend == Backend::kAws) aws_users.push_back("secrets.backend");
  if (c.kms.backend == Backend::kAws) aws_users.push_back("kms.backend");
  if (!aws_users.empty() && c.aws.region.empty()) {
    p.Add(line(aws_users.front()), "aws.region",
          fmt::format("required when {} = \"aws\"; add region = \"eu-west-3\" (for example) "
                      "under [aws]",
                      aws_users.front()));
  }
  if (!c.aws.region.empty() && !IsRegionName(c.aws.region)) {
    p.Add(line("aws.region"), "aws.region",
          fmt::format("\"{}\" is not an AWS region name; write e.g. \"eu-west-3\"", c.aws.region));
  }
  if (!c.aws.endpoint_url.empty() && !IsHttpUrl(c.aws.endpoint_url)) {
    p.Add(line("aws.endpoint_url"), "aws.endpoint_url",
          "not an http:// or https:// URL; write e.g. \"http://127.0.0.1:5000\" for moto");
  }
  if (c.aws.iam_path.size() > 512 || c.aws.iam_path.empty() || c.aws.iam_path.front() != '/' ||
      c.aws.iam_path.back() != '/') {
    p.Add(line("aws.iam_path"), "aws.iam_path",
          "an IAM path starts and ends with '/' (at most 512 characters); write e.g. "
          "\"/vigie/sites/\"");
  }

  // [vault]
  if (c.vault.recovery_threshold > c.vault.recovery_shares) {
    p.Add(FirstLineOf(lines, {"vault.recovery_threshold", "vault.recovery_shares"}),
          "vault.recovery_threshold",
          fmt::format("{} exceeds recovery_shares = {} (PROV_011: threshold <= shares); lower the "
                      "threshold or raise the shares",
                      c.vault.recovery_threshold, c.vault.recovery_shares));
  }
  if (!c.vault.address.empty() && !IsHttpUrl(c.vault.address)) {
    p.Add(line("vault.address"), "vault.address",
          "not an http:// or https:// URL; write e.g. \"https://vault.internal:8200\"");
  }
  if (c.vault.seal_types_allowed.empty()) {
    p.Add(line("vault.seal_types_allowed"), "vault.seal_types_allowed",
          "empty: no Vault could be initialised; write [\"awskms\"] (PROV_010)");
  }
  for (const std::string& seal : c.vault.seal_types_allowed) {
    if (seal == "shamir") {
      p.Add(line("vault.seal_types_allowed"), "vault.seal_types_allowed",
            "\"shamir\" is forbidden by PROV_010 (Vault initialised with KMS auto-unseal, not "
            "manual Shamir); remove it and keep a KMS seal such as \"awskms\"");
    } else if (std::find(std::begin(kKnownSeals), std::end(kKnownSeals), seal) ==
               std::end(kKnownSeals)) {
      p.Add(line("vault.seal_types_allowed"), "vault.seal_types_allowed",
            fmt::format("out of range: \"{}\" is not a Vault KMS seal type; use one of awskms, "
                        "alicloudkms, azurekeyvault, gcpckms, ocikms, pkcs11, transit",
                        seal));
    }
  }

  // [ledger]
  const EthereumConfig& eth = c.ledger.ethereum;
  if (c.ledger.anchor == AnchorBackend::kEthereum) {
    const uint32_t anchor_line = line("ledger.anchor");
    if (eth.rpc_url.empty()) {
      p.Add(anchor_line, "ledger.ethereum.rpc_url",
            "required when ledger.anchor = \"ethereum\"; add rpc_url under [ledger.ethereum]");
    }
    if (eth.chain_id == 0) {
      p.Add(anchor_line, "ledger.ethereum.chain_id",
            "required when ledger.anchor = \"ethereum\"; add chain_id under [ledger.ethereum]");
    }
    if (eth.key_file.empty()) {
      p.Add(anchor_line, "ledger.ethereum.key_file",
            "required when ledger.anchor = \"ethereum\"; add key_file under [ledger.ethereum]");
    }
  }
  if (!eth.rpc_url.empty() && !IsHttpUrl(eth.rpc_url)) {
    p.Add(line("ledger.ethereum.rpc_url"), "ledger.ethereum.rpc_url",
          "not an http:// or https:// URL; write e.g. \"http://127.0.0.1:8545\"");
  }
  if (eth.alert_after_seconds <= eth.anchor_interval_seconds) {
    p.Add(FirstLineOf(lines, {"ledger.ethereum.alert_after_seconds",
                              "ledger.ethereum.anchor_interval_seconds"}),
          "ledger.ethereum.alert_after_seconds",
          fmt::format("{} must exceed anchor_interval_seconds = {}, or every anchor alerts; raise "
                      "it",
                      eth.alert_after_seconds, eth.anchor_interval_seconds));
  }

  // [agent]
  if (!IsHostPort(c.agent.admin_listen_address)) {
    p.Add(line("agent.admin_listen_address"), "agent.admin_listen_address",
          fmt::format("\"{}\" is not host:port with a port in 1..65535; write e.g. "
                      "\"127.0.0.1:8444\"",
                      c.agent.admin_listen_address));
  }

  // [fleet]: late < alert, and late beyond the longest gap a healthy agent leaves.
  const FleetConfig& fleet = c.fleet;
  if (fleet.heartbeat_late_after_seconds >= fleet.heartbeat_alert_after_seconds) {
    p.Add(FirstLineOf(
              lines, {"fleet.heartbeat_late_after_seconds", "fleet.heartbeat_alert_after_seconds"}),
          "fleet.heartbeat_late_after_seconds",
          fmt::format("{} must be below heartbeat_alert_after_seconds = {}; lower it",
                      fleet.heartbeat_late_after_seconds, fleet.heartbeat_alert_after_seconds));
  }
  if (fleet.healthcheck_retention_minutes * 60 < fleet.license_health_window_seconds) {
    p.Add(FirstLineOf(lines, {"fleet.healthcheck_retention_minutes",
                              "fleet.license_health_window_seconds"}),
          "fleet.healthcheck_retention_minutes",
          fmt::format("{} min is shorter than license_health_window_seconds = {}: the healthcheck "
                      "a licence decides on (PROV_022) could be pruned first; raise it",
                      fleet.healthcheck_retention_minutes, fleet.license_health_window_seconds));
  }
  const int64_t longest_gap =
      c.agent.heartbeat_interval_seconds +
      (c.agent.heartbeat_interval_seconds * c.agent.heartbeat_jitter_percent + 99) / 100;
  if (fleet.heartbeat_late_after_seconds <= longest_gap) {
    p.Add(
        FirstLineOf(lines, {"fleet.heartbeat_late_after_seconds",
                            "agent.heartbeat_interval_seconds", "agent.heartbeat_jitter_percent"}),
        "fleet.heartbeat_late_after_seconds",
        fmt::format("{} does not exceed the longest heartbeat gap of a healthy agent ({} s: "
                    "agent.heartbeat_interval_seconds plus jitter); raise it or shorten the "
                    "agent interval",
                    fleet.heartbeat_late_after_seconds, longest_gap));
  }

  // [backup]: off-site copies are encrypted (MAINT_011) and in another region (MAINT_012).
  const BackupConfig& backup = c.backup;
  if (!backup.target_bucket.empty()) {
    if (backup.gpg_recipients.empty()) {
      p.Add(line("backup.target_bucket"), "backup.gpg_recipients",
            "required when target_bucket is set (MAINT_011: backup GPG-encrypted before "
            "transfer); list the OpenPGP fingerprints backups are encrypted to");
    }
    if (backup.target_region.empty()) {
      p.Add(line("backup.target_bucket"), "backup.target_region",
            "required when target_bucket is set (MAINT_012: backup stored in another region); "
            "name the bucket's region");
    }
  }
  if (!backup.target_region.empty()) {
    if (!IsRegionName(backup.target_region)) {
      p.Add(line("backup.target_region"), "backup.target_region",
            fmt::format("\"{}\" is not an AWS region name; write e.g. \"eu-central-1\"",
                        backup.target_region));
    } else if (backup.target_region == c.aws.region) {
      p.Add(line("backup.target_region"), "backup.target_region",
            fmt::format("\"{}\" is the site's own region (aws.region), forbidden by MAINT_012 "
                        "(backup stored off-site, another region); choose another region",
                        backup.target_region));
    }
  }
  for (const std::string& fpr : backup.gpg_recipients) {
    if (!IsFingerprint(fpr)) {
      p.Add(line("backup.gpg_recipients"), "backup.gpg_recipients",
            fmt::format("\"{}\" is not an OpenPGP fingerprint; write the 40 hex digits without "
                        "spaces (gpg --list-keys --with-colons shows them on the fpr line)",
                        fpr));
    }
  }

  // [logs], [alerting]
  if (!c.logs.loki_url.empty() && !IsHttpUrl(c.logs.loki_url)) {
    p.Add(line("logs.loki_url"), "logs.loki_url",
          "not an http:// or https:// URL; write e.g. \"http://loki:3100\"");
  }
  for (const std::string& to : c.alerting.email_to) {
    if (!IsEmail(to)) {
      p.Add(line("alerting.email_to"), "alerting.email_to",
            fmt::format("\"{}\" is not an email address; write e.g. \"ops@example.com\"", to));
    }
  }
  if (!c.alerting.email_to.empty() && c.alerting.smtp_host.empty()) {
    p.Add(line("alerting.email_to"), "alerting.smtp_host",
          "required when email_to is set; add smtp_host under [alerting]");
  }
  // SECURITY: webhook URLs often embed a token, so URL values are never echoed.
  for (auto [key, value] : {std::pair{"alerting.sms_webhook_url", &c.alerting.sms_webhook_url},
                            std::pair{"alerting.alertmanager_url", &c.alerting.alertmanager_url}}) {
    if (!value->empty() && !IsHttpUrl(*value)) {
      p.Add(line(key), key, "not an http:// or https:// URL; write the full URL with its scheme");
    }
  }
}

void FillDerivedPaths(Config& c) {
  if (c.store.backend == StoreBackend::kSqlite && c.store.path.empty()) {
    c.store.path = c.data_dir + "/vigie.db";
  }
  if (c.agent.state_dir.empty()) c.agent.state_dir = c.data_dir + "/agent";
}

}  // namespace

std::string_view BackendName(Backend b) { return b == Backend::kAws ? "aws" : "local"; }
std::string_view StoreBackendName(StoreBackend b) {
  return b == StoreBackend::kPostgres ? "postgres" : "sqlite";
}
std::string_view AnchorBackendName(AnchorBackend b) {
  return b == AnchorBackend::kEthereum ? "ethereum" : "local";
}
std::string_view LogLevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
    case LogLevel::kInfo:
      break;
  }
  return "info";
}

Result<Config> ParseConfig(std::string_view toml_text, std::string_view source_name) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    const toml::source_position& pos = e.source().begin;
    return MakeError(ErrorCode::kConfig,
                     fmt::format("{}:{}:{}: TOML syntax error: {}; fix the syntax at that position",
                                 source_name, pos.line, pos.column, e.description()));
  }

  Config c;
  Problems problems(source_name);
  LineMap lines;
  TableReader top(&root, "", &problems, &lines);
  top.String("data_dir", c.data_dir);

  std::map<std::string, std::unique_ptr<TableReader>, std::less<>> sections;
  for (const char* name :
       {"server", "store", "identity", "secrets", "kms", "aws", "vault", "ledger", "agent", "fleet",
        "backup", "rotation", "patching", "logs", "alerting", "capacity", "log"}) {
    sections[name] = std::make_unique<TableReader>(top.Table(name));
  }
  sections["ledger.ethereum"] =
      std::make_unique<TableReader>(sections["ledger"]->Table("ethereum"));
  auto section = [&](std::string_view name) -> TableReader& {
    return *sections.find(name)->second;
  };

  for (const IntField& f : IntFields()) section(f.section).Int(f.key, f.mut(c));

  TableReader& server = section("server");
  server.String("listen_address", c.server.listen_address);
  server.String("tls_cert_file", c.server.tls_cert_file);
  server.String("tls_key_file", c.server.tls_key_file);
  server.String("public_url", c.server.public_url);
  server.String("operator_token_file", c.server.operator_token_file);

  TableReader& store = section("store");
  store.Enum("backend", {{"sqlite", StoreBackend::kSqlite}, {"postgres", StoreBackend::kPostgres}},
             c.store.backend);
  store.String("path", c.store.path);
  store.String("dsn", c.store.dsn);

  for (auto [name, backend] :
       {std::pair{"identity", &c.identity.backend}, std::pair{"secrets", &c.secrets.backend},
        std::pair{"kms", &c.kms.backend}}) {
    section(name).Enum("backend", {{"local", Backend::kLocal}, {"aws", Backend::kAws}}, *backend);
  }

  TableReader& aws = section("aws");
  aws.String("region", c.aws.region);
  aws.String("endpoint_url", c.aws.endpoint_url);
  aws.String("iam_path", c.aws.iam_path);
  for (const char* key : {"access_key_id", "secret_access_key", "session_token",
                          "access_key_id_file", "secret_access_key_file"}) {
    aws.Forbidden(key,
                  "AWS credentials are never read from the configuration; remove it and provide "
                  "them through the standard AWS environment (AWS_ACCESS_KEY_ID and "
                  "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance role)");
  }

  TableReader& vault = section("vault");
  vault.String("address", c.vault.address);
  vault.String("ca_file", c.vault.ca_file);
  vault.String("policies_dir", c.vault.policies_dir);
  vault.StringList("seal_types_allowed", c.vault.seal_types_allowed);

  section("ledger").Enum("anchor",
                         {{"local", AnchorBackend::kLocal}, {"ethereum", AnchorBackend::kEthereum}},
                         c.ledger.anchor);
  TableReader& eth = section("ledger.ethereum");
  eth.String("rpc_url", c.ledger.ethereum.rpc_url);
  eth.String("key_file", c.ledger.ethereum.key_file);

  TableReader& agent = section("agent");
  agent.String("package_file", c.agent.package_file);
  agent.String("state_dir", c.agent.state_dir);
  agent.String("admin_listen_address", c.agent.admin_listen_address);

  TableReader& backup = section("backup");
  backup.String("target_bucket", c.backup.target_bucket);
  backup.String("target_region", c.backup.target_region);
  backup.StringList("gpg_recipients", c.backup.gpg_recipients);

  section("logs").String("loki_url", c.logs.loki_url);

  TableReader& alerting = section("alerting");
  alerting.StringList("email_to", c.alerting.email_to);
  alerting.String("sms_webhook_url", c.alerting.sms_webhook_url);
  alerting.String("smtp_host", c.alerting.smtp_host);
  alerting.String("alertmanager_url", c.alerting.alertmanager_url);

  TableReader& log = section("log");
  log.Enum("level",
           {{"debug", LogLevel::kDebug},
            {"info", LogLevel::kInfo},
            {"warn", LogLevel::kWarn},
            {"error", LogLevel::kError}},
           c.log.level);
  log.String("file", c.log.file);

  top.RejectUnknown();
  for (const auto& [name, reader] : sections) reader->RejectUnknown();

  FillDerivedPaths(c);
  ValidateInto(c, lines, problems);
  if (!problems.empty()) return tl::unexpected(problems.ToError());
  return c;
}

Result<Config> LoadConfigFile(const std::string& path, FileSystem& fs) {
  Result<std::string> text = fs.ReadFile(path);
  if (!text) {
    const bool missing = text.error().code == ErrorCode::kNotFound;
    return MakeError(ErrorCode::kConfig, fmt::format("{}: {} ({}); check the path, or start from "
                                                     "deploy/vigie.example.toml",
                                                     path,
                                                     missing ? "configuration file does not exist"
                                                             : "cannot read the configuration file",
                                                     text.error().message));
  }
  return ParseConfig(*text, path);
}

Status ValidateConfig(const Config& config, std::string_view source_name) {
  Problems problems(source_name);
  ValidateInto(config, LineMap(), problems);
  if (!problems.empty()) return tl::unexpected(problems.ToError());
  return OkStatus();
}

Config DefaultConfig(std::string data_dir) {
  Config c;
  c.data_dir = std::move(data_dir);
  FillDerivedPaths(c);
  return c;
}

std::map<std::string, std::string> EvidenceValues(const Config& c) {
  auto n = [](int64_t v) { return std::to_string(v); };
  return {
      {"identity.backend", std::string(BackendName(c.identity.backend))},
      {"secrets.backend", std::string(BackendName(c.secrets.backend))},
      {"kms.backend", std::string(BackendName(c.kms.backend))},
      {"kms.key_rotation_period_days", n(c.kms.key_rotation_period_days)},
      {"store.backend", std::string(StoreBackendName(c.store.backend))},
      {"vault.recovery_shares", n(c.vault.recovery_shares)},
      {"vault.recovery_threshold", n(c.vault.recovery_threshold)},
      {"ledger.anchor", std::string(AnchorBackendName(c.ledger.anchor))},
      {"ledger.ethereum.confirmations", n(c.ledger.ethereum.confirmations)},
      {"agent.heartbeat_interval_seconds", n(c.agent.heartbeat_interval_seconds)},
      {"fleet.heartbeat_alert_after_seconds", n(c.fleet.heartbeat_alert_after_seconds)},
      {"fleet.license_health_window_seconds", n(c.fleet.license_health_window_seconds)},
      {"fleet.registration_grace_seconds", n(c.fleet.registration_grace_seconds)},
      {"backup.interval_minutes", n(c.backup.interval_minutes)},
      {"backup.full_every_hours", n(c.backup.full_every_hours)},
      {"backup.retention_days", n(c.backup.retention_days)},
      {"backup.target_region", c.backup.target_region},
      {"backup.restore_test_interval_days", n(c.backup.restore_test_interval_days)},
      {"backup.rto_target_seconds", n(c.backup.rto_target_seconds)},
      {"rotation.db_credential_max_age_days", n(c.rotation.db_credential_max_age_days)},
      {"rotation.previous_version_keep_days", n(c.rotation.previous_version_keep_days)},
      {"rotation.tls_renew_before_days", n(c.rotation.tls_renew_before_days)},
      {"patching.scan_interval_hours", n(c.patching.scan_interval_hours)},
      {"patching.sla_critical_hours", n(c.patching.sla_critical_hours)},
      {"patching.sla_high_days", n(c.patching.sla_high_days)},
      {"patching.sla_medium_days", n(c.patching.sla_medium_days)},
      {"logs.loki_retention_days", n(c.logs.loki_retention_days)},
      {"logs.archive_retention_days", n(c.logs.archive_retention_days)},
      {"logs.compress_after_days", n(c.logs.compress_after_days)},
      {"capacity.disk_warn_percent", n(c.capacity.disk_warn_percent)},
      {"capacity.ram_warn_percent", n(c.capacity.ram_warn_percent)},
      {"capacity.cpu_warn_percent", n(c.capacity.cpu_warn_percent)},
      {"capacity.cpu_for_minutes", n(c.capacity.cpu_for_minutes)},
      {"capacity.api_latency_p95_ms", n(c.capacity.api_latency_p95_ms)},
  };
}

}  // namespace vigie::config
