#include "ddlgate/ledger/checkpoint.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <charconv>
#include <cstdio>
#include <cstring>

#include "ddlgate/base/file.h"

namespace ddlgate::ledger {
namespace {

// U+2014 EM DASH followed by a space starts every signature line (C2SP signed-note).
constexpr std::string_view kSigPrefix = "\xE2\x80\x94 ";
constexpr std::uint8_t kSigTypeEd25519 = 0x01;
// A note larger than this is not ours; refuse before doing work on it.
constexpr std::size_t kMaxNoteSize = 64 * 1024;
constexpr std::size_t kMaxSignatures = 100;

struct BioCloser {
  void operator()(BIO* b) const { BIO_free(b); }
};

Result<std::string> read_small_file(const std::filesystem::path& file) {
  auto text = base::read_capped(file, 64 * 1024, base::Links::follow);
  if (text) return text;
  if (text.error().code == std::errc::file_too_large) return Error{"key file is larger than 64 KiB", file.string()};
  return Error{"cannot read key file: " + text.error().reason, file.string(), -1, text.error().code};
}
bool valid_note_text(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 && c != '\n') return false;
  }
  return true;
}

}  // namespace

KeyId note_key_id(std::string_view name, const PublicKey& key) {
  std::string data(name);
  data.push_back('\n');
  data.push_back(static_cast<char>(kSigTypeEd25519));
  data.append(reinterpret_cast<const char*>(key.data()), key.size());
  Hash h = sha256(data);
  return {h[0], h[1], h[2], h[3]};
}

Result<NoteSigner> NoteSigner::load_pem(const std::filesystem::path& file, std::string name) {
  auto pem = read_small_file(file);
  if (!pem) return pem.error();
  std::unique_ptr<BIO, BioCloser> bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  EVP_PKEY* pkey = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (pkey == nullptr) return Error{"not a PEM private key", file.string()};
  NoteSigner s;
  s.key_ = std::shared_ptr<void>(pkey, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
  if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) return Error{"private key is not Ed25519", file.string()};
  std::size_t len = s.public_key_.size();
  if (EVP_PKEY_get_raw_public_key(pkey, s.public_key_.data(), &len) != 1 || len != 32) {
    return Error{"cannot read the Ed25519 public key", file.string()};
  }
  if (name.empty() || name.find_first_of(" +\n") != std::string::npos) {
    return Error{"key name (origin) must be non-empty without spaces or '+'"};
  }
  s.name_ = std::move(name);
  return s;
}

std::string NoteSigner::sign(std::string_view body) const {
  unsigned char sig[64];
  std::size_t sig_len = sizeof sig;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  auto* pkey = static_cast<EVP_PKEY*>(key_.get());
  bool ok = ctx && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, pkey) == 1 &&
            EVP_DigestSign(ctx, sig, &sig_len, reinterpret_cast<const unsigned char*>(body.data()), body.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok || sig_len != 64) return {};
  KeyId id = note_key_id(name_, public_key_);
  std::string raw(reinterpret_cast<const char*>(id.data()), id.size());
  raw.append(reinterpret_cast<const char*>(sig), sig_len);
  std::string note(body);
  note += "\n";
  note += kSigPrefix;
  note += name_;
  note += ' ';
  note += base64_encode(raw);
  note += '\n';
  return note;
}

Result<NoteVerifier> NoteVerifier::load_pem(const std::filesystem::path& file) {
  auto pem = read_small_file(file);
  if (!pem) return pem.error();
  std::unique_ptr<BIO, BioCloser> bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  EVP_PKEY* pkey = bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (pkey == nullptr) return Error{"not a PEM public key", file.string()};
  NoteVerifier v;
  std::size_t len = v.public_key_.size();
  bool ok = EVP_PKEY_get_id(pkey) == EVP_PKEY_ED25519 &&
            EVP_PKEY_get_raw_public_key(pkey, v.public_key_.data(), &len) == 1 && len == 32;
  EVP_PKEY_free(pkey);
  if (!ok) return Error{"public key is not Ed25519", file.string()};
  return from_raw(v.public_key_);
}

NoteVerifier NoteVerifier::from_raw(const PublicKey& key) {
  NoteVerifier v;
  v.public_key_ = key;
  EVP_PKEY* pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.data(), key.size());
  v.key_ = std::shared_ptr<void>(pkey, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
  return v;
}

bool NoteVerifier::verify(std::string_view name, std::string_view body,
                          const std::vector<std::string>& sig_lines) const {
  KeyId want = note_key_id(name, public_key_);
  for (const auto& line : sig_lines) {
    std::string_view l = line;
    if (l.substr(0, kSigPrefix.size()) != kSigPrefix) continue;
    l.remove_prefix(kSigPrefix.size());
    auto sp = l.find(' ');
    if (sp == std::string_view::npos || l.substr(0, sp) != name) continue;
    auto raw = base64_decode(l.substr(sp + 1));
    if (!raw || raw->size() != 4 + 64 || std::memcmp(raw->data(), want.data(), 4) != 0) continue;
    auto* pkey = static_cast<EVP_PKEY*>(key_.get());
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok = pkey && ctx && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pkey) == 1 &&
              EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(raw->data() + 4), 64,
                               reinterpret_cast<const unsigned char*>(body.data()), body.size()) == 1;
    EVP_MD_CTX_free(ctx);
    // The first line of our key decides (as Go's note.Open does): a bad signature by a known
    // key rejects the note rather than letting another line rescue it.
    return ok;
  }
  return false;
}

std::string checkpoint_body(std::string_view origin, std::uint64_t size, const Hash& root) {
  std::string b(origin);
  b += '\n';
  b += std::to_string(size);
  b += '\n';
  b += base64_encode(std::string_view(reinterpret_cast<const char*>(root.data()), root.size()));
  b += '\n';
  return b;
}

Result<Checkpoint> parse_checkpoint(std::string_view note) {
  if (note.size() > kMaxNoteSize) return Error{"checkpoint note larger than 64 KiB"};
  if (!valid_note_text(note)) return Error{"checkpoint note contains a control character"};
  auto split = note.rfind("\n\n");
  if (split == std::string_view::npos) return Error{"checkpoint note has no blank line before its signatures"};
  Checkpoint cp;
  cp.text = std::string(note);
  cp.body = std::string(note.substr(0, split + 1));
  std::string_view sigs = note.substr(split + 2);
  if (sigs.empty() || sigs.back() != '\n') return Error{"checkpoint signatures do not end in a newline"};
  while (!sigs.empty()) {
    auto nl = sigs.find('\n');
    std::string_view line = sigs.substr(0, nl);
    if (line.substr(0, kSigPrefix.size()) != kSigPrefix) return Error{"checkpoint signature line without em dash"};
    cp.signatures.emplace_back(line);
    if (cp.signatures.size() > kMaxSignatures) return Error{"checkpoint has more than 100 signatures"};
    sigs.remove_prefix(nl + 1);
  }
  // tlog-checkpoint body: origin, decimal size, base64 root, then optional extension lines.
  std::string_view body = cp.body;
  std::vector<std::string_view> lines;
  while (!body.empty()) {
    auto nl = body.find('\n');
    lines.push_back(body.substr(0, nl));
    body.remove_prefix(nl + 1);
  }
  if (lines.size() < 3) return Error{"checkpoint body has fewer than three lines"};
  if (lines[0].empty()) return Error{"checkpoint origin is empty"};
  cp.origin = std::string(lines[0]);
  const auto& sz = lines[1];
  if (sz.empty() || (sz.size() > 1 && sz[0] == '0')) return Error{"checkpoint tree size is not a canonical decimal"};
  auto [ptr, ec] = std::from_chars(sz.data(), sz.data() + sz.size(), cp.size);
  if (ec != std::errc() || ptr != sz.data() + sz.size()) return Error{"checkpoint tree size is not a decimal number"};
  auto root = base64_decode(lines[2]);
  if (!root || root->size() != 32) return Error{"checkpoint root hash is not 32 bytes of base64"};
  std::memcpy(cp.root.data(), root->data(), 32);
  // Extension lines are optional but never empty (https://c2sp.org/tlog-checkpoint).
  for (std::size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty()) return Error{"checkpoint has an empty extension line"};
  }
  return cp;
}

Result<std::vector<Checkpoint>> parse_checkpoints(std::string_view content) {
  // Notes are stored back to back. A note ends after its last signature line, i.e. at the
  // first line after the blank line that does not start with the em dash.
  std::vector<Checkpoint> out;
  std::size_t pos = 0;
  while (pos < content.size()) {
    auto blank = content.find("\n\n", pos);
    if (blank == std::string_view::npos) {
      return Error{"incomplete checkpoint note (no blank line)", "", static_cast<std::int64_t>(pos)};
    }
    std::size_t end = blank + 2;
    while (end < content.size() && content.substr(end, kSigPrefix.size()) == kSigPrefix) {
      auto nl = content.find('\n', end);
      if (nl == std::string_view::npos) {
        return Error{"incomplete checkpoint signature line", "", static_cast<std::int64_t>(pos)};
      }
      end = nl + 1;
    }
    auto cp = parse_checkpoint(content.substr(pos, end - pos));
    if (!cp) return Error{cp.error().reason, "", static_cast<std::int64_t>(pos)};
    out.push_back(std::move(*cp));
    pos = end;
  }
  return out;
}

bool verify_checkpoint(const Checkpoint& cp, const NoteVerifier& verifier) {
  return verifier.verify(cp.origin, cp.body, cp.signatures);
}

std::optional<Error> check_seal(std::string_view note, std::uint64_t tree_size, const Hash& root,
                                std::string_view origin, const NoteVerifier* verifier) {
  const std::string at = "batch seal for tree size " + std::to_string(tree_size);
  auto cp = parse_checkpoint(note);
  if (!cp) return Error{at + ": " + cp.error().reason};
  if (cp->size != tree_size) return Error{at + " signs tree size " + std::to_string(cp->size)};
  if (!origin.empty() && cp->origin != origin) {
    return Error{at + " has origin " + cp->origin + ", not " + std::string(origin)};
  }
  if (cp->root != root) {
    return Error{"records before the " + at + " do not match it (a record was changed, removed or inserted)"};
  }
  if (verifier && !verify_checkpoint(*cp, *verifier)) return Error{at + " has no valid signature by the key"};
  return std::nullopt;
}

}  // namespace ddlgate::ledger
