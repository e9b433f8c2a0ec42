#include "ddlgate/base/sha256.h"

#include <openssl/evp.h>

#include "ddlgate/base/hex.h"

namespace ddlgate::base {

Sha256 sha256(std::string_view bytes) {
  Sha256 md{};
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md.data(), &len, EVP_sha256(), nullptr);
  return md;
}

std::string sha256_raw(std::string_view bytes) {
  auto md = sha256(bytes);
  return std::string(reinterpret_cast<const char*>(md.data()), md.size());
}

bool is_sha256_text(std::string_view text) {
  return text.size() == 7 + 64 && text.substr(0, 7) == "sha256:" && is_lower_hex(text.substr(7));
}

std::string sha256_hex(std::string_view bytes) {
  auto md = sha256(bytes);
  return hex_encode(md.data(), md.size());
}

}  // namespace ddlgate::base
