#include "testing/loopback_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace vigie::testing {

namespace {

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

std::string CapturedRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (IEquals(k, name)) return v;
  }
  return "";
}

std::vector<std::string> CapturedRequest::All(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : headers) {
    if (IEquals(k, name)) out.push_back(v);
  }
  return out;
}

LoopbackHttpServer::LoopbackHttpServer() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("LoopbackHttpServer: cannot listen on 127.0.0.1");
    std::abort();
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

LoopbackHttpServer::~LoopbackHttpServer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    // shutdown() wakes a blocked accept()/recv() on Linux; close happens on the server thread.
    if (conn_fd_ >= 0) ::shutdown(conn_fd_, SHUT_RDWR);
  }
  cv_.notify_all();
  ::shutdown(listen_fd_, SHUT_RDWR);
  thread_.join();
  ::close(listen_fd_);
}

std::string LoopbackHttpServer::Url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

void LoopbackHttpServer::SetReply(Reply reply) {
  std::lock_guard<std::mutex> lock(mu_);
  reply_ = std::move(reply);
}

void LoopbackHttpServer::SetHang(bool hang) {
  std::lock_guard<std::mutex> lock(mu_);
  hang_ = hang;
}

std::vector<CapturedRequest> LoopbackHttpServer::Requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

int LoopbackHttpServer::ConnectionsAccepted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connections_;
}

void LoopbackHttpServer::Serve() {
  for (;;) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;  // shut down
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        ::close(fd);
        return;
      }
      conn_fd_ = fd;
      ++connections_;
    }
    bool go_on = ServeConnection(fd);
    {
      std::lock_guard<std::mutex> lock(mu_);
      conn_fd_ = -1;
    }
    ::close(fd);
    if (!go_on) return;
  }
}

bool LoopbackHttpServer::ServeConnection(int fd) {
  std::string buf;
  char chunk[8192];
  for (;;) {
    // Read one request: headers up to the blank line, then Content-Length bytes of body.
    size_t header_end;
    while ((header_end = buf.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) return true;  // client closed: wait for the next connection
      buf.append(chunk, static_cast<size_t>(n));
    }
    CapturedRequest req;
    std::string_view head(buf.data(), header_end);
    size_t eol = head.find("\r\n");
    std::string_view request_line = head.substr(0, eol);
    size_t sp1 = request_line.find(' ');
    size_t sp2 = request_line.rfind(' ');
    req.method = std::string(request_line.substr(0, sp1));
    if (sp1 != std::string_view::npos && sp2 > sp1) {
      req.target = std::string(request_line.substr(sp1 + 1, sp2 - sp1 - 1));
    }
    size_t content_length = 0;
    std::string_view rest = eol == std::string_view::npos ? "" : head.substr(eol + 2);
    while (!rest.empty()) {
      size_t e = rest.find("\r\n");
      std::string_view line = rest.substr(0, e);
      rest = e == std::string_view::npos ? "" : rest.substr(e + 2);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string name(line.substr(0, colon));
      std::string value(Trim(line.substr(colon + 1)));
      if (IEquals(name, "Content-Length")) content_length = std::stoul(value);
      req.headers.emplace_back(std::move(name), std::move(value));
    }
    size_t total = header_end + 4 + content_length;
    while (buf.size() < total) {
      ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) return true;
      buf.append(chunk, static_cast<size_t>(n));
    }
    req.body = buf.substr(header_end + 4, content_length);
    req.raw = buf.substr(0, total);
    buf.erase(0, total);

    Reply reply;
    {
      std::unique_lock<std::mutex> lock(mu_);
      requests_.push_back(std::move(req));
      if (hang_) {
        cv_.wait(lock, [this] { return stopping_; });
        return false;
      }
      if (stopping_) return false;
      reply = reply_;
    }
    std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " Status\r\n";
    for (const auto& [k, v] : reply.headers) out += k + ": " + v + "\r\n";
    out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n\r\n" + reply.body;
    if (!WriteAll(fd, out)) return true;
  }
}

}  // namespace vigie::testing
