// Finding SET / RESET ddlgate.break_glass in a statement text (docs/breakglass.md, "In
// the proxy"); the tokens themselves are breakglass/'s.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>


namespace ddlgate::sql {

// The setting a client presents a token with, as PostgreSQL spells parameter names.
inline constexpr std::string_view kBreakGlassSetting = "ddlgate.break_glass";

// What a statement text does to ddlgate.break_glass.
struct BreakGlassSql {
  enum class Kind {
    none,        // nothing about ddlgate.break_glass (or the text does not parse)
    set,         // SET [SESSION] ddlgate.break_glass = '<token>' (value in token)
    bad_set,     // a SET of it that cannot carry a token: SET LOCAL, several values, not a
                 // string; or a call of set_config('ddlgate.break_glass', ...)
    reset,       // RESET ddlgate.break_glass, SET ddlgate.break_glass TO DEFAULT, RESET ALL, DISCARD ALL
  };
  Kind kind = Kind::none;
  std::size_t statements = 0;  // statements in the text (0 when it does not parse)
  std::string token;           // set: the value (a bearer secret: never log it)
  std::string detail;          // bad_set: why; reset: which form ("RESET ALL")
};

// Finds SET / RESET of ddlgate.break_glass (and RESET ALL / DISCARD ALL, which reset it too)
// among the statements of sql with libpg_query. A set wins over a reset when a text holds
// both. Texts that cannot name the setting are answered without parsing: the name must
// appear in the text, unless spelt with Unicode escapes (U&"..."), which are parsed too.
BreakGlassSql scan_break_glass_sql(std::string_view sql, bool look_for_reset_all);

// Whether scan_break_glass_sql(sql, false) may find anything: a cheap case-insensitive
// search with no parse, for the proxy's hot path.
bool mentions_break_glass(std::string_view sql);

}  // namespace ddlgate::sql
