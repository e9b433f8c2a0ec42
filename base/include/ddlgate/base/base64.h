// Base64 (RFC 4648), strict: one text for one byte string.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ddlgate::base {

// Standard base64 with padding (section 4), no line breaks.
std::string base64_encode(std::string_view bytes);
// nullopt for anything but canonical padded standard base64 (the empty text is the
// empty string): no white space, no missing or extra padding, no stray bits in the
// last character.
std::optional<std::string> base64_decode(std::string_view text);

// base64url without padding (section 5), as PASETO uses it.
std::string base64url_encode(std::string_view bytes);
// Strict: only the url alphabet, no padding, canonical; an empty text is the empty string.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace ddlgate::base
