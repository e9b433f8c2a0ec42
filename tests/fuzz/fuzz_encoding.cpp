// libFuzzer target: read_as_server and to_server_encoding on arbitrary text for
// each (client, server) pair below, the first byte choosing the pair, and
// multibyte.h's checks in the encoding the first byte also chooses. Beyond
// memory safety: ASCII text is never converted, the ASCII bytes before the first
// non-ASCII one come through unchanged, and in a UTF8 database the reading is the
// server's text; an ASCII-safe client's text that PostgreSQL's check refuses is
// refused, and only such text outside a UTF8 database (which also refuses what
// it cannot convert); pg_valid_prefix is the walk of pg_verify_char, and every valid
// character is as long as pg_mblen says (PostgreSQL's own invariant).
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "ddlgate/protocol/encoding.h"
#include "ddlgate/protocol/multibyte.h"

using namespace ddlgate::protocol;

namespace {

constexpr std::array<std::pair<std::string_view, std::string_view>, 17> kPairs = {{
    {"SJIS", "UTF8"},           {"SHIFT_JIS_2004", "UTF8"},         {"BIG5", "UTF8"},      {"GBK", "UTF8"},
    {"UHC", "UTF8"},            {"GB18030", "UTF8"},                {"JOHAB", "UTF8"},     {"SJIS", "EUC_JP"},
    {"SHIFT_JIS_2004", "EUC_JIS_2004"}, {"EUC_JP", "EUC_JP"},       {"BIG5", "EUC_TW"},    {"SJIS", "SQL_ASCII"},
    {"UTF8", "UTF8"},           {"EUC_JIS_2004", "EUC_JIS_2004"},   {"EUC_JP", "UTF8"},    {"LATIN1", "UTF8"},
    {"UTF8", "SQL_ASCII"},
}};

// multibyte.h's checks in one encoding.
void check_multibyte(PgEncoding e, std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t left = text.size();
  std::size_t walked = 0;
  while (left > 0) {
    const int l = pg_verify_char(e, s + walked, left);
    if (l < 0) break;
    if (l > 4 || static_cast<std::size_t>(l) > left) __builtin_trap();
    if (l != pg_mblen(e, text.substr(walked))) __builtin_trap();
    walked += static_cast<std::size_t>(l);
    left -= static_cast<std::size_t>(l);
  }
  if (pg_valid_prefix(e, text) != walked) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto& [client, server] = kPairs[data[0] % kPairs.size()];
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  check_multibyte(static_cast<PgEncoding>(data[0] % kPgEncodingCount), text);
  std::string server_text;
  std::string reading;
  const ServerText s = to_server_encoding(text, client, server, server_text);
  const ServerText r = read_as_server(text, client, server, reading);
  if (!has_non_ascii(text) && (s != ServerText::as_is || r != ServerText::as_is)) __builtin_trap();
  if ((s == ServerText::unsupported) != (r == ServerText::unsupported)) __builtin_trap();
  if (server == "UTF8" && hides_ascii(client) && s != r) __builtin_trap();
  if (server == "UTF8" && s == ServerText::converted && server_text != reading) __builtin_trap();
  if (!hides_ascii(client) && has_non_ascii(text)) {
    // pg_any_to_server's check: the database's encoding when no conversion is needed, else the client's.
    const PgEncoding c = *pg_encoding(client);
    const PgEncoding checked = client == server || client == "SQL_ASCII" ? *pg_encoding(server) : c;
    // A UTF8 database may also refuse a valid character it cannot convert.
    const bool valid = pg_valid(checked, text);
    if (!valid && s != ServerText::invalid) __builtin_trap();
    if (valid && s == ServerText::invalid && server != "UTF8") __builtin_trap();
  }
  if (r == ServerText::converted) {
    // The ASCII prefix (before any multibyte character) comes through unchanged.
    const auto first_high = std::find_if(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
    const std::size_t prefix = static_cast<std::size_t>(first_high - text.begin());
    if (reading.compare(0, prefix, text.substr(0, prefix)) != 0) __builtin_trap();
  }
  return 0;
}
