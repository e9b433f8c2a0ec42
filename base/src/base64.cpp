#include "ddlgate/base/base64.h"

#include <openssl/evp.h>

namespace ddlgate::base {
namespace {

// EVP_*Block take an int length.
constexpr std::size_t kMaxText = std::size_t{1} << 30;

bool is_b64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

bool is_b64url_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  if (bytes.size() > kMaxText) return {};
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.empty()) return std::string();
  if (text.size() % 4 != 0 || text.size() > kMaxText) return std::nullopt;
  std::size_t pad = text.back() == '=' ? (text[text.size() - 2] == '=' ? 2 : 1) : 0;
  for (std::size_t i = 0; i < text.size() - pad; ++i) {
    if (!is_b64_char(text[i])) return std::nullopt;
  }
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  out.resize(static_cast<std::size_t>(n) - pad);
  // Non-zero bits after the last byte would give a second text for the same bytes.
  if (base64_encode(out) != text) return std::nullopt;
  return out;
}

std::string base64url_encode(std::string_view bytes) {
  // Standard base64 but for two characters and the padding.
  std::string s = base64_encode(bytes);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return s;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.empty()) return std::string();
  if (text.size() % 4 == 1 || text.size() > kMaxText) return std::nullopt;  // no byte count encodes to 4n+1
  std::string s;
  s.reserve(text.size() + 3);
  for (char c : text) {
    if (!is_b64url_char(c)) return std::nullopt;  // also rejects '=', '+', '/', white space
    s.push_back(c == '-' ? '+' : c == '_' ? '/' : c);
  }
  while (s.size() % 4 != 0) s.push_back('=');
  return base64_decode(s);
}

}  // namespace ddlgate::base
