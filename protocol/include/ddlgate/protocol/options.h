// The `options` startup parameter read the way PostgreSQL reads it, so that ddlgate can take
// its own setting (ddlgate.break_glass) out of it and forward the rest unchanged.
// PostgreSQL splits the string with pg_split_opts (src/backend/utils/init/postinit.c:
// whitespace separates arguments, a backslash makes the next character literal) and then
// reads the arguments like a command line (process_postgres_switches in
// src/backend/tcop/postgres.c, getopt with "B:bc:C:D:d:EeFf:h:ijk:lN:nOPp:r:S:sTt:v:W:-:"):
// `-c name=value`, `-cname=value` and `--name=value` set a parameter, and in the name a '-'
// is read as '_' (ParseLongOption). Parameter names are case-insensitive.
// https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-CONNECT-OPTIONS
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ddlgate::protocol {

// One argument of an options string: its text after unescaping and where its raw text lies.
struct OptionArgument {
  std::string text;
  std::size_t begin = 0;  // raw span in the options string
  std::size_t end = 0;
};

// Splits an options string exactly as pg_split_opts does.
std::vector<OptionArgument> split_options(std::string_view options);

// Escapes text so that split_options reads it back as one argument.
std::string escape_option(std::string_view text);

// Whether a parameter name as written by a client means `canonical` (a lowercase name with
// '_'): compared case-insensitively, with '-' read as '_' when dash_is_underscore.
bool same_parameter_name(std::string_view written, std::string_view canonical, bool dash_is_underscore);

// What extract_setting found and what is left.
struct ExtractedSetting {
  std::vector<std::string> values;  // every value given for the setting, in order (may be empty text)
  std::string rewritten;            // the options string without those arguments
  bool found() const { return !values.empty(); }
};

// Takes every `-c NAME=VALUE`, `-cNAME=VALUE`, `-xc NAME=VALUE` and `--NAME=VALUE` of
// `canonical` (lowercase, with '_') out of options. The other arguments are kept with their
// raw text (escapes included), joined by one space; an option cluster that held the setting
// keeps its other flags. Arguments after a lone "--" are not options to PostgreSQL and are
// left alone. When nothing is found, rewritten equals options.
ExtractedSetting extract_setting(std::string_view options, std::string_view canonical);

}  // namespace ddlgate::protocol
