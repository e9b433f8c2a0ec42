// PostgreSQL 15's encodings and its rules for their byte strings: which bytes form a
// valid character, and where each character ends (src/common/wchar.c: the mblen and
// verifychar/verifystr functions of pg_wchar_table). The server runs these checks on
// every statement it receives (mbutils.c pg_any_to_server, and the conversion procs,
// which verify each character before converting it), so ddlgate's reading of a text
// must agree with them byte for byte. The code is ddlgate's own, written from
// PostgreSQL's and checked against a real server (tests/integration/multibyte_test.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ddlgate::protocol {

// PostgreSQL's encodings, in the order (and with the numbers) of its pg_enc
// (src/include/mb/pg_wchar.h). Those up to koi8u are server encodings; the rest are
// client-only.
enum class PgEncoding : std::uint8_t {
  sql_ascii,
  euc_jp,
  euc_cn,
  euc_kr,
  euc_tw,
  euc_jis_2004,
  utf8,
  mule_internal,
  latin1,
  latin2,
  latin3,
  latin4,
  latin5,
  latin6,
  latin7,
  latin8,
  latin9,
  latin10,
  win1256,
  win1258,
  win866,
  win874,
  koi8r,
  win1251,
  win1252,
  iso_8859_5,
  iso_8859_6,
  iso_8859_7,
  iso_8859_8,
  win1250,
  win1253,
  win1254,
  win1255,
  win1257,
  koi8u,
  sjis,
  big5,
  gbk,
  uhc,
  gb18030,
  johab,
  shift_jis_2004,
};

inline constexpr std::size_t kPgEncodingCount = static_cast<std::size_t>(PgEncoding::shift_jis_2004) + 1;

// The encoding PostgreSQL names so (its canonical name, as ParameterStatus reports
// client_encoding and server_encoding: encnames.c pg_enc2name_tbl), or none.
std::optional<PgEncoding> pg_encoding(std::string_view canonical_name);

// The canonical name ("UTF8", "SHIFT_JIS_2004", ...).
std::string_view pg_encoding_name(PgEncoding e);

// Whether PostgreSQL accepts this encoding only on the client side (PG_VALID_BE_ENCODING is false).
constexpr bool client_only(PgEncoding e) { return e > PgEncoding::koi8u; }

// pg_encoding_mblen: the length PostgreSQL gives the character starting at the
// first byte of `at` (which must not be empty), judging from that byte alone except
// in GB18030, whose second byte decides between 2 and 4 (a missing second byte
// counts as NUL, as in PostgreSQL). Not a validity check: an invalid lead byte may
// still get a length (UTF8 gives 1 to every invalid lead byte).
int pg_mblen(PgEncoding e, std::string_view at);

// pg_encoding_verifymbchar: the length of the valid character at s (len > 0 bytes
// left, s[0] not NUL), or -1 when PostgreSQL refuses it (too short, a byte out of
// range, a NUL inside it).
int pg_verify_char(PgEncoding e, const unsigned char* s, std::size_t len);

// pg_encoding_verifymbstr: how many leading bytes of `text` are valid (text.size()
// when all are). A NUL byte is never valid.
std::size_t pg_valid_prefix(PgEncoding e, std::string_view text);

// Whether PostgreSQL's pg_verify_mbstr accepts the whole text in this encoding.
inline bool pg_valid(PgEncoding e, std::string_view text) { return pg_valid_prefix(e, text) == text.size(); }

}  // namespace ddlgate::protocol
