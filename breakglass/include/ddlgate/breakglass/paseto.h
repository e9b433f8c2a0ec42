// PASETO v4.public tokens (Ed25519 over the pre-authentication encoding), as specified
// in https://github.com/paseto-standard/paseto-spec (docs/01-Protocol-Versions/Version4.md
// and Common.md). Only the "public" purpose of version 4 exists here: no v4.local, no other
// version, so there is no algorithm to negotiate. Errors are values; nothing here prints.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ddlgate/base/ed25519.h"

namespace ddlgate::breakglass::paseto {

using base::PublicKey;
using base::SigningKey;

// The header h of every v4.public token.
inline constexpr std::string_view kV4PublicHeader = "v4.public.";
// A token longer than this is refused before anything is decoded or allocated.
inline constexpr std::size_t kMaxTokenBytes = 8 * 1024;
// Bytes of an Ed25519 signature at the end of the decoded payload.
inline constexpr std::size_t kSignatureBytes = 64;

// Why a token was refused.
enum class Error {
  too_long,         // more than kMaxTokenBytes
  wrong_header,     // not "v4.public." (another version or purpose)
  bad_encoding,     // not strict base64url, or more than one footer separator
  too_short,        // decoded payload shorter than a signature
  bad_signature,    // no given key verifies it
  no_keys,          // verification was asked with an empty key list
  sign_failed,      // OpenSSL could not sign
};
// A short English phrase for err ("signature does not verify with any trusted key").
std::string_view to_string(Error err);

// PAE(pieces) from Common.md: LE64(count) || for each piece LE64(len) || piece.
std::string pae(std::span<const std::string_view> pieces);


// The parts of a token, decoded but not verified.
struct Parts {
  std::string message;    // m: the payload bytes
  std::string signature;  // the 64-byte Ed25519 signature
  std::string footer;     // f: empty when the token has none
};

// What decoding or verifying a token gave.
struct Result {
  std::optional<Parts> parts;  // set exactly when error is unset
  std::optional<Error> error;
  std::size_t key_index = 0;  // verify: which of the keys verified it
  bool ok() const { return parts.has_value(); }
};

// Signs message m with key: "v4.public." + b64url(m || sig) [+ "." + b64url(f)], where
// sig = Ed25519(PAE(h, m, f, i)). nullopt only if OpenSSL fails.
std::optional<std::string> sign_v4_public(const SigningKey& key, std::string_view message,
                                          std::string_view footer = {}, std::string_view implicit = {});

// Splits and decodes a token without checking its signature (for display only).
Result decode_unverified(std::string_view token);

// Verifies token against each key in turn (with implicit assertion i); ok when one does.
Result verify_v4_public(std::string_view token, std::span<const PublicKey> keys, std::string_view implicit = {});

}  // namespace ddlgate::breakglass::paseto
