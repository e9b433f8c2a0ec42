#include "ddlgate/base/file.h"

#include <fstream>

namespace ddlgate::base {

namespace fs = std::filesystem;

Result<std::string> read_capped(const fs::path& path, std::uint64_t max_bytes, Links links) {
  std::error_code ec;
  auto status = links == Links::follow ? fs::status(path, ec) : fs::symlink_status(path, ec);
  if (ec || !fs::exists(status)) {
    return Error{"missing", {}, -1, std::make_error_code(std::errc::no_such_file_or_directory)};
  }
  if (!fs::is_regular_file(status)) return Error{"not a regular file"};
  auto size = fs::file_size(path, ec);
  if (ec) return Error{"cannot read: " + ec.message(), {}, -1, ec};
  if (size > max_bytes) {
    return Error{std::to_string(size) + " bytes, larger than the limit of " + std::to_string(max_bytes), {}, -1,
                 std::make_error_code(std::errc::file_too_large)};
  }
  std::ifstream f(path, std::ios::binary);
  std::string text(static_cast<std::size_t>(size), '\0');
  if (!f || !f.read(text.data(), static_cast<std::streamsize>(size))) return Error{"cannot read"};
  return text;
}

}  // namespace ddlgate::base
