// libFuzzer target: decode_startup on arbitrary bytes. Beyond memory safety
// (ASan/UBSan), a decoded packet must re-encode to exactly the bytes it came from.
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>

#include "ddlgate/protocol/codes.h"
#include "ddlgate/protocol/startup.h"

using namespace ddlgate::protocol;

namespace {

void check(std::span<const std::uint8_t> in, std::uint32_t max) {
  auto r = decode_startup(in, max);
  if (r.consumed > in.size()) __builtin_trap();
  if (r.status == StartupDecode::Status::need_more) {
    if (r.consumed != 0) __builtin_trap();
    if (r.needed != 0 && (r.needed <= in.size() || r.needed > max)) __builtin_trap();
    if (r.needed == 0 && in.size() >= 4) __builtin_trap();
    return;
  }
  if (r.status == StartupDecode::Status::error) {
    if (r.error.empty()) __builtin_trap();
    return;
  }
  auto original = in.first(r.consumed);
  auto same = [&](const std::vector<std::uint8_t>& enc) {
    if (enc.size() != original.size() || !std::equal(enc.begin(), enc.end(), original.begin())) __builtin_trap();
  };
  if (const auto* m = std::get_if<StartupMessage>(&r.packet)) {
    if (m->major != 3 || r.consumed > max) __builtin_trap();
    same(encode_startup(*m));
  } else if (const auto* c = std::get_if<CancelRequest>(&r.packet)) {
    if (c->secret.size() < 4 || c->secret.size() > kMaxCancelKey) __builtin_trap();
    same(encode_cancel(*c));
  } else if (std::holds_alternative<SslRequest>(r.packet)) {
    same(encode_ssl_request());
  } else if (std::holds_alternative<GssEncRequest>(r.packet)) {
    if (r.consumed != 8) __builtin_trap();
  } else if (std::holds_alternative<DirectTls>(r.packet)) {
    if (in.empty() || in[0] != kTlsHandshakeRecord || r.consumed != 0) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> in(data, size);
  check(in, kDefaultMaxStartupPacket);
  check(in, 64);
  // Every prefix of a complete packet must ask for more (never fail, never complete).
  auto r = decode_startup(in, kDefaultMaxStartupPacket);
  if (r.status == StartupDecode::Status::complete && r.consumed > 0) {
    for (std::size_t n = 0; n < r.consumed; ++n) {
      if (decode_startup(in.first(n), kDefaultMaxStartupPacket).status != StartupDecode::Status::need_more) {
        __builtin_trap();
      }
    }
  }
  return 0;
}
