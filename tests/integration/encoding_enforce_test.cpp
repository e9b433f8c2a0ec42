// Through an enforcing ddlgate: a client whose client_encoding is ASCII-safe but not
// UTF8 (LATIN1 here) talks to a UTF8 database. The server converts the text before it
// parses it, so the bytes of an approved UTF-8 statement mean something else there:
//  - `create table "caf<C3 A9>"` is "café" to a UTF-8 reader but "cafÃ©" to the server;
//  - 61 'a', then <E9> "bc" is one identifier the server converts to 61 'a' "é" "bc" and
//    cuts at 63 bytes to 61 'a' "é", where libpg_query, cutting the raw bytes at a UTF-8
//    character boundary (0xE9 opens three bytes), names it 61 'a'.
// Until ddlgate converted such text as the server does, both ran as the approved
// statement (same parse tree, same hash) and created tables nobody approved.
// Outside a UTF8 database ddlgate cannot always cut a long name where the server does,
// and refuses such a text: in LATIN1, U&"\00e9" x 32 reads as the approved "é" x 31.
#include <string>

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "ddlgate/testing/ddlgate_process.h"
#include "ddlgate/testing/pg_server.h"
#include "ddlgate/testing/process.h"
#include "ddlgate/testing/signed_bundle.h"

namespace ddlgate::testing {
namespace {

namespace fs = std::filesystem;

DDLGATE_SHARED_PG_SERVER();

const std::string kLong(61, 'a');

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

const std::string kE31 = repeat("\xC3\xA9", 31);  // "é" x 31 in UTF-8: 62 bytes

// PQcmdStatus of a command that succeeds, or "ERROR <sqlstate>".
std::string command(PGconn* c, const std::string& sql) {
  PgResult r(PQexec(c, sql.c_str()));
  auto st = PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return PQcmdStatus(r.get());
  const char* code = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
  return std::string("ERROR ") + (code ? code : "?");
}

TEST(EncodingEnforce, ALatin1ClientCannotRunAnApprovedStatementThatTheServerReadsOtherwise) {
  auto& pg = SharedPgServer::get();
  TempDir dir("ddlgate-encoding-enforce");
  const fs::path migrations = dir.path() / "migrations";
  fs::create_directories(migrations);
  // The approved statements, in UTF-8 as every bundle is.
  write_file(migrations / "20240101000000_names.sql",
             "-- migrate:up\ncreate table \"caf\xC3\xA9\" (id int);\ncreate table " + kLong +
                 " (id int);\ncreate table \"" + kE31 + "\" (id int);\n\n-- migrate:down\ndrop table " + kLong +
                 ";\ndrop table \"caf\xC3\xA9\";\n");
  make_signed_bundle(dir.path(), migrations);
  write_file(dir.path() / "ddlgate.toml",
             "[enforcement]\nmode = \"enforce\"\nsuperusers = [\"postgres\"]\n[ledger]\ndirectory = \"" +
                 (dir.path() / "ledger").string() + "\"\ncheckpoint_key_file = \"" + (dir.path() / "ledger.key").string() +
                 "\"\n[bundles]\nregistry_dir = \"" + (dir.path() / "registry").string() +
                 "\"\nenvironment = \"production\"\ntrust_file = \"" + (dir.path() / "trust.toml").string() + "\"\n");
  auto proxy = DdlgateProcess::serve(pg, {"--config", (dir.path() / "ddlgate.toml").string()});

  const std::string cafe_utf8 = "create table \"caf\xC3\xA9\" (id int)";
  const std::string long_latin1 = "create table " + kLong + "\xE9" + "bc (id int)";
  {
    auto c = pg_connect(proxy->conninfo() + " client_encoding=LATIN1");
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    ASSERT_EQ(std::string(PQparameterStatus(c.get(), "server_encoding")), "UTF8");
    EXPECT_EQ(command(c.get(), cafe_utf8), "ERROR 42501");
    EXPECT_EQ(command(c.get(), long_latin1), "ERROR 42501");
    // Ordinary LATIN1 text still flows, converted by the server.
    EXPECT_EQ(command(c.get(), "select 'caf\xE9'"), "SELECT 1");
  }
  // The tables the server would have created: "cafÃ©" and 61 'a' then "é".
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname in ('caf\xC3\x83\xC2\xA9', '" + kLong +
                         "\xC3\xA9')"),
            "0\n");
  // The same statements from a UTF8 client are the approved ones.
  {
    auto c = pg_connect(proxy->conninfo() + " client_encoding=UTF8");
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    EXPECT_EQ(command(c.get(), cafe_utf8), "CREATE TABLE");
    EXPECT_EQ(command(c.get(), "create table " + kLong + " (id int)"), "CREATE TABLE");
  }
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname in ('caf\xC3\xA9', '" + kLong + "')"), "2\n");

  // A LATIN1 database: the ASCII text U&"\00e9" x 32 is "é" x 31 to libpg_query (62
  // bytes of UTF-8, the rest cut), the tree of the approved name, but "é" x 32 to the server.
  pg.admin_sql("drop database if exists encoding_enforce_latin1");
  pg.admin_sql("create database encoding_enforce_latin1 encoding 'LATIN1' lc_collate 'C' lc_ctype 'C' template template0");
  {
    auto c = pg_connect(proxy->conninfo("postgres", "encoding_enforce_latin1") + " client_encoding=LATIN1");
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    EXPECT_EQ(command(c.get(), "create table U&\"" + repeat("\\00e9", 32) + "\" (id int)"), "ERROR 42501");
    // Short names with escapes, and long ASCII ones, are read as before.
    EXPECT_EQ(command(c.get(), "select 1 as U&\"t\\00e9\""), "SELECT 1");
  }
  EXPECT_EQ(pg.admin_sql("select count(*) from pg_class where relname::text like chr(233) || '%'",
                         "encoding_enforce_latin1"),
            "0\n");
  pg.admin_sql("drop database encoding_enforce_latin1");
}

}  // namespace
}  // namespace ddlgate::testing
