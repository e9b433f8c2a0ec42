// libFuzzer target: an evidence pack is a ZIP file from whoever hands it to the auditor. The
// strict ZIP reader, then the pack's verification (JSON entries, notes, records, proofs).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "ddlgate/ledger/evidence.h"
#include "ddlgate/ledger/zip.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace lg = ddlgate::ledger;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto entries = lg::read_zip(in)) {
    // What the reader accepts, the writer writes again, and the reader reads back the same.
    std::vector<lg::ZipEntry> copy;
    for (const auto& e : *entries) copy.push_back({e.name, std::string(e.data)});
    auto again = lg::write_zip(copy);
    if (!again) std::abort();
    auto back = lg::read_zip(*again);
    if (!back || back->size() != copy.size()) std::abort();
    for (std::size_t i = 0; i < copy.size(); ++i) {
      if ((*back)[i].name != copy[i].name || (*back)[i].data != copy[i].data) std::abort();
    }
  }
  static const auto verifier = lg::NoteVerifier::from_raw(lg::PublicKey{1, 2, 3});
  (void)lg::verify_evidence_pack(in, verifier, {});
  return 0;
}
