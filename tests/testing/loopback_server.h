#pragma once
// LoopbackHttpServer: a test harness HTTP/1.1 server on 127.0.0.1, port 0 (the kernel picks;
// port() reports it). It records every request it receives byte for byte (so a test can see
// exactly what a client put on the wire, e.g. curl's SigV4 Authorization header) and answers each
// with the configured reply, keeping the connection alive. In hang mode it reads the request and
// never answers (timeout tests) until destroyed. Not a general server: one connection at a time,
// Content-Length bodies only.
//
// Thread-safety: all methods may be called from the test thread while the server thread runs.

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace vigie::testing {

struct CapturedRequest {
  std::string raw;  // request line + headers + body as received
  std::string method;
  std::string target;  // request-target as sent ("/path?query")
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // First header named `name` (case-insensitive), "" if absent; All: every value, in order.
  std::string Header(std::string_view name) const;
  std::vector<std::string> All(std::string_view name) const;
};

class LoopbackHttpServer {
 public:
  struct Reply {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
  };

  LoopbackHttpServer();  // binds and starts serving; aborts the test binary if it cannot bind
  ~LoopbackHttpServer();
  LoopbackHttpServer(const LoopbackHttpServer&) = delete;
  LoopbackHttpServer& operator=(const LoopbackHttpServer&) = delete;

  uint16_t port() const { return port_; }
  std::string Url(std::string_view path = "/") const;
  void SetReply(Reply reply);
  void SetHang(bool hang);
  std::vector<CapturedRequest> Requests() const;
  int ConnectionsAccepted() const;

 private:
  void Serve();
  bool ServeConnection(int fd);  // false when stopping

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool hang_ = false;
  int conn_fd_ = -1;
  int connections_ = 0;
  Reply reply_;
  std::vector<CapturedRequest> requests_;
  std::thread thread_;
};

}  // namespace vigie::testing
