#include "ddlgate/protocol/lexing_state.h"

#include <algorithm>
#include <cctype>

#include "ddlgate/protocol/codes.h"
#include "ddlgate/protocol/messages.h"

namespace ddlgate::protocol {

std::uint8_t parse_backslash_quote(std::string_view value) {
  // guc.c, backslash_quote_options, matched with pg_strcasecmp.
  static constexpr std::pair<std::string_view, BackslashQuote> kNames[] = {
      {"safe_encoding", BackslashQuote::safe_encoding},
      {"on", BackslashQuote::on},
      {"off", BackslashQuote::off},
      {"true", BackslashQuote::on},
      {"false", BackslashQuote::off},
      {"yes", BackslashQuote::on},
      {"no", BackslashQuote::off},
      {"1", BackslashQuote::on},
      {"0", BackslashQuote::off},
  };
  auto same = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
  };
  for (const auto& [name, v] : kNames) {
    if (same(value, name)) return static_cast<std::uint8_t>(v);
  }
  return 0;
}

void LexingState::on_client(std::uint8_t type) {
  // Password, SASL and GSS messages belong to authentication, answered before the
  // first ReadyForQuery; they set nothing.
  if (type == fe::kPassword) return;
  anything_sent_ = true;
  settled_ = false;
  switch (type) {
    case fe::kQuery:
    case fe::kSync:
    case fe::kFunctionCall:
      // Each ends with exactly one ReadyForQuery, and its ParameterStatus
      // messages come just before it.
      ++outstanding_;
      sent_after_point_ = false;
      break;
    case fe::kFlush:
    case fe::kTerminate:
    case fe::kCopyData:
    case fe::kCopyDone:
    case fe::kCopyFail:
      // Change no setting by themselves: Flush only sends what is pending; copy
      // messages are read by the COPY of a message sent before them (answered with
      // it) or, outside COPY, ignored (postgres.c, PostgresMain).
      break;
    default:
      // Parse, Bind, Describe, Execute, Close and anything else: answered at the
      // next Sync, which has not gone yet.
      sent_after_point_ = true;
      break;
  }
}

void LexingState::on_server(std::uint8_t type, std::span<const std::uint8_t> body) {
  if (type == be::kParameterStatus) {
    auto p = parse_parameter_status(body);
    if (!p) return;
    if (p->first == "standard_conforming_strings") {
      standard_strings_known_ = p->second == "on" || p->second == "off";
      standard_strings_ = p->second != "off";
    } else if (p->first == "client_encoding") {
      encoding_.assign(p->second);
    }
    return;
  }
  if (type != be::kReadyForQuery) return;
  if (!started_) {
    // The end of startup: it answers no client message, and the ParameterStatus
    // messages before it told every reported setting.
    started_ = true;
  } else if (outstanding_ > 0) {
    --outstanding_;
  }
  settled_ = started_ && outstanding_ == 0 && !sent_after_point_;
}

BoolSet LexingState::possible_standard_strings() const {
  if (settled_ && standard_strings_known_ && startup_.standard_strings_pinned) {
    return {.on = standard_strings_, .off = !standard_strings_};
  }
  return {.on = true, .off = true};
}

EncodingSet LexingState::possible_encodings() const {
  return {.reported = encoding_, .wide = !(settled_ && startup_.client_encoding_pinned && !encoding_.empty())};
}

BackslashQuoteSet LexingState::possible_backslash_quote() const {
  // Never reported: known only while the packet's value cannot have been changed.
  if (!anything_sent_ && startup_.backslash_quote != 0) return {.mask = startup_.backslash_quote};
  return {};
}

}  // namespace ddlgate::protocol
