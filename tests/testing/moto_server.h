#pragma once
// MotoServer: test harness helper that runs moto_server (a local AWS emulator: IAM, Secrets
// Manager, KMS, S3 on one port) on 127.0.0.1 and a free port, for integration tests.
//
// Start() picks a free port, spawns `moto_server -H 127.0.0.1 -p PORT` in its own process group
// with the given extra environment (e.g. INITIAL_NO_AUTH_ACTION_COUNT), and returns once the port
// accepts connections. The destructor terminates the process group and reaps it. The server's
// output goes to a log file whose path is in every Start() error.
//
// Note on moto's SigV4 checking: with INITIAL_NO_AUTH_ACTION_COUNT=N, the first N actions are
// not authenticated; after that every request must be signed with an access key that exists in
// moto's IAM (else InvalidClientTokenId) and be allowed by that user's policies (else
// AccessDenied). POST /moto-api/reset-auth with body "N" resets the count at run time.
//
// Thread-safety: not thread-safe; one owner.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"

namespace vigie::testing {

class MotoServer {
 public:
  // True when `moto_server` is on PATH (tests GTEST_SKIP otherwise).
  static bool Available();
  static Result<std::unique_ptr<MotoServer>> Start(
      const std::vector<std::pair<std::string, std::string>>& extra_env = {});
  ~MotoServer();
  MotoServer(const MotoServer&) = delete;
  MotoServer& operator=(const MotoServer&) = delete;

  uint16_t port() const { return port_; }
  std::string Endpoint() const;  // "http://127.0.0.1:PORT"

 private:
  MotoServer(pid_t pid, uint16_t port, std::string log_path)
      : pid_(pid), port_(port), log_path_(std::move(log_path)) {}
  pid_t pid_;
  uint16_t port_;
  std::string log_path_;
};

}  // namespace vigie::testing
