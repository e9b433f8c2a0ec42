// libFuzzer target: any bytes as a SQL string through sql::analyze().
// Besides crashes and sanitizer reports, it checks the invariants the proxy relies on.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ddlgate/sql/analyze.h"

using ddlgate::sql::analyze;
using ddlgate::sql::Detail;
using ddlgate::sql::Policy;
using ddlgate::sql::StatementClass;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 16 * 1024) return 0;  // beyond this libFuzzer only finds slow inputs
  std::string_view sql(reinterpret_cast<const char*>(data), size);
  const Policy policy;
  auto full = analyze(sql, policy, Detail::all);
  auto hot = analyze(sql, policy, Detail::controlled_only);
  if (full.ok() != hot.ok()) __builtin_trap();
  // The proxy's shortcut never calls a statement plain DML that the analysis
  // (under either standard_conforming_strings) finds controlled.
  if (ddlgate::sql::plain_dml_class(sql)) {
    for (bool standard : {true, false}) {
      auto a = analyze(sql, policy, Detail::controlled_only, ddlgate::sql::ParseOptions{standard});
      if (!a.ok()) continue;
      if (a.any_controlled() || a.statements.size() != 1) __builtin_trap();
      auto cls = a.statements[0].cls;
      if (cls != StatementClass::read && cls != StatementClass::write) __builtin_trap();
    }
  }
  if (!full.ok()) {
    if (full.error->message.empty() || !hot.any_controlled()) __builtin_trap();
    return 0;
  }
  if (full.statements.size() != hot.statements.size()) __builtin_trap();
  for (std::size_t i = 0; i < full.statements.size(); ++i) {
    const auto& f = full.statements[i];
    const auto& h = hot.statements[i];
    if (f.offset > size || f.length > size - f.offset) __builtin_trap();
    if (f.cls != h.cls || f.controlled != h.controlled || f.offset != h.offset) __builtin_trap();
    if (f.controlled != policy.controlled(f.cls, f.temporary)) __builtin_trap();
    // Every statement is hashed in Detail::all, unless it was too deep (then unknown).
    if (f.hash.size() != 71 && f.cls != StatementClass::unknown) __builtin_trap();
    if (h.controlled && h.hash != f.hash) __builtin_trap();
    // Outcomes follow savepoints by what either path reads.
    if (f.session_effect != h.session_effect || f.effect_name != h.effect_name) __builtin_trap();
    // The guard's command tag and search_path judgement are the same on both paths: for every
    // controlled statement, and for every other one the hot path names (maintenance, released
    // temporary objects: the server may fire event triggers for them).
    if (h.controlled && (h.command_tag != f.command_tag || h.names_qualified != f.names_qualified)) __builtin_trap();
    if (!h.command_tag.empty() && (h.command_tag != f.command_tag || h.names_qualified != f.names_qualified)) {
      __builtin_trap();
    }
    // What the server fires event triggers for is known on the hot path too (the guard is told).
    if (h.fires_event_triggers != f.fires_event_triggers || h.nested_tags != f.nested_tags) __builtin_trap();
    // Reads, writes, transaction control and session statements cost the hot path no tag.
    const bool plain = h.cls == StatementClass::read || h.cls == StatementClass::write ||
                       h.cls == StatementClass::transaction || h.cls == StatementClass::session;
    if (!h.controlled && plain && (!h.command_tag.empty() || h.names_qualified)) __builtin_trap();
  }
  return 0;
}
