#include "ddlgate/policy/signing.h"

#include <fstream>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

namespace ddlgate::policy {
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

std::optional<std::string> read_small_file(const std::filesystem::path& path, std::string* why) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    *why = path.string() + ": cannot read: " + ec.message();
    return std::nullopt;
  }
  if (size > kMaxKeyFileBytes) {
    *why = path.string() + ": larger than 16 KiB; not a key file";
    return std::nullopt;
  }
  std::ifstream f(path, std::ios::binary);
  std::string text(static_cast<std::size_t>(size), '\0');
  if (!f.read(text.data(), static_cast<std::streamsize>(size))) {
    *why = path.string() + ": cannot read";
    return std::nullopt;
  }
  return text;
}

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

std::string sha256_raw(std::string_view bytes) {
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  // EVP_DecodeBlock accepts whitespace and reports padding bytes as data, so the
  // strictness is checked here and then by re-encoding.
  if (text.empty() || text.size() % 4 != 0 || text.size() > (1u << 30)) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t pad = 0;
  if (text.back() == '=') ++pad;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  if (base64_encode(out) != text) return std::nullopt;
  return out;
}

std::string key_id(const PublicKey& key) {
  return "ed25519:" + sha256_hex(std::string_view(reinterpret_cast<const char*>(key.data()), key.size())).substr(0, 16);
}

std::optional<PublicKey> parse_public_key(std::string_view text, std::string* why) {
  if (text.find("-----BEGIN") != std::string_view::npos) {
    BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    PkeyPtr pkey(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!pkey) {
      *why = "not a PEM public key";
      return std::nullopt;
    }
    auto key = raw_public(pkey.get());
    if (!key) *why = "not an Ed25519 public key";
    return key;
  }
  auto raw = base64_decode(text);
  if (!raw) {
    *why = "not base64, PEM or a readable .pub file";
    return std::nullopt;
  }
  if (raw->size() != 32) {
    *why = "a raw Ed25519 public key is 32 bytes, this is " + std::to_string(raw->size());
    return std::nullopt;
  }
  PublicKey key{};
  std::copy(raw->begin(), raw->end(), key.begin());
  return key;
}

std::optional<PublicKey> read_public_key_file(const std::filesystem::path& path, std::string* why) {
  auto text = read_small_file(path, why);
  if (!text) return std::nullopt;
  std::string inner;
  auto key = parse_public_key(*text, &inner);
  if (!key) *why = path.string() + ": " + inner;
  return key;
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

std::unique_ptr<SigningKey> SigningKey::load(const std::filesystem::path& path, std::string* why) {
  auto text = read_small_file(path, why);
  if (!text) return nullptr;
  BioPtr bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  EVP_PKEY* pkey = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (pkey == nullptr) {
    *why = path.string() + ": not a PEM private key";
    return nullptr;
  }
  if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(pkey);
    *why = path.string() + ": not an Ed25519 private key";
    return nullptr;
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

}  // namespace ddlgate::policy
