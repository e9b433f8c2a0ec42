// Ledger key rotation (issue 27 item 3): a key_rotated record, sealed by the old key, introduces
// the new key, and carries the new key's own signature over the introduction, so that neither
// key alone can make one. DIR/keys lists the introductions (one JSON object a line) so that a
// verifier knows, before it reads any note, which key signs notes of which tree size: the old key
// up to the size that ends with the record, the new key above it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ddlgate/ledger/checkpoint.h"
#include "ddlgate/ledger/error.h"
#include "ddlgate/ledger/file_io.h"

namespace ddlgate::ledger {

inline constexpr const char* kKeysFileName = "keys";

// The text the new key signs (as a signed note under the origin): what it takes over from whom.
std::string key_rotation_body(std::string_view origin, const PublicKey& old_key, const PublicKey& new_key);

// One introduction: the key_rotated record at seq, its fields as written.
struct KeyLink {
  std::uint64_t seq = 0;
  PublicKey old_key{};
  PublicKey new_key{};
  nlohmann::json fields;  // old_key, new_key (base64), endorsement (the new key's signed note), by
};

// The keys in force over a ledger's tree sizes.
class KeyChain {
 public:
  // The chain of dir: starting at `first` (the pinned key), or at the first introduction's old key
  // when `first` is nullopt; every introduction's endorsement checked under origin and each link
  // starting from the key before it. `last`, if set, must be the key in force at the end.
  static Result<KeyChain> load(const std::filesystem::path& dir, std::string_view origin,
                               const std::optional<PublicKey>& first, const std::optional<PublicKey>& last,
                               FileSystem& fs);
  // Just one key (no keys file).
  static KeyChain single(const PublicKey& key);
  // The key that signs the note for tree_size.
  const NoteVerifier& for_size(std::uint64_t tree_size) const;
  // Called for every key_rotated record met in the scan: it must be the next link, as listed.
  std::optional<Error> check_record(std::uint64_t seq, const nlohmann::json& fields);
  // After the scan of `records` records: every listed link was met.
  std::optional<Error> check_complete(std::uint64_t records) const;
  const std::vector<KeyLink>& links() const { return links_; }
  std::size_t keys() const { return verifiers_.size(); }

 private:
  std::vector<NoteVerifier> verifiers_;  // verifiers_[i + 1] takes over after links_[i]
  std::vector<KeyLink> links_;
  std::size_t met_ = 0;
};

// Parses and checks one key_rotated record's fields (endorsement by the new key, under origin).
Result<KeyLink> parse_key_link(std::uint64_t seq, const nlohmann::json& fields, std::string_view origin);

}  // namespace ddlgate::ledger
