// The untyped packets a client sends first: StartupMessage, SSLRequest,
// GSSENCRequest and CancelRequest. Sans-IO: bytes in, a decision out.
// https://www.postgresql.org/docs/15/protocol-message-formats.html
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace ddlgate::protocol {

// StartupMessage: protocol version and the parameters (user, database, options, ...).
struct StartupMessage {
  std::uint16_t major = 3;
  std::uint16_t minor = 0;
  std::vector<std::pair<std::string, std::string>> parameters;  // in the client's order

  // The value of a parameter, or nullptr when absent.
  const std::string* find(std::string_view name) const;
};

// SSLRequest: the client asks whether the server speaks TLS.
struct SslRequest {};
// GSSENCRequest: the client asks for GSSAPI encryption.
struct GssEncRequest {};
// CancelRequest: cancel the query running on the backend with this key.
struct CancelRequest {
  std::uint32_t process_id = 0;
  std::vector<std::uint8_t> secret;  // 4 bytes in protocol 3.0, up to 256 in 3.2
};
// The first byte was a TLS handshake record: a client using sslnegotiation=direct.
struct DirectTls {};

using StartupPacket = std::variant<StartupMessage, SslRequest, GssEncRequest, CancelRequest, DirectTls>;

// Result of decoding a startup packet from the front of a buffer.
struct StartupDecode {
  enum class Status { complete, need_more, error };
  Status status = Status::need_more;
  StartupPacket packet;       // set when complete
  std::size_t consumed = 0;   // bytes of the buffer the packet took (complete only)
  std::size_t needed = 0;     // need_more: total bytes needed, when known (0 = at least the header)
  std::string error;          // error: why the bytes are not a valid startup packet
};

// Decodes the packet at the front of `data`. `max_length` caps the length field
// before anything is allocated (PostgreSQL uses 10000).
StartupDecode decode_startup(std::span<const std::uint8_t> data, std::uint32_t max_length);

// Encodes a StartupMessage (used to forward it with ddlgate's own parameters removed).
std::vector<std::uint8_t> encode_startup(const StartupMessage& message);
// Encodes a CancelRequest.
std::vector<std::uint8_t> encode_cancel(const CancelRequest& request);
// Encodes an SSLRequest (sent to the upstream to ask for TLS).
std::vector<std::uint8_t> encode_ssl_request();

}  // namespace ddlgate::protocol
