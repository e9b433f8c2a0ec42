// Ed25519 keys, signatures, SHA-256 and base64 for signed bundles (docs/bundles.md),
// all through OpenSSL 3's EVP interface. Errors are values: nothing here throws.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ddlgate::policy {

// A raw 32-byte Ed25519 public key (RFC 8032). Trust counts these, never key ids.
using PublicKey = std::array<std::uint8_t, 32>;

// "sha256:"-less lowercase hex SHA-256 of bytes.
std::string sha256_hex(std::string_view bytes);

// The 32 raw bytes of SHA-256 of bytes.
std::string sha256_raw(std::string_view bytes);

// Standard base64 with padding (RFC 4648 section 4), no line breaks.
std::string base64_encode(std::string_view bytes);
// Strict decoding: nullopt for anything but canonical padded standard base64.
std::optional<std::string> base64_decode(std::string_view text);

// "ed25519:" + the first 16 hex digits of SHA-256(raw public key): for display only.
std::string key_id(const PublicKey& key);

// Parses a trust-policy key string: base64 of the raw 32 bytes, or SubjectPublicKeyInfo
// PEM text. nullopt with *why set when it is neither.
std::optional<PublicKey> parse_public_key(std::string_view text, std::string* why);

// Reads a .pub PEM file (at most 16 KiB).
std::optional<PublicKey> read_public_key_file(const std::filesystem::path& path, std::string* why);

// Verifies an Ed25519 signature (64 bytes) of message by key.
bool ed25519_verify(const PublicKey& key, std::string_view message, std::string_view signature);

// An Ed25519 private key, loaded from PKCS#8 PEM or freshly generated.
class SigningKey {
 public:
  // A new random key pair; nullptr only if OpenSSL fails.
  static std::unique_ptr<SigningKey> generate();
  // Reads a PKCS#8 PEM private key file (at most 16 KiB); nullptr with *why on error.
  static std::unique_ptr<SigningKey> load(const std::filesystem::path& path, std::string* why);
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

}  // namespace ddlgate::policy
