// The session settings that change how PostgreSQL splits a client's text, as a
// set of values each may hold right now.
//
// PostgreSQL 15's scanner (src/backend/parser/scan.l) reads three settings:
//  - standard_conforming_strings: whether a backslash in '...' escapes;
//  - backslash_quote: whether \' is accepted (it never changes where a literal
//    ends, only whether the server refuses the text);
//  - client_encoding: the text is converted to the server's encoding first, and
//    seven client-only encodings can hide ASCII bytes (encoding.h).
// (escape_string_warning only adds warnings.) standard_conforming_strings and
// client_encoding are GUC_REPORT: the server says their values in ParameterStatus,
// but only just before ReadyForQuery (postgres.c calls ReportChangedGUCOptions). So
// after an Execute and a Flush, a SET LOCAL in a transaction, a set_config() in a
// function or any message still unanswered, the server's value may differ from the
// last one it reported. backslash_quote is never reported.
//
// The model is sans-IO: the caller feeds it every client message type that goes
// upstream and the server messages that matter, and asks which values are
// possible. Rule: any message sent since the last ReadyForQuery widens a setting
// to every value; only a ReadyForQuery that answers everything sent (no Query,
// Sync or FunctionCall unanswered, nothing but Flush or COPY data sent after the
// last of them) narrows it to the value reported just before. A setting that the startup packet does not
// set stays wide even then: a configuration reload (SIGHUP) applies
// postgresql.conf while the session is idle, and the change is reported only at
// the next ReadyForQuery, after the server has read the next text with it.
// A setting in the startup packet (source PGC_S_CLIENT) outranks the file, so a
// reload cannot change it.
//
// The model counts the ReadyForQuery messages still to come: one per Query, Sync
// and FunctionCall. Where the server answers fewer (an extended-protocol error
// makes it skip a Query or FunctionCall before the next Sync; COPY FROM STDIN in
// the extended protocol reads a Sync sent before the data as nothing), it counts
// too many and stays wide from then on: wider than needed, never narrower.
// https://www.postgresql.org/docs/15/protocol-flow.html#PROTOCOL-ASYNC
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ddlgate::protocol {

// backslash_quote's values (guc.c, backslash_quote_options).
enum class BackslashQuote : std::uint8_t { off = 1, on = 2, safe_encoding = 4 };

// A backslash_quote value as the server parses it (case-insensitive enum names
// and the boolean spellings): its BackslashQuote bit, or 0 when it is not one.
std::uint8_t parse_backslash_quote(std::string_view value);

// Possible values of a boolean setting.
struct BoolSet {
  bool on = false;
  bool off = false;
  bool contains(bool value) const { return value ? on : off; }
  bool wide() const { return on && off; }
};

// Possible client encodings: `reported` (PostgreSQL's name, as in ParameterStatus)
// when narrow; any encoding when wide. For reading a text only the ASCII-hiding
// encodings differ from each other, and every other encoding reads like UTF8.
struct EncodingSet {
  std::string_view reported;  // the last reported value ("" before any report)
  bool wide = true;
  bool contains(std::string_view encoding) const { return wide || encoding == reported; }
};

// Possible backslash_quote values, a mask of BackslashQuote bits.
struct BackslashQuoteSet {
  std::uint8_t mask = 7;
  bool contains(BackslashQuote v) const { return (mask & static_cast<std::uint8_t>(v)) != 0; }
};

class LexingState {
 public:
  // What the startup packet that went upstream sets (pins against a reload).
  struct Startup {
    bool standard_strings_pinned = false;
    bool client_encoding_pinned = false;
    // The packet's backslash_quote value (parse_backslash_quote), 0 when it sets none.
    std::uint8_t backslash_quote = 0;
  };
  LexingState() = default;
  explicit LexingState(Startup startup) : startup_(startup) {}

  // A client message of `type` went upstream (protocol/codes.h, fe::). Password
  // messages (authentication) are ignored; everything else widens. Inline: it runs
  // for every message of every enforcing session.
  void on_client(std::uint8_t type) {
    // Branch-free, one word: the table entry clears the flags this type changes and
    // adds the ones it sets, plus one sync point (kOnePoint) for Query, Sync and FunctionCall.
    const Update& u = kClientUpdates[type];
    state_ = (state_ & u.keep) + u.add;
  }
  // A server message: ParameterStatus and ReadyForQuery matter;
  // others are ignored. `body` is the message body (after type and length).
  void on_server(std::uint8_t type, std::span<const std::uint8_t> body) {
    if (type == kReadyForQueryType) {
      if (!started_) {
        // The end of startup: it answers no client message, and the ParameterStatus
        // messages before it told every reported setting.
        started_ = true;
      } else if (state_ >= kOnePoint) {
        state_ -= kOnePoint;
      }
      if (state_ < kOnePoint && (state_ & kSentAfterPoint) == 0) state_ |= kSettled;
    } else if (type == kParameterStatusType) {
      on_parameter_status(body);
    }
  }

  BoolSet possible_standard_strings() const;
  EncodingSet possible_encodings() const;
  BackslashQuoteSet possible_backslash_quote() const;

  // Everything sent has been answered by a ReadyForQuery: the reported values are
  // current for the settings the startup packet pins.
  bool settled() const { return (state_ & kSettled) != 0; }
  // Sync points (Query, Sync, FunctionCall) sent and not yet answered, as counted.
  std::uint64_t outstanding() const { return state_ / kOnePoint; }
  // The last reported values (standard_conforming_strings: true when on).
  bool reported_standard_strings() const { return standard_strings_; }
  const std::string& reported_encoding() const { return encoding_; }

 private:
  // state_: flags in the low byte, unanswered sync points above.
  static constexpr std::uint64_t kSettled = 1;        // everything sent is answered
  static constexpr std::uint64_t kSentAfterPoint = 2;  // a message that can change a setting, after the last sync point
  static constexpr std::uint64_t kAnythingSent = 4;    // a client message (not a password) went upstream
  static constexpr std::uint64_t kOnePoint = 256;
  // What a client message of one type does (on_client): state_ = (state_ & keep) + add,
  // where keep clears every flag that add sets.
  struct Update {
    std::uint64_t keep = ~std::uint64_t{0};
    std::uint64_t add = 0;
  };
  static const std::array<Update, 256> kClientUpdates;
  static constexpr std::uint8_t kReadyForQueryType = 'Z';
  static constexpr std::uint8_t kParameterStatusType = 'S';
  void on_parameter_status(std::span<const std::uint8_t> body);

  Startup startup_;
  bool standard_strings_ = true;
  bool standard_strings_known_ = false;  // reported at least once
  std::string encoding_;                 // "" until reported
  std::uint64_t state_ = 0;  // see kOnePoint
  // The first ReadyForQuery (the end of startup) has come; it answers no client message.
  bool started_ = false;
};

}  // namespace ddlgate::protocol
