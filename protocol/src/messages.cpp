#include "ddlgate/protocol/messages.h"

#include "byte_io.h"

namespace ddlgate::protocol {

using detail::Reader;
using detail::Writer;

bool is_frontend_type(std::uint8_t type) {
  switch (type) {
    case fe::kBind: case fe::kClose: case fe::kCopyData: case fe::kCopyDone: case fe::kCopyFail:
    case fe::kDescribe: case fe::kExecute: case fe::kFlush: case fe::kFunctionCall: case fe::kParse:
    case fe::kPassword: case fe::kQuery: case fe::kSync: case fe::kTerminate:
      return true;
    default:
      return false;
  }
}

bool is_backend_type(std::uint8_t type) {
  switch (type) {
    case be::kAuthentication: case be::kBackendKeyData: case be::kBindComplete: case be::kCloseComplete:
    case be::kCommandComplete: case be::kCopyData: case be::kCopyDone: case be::kCopyInResponse:
    case be::kCopyOutResponse: case be::kCopyBothResponse: case be::kDataRow: case be::kEmptyQueryResponse:
    case be::kErrorResponse: case be::kFunctionCallResponse: case be::kNegotiateProtocolVersion:
    case be::kNoData: case be::kNoticeResponse: case be::kNotificationResponse:
    case be::kParameterDescription: case be::kParameterStatus: case be::kParseComplete:
    case be::kPortalSuspended: case be::kReadyForQuery: case be::kRowDescription:
      return true;
    default:
      return false;
  }
}

std::optional<std::string_view> parse_query(Bytes body) {
  Reader in(body);
  auto q = in.cstring();
  if (!q || !in.at_end()) return std::nullopt;
  return q;
}

std::optional<ParseMessage> parse_parse(Bytes body) {
  Reader in(body);
  ParseMessage m;
  auto name = in.cstring();
  auto query = in.cstring();
  auto count = in.u16();
  if (!name || !query || !count) return std::nullopt;
  // Each type is 4 bytes: check the count against what is left before reserving.
  if (in.remaining() != std::size_t{*count} * 4) return std::nullopt;
  m.statement = *name;
  m.query = *query;
  m.param_types.reserve(*count);
  for (std::uint16_t i = 0; i < *count; ++i) m.param_types.push_back(*in.u32());
  return m;
}

std::optional<BindMessage> parse_bind(Bytes body) {
  Reader in(body);
  auto portal = in.cstring();
  auto statement = in.cstring();
  if (!portal || !statement) return std::nullopt;
  return BindMessage{*portal, *statement};
}

namespace {
std::optional<TargetMessage> parse_target(Bytes body) {
  Reader in(body);
  auto kind = in.u8();
  auto name = in.cstring();
  if (!kind || !name || !in.at_end() || (*kind != 'S' && *kind != 'P')) return std::nullopt;
  return TargetMessage{static_cast<char>(*kind), *name};
}
}  // namespace

std::optional<TargetMessage> parse_describe(Bytes body) { return parse_target(body); }
std::optional<TargetMessage> parse_close(Bytes body) { return parse_target(body); }

std::optional<ExecuteMessage> parse_execute(Bytes body) {
  Reader in(body);
  auto portal = in.cstring();
  auto rows = in.u32();
  if (!portal || !rows || !in.at_end()) return std::nullopt;
  return ExecuteMessage{*portal, *rows};
}

std::optional<std::uint32_t> parse_function_call(Bytes body) {
  Reader in(body);
  return in.u32();
}

std::optional<std::string_view> parse_copy_fail(Bytes body) {
  Reader in(body);
  auto m = in.cstring();
  if (!m || !in.at_end()) return std::nullopt;
  return m;
}

std::optional<SaslInitialResponse> parse_sasl_initial_response(Bytes body) {
  Reader in(body);
  auto mech = in.cstring();
  auto len = in.i32();
  if (!mech || !len) return std::nullopt;
  SaslInitialResponse r;
  r.mechanism = *mech;
  if (*len == -1) {
    if (!in.at_end()) return std::nullopt;
    return r;
  }
  if (*len < 0 || static_cast<std::size_t>(*len) != in.remaining()) return std::nullopt;
  r.data = in.rest();
  return r;
}

std::optional<AuthenticationMessage> parse_authentication(Bytes body) {
  Reader in(body);
  auto code = in.u32();
  if (!code) return std::nullopt;
  return AuthenticationMessage{static_cast<AuthCode>(*code), in.rest()};
}

std::optional<std::vector<std::string_view>> parse_sasl_mechanisms(Bytes payload) {
  Reader in(payload);
  std::vector<std::string_view> out;
  while (true) {
    auto m = in.cstring();
    if (!m) return std::nullopt;
    if (m->empty()) break;
    out.push_back(*m);
  }
  if (!in.at_end()) return std::nullopt;
  return out;
}

std::optional<BackendKeyData> parse_backend_key_data(Bytes body) {
  Reader in(body);
  auto pid = in.u32();
  if (!pid) return std::nullopt;
  auto secret = in.rest();
  if (secret.size() < 4 || secret.size() > kMaxCancelKey) return std::nullopt;
  return BackendKeyData{*pid, secret};
}

std::optional<std::pair<std::string_view, std::string_view>> parse_parameter_status(Bytes body) {
  Reader in(body);
  auto name = in.cstring();
  auto value = in.cstring();
  if (!name || !value || !in.at_end()) return std::nullopt;
  return std::make_pair(*name, *value);
}

std::optional<char> parse_ready_for_query(Bytes body) {
  if (body.size() != 1) return std::nullopt;
  char s = static_cast<char>(body[0]);
  if (s != 'I' && s != 'T' && s != 'E') return std::nullopt;
  return s;
}

std::optional<std::string_view> parse_command_complete(Bytes body) {
  Reader in(body);
  auto tag = in.cstring();
  if (!tag || !in.at_end()) return std::nullopt;
  return tag;
}

std::optional<NegotiateProtocolVersion> parse_negotiate_protocol_version(Bytes body) {
  Reader in(body);
  auto minor = in.u32();
  auto count = in.u32();
  if (!minor || !count) return std::nullopt;
  // Every option name takes at least one byte (its NUL): bound the count first.
  if (*count > in.remaining()) return std::nullopt;
  NegotiateProtocolVersion n;
  n.newest_minor = *minor;
  for (std::uint32_t i = 0; i < *count; ++i) {
    auto opt = in.cstring();
    if (!opt) return std::nullopt;
    n.unrecognized.push_back(*opt);
  }
  if (!in.at_end()) return std::nullopt;
  return n;
}

std::string_view ErrorFields::get(char code) const {
  for (const auto& [c, v] : fields) {
    if (c == code) return v;
  }
  return {};
}

std::string_view ErrorFields::severity() const {
  auto v = get('V');
  return v.empty() ? get('S') : v;
}

std::optional<ErrorFields> parse_error_fields(Bytes body) {
  Reader in(body);
  ErrorFields f;
  while (true) {
    auto code = in.u8();
    if (!code) return std::nullopt;
    if (*code == 0) break;
    auto value = in.cstring();
    if (!value) return std::nullopt;
    f.fields.emplace_back(static_cast<char>(*code), *value);
  }
  if (!in.at_end()) return std::nullopt;
  return f;
}

namespace {

// A SQLSTATE is five characters from 0-9 and A-Z.
// https://www.postgresql.org/docs/15/errcodes-appendix.html
bool valid_sqlstate(std::string_view s) {
  if (s.size() != 5) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) return false;
  }
  return true;
}

// The severities an ErrorResponse may carry in V. Drivers judge the error by V,
// so anything else (empty, lower case, a NOTICE level) is sent as ERROR.
// https://www.postgresql.org/docs/15/protocol-error-fields.html
std::string_view error_severity(std::string_view s) {
  if (s == "FATAL" || s == "PANIC") return s;
  return "ERROR";
}

}  // namespace

void append_error_response(std::vector<std::uint8_t>& out, const ErrorSpec& spec) {
  Writer w(out);
  auto at = w.begin_message(be::kErrorResponse);
  // ddlgate does not localise, so S (localised) and V (never localised) agree.
  const std::string_view sev = error_severity(spec.severity);
  w.u8('S');
  w.cstring(sev);
  w.u8('V');
  w.cstring(sev);
  w.u8('C');
  // Never send a malformed SQLSTATE: drivers branch on it.
  w.cstring(valid_sqlstate(spec.sqlstate) ? std::string_view(spec.sqlstate) : std::string_view("XX000"));
  w.u8('M');
  w.cstring(spec.message);
  if (!spec.detail.empty()) {
    w.u8('D');
    w.cstring(spec.detail);
  }
  if (!spec.hint.empty()) {
    w.u8('H');
    w.cstring(spec.hint);
  }
  w.u8(0);
  w.end_message(at);
}

std::vector<std::uint8_t> build_error_response(const ErrorSpec& spec) {
  std::vector<std::uint8_t> out;
  append_error_response(out, spec);
  return out;
}

void append_ready_for_query(std::vector<std::uint8_t>& out, char status) {
  Writer w(out);
  auto at = w.begin_message(be::kReadyForQuery);
  w.u8(static_cast<std::uint8_t>(status));
  w.end_message(at);
}

void append_query(std::vector<std::uint8_t>& out, std::string_view sql) {
  Writer w(out);
  auto at = w.begin_message(fe::kQuery);
  w.cstring(sql);
  w.end_message(at);
}

void append_terminate(std::vector<std::uint8_t>& out) {
  Writer w(out);
  auto at = w.begin_message(fe::kTerminate);
  w.end_message(at);
}

void append_parse(std::vector<std::uint8_t>& out, std::string_view statement, std::string_view sql) {
  Writer w(out);
  auto at = w.begin_message(fe::kParse);
  w.cstring(statement);
  w.cstring(sql);
  w.u16(0);  // no parameter types
  w.end_message(at);
}

void append_bind(std::vector<std::uint8_t>& out, std::string_view portal, std::string_view statement) {
  Writer w(out);
  auto at = w.begin_message(fe::kBind);
  w.cstring(portal);
  w.cstring(statement);
  w.u16(0);  // parameter format codes
  w.u16(0);  // parameters
  w.u16(0);  // result format codes
  w.end_message(at);
}

void append_execute(std::vector<std::uint8_t>& out, std::string_view portal, std::uint32_t max_rows) {
  Writer w(out);
  auto at = w.begin_message(fe::kExecute);
  w.cstring(portal);
  w.u32(max_rows);
  w.end_message(at);
}

void append_describe(std::vector<std::uint8_t>& out, char kind, std::string_view name) {
  Writer w(out);
  auto at = w.begin_message(fe::kDescribe);
  w.u8(static_cast<std::uint8_t>(kind));
  w.cstring(name);
  w.end_message(at);
}

void append_close(std::vector<std::uint8_t>& out, char kind, std::string_view name) {
  Writer w(out);
  auto at = w.begin_message(fe::kClose);
  w.u8(static_cast<std::uint8_t>(kind));
  w.cstring(name);
  w.end_message(at);
}

void append_sync(std::vector<std::uint8_t>& out) {
  Writer w(out);
  w.end_message(w.begin_message(fe::kSync));
}

void append_flush(std::vector<std::uint8_t>& out) {
  Writer w(out);
  w.end_message(w.begin_message(fe::kFlush));
}

void append_function_call(std::vector<std::uint8_t>& out, std::uint32_t oid) {
  Writer w(out);
  auto at = w.begin_message(fe::kFunctionCall);
  w.u32(oid);
  w.u16(0);  // argument format codes
  w.u16(0);  // arguments
  w.u16(0);  // result format: text
  w.end_message(at);
}

void append_command_complete(std::vector<std::uint8_t>& out, std::string_view tag) {
  Writer w(out);
  auto at = w.begin_message(be::kCommandComplete);
  w.cstring(tag);
  w.end_message(at);
}

void append_parameter_status(std::vector<std::uint8_t>& out, std::string_view name, std::string_view value) {
  Writer w(out);
  auto at = w.begin_message(be::kParameterStatus);
  w.cstring(name);
  w.cstring(value);
  w.end_message(at);
}

void append_message(std::vector<std::uint8_t>& out, std::uint8_t type, Bytes body) {
  Writer w(out);
  auto at = w.begin_message(type);
  w.bytes(body);
  w.end_message(at);
}

}  // namespace ddlgate::protocol
