// The SQLSTATEs ddlgate itself sends to clients (docs/threat-model.md, "Fail-closed
// behaviour", lists when), and the one error that several paths share.
#pragma once

#include "ddlgate/protocol/messages.h"

namespace ddlgate::engine {

inline constexpr const char* kProtocolViolation = "08P01";
inline constexpr const char* kConnectionFailure = "08006";
inline constexpr const char* kFeatureNotSupported = "0A000";
inline constexpr const char* kInvalidAuthorization = "28000";
inline constexpr const char* kInsufficientPrivilege = "42501";
inline constexpr const char* kInsufficientResources = "53000";  // no thread to analyse a large text on
inline constexpr const char* kOutOfMemory = "53200";  // over limits.inspection_budget
inline constexpr const char* kTooManyConnections = "53300";
inline constexpr const char* kConfigurationLimitExceeded = "53400";  // refusals over limits.denials_per_second
inline constexpr const char* kProgramLimitExceeded = "54000";
inline constexpr const char* kAdminShutdown = "57P01";
inline constexpr const char* kIdleSessionTimeout = "57P05";
inline constexpr const char* kLedgerUnavailable = "58030";  // io_error
inline constexpr const char* kGuardUnavailable = "58000";  // system_error: the guard could not confirm

// A large text is analysed on a thread of its own; when none can be had, the statement is
// refused rather than parsed on the worker (which would stall its other sessions).
inline constexpr const char* kNoAnalysisThread = "ddlgate cannot analyse the statement now (no thread available)";

inline protocol::ErrorSpec no_analysis_thread_error() {
  return {"ERROR", kInsufficientResources, kNoAnalysisThread, "", ""};
}

}  // namespace ddlgate::engine
