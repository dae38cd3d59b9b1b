#pragma once
// VaultDouble: test harness that runs tests/doubles/vault_double.py -- a TEST DOUBLE of the
// HashiCorp Vault HTTP API (Vault itself cannot be installed on the build machines) -- with
// /usr/bin/python3 on 127.0.0.1 and a kernel-chosen port, for the tests of src/vault.
//
// Start() spawns the double in its own process group; the double binds port 0 and writes the port
// to a file, which Start() waits for (no free-port race). The destructor terminates the process
// group and reaps it. The double's own behaviour (documented in the script) is switched with
// command-line flags at start or with Control() at run time.
//
// Thread-safety: not thread-safe; one owner.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace vigie::testing {

struct VaultDoubleOptions {
  std::string seal_type = "awskms";  // "awskms", "shamir", or any other name
  bool kms_unreachable = false;      // init initialises, then answers 500 (vault #6121)
  std::string lose_init_response;    // "" | "500" | "drop" (connection closed, no answer)
  bool standby = false;              // /sys/health answers 429
};

struct VaultDoubleReply {
  int status = 0;
  std::string body;
};

class VaultDouble {
 public:
  // True when /usr/bin/python3 and the script exist.
  static bool Available();
  static Result<std::unique_ptr<VaultDouble>> Start(const VaultDoubleOptions& options = {});
  ~VaultDouble();
  VaultDouble(const VaultDouble&) = delete;
  VaultDouble& operator=(const VaultDouble&) = delete;

  uint16_t port() const { return port_; }
  std::string Address() const;  // "http://127.0.0.1:PORT"

  // One plain HTTP/1.0 exchange with the double (control endpoints /_double/... or the API).
  // `body` is sent as application/json when not empty.
  Result<VaultDoubleReply> Request(std::string_view method, std::string_view path,
                                   std::string_view body = "") const;
  // POST /_double/config with `json`; GET /_double/state; GET /_double/calls (bodies as JSON text).
  Status Configure(std::string_view json) const;
  Result<std::string> State() const;
  Result<std::string> Calls() const;

 private:
  VaultDouble(pid_t pid, uint16_t port, std::string dir)
      : pid_(pid), port_(port), dir_(std::move(dir)) {}
  pid_t pid_;
  uint16_t port_;
  std::string dir_;  // holds the port file and the double's log
};

}  // namespace vigie::testing
