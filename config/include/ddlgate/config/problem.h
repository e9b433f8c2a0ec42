// One thing wrong with a configuration file, tied to its key ("upstream.address");
// shared by the main configuration and the bundle trust policy.
#pragma once

#include "ddlgate/base/result.h"

namespace ddlgate::config {

using Problem = base::Problem;

}  // namespace ddlgate::config
