#include "ddlgate/engine/reading.h"

#include <algorithm>

#include "ddlgate/base/sha256.h"
#include "ddlgate/protocol/encoding.h"

namespace ddlgate::engine {
namespace {

// Whether the server may cut a name in this text elsewhere than ddlgate's reading does.
// libpg_query cuts a name of 64 bytes or more at a UTF-8 character boundary of the
// reading; the server at 63 bytes of its own text, at a character boundary of the
// database encoding. In a UTF8 database the reading is the server's text; in another,
// a name's bytes in the reading and in the server's text differ in length by at most
// a factor of 2 (MULE_INTERNAL's two bytes for LATIN1's one), and a U& escape takes at
// least as many bytes written as decoded. So only a name-like span of 30 bytes or more
// with a non-ASCII byte or an escape in it can be cut differently (a span of ASCII
// letters is cut alike everywhere). Name-like: a run of letters, digits, _, $, \, +
// and bytes >= 0x80, or anything between two double quotes. Literals are not skipped:
// a long non-ASCII word in one is refused too (docs/threat-model.md, "Client encodings").
bool names_may_be_cut_otherwise(std::string_view text) {
  constexpr std::size_t kLongSpan = 30;
  auto name_byte = [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
           c == '\\' || c == '+' || c >= 0x80;
  };
  auto risky = [](std::string_view span) {
    return span.size() >= kLongSpan && std::any_of(span.begin(), span.end(), [](char c) {
             return static_cast<unsigned char>(c) >= 0x80 || c == '\\';
           });
  };
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == '"') {
      const std::size_t end = text.find('"', i + 1);
      const std::size_t stop = end == std::string_view::npos ? text.size() : end;
      if (risky(text.substr(i + 1, stop - i - 1))) return true;
      i = stop + 1;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && name_byte(static_cast<unsigned char>(text[j]))) ++j;
    if (j == i) {
      ++i;
      continue;
    }
    if (risky(text.substr(i, j - i))) return true;
    i = j;
  }
  return false;
}

// A text the server may read with an escape written as U& (U&'...' or U&"...").
bool has_unicode_escape(std::string_view text) {
  for (std::size_t at = text.find('&'); at != std::string_view::npos; at = text.find('&', at + 1)) {
    if (at > 0 && (text[at - 1] == 'U' || text[at - 1] == 'u')) return true;
  }
  return false;
}

}  // namespace

std::string unreadable_text(protocol::ServerText why, std::string_view client_encoding) {
  if (why == protocol::ServerText::unsupported) {
    return "ddlgate cannot read " + std::string(client_encoding) +
           " text with non-ASCII bytes exactly as this database converts it (docs/threat-model.md)";
  }
  return "the statement is not valid " + std::string(client_encoding) + " text for this database";
}

Reading ServerReader::read_as_superuser(std::string_view text, bool standard_strings) const {
  // Every class controlled but transaction control (BEGIN, COMMIT: they change nothing
  // by themselves), and no cache (its entries hold the ordinary policy's decisions): a
  // superuser's session pays a parse per statement, as it pays a ledger decision.
  static const sql::Policy kSuperuser = [] {
    sql::Policy p;
    for (auto cls : sql::kAllStatementClasses) p.set_controlled(cls, cls != sql::StatementClass::transaction);
    return p;
  }();
  if (text.size() > kParseOnWorkerBytes) {
    // Not parsed on the worker thread, and not worth a thread of its own: refused.
    auto large = std::make_shared<sql::Analysis>();
    large->error = sql::ParseError{"a statement over " + std::to_string(kParseOnWorkerBytes) +
                                       " bytes in a superuser's session (enforcement.superusers)",
                                   0};
    return large;
  }
  return std::make_shared<const sql::Analysis>(sql::analyze(
      text, kSuperuser, sql::Detail::controlled_only, sql::ParseOptions{.standard_conforming_strings = standard_strings}));
}

Reading ServerReader::read_one(std::string_view sql, bool non_ascii, bool standard_strings, std::string_view encoding,
                               Caches caches) {
  auto& cache = standard_strings ? caches.standard : caches.nonstandard;
  std::string_view text = sql;
  // No conversion changes an ASCII text, whatever the pair of encodings.
  if (non_ascii) {
    auto as_server = protocol::read_as_server(sql, encoding, server_encoding_, server_text_);
    if (as_server == protocol::ServerText::converted) {
      text = server_text_;
    } else if (as_server != protocol::ServerText::as_is) {
      auto refused = std::make_shared<sql::Analysis>();
      refused->error = sql::ParseError{unreadable_text(as_server, encoding), 0};
      return refused;
    }
  }
  if (!server_utf8_) {
    if (Reading refused = refuse_names_cut_otherwise(text, non_ascii)) return refused;
  }
  if (superuser_) return read_as_superuser(text, standard_strings);
  if (text.size() > kParseOnWorkerBytes && !cache.answers_without_parsing(text)) {
    deferred_.push_back({readings_.size(), std::string(text), cache.options()});
    return nullptr;
  }
  return cache.get(text);
}

void ServerReader::read(std::string_view sql, const protocol::LexingState& lexing, Caches caches) {
  clear();
  const bool non_ascii = protocol::has_non_ascii(sql);
  readings_.push_back(read_one(sql, non_ascii, lexing.reported_standard_strings(), lexing.reported_encoding(), caches));
  // Both settings can change unseen: in the startup packet or the role's defaults
  // (reported before the first ReadyForQuery), by a message of a pipeline still in
  // flight, or (client_encoding when the client did not name it) by a configuration
  // reload. `lexing` says which values are possible now (protocol/lexing_state.h).
  // Only a backslash reads differently under either setting, and only a byte >= 0x80
  // under another encoding; a backslash may also come from one (SHIFT_JIS_2004's
  // 0x81 0x5F is U+005C to a UTF8 database). So an ASCII text without one reads alike
  // every way, and any other text is read every other way the server might read it.
  if (!non_ascii && sql.find('\\') == std::string_view::npos) return;
  const protocol::BoolSet standard = lexing.possible_standard_strings();
  const protocol::EncodingSet encodings = lexing.possible_encodings();
  if (!standard.wide() && !encodings.wide) return;
  if (standard.wide()) {
    readings_.push_back(read_one(sql, non_ascii, !lexing.reported_standard_strings(), encodings.reported, caches));
  }
  if (!encodings.wide || !non_ascii) return;
  for (bool s : {true, false}) {
    if (!standard.contains(s)) continue;  // only the encoding may have changed
    // Every encoding that keeps ASCII bytes splits a text alike, if it takes it: LATIN1
    // stands for them all, since it takes every byte but NUL (UTF8 would refuse a
    // text that is not UTF-8, which another of them may take). Their names and literals
    // differ (a UTF8 database converts each its own way): not every one is read here.
    if (protocol::hides_ascii(encodings.reported)) readings_.push_back(read_one(sql, non_ascii, s, "LATIN1", caches));
    for (std::string_view encoding : protocol::kAsciiHidingEncodings) {
      // Only the encodings this database lets a session switch to.
      if (encoding != encodings.reported && protocol::client_encoding_settable(encoding, server_encoding_)) {
        readings_.push_back(read_one(sql, non_ascii, s, encoding, caches));
      }
    }
  }
}

base::Result<std::string_view> ServerReader::reported_text(std::string_view sql, const protocol::LexingState& lexing,
                                                           std::string* buffer) const {
  auto as_server = protocol::read_as_server(sql, lexing.reported_encoding(), server_encoding_, *buffer);
  std::string_view text;
  if (as_server == protocol::ServerText::converted) {
    text = *buffer;
  } else if (as_server == protocol::ServerText::as_is) {
    text = sql;
  } else {
    return base::Error{unreadable_text(as_server, lexing.reported_encoding())};
  }
  if (server_utf8_) return text;
  if (auto cut = names_cut_otherwise(text, protocol::has_non_ascii(sql))) return base::Error{*cut};
  return text;
}

Reading ServerReader::refuse_names_cut_otherwise(std::string_view text, bool non_ascii) const {
  auto cut = names_cut_otherwise(text, non_ascii);
  if (!cut) return nullptr;
  auto refused = std::make_shared<sql::Analysis>();
  refused->error = sql::ParseError{*cut, 0};
  return refused;
}

std::optional<std::string> ServerReader::names_cut_otherwise(std::string_view text, bool non_ascii) const {
  // A UTF8 database reads names exactly (read_one asks only outside one).
  if (server_utf8_ || !(non_ascii || has_unicode_escape(text)) || !names_may_be_cut_otherwise(text)) {
    return std::nullopt;
  }
  return "ddlgate cannot tell where this " + server_encoding_ +
         " database cuts a long name with non-ASCII characters or escapes in it (docs/threat-model.md)";
}

std::string ServerReader::server_bytes_sha256(std::string_view sql, const protocol::LexingState& lexing) const {
  if (!protocol::has_non_ascii(sql)) return base::sha256_hex(sql);
  if (lexing.possible_encodings().wide) return {};
  std::string converted;
  switch (protocol::to_server_encoding(sql, lexing.reported_encoding(), server_encoding_, converted)) {
    case protocol::ServerText::as_is:
      return base::sha256_hex(sql);
    case protocol::ServerText::converted:
      return base::sha256_hex(converted);
    default:
      return {};
  }
}

}  // namespace ddlgate::engine
