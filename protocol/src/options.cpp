#include "ddlgate/protocol/options.h"

namespace ddlgate::protocol {
namespace {

// isspace() in the C locale, which is what pg_split_opts uses.
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

// Options of PostgreSQL's backend command line that take an argument (the letters
// followed by ':' in process_postgres_switches' getopt string), '-' being --name=value.
bool takes_argument(char c) {
  switch (c) {
    case 'B': case 'c': case 'C': case 'D': case 'd': case 'f': case 'h': case 'k':
    case 'N': case 'p': case 'r': case 'S': case 't': case 'v': case 'W': case '-':
      return true;
    default:
      return false;
  }
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

std::vector<OptionArgument> split_options(std::string_view s) {
  std::vector<OptionArgument> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    if (i >= s.size()) break;
    OptionArgument arg;
    arg.begin = i;
    bool escaped = false;
    for (; i < s.size(); ++i) {
      char c = s[i];
      if (is_space(c) && !escaped) break;
      if (!escaped && c == '\\') {
        escaped = true;
      } else {
        escaped = false;
        arg.text.push_back(c);
      }
    }
    arg.end = i;
    out.push_back(std::move(arg));
  }
  return out;
}

std::string escape_option(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\' || is_space(c)) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

bool same_parameter_name(std::string_view written, std::string_view canonical, bool dash_is_underscore) {
  if (written.size() != canonical.size()) return false;
  for (std::size_t i = 0; i < written.size(); ++i) {
    char c = lower(written[i]);
    if (dash_is_underscore && c == '-') c = '_';
    if (c != canonical[i]) return false;
  }
  return true;
}

ExtractedSetting extract_setting(std::string_view options, std::string_view canonical) {
  ExtractedSetting result;
  std::vector<OptionArgument> args = split_options(options);
  std::vector<std::string> kept;  // raw text of what stays
  bool changed = false;
  bool options_ended = false;  // after a lone "--", getopt reads no more options
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& text = args[i].text;
    std::string_view raw = options.substr(args[i].begin, args[i].end - args[i].begin);
    if (options_ended || text.size() < 2 || text[0] != '-') {
      kept.emplace_back(raw);  // a non-option argument (PostgreSQL refuses it, but it is not ours)
      continue;
    }
    if (text == "--") {
      options_ended = true;
      kept.emplace_back(raw);
      continue;
    }
    // An option cluster: flags, then possibly one option that takes an argument.
    std::size_t j = 1;
    while (j < text.size() && !takes_argument(text[j])) ++j;
    if (j >= text.size()) {
      kept.emplace_back(raw);
      continue;
    }
    const char opt = text[j];
    const bool attached = j + 1 < text.size();
    std::string optarg;
    bool have_arg = true;
    if (attached) {
      optarg = text.substr(j + 1);
    } else if (i + 1 < args.size()) {
      optarg = args[i + 1].text;
    } else {
      have_arg = false;  // getopt: missing argument; PostgreSQL refuses the session
    }
    bool ours = false;
    if (have_arg && (opt == 'c' || opt == '-')) {
      std::string_view name(optarg);
      std::string_view value;
      bool has_value = false;
      if (auto eq = name.find('='); eq != std::string_view::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      if (same_parameter_name(name, canonical, true)) {
        ours = true;
        result.values.emplace_back(has_value ? value : std::string_view());
      }
    }
    if (!ours) {
      kept.emplace_back(raw);
      if (!attached && have_arg) {
        kept.emplace_back(options.substr(args[i + 1].begin, args[i + 1].end - args[i + 1].begin));
        ++i;
      }
      continue;
    }
    changed = true;
    if (j > 1) kept.push_back("-" + escape_option(text.substr(1, j - 1)));  // the flags before it stay
    if (!attached) ++i;  // the argument went with it
  }
  if (!changed) {
    result.rewritten = std::string(options);
    return result;
  }
  for (const auto& k : kept) {
    if (!result.rewritten.empty()) result.rewritten.push_back(' ');
    result.rewritten += k;
  }
  return result;
}

}  // namespace ddlgate::protocol
