#include "testing/moto_server.h"

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
#include <thread>

extern char** environ;

namespace vigie::testing {

bool MotoServer::Available() { return !FindOnPath("moto_server").empty(); }

Result<std::unique_ptr<MotoServer>> MotoServer::Start(
    const std::vector<std::pair<std::string, std::string>>& extra_env) {
  std::string exe = FindOnPath("moto_server");
  if (exe.empty()) return MakeError(ErrorCode::kUnavailable, "moto_server is not on PATH");
  const char* tmp = std::getenv("TMPDIR");
  std::string log_path = std::string(tmp && *tmp ? tmp : "/tmp") + "/vigie-moto-XXXXXX";
  int log_fd = ::mkstemp(log_path.data());
  if (log_fd < 0) return MakeError(ErrorCode::kIo, "moto_server: cannot create a log file");
  ::close(log_fd);

  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    bool overridden = false;
    for (const auto& [k, v] : extra_env) {
      if (std::strncmp(*e, (k + "=").c_str(), k.size() + 1) == 0) overridden = true;
    }
    if (!overridden) env_strings.emplace_back(*e);
  }
  for (const auto& [k, v] : extra_env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  std::string last_error;
  for (int attempt = 0; attempt < 3; ++attempt) {
    uint16_t port = FreePort();
    std::string port_s = std::to_string(port);
    std::vector<std::string> args = {exe, "-H", "127.0.0.1", "-p", port_s};
    pid_t pid = 0;
    const int rc = SpawnInGroup(exe, args, envp.data(), log_path, &pid);
    if (rc != 0) {
      return MakeError(ErrorCode::kUnavailable,
                       "moto_server: spawn failed: " + std::string(std::strerror(rc)));
    }
    // moto takes 1-3 s to import its service models; allow 60 s on a loaded 2-core machine.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool exited = false;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid, nullptr, WNOHANG) == pid) {
        exited = true;
        break;
      }
      if (Accepts(port)) {
        return std::unique_ptr<MotoServer>(new MotoServer(pid, port, log_path));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!exited) {
      TerminateGroup(pid);
      return MakeError(ErrorCode::kDeadlineExceeded,
                       "moto_server did not accept connections within 60 s; see " + log_path);
    }
    last_error = "moto_server exited during start-up; see " + log_path;
  }
  return MakeError(ErrorCode::kUnavailable, last_error);
}

MotoServer::~MotoServer() {
  TerminateGroup(pid_);
  if (std::getenv("VIGIE_KEEP_TEMP") == nullptr) {
    std::error_code ec;
    std::filesystem::remove(log_path_, ec);
  }
}

std::string MotoServer::Endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

}  // namespace vigie::testing
