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
  out.passed = out.failing.empty();
  out.canonical_json = j.dump();
  return out;
}

}  // namespace vigie::fleet
