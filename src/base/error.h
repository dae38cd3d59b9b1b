#pragma once
// Errors as values. Every fallible function returns Result<T> (tl::expected) carrying an Error;
// no exception crosses a module boundary. ErrorCode is closed: each code maps to exactly one CLI
// exit code and one HTTP status (see README.md, "Exit codes").

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace vigie {

enum class ErrorCode : int {
  kInvalidArgument,     // bad input: flag, file, field, request body. Caller must fix the input.
  kConfig,              // configuration rejected at load (file:line, key, rule id).
  kNotFound,            // the named object does not exist.
  kAlreadyExists,       // create of something that exists with different content.
  kConflict,            // state forbids the request now (e.g. PROV_022 licence before health).
  kUnauthenticated,     // missing or bad credentials / signature.
  kPermissionDenied,    // authenticated but not allowed (e.g. PROV_005 must-change session).
  kFailedPrecondition,  // the system is not in the state the operation requires.
  kUnavailable,         // a peer (AWS, Vault, node) cannot be reached; retry may succeed.
  kDeadlineExceeded,    // a timeout elapsed; the outcome may be unknown.
  kResourceExhausted,   // size or rate limit hit (body too large, connection cap).
  kIntegrity,           // tampering or corruption detected (bad signature, broken chain).
  kCheckFailed,         // a verification ran and found violations (compliance FAIL).
  kUnimplemented,       // the capability does not exist yet.
  kIo,                  // local filesystem or database I/O failed.
  kInternal,            // a bug: an invariant of vigie itself does not hold.
};

// Stable lower_snake_case name ("invalid_argument"), used in JSON errors and logs.
std::string_view ErrorCodeName(ErrorCode code);
// CLI exit code for `code` (never 0). Table in README.md.
int ExitCodeFor(ErrorCode code);
// HTTP status for `code` (4xx or 5xx).
int HttpStatusFor(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  // For a person: names the file, field or request at fault and what to do. Never a secret.
  std::string message;

  // Returns a copy whose message is "<context>: <message>".
  Error Wrap(std::string_view context) const;
  std::string ToString() const;  // "<code name>: <message>"
};

template <typename T>
using Result = tl::expected<T, Error>;
using Status = tl::expected<void, Error>;

inline tl::unexpected<Error> MakeError(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}
inline Status OkStatus() { return {}; }

}  // namespace vigie

// Propagates the error of a Result/Status expression; otherwise continues.
#define VIGIE_RETURN_IF_ERROR(expr)                                      \
  do {                                                                   \
    auto vigie_status_ = (expr);                                         \
    if (!vigie_status_) return tl::unexpected(vigie_status_.error());    \
  } while (0)

#define VIGIE_CONCAT_INNER_(a, b) a##b
#define VIGIE_CONCAT_(a, b) VIGIE_CONCAT_INNER_(a, b)
// VIGIE_ASSIGN_OR_RETURN(auto x, Fn()); declares x from the value or returns the error.
#define VIGIE_ASSIGN_OR_RETURN(lhs, expr) \
  VIGIE_ASSIGN_OR_RETURN_IMPL_(VIGIE_CONCAT_(vigie_result_, __LINE__), lhs, expr)
#define VIGIE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)          \
  auto tmp = (expr);                                          \
  if (!tmp) return tl::unexpected(std::move(tmp).error());    \
  lhs = std::move(*tmp)
