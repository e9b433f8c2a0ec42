#include "ddlgate/base/result.h"

namespace ddlgate::base {

std::string Error::to_string() const {
  std::string s;
  if (!file.empty()) s += file + ": ";
  if (offset >= 0) s += "offset " + std::to_string(offset) + ": ";
  s += reason;
  if (code) s += " (" + code.message() + ")";
  return s;
}

}  // namespace ddlgate::base
