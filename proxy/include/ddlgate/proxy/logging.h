// ddlgate's log: spdlog to stderr, as text or as JSON lines (log.format).
#pragma once

#include <string>

#include "ddlgate/config/config.h"

namespace ddlgate::proxy {

// Installs the "ddlgate" logger as the default one (first call) and sets its
// format and level; later calls (a reload) change format and level in place.
void configure_logging(config::LogFormat format, const std::string& level);

}  // namespace ddlgate::proxy
