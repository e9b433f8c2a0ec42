// Ed25519 keys and signatures (RFC 8032) through OpenSSL 3's EVP interface, for
// bundles, break-glass tokens and ledger checkpoints. Nothing here throws.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ddlgate/base/result.h"

namespace ddlgate::base {

// A raw 32-byte Ed25519 public key. Trust counts these, never key ids.
using PublicKey = std::array<std::uint8_t, 32>;

// "ed25519:" + the first 16 hex digits of SHA-256(raw public key): for display only.
std::string key_id(const PublicKey& key);

// What a key is for. A public key file may say so on a line before its PEM block,
// "ddlgate-key-use: approver" (`ddlgate keygen --use`; RFC 7468 lets text precede the
// block), and then it is refused where another use is expected.
enum class KeyUse : unsigned char { registry, approver, break_glass, ledger };
std::string_view to_string(KeyUse use);  // "registry", "approver", "break-glass", "ledger"
std::optional<KeyUse> key_use_from_string(std::string_view name);
// The use a key text declares: nullopt when it declares none; an error for an unknown
// use, two declarations, or one after the PEM block has begun.
Result<std::optional<KeyUse>> declared_key_use(std::string_view text);

// A trust-policy key string: base64 of the raw 32 bytes, or SubjectPublicKeyInfo PEM text.
// With `expected`, a use the PEM text declares must be that one.
Result<PublicKey> parse_public_key(std::string_view text, std::optional<KeyUse> expected = std::nullopt);

// A .pub PEM (or base64) file of at most 16 KiB; the error names the file. With
// `expected`, a use the file declares must be that one (a file that declares none passes).
Result<PublicKey> read_public_key_file(const std::filesystem::path& path,
                                       std::optional<KeyUse> expected = std::nullopt);

// A key as a configuration file gives it: base64 of the raw key, PEM text, or the path
// of a .pub file (relative to base_dir). `expected`: the use of the role it is listed
// under; a key given inline (base64) takes that use.
Result<PublicKey> resolve_public_key(std::string_view text, const std::filesystem::path& base_dir,
                                     std::optional<KeyUse> expected = std::nullopt);

// Who may read a private key file that is loaded.
enum class KeyFileAccess : unsigned char {
  any,         // the ledger's checkpoint key, tests
  owner_only,  // signing keys of people and CI: a file readable by group or others is refused
};

// Verifies a 64-byte Ed25519 signature of message by key.
bool ed25519_verify(const PublicKey& key, std::string_view message, std::string_view signature);

// An Ed25519 private key, loaded from PKCS#8 PEM or freshly generated.
class SigningKey {
 public:
  // A new random key pair; nullptr only if OpenSSL fails.
  static std::unique_ptr<SigningKey> generate();
  // A PKCS#8 PEM private key file of at most 16 KiB; the error names the file.
  // owner_only: refused when group or others may read it (mode & 077, after links).
  static Result<std::unique_ptr<SigningKey>> load(const std::filesystem::path& path,
                                                  KeyFileAccess access = KeyFileAccess::any);
  // The key whose RFC 8032 32-byte seed is given (test vectors); nullptr if it is not 32 bytes.
  static std::unique_ptr<SigningKey> from_seed(std::string_view seed);

  ~SigningKey();
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;

  const PublicKey& public_key() const { return public_key_; }
  // The 64-byte signature of message; empty if OpenSSL fails.
  std::string sign(std::string_view message) const;
  std::string private_pem() const;  // PKCS#8 "PRIVATE KEY" PEM
  std::string public_pem() const;   // SubjectPublicKeyInfo "PUBLIC KEY" PEM

 private:
  explicit SigningKey(void* pkey);
  void* pkey_;  // EVP_PKEY*, kept opaque so that users need no OpenSSL headers
  PublicKey public_key_{};
};

}  // namespace ddlgate::base
