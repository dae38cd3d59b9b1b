#include "base/error.h"

namespace vigie {

namespace {
struct CodeInfo {
  std::string_view name;
  int exit_code;
  int http_status;
};

// Exit codes: 1 is reserved for "ran and found violations" (compliance FAIL, verify failure),
// so scripts can tell "not compliant" from "could not run".
constexpr CodeInfo Info(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return {"invalid_argument", 2, 400};
    case ErrorCode::kConfig: return {"config", 3, 500};
    case ErrorCode::kNotFound: return {"not_found", 4, 404};
    case ErrorCode::kAlreadyExists: return {"already_exists", 5, 409};
    case ErrorCode::kConflict: return {"conflict", 5, 409};
    case ErrorCode::kUnauthenticated: return {"unauthenticated", 6, 401};
    case ErrorCode::kPermissionDenied: return {"permission_denied", 6, 403};
    case ErrorCode::kFailedPrecondition: return {"failed_precondition", 7, 412};
    case ErrorCode::kUnavailable: return {"unavailable", 8, 503};
    case ErrorCode::kDeadlineExceeded: return {"deadline_exceeded", 8, 504};
    case ErrorCode::kResourceExhausted: return {"resource_exhausted", 9, 413};
    case ErrorCode::kIntegrity: return {"integrity", 10, 422};
    case ErrorCode::kCheckFailed: return {"check_failed", 1, 422};
    case ErrorCode::kUnimplemented: return {"unimplemented", 11, 501};
    case ErrorCode::kIo: return {"io", 12, 500};
    case ErrorCode::kInternal: return {"internal", 70, 500};
  }
  return {"internal", 70, 500};
}
}  // namespace

std::string_view ErrorCodeName(ErrorCode code) { return Info(code).name; }
int ExitCodeFor(ErrorCode code) { return Info(code).exit_code; }
int HttpStatusFor(ErrorCode code) { return Info(code).http_status; }

Error Error::Wrap(std::string_view context) const {
  return Error{code, std::string(context) + ": " + message};
}

std::string Error::ToString() const {
  return std::string(ErrorCodeName(code)) + ": " + message;
}

}  // namespace vigie
