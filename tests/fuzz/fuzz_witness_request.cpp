// libFuzzer target: an add-checkpoint request body is what any client can POST to
// `ddlgate witness serve`, and a vkey or a cosignature line comes from configuration and files.
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string_view>

#include "ddlgate/ledger/witness.h"

namespace lg = ddlgate::ledger;

namespace {

// A witness key made once, so that a request that gets through every check is cosigned too.
const lg::Cosigner& cosigner() {
  static const lg::Cosigner c = [] {
    auto path = std::filesystem::temp_directory_path() / "ddlgate-fuzz-witness.key";
    EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    std::FILE* f = std::fopen(path.c_str(), "w");
    PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    EVP_PKEY_free(pkey);
    return *lg::Cosigner::load_pem(path, "fuzz.example/w");
  }();
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static const auto log_key = lg::NoteVerifier::from_raw(lg::PublicKey{1, 2, 3});
  if (auto req = lg::parse_add_checkpoint(in)) {
    // Every state a witness can be in for this origin: none, behind, equal.
    (void)lg::decide_add_checkpoint(*req, &log_key, std::nullopt, cosigner(), 1);
    (void)lg::decide_add_checkpoint(*req, &log_key, lg::WitnessedTree{req->old_size, req->checkpoint.root}, cosigner(), 1);
    (void)lg::decide_add_checkpoint(*req, nullptr, std::nullopt, cosigner(), 1);
  }
  (void)lg::parse_size_body(in);
  if (auto k = lg::parse_vkey(in)) (void)lg::format_vkey(*k);
  (void)lg::verify_cosignature(cosigner().verifier_key(), "o\n1\nAAAA\n", in);
  return 0;
}
