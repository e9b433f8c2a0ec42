#include "ddlgate/protocol/startup.h"

#include "byte_io.h"
#include "ddlgate/protocol/codes.h"

namespace ddlgate::protocol {
namespace {

StartupDecode fail(std::string why) {
  StartupDecode r;
  r.status = StartupDecode::Status::error;
  r.error = std::move(why);
  return r;
}

StartupDecode done(StartupPacket packet, std::size_t consumed) {
  StartupDecode r;
  r.status = StartupDecode::Status::complete;
  r.packet = std::move(packet);
  r.consumed = consumed;
  return r;
}

}  // namespace

const std::string* StartupMessage::find(std::string_view name) const {
  for (const auto& [k, v] : parameters) {
    if (k == name) return &v;
  }
  return nullptr;
}

StartupDecode decode_startup(std::span<const std::uint8_t> data, std::uint32_t max_length) {
  if (!data.empty() && data[0] == kTlsHandshakeRecord) {
    // A TLS ClientHello (sslnegotiation=direct). Read as a length it would be
    // 0x16xxxxxx, so it must be recognised before the length check.
    return done(DirectTls{}, 0);
  }
  if (data.size() < 4) return StartupDecode{};
  const std::uint32_t length = detail::load_u32(data.data());
  // The smallest valid packet is 8 bytes (length + code); check before waiting for more.
  if (length < 8) return fail("invalid length of startup packet: " + std::to_string(length));
  if (length > max_length) {
    return fail("startup packet of " + std::to_string(length) + " bytes exceeds the limit of " +
                std::to_string(max_length));
  }
  if (data.size() < length) {
    StartupDecode r;
    r.needed = length;
    return r;
  }
  detail::Reader in(data.subspan(4, length - 4));
  const std::uint32_t code = *in.u32();

  if (code == kSslRequestCode || code == kGssEncRequestCode) {
    if (length != 8) return fail("invalid length of encryption request packet");
    if (code == kSslRequestCode) return done(SslRequest{}, length);
    return done(GssEncRequest{}, length);
  }
  if (code == kCancelRequestCode) {
    CancelRequest c;
    auto pid = in.u32();
    std::size_t key_len = in.remaining();
    if (!pid || key_len < 4 || key_len > kMaxCancelKey) return fail("invalid length of cancel request packet");
    c.process_id = *pid;
    auto key = in.rest();
    c.secret.assign(key.begin(), key.end());
    return done(std::move(c), length);
  }

  const std::uint16_t major = static_cast<std::uint16_t>(code >> 16);
  const std::uint16_t minor = static_cast<std::uint16_t>(code & 0xffff);
  if (major != kProtocolMajor3) {
    return fail("unsupported frontend protocol " + std::to_string(major) + "." + std::to_string(minor) +
                ": server supports 3.0 to 3.x");
  }
  StartupMessage m;
  m.major = major;
  m.minor = minor;
  // Parameters are name/value pairs of NUL-terminated strings, ended by one NUL.
  while (true) {
    auto name = in.cstring();
    if (!name) return fail("invalid startup packet layout: expected terminator as last byte");
    if (name->empty()) break;
    auto value = in.cstring();
    if (!value) return fail("invalid startup packet layout: parameter \"" + std::string(*name) + "\" has no value");
    m.parameters.emplace_back(std::string(*name), std::string(*value));
  }
  if (!in.at_end()) return fail("invalid startup packet layout: expected terminator as last byte");
  return done(std::move(m), length);
}

std::vector<std::uint8_t> encode_startup(const StartupMessage& message) {
  std::vector<std::uint8_t> out;
  detail::Writer w(out);
  auto at = w.begin_message(0);
  w.u16(message.major);
  w.u16(message.minor);
  for (const auto& [k, v] : message.parameters) {
    w.cstring(k);
    w.cstring(v);
  }
  w.u8(0);
  w.end_message(at);
  return out;
}

std::vector<std::uint8_t> encode_cancel(const CancelRequest& request) {
  std::vector<std::uint8_t> out;
  detail::Writer w(out);
  auto at = w.begin_message(0);
  w.u32(kCancelRequestCode);
  w.u32(request.process_id);
  w.bytes(request.secret);
  w.end_message(at);
  return out;
}

std::vector<std::uint8_t> encode_ssl_request() {
  std::vector<std::uint8_t> out;
  detail::Writer w(out);
  auto at = w.begin_message(0);
  w.u32(kSslRequestCode);
  w.end_message(at);
  return out;
}

}  // namespace ddlgate::protocol
