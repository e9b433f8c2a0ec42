// Runs every tests/sql/corpus/*.test file (format described at the top of each).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ddlgate/sql/analyze.h"

namespace ddlgate::sql {
namespace {

struct Expected {
  StatementClass cls;
  bool controlled;
  bool temporary;
};

struct Case {
  std::string file;
  int line = 0;
  bool expect_error = false;
  std::vector<Expected> statements;
  std::string sql;
};

std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// "CLASS DECISION [temporary]"; false with a reason if malformed.
bool parse_expected(const std::string& text, Expected* out, std::string* why) {
  auto words = split_words(text);
  if (words.size() < 2 || words.size() > 3) {
    *why = "expected 'CLASS controlled|allowed [temporary]', got '" + text + "'";
    return false;
  }
  auto cls = class_from_string(words[0]);
  if (!cls) {
    *why = "unknown class '" + words[0] + "'";
    return false;
  }
  if (words[1] != "controlled" && words[1] != "allowed") {
    *why = "decision must be controlled or allowed, got '" + words[1] + "'";
    return false;
  }
  if (words.size() == 3 && words[2] != "temporary") {
    *why = "unexpected '" + words[2] + "'";
    return false;
  }
  *out = Expected{*cls, words[1] == "controlled", words.size() == 3};
  return true;
}

std::vector<Case> load_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<Case> cases;
  std::string line;
  int lineno = 0;
  Case current;
  bool in_block = false;
  auto fail = [&](const std::string& why) {
    ADD_FAILURE() << path.filename().string() << ":" << lineno << ": " << why;
  };
  while (std::getline(in, line)) {
    ++lineno;
    if (!in_block) {
      if (line.empty() || line[0] == '#') continue;
      current = Case{};
      current.file = path.filename().string();
      current.line = lineno;
      if (line == "error") {
        current.expect_error = true;
      } else if (line.rfind("statement ", 0) == 0 || line.rfind("script ", 0) == 0) {
        bool script = line[1] == 'c';
        std::string rest = line.substr(script ? 7 : 10);
        std::vector<std::string> parts;
        std::stringstream ss(rest);
        for (std::string part; std::getline(ss, part, ',');) parts.push_back(part);
        if (!script && parts.size() != 1) fail("statement takes one expectation");
        for (const auto& part : parts) {
          Expected e{};
          std::string why;
          if (!parse_expected(part, &e, &why)) fail(why);
          current.statements.push_back(e);
        }
      } else {
        fail("expected 'statement', 'script' or 'error', got '" + line + "'");
        continue;
      }
      in_block = true;
      continue;
    }
    if (line == "----") {
      if (current.sql.empty()) fail("empty SQL");
      cases.push_back(current);
      in_block = false;
      continue;
    }
    if (!current.sql.empty()) current.sql += '\n';
    current.sql += line;
  }
  if (in_block) fail("last block has no ---- line");
  return cases;
}

std::string describe(const Analysis& a) {
  if (a.error) return "parse error: " + a.error->message;
  std::string out;
  for (const auto& s : a.statements) {
    if (!out.empty()) out += ", ";
    out += std::string(to_string(s.cls)) + (s.controlled ? " controlled" : " allowed") + (s.temporary ? " temporary" : "");
  }
  return out.empty() ? "(no statements)" : out;
}

// One case; ASSERTs end only this case, so one run reports every failing case.
void check_case(const Case& c) {
  Analysis hot = analyze(c.sql, Policy{}, Detail::controlled_only);
  if (c.expect_error) {
    EXPECT_FALSE(hot.ok()) << "parsed as: " << describe(hot);
    EXPECT_TRUE(hot.any_controlled());
    return;
  }
  ASSERT_TRUE(hot.ok()) << describe(hot);
  ASSERT_EQ(hot.statements.size(), c.statements.size()) << describe(hot);
  for (std::size_t i = 0; i < c.statements.size(); ++i) {
    const Statement& got = hot.statements[i];
    const Expected& want = c.statements[i];
    EXPECT_EQ(to_string(got.cls), to_string(want.cls)) << "statement " << i + 1;
    EXPECT_EQ(got.controlled, want.controlled) << "statement " << i + 1;
    EXPECT_EQ(got.temporary, want.temporary) << "statement " << i + 1;
    // The hot path hashes exactly the controlled statements.
    EXPECT_EQ(got.hash.empty(), !got.controlled) << "statement " << i + 1;
    // The statement's source text is inside the input.
    EXPECT_LE(got.offset + got.length, c.sql.size());
  }
  // The byte scan (plain_dml_class) settles no case that the analysis controls.
  if (auto plain = plain_dml_class(c.sql)) {
    EXPECT_FALSE(hot.any_controlled()) << "plain_dml_class settled it as " << to_string(*plain);
  }
  // Detail::all agrees with the hot path and hashes everything.
  Analysis full = analyze(c.sql, Policy{}, Detail::all);
  ASSERT_EQ(full.statements.size(), hot.statements.size());
  for (std::size_t i = 0; i < full.statements.size(); ++i) {
    EXPECT_EQ(full.statements[i].cls, hot.statements[i].cls);
    EXPECT_EQ(full.statements[i].hash.size(), 71u);
    EXPECT_FALSE(full.statements[i].display_sql.empty());
    if (!hot.statements[i].hash.empty()) {
      EXPECT_EQ(full.statements[i].hash, hot.statements[i].hash);
    }
  }
}

TEST(PolicyCorpus, EveryCaseClassifiesAsExpected) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(DDLGATE_POLICY_CORPUS_DIR)) {
    if (entry.path().extension() == ".test") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 10u);
  std::size_t total = 0;
  for (const auto& file : files) {
    for (const Case& c : load_file(file)) {
      ++total;
      SCOPED_TRACE(c.file + ":" + std::to_string(c.line) + ": " + c.sql);
      check_case(c);
    }
  }
  EXPECT_GE(total, 400u) << "the corpus should hold at least 400 cases";
}

// The hot path answers uncontrolled statements from a shortcut (libpg_query's JSON
// output); with every class released, it answers as many statements as it can, and
// must agree with the full protobuf analysis on every one.
TEST(PolicyCorpus, HotPathAgreesWithFullAnalysisUnderAPermissivePolicy) {
  Policy lax;
  for (StatementClass cls : kAllStatementClasses) lax.set_controlled(cls, false);
  lax.set_allow_temporary_objects(true);
  std::size_t compared = 0, firing = 0;
  for (const auto& entry : std::filesystem::directory_iterator(DDLGATE_POLICY_CORPUS_DIR)) {
    if (entry.path().extension() != ".test") continue;
    for (const Case& c : load_file(entry.path())) {
      SCOPED_TRACE(c.file + ":" + std::to_string(c.line) + ": " + c.sql);
      Analysis hot = analyze(c.sql, lax, Detail::controlled_only);
      Analysis full = analyze(c.sql, lax, Detail::all);
      ASSERT_EQ(hot.ok(), full.ok());
      ASSERT_EQ(hot.statements.size(), full.statements.size());
      for (std::size_t i = 0; i < hot.statements.size(); ++i) {
        EXPECT_EQ(to_string(hot.statements[i].cls), to_string(full.statements[i].cls));
        EXPECT_EQ(hot.statements[i].controlled, full.statements[i].controlled);
        EXPECT_EQ(hot.statements[i].offset, full.statements[i].offset);
        EXPECT_EQ(hot.statements[i].length, full.statements[i].length);
        EXPECT_EQ(hot.statements[i].session_effect, full.statements[i].session_effect);
        EXPECT_EQ(hot.statements[i].effect_name, full.statements[i].effect_name);
        EXPECT_EQ(hot.statements[i].executes, full.statements[i].executes);
        // Every statement the server fires event triggers for is known as such on the hot
        // path too (the database's guard is told of it), and none is a read, a write,
        // transaction control or a session statement (the classes never looked at).
        EXPECT_EQ(hot.statements[i].fires_event_triggers, full.statements[i].fires_event_triggers);
        if (full.statements[i].fires_event_triggers) {
          EXPECT_EQ(hot.statements[i].command_tag, full.statements[i].command_tag);
          EXPECT_NE(full.statements[i].cls, StatementClass::read);
          EXPECT_NE(full.statements[i].cls, StatementClass::write);
          EXPECT_NE(full.statements[i].cls, StatementClass::transaction);
          EXPECT_NE(full.statements[i].cls, StatementClass::session);
          ++firing;
        }
        ++compared;
      }
    }
  }
  EXPECT_GE(compared, 400u);
  EXPECT_GE(firing, 150u);
}

}  // namespace
}  // namespace ddlgate::sql
