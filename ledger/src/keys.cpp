#include "ddlgate/ledger/keys.h"

#include <algorithm>
#include <cstring>

#include "ddlgate/ledger/segments.h"

namespace ddlgate::ledger {
namespace {

std::optional<PublicKey> key_from_base64(const nlohmann::json& v) {
  if (!v.is_string()) return std::nullopt;
  auto raw = base64_decode(v.get_ref<const std::string&>());
  if (!raw || raw->size() != 32) return std::nullopt;
  PublicKey k{};
  std::memcpy(k.data(), raw->data(), 32);
  return k;
}

}  // namespace

std::string key_rotation_body(std::string_view origin, const PublicKey& old_key, const PublicKey& new_key) {
  std::string b = "ddlgate key rotation v1\n";
  b += origin;
  b += "\n";
  b += base64_encode(std::string_view(reinterpret_cast<const char*>(old_key.data()), old_key.size()));
  b += "\n";
  b += base64_encode(std::string_view(reinterpret_cast<const char*>(new_key.data()), new_key.size()));
  b += "\n";
  return b;
}

Result<KeyLink> parse_key_link(std::uint64_t seq, const nlohmann::json& fields, std::string_view origin) {
  const std::string at = "key rotation record " + std::to_string(seq);
  if (!fields.is_object()) return Error{at + ": not an object"};
  auto old_key = key_from_base64(fields.value("old_key", nlohmann::json()));
  auto new_key = key_from_base64(fields.value("new_key", nlohmann::json()));
  if (!old_key || !new_key) return Error{at + ": old_key and new_key must be base64 Ed25519 public keys"};
  auto endorsement = fields.value("endorsement", nlohmann::json());
  if (!endorsement.is_string()) return Error{at + ": no endorsement by the new key"};
  // The endorsement is a signed note whose body is exactly key_rotation_body(...).
  const std::string body = key_rotation_body(origin, *old_key, *new_key);
  const auto& text = endorsement.get_ref<const std::string&>();
  if (text.size() <= body.size() + 1 || text.compare(0, body.size(), body) != 0 || text[body.size()] != '\n') {
    return Error{at + ": the endorsement is not of this rotation under origin " + std::string(origin)};
  }
  std::vector<std::string> sigs;
  std::string_view rest = std::string_view(text).substr(body.size() + 1);
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    if (nl == std::string_view::npos) return Error{at + ": the endorsement's last line has no newline"};
    sigs.emplace_back(rest.substr(0, nl));
    rest.remove_prefix(nl + 1);
  }
  if (!NoteVerifier::from_raw(*new_key).verify(origin, body, sigs)) {
    return Error{at + ": the endorsement has no valid signature by the new key"};
  }
  return KeyLink{seq, *old_key, *new_key, fields};
}

KeyChain KeyChain::single(const PublicKey& key) {
  KeyChain c;
  c.verifiers_.push_back(NoteVerifier::from_raw(key));
  return c;
}

Result<KeyChain> KeyChain::load(const std::filesystem::path& dir, std::string_view origin,
                                const std::optional<PublicKey>& first, const std::optional<PublicKey>& last,
                                FileSystem& fs) {
  const auto path = dir / kKeysFileName;
  std::vector<KeyLink> links;
  if (std::filesystem::exists(path)) {
    std::string text;
    if (auto ec = fs.read_file(path, 1 << 20, &text)) return Error{"cannot read the keys file", path.string(), -1, ec};
    std::size_t pos = 0;
    while (pos < text.size()) {
      auto nl = text.find('\n', pos);
      if (nl == std::string::npos) return Error{"the keys file's last line has no newline", path.string(), static_cast<std::int64_t>(pos)};
      auto line = nlohmann::json::parse(text.begin() + static_cast<std::ptrdiff_t>(pos),
                                        text.begin() + static_cast<std::ptrdiff_t>(nl), nullptr, false);
      if (line.is_discarded() || !line.is_object() || !line.contains("seq") || !line["seq"].is_number_unsigned() ||
          !line.contains("fields")) {
        return Error{"the keys file holds a line that is not {\"seq\":N,\"fields\":{...}}", path.string(),
                     static_cast<std::int64_t>(pos)};
      }
      auto link = parse_key_link(line["seq"].get<std::uint64_t>(), line["fields"], origin);
      if (!link) return Error{link.error().reason, path.string(), static_cast<std::int64_t>(pos)};
      if (!links.empty() && link->seq <= links.back().seq) return Error{"the keys file is not in sequence order", path.string()};
      links.push_back(std::move(*link));
      pos = nl + 1;
    }
  }
  KeyChain c;
  PublicKey current{};
  if (first) {
    current = *first;
  } else if (!links.empty()) {
    current = links.front().old_key;
  } else if (last) {
    current = *last;
  }
  c.verifiers_.push_back(NoteVerifier::from_raw(current));
  for (const auto& l : links) {
    if (l.old_key != current) {
      return Error{"key rotation record " + std::to_string(l.seq) + " takes over from a key that is not the one in force",
                   path.string()};
    }
    current = l.new_key;
    c.verifiers_.push_back(NoteVerifier::from_raw(current));
  }
  if (last && current != *last) {
    return Error{"the key in force after the ledger's key rotations is not this key (rotate it with `ddlgate ledger "
                 "rotate-key`)",
                 path.string()};
  }
  c.links_ = std::move(links);
  return c;
}

const NoteVerifier& KeyChain::for_size(std::uint64_t tree_size) const {
  // links_[i] at seq R: its old key signs notes up to tree size R + 1 (the tree with the record),
  // the new key those above.
  std::size_t i = 0;
  while (i < links_.size() && tree_size > links_[i].seq + 1) ++i;
  return verifiers_[i];
}

std::optional<Error> KeyChain::check_record(std::uint64_t seq, const nlohmann::json& fields) {
  if (met_ < links_.size() && links_[met_].seq < seq) {
    return Error{"the keys file lists a key rotation at record " + std::to_string(links_[met_].seq) +
                 " that is not a key_rotated record"};
  }
  if (met_ >= links_.size() || links_[met_].seq != seq) {
    // Not listed (rotate-key stopped between its record and the keys line): no key is handed
    // over, the key before stays in force, and rotate-key can simply run again.
    return std::nullopt;
  }
  if (links_[met_].fields != fields) {
    return Error{"record " + std::to_string(seq) + " rotates the ledger's key otherwise than the keys file lists it"};
  }
  ++met_;
  return std::nullopt;
}

std::optional<Error> KeyChain::check_complete(std::uint64_t records) const {
  if (met_ < links_.size()) {
    return Error{"the keys file lists a key rotation at record " + std::to_string(links_[met_].seq) +
                 " that the ledger does not hold (" + std::to_string(records) + " records)"};
  }
  return std::nullopt;
}

}  // namespace ddlgate::ledger
