// engine::explain (issue 26 item 8): each reason a statement is, or is not, approved.
#include "ddlgate/engine/explain.h"

#include <gtest/gtest.h>

#include "ddlgate/sql/analyze.h"

namespace ddlgate::engine {
namespace {

using Standing = KnownStatement::Standing;

// The display SQL and hash ddlgate computes for sql's first statement.
std::pair<std::string, std::string> read(std::string_view sql) {
  auto a = sql::analyze(sql, sql::Policy{}, sql::Detail::all);
  EXPECT_TRUE(a.ok() && !a.statements.empty()) << sql;
  if (!a.ok() || a.statements.empty()) return {};
  return {a.statements[0].display_sql, a.statements[0].hash};
}

KnownStatement known(std::string_view sql, Standing standing = Standing::in_force,
                     std::vector<std::string> databases = {"shop"}) {
  auto [display, hash] = read(sql);
  KnownStatement k;
  k.hash = hash;
  k.sql = display;
  k.cls = "schema_change";
  k.app = "shop";
  k.version = 3;
  k.file = "003_orders.sql";
  k.index = 2;
  k.line = 7;
  k.databases = std::move(databases);
  k.environment = "prod";
  k.not_before = "2026-01-01T00:00:00Z";
  k.not_after = "2026-02-01T00:00:00Z";
  k.standing = standing;
  k.not_in_force_why = "version 4 is in force";
  return k;
}

Explanation explain_sql(std::string_view sql, const std::vector<KnownStatement>& ks, std::string_view db = "shop",
                        const SpentCheck& spent = {}) {
  auto [display, hash] = read(sql);
  return explain(hash, display, ks, db, spent);
}

constexpr const char* kIndex = "CREATE INDEX orders_customer ON public.orders (customer)";

TEST(Explain, ApprovedNamesTheApproval) {
  std::vector<KnownStatement> ks{known(kIndex)};
  auto e = explain_sql(kIndex, ks);
  EXPECT_EQ(e.verdict, Verdict::approved);
  EXPECT_EQ(e.nearest, &ks[0]);
  EXPECT_EQ(e.reason, "approved by shop v3, 003_orders.sql:7 (statement 2) for database shop");
  // By hash alone, too.
  EXPECT_EQ(explain(ks[0].hash, "", ks, "shop", {}).verdict, Verdict::approved);
}

TEST(Explain, SpentWhenTheLedgerSaysSoUnlessRepeatable) {
  std::vector<KnownStatement> ks{known(kIndex)};
  SpentCheck all_spent = [](const KnownStatement&, std::string_view db) { return db == "shop"; };
  auto e = explain_sql(kIndex, ks, "shop", all_spent);
  EXPECT_EQ(e.verdict, Verdict::spent);
  EXPECT_NE(e.reason.find("already used in database shop"), std::string::npos) << e.reason;
  // A second approval of the same statement that is not spent approves it.
  ks.push_back(known(kIndex));
  ks[1].file = "004_again.sql";
  SpentCheck first_spent = [](const KnownStatement& k, std::string_view) { return k.file == "003_orders.sql"; };
  e = explain_sql(kIndex, ks, "shop", first_spent);
  EXPECT_EQ(e.verdict, Verdict::approved);
  EXPECT_EQ(e.nearest, &ks[1]);
  // Bookkeeping is never spent.
  ks.resize(1);
  ks[0].repeatable = true;
  EXPECT_EQ(explain_sql(kIndex, ks, "shop", all_spent).verdict, Verdict::approved);
}

TEST(Explain, ApprovedForAnotherDatabase) {
  std::vector<KnownStatement> ks{known(kIndex, Standing::in_force, {"billing", "crm"})};
  auto e = explain_sql(kIndex, ks);
  EXPECT_EQ(e.verdict, Verdict::other_database);
  EXPECT_NE(e.reason.find("for databases billing, crm only, not database shop"), std::string::npos) << e.reason;
  EXPECT_EQ(explain_sql(kIndex, ks, "crm").verdict, Verdict::approved);
  EXPECT_EQ(explain_sql(kIndex, ks, "").verdict, Verdict::approved);  // no --database: any
}

TEST(Explain, ApprovedForAnotherEnvironmentExpiredNotYetValidOrNotInForce) {
  std::vector<KnownStatement> ks{known(kIndex, Standing::other_environment)};
  ks[0].environment = "staging";
  auto e = explain_sql(kIndex, ks);
  EXPECT_EQ(e.verdict, Verdict::other_environment);
  EXPECT_NE(e.reason.find("for environment staging"), std::string::npos) << e.reason;
  ks[0].standing = Standing::expired;
  e = explain_sql(kIndex, ks);
  EXPECT_EQ(e.verdict, Verdict::expired);
  EXPECT_NE(e.reason.find("expired at 2026-02-01T00:00:00Z"), std::string::npos) << e.reason;
  ks[0].standing = Standing::not_yet_valid;
  EXPECT_EQ(explain_sql(kIndex, ks).verdict, Verdict::not_yet_valid);
  ks[0].standing = Standing::not_in_force;
  e = explain_sql(kIndex, ks);
  EXPECT_EQ(e.verdict, Verdict::not_in_force);
  EXPECT_NE(e.reason.find("not in force: version 4 is in force"), std::string::npos) << e.reason;
  // An approval in force wins over one that is not.
  ks.push_back(known(kIndex));
  EXPECT_EQ(explain_sql(kIndex, ks).verdict, Verdict::approved);
}

// Issue 26 item 7: a version that a signed revocation withdrew, naming the revocation; it wins
// over an older bundle that is merely not in force (that one never takes over).
TEST(Explain, RevokedNamesTheRevocation) {
  std::vector<KnownStatement> ks{known(kIndex, Standing::not_in_force), known(kIndex, Standing::revoked)};
  ks[0].version = 2;
  ks[1].not_in_force_why = "by registry/revoke-shop-3 (locks orders)";
  auto e = explain_sql(kIndex, ks);
  EXPECT_EQ(e.verdict, Verdict::revoked);
  EXPECT_EQ(to_string(e.verdict), "revoked");
  EXPECT_EQ(e.nearest, &ks[1]);
  EXPECT_EQ(e.reason, "approved by shop v3, 003_orders.sql:7 (statement 2), which is revoked by "
                      "registry/revoke-shop-3 (locks orders); a revoked version never comes back: approve it again "
                      "in a new bundle version");
  // A down part's statement says so where it names the approval.
  ks[1].down = true;
  EXPECT_NE(explain_sql(kIndex, ks).reason.find("003_orders.sql:7 (down part, statement 2)"), std::string::npos);
}

TEST(Explain, NearMissInSchemaQualification) {
  std::vector<KnownStatement> ks{known("CREATE TABLE t (id int)"), known(kIndex)};
  auto e = explain_sql("CREATE INDEX orders_customer ON orders (customer)", ks);
  EXPECT_EQ(e.verdict, Verdict::near_miss);
  EXPECT_EQ(e.nearest, &ks[1]);
  EXPECT_NE(e.reason.find("shop v3, 003_orders.sql:7 (statement 2)"), std::string::npos) << e.reason;
  EXPECT_NE(e.reason.find("differs from it only in schema qualification: CREATE INDEX orders_customer ON "
                          "public.orders"),
            std::string::npos)
      << e.reason;
  EXPECT_EQ(explain_sql("CREATE INDEX orders_customer ON app.orders (customer)", ks).verdict, Verdict::near_miss);
  // Another index name is not a near miss.
  EXPECT_EQ(explain_sql("CREATE INDEX orders_client ON orders (customer)", ks).verdict, Verdict::unknown);
}

TEST(Explain, NearMissInALiteralOrACommentInsideAString) {
  std::vector<KnownStatement> ks{
      known("ALTER TABLE orders ADD COLUMN status text DEFAULT 'new'"),
      known("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 -- one\n $$"),
      known("ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2)")};
  auto e = explain_sql("ALTER TABLE orders ADD COLUMN status text DEFAULT 'open'", ks);
  EXPECT_EQ(e.verdict, Verdict::near_miss);
  EXPECT_EQ(e.nearest, &ks[0]);
  EXPECT_NE(e.reason.find("only in a literal"), std::string::npos) << e.reason;
  e = explain_sql("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 -- the number one\n $$", ks);
  EXPECT_EQ(e.verdict, Verdict::near_miss);
  EXPECT_EQ(e.nearest, &ks[1]);
  e = explain_sql("ALTER TABLE orders ALTER COLUMN total TYPE numeric(14,2)", ks);
  EXPECT_EQ(e.verdict, Verdict::near_miss);
  EXPECT_EQ(e.nearest, &ks[2]);
  // Both at once.
  e = explain_sql("ALTER TABLE public.orders ADD COLUMN status text DEFAULT 'open'", ks);
  EXPECT_EQ(e.verdict, Verdict::near_miss);
  EXPECT_NE(e.reason.find("only in schema qualification and literals"), std::string::npos) << e.reason;
  // A near miss is only ever of an approval in force.
  ks[0].standing = Standing::expired;
  EXPECT_EQ(explain_sql("ALTER TABLE orders ADD COLUMN status text DEFAULT 'open'", ks).verdict, Verdict::unknown);
}

TEST(Explain, UnknownSaysNothingIsNear) {
  std::vector<KnownStatement> ks{known(kIndex)};
  auto e = explain_sql("DROP TABLE orders", ks);
  EXPECT_EQ(e.verdict, Verdict::unknown);
  EXPECT_EQ(e.nearest, nullptr);
  EXPECT_NE(e.reason.find("no bundle in the registry approves it"), std::string::npos);
  EXPECT_EQ(explain("sha256:00", "", ks, "shop", {}).verdict, Verdict::unknown);
}

TEST(Explain, LooseForm) {
  EXPECT_EQ(loose_form("SELECT 'a''b', 1.5e-3, $1, x", true, false), "SELECT ?, ?, $1, x");
  EXPECT_EQ(loose_form("SELECT E'a\\'b' FROM s.t", true, true), "SELECT E? FROM t");
  EXPECT_EQ(loose_form("ALTER TABLE \"My\".\"T\" ADD c int", false, true), "ALTER TABLE \"T\" ADD c int");
  EXPECT_EQ(loose_form("AS $f$ -- x $$ $f$ x", true, false), "AS ? x");
  EXPECT_EQ(loose_form("CREATE TABLE t1 (c2 int)", true, true), "CREATE TABLE t1 (c2 int)");
  EXPECT_EQ(loose_form("'unterminated", true, false), "?");
}

}  // namespace
}  // namespace ddlgate::engine
