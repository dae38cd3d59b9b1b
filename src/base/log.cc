#include "base/log.h"

#include <sys/stat.h>

#include <chrono>
#include <mutex>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "base/env.h"

namespace vigie::log {

namespace {

spdlog::level::level_enum ToSpd(Level level) {
  switch (level) {
    case Level::kDebug: return spdlog::level::debug;
    case Level::kInfo: return spdlog::level::info;
    case Level::kWarn: return spdlog::level::warn;
    case Level::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

std::mutex g_mu;
std::shared_ptr<spdlog::logger> g_logger;  // GUARDED_BY(g_mu) for replacement.

void Install(std::shared_ptr<spdlog::sinks::sink> sink, Level min_level) {
  auto logger = std::make_shared<spdlog::logger>("vigie", std::move(sink));
  // The line is already a complete JSON object: no spdlog prefix.
  logger->set_pattern("%v");
  logger->set_level(ToSpd(min_level));
  logger->flush_on(spdlog::level::debug);
  std::lock_guard<std::mutex> lock(g_mu);
  g_logger = std::move(logger);
}

std::shared_ptr<spdlog::logger> Current() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_logger) {
    auto logger = std::make_shared<spdlog::logger>(
        "vigie", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern("%v");
    logger->set_level(spdlog::level::info);
    g_logger = std::move(logger);
  }
  return g_logger;
}

}  // namespace

void Log(Level level, std::string_view event, std::initializer_list<Field> fields) {
  auto logger = Current();
  if (!logger->should_log(ToSpd(level))) return;
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  nlohmann::ordered_json line;
  line["ts"] = FormatRfc3339(now).insert(19, fmt::format(".{:03d}", ms % 1000));
  line["level"] = LevelName(level);
  line["event"] = event;
  for (const Field& f : fields) {
    std::string key = f.key;
    if (key == "ts" || key == "level" || key == "event") key.insert(0, "_");
    std::visit([&](const auto& v) { line[key] = v; }, f.value);
  }
  // Replace invalid UTF-8 rather than throwing: a log line must never abort the caller.
  logger->log(ToSpd(level), line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void LogToStderr(Level min_level) {
  Install(std::make_shared<spdlog::sinks::stderr_sink_mt>(), min_level);
}

void LogToStream(std::ostream& out, Level min_level) {
  Install(std::make_shared<spdlog::sinks::ostream_sink_mt>(out, /*force_flush=*/true), min_level);
}

void LogToFile(const std::string& path, Level min_level) {
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/false);
  ::chmod(path.c_str(), 0600);
  Install(std::move(sink), min_level);
}

bool ParseLevel(std::string_view name, Level* out) {
  if (name == "debug") *out = Level::kDebug;
  else if (name == "info") *out = Level::kInfo;
  else if (name == "warn") *out = Level::kWarn;
  else if (name == "error") *out = Level::kError;
  else return false;
  return true;
}

}  // namespace vigie::log
