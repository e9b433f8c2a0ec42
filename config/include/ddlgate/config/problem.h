// One thing wrong with a configuration file, tied to its key; shared by the main
// configuration and the bundle trust policy.
#pragma once

#include <string>

namespace ddlgate::config {

// One thing wrong with a configuration, tied to its key ("upstream.address").
struct Problem {
  std::string key;
  std::string message;
};

}  // namespace ddlgate::config
