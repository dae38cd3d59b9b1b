#include "testing/fault_http.h"

#include <fmt/format.h>

#include <utility>

namespace vigie::testing {
namespace {

// The value of `key` in an application/x-www-form-urlencoded body ("" when absent). Action
// names are plain ASCII letters, so no percent-decoding is needed for them.
std::string FormValue(std::string_view body, std::string_view key) {
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t end = body.find('&', pos);
    if (end == std::string_view::npos) end = body.size();
    std::string_view pair = body.substr(pos, end - pos);
    if (pair.size() > key.size() && pair.substr(0, key.size()) == key && pair[key.size()] == '=') {
      return std::string(pair.substr(key.size() + 1));
    }
    pos = end + 1;
  }
  return "";
}

// "iam" from "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/iam/aws4_request, ...".
std::string ServiceOfScope(std::string_view authorization) {
  size_t at = authorization.find("Credential=");
  if (at == std::string_view::npos) return "";
  std::string_view scope = authorization.substr(at + 11);
  scope = scope.substr(0, scope.find_first_of(", "));
  // key id / date / region / service / aws4_request
  size_t slash = 0;
  for (int i = 0; i < 3; ++i) {
    slash = scope.find('/', slash);
    if (slash == std::string_view::npos) return "";
    ++slash;
  }
  size_t end = scope.find('/', slash);
  if (end == std::string_view::npos) return "";
  return std::string(scope.substr(slash, end - slash));
}

std::string Header(const http::HttpRequest& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (http::HeaderNameEquals(k, name)) return v;
  }
  return "";
}

http::HttpResponse ErrorReply(const http::HttpRequest& request, HttpFault fault) {
  const bool internal = fault == HttpFault::kInternalFailure;
  const std::string request_id = "00000000-0000-4000-8000-000000000fa1";
  http::HttpResponse r;
  r.status = internal ? 500 : 400;
  const std::string message =
      internal ? "We encountered an internal error. Please try again. (injected fault)"
               : "Rate exceeded (injected fault)";
  if (!Header(request, "X-Amz-Target").empty()) {
    // JSON 1.0/1.1 protocol error shape.
    const std::string code = internal ? "InternalFailure" : "ThrottlingException";
    r.headers = {{"Content-Type", "application/x-amz-json-1.1"},
                 {"x-amzn-RequestId", request_id},
                 {"x-amzn-ErrorType", code}};
    r.body = fmt::format(R"({{"__type":"{}","message":"{}"}})", code, message);
  } else {
    // Query protocol (IAM) error shape.
    const std::string code = internal ? "InternalFailure" : "Throttling";
    r.headers = {{"Content-Type", "text/xml"}, {"x-amzn-RequestId", request_id}};
    r.body = fmt::format(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>{}"
        "</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId>"
        "</ErrorResponse>",
        internal ? "Receiver" : "Sender", code, message, request_id);
  }
  return r;
}

}  // namespace

std::string_view HttpFaultName(HttpFault fault) {
  switch (fault) {
    case HttpFault::kTransport:
      return "transport";
    case HttpFault::kInternalFailure:
      return "http500_InternalFailure";
    case HttpFault::kThrottling:
      return "http400_Throttling";
  }
  return "unknown";
}

std::string AwsActionOf(const http::HttpRequest& request) {
  std::string service = ServiceOfScope(Header(request, "Authorization"));
  const std::string target = Header(request, "X-Amz-Target");
  std::string action;
  if (!target.empty()) {
    size_t dot = target.rfind('.');
    if (dot == std::string::npos) return "";
    action = target.substr(dot + 1);
    if (service.empty()) service = target.substr(0, dot);
  } else {
    action = FormValue(request.body, "Action");
    if (action.empty()) return "";
    if (service.empty()) service = "query";
  }
  return service + ":" + action;
}

void FaultInjectingHttpClient::FailNth(std::string action, int occurrence, HttpFault fault) {
  std::lock_guard<std::mutex> lock(mu_);
  action_ = std::move(action);
  remaining_ = occurrence;
  fault_ = fault;
}

void FaultInjectingHttpClient::Disarm() {
  std::lock_guard<std::mutex> lock(mu_);
  action_.clear();
  remaining_ = 0;
}

int FaultInjectingHttpClient::injected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return injected_;
}

std::vector<std::string> FaultInjectingHttpClient::log() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_;
}

void FaultInjectingHttpClient::ClearLog() {
  std::lock_guard<std::mutex> lock(mu_);
  log_.clear();
}

void FaultInjectingHttpClient::SetObserver(std::function<void(const std::string&)> observer) {
  std::lock_guard<std::mutex> lock(mu_);
  observer_ = std::move(observer);
}

Result<http::HttpResponse> FaultInjectingHttpClient::Send(const http::HttpRequest& request) {
  const std::string action = AwsActionOf(request);
  std::function<void(const std::string&)> observer;
  bool fail = false;
  HttpFault fault = HttpFault::kTransport;
  {
    std::lock_guard<std::mutex> lock(mu_);
    log_.push_back(action);
    observer = observer_;
    if (!action_.empty() && action == action_ && --remaining_ == 0) {
      fail = true;
      fault = fault_;
      action_.clear();
      ++injected_;
    }
  }
  if (observer) observer(action);
  if (!fail) return base_.Send(request);
  if (fault == HttpFault::kTransport) {
    return MakeError(ErrorCode::kUnavailable,
                     fmt::format("{} {}: Connection reset by peer (injected transport fault; the "
                                 "request was not sent)",
                                 request.method, request.url));
  }
  return ErrorReply(request, fault);
}

}  // namespace vigie::testing
