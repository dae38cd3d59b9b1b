#pragma once
// GanacheServer: test harness helper that runs ganache (an in-process Ethereum chain, npm package
// installed by scripts/install-deps.sh) on 127.0.0.1 and a free port, for integration tests.
//
// Start() spawns `node <npm>/node_modules/ganache/dist/node/cli.js --deterministic --host
// 127.0.0.1 --port PORT --chain.chainId ID --database.dbPath DIR` in its own process group and
// returns once `ready(port)` holds (by default: the port accepts TCP connections; tests pass an
// eth_chainId probe). The npm directory is $VIGIE_NPM_DIR, else <SourceDir()>/build/npm.
// Destruction (or Stop()) sends SIGTERM to the group, which makes ganache flush its database, and
// reaps it; starting again on the same db_path resumes the same chain.
//
// --deterministic funds ten accounts from a fixed mnemonic; account 0 has the private key
// 0x4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d
// (address 0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1). A test-only key: never use it elsewhere.
//
// Thread-safety: not thread-safe; one owner.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/error.h"

namespace vigie::testing {

inline constexpr char kGanacheAccount0Key[] =
    "0x4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d";

struct GanacheOptions {
  std::string db_path;  // directory for the chain database (required; a test's TempDir)
  uint64_t chain_id = 1337;
  // Readiness probe, called with the port until it returns true or the start-up deadline passes.
  // Empty: wait until the port accepts a TCP connection.
  std::function<bool(uint16_t port)> ready;
};

class GanacheServer {
 public:
  // The ganache CLI script path (it may not exist).
  static std::string CliPath();
  // True when both `node` (on PATH) and the ganache CLI are present; otherwise false with the
  // reason in *why (for GTEST_SKIP).
  static bool Available(std::string* why);
  static Result<std::unique_ptr<GanacheServer>> Start(GanacheOptions options);
  ~GanacheServer();
  GanacheServer(const GanacheServer&) = delete;
  GanacheServer& operator=(const GanacheServer&) = delete;

  // Stops the server and waits for it to exit. Idempotent.
  void Stop();

  uint16_t port() const { return port_; }
  std::string Url() const;  // "http://127.0.0.1:PORT"
  const std::string& log_path() const { return log_path_; }

 private:
  GanacheServer(pid_t pid, uint16_t port, std::string log_path)
      : pid_(pid), port_(port), log_path_(std::move(log_path)) {}
  pid_t pid_;
  uint16_t port_;
  std::string log_path_;
};

}  // namespace vigie::testing
