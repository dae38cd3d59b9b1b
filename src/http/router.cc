// Router and the request/response value helpers of server.h (no Boost here: this file compiles
// fast and is what handler unit tests exercise without a socket).

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <nlohmann/json.hpp>
#include <set>

#include "base/encoding.h"
#include "base/log.h"
#include "http/server.h"

namespace vigie::http {

namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(path.substr(start));
      break;
    }
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

bool IsParam(std::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

std::string ServerRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (HeaderNameEquals(k, name)) return v;
  }
  return "";
}

std::string ServerRequest::Param(std::string_view name) const {
  auto it = params.find(std::string(name));
  return it == params.end() ? "" : it->second;
}

ServerResponse ServerResponse::Json(int status, std::string body) {
  ServerResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

ServerResponse ServerResponse::ErrorWithStatus(int status, ErrorCode code,
                                               std::string_view message) {
  nlohmann::json body = {
      {"error", {{"code", std::string(ErrorCodeName(code))}, {"message", std::string(message)}}}};
  // error_handler::replace: a message with invalid UTF-8 must not throw.
  return Json(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

ServerResponse ServerResponse::Error(const vigie::Error& error) {
  return ErrorWithStatus(HttpStatusFor(error.code), error.code, error.message);
}

Status Router::Add(std::string method, std::string pattern, Handler handler) {
  if (method.empty() || pattern.empty() || pattern.front() != '/') {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("route '{} {}': method must be set and the pattern must start "
                                 "with '/'",
                                 method, pattern));
  }
  if (!handler) {
    return MakeError(ErrorCode::kInvalidArgument,
                     fmt::format("route '{} {}' has no handler", method, pattern));
  }
  Route route;
  std::set<std::string> names;
  for (std::string_view segment : SplitPath(pattern)) {
    if (IsParam(segment)) {
      std::string name(segment.substr(1, segment.size() - 2));
      if (name.empty() || name.find_first_of("{}/") != std::string::npos ||
          !names.insert(name).second) {
        return MakeError(
            ErrorCode::kInvalidArgument,
            fmt::format("route '{}': parameter '{}' is empty or used twice", pattern, segment));
      }
    } else if (segment.find_first_of("{}") != std::string_view::npos) {
      return MakeError(ErrorCode::kInvalidArgument,
                       fmt::format("route '{}': segment '{}' mixes literal text and a parameter",
                                   pattern, segment));
    }
    route.segments.emplace_back(segment);
  }
  for (const Route& r : routes_) {
    if (r.method == method && r.segments == route.segments) {
      return MakeError(ErrorCode::kAlreadyExists,
                       fmt::format("route '{} {}' is registered twice", method, pattern));
    }
  }
  route.method = std::move(method);
  route.pattern = std::move(pattern);
  route.handler = std::move(handler);
  routes_.push_back(std::move(route));
  return OkStatus();
}

void Router::Dispatch(ServerRequest& request, Responder respond) const {
  std::vector<std::string_view> parts = SplitPath(request.path);
  const Route* best = nullptr;
  std::vector<bool> best_score;
  std::set<std::string> allowed;
  for (const Route& r : routes_) {
    if (r.segments.size() != parts.size()) continue;
    std::vector<bool> score;  // true for a literal match, per segment: more specific wins
    bool match = true;
    for (size_t i = 0; i < parts.size() && match; ++i) {
      if (IsParam(r.segments[i])) {
        match = !parts[i].empty();
        score.push_back(false);
      } else {
        match = r.segments[i] == parts[i];
        score.push_back(true);
      }
    }
    if (!match) continue;
    if (r.method != request.method) {
      allowed.insert(r.method);
      continue;
    }
    if (best == nullptr || score > best_score) {
      best = &r;
      best_score = std::move(score);
    }
  }
  if (best == nullptr) {
    if (allowed.empty()) {
      respond(ServerResponse::ErrorWithStatus(404, ErrorCode::kNotFound,
                                              fmt::format("no route for {}", request.path)));
      return;
    }
    std::string allow;
    for (const std::string& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
    ServerResponse r =
        ServerResponse::ErrorWithStatus(405, ErrorCode::kInvalidArgument,
                                        fmt::format("method {} is not allowed on {}; allowed: {}",
                                                    request.method, request.path, allow));
    r.headers.emplace_back("Allow", allow);
    respond(std::move(r));
    return;
  }
  request.route = best->pattern;
  request.params.clear();
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!IsParam(best->segments[i])) continue;
    auto value = PercentDecode(parts[i]);
    if (!value) {
      respond(ServerResponse::ErrorWithStatus(
          400, ErrorCode::kInvalidArgument,
          fmt::format("path segment {} has a malformed percent-encoding", i + 1)));
      return;
    }
    request.params[best->segments[i].substr(1, best->segments[i].size() - 2)] = std::move(*value);
  }
  try {
    best->handler(request, respond);
  } catch (const std::exception& e) {
    log::Error("http.server.handler_threw", {{"route", best->pattern}, {"what", e.what()}});
    respond(ServerResponse::ErrorWithStatus(500, ErrorCode::kInternal, "internal error"));
  } catch (...) {
    log::Error("http.server.handler_threw", {{"route", best->pattern}});
    respond(ServerResponse::ErrorWithStatus(500, ErrorCode::kInternal, "internal error"));
  }
}

}  // namespace vigie::http
