// Client encodings whose characters can hide ASCII bytes.
//
// PostgreSQL converts a client's text from client_encoding to the server's
// encoding before it parses it. For most encodings that changes no ASCII byte:
// every byte of a multibyte character is 0x80 or above. Seven client-only
// encodings (SJIS, SHIFT_JIS_2004, BIG5, GBK, UHC, GB18030, JOHAB) use ASCII
// values as the second byte of a character, so `0x95 0x5C` is one kanji to the
// server but a byte and a backslash to anything reading bytes. A statement
// must be read as the server will, so such text is converted first.
#pragma once

#include <array>
#include <optional>
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

// The text converted from client_encoding to UTF-8 (glibc iconv), or nullopt
// when it is not valid in that encoding (PostgreSQL then refuses it too).
std::optional<std::string> to_utf8(std::string_view text, std::string_view client_encoding);

}  // namespace ddlgate::protocol
