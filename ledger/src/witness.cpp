// Witness formats: vkeys, cosignature/v1, add-checkpoint bodies and the witness's decision.
#include "ddlgate/ledger/witness.h"

#include "ddlgate/base/ed25519.h"
#include "ddlgate/base/hex.h"
#include "ddlgate/ledger/file_io.h"
#include "ddlgate/ledger/segments.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <charconv>
#include <cstdio>
#include <cstring>

namespace ddlgate::ledger {
namespace {

constexpr std::string_view kSigPrefix = "\xE2\x80\x94 ";  // U+2014 and a space
constexpr std::uint64_t kMaxTimestamp = (std::uint64_t{1} << 63) - 1;

// A canonical ASCII decimal: digits only, no leading zero unless it is "0".
std::optional<std::uint64_t> parse_decimal(std::string_view s) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// A signed-note key name: non-empty, no spaces, no '+', no control characters.
bool valid_key_name(std::string_view n) {
  if (n.empty() || n.size() > 255) return false;
  for (unsigned char c : n) {
    if (c <= 0x20 || c == 0x7F || c == '+') return false;
  }
  return true;
}

std::string_view as_chars(const Hash& h) { return {reinterpret_cast<const char*>(h.data()), h.size()}; }

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

WitnessReply reply(int status, std::string body) {
  WitnessReply r;
  r.status = status;
  r.body = std::move(body);
  if (!r.body.empty() && r.body.back() != '\n') r.body += '\n';
  return r;
}

}  // namespace

KeyId vkey_key_id(std::string_view name, std::uint8_t type, const PublicKey& key) {
  std::string data(name);
  data.push_back('\n');
  data.push_back(static_cast<char>(type));
  data.append(reinterpret_cast<const char*>(key.data()), key.size());
  Hash h = sha256(data);
  return {h[0], h[1], h[2], h[3]};
}

Result<VerifierKey> parse_vkey(std::string_view vkey) {
  if (vkey.size() > 1024) return Error{"verifier key longer than 1024 bytes"};
  auto p1 = vkey.find('+');
  if (p1 == std::string_view::npos) return Error{"verifier key is not <name>+<key id>+<key>"};
  auto p2 = vkey.find('+', p1 + 1);
  if (p2 == std::string_view::npos) return Error{"verifier key is not <name>+<key id>+<key>"};
  VerifierKey k;
  k.name = std::string(vkey.substr(0, p1));
  if (!valid_key_name(k.name)) return Error{"verifier key name is empty or holds a space or control character"};
  std::string_view id_hex = vkey.substr(p1 + 1, p2 - p1 - 1);
  auto raw = base64_decode(vkey.substr(p2 + 1));
  if (!raw) return Error{"verifier key material is not base64"};
  if (raw->size() != 33) return Error{"verifier key material is not a type byte and a 32-byte Ed25519 key"};
  k.type = static_cast<std::uint8_t>((*raw)[0]);
  if (k.type != kSigTypeEd25519Note && k.type != kSigTypeCosignatureV1) {
    return Error{"verifier key type 0x" + base::hex_encode(&k.type, 1) + " is not Ed25519 (0x01) or a cosignature/v1 key (0x04)"};
  }
  std::memcpy(k.key.data(), raw->data() + 1, 32);
  KeyId id = vkey_key_id(k.name, k.type, k.key);
  if (id_hex != base::hex_encode(id.data(), id.size())) return Error{"verifier key id does not match its name and key"};
  return k;
}

std::string format_vkey(const VerifierKey& k) {
  KeyId id = vkey_key_id(k.name, k.type, k.key);
  std::string raw(1, static_cast<char>(k.type));
  raw.append(reinterpret_cast<const char*>(k.key.data()), k.key.size());
  return k.name + "+" + base::hex_encode(id.data(), id.size()) + "+" + base64_encode(raw);
}

std::string cosignature_message(std::string_view checkpoint_body, std::uint64_t timestamp) {
  std::string m = "cosignature/v1\ntime " + std::to_string(timestamp) + "\n";
  m += checkpoint_body;
  return m;
}

Result<Cosigner> Cosigner::load_pem(const std::filesystem::path& file, std::string name) {
  if (!valid_key_name(name)) return Error{"witness name must be non-empty without spaces or '+'"};
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (!f) return Error{"cannot open key file", file.string(), -1, std::error_code(errno, std::generic_category())};
  EVP_PKEY* pkey = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (pkey == nullptr) return Error{"not a PEM private key", file.string()};
  Cosigner c;
  c.key_ = std::shared_ptr<void>(pkey, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
  std::size_t len = c.public_key_.size();
  if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519 ||
      EVP_PKEY_get_raw_public_key(pkey, c.public_key_.data(), &len) != 1 || len != 32) {
    return Error{"private key is not Ed25519", file.string()};
  }
  c.name_ = std::move(name);
  return c;
}

std::string Cosigner::cosign(std::string_view checkpoint_body, std::uint64_t timestamp) const {
  if (timestamp > kMaxTimestamp) return {};
  std::string msg = cosignature_message(checkpoint_body, timestamp);
  unsigned char sig[64];
  std::size_t sig_len = sizeof sig;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, static_cast<EVP_PKEY*>(key_.get())) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &sig_len, reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) != 1 ||
      sig_len != 64) {
    return {};
  }
  // key id || timestamped_signature (u64 big-endian timestamp, then the signature): RFC 8446 section 3.3.
  KeyId id = vkey_key_id(name_, kSigTypeCosignatureV1, public_key_);
  std::string raw(reinterpret_cast<const char*>(id.data()), id.size());
  for (int shift = 56; shift >= 0; shift -= 8) raw.push_back(static_cast<char>((timestamp >> shift) & 0xFF));
  raw.append(reinterpret_cast<const char*>(sig), 64);
  return std::string(kSigPrefix) + name_ + " " + base64_encode(raw);
}

std::optional<std::uint64_t> verify_cosignature(const VerifierKey& key, std::string_view checkpoint_body,
                                                std::string_view line) {
  if (key.type != kSigTypeCosignatureV1) return std::nullopt;
  if (line.substr(0, kSigPrefix.size()) != kSigPrefix) return std::nullopt;
  line.remove_prefix(kSigPrefix.size());
  auto sp = line.find(' ');
  if (sp == std::string_view::npos || line.substr(0, sp) != key.name) return std::nullopt;
  auto raw = base64_decode(line.substr(sp + 1));
  if (!raw || raw->size() != 4 + 8 + 64) return std::nullopt;
  KeyId want = vkey_key_id(key.name, key.type, key.key);
  if (std::memcmp(raw->data(), want.data(), 4) != 0) return std::nullopt;
  std::uint64_t ts = 0;
  for (int i = 0; i < 8; ++i) ts = ts << 8 | static_cast<unsigned char>((*raw)[4 + i]);
  if (ts > kMaxTimestamp) return std::nullopt;
  std::string msg = cosignature_message(checkpoint_body, ts);
  if (!base::ed25519_verify(key.key, msg, std::string_view(*raw).substr(12, 64))) return std::nullopt;
  return ts;
}

std::size_t count_cosigners(const Checkpoint& cp, const std::vector<VerifierKey>& keys) {
  std::vector<PublicKey> seen;
  for (const auto& k : keys) {
    bool dup = false;
    for (const auto& s : seen) dup = dup || s == k.key;
    if (dup) continue;  // distinct public keys, never names or key ids
    for (const auto& line : cp.signatures) {
      if (verify_cosignature(k, cp.body, line)) {
        seen.push_back(k.key);
        break;
      }
    }
  }
  return seen.size();
}

Result<AddCheckpointRequest> parse_add_checkpoint(std::string_view body) {
  if (body.size() > kMaxAddCheckpointBody) return Error{"request body larger than 80 KiB"};
  AddCheckpointRequest req;
  auto next_line = [&](std::string_view& line) {
    auto nl = body.find('\n');
    if (nl == std::string_view::npos) return false;
    line = body.substr(0, nl);
    body.remove_prefix(nl + 1);
    return true;
  };
  std::string_view line;
  if (!next_line(line)) return Error{"request has no old size line"};
  if (line.substr(0, 4) != "old ") return Error{"first line is not \"old <size>\""};
  auto old = parse_decimal(line.substr(4));
  if (!old) return Error{"old size is not a canonical decimal"};
  req.old_size = *old;
  for (;;) {
    if (!next_line(line)) return Error{"request has no empty line before the checkpoint"};
    if (line.empty()) break;
    if (req.proof.size() == kMaxProofLines) return Error{"more than 63 consistency proof lines"};
    auto h = base64_decode(line);
    if (!h || h->size() != 32) return Error{"consistency proof line is not a base64 32-byte hash"};
    Hash hash{};
    std::memcpy(hash.data(), h->data(), 32);
    req.proof.push_back(hash);
  }
  auto cp = parse_checkpoint(body);
  if (!cp) return Error{"checkpoint: " + cp.error().reason};
  req.checkpoint = std::move(*cp);
  return req;
}

std::string format_add_checkpoint(std::uint64_t old_size, const std::vector<Hash>& proof, std::string_view note) {
  std::string b = "old " + std::to_string(old_size) + "\n";
  for (const auto& h : proof) b += base64_encode(as_chars(h)) + "\n";
  b += "\n";
  b += note;
  return b;
}

std::optional<std::uint64_t> parse_size_body(std::string_view body) {
  if (body.empty() || body.back() != '\n') return std::nullopt;
  return parse_decimal(body.substr(0, body.size() - 1));
}

WitnessReply decide_add_checkpoint(const AddCheckpointRequest& req, const NoteVerifier* log_key,
                                   const std::optional<WitnessedTree>& current, const Cosigner& cosigner,
                                   std::uint64_t now) {
  const auto& cp = req.checkpoint;
  if (log_key == nullptr) return reply(404, "unknown log origin " + cp.origin);
  if (!verify_checkpoint(cp, *log_key)) return reply(403, "no valid signature by the log's key under origin " + cp.origin);
  if (req.old_size > cp.size) return reply(400, "old size " + std::to_string(req.old_size) + " is above the checkpoint's size");
  const std::uint64_t have = current ? current->size : 0;
  if (req.old_size != have) {
    WitnessReply r = reply(409, std::to_string(have));
    r.content_type = "text/x.tlog.size";
    return r;
  }
  if (current && current->size == cp.size && current->root != cp.root) {
    WitnessReply r = reply(409, std::to_string(have));
    r.content_type = "text/x.tlog.size";
    return r;
  }
  // The proof is empty from size zero (tlog-witness); otherwise it must prove the witness's
  // tree a prefix of the checkpoint's.
  bool consistent = req.old_size == 0 ? req.proof.empty()
                                      : verify_consistency(req.old_size, cp.size, current->root, cp.root, req.proof);
  if (!consistent) return reply(422, "consistency proof from size " + std::to_string(req.old_size) + " does not verify");
  std::string line = cosigner.cosign(cp.body, now);
  if (line.empty()) return reply(500, "signing failed");
  WitnessReply r = reply(200, line);
  r.new_state = WitnessedTree{cp.size, cp.root};
  return r;
}

}  // namespace ddlgate::ledger

namespace ddlgate::ledger {

Result<std::vector<Checkpoint>> read_cosignatures(const std::filesystem::path& file, std::uint64_t* valid_bytes) {
  std::string text;
  if (valid_bytes) *valid_bytes = 0;
  if (!std::filesystem::exists(file)) return std::vector<Checkpoint>{};
  if (auto e = posix_file_system()->read_file(file, 1ull << 30, &text)) return Error{"cannot read cosignatures", file.string(), -1, e};
  auto parsed = parse_checkpoints(text);
  if (!parsed) {
    auto at = static_cast<std::uint64_t>(parsed.error().offset);
    std::string_view rest = std::string_view(text).substr(at);
    // As for the checkpoints file: a short rest without its blank line or final newline is a torn append.
    bool torn = rest.size() <= 64 * 1024 && (rest.back() != '\n' || rest.find("\n\n") == std::string_view::npos);
    if (!torn) return Error{parsed.error().reason, file.string(), parsed.error().offset};
    text.resize(at);
    parsed = parse_checkpoints(text);
    if (!parsed) return Error{parsed.error().reason, file.string(), parsed.error().offset};
  }
  if (valid_bytes) *valid_bytes = text.size();
  return std::move(*parsed);
}

std::string with_signature_lines(const Checkpoint& cp, const std::vector<std::string>& lines) {
  std::string note = cp.text;
  for (const auto& l : lines) note += l + "\n";
  return note;
}

std::size_t count_cosigners(const Checkpoint& target, const std::vector<Checkpoint>& cosigned,
                            const std::vector<VerifierKey>& keys) {
  Checkpoint merged = target;
  for (const auto& c : cosigned) {
    if (c.body != target.body) continue;
    merged.signatures.insert(merged.signatures.end(), c.signatures.begin(), c.signatures.end());
  }
  return count_cosigners(merged, keys);
}

Result<LatestCosigned> latest_cosigned(const std::filesystem::path& dir, const std::filesystem::path& cosignatures,
                                       const std::vector<VerifierKey>& keys) {
  LatestCosigned out;
  out.file = cosignatures.empty() ? dir / kCosignaturesFileName : cosignatures;
  auto cps = read_cosignatures(dir / kCheckpointsFileName);
  if (!cps) return Error{"cannot read the checkpoints: " + cps.error().to_string()};
  if (cps->empty()) return Error{"no checkpoint to count witness cosignatures of", (dir / kCheckpointsFileName).string()};
  auto cosigned = read_cosignatures(out.file);
  if (!cosigned) return Error{"cannot read the cosignatures: " + cosigned.error().to_string()};
  out.tree_size = cps->back().size;
  out.cosigners = count_cosigners(cps->back(), *cosigned, keys);
  return out;
}

}  // namespace ddlgate::ledger
