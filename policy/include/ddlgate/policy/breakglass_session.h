// What the proxy needs around break-glass tokens besides verifying them (breakglass.h):
// the trusted keys from the configuration, the token's digest for the ledger, and finding
// SET / RESET ddlgate.break_glass in a statement text (docs/breakglass.md, "In the proxy").
// Errors are values; nothing here prints.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/config/config.h"
#include "ddlgate/policy/bundle.h"
#include "ddlgate/policy/signing.h"

namespace ddlgate::policy {

// The setting a client presents a token with, as PostgreSQL spells parameter names.
inline constexpr std::string_view kBreakGlassSetting = "ddlgate.break_glass";

// Decodes [break_glass] keys (base64 raw key, PEM text, or a .pub file relative to
// base_dir). Problems name the key ("keys[1]"); a key listed twice is a problem.
std::vector<PublicKey> break_glass_keys(const config::BreakGlass& settings, std::vector<BundleProblem>* problems);

// "sha256:<hex>" of the token text: identifies a token in the ledger and the logs without
// revealing it (a token is 64 signature bytes and more of entropy-bearing text).
std::string break_glass_token_digest(std::string_view token);

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

}  // namespace ddlgate::policy
