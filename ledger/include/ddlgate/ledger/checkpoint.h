// Signed checkpoints: the C2SP tlog-checkpoint body (origin, tree size, base64 root hash)
// wrapped in a C2SP signed-note with an Ed25519 signature line
//   "\u2014 <name> <base64(key id (4 bytes) || signature (64 bytes))>\n"
// where key id = SHA-256(name || 0x0A || 0x01 || public key)[:4] (https://c2sp.org/signed-note,
// https://c2sp.org/tlog-checkpoint). The signature covers the body including its final newline.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/base/base64.h"
#include "ddlgate/ledger/error.h"
#include "ddlgate/ledger/merkle.h"

namespace ddlgate::ledger {

using KeyId = std::array<std::uint8_t, 4>;
using PublicKey = std::array<std::uint8_t, 32>;

// C2SP signed-note key id for an Ed25519 key (signature type 0x01).
KeyId note_key_id(std::string_view name, const PublicKey& key);

// Strict standard base64 (RFC 4648 section 4) with padding.
using base::base64_decode;
using base::base64_encode;

// Signs checkpoints with an Ed25519 private key; the key name is the log's origin.
class NoteSigner {
 public:
  // Loads a PEM private key (PKCS#8, as `openssl genpkey -algorithm ed25519` writes it).
  static Result<NoteSigner> load_pem(const std::filesystem::path& file, std::string name);
  // The full signed note for body (which must end in a newline).
  std::string sign(std::string_view body) const;
  const PublicKey& public_key() const { return public_key_; }
  const std::string& name() const { return name_; }

 private:
  std::shared_ptr<void> key_;  // EVP_PKEY*, freed with EVP_PKEY_free
  PublicKey public_key_{};
  std::string name_;
};

// Verifies signature lines of one Ed25519 key.
class NoteVerifier {
 public:
  // Loads a PEM public key (SubjectPublicKeyInfo, `openssl pkey -pubout`).
  static Result<NoteVerifier> load_pem(const std::filesystem::path& file);
  static NoteVerifier from_raw(const PublicKey& key);
  // True when one signature line by name, with this key's id, verifies over body.
  bool verify(std::string_view name, std::string_view body, const std::vector<std::string>& sig_lines) const;
  const PublicKey& public_key() const { return public_key_; }

 private:
  PublicKey public_key_{};
  std::shared_ptr<void> key_;  // EVP_PKEY* made once from public_key_
};

// A parsed checkpoint note.
struct Checkpoint {
  std::string origin;
  std::uint64_t size = 0;
  Hash root{};
  std::string body;                     // the signed text, with its final newline
  std::vector<std::string> signatures;  // signature lines without their newline
  std::string text;                     // the whole note as stored
};

// The checkpoint body: "<origin>\n<size>\n<base64 root>\n".
std::string checkpoint_body(std::string_view origin, std::uint64_t size, const Hash& root);

// Parses one note (syntax only, no signature check).
Result<Checkpoint> parse_checkpoint(std::string_view note);

// Parses a checkpoints file: notes one after another. Errors carry the byte offset.
Result<std::vector<Checkpoint>> parse_checkpoints(std::string_view content);

// True when the checkpoint carries a valid signature of verifier's key under its origin.
bool verify_checkpoint(const Checkpoint& cp, const NoteVerifier& verifier);

// Checks a batch seal's note: a checkpoint for tree_size with this root, under origin (unless
// empty); with a verifier, its signature too. The error says what is wrong.
std::optional<Error> check_seal(std::string_view note, std::uint64_t tree_size, const Hash& root,
                                std::string_view origin, const NoteVerifier* verifier);

}  // namespace ddlgate::ledger
