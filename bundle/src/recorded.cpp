// The recorded bundle source (ddlgate/bundle/recorded.h): writing it for `bundle record`,
// reading and checking it for `bundle build --tool recorded`.
#include "ddlgate/bundle/recorded.h"

#include <set>

#include <nlohmann/json.hpp>

#include "ddlgate/base/file.h"
#include "ddlgate/base/json.h"
#include "ddlgate/sql/analyze.h"

namespace ddlgate::bundle {
namespace {

namespace fs = std::filesystem;

nlohmann::ordered_json statement_json(const RecordedStatement& s) {
  nlohmann::ordered_json j;
  j["database"] = s.database;
  j["role"] = s.role;
  j["session"] = s.session;
  j["transaction"] = s.transaction;
  j["search_path"] = s.search_path ? nlohmann::ordered_json(*s.search_path) : nlohmann::ordered_json(nullptr);
  j["class"] = std::string(sql::to_string(s.cls));
  j["hash"] = s.hash;
  j["sql"] = s.sql;
  return j;
}

base::Result<RecordedStatement> statement_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) return base::Error{where + ": must be an object"};
  static const std::set<std::string> kKeys = {"database", "role", "session", "transaction",
                                              "search_path", "class", "hash", "sql"};
  for (const auto& [k, v] : j.items()) {
    if (!kKeys.count(k)) return base::Error{where + ": unknown key \"" + k + "\""};
  }
  for (const auto& k : kKeys) {
    if (!j.contains(k)) return base::Error{where + ": \"" + k + "\" is missing"};
  }
  RecordedStatement s;
  auto text = [&](const char* k, std::string& out) -> bool {
    if (!j[k].is_string()) return false;
    out = j[k].get<std::string>();
    return true;
  };
  std::string cls;
  if (!text("database", s.database) || !text("role", s.role) || !text("class", cls) || !text("hash", s.hash) ||
      !text("sql", s.sql)) {
    return base::Error{where + ": database, role, class, hash and sql must be strings"};
  }
  if (!j["session"].is_number_unsigned() || !j["transaction"].is_number_unsigned()) {
    return base::Error{where + ": session and transaction must be non-negative integers"};
  }
  s.session = j["session"].get<std::size_t>();
  s.transaction = j["transaction"].get<std::size_t>();
  if (j["search_path"].is_string()) {
    s.search_path = j["search_path"].get<std::string>();
  } else if (!j["search_path"].is_null()) {
    return base::Error{where + ": search_path must be a string or null"};
  }
  auto c = sql::class_from_string(cls);
  if (!c) return base::Error{where + ": unknown class \"" + cls + "\""};
  s.cls = *c;
  return s;
}

// One line of a comment: control characters shown as spaces, so a value cannot end the
// comment and start SQL.
std::string comment_safe(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return out;
}

// Checks that the statements of file (its whole text) are exactly `expected`, in order.
void check_file(const fs::path& src_dir, std::string_view name, const std::vector<RecordedStatement>& expected,
                std::vector<Problem>& problems) {
  const std::string file(name);
  auto content = base::read_capped(src_dir / file, kMaxMigrationFileBytes);
  if (!content) {
    problems.push_back({file, content.error().reason});
    return;
  }
  sql::Analysis a = sql::analyze(*content, sql::Policy{}, sql::Detail::hashes);
  if (!a.ok()) {
    problems.push_back({file, "does not parse: " + a.error->message});
    return;
  }
  if (a.statements.size() != expected.size()) {
    problems.push_back({file, "holds " + std::to_string(a.statements.size()) + " statements, " +
                                  std::string(kRecordingIndex) + " names " + std::to_string(expected.size())});
    return;
  }
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (a.statements[i].hash != expected[i].hash || a.statements[i].cls != expected[i].cls) {
      problems.push_back({file, "statement " + std::to_string(i + 1) + " is not the one " +
                                    std::string(kRecordingIndex) + " recorded (" + expected[i].hash + ")"});
    }
  }
}

}  // namespace

std::string recording_index_json(const Recording& r) {
  nlohmann::ordered_json j;
  j["format"] = std::string(kRecordingFormat);
  auto list = [](const std::vector<RecordedStatement>& v) {
    auto a = nlohmann::ordered_json::array();
    for (const auto& s : v) a.push_back(statement_json(s));
    return a;
  };
  j["statements"] = list(r.statements);
  j["repeatable"] = list(r.repeatable);
  // Only with a recorded rollback, so that a recording without one keeps its bytes.
  if (!r.down.empty()) {
    j["down"] = list(r.down);
    j["down_undoes"] = {{"first", r.down_undoes_first}, {"last", r.down_undoes_last}};
  }
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::strict) + "\n";
}

std::string recorded_sql_text(const std::vector<RecordedStatement>& statements, std::string_view title) {
  std::string out = "-- " + std::string(title) + "\n-- Written by `ddlgate bundle record`; " +
                    std::string(kRecordingIndex) + " indexes these statements. Review, then build with\n" +
                    "-- `ddlgate bundle build --tool recorded`.\n";
  for (std::size_t i = 0; i < statements.size(); ++i) {
    const auto& s = statements[i];
    out += "\n-- " + std::to_string(i + 1) + ". database " + comment_safe(s.database) + ", role " +
           comment_safe(s.role) + ", session " + std::to_string(s.session) + ", " +
           (s.transaction == 0 ? std::string("transaction (not seen)")
                               : "transaction " + std::to_string(s.transaction)) +
           ", search_path " + (s.search_path ? comment_safe(*s.search_path) : std::string("(not seen)")) + "\n";
    out += "-- " + std::string(sql::to_string(s.cls)) + ", " + s.hash + "\n";
    // A text as the tool sent it may end in a -- comment: the terminator then goes on a line of its own.
    const bool comment = s.sql.find("--") != std::string::npos || s.sql.find("/*") != std::string::npos;
    out += s.sql + (comment ? "\n;\n" : ";\n");
  }
  return out;
}

base::Result<Recording> parse_recording_index(std::string_view bytes) {
  auto parsed = base::parse_strict_json(bytes);
  if (!parsed) return parsed.error();
  const nlohmann::json& j = *parsed;
  for (const auto& [k, v] : j.items()) {
    if (k != "format" && k != "statements" && k != "repeatable" && k != "down" && k != "down_undoes") {
      return base::Error{"unknown key \"" + k + "\""};
    }
  }
  if (!j.contains("format") || !j["format"].is_string() || j["format"].get<std::string>() != kRecordingFormat) {
    return base::Error{"\"format\" must be \"" + std::string(kRecordingFormat) + "\""};
  }
  Recording r;
  for (const char* list : {"statements", "repeatable"}) {
    if (!j.contains(list) || !j[list].is_array()) return base::Error{std::string("\"") + list + "\" must be an array"};
    auto& out = std::string_view(list) == "statements" ? r.statements : r.repeatable;
    for (std::size_t i = 0; i < j[list].size(); ++i) {
      auto s = statement_from_json(j[list][i], std::string(list) + "[" + std::to_string(i) + "]");
      if (!s) return s.error();
      out.push_back(std::move(*s));
    }
  }
  // A recorded rollback: its statements and which statements of the recording it undoes.
  if (j.contains("down") != j.contains("down_undoes")) {
    return base::Error{"\"down\" and \"down_undoes\" come together (a recorded rollback) or not at all"};
  }
  if (j.contains("down")) {
    if (!j["down"].is_array() || j["down"].empty()) return base::Error{"\"down\" must be an array of at least one statement"};
    for (std::size_t i = 0; i < j["down"].size(); ++i) {
      auto s = statement_from_json(j["down"][i], "down[" + std::to_string(i) + "]");
      if (!s) return s.error();
      r.down.push_back(std::move(*s));
    }
    const auto& u = j["down_undoes"];
    if (!u.is_object() || u.size() != 2 || !u.contains("first") || !u.contains("last") ||
        !u["first"].is_number_unsigned() || !u["last"].is_number_unsigned()) {
      return base::Error{"\"down_undoes\" must be {\"first\": N, \"last\": M}"};
    }
    r.down_undoes_first = u["first"].get<std::size_t>();
    r.down_undoes_last = u["last"].get<std::size_t>();
    if (r.down_undoes_first < 1 || r.down_undoes_first > r.down_undoes_last ||
        r.down_undoes_last > r.statements.size()) {
      return base::Error{"\"down_undoes\": " + std::to_string(r.down_undoes_first) + " to " +
                         std::to_string(r.down_undoes_last) + " is not a range of the " +
                         std::to_string(r.statements.size()) + " recorded statements"};
    }
  }
  return r;
}

std::vector<std::string> recorded_files(const fs::path& src_dir, std::vector<Problem>& problems) {
  const std::string index(kRecordingIndex);
  auto bytes = base::read_capped(src_dir / index, kMaxRecordingIndexBytes);
  if (!bytes) {
    problems.push_back({index, bytes.error().reason + " (a recorded source is what `ddlgate bundle record` writes)"});
    return {};
  }
  auto r = parse_recording_index(*bytes);
  if (!r) {
    problems.push_back({index, r.error().reason});
    return {};
  }
  std::vector<std::string> files;
  if (r->statements.empty()) {
    problems.push_back({index, "records no statement: there is nothing to approve"});
    return {};
  }
  check_file(src_dir, kRecordedFile, r->statements, problems);
  files.emplace_back(kRecordedFile);
  std::error_code ec;
  if (!r->repeatable.empty()) {
    check_file(src_dir, kRepeatableFile, r->repeatable, problems);
    files.emplace_back(kRepeatableFile);
  } else if (fs::exists(src_dir / kRepeatableFile, ec)) {
    problems.push_back({std::string(kRepeatableFile), std::string(kRecordingIndex) + " records no repeatable statement"});
  }
  // down.sql is recorded.sql's down part (down_path), read by the build as such.
  if (!r->down.empty()) {
    check_file(src_dir, kDownFile, r->down, problems);
  } else if (fs::exists(src_dir / kDownFile, ec)) {
    problems.push_back({std::string(kDownFile), std::string(kRecordingIndex) + " records no rollback"});
  }
  return files;
}

std::vector<std::string> recorded_bookkeeping_sql(const Manifest& m) {
  std::vector<std::string> out;
  if (m.tool != MigrationTool::recorded) return out;
  for (const auto& f : m.files) {
    if (f.path != kRepeatableFile) continue;
    for (const auto& st : f.statements) out.push_back(st.sql);
  }
  return out;
}

}  // namespace ddlgate::bundle
