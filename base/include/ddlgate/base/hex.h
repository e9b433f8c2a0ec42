// Lowercase hexadecimal.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ddlgate::base {

// Two lowercase hex digits per byte.
std::string hex_encode(std::string_view bytes);
std::string hex_encode(const unsigned char* data, std::size_t size);
// Even-length hex (either case); nullopt for anything else.
std::optional<std::string> hex_decode(std::string_view text);
// True when every character is 0-9 or a-f (an empty text is true).
bool is_lower_hex(std::string_view text);
// `bytes` random bytes from OpenSSL's CSPRNG, hex-encoded; empty if it fails.
std::string random_hex(std::size_t bytes);

}  // namespace ddlgate::base
