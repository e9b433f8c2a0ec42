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

static_assert(fe::kQuery == 'Q' && be::kReadyForQuery == 'Z' && be::kParameterStatus == 'S');

// constinit: filled at compile time, so no static initialiser can run before it.
constinit const std::array<LexingState::Update, 256> LexingState::kClientUpdates = [] {
  std::array<Update, 256> t{};
  // Any message widens until a ReadyForQuery answers everything sent.
  auto update = [](std::uint64_t set, std::uint64_t clear, std::uint64_t points) {
    return Update{.keep = ~(kSettled | set | clear), .add = set + points * kOnePoint};
  };
  // Parse, Bind, Describe, Execute, Close and anything else: answered at the next
  // Sync, which has not gone yet.
  t.fill(update(kAnythingSent | kSentAfterPoint, 0, 0));
  // Password, SASL and GSS messages belong to authentication, answered before the
  // first ReadyForQuery; they set nothing.
  t[fe::kPassword] = {};
  // Each ends with exactly one ReadyForQuery, and its ParameterStatus messages
  // come just before it.
  for (std::uint8_t type : {fe::kQuery, fe::kSync, fe::kFunctionCall}) {
    t[type] = update(kAnythingSent, kSentAfterPoint, 1);
  }
  // Change no setting by themselves: Flush only sends what is pending; copy
  // messages are read by the COPY of a message sent before them (answered with
  // it) or, outside COPY, ignored (postgres.c, PostgresMain).
  for (std::uint8_t type : {fe::kFlush, fe::kTerminate, fe::kCopyData, fe::kCopyDone, fe::kCopyFail}) {
    t[type] = update(kAnythingSent, 0, 0);
  }
  return t;
}();

void LexingState::on_parameter_status(std::span<const std::uint8_t> body) {
  auto p = parse_parameter_status(body);
  if (!p) return;
  if (p->first == "standard_conforming_strings") {
    standard_strings_known_ = p->second == "on" || p->second == "off";
    standard_strings_ = p->second != "off";
  } else if (p->first == "client_encoding") {
    encoding_.assign(p->second);
  }
}

BoolSet LexingState::possible_standard_strings() const {
  if (settled() && standard_strings_known_ && startup_.standard_strings_pinned) {
    return {.on = standard_strings_, .off = !standard_strings_};
  }
  return {.on = true, .off = true};
}

EncodingSet LexingState::possible_encodings() const {
  return {.reported = encoding_, .wide = !(settled() && startup_.client_encoding_pinned && !encoding_.empty())};
}

BackslashQuoteSet LexingState::possible_backslash_quote() const {
  // Never reported: known only while the packet's value cannot have been changed.
  if ((state_ & kAnythingSent) == 0 && startup_.backslash_quote != 0) return {.mask = startup_.backslash_quote};
  return {};
}

}  // namespace ddlgate::protocol
