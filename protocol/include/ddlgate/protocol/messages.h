// Decoders for the message bodies ddlgate reads, and builders for the messages
// it writes itself. Decoders take a body (after type and length) and return
// nullopt for malformed bytes; they never read past the body.
// https://www.postgresql.org/docs/15/protocol-message-formats.html
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ddlgate/protocol/codes.h"

namespace ddlgate::protocol {

using Bytes = std::span<const std::uint8_t>;

// ---- frontend ----

// Query: one string that may hold several statements.
std::optional<std::string_view> parse_query(Bytes body);

// Parse: a statement name, its SQL and the declared parameter types.
struct ParseMessage {
  std::string_view statement;
  std::string_view query;
  std::vector<std::uint32_t> param_types;
};
std::optional<ParseMessage> parse_parse(Bytes body);

// Bind: which portal is bound to which prepared statement (parameters are not decoded).
struct BindMessage {
  std::string_view portal;
  std::string_view statement;
};
std::optional<BindMessage> parse_bind(Bytes body);

// Describe and Close: 'S' for a prepared statement or 'P' for a portal, and its name.
struct TargetMessage {
  char kind = 'S';
  std::string_view name;
};
std::optional<TargetMessage> parse_describe(Bytes body);
std::optional<TargetMessage> parse_close(Bytes body);

// Execute: a portal and the maximum number of rows (0 = all).
struct ExecuteMessage {
  std::string_view portal;
  std::uint32_t max_rows = 0;
};
std::optional<ExecuteMessage> parse_execute(Bytes body);

// FunctionCall: the function's OID (arguments are not decoded).
std::optional<std::uint32_t> parse_function_call(Bytes body);

// CopyFail: the client's reason.
std::optional<std::string_view> parse_copy_fail(Bytes body);

// SASLInitialResponse ('p' in a SASL exchange): the chosen mechanism and its first message.
struct SaslInitialResponse {
  std::string_view mechanism;
  std::optional<Bytes> data;  // absent when the length is -1
};
std::optional<SaslInitialResponse> parse_sasl_initial_response(Bytes body);

// ---- backend ----

// Authentication request: its code and the rest of the body.
struct AuthenticationMessage {
  AuthCode code = AuthCode::ok;
  Bytes payload;
};
std::optional<AuthenticationMessage> parse_authentication(Bytes body);
// The SASL mechanisms listed by AuthenticationSASL's payload.
std::optional<std::vector<std::string_view>> parse_sasl_mechanisms(Bytes payload);

// BackendKeyData: process id and secret key (4 bytes in 3.0, up to 256 in 3.2).
struct BackendKeyData {
  std::uint32_t process_id = 0;
  Bytes secret;
};
std::optional<BackendKeyData> parse_backend_key_data(Bytes body);

// ParameterStatus: a run-time parameter's name and value.
std::optional<std::pair<std::string_view, std::string_view>> parse_parameter_status(Bytes body);

// ReadyForQuery: 'I' idle, 'T' in a transaction block, 'E' in a failed one.
std::optional<char> parse_ready_for_query(Bytes body);

// CommandComplete: the command tag ("INSERT 0 1").
std::optional<std::string_view> parse_command_complete(Bytes body);

// NegotiateProtocolVersion: the newest minor version the server supports and the
// protocol options it did not recognise.
struct NegotiateProtocolVersion {
  std::uint32_t newest_minor = 0;
  std::vector<std::string_view> unrecognized;
};
std::optional<NegotiateProtocolVersion> parse_negotiate_protocol_version(Bytes body);

// ErrorResponse and NoticeResponse: typed fields. A server may omit any field
// (even the SQLSTATE); callers must not assume one is there.
struct ErrorFields {
  std::vector<std::pair<char, std::string_view>> fields;
  // The field's value, or empty when absent.
  std::string_view get(char code) const;
  std::string_view severity() const;  // 'V' (never localised), else 'S'
  std::string_view sqlstate() const { return get('C'); }
  std::string_view message() const { return get('M'); }
};
std::optional<ErrorFields> parse_error_fields(Bytes body);

// ---- builders ----

// What ddlgate says in an ErrorResponse it writes itself.
struct ErrorSpec {
  std::string severity = "ERROR";  // ERROR, FATAL or PANIC
  std::string sqlstate;            // five characters, e.g. "42501"
  std::string message;
  std::string detail;  // written as D when not empty
  std::string hint;    // written as H when not empty
};

// An ErrorResponse that always carries S, V, C and M (drivers read C and V),
// and D and H when given.
std::vector<std::uint8_t> build_error_response(const ErrorSpec& spec);
// Appends the same to `out`.
void append_error_response(std::vector<std::uint8_t>& out, const ErrorSpec& spec);
// ReadyForQuery with the given transaction status.
void append_ready_for_query(std::vector<std::uint8_t>& out, char status);
// A Query message.
void append_query(std::vector<std::uint8_t>& out, std::string_view sql);
// A Terminate message.
void append_terminate(std::vector<std::uint8_t>& out);
// The extended protocol's messages, as a client sends them (tests, and the engine's
// fuzz target). Bind carries no parameters and asks for text results.
void append_parse(std::vector<std::uint8_t>& out, std::string_view statement, std::string_view sql);
void append_bind(std::vector<std::uint8_t>& out, std::string_view portal, std::string_view statement);
void append_execute(std::vector<std::uint8_t>& out, std::string_view portal, std::uint32_t max_rows = 0);
// kind: 'S' (a prepared statement) or 'P' (a portal).
void append_describe(std::vector<std::uint8_t>& out, char kind, std::string_view name);
void append_close(std::vector<std::uint8_t>& out, char kind, std::string_view name);
void append_sync(std::vector<std::uint8_t>& out);
void append_flush(std::vector<std::uint8_t>& out);
// A FunctionCall of function `oid` with no arguments.
void append_function_call(std::vector<std::uint8_t>& out, std::uint32_t oid);
// Server messages.
void append_command_complete(std::vector<std::uint8_t>& out, std::string_view tag);
void append_parameter_status(std::vector<std::uint8_t>& out, std::string_view name, std::string_view value);
// A typed message with an arbitrary body (tests and rare messages).
void append_message(std::vector<std::uint8_t>& out, std::uint8_t type, Bytes body);

}  // namespace ddlgate::protocol
