// libFuzzer target: checkpoint notes come from files and exports an attacker may control.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ddlgate/ledger/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static const auto verifier = ddlgate::ledger::NoteVerifier::from_raw(ddlgate::ledger::PublicKey{1, 2, 3});
  if (auto cps = ddlgate::ledger::parse_checkpoints(in)) {
    for (const auto& cp : *cps) (void)ddlgate::ledger::verify_checkpoint(cp, verifier);
  }
  if (auto cp = ddlgate::ledger::parse_checkpoint(in)) (void)ddlgate::ledger::verify_checkpoint(*cp, verifier);
  (void)ddlgate::ledger::base64_decode(in);
  return 0;
}
