// Reading a client's text the way PostgreSQL will.
//
// PostgreSQL converts a client's text from client_encoding to the server's
// encoding before it parses it (mbutils.c pg_any_to_server). For most encodings
// that changes no ASCII byte: every byte of a multibyte character is 0x80 or
// above. Seven client-only encodings (SJIS, SHIFT_JIS_2004, BIG5, GBK, UHC,
// GB18030, JOHAB) use ASCII values as the second byte of a character, so
// `0x95 0x5C` is one kanji to the server but a byte and a backslash to anything
// reading bytes; and SHIFT_JIS_2004's `0x81 0x5F` becomes an ASCII backslash in a
// UTF8 database but not in an EUC_JIS_2004 one. A statement must be read as the
// server will, with the server's own conversion for the (client, server) pair:
// PostgreSQL 15's maps and algorithms, compiled from its source package.
// docs/threat-model.md, "Client encodings", lists which pairs are exact.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace ddlgate::protocol {

// The client-only encodings above, by the names PostgreSQL reports in the
// client_encoding ParameterStatus.
inline constexpr std::array<std::string_view, 7> kAsciiHidingEncodings = {
    "SJIS", "SHIFT_JIS_2004", "BIG5", "GBK", "UHC", "GB18030", "JOHAB"};

// Whether text in this client_encoding (as PostgreSQL reports it) can hide ASCII bytes.
bool hides_ascii(std::string_view client_encoding);

// Whether the text has a byte 0x80 or above: only then can the encoding matter.
bool has_non_ascii(std::string_view text);

// Whether PostgreSQL lets a session in a server_encoding database set this
// client_encoding (a conversion both ways exists, or either side is SQL_ASCII).
// Exact for the ASCII-hiding encodings; true for every other pair.
bool client_encoding_settable(std::string_view client_encoding, std::string_view server_encoding);

// What reading a text as the server will gave.
enum class ServerText {
  as_is,        // the text as it came (no output written): the server parses it, or (two ASCII-safe
                // encodings, not UTF8 and not the same) converts it keeping every ASCII byte
  converted,    // the output holds the text
  invalid,      // PostgreSQL refuses the text: an invalid byte sequence or an untranslatable character
  unsupported,  // a pair whose conversion ddlgate does not model exactly, and the text has a byte >= 0x80
};

// PostgreSQL's conversion of a client's text to the server encoding, byte for
// byte (pg_any_to_server). `out` is overwritten when the result is `converted`.
// Exact for the pairs of the client-only encodings above and for every client
// encoding in a UTF8 database; other pairs are checked as PostgreSQL checks them
// (multibyte.h) and given as_is.
ServerText to_server_encoding(std::string_view text, std::string_view client_encoding,
                              std::string_view server_encoding, std::string& out);

// The text as ddlgate must parse it: the server's text (to_server_encoding),
// then, in a database whose encoding is EUC_JP, EUC_JIS_2004 or EUC_TW, converted to
// UTF-8 with PostgreSQL's own map, so that hashes of approved non-ASCII statements
// match bundles (which are UTF-8). A character of the server's text with no
// UTF-8 mapping gives `invalid` (refused). In other databases the server's text
// is parsed as it is: every server encoding is ASCII-safe.
ServerText read_as_server(std::string_view text, std::string_view client_encoding, std::string_view server_encoding,
                          std::string& out);

}  // namespace ddlgate::protocol
