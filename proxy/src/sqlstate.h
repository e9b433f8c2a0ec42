// The SQLSTATEs ddlgate sends, as the proxy's code names them (the list: the engine's).
#pragma once

#include "ddlgate/engine/sqlstate.h"

namespace ddlgate::proxy {

using engine::kAdminShutdown;
using engine::kConfigurationLimitExceeded;
using engine::kConnectionFailure;
using engine::kFeatureNotSupported;
using engine::kIdleSessionTimeout;
using engine::kInsufficientPrivilege;
using engine::kInsufficientResources;
using engine::kInvalidAuthorization;
using engine::kLedgerUnavailable;
using engine::kNoAnalysisThread;
using engine::kOutOfMemory;
using engine::kProgramLimitExceeded;
using engine::kProtocolViolation;
using engine::kTooManyConnections;
using engine::no_analysis_thread_error;

}  // namespace ddlgate::proxy
