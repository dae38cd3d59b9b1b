#pragma once
// Process and port helpers shared by the peer harnesses (moto, ganache, the Vault double) and
// the whole-binary tests.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace vigie::testing {

// The first executable `name` on PATH, or "" when there is none.
std::string FindOnPath(const std::string& name);

// A loopback port that was free a moment ago (bind to port 0, read it, close). Another process
// may take it before the caller binds: harnesses retry when their peer exits early.
uint16_t FreePort();

// True when something accepts TCP connections on 127.0.0.1:`port`.
bool Accepts(uint16_t port);

// Starts `exe` with `args` (args[0] is argv[0]) and environment `envp` in a new process group,
// stdin from /dev/null, stdout and stderr appended to `log_path`. Returns 0 and sets *pid, or
// the posix_spawn error number.
int SpawnInGroup(const std::string& exe, std::vector<std::string> args, char* const* envp,
                 const std::string& log_path, pid_t* pid);

// Sends SIGTERM to the process group of `pid`, waits up to `grace` for `pid` to exit, then
// SIGKILLs the group, and reaps `pid`.
void TerminateGroup(pid_t pid, std::chrono::milliseconds grace = std::chrono::seconds(2));

}  // namespace vigie::testing
