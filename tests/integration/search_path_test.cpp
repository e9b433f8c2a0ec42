// normalize_search_path (sql/search_path.h) against a real PostgreSQL 15: the server accepts
// exactly the search_path values the function accepts (one deliberate difference: a
// zero-length quoted name), every keyword is quoted as quote_ident quotes it, and two
// spellings normalise equal iff the server resolves them to the same list of schemas.
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ddlgate/sql/search_path.h"
#include "ddlgate/testing/pg_server.h"

namespace ddlgate::testing {
namespace {

DDLGATE_SHARED_PG_SERVER();

// Runs sql with text parameters: {ok, first column of the first row} or {false, SQLSTATE}.
std::pair<bool, std::string> run(PGconn* c, const std::string& sql, const std::vector<std::string>& params = {}) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  PgResult r(PQexecParams(c, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0));
  const auto st = PQresultStatus(r.get());
  if (st == PGRES_TUPLES_OK) return {true, PQntuples(r.get()) > 0 ? PQgetvalue(r.get(), 0, 0) : ""};
  if (st == PGRES_COMMAND_OK) return {true, ""};
  const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
  return {false, state ? state : "?"};
}

std::string repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// Spellings of a search_path: valid ones in many forms, and malformed ones.
const std::vector<std::string>& spellings() {
  static const std::vector<std::string> v = {
      "", "   ", "public", "PUBLIC", "\"public\"", " Public ,X", "public,x", "\"public\", \"x\"",
      "\"$user\", public", "\"$user\",public", "$user , PUBLIC", "$USER, public", "\"A b\"", "\"A b\", public",
      "a\"b", "\"a\"\"b\"", "\"a,b\", c", "user, shop", "\"user\",SHOP", "\"Shop\"", "shop", "\"SHOP\"",
      "\t shop \n,\f public\r", "a\v", "Between, Table, abort", "schema, \"int\"", "_x1, \"1x\"",
      repeat("a", 70), repeat("a", 63) + "bbb", "\"" + repeat("Q", 64) + "\"", "école", "ÉCOLE", "\"ÉCOLE\"",
      repeat("é", 40),
      // malformed
      "a,", ",a", "a,,b", "a b", "\"a", "\"a\"b", "\"a\" b", "x, ", "shop public", "\"x\"\"", "a,\t,b",
  };
  return v;
}

// The one difference, on purpose: the server accepts a zero-length quoted name (it matches
// no schema); normalize_search_path refuses it (docs/bundles.md, "search_path").
const std::set<std::string> kServerOnly = {"\"\"", "a, \"\""};

class SearchPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conn_ = pg_connect(SharedPgServer::get().conninfo());
    ASSERT_EQ(PQstatus(conn_.get()), CONNECTION_OK) << PQerrorMessage(conn_.get());
    role_ = run(conn_.get(), "SELECT current_user").second;
  }
  PgConn conn_;
  std::string role_;
};

TEST_F(SearchPathTest, EveryKeywordIsQuotedAsQuoteIdentQuotesIt) {
  PgResult r(PQexec(conn_.get(), "SELECT word, quote_ident(word), catcode FROM pg_get_keywords()"));
  ASSERT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK);
  ASSERT_GT(PQntuples(r.get()), 400);
  int quoted = 0;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    const std::string word = PQgetvalue(r.get(), i, 0);
    EXPECT_EQ(sql::quote_identifier(word), PQgetvalue(r.get(), i, 1)) << word << " (" << PQgetvalue(r.get(), i, 2) << ")";
    quoted += sql::quote_identifier(word) != word;
  }
  EXPECT_EQ(quoted, 151);  // the column-name, type/function-name and reserved keywords
}

TEST_F(SearchPathTest, TheServerAcceptsExactlyWhatNormalizeAccepts) {
  std::vector<std::string> all = spellings();
  all.insert(all.end(), kServerOnly.begin(), kServerOnly.end());
  int accepted = 0, refused = 0;
  for (const std::string& s : all) {
    const bool server = run(conn_.get(), "SELECT set_config('search_path', $1, false)", {s}).first;
    const auto ours = sql::normalize_search_path(s);
    if (kServerOnly.count(s) != 0) {
      EXPECT_TRUE(server) << "[" << s << "]";
      EXPECT_FALSE(ours) << "[" << s << "]";
      continue;
    }
    EXPECT_EQ(server, ours.ok()) << "[" << s << "] server " << (server ? "accepts" : "refuses") << ", ours: "
                                 << (ours ? *ours : ours.error().reason);
    (server ? accepted : refused)++;
  }
  EXPECT_GE(accepted, 30);
  EXPECT_GE(refused, 10);
}

// With every named schema created (and one for the role, which "$user" stands for), the
// server's current_schemas(false) is the parsed list: the names split_search_path gives,
// quoted as normalize_search_path writes them; and two spellings normalise equal iff the
// server resolves them to the same list.
TEST_F(SearchPathTest, TheNormalFormIsTheListTheServerResolves) {
  PGconn* c = conn_.get();
  std::set<std::string> names{role_};
  for (const std::string& s : spellings()) {
    if (auto split = sql::split_search_path(s)) names.insert(split->begin(), split->end());
  }
  for (const std::string& n : names) {
    if (n == "$user") continue;
    auto q = run(c, "SELECT quote_ident($1)", {n});
    ASSERT_TRUE(q.first);
    ASSERT_TRUE(run(c, "CREATE SCHEMA IF NOT EXISTS " + q.second).first) << n;
  }
  std::map<std::string, std::string> resolved;  // spelling -> the server's list, quoted and joined
  for (const std::string& s : spellings()) {
    auto split = sql::split_search_path(s);
    if (!split) continue;
    ASSERT_TRUE(run(c, "SELECT set_config('search_path', $1, false)", {s}).first) << s;
    auto list = run(c,
                    "SELECT coalesce(string_agg(quote_ident(n), ', ' ORDER BY o), '') "
                    "FROM unnest(current_schemas(false)) WITH ORDINALITY AS t(n, o)");
    ASSERT_TRUE(list.first) << s;
    resolved[s] = list.second;
    // "$user" resolves to the role's schema; the spellings name no schema twice.
    std::string expected;
    for (const std::string& n : *split) {
      expected += (expected.empty() ? "" : ", ") + sql::quote_identifier(n == "$user" ? role_ : n);
    }
    EXPECT_EQ(list.second, expected) << "[" << s << "]";
    if (s.find("$user") == std::string::npos && s.find("$USER") == std::string::npos) {
      EXPECT_EQ(*sql::normalize_search_path(s), list.second) << "[" << s << "]";
    }
  }
  ASSERT_GE(resolved.size(), 30u);
  int equal_pairs = 0;
  for (auto a = resolved.begin(); a != resolved.end(); ++a) {
    for (auto b = std::next(a); b != resolved.end(); ++b) {
      const bool same_norm = *sql::normalize_search_path(a->first) == *sql::normalize_search_path(b->first);
      EXPECT_EQ(same_norm, a->second == b->second) << "[" << a->first << "] and [" << b->first << "]";
      equal_pairs += same_norm;
    }
  }
  EXPECT_GE(equal_pairs, 10);  // e.g. public / PUBLIC / "public"
}

}  // namespace
}  // namespace ddlgate::testing
