// Named constants of the PostgreSQL frontend/backend protocol, version 3.
// https://www.postgresql.org/docs/15/protocol-message-formats.html
#pragma once

#include <cstdint>

namespace ddlgate::protocol {

// Request codes carried in the version field of the untyped startup packets.
inline constexpr std::uint32_t kProtocolMajor3 = 3;
inline constexpr std::uint32_t kSslRequestCode = 80877103;     // 1234 << 16 | 5679
inline constexpr std::uint32_t kGssEncRequestCode = 80877104;  // 1234 << 16 | 5680
inline constexpr std::uint32_t kCancelRequestCode = 80877102;  // 1234 << 16 | 5678

// PostgreSQL refuses startup packets above 10000 bytes (MAX_STARTUP_PACKET_LENGTH).
inline constexpr std::uint32_t kDefaultMaxStartupPacket = 10000;
// PostgreSQL's own upper bound for one message: 1 GiB - 1 (PQ_LARGE_MESSAGE_LIMIT).
inline constexpr std::uint32_t kMaxMessageBody = 0x3fffffff;
// Protocol 3.2 allows cancel keys of 4 to 256 bytes.
inline constexpr std::size_t kMaxCancelKey = 256;

// The first byte of a TLS record (a ClientHello) when a PostgreSQL 17 client
// starts TLS directly (sslnegotiation=direct) instead of sending SSLRequest.
inline constexpr std::uint8_t kTlsHandshakeRecord = 0x16;

// Frontend (client to server) message types.
namespace fe {
inline constexpr std::uint8_t kBind = 'B';
inline constexpr std::uint8_t kClose = 'C';
inline constexpr std::uint8_t kCopyData = 'd';
inline constexpr std::uint8_t kCopyDone = 'c';
inline constexpr std::uint8_t kCopyFail = 'f';
inline constexpr std::uint8_t kDescribe = 'D';
inline constexpr std::uint8_t kExecute = 'E';
inline constexpr std::uint8_t kFlush = 'H';
inline constexpr std::uint8_t kFunctionCall = 'F';
inline constexpr std::uint8_t kParse = 'P';
// PasswordMessage, SASLInitialResponse, SASLResponse and GSSResponse share 'p'.
inline constexpr std::uint8_t kPassword = 'p';
inline constexpr std::uint8_t kQuery = 'Q';
inline constexpr std::uint8_t kSync = 'S';
inline constexpr std::uint8_t kTerminate = 'X';
}  // namespace fe

// Backend (server to client) message types.
namespace be {
inline constexpr std::uint8_t kAuthentication = 'R';
inline constexpr std::uint8_t kBackendKeyData = 'K';
inline constexpr std::uint8_t kBindComplete = '2';
inline constexpr std::uint8_t kCloseComplete = '3';
inline constexpr std::uint8_t kCommandComplete = 'C';
inline constexpr std::uint8_t kCopyData = 'd';
inline constexpr std::uint8_t kCopyDone = 'c';
inline constexpr std::uint8_t kCopyInResponse = 'G';
inline constexpr std::uint8_t kCopyOutResponse = 'H';
inline constexpr std::uint8_t kCopyBothResponse = 'W';
inline constexpr std::uint8_t kDataRow = 'D';
inline constexpr std::uint8_t kEmptyQueryResponse = 'I';
inline constexpr std::uint8_t kErrorResponse = 'E';
inline constexpr std::uint8_t kFunctionCallResponse = 'V';
inline constexpr std::uint8_t kNegotiateProtocolVersion = 'v';
inline constexpr std::uint8_t kNoData = 'n';
inline constexpr std::uint8_t kNoticeResponse = 'N';
inline constexpr std::uint8_t kNotificationResponse = 'A';
inline constexpr std::uint8_t kParameterDescription = 't';
inline constexpr std::uint8_t kParameterStatus = 'S';
inline constexpr std::uint8_t kParseComplete = '1';
inline constexpr std::uint8_t kPortalSuspended = 's';
inline constexpr std::uint8_t kReadyForQuery = 'Z';
inline constexpr std::uint8_t kRowDescription = 'T';
}  // namespace be

// Authentication request codes carried in an 'R' message.
enum class AuthCode : std::uint32_t {
  ok = 0,
  kerberos_v5 = 2,
  cleartext_password = 3,
  md5_password = 5,
  gss = 7,
  gss_continue = 8,
  sspi = 9,
  sasl = 10,
  sasl_continue = 11,
  sasl_final = 12,
};

// True for the message types a frontend may send after startup.
bool is_frontend_type(std::uint8_t type);
// True for the message types a backend may send.
bool is_backend_type(std::uint8_t type);

}  // namespace ddlgate::protocol
