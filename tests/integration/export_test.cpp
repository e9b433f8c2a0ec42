// The auditor's export end to end (issue 27 item 5): real traffic through an enforcing ddlgate
// (an approved migration, a denial, a failure, a rolled-back transaction, a break-glass
// session), then `ddlgate ledger export --rows statements --format csv` filtered to one database
// and a time window must say which changes were applied, approved by whom (source and signers of
// the bundle), and which were denied or done under break-glass, with their outcomes.
#include <chrono>
#include <map>
#include <thread>

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "ddlgate/testing/ddlgate_process.h"
#include "ddlgate/testing/pg_server.h"
#include "ddlgate/testing/process.h"
#include "ddlgate/testing/signed_bundle.h"

namespace ddlgate::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

DDLGATE_SHARED_PG_SERVER();

std::string ddlgate() { return ddlgate_binary().string(); }

// PQcmdStatus of a command that succeeds, or "ERROR <sqlstate>".
std::string command(PGconn* c, const std::string& sql) {
  PgResult r(PQexec(c, sql.c_str()));
  auto st = PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return PQcmdStatus(r.get());
  const char* code = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
  return std::string("ERROR ") + (code ? code : "?");
}

// RFC 3339 UTC to the second, `offset` from now.
std::string utc(std::chrono::seconds offset) {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + offset);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

using Row = std::map<std::string, std::string>;

// RFC 4180 as the export writes it (CRLF rows, quoted cells with doubled quotes), by header name.
std::vector<Row> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> lines(1);
  std::string cell;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        cell += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cell += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      lines.back().push_back(std::move(cell));
      cell.clear();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      lines.back().push_back(std::move(cell));
      cell.clear();
      lines.emplace_back();
      ++i;
    } else {
      cell += c;
    }
  }
  lines.pop_back();  // after the last CRLF
  std::vector<Row> rows;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].size(), lines[0].size()) << "row " << i;
    Row r;
    for (std::size_t k = 0; k < lines[0].size() && k < lines[i].size(); ++k) r[lines[0][k]] = lines[i][k];
    rows.push_back(std::move(r));
  }
  return rows;
}

class AuditExport : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& pg = SharedPgServer::get();
    pg.admin_sql("drop table if exists users, victim cascade");
    pg.admin_sql("create table victim (id int)");
    pg.ensure_role("reporting");
    // Keys and trust policy from the shared helper; the bundle is built again with its source
    // (repository, commit, pull request, CI run), which the ledger must keep.
    make_signed_bundle(dir_.path(), std::string(DDLGATE_SOURCE_DIR) + "/tests/data/migrations/dbmate", "shop",
                       {"breakglass"});
    fs::remove_all(dir_.path() / "registry" / "shop-v1");
    build_bundle("production", dir_.path() / "registry");
  }

  // shop version 1 of the dbmate migration for environment, signed by the registry and alice,
  // as registry/shop-v1.
  void build_bundle(const std::string& environment, const fs::path& registry) {
    const fs::path staging = dir_.path() / "staging";
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {ddlgate(), "bundle", "build", std::string(DDLGATE_SOURCE_DIR) + "/tests/data/migrations/dbmate", "--tool",
              "dbmate", "--out", staging.string(), "--app", "shop", "--version", "1", "--environment", environment,
              "--repository", "git@example.com:shop/db.git", "--commit", "4f2a9c1", "--pull-request",
              "https://example.com/shop/db/pull/12", "--ci-run", "https://ci.example.com/runs/99", "--any-database"},
             {ddlgate(), "bundle", "sign", staging.string(), "--key", (dir_.path() / "registry.key").string(), "--role",
              "registry"},
             {ddlgate(), "bundle", "sign", staging.string(), "--key", (dir_.path() / "alice.key").string(), "--role",
              "approver"}}) {
      auto r = run_command(argv);
      ASSERT_EQ(r.exit_code, 0) << argv[2] << ": " << r.stderr_text;
    }
    fs::create_directories(registry);
    fs::rename(staging, registry / "shop-v1");
  }

  std::unique_ptr<DdlgateProcess> start() { return start("production", dir_.path() / "registry", ledger_dir()); }

  std::unique_ptr<DdlgateProcess> start(const std::string& environment, const fs::path& registry,
                                        const fs::path& ledger) {
    write_file(dir_.path() / "ddlgate.toml",
               "[listen]\naddresses = [\"127.0.0.1:0\"]\n[upstream]\naddress = \"127.0.0.1:" +
                   std::to_string(SharedPgServer::get().port()) +
                   "\"\n[enforcement]\nmode = \"enforce\"\nsuperusers = [\"postgres\"]\n[ledger]\ndirectory = \"" +
                   ledger.string() + "\"\ncheckpoint_key_file = \"" + (dir_.path() / "ledger.key").string() +
                   "\"\n[bundles]\nregistry_dir = \"" + registry.string() +
                   "\"\nenvironment = \"" + environment + "\"\ntrust_file = \"" + (dir_.path() / "trust.toml").string() +
                   "\"\n[break_glass]\nkeys = [\"breakglass.pub\"]\nmax_lifetime = \"1h\"\n");
    return DdlgateProcess::serve(SharedPgServer::get(), {"--config", (dir_.path() / "ddlgate.toml").string()});
  }

  fs::path ledger_dir() const { return dir_.path() / "ledger"; }

  // Through an enforcing ddlgate: the approved migration (two statements executed, one failed
  // with 25001, one rolled back), a denied DROP TABLE victim, then the same DROP under break-glass;
  // `hostile`: one more denial whose text is markup. Stops ddlgate, verifies the ledger; returns
  // the database.
  std::string make_traffic(bool hostile = false) {
    return make_traffic(hostile, "production", dir_.path() / "registry", ledger_dir());
  }
  std::string make_traffic(bool hostile, const std::string& environment, const fs::path& registry,
                           const fs::path& ledger) {
    auto proxy = start(environment, registry, ledger);
    const std::string database = proxy->database();
    {
      auto c = pg_connect(proxy->conninfo());
      EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
      // The approved migration, as a deploy job runs it.
      EXPECT_EQ(command(c.get(), "create table users (id bigint primary key, email text not null)"), "CREATE TABLE");
      EXPECT_EQ(command(c.get(), "grant select on users to reporting"), "GRANT");
      // Approved, but the server refuses it inside a transaction block: failed, 25001.
      EXPECT_EQ(command(c.get(), "begin"), "BEGIN");
      EXPECT_EQ(command(c.get(), "create index concurrently users_email on users (email)"), "ERROR 25001");
      EXPECT_EQ(command(c.get(), "rollback"), "ROLLBACK");
      // Approved and executed, then rolled back with its transaction.
      EXPECT_EQ(command(c.get(), "begin"), "BEGIN");
      EXPECT_EQ(command(c.get(), "alter table users add column name text default ''"), "ALTER TABLE");
      EXPECT_EQ(command(c.get(), "rollback"), "ROLLBACK");
      // Not approved.
      EXPECT_EQ(command(c.get(), "drop table victim"), "ERROR 42501");
      if (hostile) {
        EXPECT_EQ(command(c.get(), "create table \"<b id=evil>x</b>\" (id int)"), "ERROR 42501");
      }
    }
    {
      auto r = run_command({ddlgate(), "breakglass", "issue", "--key", (dir_.path() / "breakglass.key").string(), "--user",
                            "postgres", "--database", database, "--environment", environment, "--lifetime", "10m",
                            "--reason", "victim table blocks the release", "--ticket", "INC-7", "--issuer",
                            "oncall-lead"});
      EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
      std::string token = r.stdout_text.substr(0, r.stdout_text.find('\n'));
      auto c = pg_connect(proxy->conninfo());
      EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
      EXPECT_EQ(command(c.get(), "SET ddlgate.break_glass = '" + token + "'"), "SET");
      EXPECT_EQ(command(c.get(), "drop table victim"), "DROP TABLE");
      if (hostile) {
        EXPECT_EQ(command(c.get(), "select 42 as answer"), "SELECT 1");
      }
    }
    EXPECT_EQ(proxy->terminate(20s), 0);
    auto verify = run_command({ddlgate(), "ledger", "verify", ledger.string(), "--pubkey",
                               (dir_.path() / "ledger.pub").string()});
    EXPECT_EQ(verify.exit_code, 0) << verify.stdout_text << verify.stderr_text;
    return database;
  }

  std::vector<Row> export_csv(const std::vector<std::string>& filters) {
    std::vector<std::string> argv = {ddlgate(), "ledger", "export", ledger_dir().string(), "--rows", "statements",
                                     "--format", "csv"};
    argv.insert(argv.end(), filters.begin(), filters.end());
    auto r = run_command(argv);
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
    EXPECT_TRUE(r.stdout_text.starts_with("seq,time,decision,user,database,")) << r.stdout_text;
    return parse_csv(r.stdout_text);
  }

  TempDir dir_{"ddlgate-export"};
};

TEST_F(AuditExport, TheCsvSaysWhatWasAppliedToADatabaseInAWindowApprovedByWhomAndWhatWasDeniedOrBrokeGlass) {
  const std::string t1 = utc(-1s);
  const std::string database = make_traffic();
  ASSERT_FALSE(HasFailure());
  const std::string t2 = utc(1s);
  auto rows = export_csv({"--database", database, "--from", t1, "--to", t2});
  std::map<std::string, Row> by_sql;
  for (const auto& r : rows) {
    EXPECT_EQ(r.at("database"), database);
    EXPECT_EQ(r.at("user"), "postgres");
    EXPECT_GE(r.at("time"), t1);
    EXPECT_FALSE(r.at("client_address").empty());
    EXPECT_FALSE(r.at("session_id").empty());
    if (r.at("display_sql") == "DROP TABLE victim") continue;  // twice: denied, then under break-glass
    EXPECT_TRUE(by_sql.emplace(r.at("display_sql"), r).second) << "two rows for " << r.at("display_sql");
  }
  ASSERT_EQ(rows.size(), 6u) << "rows: " << rows.size();

  // Applied, approved by whom, reviewed where.
  for (const char* sql : {"CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL)",
                          "GRANT select ON users TO reporting"}) {
    SCOPED_TRACE(sql);
    ASSERT_EQ(by_sql.count(sql), 1u) << [&] {
      std::string all;
      for (const auto& [k, v] : by_sql) all += k + "\n";
      return all;
    }();
    const Row& r = by_sql.at(sql);
    EXPECT_EQ(r.at("decision"), "allowed");
    EXPECT_EQ(r.at("outcome"), "executed");
    EXPECT_EQ(r.at("app"), "shop");
    EXPECT_EQ(r.at("version"), "1");
    EXPECT_EQ(r.at("file"), "20240101000000_create_users.sql");
    EXPECT_EQ(r.at("repository"), "git@example.com:shop/db.git");
    EXPECT_EQ(r.at("commit"), "4f2a9c1");
    EXPECT_EQ(r.at("pull_request"), "https://example.com/shop/db/pull/12");
    EXPECT_EQ(r.at("ci_run"), "https://ci.example.com/runs/99");
    EXPECT_EQ(r.at("manifest_sha256").size(), 64u);
    // Both signers, each with its role and its name in the trust policy (the .pub file's name).
    EXPECT_NE(r.at("signer_names").find("alice"), std::string::npos) << r.at("signer_names");
    EXPECT_NE(r.at("signer_names").find("registry"), std::string::npos) << r.at("signer_names");
    EXPECT_NE(r.at("signer_roles").find("approver"), std::string::npos) << r.at("signer_roles");
    EXPECT_EQ(r.at("signer_key_ids").rfind("ed25519:", 0), 0u) << r.at("signer_key_ids");
    EXPECT_NE(r.at("signer_key_ids").find(";ed25519:"), std::string::npos) << r.at("signer_key_ids");
    EXPECT_TRUE(r.at("token_id").empty());
  }
  EXPECT_EQ(by_sql.at("CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL)").at("command_tag"),
            "CREATE TABLE");
  EXPECT_EQ(by_sql.at("CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL)").at("statement"), "1");
  EXPECT_EQ(by_sql.at("GRANT select ON users TO reporting").at("statement"), "2");

  // Approved but not applied: failed with its SQLSTATE, and rolled back.
  for (const auto& [sql, r] : by_sql) {
    if (sql.starts_with("CREATE INDEX CONCURRENTLY")) {
      EXPECT_EQ(r.at("decision"), "allowed");
      EXPECT_EQ(r.at("outcome"), "failed");
      EXPECT_EQ(r.at("sqlstate"), "25001");
      EXPECT_EQ(r.at("file"), "20240102000000_add_name.sql");
      EXPECT_EQ(r.at("pull_request"), "https://example.com/shop/db/pull/12");
    } else if (sql.starts_with("ALTER TABLE users ADD")) {
      EXPECT_EQ(r.at("decision"), "allowed");
      EXPECT_EQ(r.at("outcome"), "rolled_back");
      EXPECT_TRUE(r.at("command_tag").empty());
    }
  }

  // Denied, and done under break-glass: the same statement, two rows.
  int denied = 0, break_glass = 0;
  for (const auto& r : export_csv({"--database", database, "--from", t1, "--to", t2, "--decision", "denied"})) {
    ++denied;
    EXPECT_EQ(r.at("display_sql"), "DROP TABLE victim");
    EXPECT_TRUE(r.at("outcome").empty());
    EXPECT_FALSE(r.at("reason").empty());
    EXPECT_TRUE(r.at("app").empty());
  }
  for (const auto& r : export_csv({"--database", database, "--from", t1, "--to", t2, "--decision", "break_glass"})) {
    ++break_glass;
    EXPECT_EQ(r.at("display_sql"), "DROP TABLE victim");
    EXPECT_EQ(r.at("outcome"), "executed");
    EXPECT_EQ(r.at("command_tag"), "DROP TABLE");
    EXPECT_FALSE(r.at("token_id").empty());
    EXPECT_EQ(r.at("token_issuer"), "oncall-lead");
    EXPECT_EQ(r.at("token_ticket"), "INC-7");
    EXPECT_EQ(r.at("token_reason"), "victim table blocks the release");
    EXPECT_GT(r.at("token_expires"), t1);
  }
  EXPECT_EQ(denied, 1);
  EXPECT_EQ(break_glass, 1);

  // Outside the window, or another database: nothing.
  EXPECT_TRUE(export_csv({"--database", database, "--to", utc(-3600s)}).empty());
  EXPECT_TRUE(export_csv({"--database", database + "_other"}).empty());
}


// `ddlgate report` on the same traffic, loaded in headless Chromium (Debian's chromium, from
// scripts/packages.txt): the DOM Chromium built has the expected sections and values, markup in
// a statement stays text, the page's stylesheet is the only thing its CSP lets in (Chromium logs
// nothing refused), and a screenshot is kept in test-artifacts/ for a person to look at.
class AuditReport : public AuditExport {};

TEST_F(AuditReport, RendersInChromiumWithTheExpectedSectionsAndNothingUnescaped) {
  const std::string database = make_traffic(true);
  ASSERT_FALSE(HasFailure());
  const fs::path artifacts = DDLGATE_ARTIFACTS_DIR;
  fs::create_directories(artifacts);
  const fs::path html = artifacts / "audit-report.html";
  auto r = run_command({ddlgate(), "report", "--ledger", ledger_dir().string(), "--pubkey",
                        (dir_.path() / "ledger.pub").string(), "--out", html.string()});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;

  const fs::path profile = dir_.path() / "chromium-profile";
  const std::vector<std::string> chromium = {"chromium", "--headless", "--no-sandbox", "--disable-gpu",
                                             "--user-data-dir=" + profile.string(), "--enable-logging=stderr",
                                             "--v=0"};
  auto dom_argv = chromium;
  dom_argv.push_back("--dump-dom");
  dom_argv.push_back("file://" + html.string());
  auto dom = run_command(dom_argv, {}, 120s);
  ASSERT_EQ(dom.exit_code, 0) << "chromium (scripts/setup.sh installs it): " << dom.stderr_text;
  const std::string& d = dom.stdout_text;
  // Chromium's DOM, not the file: the parser adds the tbody elements the file leaves out.
  EXPECT_NE(d.find("<tbody>"), std::string::npos) << d.substr(0, 2000);
  for (const char* section : {"id=\"verification\"", "id=\"summary\"", "id=\"changes\"", "id=\"denials\"",
                              "id=\"break-glass\"", "id=\"timeline\""}) {
    EXPECT_NE(d.find(section), std::string::npos) << section;
  }
  EXPECT_NE(d.find("<td class=\"ok\">verified with key ed25519:"), std::string::npos) << d.substr(0, 3000);
  // The ledger's key and its latest checkpoints, each signed by that key (no rotation, no witness).
  const std::string verified = "<td class=\"ok\">verified with key ";
  const auto key_at = d.find(verified) + verified.size();
  const std::string key_id = d.substr(key_at, d.find('<', key_at) - key_at);
  EXPECT_NE(d.find("<td><code>" + key_id + "</code></td><td>1 on</td><td>the given key (--pubkey)</td>"),
            std::string::npos) << d.substr(0, 5000);
  EXPECT_NE(d.find("<table class=\"checkpoints\">"), std::string::npos) << d.substr(0, 5000);
  EXPECT_NE(d.find("</td><td>" + key_id + "</td><td></td></tr>"), std::string::npos) << d.substr(0, 5000);
  EXPECT_NE(d.find("No witness keys given: cosignatures are listed, not checked."), std::string::npos);
  // The change: database, app, version, who ran it, who approved it, linked to its review.
  EXPECT_NE(d.find("<td>" + database + "</td><td>shop</td><td>1</td>"), std::string::npos) << d;
  EXPECT_NE(d.find("<a href=\"https://example.com/shop/db/pull/12\" rel=\"noreferrer\">"), std::string::npos) << d;
  EXPECT_NE(d.find("<a href=\"https://ci.example.com/runs/99\" rel=\"noreferrer\">"), std::string::npos) << d;
  EXPECT_NE(d.find("<td>4f2a9c1</td>"), std::string::npos) << d;
  EXPECT_NE(d.find("alice ("), std::string::npos) << d;
  // executed 2 (CREATE TABLE, GRANT), failed 1 (25001), rolled back 1.
  EXPECT_NE(d.find("<td>2</td><td>1</td><td>1</td><td>0</td><td>postgres</td>"), std::string::npos) << d;
  // Denials: two by postgres, the markup one as text only.
  EXPECT_NE(d.find("<td>postgres</td><td>2</td>"), std::string::npos) << d;
  EXPECT_NE(d.find("&lt;b id=evil&gt;x&lt;/b&gt;"), std::string::npos) << d;
  EXPECT_EQ(d.find("<b id="), std::string::npos) << d;
  EXPECT_EQ(d.find("<script"), std::string::npos) << d;
  // The break-glass session with its token's issuer and ticket and its statement's outcome.
  EXPECT_NE(d.find("issued by oncall-lead, ticket INC-7"), std::string::npos) << d;
  EXPECT_NE(d.find("<code>DROP TABLE victim</code></td><td>executed (DROP TABLE)</td>"), std::string::npos) << d;
  // and the statements of the session that needed no decision.
  EXPECT_NE(d.find("<code>SELECT 42 AS answer</code></td><td>(read, no decision)</td>"), std::string::npos) << d;
  EXPECT_EQ(dom.stderr_text.find("Content Security Policy"), std::string::npos) << dom.stderr_text;

  // The policy is in force: the same page with a script slipped in runs none of it.
  std::string page = read_file(html);
  const fs::path tampered = dir_.path() / "tampered.html";
  auto h1 = page.find("<h1>");
  ASSERT_NE(h1, std::string::npos);
  write_file(tampered, page.substr(0, h1) + "<script>document.title = 'script ran'</script>" + page.substr(h1));
  auto control_argv = chromium;
  control_argv.push_back("--dump-dom");
  control_argv.push_back("file://" + tampered.string());
  auto control = run_command(control_argv, {}, 120s);
  ASSERT_EQ(control.exit_code, 0) << control.stderr_text;
  EXPECT_NE(control.stdout_text.find("<title>ddlgate audit report</title>"), std::string::npos) << control.stdout_text;
  EXPECT_NE(control.stderr_text.find("Content Security Policy"), std::string::npos) << control.stderr_text;

  auto shot_argv = chromium;
  shot_argv.push_back("--window-size=1280,2400");
  shot_argv.push_back("--screenshot=" + (artifacts / "audit-report.png").string());
  shot_argv.push_back("file://" + html.string());
  auto shot = run_command(shot_argv, {}, 120s);
  EXPECT_EQ(shot.exit_code, 0) << shot.stderr_text;
  std::error_code ec;
  EXPECT_GT(fs::file_size(artifacts / "audit-report.png", ec), 10000u) << ec.message();
}

// Two ledgers of two environments (a ddlgate for production and one for staging, each with the
// same migration built and signed for its environment) merged into one report: Chromium's DOM
// says which environment each ledger is, known from the bundle manifests it accepted, and
// groups the changes and denials by environment. An --environment that the manifests contradict
// is shown as such.
TEST_F(AuditReport, TwoLedgersOfTwoEnvironmentsAreGroupedByEnvironment) {
  const std::string database = make_traffic();
  ASSERT_FALSE(HasFailure());
  auto& pg = SharedPgServer::get();
  pg.admin_sql("drop table if exists users, victim cascade");
  pg.admin_sql("create table victim (id int)");
  const fs::path staging_registry = dir_.path() / "registry-staging", staging_ledger = dir_.path() / "ledger-staging";
  build_bundle("staging", staging_registry);
  ASSERT_FALSE(HasFailure());
  const std::string staging_database = make_traffic(false, "staging", staging_registry, staging_ledger);
  ASSERT_FALSE(HasFailure());

  const fs::path artifacts = DDLGATE_ARTIFACTS_DIR;
  fs::create_directories(artifacts);
  const fs::path html = artifacts / "audit-report-environments.html";
  auto r = run_command({ddlgate(), "report", "--ledger", ledger_dir().string(), "--ledger", staging_ledger.string(),
                        "--pubkey", (dir_.path() / "ledger.pub").string(), "--out", html.string()});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  auto dom = run_command({"chromium", "--headless", "--no-sandbox", "--disable-gpu",
                          "--user-data-dir=" + (dir_.path() / "chromium-profile").string(), "--dump-dom",
                          "file://" + html.string()},
                         {}, 120s);
  ASSERT_EQ(dom.exit_code, 0) << "chromium (scripts/setup.sh installs it): " << dom.stderr_text;
  const std::string& d = dom.stdout_text;
  // Each ledger's environment, from the one manifest it accepted.
  for (const auto& [ledger, environment] : {std::pair{ledger_dir(), "production"}, std::pair{staging_ledger, "staging"}}) {
    EXPECT_NE(d.find("<tr><td>" + ledger.string() + "</td><td class=\"environment\">" + environment +
                     "</td><td class=\"ok\">the 1 bundle manifest(s) this ledger accepted</td>"),
              std::string::npos)
        << d.substr(0, 4000);
  }
  // The changes, one article per environment, each with its own ledger's change only.
  auto article = [&](const std::string& environment) {
    auto at = d.find("<article class=\"environment\" data-environment=\"" + environment + "\">");
    if (at == std::string::npos) return std::string();
    return d.substr(at, d.find("</article>", at) - at);
  };
  const std::string production = article("production"), staging = article("staging");
  ASSERT_FALSE(production.empty()) << d;
  ASSERT_FALSE(staging.empty()) << d;
  EXPECT_NE(production.find("<h3>Environment production</h3><p>Ledgers: " + ledger_dir().string() + "; 1 change(s).</p>"),
            std::string::npos)
      << production;
  EXPECT_NE(staging.find("<h3>Environment staging</h3><p>Ledgers: " + staging_ledger.string() + "; 1 change(s).</p>"),
            std::string::npos)
      << staging;
  EXPECT_NE(production.find("<td>" + ledger_dir().string() + "</td><td>" + database + "</td><td>shop</td><td>1</td>"),
            std::string::npos)
      << production;
  EXPECT_EQ(production.find(staging_ledger.string()), std::string::npos) << production;
  EXPECT_NE(staging.find("<td>" + staging_ledger.string() + "</td><td>" + staging_database + "</td><td>shop</td><td>1</td>"),
            std::string::npos)
      << staging;
  // executed 2, failed 1, rolled back 1 in each.
  EXPECT_NE(staging.find("<td>2</td><td>1</td><td>1</td><td>0</td><td>postgres</td>"), std::string::npos) << staging;
  // The denials name their environment.
  for (const auto& [ledger, environment, db] : {std::tuple{ledger_dir(), "production", database},
                                                std::tuple{staging_ledger, "staging", staging_database}}) {
    EXPECT_NE(d.find("<tr><td>" + std::string(environment) + "</td><td>" + ledger.string() + "</td><td>" + db +
                     "</td><td>postgres</td><td>1</td></tr>"),
              std::string::npos)
        << d;
  }

  // --environment names them outright; one the manifests contradict is marked, and a count that
  // is not one per ledger is a usage error.
  const fs::path given = dir_.path() / "given.html";
  r = run_command({ddlgate(), "report", "--ledger", ledger_dir().string(), "--ledger", staging_ledger.string(),
                   "--environment", "production", "--environment", "production", "--out", given.string()});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  const std::string page = read_file(given);
  EXPECT_NE(page.find("<td class=\"environment\">production</td><td class=\"ok\">--environment</td>"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("<td class=\"environment\">production</td><td class=\"bad\">--environment; the manifests this "
                      "ledger accepted say staging</td>"),
            std::string::npos)
      << page;
  r = run_command({ddlgate(), "report", "--ledger", ledger_dir().string(), "--ledger", staging_ledger.string(),
                   "--environment", "production", "--out", given.string()});
  EXPECT_EQ(r.exit_code, 2) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("1 --environment for 2 --ledger"), std::string::npos) << r.stderr_text;
}

}  // namespace
}  // namespace ddlgate::testing
