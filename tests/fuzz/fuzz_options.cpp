// libFuzzer target: extract_setting on arbitrary options strings. Beyond memory safety: the
// rewritten string, split again, holds exactly the arguments PostgreSQL would have read minus
// ddlgate's setting, so a second extraction finds nothing and changes nothing.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ddlgate/protocol/options.h"

using namespace ddlgate::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  constexpr std::string_view kName = "ddlgate.break_glass";
  auto r = extract_setting(in, kName);
  if (!r.found() && r.rewritten != in) __builtin_trap();
  auto again = extract_setting(r.rewritten, kName);
  if (again.found()) __builtin_trap();
  if (again.rewritten != r.rewritten) __builtin_trap();
  if (r.rewritten.size() > in.size()) __builtin_trap();
  for (const auto& a : split_options(r.rewritten)) {
    if (a.end < a.begin || a.end > r.rewritten.size()) __builtin_trap();
  }
  return 0;
}
