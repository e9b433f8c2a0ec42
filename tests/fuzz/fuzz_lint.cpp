// libFuzzer target: any bytes as a migration file through lint::lint(), with and
// without --assume-in-transaction. Besides crashes and sanitizer reports, it checks
// that every position lies in the input and every finding names a known rule.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ddlgate/lint/lint.h"

// libpg_query 15-4.0.0 leaks the one-byte buffer pg_query_raw_parse strdup()s when
// pg_query_parse_plpgsql fails (a body its parser cannot read); nothing the caller can free.
extern "C" const char* __lsan_default_suppressions() { return "leak:pg_query_raw_parse\n"; }

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 16 * 1024) return 0;  // beyond this libFuzzer only finds slow inputs
  std::string text(reinterpret_cast<const char*>(data), size);
  for (bool in_transaction : {false, true}) {
    ddlgate::lint::Options options;
    options.assume_in_transaction = in_transaction;
    ddlgate::lint::Report r = ddlgate::lint::lint({{"fuzz.sql", text}}, options);
    std::size_t counted = 0;
    for (const auto& s : r.statements) {
      if (s.offset > size || s.length > size - s.offset || s.line == 0 || s.column == 0) __builtin_trap();
      if (s.tier != "additive" && s.tier != "blocking" && s.tier != "destructive" && s.tier != "privilege" &&
          s.tier != "data") {
        __builtin_trap();
      }
      for (const auto& f : s.findings) {
        if (ddlgate::lint::find_rule(f.rule_id) == nullptr || f.message.empty()) __builtin_trap();
        ++counted;
      }
    }
    if (counted != r.errors + r.warnings + r.infos) __builtin_trap();
  }
  return 0;
}
