#pragma once
// Structured logs: one JSON object per line, {"ts","level","event",...fields}, written through
// spdlog. Event names are stable (e.g. "site.provision.step_failed"); fields are typed values.
//
// SECURITY: a field's value is a string, a number, a bool, or anything fmt can format. A
// SecretBytes formats as "[redacted]", and so does any struct whose formatter formats its
// SecretBytes members, so a secret cannot be printed through this API. Never pass a secret
// that was copied out of a SecretBytes into a std::string.
//
// Thread-safety: Log() may be called from any thread.

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include <fmt/format.h>

namespace vigie::log {

enum class Level { kDebug, kInfo, kWarn, kError };

struct Field {
  using Value = std::variant<std::string, int64_t, uint64_t, double, bool>;

  Field(std::string_view k, std::string_view v) : key(k), value(std::string(v)) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string(v)) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool> &&
                                             std::is_signed_v<T>, int> = 0>
  Field(std::string_view k, T v) : key(k), value(static_cast<int64_t>(v)) {}
  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool> &&
                                             std::is_unsigned_v<T>, int> = 0>
  Field(std::string_view k, T v) : key(k), value(static_cast<uint64_t>(v)) {}
  // Anything else that fmt can format (SecretBytes prints "[redacted]").
  template <typename T,
            std::enable_if_t<!std::is_arithmetic_v<T> && !std::is_convertible_v<T, std::string_view>,
                             int> = 0>
  Field(std::string_view k, const T& v) : key(k), value(fmt::format("{}", v)) {}

  std::string key;
  Value value;
};

// Writes one line. Fields named ts, level or event are renamed with a leading underscore.
void Log(Level level, std::string_view event, std::initializer_list<Field> fields = {});
inline void Debug(std::string_view event, std::initializer_list<Field> fields = {}) {
  Log(Level::kDebug, event, fields);
}
inline void Info(std::string_view event, std::initializer_list<Field> fields = {}) {
  Log(Level::kInfo, event, fields);
}
inline void Warn(std::string_view event, std::initializer_list<Field> fields = {}) {
  Log(Level::kWarn, event, fields);
}
inline void Error(std::string_view event, std::initializer_list<Field> fields = {}) {
  Log(Level::kError, event, fields);
}

// Sends log lines to stderr (the default) at `min_level` and above.
void LogToStderr(Level min_level = Level::kInfo);
// Sends log lines to `out` (tests, capture); `out` must outlive logging.
void LogToStream(std::ostream& out, Level min_level = Level::kDebug);
// Appends log lines to `path` (0600), in addition to nothing else.
void LogToFile(const std::string& path, Level min_level = Level::kInfo);
// Parses "debug", "info", "warn", "error".
bool ParseLevel(std::string_view name, Level* out);

}  // namespace vigie::log
