// `ddlgate ledger verify` on a running ddlgate under load (issue 27, item 3): clients run
// statements that are all recorded (enforcement.record_all_statements) while verify runs again
// and again on the live ledger, with checkpoints every few records. No run may report a problem
// (a "rolled back" checkpoints file, a torn tail, an uncovered record) that is not one.
// DDLGATE_BINARY=/path/to/ddlgate runs another build (before issue 27: false rollbacks).
#include <atomic>
#include <chrono>
#include <thread>
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

TEST(LedgerLive, VerifyWhileRecordsAreAppendedReportsNoFalseAlarm) {
  TempDir dir("ddlgate-ledger-live");
  make_signed_bundle(dir.path(), fs::path(DDLGATE_SOURCE_DIR) / "tests/data/migrations/dbmate");
  const fs::path ledger = dir.path() / "ledger";
  write_file(dir.path() / "ddlgate.toml",
             "[enforcement]\nmode = \"enforce\"\nsuperusers = [\"postgres\"]\nrecord_all_statements = true\n"
             "[ledger]\ndirectory = \"" + ledger.string() + "\"\ncheckpoint_key_file = \"" +
                 (dir.path() / "ledger.key").string() +
                 "\"\ncheckpoint_every_records = 5\ncheckpoint_interval_ms = 100\n"
                 "checkpoint_copy_directory = \"" + (dir.path() / "copy").string() +
                 "\"\n[bundles]\nregistry_dir = \"" + (dir.path() / "registry").string() +
                 "\"\nenvironment = \"production\"\ntrust_file = \"" + (dir.path() / "trust.toml").string() + "\"\n");
  auto proxy = DdlgateProcess::serve(SharedPgServer::get(), {"--config", (dir.path() / "ddlgate.toml").string()});
  ASSERT_TRUE(proxy);

  std::atomic<bool> stop{false};
  std::atomic<int> statements{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&] {
      auto c = pg_connect(proxy->conninfo());
      if (PQstatus(c.get()) != CONNECTION_OK) {
        ADD_FAILURE() << PQerrorMessage(c.get());
        return;
      }
      while (!stop.load()) {
        std::string err;
        if (!pg_query_value(c.get(), "select 1", &err)) {
          ADD_FAILURE() << err;
          return;
        }
        ++statements;
      }
    });
  }
  // Every other run also compares the shipped copy of the checkpoints file.
  const std::vector<std::string> verify = {ddlgate_binary().string(), "ledger", "verify", ledger.string(), "--pubkey",
                                           (dir.path() / "ledger.pub").string()};
  auto with_copy = verify;
  with_copy.insert(with_copy.end(), {"--checkpoints", (dir.path() / "copy" / "checkpoints").string()});
  int runs = 0;
  std::string failure;
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until && failure.empty()) {
    auto r = run_command(runs % 2 ? with_copy : verify);
    ++runs;
    if (r.exit_code != 0) failure = "run " + std::to_string(runs) + ": " + r.stderr_text + r.stdout_text;
  }
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_TRUE(failure.empty()) << failure << "(" << statements.load() << " statements)";
  EXPECT_GT(statements.load(), 100) << "too little load to mean anything";
  EXPECT_GT(runs, 5);
  EXPECT_EQ(proxy->terminate(20s), 0);
  auto r = run_command(with_copy);
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text << r.stdout_text;
}

}  // namespace
}  // namespace ddlgate::testing
