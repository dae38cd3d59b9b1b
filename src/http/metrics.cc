#include "http/metrics.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <variant>

namespace vigie::http {

namespace {

bool IsMetricName(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

bool IsLabelName(std::string_view s) {
  if (s.empty() || s.substr(0, 2) == "__") return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

void AppendLabels(const std::vector<std::string>& names, const LabelValues& values,
                  std::string_view extra_name, std::string_view extra_value, std::string& out) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i];
    out += "=\"";
    out += EscapeLabelValue(values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

}  // namespace

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatPromValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

void Counter::Inc(double v) {
  if (!(v >= 0)) return;
  value_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

uint64_t Histogram::CumulativeCount(size_t i) const {
  uint64_t total = 0;
  for (size_t k = 0; k <= i && k <= bounds_.size(); ++k) {
    total += counts_[k].load(std::memory_order_relaxed);
  }
  return total;
}

namespace {

// The hash of a label-value tuple, the same for a LabelValues and for a span of string_views
// holding the same strings (each value hashed apart, so ("ab", "c") and ("a", "bc") differ).
template <typename Values>
size_t LabelHash(const Values& values) {
  size_t h = values.size();
  for (const auto& v : values) {
    h ^= std::hash<std::string_view>{}(std::string_view(v)) + 0x9e3779b97f4a7c15ULL + (h << 6) +
         (h >> 2);
  }
  return h;
}

template <typename A, typename B>
bool SameValues(const A& a, const B& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::string_view(a[i]) != std::string_view(b[i])) return false;
  }
  return true;
}

}  // namespace

template <typename T>
void Family<T>::CheckArity(size_t n) const {
  if (n != label_names_.size()) {
    std::fprintf(stderr, "vigie: metric %s takes %zu label values, got %zu (programming error)\n",
                 name_.c_str(), label_names_.size(), n);
    std::abort();
  }
}

template <typename T>
template <typename Values>
T* Family<T>::FindLocked(const Values& values, size_t hash) const {
  auto [first, last] = index_.equal_range(hash);
  for (auto it = first; it != last; ++it) {
    if (SameValues(it->second->first, values)) return it->second->second.get();
  }
  return nullptr;
}

template <typename T>
T& Family<T>::InsertLocked(LabelValues values, size_t hash) {
  std::unique_ptr<T> series;
  if constexpr (std::is_same_v<T, Histogram>) {
    series = std::make_unique<Histogram>(bounds_);
  } else {
    series = std::make_unique<T>();
  }
  auto [it, inserted] = series_.emplace(std::move(values), std::move(series));
  index_.emplace(hash, &*it);
  T* ref = it->second.get();
  if (it->first.empty()) unlabelled_.store(ref, std::memory_order_release);
  return *ref;
}

template <typename T>
T& Family<T>::With(const LabelValues& values) {
  CheckArity(values.size());
  const size_t hash = LabelHash(values);
  std::lock_guard<std::mutex> lock(mu_);
  if (T* s = FindLocked(values, hash)) return *s;
  return InsertLocked(values, hash);
}

template <typename T>
T& Family<T>::With(std::span<const std::string_view> values) {
  CheckArity(values.size());
  const size_t hash = LabelHash(values);
  std::lock_guard<std::mutex> lock(mu_);
  if (T* s = FindLocked(values, hash)) return *s;
  return InsertLocked(LabelValues(values.begin(), values.end()), hash);
}

template <typename T>
void Family<T>::Replace(const std::map<LabelValues, double>& values) {
  // Not a requires-clause: clang-14 instantiates constrained members on the explicit
  // instantiations below (Family<Counter>, Family<Histogram>) and then fails on Set().
  if constexpr (!std::is_same_v<T, Gauge>) {
    std::fprintf(stderr, "vigie: metric %s: Replace is for gauges only (programming error)\n",
                 name_.c_str());
    std::abort();
  } else {
    for (const auto& [labels, v] : values) {
      if (labels.size() != label_names_.size()) {
        std::fprintf(stderr,
                     "vigie: metric %s takes %zu label values, got %zu (programming error)\n",
                     name_.c_str(), label_names_.size(), labels.size());
        std::abort();
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = series_.begin(); it != series_.end();) {
      if (values.count(it->first) != 0) {
        ++it;
        continue;
      }
      auto [first, last] = index_.equal_range(LabelHash(it->first));
      for (auto i = first; i != last; ++i) {
        if (i->second == &*it) {
          index_.erase(i);
          break;
        }
      }
      if (it->first.empty()) unlabelled_.store(nullptr, std::memory_order_release);
      it = series_.erase(it);
    }
    for (const auto& [labels, v] : values) {
      const size_t hash = LabelHash(labels);
      T* series = FindLocked(labels, hash);
      (series ? *series : InsertLocked(labels, hash)).Set(v);
    }
  }
}

template <typename T>
void Family<T>::Render(std::string_view type, std::string& out) const {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name_, EscapeHelp(help_), name_, type);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [values, series] : series_) {
    if constexpr (std::is_same_v<T, Histogram>) {
      // _count is the +Inf bucket so that the two always agree, even while Observe() runs.
      const auto& bounds = series->bounds();
      for (size_t i = 0; i <= bounds.size(); ++i) {
        out += name_;
        out += "_bucket";
        std::string le = i < bounds.size() ? FormatPromValue(bounds[i]) : "+Inf";
        AppendLabels(label_names_, values, "le", le, out);
        out += ' ';
        out += std::to_string(series->CumulativeCount(i));
        out += '\n';
      }
      out += name_;
      out += "_sum";
      AppendLabels(label_names_, values, "", "", out);
      out += ' ';
      out += FormatPromValue(series->Sum());
      out += '\n';
      out += name_;
      out += "_count";
      AppendLabels(label_names_, values, "", "", out);
      out += ' ';
      out += std::to_string(series->Count());
      out += '\n';
    } else {
      out += name_;
      AppendLabels(label_names_, values, "", "", out);
      out += ' ';
      out += FormatPromValue(series->Value());
      out += '\n';
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

struct MetricsRegistry::Entry {
  std::string name;
  std::variant<std::unique_ptr<CounterFamily>, std::unique_ptr<GaugeFamily>,
               std::unique_ptr<HistogramFamily>>
      family;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

Status MetricsRegistry::CheckNew(const std::string& name,
                                 const std::vector<std::string>& label_names, bool counter,
                                 bool histogram) {
  if (!IsMetricName(name)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("metric name '{}' must match [a-zA-Z_:][a-zA-Z0-9_:]*", name));
  }
  if (counter && (name.size() < 6 || name.substr(name.size() - 6) != "_total")) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("counter '{}' must end in _total (Prometheus convention)", name));
  }
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string& label = label_names[i];
    if (!IsLabelName(label)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("metric '{}': label name '{}' must match [a-zA-Z_][a-zA-Z0-9_]* "
                                   "and not start with __",
                                   name, label));
    }
    if (histogram && label == "le") {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("histogram '{}' may not use the reserved label 'le'", name));
    }
    for (size_t j = 0; j < i; ++j) {
      if (label_names[j] == label) {
        return MakeError(ErrorCode::kInvalidArgument,
                         fmt::format("metric '{}': label '{}' appears twice", name, label));
      }
    }
  }
  for (const auto& e : entries_) {
    if (e->name == name) {
      return MakeError(ErrorCode::kAlreadyExists,
                       fmt::format("metric '{}' is already registered", name));
    }
  }
  return OkStatus();
}

Result<CounterFamily*> MetricsRegistry::AddCounter(std::string name, std::string help,
                                                   std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  VIGIE_RETURN_IF_ERROR(CheckNew(name, label_names, true, false));
  std::unique_ptr<CounterFamily> family(
      new CounterFamily(name, std::move(help), std::move(label_names), {}));
  CounterFamily* out = family.get();
  if (out->label_names().empty()) out->Get();
  entries_.push_back(std::make_unique<Entry>(Entry{std::move(name), std::move(family)}));
  return out;
}

Result<GaugeFamily*> MetricsRegistry::AddGauge(std::string name, std::string help,
                                               std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  VIGIE_RETURN_IF_ERROR(CheckNew(name, label_names, false, false));
  std::unique_ptr<GaugeFamily> family(
      new GaugeFamily(name, std::move(help), std::move(label_names), {}));
  GaugeFamily* out = family.get();
  if (out->label_names().empty()) out->Get();
  entries_.push_back(std::make_unique<Entry>(Entry{std::move(name), std::move(family)}));
  return out;
}

Result<HistogramFamily*> MetricsRegistry::AddHistogram(std::string name, std::string help,
                                                       std::vector<std::string> label_names,
                                                       std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  VIGIE_RETURN_IF_ERROR(CheckNew(name, label_names, false, true));
  if (bounds.empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("histogram '{}' needs at least one bucket bound", name));
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("histogram '{}': bucket bounds must be finite and strictly "
                                   "increasing (+Inf is implicit)",
                                   name));
    }
  }
  std::unique_ptr<HistogramFamily> family(
      new HistogramFamily(name, std::move(help), std::move(label_names), std::move(bounds)));
  HistogramFamily* out = family.get();
  if (out->label_names().empty()) out->Get();
  entries_.push_back(std::make_unique<Entry>(Entry{std::move(name), std::move(family)}));
  return out;
}

void MetricsRegistry::AddCollectHook(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(mu_);
  hooks_.push_back(std::move(hook));
}

std::string MetricsRegistry::Render() const {
  std::vector<std::function<void()>> hooks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hooks = hooks_;
  }
  // Hooks run without mu_ held: they typically touch series, which only take family locks.
  for (const auto& hook : hooks) hook();
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& e : entries_) {
    std::visit(
        [&](const auto& family) {
          using F = std::decay_t<decltype(*family)>;
          if constexpr (std::is_same_v<F, CounterFamily>) {
            family->Render("counter", out);
          } else if constexpr (std::is_same_v<F, GaugeFamily>) {
            family->Render("gauge", out);
          } else {
            family->Render("histogram", out);
          }
        },
        e->family);
  }
  return out;
}

}  // namespace vigie::http
