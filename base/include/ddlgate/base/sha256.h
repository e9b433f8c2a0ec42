// SHA-256 through OpenSSL's EVP interface.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace ddlgate::base {

using Sha256 = std::array<std::uint8_t, 32>;

Sha256 sha256(std::string_view bytes);
// The 32 raw bytes as a string.
std::string sha256_raw(std::string_view bytes);
// 64 lowercase hex digits, without a "sha256:" prefix.
std::string sha256_hex(std::string_view bytes);
// "sha256:" and 64 lowercase hex digits, as statement hashes and token digests are written.
bool is_sha256_text(std::string_view text);

}  // namespace ddlgate::base
