#include "testing/vault_double.h"

#include "testing/process_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "testing/temp_dir.h"

extern char** environ;

namespace vigie::testing {

namespace {

constexpr const char* kPython = "/usr/bin/python3";

std::string ScriptPath() { return SourceDir() + "/tests/doubles/vault_double.py"; }

}  // namespace

bool VaultDouble::Available() {
  return ::access(kPython, X_OK) == 0 && ::access(ScriptPath().c_str(), R_OK) == 0;
}

Result<std::unique_ptr<VaultDouble>> VaultDouble::Start(const VaultDoubleOptions& options) {
  if (!Available()) {
    return MakeError(ErrorCode::kUnavailable,
                     std::string(kPython) + " or " + ScriptPath() + " is missing");
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/vigie-vault-double-XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) {
    return MakeError(ErrorCode::kIo, "vault double: cannot create a temporary directory");
  }
  std::string port_file = dir + "/port";
  std::string log_path = dir + "/double.log";
  std::vector<std::string> args = {kPython,   ScriptPath(),  "--port-file",
                                   port_file, "--seal-type", options.seal_type};
  if (options.kms_unreachable) args.push_back("--kms-unreachable");
  if (!options.lose_init_response.empty()) {
    args.push_back("--lose-init-response");
    args.push_back(options.lose_init_response);
  }
  if (options.standby) args.push_back("--standby");
  pid_t pid = 0;
  const int rc = SpawnInGroup(kPython, args, environ, log_path, &pid);
  if (rc != 0) {
    return MakeError(ErrorCode::kUnavailable,
                     "vault double: spawn failed: " + std::string(std::strerror(rc)));
  }
  // The double writes its port file (atomically, by rename) once it is listening.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) {
      return MakeError(ErrorCode::kUnavailable,
                       "vault double exited during start-up; see " + log_path);
    }
    std::ifstream in(port_file);
    int port = 0;
    if (in >> port && port > 0 && port < 65536) {
      return std::unique_ptr<VaultDouble>(new VaultDouble(pid, static_cast<uint16_t>(port), dir));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  TerminateGroup(pid);
  return MakeError(ErrorCode::kDeadlineExceeded,
                   "vault double did not start within 30 s; see " + log_path);
}

VaultDouble::~VaultDouble() {
  TerminateGroup(pid_);
  if (std::getenv("VIGIE_KEEP_TEMP") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string VaultDouble::Address() const { return "http://127.0.0.1:" + std::to_string(port_); }

Result<VaultDoubleReply> VaultDouble::Request(std::string_view method, std::string_view path,
                                              std::string_view body) const {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return MakeError(ErrorCode::kIo, "vault double: socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port_);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return MakeError(ErrorCode::kUnavailable, "vault double: connect failed");
  }
  std::ostringstream req;
  req << method << " " << path << " HTTP/1.0\r\nHost: 127.0.0.1\r\n";
  if (!body.empty()) req << "Content-Type: application/json\r\n";
  req << "Content-Length: " << body.size() << "\r\n\r\n" << body;
  std::string out = req.str();
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      return MakeError(ErrorCode::kUnavailable, "vault double: send failed");
    }
    sent += static_cast<size_t>(n);
  }
  std::string in;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  VaultDoubleReply reply;
  if (in.size() < 12 || std::sscanf(in.c_str(), "HTTP/%*s %d", &reply.status) != 1) {
    return MakeError(ErrorCode::kUnavailable, "vault double: malformed or empty reply");
  }
  size_t head_end = in.find("\r\n\r\n");
  if (head_end != std::string::npos) reply.body = in.substr(head_end + 4);
  return reply;
}

Status VaultDouble::Configure(std::string_view json) const {
  auto r = Request("POST", "/_double/config", json);
  if (!r) return tl::unexpected(r.error());
  if (r->status != 204) {
    return MakeError(ErrorCode::kInternal,
                     "vault double: config answered " + std::to_string(r->status) + ": " + r->body);
  }
  return OkStatus();
}

Result<std::string> VaultDouble::State() const {
  auto r = Request("GET", "/_double/state");
  if (!r) return tl::unexpected(r.error());
  return r->body;
}

Result<std::string> VaultDouble::Calls() const {
  auto r = Request("GET", "/_double/calls");
  if (!r) return tl::unexpected(r.error());
  return r->body;
}

}  // namespace vigie::testing
