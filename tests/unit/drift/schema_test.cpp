// The canonical description's comparison and the conninfo redaction (docs/drift.md), no server.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ddlgate/drift/drift.h"
#include "ddlgate/drift/schema.h"

namespace ddlgate::drift {
namespace {

std::vector<std::string> lines(const SchemaDescription& production, const SchemaDescription& approved) {
  std::vector<std::string> out;
  for (const auto& d : compare(production, approved)) out.push_back(d.to_string());
  return out;
}

SchemaDescription accounts() {
  SchemaDescription s;
  s.add("table", "public.accounts", "", "");
  s.add("table", "public.accounts", "owner", "(migrator)");
  s.add("column", "public.accounts.email", "parent", "table public.accounts");
  s.add("column", "public.accounts.email", "type", "text");
  s.add("column", "public.accounts.email", "not null", "true");
  s.add("column", "public.accounts.id", "parent", "table public.accounts");
  s.add("column", "public.accounts.id", "type", "bigint");
  s.add("index", "public.accounts_pkey", "parent", "table public.accounts");
  s.add("index", "public.accounts_pkey", "definition", "CREATE UNIQUE INDEX accounts_pkey ON public.accounts USING btree (id)");
  return s;
}

TEST(DriftCompare, IdenticalDescriptionsHaveNoDifference) {
  EXPECT_TRUE(compare(accounts(), accounts()).empty());
  EXPECT_TRUE(compare(SchemaDescription{}, SchemaDescription{}).empty());
}

TEST(DriftCompare, AChangedAttributeNamesObjectAttributeAndBothValues) {
  SchemaDescription approved = accounts();
  approved.add("column", "public.accounts.email", "type", "character varying(200)");
  EXPECT_EQ(lines(accounts(), approved),
            std::vector<std::string>{
                "column public.accounts.email: type text in production, character varying(200) approved"});
}

TEST(DriftCompare, AnAttributeOnOneSideOnlyIsNoneOnTheOther) {
  SchemaDescription prod = accounts();
  prod.add("column", "public.accounts.email", "default", "'x'::text");
  prod.add("table", "public.accounts", "grant to reporting", "SELECT");
  EXPECT_EQ(lines(prod, accounts()),
            (std::vector<std::string>{"column public.accounts.email: default 'x'::text in production, none approved",
                                      "table public.accounts: grant to reporting SELECT in production, none approved"}));
  EXPECT_EQ(lines(accounts(), prod),
            (std::vector<std::string>{"column public.accounts.email: default none in production, 'x'::text approved",
                                      "table public.accounts: grant to reporting none in production, SELECT approved"}));
}

TEST(DriftCompare, ObjectsOnOneSideOnlyAreNamedOnce) {
  SchemaDescription prod = accounts();
  prod.add("column", "public.accounts.note", "parent", "table public.accounts");
  prod.add("column", "public.accounts.note", "type", "text");
  // A whole extra table: one line for the table, none for its columns and index.
  prod.add("table", "public.audit", "", "");
  prod.add("column", "public.audit.at", "parent", "table public.audit");
  prod.add("column", "public.audit.at", "type", "timestamp with time zone");
  prod.add("index", "public.audit_at", "parent", "table public.audit");
  SchemaDescription approved = accounts();
  approved.add("view", "public.active", "definition", "SELECT 1");
  EXPECT_EQ(lines(prod, approved), (std::vector<std::string>{
                                       "column public.accounts.note: in production, not approved",
                                       "table public.audit: in production, not approved",
                                       "view public.active: approved, missing in production",
                                   }));
}

TEST(DriftCompare, AChildOfAMissingParentIsCoveredByTheParentOnEitherSide) {
  SchemaDescription approved = accounts();
  SchemaDescription prod;  // nothing at all
  EXPECT_EQ(lines(prod, approved), std::vector<std::string>{"table public.accounts: approved, missing in production"});
  EXPECT_EQ(lines(approved, prod), std::vector<std::string>{"table public.accounts: in production, not approved"});
}

TEST(DriftCompare, OutputIsSortedByKindNameAttributeWhateverTheInsertionOrder) {
  SchemaDescription a, b;
  a.add("trigger", "public.t.z", "definition", "1");
  a.add("column", "public.t.b", "type", "int");
  a.add("column", "public.t.a", "type", "int");
  a.add("column", "public.t.a", "comment", "x");
  b.add("column", "public.t.a", "comment", "y");
  b.add("column", "public.t.a", "type", "bigint");
  b.add("column", "public.t.b", "type", "bigint");
  b.add("trigger", "public.t.z", "definition", "2");
  EXPECT_EQ(lines(a, b), (std::vector<std::string>{
                             "column public.t.a: comment x in production, y approved",
                             "column public.t.a: type int in production, bigint approved",
                             "column public.t.b: type int in production, bigint approved",
                             "trigger public.t.z: definition 1 in production, 2 approved",
                         }));
}

TEST(DriftCompare, ALongDefinitionNamesItsFirstDifferingLine) {
  SchemaDescription a, b;
  const std::string head = "CREATE OR REPLACE FUNCTION public.f(x integer)\n RETURNS integer\n LANGUAGE sql\nAS $function$";
  a.add("function", "public.f(x integer)", "definition", head + "\nselect x + 2\n$function$\n");
  b.add("function", "public.f(x integer)", "definition", head + "\nselect x + 1\n$function$\n");
  EXPECT_EQ(lines(a, b), std::vector<std::string>{"function public.f(x integer): definition differs at line 5: "
                                                  "\"select x + 2\" in production, \"select x + 1\" approved"});
}

TEST(DriftCompare, ValuesAreShownOnOneLine) {
  SchemaDescription a, b;
  a.add("table", "public.t", "comment", "two\tparts\x01");
  b.add("table", "public.t", "comment", "");
  EXPECT_EQ(lines(a, b), std::vector<std::string>{"table public.t: comment two\\tparts\\x01 in production, (empty) approved"});
  EXPECT_EQ(one_line(std::string(300, 'a'), 10), "aaaaaaaaaa...");
}

TEST(DriftCompare, TheParentAttributeIsNotCompared) {
  SchemaDescription a, b;
  a.add("index", "public.i", "parent", "table public.t");
  b.add("index", "public.i", "parent", "table public.u");
  a.add("table", "public.t", "", "");
  b.add("table", "public.u", "", "");
  // The index's definition would say what differs; the parent only groups lines.
  EXPECT_EQ(lines(a, b), (std::vector<std::string>{"table public.t: in production, not approved",
                                                   "table public.u: approved, missing in production"}));
}

TEST(DriftConninfo, PasswordsAreRedactedInKeywordAndUriForms) {
  const std::string kv = redact_conninfo("host=db.example port=5433 user=deploy password=s3cr3t dbname=shop");
  EXPECT_EQ(kv.find("s3cr3t"), std::string::npos) << kv;
  EXPECT_NE(kv.find("password=********"), std::string::npos) << kv;
  EXPECT_NE(kv.find("host=db.example"), std::string::npos) << kv;
  EXPECT_NE(kv.find("dbname=shop"), std::string::npos) << kv;
  const std::string uri = redact_conninfo("postgresql://deploy:s3cr3t@db.example:5433/shop?sslmode=require");
  EXPECT_EQ(uri.find("s3cr3t"), std::string::npos) << uri;
  EXPECT_NE(uri.find("user=deploy"), std::string::npos) << uri;
  EXPECT_NE(uri.find("sslmode=require"), std::string::npos) << uri;
}

TEST(DriftConninfo, AnUnparseableStringIsNotEchoed) {
  const std::string r = redact_conninfo("host=db password='s3cr3t");  // unterminated quote
  EXPECT_EQ(r.find("s3cr3t"), std::string::npos) << r;
  EXPECT_EQ(r, "(a connection string libpq cannot parse)");
}

}  // namespace
}  // namespace ddlgate::drift
