#pragma once
// A small Prometheus metrics registry (MAINT_003): counters, gauges and fixed-bucket histograms,
// each a family with optional labels, rendered in the text exposition format 0.0.4 (what
// `promtool check metrics` and a Prometheus scrape of /metrics accept).
//
// Conventions enforced at registration (so /metrics stays promtool-clean): metric names match
// [a-zA-Z_:][a-zA-Z0-9_:]*, counter names end in "_total", label names match
// [a-zA-Z_][a-zA-Z0-9_]* and do not start with "__", histograms may not use the label "le",
// histogram buckets are finite and strictly increasing (+Inf is implicit).
//
// Rendering: families in registration order; within a family, series sorted by label values;
// label values escaped (backslash, double quote, newline), HELP text escaped (backslash,
// newline); numbers in shortest round-trip form, +Inf/-Inf/NaN spelled as Prometheus does.
//
// Thread-safety: everything is thread-safe. Recording (Inc/Set/Observe) on a series handle is
// lock-free (atomics); looking a series up by label values (With) takes the family's mutex (a
// hash lookup that builds no key when the series exists), so hot paths should keep the handle;
// Get() on an unlabelled family takes no lock. Handles stay valid as long as the registry lives,
// except those of series removed by GaugeFamily::Replace().
//
// SECURITY: label values are exported verbatim to whoever can scrape /metrics: never put a
// secret, a token or an unbounded value (a raw URL path, a request id) in a label.

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "base/error.h"

namespace vigie::http {

using LabelValues = std::vector<std::string>;

class Counter {
 public:
  // REQUIRES: v >= 0 (a negative increment is ignored: counters only go up).
  void Inc(double v = 1.0);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // `bounds`: finite, strictly increasing upper bounds (validated by the registry).
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  // Cumulative count of observations <= bounds()[i]; i == bounds().size() is +Inf.
  uint64_t CumulativeCount(size_t i) const;
  uint64_t Count() const { return CumulativeCount(bounds_.size()); }
  double Sum() const { return sum_.load(std::memory_order_relaxed); }
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1 non-cumulative buckets
  std::atomic<double> sum_{0.0};
};

// A family of series sharing a name, help and label names. T is Counter, Gauge or Histogram.
template <typename T>
class Family {
 public:
  // The series for `values` (one per label name, in the family's label order), created on first
  // use. REQUIRES: values.size() == label_names().size(); a mismatch is a programming error and
  // aborts the process with a message naming the metric.
  // The string_view forms copy the values only when they create the series: With({"GET",
  // route, code}) builds no std::string nor vector (a braced list picks the initializer_list
  // overload). The views need to live for the call only.
  T& With(const LabelValues& values);
  T& With(std::span<const std::string_view> values);
  T& With(std::initializer_list<std::string_view> values) {
    return With(std::span<const std::string_view>(values.begin(), values.size()));
  }
  // The unlabelled series. REQUIRES: the family has no labels.
  T& Get() {
    if (T* s = unlabelled_.load(std::memory_order_acquire)) return *s;
    return With(std::span<const std::string_view>());
  }

  // Gauges only: makes `values` the whole set of series, in one step with respect to Render()
  // (a scrape sees the old set or the new one): series absent from `values` are removed (so a
  // site that disappeared stops being exported), the others are set, created when new.
  // REQUIRES: every key has one value per label name (else aborts, as With()).
  // A handle from With() for a removed series dangles: do not keep handles of a family whose
  // series are replaced. Called on another family, aborts (a programming error).
  void Replace(const std::map<LabelValues, double>& values);

  const std::string& name() const { return name_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

 private:
  friend class MetricsRegistry;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}
  void Render(std::string_view type, std::string& out) const;
  using SeriesMap = std::map<LabelValues, std::unique_ptr<T>>;
  // The series whose values equal `values` (a LabelValues or a span of string_views), or null.
  // REQUIRES: mu_ held.
  template <typename Values>
  T* FindLocked(const Values& values, size_t hash) const;
  // Adds a series for `values` (absent). REQUIRES: mu_ held.
  T& InsertLocked(LabelValues values, size_t hash);
  void CheckArity(size_t n) const;

  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;  // histograms only
  mutable std::mutex mu_;
  // series_ orders the exposition (sorted by label values); index_ finds a series by the hash of
  // its values (LabelHash in metrics.cc) without comparing strings along a tree path.
  SeriesMap series_;                                                        // guarded by mu_
  std::unordered_multimap<size_t, typename SeriesMap::value_type*> index_;  // guarded by mu_
  // The series of the empty label set once it exists (Get() without the lock); reset when
  // Replace() removes it.
  std::atomic<T*> unlabelled_{nullptr};
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// Default latency buckets, in seconds (0.5 ms .. 10 s).
std::vector<double> DefaultLatencyBuckets();

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Registers a family; the returned pointer is owned by the registry and lives as long as it.
  // Errors: kInvalidArgument (name, label names or buckets break the conventions above; the
  // message names the metric), kAlreadyExists (a family with this name is registered).
  Result<CounterFamily*> AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names = {});
  Result<GaugeFamily*> AddGauge(std::string name, std::string help,
                                std::vector<std::string> label_names = {});
  Result<HistogramFamily*> AddHistogram(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> bounds);

  // Registers a hook run at the start of every Render() (e.g. to copy a connection count into a
  // gauge at scrape time). Hooks run on the rendering thread, in registration order, and must
  // not call Render().
  void AddCollectHook(std::function<void()> hook);

  // The whole registry in the text exposition format (Content-Type
  // "text/plain; version=0.0.4; charset=utf-8").
  std::string Render() const;

 private:
  struct Entry;
  Status CheckNew(const std::string& name, const std::vector<std::string>& label_names,
                  bool counter, bool histogram);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;  // guarded by mu_
  std::vector<std::function<void()>> hooks_;     // guarded by mu_
};

// Content-Type of MetricsRegistry::Render() output.
inline constexpr std::string_view kPrometheusTextContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Text-format escaping, exposed for tests: label values escape \ " and newline; HELP text
// escapes \ and newline.
std::string EscapeLabelValue(std::string_view v);
std::string EscapeHelp(std::string_view v);
// A sample value or bucket bound as Prometheus spells it ("1", "0.25", "+Inf", "NaN").
std::string FormatPromValue(double v);

}  // namespace vigie::http
