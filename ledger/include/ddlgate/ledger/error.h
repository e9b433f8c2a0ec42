// Errors of the ledger as values: base's Error (what went wrong, in which file, at
// which offset) and Result.
#pragma once

#include "ddlgate/base/result.h"

namespace ddlgate::ledger {

using base::Error;
using base::Ok;
using base::Result;
using base::Status;

}  // namespace ddlgate::ledger
