// libFuzzer target: ledger frames and record payloads read back from disk are untrusted.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ddlgate/ledger/frame.h"
#include "ddlgate/ledger/record.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // As a payload on its own; whatever the full parser accepts, the envelope reader must read
  // the same way (verification relies on it for covered records).
  auto full = ddlgate::ledger::parse_payload(in);
  auto env = ddlgate::ledger::parse_envelope(in);
  if (full && (!env || env->seq != full->seq || env->type != full->type)) __builtin_trap();
  // As a stream of frames, the way the segment scanner walks them.
  while (!in.empty()) {
    ddlgate::ledger::FrameView f;
    if (ddlgate::ledger::decode_frame(in, f) != ddlgate::ledger::FrameStatus::ok) break;
    (void)ddlgate::ledger::parse_payload(f.payload);
    in.remove_prefix(f.size);
  }
  return 0;
}
