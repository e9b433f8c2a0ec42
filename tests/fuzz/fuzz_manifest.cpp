// libFuzzer target: manifest.json, revocation.json and signature-file parsing (untrusted
// bytes from a registry). Neither may crash, hang or throw, whatever the input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/bundle/bundle.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::vector<ddlgate::base::Problem> problems;
  auto manifest = ddlgate::bundle::parse_manifest(bytes, &problems);
  if (manifest) {
    // A manifest that parses must serialise and parse back to the same thing.
    std::string again = ddlgate::bundle::serialize_manifest(*manifest);
    std::vector<ddlgate::base::Problem> p2;
    auto back = ddlgate::bundle::parse_manifest(again, &p2);
    if (!back || back->files.size() != manifest->files.size() || back->version != manifest->version) __builtin_trap();
  }
  std::vector<ddlgate::base::Problem> rp;
  if (auto rv = ddlgate::bundle::parse_revocation(bytes, &rp)) {
    // A revocation that parses must serialise and parse back to the same thing.
    std::string again = ddlgate::bundle::serialize_revocation(*rv);
    std::vector<ddlgate::base::Problem> p2;
    auto back = ddlgate::bundle::parse_revocation(again, &p2);
    if (!back || back->app != rv->app || back->what.version != rv->what.version || back->what.below != rv->what.below) {
      __builtin_trap();
    }
  }
  (void)ddlgate::bundle::parse_signature_file(bytes);
  (void)ddlgate::base::parse_time(bytes);
  (void)ddlgate::base::parse_duration(bytes);
  return 0;
}
