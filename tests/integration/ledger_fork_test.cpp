// A ledger restored from a backup behind its checkpoint copy (issue 27 item 2), end to end:
// ddlgate starts and lets ordinary traffic through, refuses controlled statements with 58030,
// and /readyz says why; after `ddlgate ledger accept-rollback` it starts normally.
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

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

struct HttpResult {
  int status = 0;
  std::string body;
};

// GET with curl (a real HTTP client).
HttpResult http_get(const std::string& url) {
  auto r = run_command({"curl", "-s", "-S", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", url}, {}, 20s);
  HttpResult out;
  auto nl = r.stdout_text.rfind('\n');
  if (nl == std::string::npos) return out;
  out.status = std::atoi(r.stdout_text.c_str() + nl + 1);
  out.body = r.stdout_text.substr(0, nl);
  return out;
}

class LedgerFork : public ::testing::Test {
 protected:
  void SetUp() override {
    make_signed_bundle(dir_.path(), fs::path(DDLGATE_SOURCE_DIR) / "tests/data/migrations/dbmate");
    write_file(config(),
               "[admin]\nlisten = \"127.0.0.1:0\"\nupstream_check_cache_ms = 0\n"
               "[enforcement]\nmode = \"enforce\"\nsuperusers = [\"postgres\"]\n"
               "[ledger]\ndirectory = \"" + ledger_.string() + "\"\ncheckpoint_key_file = \"" + key().string() +
                   "\"\ncheckpoint_every_records = 3\ncheckpoint_copy_directory = \"" + copy_.string() +
                   "\"\n[bundles]\nregistry_dir = \"" + (dir_.path() / "registry").string() +
                   "\"\nenvironment = \"production\"\ntrust_file = \"" + (dir_.path() / "trust.toml").string() +
                   "\"\n");
  }
  fs::path config() const { return dir_.path() / "ddlgate.toml"; }
  fs::path key() const { return dir_.path() / "ledger.key"; }

  std::unique_ptr<DdlgateProcess> start() {
    auto p = DdlgateProcess::serve(SharedPgServer::get(), {"--config", config().string()});
    admin_.clear();
    for (const auto& e : p->endpoints()) {
      if (e.rfind("http://", 0) == 0) admin_ = e;
    }
    EXPECT_FALSE(admin_.empty()) << "no admin endpoint in the ready file";
    return p;
  }
  // Refused schema changes through a running ddlgate: each one a decision record.
  void traffic(DdlgateProcess& p, int n) {
    auto c = pg_connect(p.conninfo());
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ(sqlstate_of(c.get(), "create table fork_t" + std::to_string(i) + " (id int)"), "42501");
    }
  }

  TempDir dir_{"ddlgate-ledger-fork"};
  fs::path ledger_ = dir_.path() / "ledger";
  fs::path copy_ = dir_.path() / "copy";
  std::string admin_;
};

TEST_F(LedgerFork, ARolledBackLedgerRefusesControlledStatementsUntilTheRollbackIsAccepted) {
  {
    auto p = start();
    traffic(*p, 4);
    ASSERT_EQ(p->terminate(20s), 0);
  }
  const fs::path backup = dir_.path() / "backup";
  fs::copy(ledger_, backup, fs::copy_options::recursive);
  {
    auto p = start();
    traffic(*p, 6);
    ASSERT_EQ(p->terminate(20s), 0);
  }
  fs::remove_all(ledger_);
  fs::copy(backup, ledger_, fs::copy_options::recursive);  // restored; the copy remembers more

  {
    auto p = start();  // starts: other traffic must not go down
    auto c = pg_connect(p->conninfo());
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    std::string err;
    EXPECT_EQ(pg_query_value(c.get(), "select 41 + 1", &err).value_or(err), "42");
    EXPECT_EQ(sqlstate_of(c.get(), "create table fork_probe (id int)"), "58030");
    auto ready = http_get(admin_ + "/readyz");
    EXPECT_EQ(ready.status, 503) << ready.body;
    EXPECT_NE(ready.body.find("disagrees with its checkpoint copy (rollback)"), std::string::npos) << ready.body;
    EXPECT_NE(ready.body.find("accept-rollback"), std::string::npos) << ready.body;
    c.reset();
    EXPECT_EQ(p->terminate(20s), 0);
  }

  auto accepted = run_command({ddlgate_binary().string(), "ledger", "accept-rollback", "--ledger", ledger_.string(),
                               "--key", key().string(), "--copy", copy_.string(), "--reason", "INC-1 restored"});
  ASSERT_EQ(accepted.exit_code, 0) << accepted.stderr_text << accepted.stdout_text;

  {
    auto p = start();
    auto c = pg_connect(p->conninfo());
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    EXPECT_EQ(sqlstate_of(c.get(), "create table fork_probe (id int)"), "42501") << "decided (and denied) again";
    auto ready = http_get(admin_ + "/readyz");
    EXPECT_EQ(ready.body.find("ledger:"), std::string::npos) << ready.body;
    c.reset();
    EXPECT_EQ(p->terminate(20s), 0);
  }
  auto verified = run_command({ddlgate_binary().string(), "ledger", "verify", ledger_.string(), "--pubkey",
                               (dir_.path() / "ledger.pub").string(), "--copy", copy_.string()});
  EXPECT_EQ(verified.exit_code, 0) << verified.stderr_text << verified.stdout_text;
}

// Key rotation end to end (issue 27 item 3): ddlgate stopped, `ledger rotate-key`, the
// configuration pointed at the new key; ddlgate goes on, and verify pinned to the old key follows.
TEST_F(LedgerFork, AfterRotateKeyDdlgateGoesOnWithTheNewKeyAndTheOldKeyVerifies) {
  {
    auto p = start();
    traffic(*p, 3);
    ASSERT_EQ(p->terminate(20s), 0);
  }
  run_ok({ddlgate_binary().string(), "keygen", "--out", (dir_.path() / "ledger2").string()});
  auto rotated = run_command({ddlgate_binary().string(), "ledger", "rotate-key", "--ledger", ledger_.string(), "--key",
                              key().string(), "--new-key", (dir_.path() / "ledger2.key").string()});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.stderr_text << rotated.stdout_text;
  // Still the old key in the configuration: ddlgate refuses to start rather than sign with it.
  EXPECT_THROW(DdlgateProcess::serve(SharedPgServer::get(), {"--config", config().string()}), std::runtime_error);
  std::string text = read_file(config());
  auto at = text.find(key().string());
  ASSERT_NE(at, std::string::npos);
  text.replace(at, key().string().size(), (dir_.path() / "ledger2.key").string());
  write_file(config(), text);
  {
    auto p = start();
    traffic(*p, 3);
    ASSERT_EQ(p->terminate(20s), 0);
  }
  auto old_pub = (dir_.path() / "ledger.pub").string();
  auto verified = run_command({ddlgate_binary().string(), "ledger", "verify", ledger_.string(), "--pubkey", old_pub,
                               "--copy", copy_.string()});
  EXPECT_EQ(verified.exit_code, 0) << verified.stderr_text << verified.stdout_text;
  EXPECT_NE(verified.stdout_text.find("followed 2 key(s)"), std::string::npos) << verified.stdout_text;
}

}  // namespace
}  // namespace ddlgate::testing
