#include "testing/ganache.h"

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
#include <vector>

#include "testing/temp_dir.h"

extern char** environ;

namespace vigie::testing {
namespace {

// SIGTERM lets ganache close its LevelDB database cleanly (what the persistence test relies on):
// TerminateGroup gets a 10 s grace before SIGKILL.
constexpr std::chrono::seconds kGanacheGrace(10);
}  // namespace

std::string GanacheServer::CliPath() {
  const char* npm = std::getenv("VIGIE_NPM_DIR");
  const std::string dir = npm && *npm ? npm : SourceDir() + "/build/npm";
  return dir + "/node_modules/ganache/dist/node/cli.js";
}

bool GanacheServer::Available(std::string* why) {
  if (FindOnPath("node").empty()) {
    *why = "node is not on PATH (install nodejs; see scripts/install-deps.sh)";
    return false;
  }
  if (::access(CliPath().c_str(), R_OK) != 0) {
    *why = "ganache is not installed at " + CliPath() +
           " (run scripts/install-deps.sh or set VIGIE_NPM_DIR)";
    return false;
  }
  return true;
}

Result<std::unique_ptr<GanacheServer>> GanacheServer::Start(GanacheOptions options) {
  std::string why;
  if (!Available(&why)) return MakeError(ErrorCode::kUnavailable, why);
  if (options.db_path.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "GanacheOptions.db_path is required");
  }
  const std::string node = FindOnPath("node");
  const char* tmp = std::getenv("TMPDIR");
  std::string log_path = std::string(tmp && *tmp ? tmp : "/tmp") + "/vigie-ganache-XXXXXX";
  int log_fd = ::mkstemp(log_path.data());
  if (log_fd < 0) return MakeError(ErrorCode::kIo, "ganache: cannot create a log file");
  ::close(log_fd);

  std::string last_error;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const uint16_t port = FreePort();
    std::vector<std::string> args = {node,
                                     CliPath(),
                                     "--deterministic",
                                     "--host",
                                     "127.0.0.1",
                                     "--port",
                                     std::to_string(port),
                                     "--chain.chainId",
                                     std::to_string(options.chain_id),
                                     "--database.dbPath",
                                     options.db_path};
    pid_t pid = 0;
    const int rc = SpawnInGroup(node, args, environ, log_path, &pid);
    if (rc != 0) {
      return MakeError(ErrorCode::kUnavailable,
                       "ganache: spawn failed: " + std::string(std::strerror(rc)));
    }
    // ganache starts in ~2 s; allow 60 s on a loaded 2-core machine.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool exited = false;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid, nullptr, WNOHANG) == pid) {
        exited = true;
        break;
      }
      if (Accepts(port) && (!options.ready || options.ready(port))) {
        return std::unique_ptr<GanacheServer>(new GanacheServer(pid, port, log_path));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!exited) {
      TerminateGroup(pid, kGanacheGrace);
      return MakeError(ErrorCode::kDeadlineExceeded,
                       "ganache did not become ready within 60 s; see " + log_path);
    }
    last_error = "ganache exited during start-up; see " + log_path;
  }
  return MakeError(ErrorCode::kUnavailable, last_error);
}

void GanacheServer::Stop() {
  if (pid_ <= 0) return;
  TerminateGroup(pid_, kGanacheGrace);
  pid_ = -1;
}

GanacheServer::~GanacheServer() {
  Stop();
  if (std::getenv("VIGIE_KEEP_TEMP") == nullptr) {
    std::error_code ec;
    std::filesystem::remove(log_path_, ec);
  }
}

std::string GanacheServer::Url() const { return "http://127.0.0.1:" + std::to_string(port_); }

}  // namespace vigie::testing
