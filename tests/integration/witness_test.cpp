// Witnesses (issue 27, item 4): `ddlgate witness serve` on another port cosigns a real
// ddlgate's checkpoints; a forked ledger (same origin and key, another history) is refused by it
// and the proxy logs the refusal; `ledger verify --witness-quorum 1` fails for a checkpoint no
// witness cosigned and passes for one it did.
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "ddlgate/ledger/witness.h"
#include "ddlgate/testing/ddlgate_process.h"
#include "ddlgate/testing/pg_server.h"
#include "ddlgate/testing/process.h"
#include "ddlgate/testing/signed_bundle.h"

namespace ddlgate::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace lg = ddlgate::ledger;

DDLGATE_SHARED_PG_SERVER();

constexpr const char* kOrigin = "test.example/witnessed-ledger";

class WitnessE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    make_signed_bundle(dir_.path(), fs::path(DDLGATE_SOURCE_DIR) / "tests/data/migrations/dbmate", "shop", {"witness"});
    auto cosigner = lg::Cosigner::load_pem(dir_.path() / "witness.key", "witness.test/w1");
    ASSERT_TRUE(cosigner) << cosigner.error().to_string();
    vkey_ = lg::format_vkey(cosigner->verifier_key());
  }

  std::unique_ptr<DdlgateProcess> start_witness() {
    return std::make_unique<DdlgateProcess>(std::vector<std::string>{
        "witness", "serve", "--listen", "127.0.0.1:0", "--key", (dir_.path() / "witness.key").string(), "--name",
        "witness.test/w1", "--state", (dir_.path() / "witness-state").string(), "--log",
        std::string(kOrigin) + "=" + (dir_.path() / "ledger.pub").string()});
  }

  // A proxy recording every statement into ledger_dir, pushing to the witness when there is one.
  std::unique_ptr<DdlgateProcess> start_proxy(const fs::path& ledger_dir, const DdlgateProcess* witness,
                                              const std::string& name) {
    std::string toml =
        "[enforcement]\nmode = \"enforce\"\nsuperusers = [\"postgres\"]\nrecord_all_statements = true\n"
        "[ledger]\ndirectory = \"" + ledger_dir.string() + "\"\ncheckpoint_key_file = \"" +
        (dir_.path() / "ledger.key").string() + "\"\norigin = \"" + kOrigin +
        "\"\ncheckpoint_every_records = 5\ncheckpoint_interval_ms = 100\nwitness_retry_ms = 100\n";
    if (witness) {
      toml += "[[ledger.witnesses]]\nurl = \"http://" + witness->endpoints().at(0) + "\"\nvkey = \"" + vkey_ +
              "\"\ntimeout_ms = 2000\n";
    }
    toml += "[bundles]\nregistry_dir = \"" + (dir_.path() / "registry").string() +
            "\"\nenvironment = \"production\"\ntrust_file = \"" + (dir_.path() / "trust.toml").string() + "\"\n";
    write_file(dir_.path() / (name + ".toml"), toml);
    return DdlgateProcess::serve(SharedPgServer::get(), {"--config", (dir_.path() / (name + ".toml")).string()});
  }

  static void run_statements(const DdlgateProcess& proxy, int n) {
    auto c = pg_connect(proxy.conninfo());
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    for (int i = 0; i < n; ++i) {
      std::string err;
      ASSERT_TRUE(pg_query_value(c.get(), "select " + std::to_string(i), &err)) << err;
    }
  }

  CommandResult verify(const fs::path& ledger_dir, int quorum) {
    return run_command({ddlgate_binary().string(), "ledger", "verify", ledger_dir.string(), "--pubkey",
                        (dir_.path() / "ledger.pub").string(), "--origin", kOrigin, "--witness-key", vkey_,
                        "--witness-quorum", std::to_string(quorum)});
  }

  // Waits until the latest checkpoint of ledger_dir is cosigned by the witness (or the time is up).
  bool latest_cosigned(const fs::path& ledger_dir, std::chrono::seconds within) {
    auto key = *lg::parse_vkey(vkey_);
    const auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
      auto cps = lg::read_cosignatures(ledger_dir / "checkpoints");
      auto cosigned = lg::read_cosignatures(ledger_dir / "cosignatures");
      if (cps && cosigned && !cps->empty() && lg::count_cosigners(cps->back(), *cosigned, {key}) == 1) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  TempDir dir_{"ddlgate-witness"};
  std::string vkey_;
};

TEST_F(WitnessE2E, CosignsARealDdlgatesCheckpointsAndVerifyCountsThem) {
  auto witness = start_witness();
  const fs::path ledger = dir_.path() / "ledger";
  {
    auto proxy = start_proxy(ledger, witness.get(), "a");
    run_statements(*proxy, 30);
    // Checkpoints every 5 records: several pushes, each from the size cosigned before.
    ASSERT_TRUE(latest_cosigned(ledger, 20s)) << proxy->stderr_log() << witness->stderr_log();
    auto live = verify(ledger, 1);
    // The ledger may have moved on meanwhile (its own records); a failure must be the quorum's.
    if (live.exit_code != 0) {
      EXPECT_NE(live.stderr_text.find("fewer than the quorum"), std::string::npos) << live.stderr_text;
    }
    EXPECT_EQ(proxy->terminate(20s), 0);
    // The shutdown checkpoint is pushed after the ledger closes.
    EXPECT_TRUE(latest_cosigned(ledger, 1s)) << proxy->stderr_log();
  }
  auto ok = verify(ledger, 1);
  EXPECT_EQ(ok.exit_code, 0) << ok.stderr_text << ok.stdout_text;
  EXPECT_NE(ok.stdout_text.find("witness quorum"), std::string::npos) << ok.stdout_text;
  // Each cosignature kept verifies on its own against the witness key (and the log's signature
  // stays the first line): an auditor needs only the file and the two keys.
  auto cosigned = lg::read_cosignatures(ledger / "cosignatures");
  ASSERT_TRUE(cosigned);
  ASSERT_GE(cosigned->size(), 2u);
  auto log_key = *lg::NoteVerifier::load_pem(dir_.path() / "ledger.pub");
  for (const auto& cp : *cosigned) {
    EXPECT_TRUE(lg::verify_checkpoint(cp, log_key));
    EXPECT_EQ(lg::count_cosigners(cp, {*lg::parse_vkey(vkey_)}), 1u);
  }
  // Quorum 2 of one key is a usage error; of a witness that never cosigned it fails.
  EXPECT_EQ(verify(ledger, 2).exit_code, 2);

  // The same ledger run on without the witness: its newest checkpoint is cosigned by no one.
  {
    auto proxy = start_proxy(ledger, nullptr, "b");
    run_statements(*proxy, 10);
    EXPECT_EQ(proxy->terminate(20s), 0);
  }
  auto not_cosigned = verify(ledger, 1);
  EXPECT_EQ(not_cosigned.exit_code, 1) << not_cosigned.stdout_text;
  EXPECT_NE(not_cosigned.stderr_text.find("has 0 valid witness cosignature(s)"), std::string::npos) << not_cosigned.stderr_text;
  // One line says why.
  EXPECT_EQ(std::count(not_cosigned.stderr_text.begin(), not_cosigned.stderr_text.end(), '\n'), 1) << not_cosigned.stderr_text;
  EXPECT_EQ(verify(ledger, 0).exit_code, 0);

  // A restarted witness pushes on from where it was (its own state, not size 0): the ledger
  // run with the witness again gets its latest checkpoint cosigned.
  witness->terminate(10s);
  auto again = start_witness();
  {
    auto proxy = start_proxy(ledger, again.get(), "c");
    run_statements(*proxy, 10);
    EXPECT_TRUE(latest_cosigned(ledger, 20s)) << proxy->stderr_log() << again->stderr_log();
    EXPECT_EQ(proxy->terminate(20s), 0);
  }
  EXPECT_EQ(verify(ledger, 1).exit_code, 0);
}

TEST_F(WitnessE2E, RefusesAForkedLedgerAndTheProxyLogsIt) {
  auto witness = start_witness();
  const fs::path ledger = dir_.path() / "ledger";
  {
    auto proxy = start_proxy(ledger, witness.get(), "a");
    run_statements(*proxy, 10);
    EXPECT_EQ(proxy->terminate(20s), 0);
  }
  ASSERT_TRUE(latest_cosigned(ledger, 1s));
  // A fork: the same origin and key, another history (a fresh directory), longer than what the
  // witness cosigned, so that the client must prove consistency from the witness's size.
  const fs::path fork = dir_.path() / "fork";
  auto proxy = start_proxy(fork, witness.get(), "fork");
  run_statements(*proxy, 40);
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < until && proxy->stderr_log().find("(422)") == std::string::npos) {
    std::this_thread::sleep_for(50ms);
  }
  const std::string log = proxy->stderr_log();
  EXPECT_NE(log.find("refused the consistency proof"), std::string::npos) << log;
  // The witness said 409 first (its size is not 0), and the client went on from its size.
  EXPECT_NE(log.find("pushing from there"), std::string::npos) << log;
  EXPECT_NE(witness->stderr_log().find("refused " + std::string(kOrigin)), std::string::npos) << witness->stderr_log();
  // Nothing of the fork is cosigned; the traffic was never held up.
  auto cosigned = lg::read_cosignatures(fork / "cosignatures");
  ASSERT_TRUE(cosigned);
  EXPECT_TRUE(cosigned->empty());
  run_statements(*proxy, 3);
  EXPECT_EQ(proxy->terminate(20s), 0);
  EXPECT_EQ(verify(fork, 1).exit_code, 1);
  // The witness's state is still the original ledger's: it cosigns that one's next checkpoint.
  {
    auto original = start_proxy(ledger, witness.get(), "a2");
    run_statements(*original, 5);
    EXPECT_TRUE(latest_cosigned(ledger, 20s)) << original->stderr_log() << witness->stderr_log();
    EXPECT_EQ(original->terminate(20s), 0);
  }
}

TEST_F(WitnessE2E, AWitnessThatIsDownDelaysNoClient) {
  // A witness URL where nothing listens: statements flow, failures are logged and retried.
  const fs::path ledger = dir_.path() / "ledger";
  std::uint16_t port = pick_free_port();
  std::string toml =
      "[enforcement]\nmode = \"enforce\"\nsuperusers = [\"postgres\"]\nrecord_all_statements = true\n"
      "[ledger]\ndirectory = \"" + ledger.string() + "\"\ncheckpoint_key_file = \"" +
      (dir_.path() / "ledger.key").string() + "\"\norigin = \"" + kOrigin +
      "\"\ncheckpoint_every_records = 5\ncheckpoint_interval_ms = 100\nwitness_retry_ms = 50\n"
      "[[ledger.witnesses]]\nurl = \"http://127.0.0.1:" + std::to_string(port) + "\"\nvkey = \"" + vkey_ +
      "\"\ntimeout_ms = 500\n[admin]\nlisten = \"127.0.0.1:0\"\n[bundles]\nregistry_dir = \"" + (dir_.path() / "registry").string() +
      "\"\nenvironment = \"production\"\ntrust_file = \"" + (dir_.path() / "trust.toml").string() + "\"\n";
  write_file(dir_.path() / "down.toml", toml);
  auto proxy = DdlgateProcess::serve(SharedPgServer::get(), {"--config", (dir_.path() / "down.toml").string()});
  run_statements(*proxy, 50);
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until && proxy->stderr_log().find("cannot connect") == std::string::npos) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_NE(proxy->stderr_log().find("not cosigned: cannot connect"), std::string::npos) << proxy->stderr_log();
  // The failure is a metric too (kind="unreachable"), and no cosignature is counted.
  std::string admin;
  for (const auto& e : proxy->endpoints()) {
    if (e.rfind("http://", 0) == 0) admin = e;
  }
  ASSERT_FALSE(admin.empty());
  auto metrics = run_command({"curl", "-s", "-S", "--max-time", "10", admin + "/metrics"});
  ASSERT_EQ(metrics.exit_code, 0) << metrics.stderr_text;
  EXPECT_NE(metrics.stdout_text.find("ddlgate_witness_cosignatures_total 0\n"), std::string::npos) << metrics.stdout_text;
  EXPECT_NE(metrics.stdout_text.find("ddlgate_witness_failures_total{kind=\"refused\"} 0\n"), std::string::npos);
  auto unreachable = metrics.stdout_text.find("ddlgate_witness_failures_total{kind=\"unreachable\"} ");
  ASSERT_NE(unreachable, std::string::npos) << metrics.stdout_text;
  EXPECT_NE(metrics.stdout_text[unreachable + std::string("ddlgate_witness_failures_total{kind=\"unreachable\"} ").size()], '0');
  EXPECT_EQ(proxy->terminate(20s), 0);
  EXPECT_EQ(verify(ledger, 0).exit_code, 0);
  EXPECT_EQ(verify(ledger, 1).exit_code, 1);
}

TEST_F(WitnessE2E, ServeAnswersWhatIsNotACosignableCheckpointWithTheSpecsStatus) {
  auto witness = start_witness();
  const std::string url = "http://" + witness->endpoints().at(0);
  auto post = [&](const std::string& body, const std::string& path = "/add-checkpoint") {
    write_file(dir_.path() / "body", body);
    auto r = run_command({"curl", "-s", "-S", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", "--data-binary",
                          "@" + (dir_.path() / "body").string(), url + path});
    EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
    return r.stdout_text.substr(r.stdout_text.rfind('\n') + 1);
  };
  // A checkpoint really signed by the log's key, and one by another key under the same origin.
  auto log = *lg::NoteSigner::load_pem(dir_.path() / "ledger.key", kOrigin);
  auto other = *lg::NoteSigner::load_pem(dir_.path() / "registry.key", kOrigin);
  lg::Hash root{};
  root[0] = 1;
  const std::string note = log.sign(lg::checkpoint_body(kOrigin, 3, root));
  EXPECT_EQ(post("old 0\n\n" + note), "200");
  EXPECT_EQ(post("old 0\n\n" + note), "409");  // the witness's size is 3 now
  EXPECT_EQ(post("old 3\n\n" + note), "200");  // same size, same root
  EXPECT_EQ(post("old 0\n\n" + other.sign(lg::checkpoint_body(kOrigin, 4, root))), "403");
  EXPECT_EQ(post("old 0\n\n" + log.sign(lg::checkpoint_body("elsewhere.example/log", 4, root))), "404");
  EXPECT_EQ(post("old 5\n\n" + note), "400");  // old size above the checkpoint's
  EXPECT_EQ(post("not a request"), "400");
  EXPECT_EQ(post(std::string(100 * 1024, 'a')), "413");
  EXPECT_EQ(post("old 0\n\n" + note, "/other"), "404");
  auto get = run_command({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url + "/add-checkpoint"});
  EXPECT_EQ(get.stdout_text, "405");
  // A restart keeps the state: old 0 is a conflict still, and the 409 body is the size.
  EXPECT_EQ(witness->terminate(10s), 0);
  witness = start_witness();
  write_file(dir_.path() / "body", "old 0\n\n" + note);
  auto r = run_command({"curl", "-s", "-D", "-", "--data-binary", "@" + (dir_.path() / "body").string(),
                        "http://" + witness->endpoints().at(0) + "/add-checkpoint"});
  EXPECT_NE(r.stdout_text.find(" 409 "), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("Content-Type: text/x.tlog.size"), std::string::npos) << r.stdout_text;
  EXPECT_EQ(r.stdout_text.substr(r.stdout_text.size() - 2), "3\n");
  EXPECT_EQ(witness->terminate(10s), 0);
}

}  // namespace
}  // namespace ddlgate::testing
