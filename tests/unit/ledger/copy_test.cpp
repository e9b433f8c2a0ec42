// The ledger against its checkpoint copy at start (issue 27 item 2): a rolled-back or forked
// ledger is held failed (nothing written or signed) until `accept-rollback` records what was
// accepted; a torn note in the copy is repaired only when it provably is one.
#include <gtest/gtest.h>

#include "ddlgate/ledger/ledger.h"
#include "ddlgate/ledger/segments.h"
#include "ddlgate/ledger/verify.h"
#include "test_util.h"

namespace ddlgate::ledger {
namespace {

namespace fs = std::filesystem;

class Copy : public ::testing::Test {
 protected:
  test::TempDir tmp;
  test::KeyFiles keys = test::make_keys(tmp.path() / "cp");
  fs::path dir = tmp.path() / "ledger";
  fs::path copy_dir = tmp.path() / "shipped";

  LedgerConfig config() const {
    LedgerConfig c;
    c.directory = dir;
    c.checkpoint_key_file = keys.private_key;
    c.origin = "test.example/ledger";
    c.checkpoint_every_records = 4;
    c.checkpoint_copy_directory = copy_dir;
    return c;
  }
  NoteVerifier verifier() const { return *NoteVerifier::load_pem(keys.public_key); }

  static Record rec(int i) { return recovery_performed("f", static_cast<std::uint64_t>(i), 0, "test record"); }

  void append(LedgerConfig c, int n, int base = 0) {
    auto l = Ledger::open(c);
    ASSERT_TRUE(l) << l.error().to_string();
    ASSERT_FALSE((*l)->failure()) << (*l)->failure()->to_string();
    for (int i = 0; i < n; ++i) ASSERT_TRUE((*l)->append_durable(rec(base + i)));
    ASSERT_TRUE((*l)->close());
  }

  // The ledger directory as it is now, to restore later (a backup).
  fs::path snapshot(const std::string& name) {
    auto snap = tmp.path() / name;
    fs::copy(dir, snap, fs::copy_options::recursive);
    return snap;
  }
  void restore(const fs::path& snap) {
    fs::remove_all(dir);
    fs::copy(snap, dir, fs::copy_options::recursive);
  }
  std::string files_of_ledger() {
    std::string all;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_regular_file() && e.path().filename() != "LOCK") all += e.path().filename().string() + test::read_all(e.path());
    }
    return all;
  }
  VerifyReport verify_with_copy() {
    VerifyOptions o;
    o.extra_checkpoints = copy_dir / kCheckpointsFileName;
    return verify_directory(dir, verifier(), o);
  }
};

TEST_F(Copy, ARolledBackLedgerIsHeldFailedWritesNothingAndVerifyNamesIt) {
  append(config(), 5);
  auto backup = snapshot("backup");
  append(config(), 6, 100);
  restore(backup);  // the segments and the checkpoints file go back together; the copy does not
  const std::string before = files_of_ledger();
  const std::string copy_before = test::read_all(copy_dir / kCheckpointsFileName);
  for (int start = 0; start < 2; ++start) {  // and it stays so over restarts
    auto l = Ledger::open(config());
    ASSERT_TRUE(l) << "held, not refused: " << l.error().to_string();
    ASSERT_TRUE((*l)->copy_mismatch());
    EXPECT_EQ((*l)->copy_mismatch()->kind, "rollback");
    ASSERT_TRUE((*l)->failure());
    EXPECT_NE((*l)->failure()->reason.find("accept-rollback"), std::string::npos) << (*l)->failure()->reason;
    auto r = (*l)->append_durable(rec(7));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().reason.find("rolled back"), std::string::npos) << r.error().reason;
    (*l)->close();
  }
  EXPECT_EQ(files_of_ledger(), before) << "a held ledger must write and sign nothing";
  EXPECT_EQ(test::read_all(copy_dir / kCheckpointsFileName), copy_before);
  auto rep = verify_with_copy();
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.problem->reason.find("rollback"), std::string::npos) << rep.problem->to_string();
}

TEST_F(Copy, AcceptRollbackRecordsWhatWasAcceptedAndByWhomThenTheLedgerStarts) {
  append(config(), 5);
  auto backup = snapshot("backup");
  append(config(), 6, 100);
  const std::string superseded = test::read_all(copy_dir / kCheckpointsFileName);
  restore(backup);
  std::uint64_t held_size = 0;
  {
    auto l = Ledger::open(config());
    ASSERT_TRUE(l);
    ASSERT_TRUE((*l)->copy_mismatch());
    held_size = (*l)->copy_mismatch()->ledger_size;
  }
  auto a = accept_rollback(config(), "alice", "INC-42 restored from backup");
  ASSERT_TRUE(a) << a.error().to_string();
  EXPECT_EQ(a->kind, "rollback");
  EXPECT_EQ(a->ledger_size, held_size);
  EXPECT_GT(a->copy_size, held_size);
  EXPECT_EQ(test::read_all(a->copy_file), superseded) << "the superseded copy is kept, not destroyed";
  // Recorded in the ledger, sealed and checkpointed.
  int seen = 0;
  ASSERT_TRUE(read_records(dir, 0, [&](const ParsedRecord& r) {
    if (r.type != RecordType::rollback_accepted) return;
    ++seen;
    EXPECT_EQ(r.fields.value("by", ""), "alice");
    EXPECT_EQ(r.fields.value("reason", ""), "INC-42 restored from backup");
    EXPECT_EQ(r.fields.value("kind", ""), "rollback");
    EXPECT_EQ(r.fields.value("copy_size", std::uint64_t{0}), a->copy_size);
    EXPECT_EQ(r.fields.value("ledger_size", std::uint64_t{0}), held_size);
    EXPECT_EQ(r.fields.value("ledger_root", "").size(), 64u);
    EXPECT_EQ(r.fields.value("copy_sha256", ""), "sha256:" + to_hex(sha256(superseded)));
  }, nullptr));
  EXPECT_EQ(seen, 1);
  EXPECT_TRUE(verify_with_copy().ok()) << verify_with_copy().problem->to_string();
  // ddlgate now starts normally and keeps the copy in step.
  append(config(), 3, 200);
  EXPECT_EQ(test::read_all(copy_dir / kCheckpointsFileName), test::read_all(dir / kCheckpointsFileName));
  EXPECT_TRUE(verify_with_copy().ok());
  // Nothing left to accept.
  auto again = accept_rollback(config(), "alice", "again");
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().reason.find("agrees"), std::string::npos) << again.error().to_string();
}

TEST_F(Copy, AForkIsHeldFailed) {
  append(config(), 5);
  auto backup = snapshot("backup");
  append(config(), 6, 100);
  restore(backup);
  // An older ddlgate (no copy compared) went on from the restored ledger: other records, re-signed.
  auto no_copy = config();
  no_copy.checkpoint_copy_directory.clear();
  append(no_copy, 9, 300);
  auto l = Ledger::open(config());
  ASSERT_TRUE(l) << l.error().to_string();
  ASSERT_TRUE((*l)->copy_mismatch());
  EXPECT_EQ((*l)->copy_mismatch()->kind, "fork") << (*l)->copy_mismatch()->detail;
  EXPECT_TRUE((*l)->failure());
  (*l)->close();
  auto rep = verify_with_copy();
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.problem->reason.find("fork"), std::string::npos) << rep.problem->to_string();
}

TEST_F(Copy, ATornLastNoteOfTheCopyIsRepairedAndKept) {
  append(config(), 9);
  auto copy = copy_dir / kCheckpointsFileName;
  auto notes = parse_checkpoints(test::read_all(copy));
  ASSERT_TRUE(notes);
  ASSERT_GE(notes->size(), 2u);
  // The host died while the last note was being appended to the copy.
  std::string whole;
  for (std::size_t i = 0; i + 1 < notes->size(); ++i) whole += (*notes)[i].text;
  const std::string torn = notes->back().text.substr(0, notes->back().text.size() - 20);
  test::write_all_file(copy, whole + torn);
  EXPECT_FALSE(verify_with_copy().ok());
  auto l = Ledger::open(config());
  ASSERT_TRUE(l) << l.error().to_string();
  EXPECT_FALSE((*l)->copy_mismatch()) << (*l)->copy_mismatch()->detail;
  EXPECT_FALSE((*l)->failure());
  ASSERT_EQ((*l)->recovery_actions().size(), 1u);
  EXPECT_EQ(test::read_all((*l)->recovery_actions()[0].quarantine), torn);
  ASSERT_TRUE((*l)->append_durable(rec(50)));
  ASSERT_TRUE((*l)->close());
  EXPECT_TRUE(verify_with_copy().ok()) << verify_with_copy().problem->to_string();
}

TEST_F(Copy, DamageInTheCopyThatIsNoTornNoteIsAMismatchAndNotRepaired) {
  append(config(), 9);
  auto copy = copy_dir / kCheckpointsFileName;
  auto text = test::read_all(copy);
  // A short tail that is no prefix of the ledger's next note (there is none: the copy is whole).
  test::write_all_file(copy, text + "test.example/ledger\n99\n");
  auto l = Ledger::open(config());
  ASSERT_TRUE(l) << l.error().to_string();
  ASSERT_TRUE((*l)->copy_mismatch());
  EXPECT_EQ((*l)->copy_mismatch()->kind, "damaged_copy");
  EXPECT_TRUE((*l)->failure());
  EXPECT_TRUE((*l)->recovery_actions().empty());
  (*l)->close();
  EXPECT_EQ(test::read_all(copy), text + "test.example/ledger\n99\n");
}

TEST_F(Copy, ACopySignedByAnotherKeyIsAMismatch) {
  append(config(), 5);
  auto other = test::make_keys(tmp.path() / "other");
  auto foreign_dir = tmp.path() / "foreign";
  auto c = config();
  c.directory = foreign_dir;
  c.checkpoint_key_file = other.private_key;
  c.checkpoint_copy_directory = tmp.path() / "foreign-copy";
  append(c, 5);
  fs::copy_file(foreign_dir / kCheckpointsFileName, copy_dir / kCheckpointsFileName,
                fs::copy_options::overwrite_existing);
  auto l = Ledger::open(config());
  ASSERT_TRUE(l) << l.error().to_string();
  ASSERT_TRUE((*l)->copy_mismatch());
  EXPECT_EQ((*l)->copy_mismatch()->kind, "foreign_copy");
}

}  // namespace
}  // namespace ddlgate::ledger
