#include "ddlgate/breakglass/paseto.h"

#include <array>
#include <cstdint>

#include "ddlgate/base/base64.h"

namespace ddlgate::breakglass::paseto {

using base::base64url_decode;
using base::base64url_encode;
using base::ed25519_verify;

namespace {

// LE64 from Common.md: little-endian, most significant bit cleared.
void append_le64(std::string& out, std::uint64_t n) {
  for (int i = 0; i < 8; ++i) {
    if (i == 7) n &= 127;
    out.push_back(static_cast<char>(n & 255));
    n >>= 8;
  }
}


}  // namespace

std::string_view to_string(Error err) {
  switch (err) {
    case Error::too_long: return "token is longer than 8 KiB";
    case Error::wrong_header: return "not a v4.public PASETO token";
    case Error::bad_encoding: return "token is not strict unpadded base64url";
    case Error::too_short: return "token payload is shorter than a signature";
    case Error::bad_signature: return "signature does not verify with any trusted key";
    case Error::no_keys: return "no trusted public key is configured";
    case Error::sign_failed: return "OpenSSL could not sign the token";
  }
  return "invalid token";
}

std::string pae(std::span<const std::string_view> pieces) {
  std::size_t total = 8;
  for (auto p : pieces) total += 8 + p.size();
  std::string out;
  out.reserve(total);
  append_le64(out, pieces.size());
  for (auto p : pieces) {
    append_le64(out, p.size());
    out.append(p);
  }
  return out;
}

std::optional<std::string> sign_v4_public(const SigningKey& key, std::string_view message, std::string_view footer,
                                          std::string_view implicit) {
  const std::array<std::string_view, 4> pieces{kV4PublicHeader, message, footer, implicit};
  std::string sig = key.sign(pae(pieces));
  if (sig.size() != kSignatureBytes) return std::nullopt;
  std::string body(message);
  body += sig;
  std::string token(kV4PublicHeader);
  token += base64url_encode(body);
  if (!footer.empty()) {
    token += '.';
    token += base64url_encode(footer);
  }
  return token;
}

Result decode_unverified(std::string_view token) {
  Result r;
  if (token.size() > kMaxTokenBytes) {
    r.error = Error::too_long;
    return r;
  }
  if (token.substr(0, kV4PublicHeader.size()) != kV4PublicHeader) {
    r.error = Error::wrong_header;
    return r;
  }
  std::string_view rest = token.substr(kV4PublicHeader.size());
  std::string_view body = rest;
  std::string_view footer_text;
  if (auto dot = rest.find('.'); dot != std::string_view::npos) {
    body = rest.substr(0, dot);
    footer_text = rest.substr(dot + 1);
    // "h.payload." (an empty footer after the separator) is not what sign produces; refuse
    // it so that every token has one spelling.
    if (footer_text.empty() || footer_text.find('.') != std::string_view::npos) {
      r.error = Error::bad_encoding;
      return r;
    }
  }
  auto raw = base64url_decode(body);
  auto footer = base64url_decode(footer_text);
  if (!raw || !footer) {
    r.error = Error::bad_encoding;
    return r;
  }
  if (raw->size() < kSignatureBytes) {
    r.error = Error::too_short;
    return r;
  }
  Parts p;
  p.signature = raw->substr(raw->size() - kSignatureBytes);
  raw->resize(raw->size() - kSignatureBytes);
  p.message = std::move(*raw);
  p.footer = std::move(*footer);
  r.parts = std::move(p);
  return r;
}

Result verify_v4_public(std::string_view token, std::span<const PublicKey> keys, std::string_view implicit) {
  Result r = decode_unverified(token);
  if (!r.ok()) return r;
  if (keys.empty()) {
    r.parts.reset();
    r.error = Error::no_keys;
    return r;
  }
  const std::array<std::string_view, 4> pieces{kV4PublicHeader, r.parts->message, r.parts->footer, implicit};
  const std::string m2 = pae(pieces);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (base::ed25519_verify(keys[i], m2, r.parts->signature)) {
      r.key_index = i;
      return r;
    }
  }
  r.parts.reset();
  r.error = Error::bad_signature;
  return r;
}

}  // namespace ddlgate::breakglass::paseto
