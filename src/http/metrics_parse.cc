#include "http/metrics_parse.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <unordered_map>

namespace vigie::http {
namespace {

bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }
bool IsLabelStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsLabelChar(char c) { return IsLabelStart(c) || (c >= '0' && c <= '9'); }
bool IsBlank(char c) { return c == ' ' || c == '\t'; }

bool ValidMetricName(std::string_view n) {
  if (n.empty() || !IsNameStart(n[0])) return false;
  return std::all_of(n.begin(), n.end(), IsNameChar);
}

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

// A sample value as promtool's parser reads it: a decimal float, or Inf / Infinity / NaN in any
// case, with an optional sign. No surrounding blanks, no hex (promtool refuses "0x10").
std::optional<double> ParseValue(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::string lower(s);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view body = lower;
  bool negative = false;
  if (body[0] == '+' || body[0] == '-') {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body == "inf" || body == "infinity") {
    return negative ? -HUGE_VAL : HUGE_VAL;
  }
  if (body == "nan") return std::nan("");
  if (body.empty()) return std::nullopt;
  // Only digits, '.', exponent: refuse what strtod takes but promtool does not ("nan(...)",
  // hex, leading blanks).
  for (char c : body) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == '+' ||
          c == '-')) {
      return std::nullopt;
    }
  }
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(lower.c_str(), &end);
  if (end != lower.c_str() + lower.size()) return std::nullopt;
  if (errno == ERANGE && std::isinf(v)) return std::nullopt;  // Go: "value out of range"
  return v;
}

std::optional<int64_t> ParseTimestamp(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::string copy(s);
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(copy.c_str(), &end, 10);
  if (end != copy.c_str() + copy.size() || errno == ERANGE || std::isspace(copy[0])) {
    return std::nullopt;
  }
  return static_cast<int64_t>(v);
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<PromExposition> Run() {
    if (!text_.empty() && text_.back() != '\n') {
      return MakeError(ErrorCode::kInvalidArgument,
                       "the text does not end with a newline (the exposition format requires "
                       "every line, the last one included, to end with \\n)");
    }
    size_t pos = 0;
    while (pos < text_.size()) {
      size_t nl = text_.find('\n', pos);
      line_ = text_.substr(pos, nl - pos);
      ++line_no_;
      pos = nl + 1;
      VIGIE_RETURN_IF_ERROR(Line());
    }
    VIGIE_RETURN_IF_ERROR(FinishFamily());
    return std::move(out_);
  }

 private:
  Error Fail(const std::string& what) const {
    std::string shown(line_.substr(0, 120));
    return Error{ErrorCode::kInvalidArgument, "line " + std::to_string(line_no_) + ": " + what +
                                                  "; line: \"" + shown +
                                                  (line_.size() > 120 ? "...\"" : "\"")};
  }

  Status Line() {
    std::string_view l = line_;
    size_t i = 0;
    while (i < l.size() && IsBlank(l[i])) ++i;
    if (i == l.size()) return OkStatus();
    if (l.find('\r') != std::string_view::npos) return tl::unexpected(Fail("carriage return"));
    if (l[i] == '#') return Comment(l.substr(i + 1));
    return Sample(l.substr(i));
  }

  static std::string_view Token(std::string_view& rest) {
    size_t i = 0;
    while (i < rest.size() && IsBlank(rest[i])) ++i;
    size_t j = i;
    while (j < rest.size() && !IsBlank(rest[j])) ++j;
    std::string_view tok = rest.substr(i, j - i);
    rest.remove_prefix(j);
    return tok;
  }

  Status Comment(std::string_view rest) {
    std::string_view keyword = Token(rest);
    if (keyword != "HELP" && keyword != "TYPE") return OkStatus();  // a plain comment
    std::string_view name = Token(rest);
    if (!ValidMetricName(name)) {
      return tl::unexpected(Fail("invalid metric name \"" + std::string(name) + "\" in " +
                                 std::string(keyword) + " line"));
    }
    VIGIE_ASSIGN_OR_RETURN(PromFamily * fam, DeclareFamily(name));
    if (keyword == "TYPE") {
      std::string_view type = Token(rest);
      std::string_view extra = Token(rest);
      if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
          type != "untyped") {
        return tl::unexpected(Fail("unknown metric type \"" + std::string(type) + "\""));
      }
      if (!extra.empty()) return tl::unexpected(Fail("text after the metric type"));
      if (typed_.count(fam->name)) {
        return tl::unexpected(Fail("second TYPE line for metric " + fam->name));
      }
      if (!fam->samples.empty()) {
        return tl::unexpected(Fail("TYPE line for metric " + fam->name + " after its samples"));
      }
      typed_.insert(fam->name);
      fam->type = std::string(type);
      return OkStatus();
    }
    // HELP: the rest after one blank, escapes \\ and \n.
    if (fam->help) return tl::unexpected(Fail("second HELP line for metric " + fam->name));
    if (!rest.empty() && IsBlank(rest[0])) rest.remove_prefix(1);
    std::string help;
    for (size_t i = 0; i < rest.size(); ++i) {
      if (rest[i] != '\\') {
        help += rest[i];
        continue;
      }
      if (i + 1 == rest.size()) return tl::unexpected(Fail("HELP text ends with a backslash"));
      char e = rest[++i];
      if (e == '\\') {
        help += '\\';
      } else if (e == 'n') {
        help += '\n';
      } else {
        return tl::unexpected(Fail(std::string("invalid escape sequence \\") + e +
                                   " in HELP text (only \\\\ and \\n)"));
      }
    }
    if (!ValidUtf8(help)) return tl::unexpected(Fail("HELP text is not valid UTF-8"));
    fam->help = std::move(help);
    return OkStatus();
  }

  // The family named `name` for a HELP/TYPE line: the current one, or a new one.
  Result<PromFamily*> DeclareFamily(std::string_view name) {
    if (current_ != nullptr && current_->name == name) return current_;
    if (index_.count(std::string(name))) {
      return tl::unexpected(Fail("metric family " + std::string(name) +
                                 " appears again after other families (its lines must be "
                                 "contiguous)"));
    }
    VIGIE_RETURN_IF_ERROR(FinishFamily());
    PromFamily fam;
    fam.name = std::string(name);
    out_.families.push_back(std::move(fam));
    index_[std::string(name)] = out_.families.size() - 1;
    current_ = &out_.families.back();
    return current_;
  }

  // The family a sample named `name` belongs to.
  Result<PromFamily*> SampleFamily(const std::string& name) {
    auto belongs = [&](const PromFamily& f) {
      if (f.name == name) return true;
      if (f.type != "histogram" && f.type != "summary") return false;
      for (std::string_view suffix : {"_sum", "_count", "_bucket"}) {
        if (suffix == "_bucket" && f.type != "histogram") continue;
        if (name.size() == f.name.size() + suffix.size() &&
            name.compare(0, f.name.size(), f.name) == 0 &&
            name.compare(f.name.size(), std::string::npos, suffix) == 0) {
          return true;
        }
      }
      return false;
    };
    if (current_ != nullptr && belongs(*current_)) return current_;
    for (const auto& f : out_.families) {
      if (belongs(f)) {
        return tl::unexpected(Fail("sample " + name + " of metric family " + f.name +
                                   " after other families (a family's lines must be "
                                   "contiguous)"));
      }
    }
    return DeclareFamily(name);
  }

  Status Sample(std::string_view l) {
    size_t i = 0;
    while (i < l.size() && IsNameChar(l[i])) ++i;
    std::string name(l.substr(0, i));
    if (!ValidMetricName(name)) return tl::unexpected(Fail("invalid metric name"));
    PromSample s;
    s.name = name;
    size_t brace = i;
    while (brace < l.size() && IsBlank(l[brace])) ++brace;
    if (brace < l.size() && l[brace] == '{') i = brace;
    if (i < l.size() && l[i] == '{') {
      ++i;
      std::set<std::string> seen;
      for (;;) {
        while (i < l.size() && IsBlank(l[i])) ++i;
        if (i < l.size() && l[i] == '}') {
          ++i;
          break;
        }
        size_t start = i;
        while (i < l.size() && IsLabelChar(l[i])) ++i;
        std::string label(l.substr(start, i - start));
        if (label.empty() || !IsLabelStart(label[0])) {
          return tl::unexpected(Fail("invalid label name in metric " + name));
        }
        if (label.rfind("__", 0) == 0) {
          return tl::unexpected(Fail("label name " + label + " is reserved (starts with __)"));
        }
        if (!seen.insert(label).second) {
          return tl::unexpected(Fail("label " + label + " appears twice in metric " + name));
        }
        while (i < l.size() && IsBlank(l[i])) ++i;
        if (i >= l.size() || l[i] != '=') {
          return tl::unexpected(Fail("expected '=' after label name " + label));
        }
        ++i;
        while (i < l.size() && IsBlank(l[i])) ++i;
        if (i >= l.size() || l[i] != '"') {
          return tl::unexpected(Fail("expected '\"' to start the value of label " + label));
        }
        ++i;
        std::string value;
        bool closed = false;
        while (i < l.size()) {
          char c = l[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c != '\\') {
            value += c;
            continue;
          }
          if (i >= l.size()) break;
          char e = l[i++];
          if (e == '\\' || e == '"') {
            value += e;
          } else if (e == 'n') {
            value += '\n';
          } else {
            return tl::unexpected(Fail(std::string("invalid escape sequence \\") + e +
                                       " in the value of label " + label));
          }
        }
        if (!closed) return tl::unexpected(Fail("unterminated value of label " + label));
        if (!ValidUtf8(value)) {
          return tl::unexpected(Fail("value of label " + label + " is not valid UTF-8"));
        }
        s.labels.emplace_back(std::move(label), std::move(value));
        while (i < l.size() && IsBlank(l[i])) ++i;
        if (i < l.size() && l[i] == ',') {
          ++i;
          continue;
        }
        if (i < l.size() && l[i] == '}') {
          ++i;
          break;
        }
        return tl::unexpected(Fail("expected ',' or '}' after the value of label " + label));
      }
    }
    std::string_view rest = l.substr(i);
    if (!rest.empty() && !IsBlank(rest[0])) {
      return tl::unexpected(Fail("expected a blank between the metric and its value"));
    }
    std::string_view value_tok = Token(rest);
    std::string_view ts_tok = Token(rest);
    std::string_view extra = Token(rest);
    if (value_tok.empty()) return tl::unexpected(Fail("missing value for metric " + name));
    auto value = ParseValue(value_tok);
    if (!value) {
      return tl::unexpected(
          Fail("invalid value \"" + std::string(value_tok) + "\" for metric " + name));
    }
    s.value = *value;
    if (!ts_tok.empty()) {
      auto ts = ParseTimestamp(ts_tok);
      if (!ts) {
        return tl::unexpected(
            Fail("invalid timestamp \"" + std::string(ts_tok) + "\" for metric " + name));
      }
      s.timestamp_ms = *ts;
    }
    if (!extra.empty()) return tl::unexpected(Fail("text after the timestamp"));

    VIGIE_ASSIGN_OR_RETURN(PromFamily * fam, SampleFamily(name));
    // The series key: name + sorted labels.
    PromLabels sorted = s.labels;
    std::sort(sorted.begin(), sorted.end());
    std::string key = name;
    for (const auto& [k, v] : sorted) key += '\0' + k + '\0' + v;
    if (!series_.insert(key).second) {
      return tl::unexpected(Fail("duplicate series " + name + " with the same labels"));
    }
    if (fam->type == "histogram" && name == fam->name + "_bucket") {
      const std::string* le = s.Label("le");
      if (le == nullptr) return tl::unexpected(Fail("histogram bucket " + name + " has no le"));
      if (!ParseValue(*le)) {
        return tl::unexpected(
            Fail("histogram bucket " + name + " has le=\"" + *le + "\", not a number"));
      }
    }
    if (fam->type == "summary" && name == fam->name && s.Label("quantile") == nullptr) {
      return tl::unexpected(Fail("summary sample " + name + " has no quantile label"));
    }
    fam->samples.push_back(std::move(s));
    ++out_.sample_count;
    return OkStatus();
  }

  // Histogram consistency, checked when the family is complete.
  Status FinishFamily() {
    if (current_ == nullptr || current_->type != "histogram") return OkStatus();
    const PromFamily& f = *current_;
    struct Group {
      std::vector<std::pair<double, double>> buckets;  // le, count
      std::optional<double> count;
    };
    std::map<PromLabels, Group> groups;
    for (const auto& s : f.samples) {
      PromLabels others;
      for (const auto& kv : s.labels) {
        if (kv.first != "le") others.push_back(kv);
      }
      std::sort(others.begin(), others.end());
      if (s.name == f.name + "_bucket") {
        groups[others].buckets.emplace_back(*ParseValue(*s.Label("le")), s.value);
      } else if (s.name == f.name + "_count") {
        groups[others].count = s.value;
      }
    }
    for (auto& [labels, g] : groups) {
      std::sort(g.buckets.begin(), g.buckets.end());
      std::string where = f.name;
      for (const auto& [k, v] : labels) where += " " + k + "=\"" + v + "\"";
      if (g.buckets.empty() || !std::isinf(g.buckets.back().first)) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "histogram " + where + " has no le=\"+Inf\" bucket");
      }
      for (size_t i = 1; i < g.buckets.size(); ++i) {
        if (g.buckets[i].second < g.buckets[i - 1].second) {
          return MakeError(ErrorCode::kInvalidArgument,
                           "histogram " + where + ": bucket counts decrease between le=" +
                               std::to_string(g.buckets[i - 1].first) +
                               " and le=" + std::to_string(g.buckets[i].first));
        }
      }
      if (g.count && *g.count != g.buckets.back().second) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "histogram " + where + ": _count differs from the +Inf bucket");
      }
    }
    return OkStatus();
  }

  std::string_view text_;
  std::string_view line_;
  size_t line_no_ = 0;
  PromExposition out_;
  PromFamily* current_ = nullptr;  // points into out_.families (back)
  std::unordered_map<std::string, size_t> index_;
  std::set<std::string> typed_;
  std::set<std::string> series_;
};

bool HasSuffix(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// True when `name` contains "_<token>_" or ends with "_<token>" (promlint's test).
bool ContainsToken(std::string_view name, std::string_view token) {
  for (size_t at = name.find(token); at != std::string_view::npos; at = name.find(token, at + 1)) {
    if (at == 0 || name[at - 1] != '_') continue;
    size_t end = at + token.size();
    if (end == name.size() || name[end] == '_') return true;
  }
  return false;
}

bool CamelCase(std::string_view s) {
  for (size_t i = 1; i < s.size(); ++i) {
    if (std::isupper(static_cast<unsigned char>(s[i])) &&
        std::islower(static_cast<unsigned char>(s[i - 1]))) {
      return true;
    }
  }
  return false;
}

// promlint's unit lookup: the first "_"-separated token that is a unit, bare or with an SI /
// binary prefix; returned when it is not the base unit: {unit as written, base unit}.
std::optional<std::pair<std::string, std::string>> NonBaseUnit(const std::string& lower_name) {
  static const std::map<std::string, std::string, std::less<>> kUnits = {
      {"amperes", "amperes"},    {"bytes", "bytes"},     {"celsius", "celsius"},
      {"grams", "grams"},        {"joules", "joules"},   {"kelvin", "kelvin"},
      {"meters", "meters"},      {"metres", "metres"},   {"seconds", "seconds"},
      {"volts", "volts"},        {"minutes", "seconds"}, {"hours", "seconds"},
      {"days", "seconds"},       {"weeks", "seconds"},   {"kelvins", "kelvin"},
      {"fahrenheit", "celsius"}, {"rankine", "celsius"}, {"inches", "meters"},
      {"yards", "meters"},       {"miles", "meters"},    {"bits", "bytes"},
      {"calories", "joules"},    {"pounds", "grams"},    {"ounces", "grams"}};
  static constexpr std::string_view kPrefixes[] = {
      "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo",
      "kibi", "mega", "mibi",  "giga",  "gibi",  "tera", "tebi", "peta",  "pebi"};
  size_t pos = 0;
  while (pos <= lower_name.size()) {
    size_t end = lower_name.find('_', pos);
    if (end == std::string::npos) end = lower_name.size();
    std::string_view token = std::string_view(lower_name).substr(pos, end - pos);
    pos = end + 1;
    std::optional<std::pair<std::string, std::string>> found;
    if (auto it = kUnits.find(token); it != kUnits.end()) {
      found = {std::string(token), it->second};
    } else {
      for (std::string_view p : kPrefixes) {
        if (token.size() > p.size() && token.substr(0, p.size()) == p) {
          if (auto u = kUnits.find(token.substr(p.size())); u != kUnits.end()) {
            found = {std::string(token), u->second};
            break;
          }
        }
      }
    }
    if (found) {
      if (found->first == found->second) return std::nullopt;
      return found;
    }
  }
  return std::nullopt;
}

}  // namespace

const std::string* PromSample::Label(std::string_view name) const {
  for (const auto& [k, v] : labels) {
    if (k == name) return &v;
  }
  return nullptr;
}

const PromFamily* PromExposition::Find(std::string_view family) const {
  for (const auto& f : families) {
    if (f.name == family) return &f;
  }
  return nullptr;
}

const PromSample* PromExposition::FindSample(std::string_view name,
                                             const PromLabels& labels) const {
  for (const auto& f : families) {
    for (const auto& s : f.samples) {
      if (s.name != name) continue;
      bool all = true;
      for (const auto& [k, v] : labels) {
        const std::string* have = s.Label(k);
        if (have == nullptr || *have != v) {
          all = false;
          break;
        }
      }
      if (all) return &s;
    }
  }
  return nullptr;
}

Result<PromExposition> ParsePrometheusText(std::string_view text) { return Parser(text).Run(); }

std::vector<std::string> LintPrometheusText(const PromExposition& exposition) {
  static constexpr std::string_view kAbbreviations[] = {"s",  "ms", "us", "ns", "sec", "b", "kb",
                                                        "mb", "gb", "tb", "pb", "m",   "h", "d"};
  std::vector<std::string> out;
  for (const auto& f : exposition.families) {
    auto add = [&](const std::string& problem) { out.push_back(f.name + " " + problem); };
    const std::string& n = f.name;
    if (!f.help || f.help->empty()) add("no help text");
    if (f.type == "counter" && !HasSuffix(n, "_total")) {
      add("counter metrics should have \"_total\" suffix");
    }
    if (f.type != "counter" && HasSuffix(n, "_total")) {
      add("non-counter metrics should not have \"_total\" suffix");
    }
    if (f.type != "histogram" && f.type != "summary") {
      for (std::string_view s : {"_count", "_sum", "_bucket"}) {
        if (HasSuffix(n, s)) {
          add("non-histogram and non-summary metrics should not have \"" + std::string(s) +
              "\" suffix");
        }
      }
    }
    if (CamelCase(n)) add("metric names should be written in 'snake_case' not 'camelCase'");
    std::set<std::string> camel_labels;
    for (const auto& s : f.samples) {
      for (const auto& kv : s.labels) {
        if (CamelCase(kv.first)) camel_labels.insert(kv.first);
      }
    }
    for (const auto& l : camel_labels) {
      add("label names should be written in 'snake_case' not 'camelCase' (" + l + ")");
    }
    std::string lower = n;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (std::string_view a : kAbbreviations) {
      if (ContainsToken(lower, a)) {
        add("metric names should not contain abbreviated units");
        break;
      }
    }
    if (auto unit = NonBaseUnit(lower)) {
      add("use base unit \"" + unit->second + "\" instead of \"" + unit->first + "\"");
    }
    for (std::string_view t : {"counter", "gauge", "histogram", "summary", "untyped"}) {
      if (ContainsToken(lower, t)) {
        add("metric name should not include type '" + std::string(t) + "'");
      }
    }
    if (f.type == "counter") {
      for (const auto& s : f.samples) {
        if (s.value < 0) {
          add("counter has a negative value");
          break;
        }
      }
    }
  }
  return out;
}

MetricsSelfCheck SelfCheckMetricsText(std::string_view text) {
  MetricsSelfCheck r;
  auto parsed = ParsePrometheusText(text);
  if (!parsed) {
    r.error = parsed.error().message;
    return r;
  }
  r.families = parsed->families.size();
  r.samples = parsed->sample_count;
  std::vector<std::string> lint = LintPrometheusText(*parsed);
  for (const auto& p : lint) r.error += (r.error.empty() ? "" : "; ") + p;
  if (r.error.empty() && r.families == 0) r.error = "no metric family";
  r.ok = r.error.empty();
  return r;
}

}  // namespace vigie::http
