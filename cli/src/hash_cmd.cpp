// `ddlgate hash [SQL | -f FILE | -] [--json]`: the class, whether it needs approval,
// the canonical hash (docs/hash.md) and the display SQL of each statement.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "ddlgate/sql/analyze.h"

namespace ddlgate::cli {
namespace {

struct HashOptions {
  std::string sql;   // SQL text, or "-" for stdin
  std::string file;  // -f FILE
  bool json = false;
};

// A migration file larger than this is refused rather than read whole.
constexpr std::size_t kMaxInputBytes = 64u * 1024 * 1024;

std::optional<std::string> read_all(std::istream& in, std::string* why) {
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxInputBytes) {
      *why = "input larger than " + std::to_string(kMaxInputBytes) + " bytes";
      return std::nullopt;
    }
  }
  if (in.bad()) {
    *why = "read error";
    return std::nullopt;
  }
  return text;
}

int run_hash(const HashOptions& opt) {
  std::string source_name;
  std::string why;
  std::optional<std::string> text;
  if (!opt.file.empty()) {
    if (opt.file == "-") {
      source_name = "stdin";
      text = read_all(std::cin, &why);
    } else {
      source_name = opt.file;
      std::ifstream in(opt.file, std::ios::binary);
      if (!in) {
        std::fprintf(stderr, "ddlgate hash: %s: cannot open\n", opt.file.c_str());
        return kExitUsage;
      }
      text = read_all(in, &why);
    }
  } else if (opt.sql == "-") {
    source_name = "stdin";
    text = read_all(std::cin, &why);
  } else {
    text = opt.sql;
  }
  if (!text) {
    std::fprintf(stderr, "ddlgate hash: %s: %s\n", source_name.c_str(), why.c_str());
    return kExitUsage;
  }

  sql::Analysis analysis = sql::analyze(*text, sql::Policy{}, sql::Detail::all);
  if (!analysis.ok()) {
    const auto& err = *analysis.error;
    std::string where = source_name.empty() ? "" : source_name + ": ";
    std::fprintf(stderr, "ddlgate hash: %s%s at position %zu\n", where.c_str(), err.message.c_str(), err.position);
    return kExitCheckFailed;
  }

  if (opt.json) {
    auto out = nlohmann::json::array();
    for (const auto& st : analysis.statements) {
      out.push_back({{"class", sql::to_string(st.cls)},
                     {"controlled", st.controlled},
                     {"temporary", st.temporary},
                     {"hash", st.hash},
                     {"sql", st.display_sql}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }
  std::size_t n = 0;
  for (const auto& st : analysis.statements) {
    ++n;
    std::string cls(sql::to_string(st.cls));
    std::printf("statement %zu: %s, %s\n  hash: %s\n  sql:  %s\n", n, cls.c_str(),
                st.controlled ? "controlled" : "not controlled", st.hash.c_str(), st.display_sql.c_str());
  }
  return kExitOk;
}

}  // namespace

void add_hash(CLI::App& app, Runner& runner) {
  auto* cmd = app.add_subcommand("hash", "print the class, canonical hash and display SQL of each statement");
  auto opt = std::make_shared<HashOptions>();
  auto* sql = cmd->add_option("sql", opt->sql, "the SQL text, or - to read standard input");
  auto* file = cmd->add_option("-f,--file", opt->file, "read the SQL from FILE (- for standard input)");
  sql->excludes(file);
  cmd->add_flag("--json", opt->json, "print a JSON array, one object per statement");
  cmd->callback([&runner, opt, sql, file] {
    if (sql->count() == 0 && file->count() == 0) {
      throw CLI::ValidationError("hash", "give the SQL as an argument, -f FILE, or - for standard input");
    }
    runner = [opt] { return run_hash(*opt); };
  });
}

}  // namespace ddlgate::cli
