// libFuzzer target: manifest.json and signature-file parsing (untrusted bytes from a
// registry). Neither may crash, hang or throw, whatever the input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/policy/bundle.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::vector<ddlgate::policy::BundleProblem> problems;
  auto manifest = ddlgate::policy::parse_manifest(bytes, &problems);
  if (manifest) {
    // A manifest that parses must serialise and parse back to the same thing.
    std::string again = ddlgate::policy::serialize_manifest(*manifest);
    std::vector<ddlgate::policy::BundleProblem> p2;
    auto back = ddlgate::policy::parse_manifest(again, &p2);
    if (!back || back->files.size() != manifest->files.size() || back->version != manifest->version) __builtin_trap();
  }
  std::string why;
  (void)ddlgate::policy::parse_signature_file(bytes, &why);
  (void)ddlgate::policy::parse_time(bytes);
  (void)ddlgate::policy::parse_duration(bytes);
  return 0;
}
