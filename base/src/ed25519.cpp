#include "ddlgate/base/ed25519.h"

#include <cstdio>
#include <optional>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ddlgate/base/base64.h"
#include "ddlgate/base/file.h"
#include "ddlgate/base/sha256.h"

namespace ddlgate::base {
namespace {

constexpr std::size_t kMaxKeyFileBytes = 16 * 1024;

EVP_PKEY* as_pkey(void* p) { return static_cast<EVP_PKEY*>(p); }

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

std::optional<PublicKey> raw_public(EVP_PKEY* pkey) {
  if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) return std::nullopt;
  PublicKey key{};
  std::size_t len = key.size();
  if (EVP_PKEY_get_raw_public_key(pkey, key.data(), &len) != 1 || len != key.size()) return std::nullopt;
  return key;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

Result<std::string> read_key_file(const std::filesystem::path& path) {
  auto text = read_capped(path, kMaxKeyFileBytes, Links::follow);
  if (text) return text;
  const auto& e = text.error();
  if (e.code == std::errc::file_too_large) return Error{path.string() + ": larger than 16 KiB; not a key file"};
  if (e.code == std::errc::no_such_file_or_directory) return Error{path.string() + ": cannot read: " + e.code.message()};
  return Error{path.string() + ": " + e.reason};
}

constexpr std::string_view kKeyUsePrefix = "ddlgate-key-use:";

std::string expected_use_problem(KeyUse declared, KeyUse expected) {
  return "the key is for '" + std::string(to_string(declared)) + "' use, and it is listed here for '" +
         std::string(to_string(expected)) + "'";
}

}  // namespace

std::string_view to_string(KeyUse use) {
  switch (use) {
    case KeyUse::registry: return "registry";
    case KeyUse::approver: return "approver";
    case KeyUse::break_glass: return "break-glass";
    case KeyUse::ledger: return "ledger";
  }
  return "registry";
}

std::optional<KeyUse> key_use_from_string(std::string_view name) {
  for (auto u : {KeyUse::registry, KeyUse::approver, KeyUse::break_glass, KeyUse::ledger}) {
    if (to_string(u) == name) return u;
  }
  return std::nullopt;
}

Result<std::optional<KeyUse>> declared_key_use(std::string_view text) {
  std::optional<KeyUse> use;
  bool in_pem = false;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    std::string_view line = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    pos = end == std::string_view::npos ? text.size() : end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.substr(0, 10) == "-----BEGIN") in_pem = true;
    if (line.substr(0, kKeyUsePrefix.size()) != kKeyUsePrefix) continue;
    if (in_pem) return Error{"a ddlgate-key-use line must come before the PEM block"};
    std::string_view value = line.substr(kKeyUsePrefix.size());
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    auto u = key_use_from_string(value);
    if (!u) return Error{"ddlgate-key-use '" + std::string(value) + "' is not registry, approver, break-glass or ledger"};
    if (use) return Error{"ddlgate-key-use is given twice"};
    use = u;
  }
  return use;
}

std::string key_id(const PublicKey& key) {
  return "ed25519:" + sha256_hex(std::string_view(reinterpret_cast<const char*>(key.data()), key.size())).substr(0, 16);
}

Result<PublicKey> parse_public_key(std::string_view text, std::optional<KeyUse> expected) {
  if (text.find("-----BEGIN") != std::string_view::npos) {
    auto use = declared_key_use(text);
    if (!use) return use.error();
    if (expected && *use && **use != *expected) return Error{expected_use_problem(**use, *expected)};
    BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    PkeyPtr pkey(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!pkey) return Error{"not a PEM public key"};
    auto key = raw_public(pkey.get());
    if (!key) return Error{"not an Ed25519 public key"};
    return *key;
  }
  auto raw = text.empty() ? std::nullopt : base64_decode(text);
  if (!raw) return Error{"not base64, PEM or a readable .pub file"};
  if (raw->size() != 32) return Error{"a raw Ed25519 public key is 32 bytes, this is " + std::to_string(raw->size())};
  PublicKey key{};
  std::copy(raw->begin(), raw->end(), key.begin());
  return key;
}

Result<PublicKey> read_public_key_file(const std::filesystem::path& path, std::optional<KeyUse> expected) {
  auto text = read_key_file(path);
  if (!text) return text.error();
  auto key = parse_public_key(*text, expected);
  if (!key) return Error{path.string() + ": " + key.error().reason};
  return key;
}

Result<PublicKey> resolve_public_key(std::string_view text, const std::filesystem::path& base_dir,
                                     std::optional<KeyUse> expected) {
  auto key = parse_public_key(text, expected);
  if (key || text.find("-----BEGIN") != std::string_view::npos) return key;
  std::filesystem::path p(text);
  if (p.is_relative()) p = base_dir / p;
  std::error_code ec;
  if (!text.empty() && std::filesystem::exists(p, ec)) return read_public_key_file(p, expected);
  // base64 of something else than a key (the wrong length): say so.
  if (base64_decode(text)) return key;
  return Error{"neither a base64 Ed25519 key nor a readable .pub file (" + p.string() + ")"};
}

bool ed25519_verify(const PublicKey& key, std::string_view message, std::string_view signature) {
  if (signature.size() != 64) return false;
  PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.data(), key.size()));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!pkey || !ctx) return false;
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                          reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
}

SigningKey::SigningKey(void* pkey) : pkey_(pkey) {
  if (auto k = raw_public(as_pkey(pkey_))) public_key_ = *k;
}

SigningKey::~SigningKey() { EVP_PKEY_free(as_pkey(pkey_)); }

std::unique_ptr<SigningKey> SigningKey::generate() {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (pkey == nullptr) return nullptr;
  return std::unique_ptr<SigningKey>(new SigningKey(pkey));
}

Result<std::unique_ptr<SigningKey>> SigningKey::load(const std::filesystem::path& path, KeyFileAccess access) {
  if (access == KeyFileAccess::owner_only) {
    std::error_code ec;
    auto st = std::filesystem::status(path, ec);
    using P = std::filesystem::perms;
    const P wide = P::group_all | P::others_all;
    if (!ec && std::filesystem::is_regular_file(st) && (st.permissions() & wide) != P::none) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.permissions() & P::mask));
      return Error{path.string() + ": mode " + mode +
                   " gives group or others access to a private key; refusing to use it (chmod 600 " + path.string() + ")"};
    }
  }
  auto text = read_key_file(path);
  if (!text) return text.error();
  BioPtr bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  EVP_PKEY* pkey = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (pkey == nullptr) return Error{path.string() + ": not a PEM private key"};
  if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(pkey);
    return Error{path.string() + ": not an Ed25519 private key"};
  }
  return std::unique_ptr<SigningKey>(new SigningKey(pkey));
}

std::unique_ptr<SigningKey> SigningKey::from_seed(std::string_view seed) {
  if (seed.size() != 32) return nullptr;
  EVP_PKEY* pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                                reinterpret_cast<const unsigned char*>(seed.data()), seed.size());
  if (pkey == nullptr) return nullptr;
  return std::unique_ptr<SigningKey>(new SigningKey(pkey));
}

std::string SigningKey::sign(std::string_view message) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, as_pkey(pkey_)) != 1) return {};
  std::string sig(64, '\0');
  std::size_t len = sig.size();
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    return {};
  }
  sig.resize(len);
  return sig;
}

std::string SigningKey::private_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  // PKCS#8 ("BEGIN PRIVATE KEY"), unencrypted: the file's 0600 mode protects it.
  if (!bio || PEM_write_bio_PKCS8PrivateKey(bio.get(), as_pkey(pkey_), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return {};
  }
  return bio_text(bio.get());
}

std::string SigningKey::public_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), as_pkey(pkey_)) != 1) return {};
  return bio_text(bio.get());
}

}  // namespace ddlgate::base
