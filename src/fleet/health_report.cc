#include "fleet/health_report.h"

#include <nlohmann/json.hpp>

namespace vigie::fleet {
namespace {

using nlohmann::json;

Status CheckComponent(const json& j, const std::string& name, HealthReport& out) {
  if (!j.is_object()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "heartbeat report: field " + name + " must be an object");
  }
  auto ok = j.find("ok");
  if (ok == j.end() || !ok->is_boolean()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "heartbeat report: field " + name + ".ok must be a boolean");
  }
  bool passed = ok->get<bool>();
  if (name == "vault") {
    auto sealed = j.find("sealed");
    if (sealed == j.end() || !sealed->is_boolean()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "heartbeat report: field vault.sealed must be a boolean");
    }
    if (sealed->get<bool>()) passed = false;
  }
  if (!passed) out.failing.push_back(name);
  return OkStatus();
}

Result<MetricsReport> ParseMetricsReport(const json& j) {
  auto bad = [](const std::string& what) {
    return MakeError(ErrorCode::kInvalidArgument, "heartbeat report: field metrics" + what);
  };
  if (!j.is_object()) return bad(" must be an object {\"ok\", \"families\", ...}");
  MetricsReport m;
  auto ok = j.find("ok");
  if (ok == j.end() || !ok->is_boolean()) return bad(".ok must be a boolean");
  m.ok = ok->get<bool>();
  auto count = [&](const char* key, bool required, int64_t& out) -> Status {
    auto it = j.find(key);
    if (it == j.end() && !required) return OkStatus();
    if (it == j.end() || !it->is_number_integer() || it->get<int64_t>() < 0) {
      return bad(std::string(".") + key + " must be a non-negative integer");
    }
    out = it->get<int64_t>();
    return OkStatus();
  };
  VIGIE_RETURN_IF_ERROR(count("families", true, m.families));
  VIGIE_RETURN_IF_ERROR(count("samples", false, m.samples));
  if (auto e = j.find("error"); e != j.end() && !e->is_null()) {
    if (!e->is_string()) return bad(".error must be a string");
    m.error = e->get<std::string>();
  }
  return m;
}

}  // namespace

Result<HealthReport> ParseHealthReport(std::string_view body) {
  json j;
  try {
    j = json::parse(body.begin(), body.end());
  } catch (const json::parse_error& e) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "malformed JSON at byte " + std::to_string(e.byte) + ": " + e.what());
  } catch (const json::exception& e) {
    return MakeError(ErrorCode::kInvalidArgument, std::string("malformed JSON: ") + e.what());
  }
  if (!j.is_object()) {
    return MakeError(ErrorCode::kInvalidArgument, "heartbeat report: must be a JSON object");
  }
  HealthReport out;
  auto version = j.find("agent_version");
  if (version == j.end() || !version->is_string() || version->get<std::string>().empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "heartbeat report: field agent_version must be a non-empty string");
  }
  out.agent_version = version->get<std::string>();
  for (const char* name : {"disk", "memory", "cpu"}) {
    auto it = j.find(name);
    if (it == j.end()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       std::string("heartbeat report: missing field ") + name);
    }
    VIGIE_RETURN_IF_ERROR(CheckComponent(*it, name, out));
  }
  auto services = j.find("services");
  if (services == j.end() || !services->is_object() || services->empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "heartbeat report: field services must be a non-empty object of the "
                     "agent's services");
  }
  for (const auto& [name, svc] : services->items()) {
    VIGIE_RETURN_IF_ERROR(CheckComponent(svc, "services." + name, out));
  }
  if (auto vault = j.find("vault"); vault != j.end() && !vault->is_null()) {
    VIGIE_RETURN_IF_ERROR(CheckComponent(*vault, "vault", out));
  }
  if (auto metrics = j.find("metrics"); metrics != j.end() && !metrics->is_null()) {
    VIGIE_ASSIGN_OR_RETURN(out.metrics, ParseMetricsReport(*metrics));
  }
  out.passed = out.failing.empty();
  return out;
}

}  // namespace vigie::fleet
