// libFuzzer target: break-glass tokens arrive in startup packets and SET statements from
// any client. Three paths: the input as a token, the input as a base64url segment, and the
// input as the payload of a correctly signed token (the only way to reach the claims checks,
// since the fuzzer cannot forge a signature).
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "ddlgate/base/base64.h"
#include "ddlgate/breakglass/breakglass.h"
#include "ddlgate/breakglass/paseto.h"

namespace base = ddlgate::base;
namespace breakglass = ddlgate::breakglass;
namespace paseto = ddlgate::breakglass::paseto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static const std::unique_ptr<base::SigningKey> key = base::SigningKey::from_seed(std::string(32, '\x42'));
  static const std::array<base::PublicKey, 1> keys{key->public_key()};
  const auto now = *base::parse_time("2026-03-01T12:05:00Z");
  const breakglass::BreakGlassExpectation expected{"oncall_admin", "shop", "prod"};

  (void)paseto::decode_unverified(in);
  (void)breakglass::verify_break_glass(in, keys, expected, now, std::chrono::hours(1), std::chrono::seconds(60));

  // Strict base64url: whatever decodes must re-encode to exactly the input.
  if (auto raw = base::base64url_decode(in)) {
    if (base::base64url_encode(*raw) != in) std::abort();
  }

  if (size <= 4096) {
    auto token = paseto::sign_v4_public(*key, in, "", breakglass::kBreakGlassImplicit);
    if (!token) std::abort();
    auto v = paseto::verify_v4_public(*token, keys, breakglass::kBreakGlassImplicit);
    if (!v.ok() || v.parts->message != in) std::abort();  // sign and verify must agree
    (void)breakglass::verify_break_glass(*token, keys, expected, now, std::chrono::hours(1), std::chrono::seconds(60));
  }
  return 0;
}
