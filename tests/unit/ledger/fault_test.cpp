// Injected I/O failures on real files: the ledger must fail closed (every later append
// fails), never retry an fsync, and recover on a healthy restart with every acknowledged
// record intact.
#include <gtest/gtest.h>

#include <set>

#include "ddlgate/ledger/ledger.h"
#include "ddlgate/ledger/segments.h"
#include "ddlgate/ledger/verify.h"
#include "test_util.h"

namespace ddlgate::ledger {
namespace {

class Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_ = test::make_keys(tmp_.path() / "cp");
    config_.directory = tmp_.path() / "ledger";
    config_.checkpoint_key_file = keys_.private_key;
    config_.origin = "test.example/ledger";
    config_.checkpoint_every_records = 1000;
    // The origin file is made at first start; made here, so that the injected faults count
    // only the ledger's own writes and syncs.
    std::filesystem::create_directories(config_.directory);
    test::write_all_file(config_.directory / kOriginFileName, config_.origin + "\n");
  }

  // Appends until one fails; returns the acknowledged sequence numbers.
  std::set<std::uint64_t> run_until_failure(const std::shared_ptr<test::FaultyFileSystem>& fs) {
    std::set<std::uint64_t> acked;
    auto l = Ledger::open(config_, fs);
    EXPECT_TRUE(l) << l.error().to_string();
    if (!l) return acked;
    bool failed = false;
    for (int i = 0; i < 50; ++i) {
      auto r = (*l)->append_durable(session_closed("s" + std::to_string(i), "x"));
      if (r) {
        EXPECT_FALSE(failed) << "an append succeeded after the ledger failed";
        acked.insert(*r);
      } else {
        failed = true;
        EXPECT_NE(r.error().reason.find("ledger failed"), std::string::npos) << r.error().to_string();
      }
    }
    EXPECT_TRUE(failed);
    EXPECT_TRUE((*l)->failure().has_value());
    int syncs = fs->syncs.load();
    EXPECT_FALSE((*l)->append_durable(session_closed("late", "x")));
    EXPECT_EQ(fs->syncs.load(), syncs) << "a failed ledger must not touch the disk again";
    EXPECT_FALSE((*l)->close());  // close reports the failure
    return acked;
  }

  // Restart on the real file system: recovery succeeds and every acknowledged record is there.
  void restart_and_check(const std::set<std::uint64_t>& acked) {
    {
      auto l = Ledger::open(config_);
      ASSERT_TRUE(l) << l.error().to_string();
      ASSERT_TRUE((*l)->append_durable(session_opened({"after", "u", "d", "a", "p"})));
    }
    std::set<std::uint64_t> present;
    ASSERT_TRUE(read_records(config_.directory, 0, [&](const ParsedRecord& r) { present.insert(r.seq); }, nullptr));
    for (auto s : acked) EXPECT_TRUE(present.count(s)) << "acknowledged record " << s << " lost";
    auto rep = verify_directory(config_.directory, *NoteVerifier::load_pem(keys_.public_key));
    EXPECT_TRUE(rep.ok()) << rep.problem->to_string();
  }

  test::TempDir tmp_;
  test::KeyFiles keys_;
  LedgerConfig config_;
};

TEST_F(Faults, WriteEioFailsClosed) {
  auto fs = std::make_shared<test::FaultyFileSystem>();
  fs->fail_write_after = 10;
  auto acked = run_until_failure(fs);
  EXPECT_EQ(acked.size(), 10u);
  restart_and_check(acked);
}

TEST_F(Faults, WriteEnospcFailsClosed) {
  auto fs = std::make_shared<test::FaultyFileSystem>();
  fs->fail_write_after = 5;
  fs->write_error = std::make_error_code(std::errc::no_space_on_device);
  auto acked = run_until_failure(fs);
  EXPECT_EQ(acked.size(), 5u);
  restart_and_check(acked);
}

TEST_F(Faults, ShortWriteThenFullDiskLeavesATornTailThatRecoveryCuts) {
  auto fs = std::make_shared<test::FaultyFileSystem>();
  fs->short_write_after = 7;
  auto acked = run_until_failure(fs);
  EXPECT_EQ(acked.size(), 7u);
  {
    auto l = Ledger::open(config_);
    ASSERT_TRUE(l) << l.error().to_string();
    ASSERT_EQ((*l)->recovery_actions().size(), 1u);
    EXPECT_NE((*l)->recovery_actions()[0].reason.find("torn tail cut"), std::string::npos);
  }
  restart_and_check(acked);
}

TEST_F(Faults, FailedFdatasyncIsNeverRetried) {
  auto fs = std::make_shared<test::FaultyFileSystem>();
  fs->fail_sync_after = 3;
  auto acked = run_until_failure(fs);
  EXPECT_EQ(acked.size(), 3u);
  restart_and_check(acked);
}

TEST_F(Faults, FailedCheckpointWriteFailsClosed) {
  config_.checkpoint_every_records = 4;
  auto fs = std::make_shared<test::FaultyFileSystem>();
  // Writes: 4 record batches, then the checkpoint note fails.
  fs->fail_write_after = 4;
  auto acked = run_until_failure(fs);
  EXPECT_EQ(acked.size(), 4u);
  restart_and_check(acked);
}

TEST_F(Faults, FailedDirectorySyncOnSegmentCreationFailsClosed) {
  config_.segment_max_bytes = 500;  // a new segment every few records
  auto fs = std::make_shared<test::FaultyFileSystem>();
  // At open: segment 0, the checkpoints file; then the first roll fails.
  fs->fail_dir_sync_after = 2;
  auto acked = run_until_failure(fs);
  EXPECT_GT(acked.size(), 0u);
  restart_and_check(acked);
}

TEST_F(Faults, StalledDiskBoundsTheQueueAndRefusesBeyondIt) {
  config_.max_queued_bytes = 20000;
  auto fs = std::make_shared<test::FaultyFileSystem>();
  auto l = Ledger::open(config_, fs);
  ASSERT_TRUE(l) << l.error().to_string();
  ASSERT_TRUE((*l)->append_durable(session_closed("first", "x")));
  fs->stall_syncs = true;
  std::atomic<int> ok{0}, refused{0};
  for (int i = 0; i < 1000; ++i) {
    (*l)->append(session_closed("s" + std::to_string(i), std::string(100, 'x')), [&](const AppendResult& r) {
      if (r) {
        ++ok;
      } else {
        EXPECT_NE(r.error().reason.find("queue full"), std::string::npos) << r.error().to_string();
        ++refused;
      }
    });
  }
  EXPECT_GT(refused.load(), 500);  // about 20000 / 180 bytes fit; the rest is refused at once
  EXPECT_FALSE((*l)->failure());   // a full queue refuses appends; it does not fail the ledger
  fs->stall_syncs = false;
  for (int i = 0; i < 5000 && ok.load() + refused.load() < 1000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(ok.load() + refused.load(), 1000);
  auto after = (*l)->append_durable(session_closed("after", "x"));
  EXPECT_TRUE(after) << after.error().to_string();
}

TEST_F(Faults, BadOriginOrMissingKeyRefusesToOpen) {
  std::filesystem::remove(config_.directory / kOriginFileName);
  config_.origin = "has space";
  auto l = Ledger::open(config_);
  ASSERT_FALSE(l);
  EXPECT_NE(l.error().reason.find("origin"), std::string::npos) << l.error().to_string();
  config_.origin = "ok.example/log";
  config_.checkpoint_key_file = tmp_.path() / "missing.key";
  l = Ledger::open(config_);
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().file, config_.checkpoint_key_file.string());
}

}  // namespace
}  // namespace ddlgate::ledger

namespace ddlgate::ledger {
namespace {

// What /metrics reads: the writer's counters, and one on_failure call when the ledger fails.
TEST_F(Faults, StatsCountDurableRecordsAndTheFailureIsReportedOnce) {
  auto fs = std::make_shared<test::FaultyFileSystem>();
  fs->fail_write_after = 5;
  std::atomic<int> failures{0};
  std::string reason;
  config_.on_failure = [&](const Error& e) {
    reason = e.to_string();
    failures.fetch_add(1);
  };
  auto l = Ledger::open(config_, fs);
  ASSERT_TRUE(l) << l.error().to_string();
  for (int i = 0; i < 8; ++i) (void)(*l)->append_durable(session_closed("s" + std::to_string(i), "x"));
  const LedgerStats& st = (*l)->stats();
  EXPECT_EQ(st.records_durable.load(), 5u);
  EXPECT_EQ(st.records_failed.load(), 3u);
  std::uint64_t batches = 0;
  for (const auto& b : st.batch_records.buckets) batches += b.load();
  EXPECT_EQ(batches, 5u);  // one record per batch: each append waited for the previous
  std::uint64_t syncs = 0;
  for (const auto& b : st.fsync_us.buckets) syncs += b.load();
  EXPECT_EQ(syncs, 5u);
  EXPECT_EQ(failures.load(), 1);
  EXPECT_NE(reason.find("write failed"), std::string::npos) << reason;
}

}  // namespace
}  // namespace ddlgate::ledger
