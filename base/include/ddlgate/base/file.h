// Reading files that come from outside: the size is checked before anything is allocated.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "ddlgate/base/result.h"

namespace ddlgate::base {

enum class Links : unsigned char {
  follow,  // configuration and key files (a Kubernetes ConfigMap is a link)
  refuse,  // files inside a signed bundle or a migrations directory: a link is "not a regular file"
};

// The whole file, at most max_bytes. Errors (reason, and code where it says more):
//   "missing"                                      (std::errc::no_such_file_or_directory)
//   "not a regular file"
//   "N bytes, larger than the limit of M"          (std::errc::file_too_large)
//   "cannot read: <os error>" / "cannot read"
// The Error's file is left empty: callers say which file, in their own words.
Result<std::string> read_capped(const std::filesystem::path& path, std::uint64_t max_bytes,
                                Links links = Links::refuse);

}  // namespace ddlgate::base
