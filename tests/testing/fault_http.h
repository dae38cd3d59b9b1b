#pragma once
// FaultInjectingHttpClient: a test double (decorator) for http::HttpClient that forwards every
// request to a real client (e.g. a CurlClient talking to moto_server), except the N-th request
// whose AWS action matches an armed fault, which it fails instead of sending:
//  - HttpFault::kTransport: a transport error (kUnavailable, as CurlClient reports a reset
//    connection), the request never reaches the peer;
//  - HttpFault::kInternalFailure: HTTP 500 with AWS's documented InternalFailure error body;
//  - HttpFault::kThrottling: HTTP 400 with AWS's documented throttling error body (Throttling in
//    the query/XML protocol, ThrottlingException in JSON 1.1).
// The error body has the shape of the request's protocol: for the query API (IAM: form body
// "Action=...") an <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>
// </ErrorResponse> document (text/xml); for JSON 1.1 APIs (X-Amz-Target header: KMS, Secrets
// Manager) {"__type": ..., "message": ...} with the x-amzn-ErrorType header.
//
// Actions are named as IAM policies name them: "<service>:<Action>", the service taken from the
// SigV4 credential scope of the Authorization header ("iam:CreateUser", "kms:CreateKey",
// "secretsmanager:CreateSecret"); see AwsActionOf. Every request's action is logged in order, so
// a test can record the calls of a passing run and then fail each of them in turn.
//
// Ownership: borrows `base`, which must outlive this object.
// Thread-safety: all methods may be called from any thread (one mutex; Send does not hold it
// while the base client runs).
// SECURITY: bodies are inspected only for the Action field and never logged or stored.

#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "http/client.h"

namespace vigie::testing {

enum class HttpFault { kTransport, kInternalFailure, kThrottling };

// "transport", "http500_InternalFailure", "http400_Throttling" (usable in test names).
std::string_view HttpFaultName(HttpFault fault);

// The AWS action of `request` as "<service>:<Action>" ("iam:CreateUser", "kms:CreateKey"), or ""
// when the request is neither a query-API call (form body with Action=) nor a JSON 1.1 call
// (X-Amz-Target: <Prefix>.<Action>). The service comes from the SigV4 credential scope; when the
// request is unsigned, the X-Amz-Target prefix stands for it ("TrentService" for KMS).
std::string AwsActionOf(const http::HttpRequest& request);

class FaultInjectingHttpClient final : public http::HttpClient {
 public:
  explicit FaultInjectingHttpClient(http::HttpClient& base) : base_(base) {}

  // Arms one fault: the `occurrence`-th request (1 = the next one) from now whose action is
  // `action` fails with `fault`; later requests of that action are forwarded again. Replaces a
  // fault armed earlier. REQUIRES: occurrence >= 1.
  void FailNth(std::string action, int occurrence, HttpFault fault);
  // Disarms the fault, if any.
  void Disarm();
  // How many faults were injected since construction.
  int injected() const;

  // The action of every request seen since construction or the last ClearLog(), in order ("" for
  // a request that is not an AWS call), whether it was forwarded or failed.
  std::vector<std::string> log() const;
  void ClearLog();
  // Called at the start of every Send with the request's action, before it is forwarded or
  // failed (e.g. to note how far the caller has got). Not called with the mutex held.
  void SetObserver(std::function<void(const std::string& action)> observer);

  Result<http::HttpResponse> Send(const http::HttpRequest& request) override;

 private:
  http::HttpClient& base_;
  mutable std::mutex mu_;
  std::string action_;  // armed fault; empty = none
  int remaining_ = 0;   // matching requests until the faulted one (1 = the next)
  HttpFault fault_ = HttpFault::kTransport;
  int injected_ = 0;
  std::vector<std::string> log_;
  std::function<void(const std::string&)> observer_;
};

}  // namespace vigie::testing
