// Evidence packs from a ledger made by real traffic (issue 27, item 7): a signed bundle, an
// approved migration applied with psql through ddlgate, a refused DROP; then `ddlgate evidence
// export` and `evidence verify`, `unzip -t`, and the pack tampered through the CLI.
#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "ddlgate/base/sha256.h"
#include "ddlgate/ledger/zip.h"
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

// The up parts of tests/data/migrations/dbmate, as a deploy job runs them.
constexpr const char* kMigration = R"(create table ev_users (
  id bigint primary key,
  email text not null
);
grant select on ev_users to reporting;
create index concurrently ev_users_email on ev_users (email);
alter table ev_users add column name text default '';
)";

class Evidence : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& pg = SharedPgServer::get();
    pg.admin_sql("drop table if exists ev_users cascade");
    pg.ensure_role("reporting");
    // The sample migrations with the table renamed, so that this binary's database is its own.
    fs::path migrations = dir_.path() / "migrations";
    fs::create_directories(migrations);
    for (const auto& e : fs::directory_iterator(fs::path(DDLGATE_SOURCE_DIR) / "tests/data/migrations/dbmate")) {
      std::string text = read_file(e.path());
      for (std::size_t at; (at = text.find(" users")) != std::string::npos;) text.replace(at, 6, " ev_users");
      write_file(migrations / e.path().filename(), text);
    }
    make_signed_bundle(dir_.path(), migrations);
    write_file(dir_.path() / "ddlgate.toml",
               "[enforcement]\nmode = \"enforce\"\nsuperusers = [\"postgres\"]\n[ledger]\ndirectory = \"" +
                   ledger().string() + "\"\ncheckpoint_key_file = \"" + (dir_.path() / "ledger.key").string() +
                   "\"\n[bundles]\nregistry_dir = \"" + (dir_.path() / "registry").string() +
                   "\"\nenvironment = \"production\"\ntrust_file = \"" + (dir_.path() / "trust.toml").string() + "\"\n");
    auto proxy = DdlgateProcess::serve(pg, {"--config", (dir_.path() / "ddlgate.toml").string()});
    write_file(dir_.path() / "up.sql", kMigration);
    auto applied = run_command({(pg_bindir() / "psql").string(), "-X", "-v", "ON_ERROR_STOP=1", "-d",
                                proxy->conninfo(), "-f", (dir_.path() / "up.sql").string()});
    ASSERT_EQ(applied.exit_code, 0) << applied.stderr_text;
    auto refused = run_command({(pg_bindir() / "psql").string(), "-X", "-d", proxy->conninfo(), "-c", "DROP TABLE ev_users"});
    ASSERT_NE(refused.stderr_text.find("\"DROP TABLE ev_users\" is not approved"), std::string::npos) << refused.stderr_text;
    ASSERT_EQ(proxy->terminate(20s), 0);
  }

  fs::path ledger() const { return dir_.path() / "ledger"; }
  fs::path pack() const { return dir_.path() / "pack.zip"; }
  CommandResult verify(const fs::path& p) {
    return run_command({ddlgate(), "evidence", "verify", p.string(), "--pubkey", (dir_.path() / "ledger.pub").string()});
  }
  // A copy of the pack with edit applied to its entries.
  fs::path tampered(const std::string& name, const std::function<void(std::map<std::string, std::string>&)>& edit) {
    std::string bytes = read_file(pack());
    auto entries = ledger::read_zip(bytes);
    EXPECT_TRUE(entries);
    std::vector<std::string> order;
    std::map<std::string, std::string> m;
    for (const auto& e : *entries) {
      order.push_back(e.name);
      m[e.name] = std::string(e.data);
    }
    edit(m);
    std::vector<ledger::ZipEntry> out;
    for (const auto& n : order) {
      if (m.count(n)) out.push_back({n, m[n]});
    }
    fs::path p = dir_.path() / name;
    write_file(p, *ledger::write_zip(out));
    return p;
  }

  TempDir dir_{"ddlgate-evidence"};
};

TEST_F(Evidence, APackOfRealTrafficVerifiesAndEveryTamperingFails) {
  auto exported = run_command({ddlgate(), "evidence", "export", "--ledger", ledger().string(), "--out", pack().string()});
  ASSERT_EQ(exported.exit_code, 0) << exported.stderr_text;
  EXPECT_NE(exported.stdout_text.find("1 bundle(s)"), std::string::npos) << exported.stdout_text;
  auto ok = verify(pack());
  EXPECT_EQ(ok.exit_code, 0) << ok.stderr_text;
  EXPECT_NE(ok.stdout_text.find(": ok: records 0.."), std::string::npos) << ok.stdout_text;

  // Debian's unzip reads it as a plain archive.
  auto unzip = run_command({"unzip", "-t", pack().string()});
  EXPECT_EQ(unzip.exit_code, 0) << unzip.stdout_text << unzip.stderr_text;
  EXPECT_NE(unzip.stdout_text.find("No errors detected"), std::string::npos) << unzip.stdout_text;

  // The manifest that approved the migration, byte for byte, and the export's rows.
  std::string bytes = read_file(pack());
  auto entries = ledger::read_zip(bytes);
  ASSERT_TRUE(entries) << entries.error().to_string();
  std::map<std::string, std::string> m;
  for (const auto& e : *entries) m[e.name] = std::string(e.data);
  const std::string manifest = read_file(dir_.path() / "registry" / "shop-v1" / "manifest.json");
  const std::string sha = base::sha256_hex(manifest);
  EXPECT_EQ(m["bundles/" + sha + "/manifest.json"], manifest);
  EXPECT_EQ(std::count_if(m.begin(), m.end(), [&](const auto& e) { return e.first.find("/signatures/") != std::string::npos; }), 2);
  EXPECT_NE(m["export.csv"].find(",allowed,"), std::string::npos) << m["export.csv"];
  EXPECT_NE(m["export.csv"].find(",denied,"), std::string::npos) << m["export.csv"];
  EXPECT_NE(m["export.csv"].find("DROP TABLE ev_users"), std::string::npos);
  // The report of the same records, with the change the real traffic applied.
  EXPECT_NE(m["report.html"].find("<section id=\"changes\">"), std::string::npos) << m["report.html"];
  EXPECT_NE(m["report.html"].find("<td>shop</td>"), std::string::npos) << m["report.html"];

  // Each tampering: exit code 1 and one line that names it.
  struct Case {
    std::string name;
    std::function<void(std::map<std::string, std::string>&)> edit;
    std::string expect;
  };
  std::vector<Case> cases = {
      {"changed-record", [](auto& e) { auto& r = e["records.jsonl"]; r.replace(r.find("DROP TABLE ev_users"), 4, "drop"); },
       "do not give the root signed in checkpoints/end.txt (a record was changed)"},
      {"removed-record",
       [](auto& e) {
         auto& r = e["records.jsonl"];
         auto first = r.find('\n');
         r.erase(first + 1, r.find('\n', first + 1) - first);
       },
       "records.jsonl: line 2 is record 2 where record 1 belongs"},
      {"changed-manifest", [&](auto& e) { e["bundles/" + sha + "/manifest.json"] += " "; },
       "manifest.json: not the manifest the ledger accepted"},
      {"changed-signature",
       [&](auto& e) {
         for (auto& [n, d] : e) {
           if (n.find("/signatures/") == std::string::npos) continue;
           auto at = d.find('"', d.find(':', d.find("\"signature\"")) + 1) + 1;  // the value's first character
           d[at] = d[at] == 'A' ? 'B' : 'A';
           break;
         }
       },
       "does not verify against manifest.json"},
      {"changed-csv", [](auto& e) { auto& c = e["export.csv"]; c.replace(c.find(",denied,"), 8, ",allowed,"); },
       "export.csv: differs from the export recomputed from the records at line "},
      {"changed-report",
       [](auto& e) { auto& h = e["report.html"]; h.replace(h.find("<h1>ddlgate audit report"), 4, "<h1>All approved: "); },
       "report.html: differs from the report recomputed from the records at line "},
      {"changed-checkpoint", [](auto& e) { e["checkpoints/end.txt"].insert(0, "x"); },
       "checkpoints/end.txt: "},
  };
  for (const auto& c : cases) {
    auto r = verify(tampered(c.name + ".zip", c.edit));
    EXPECT_EQ(r.exit_code, 1) << c.name << ": " << r.stdout_text << r.stderr_text;
    EXPECT_NE(r.stderr_text.find(c.expect), std::string::npos) << c.name << ": " << r.stderr_text;
    EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << c.name << ": " << r.stderr_text;
  }
}

}  // namespace
}  // namespace ddlgate::testing
