// Issue 27: no unsigned record on disk, pinned origins, and verify on a live ledger.
// Each test here failed on the ledger before batch seals (see docs/ledger.md, "Batch seals").
#include <gtest/gtest.h>

#include <atomic>
#include <sstream>
#include <thread>

#include "ddlgate/ledger/frame.h"
#include "ddlgate/ledger/ledger.h"
#include "ddlgate/ledger/segments.h"
#include "ddlgate/ledger/verify.h"
#include "test_util.h"

namespace ddlgate::ledger {
namespace {

class Signed : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_ = test::make_keys(tmp_.path() / "cp");
    config_.directory = tmp_.path() / "ledger";
    config_.checkpoint_key_file = keys_.private_key;
    config_.origin = "test.example/ledger";
    config_.checkpoint_every_records = 3;
  }

  // Appends n records (one per batch) and copies the directory while the ledger is still open:
  // the image a crash (or a kill -9) leaves, without the shutdown checkpoint. Returns the copy.
  std::filesystem::path crash_image(int n, const std::string& name = "image") {
    auto l = Ledger::open(config_);
    EXPECT_TRUE(l) << l.error().to_string();
    for (int i = 0; i < n; ++i) {
      EXPECT_TRUE((*l)->append_durable(session_closed("s" + std::to_string(i), "client closed")));
    }
    auto image = tmp_.path() / name;
    std::filesystem::copy(config_.directory, image, std::filesystem::copy_options::recursive);
    std::filesystem::remove(image / "LOCK");
    EXPECT_TRUE((*l)->close());
    return image;
  }

  VerifyReport verify(const std::filesystem::path& dir, const VerifyOptions& o = {}) {
    if (!verifier_) verifier_ = *NoteVerifier::load_pem(keys_.public_key);
    return verify_directory(dir, *verifier_, o);
  }

  // Number of records in dir (whatever their signatures).
  static std::uint64_t records_in(const std::filesystem::path& dir) {
    auto scan = scan_segments(*posix_file_system(), dir, [](const ScannedRecord&) { return std::optional<Error>(); });
    return scan.records;
  }

  // A well-formed record frame (canonical payload, valid CRC, batch end) appended to dir's
  // last segment: what someone without the key can forge.
  static void append_forged(const std::filesystem::path& dir) {
    std::uint64_t seq = records_in(dir);
    std::string payload = serialize_payload(session_closed("forged", "client closed"), seq,
                                            format_time(std::chrono::system_clock::now()));
    std::string frame;
    append_frame(frame, seq, payload, true);
    auto segs = list_segments(dir);
    auto path = segs->back().path;
    test::write_all_file(path, test::read_all(path) + frame);
  }

  test::TempDir tmp_;
  test::KeyFiles keys_;
  LedgerConfig config_;
  std::optional<NoteVerifier> verifier_;
};

TEST_F(Signed, CrashImageIsCoveredBySignatures) {
  auto image = crash_image(5);
  auto rep = verify(image);
  ASSERT_TRUE(rep.ok()) << rep.problem->to_string();
  EXPECT_EQ(rep.records, rep.covered);
}

TEST_F(Signed, AppendedForgedRecordFailsVerify) {
  auto image = crash_image(2);
  append_forged(image);
  auto rep = verify(image);
  ASSERT_FALSE(rep.ok()) << "a forged record with a valid CRC verified";
  EXPECT_NE(rep.problem->reason.find("no signature"), std::string::npos) << rep.problem->to_string();
}

TEST_F(Signed, AppendedForgedRecordAfterCleanCloseFailsVerify) {
  auto l = Ledger::open(config_);
  ASSERT_TRUE(l);
  ASSERT_TRUE((*l)->append_durable(session_closed("s", "client closed")));
  ASSERT_TRUE((*l)->close());
  append_forged(config_.directory);
  EXPECT_FALSE(verify(config_.directory).ok());
}

TEST_F(Signed, EditedRecordAboveTheLastPeriodicCheckpointFailsVerify) {
  auto image = crash_image(5);  // a periodic checkpoint at 3 records; records 3.. above it
  auto path = image / segment_name(0);
  std::string data = test::read_all(path);
  // Rewrite record 5 (the last session_closed) with its CRC fixed up: "s4" becomes "s9".
  std::string_view v(data);
  std::size_t pos = 0;
  std::string out;
  while (pos < data.size()) {
    FrameView f;
    ASSERT_EQ(decode_frame(v.substr(pos), f), FrameStatus::ok);
    std::string frame(v.substr(pos, f.size));
    std::string payload(f.payload);
    if (auto at = payload.find("\"s4\""); at != std::string::npos && frame.substr(0, 4) == "DGLR") {
      payload.replace(at, 4, "\"s9\"");
      frame.clear();
      append_frame(frame, f.seq, payload, f.batch_end);
    }
    out += frame;
    pos += f.size;
  }
  ASSERT_NE(out, data);
  test::write_all_file(path, out);
  auto rep = verify(image);
  ASSERT_FALSE(rep.ok()) << "an edited record above the last periodic checkpoint verified";
}

TEST_F(Signed, RecoveryRefusesToSignAnAppendedForgedRecord) {
  auto image = crash_image(2);
  append_forged(image);
  auto before = test::read_all(image / segment_name(0));
  LedgerConfig c = config_;
  c.directory = image;
  auto l = Ledger::open(c);
  ASSERT_FALSE(l) << "ddlgate started on a ledger holding a record no signature covers";
  EXPECT_NE(l.error().reason.find("no signature"), std::string::npos) << l.error().to_string();
  EXPECT_EQ(l.error().file, (image / segment_name(0)).string());
  EXPECT_GT(l.error().offset, 0);
  EXPECT_EQ(test::read_all(image / segment_name(0)), before);  // nothing signed, nothing cut
}

TEST_F(Signed, RemovedTailIsAnEarlierLedgerUnlessACopyRemembers) {
  config_.checkpoint_copy_directory = tmp_.path() / "copy";
  // 3 records and a periodic checkpoint, then a "break-glass session" of 3 records that only
  // the shutdown checkpoint (and the batch seals) cover.
  auto l = Ledger::open(config_);
  ASSERT_TRUE(l);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*l)->append_durable(session_closed("s" + std::to_string(i), "x")));
  // Let the checkpoint record be written (it goes into the batch after the checkpoint).
  while ((*l)->durable_size() < 4) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto cut_at = std::filesystem::file_size(config_.directory / segment_name(0));
  auto cp_cut_at = std::filesystem::file_size(config_.directory / kCheckpointsFileName);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE((*l)->append_durable(session_closed("bg" + std::to_string(i), "x")));
  ASSERT_TRUE((*l)->close());
  ASSERT_TRUE(verify(config_.directory).ok());
  // Remove the tail records, their seals and the shutdown checkpoint: an earlier, signed state.
  std::filesystem::resize_file(config_.directory / segment_name(0), cut_at);
  std::filesystem::resize_file(config_.directory / kCheckpointsFileName, cp_cut_at);
  auto rep = verify(config_.directory);
  EXPECT_TRUE(rep.ok()) << "truncation to an earlier signed state cannot be seen from the ledger alone";
  VerifyOptions o;
  o.extra_checkpoints = tmp_.path() / "copy" / kCheckpointsFileName;
  rep = verify(config_.directory, o);
  ASSERT_FALSE(rep.ok()) << "the copy of the checkpoints file remembers the removed tail";
}

TEST_F(Signed, RemovedRecordsUnderTheirSealFailVerify) {
  auto image = crash_image(4);
  auto path = image / segment_name(0);
  std::string data = test::read_all(path);
  // Drop the last record frame but keep what follows it (its seal, when there is one).
  std::string_view v(data);
  std::vector<std::pair<std::size_t, FrameView>> frames;
  for (std::size_t pos = 0; pos < data.size();) {
    FrameView f;
    ASSERT_EQ(decode_frame(v.substr(pos), f), FrameStatus::ok);
    frames.emplace_back(pos, f);
    pos += f.size;
  }
  std::size_t last_record = 0;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    if (data.compare(frames[i].first, 4, "DGLR") == 0) last_record = i;
  }
  auto [at, f] = frames[last_record];
  std::string cut = data.substr(0, at) + data.substr(at + f.size);
  test::write_all_file(path, cut);
  EXPECT_FALSE(verify(image).ok());
}

TEST_F(Signed, VerifyOnALiveLedgerReportsNoFalseRollback) {
  config_.checkpoint_every_records = 2;
  auto l = Ledger::open(config_);
  ASSERT_TRUE(l);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    // At most 20,000 records: each verify reads the whole ledger, so an unbounded writer
    // makes the loop below quadratic (minutes under ASan).
    for (int i = 0; !stop.load() && i < 5000; ++i) {
      // Several writers' worth: a few records per batch, checkpoints all the time.
      std::vector<std::future<AppendResult>> fs;
      for (int j = 0; j < 4; ++j) fs.push_back((*l)->append(session_closed("s" + std::to_string(i), "x")));
      for (auto& f : fs) ASSERT_TRUE(f.get());
    }
  });
  int runs = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (runs < 5 || (std::chrono::steady_clock::now() < until && runs < 50)) {
    auto rep = verify(config_.directory);
    ++runs;
    if (!rep.ok()) {
      stop = true;
      writer.join();
      FAIL() << "run " << runs << ": " << rep.problem->to_string();
    }
  }
  stop = true;
  writer.join();
  ASSERT_TRUE((*l)->close());
  EXPECT_TRUE(verify(config_.directory).ok());
}

TEST_F(Signed, ExportOfACrashImageProvesEveryRecordWithTheLastSeal) {
  auto image = crash_image(5);  // a checkpoint at 3; the rest covered by seals only
  std::ostringstream ss;
  ASSERT_TRUE(export_ledger(image, ExportFilter{}, ExportFormat::jsonl, ss));
  EXPECT_EQ(ss.str().find("\"proof\":null"), std::string::npos) << ss.str();
  auto path = tmp_.path() / "export.jsonl";
  test::write_all_file(path, ss.str());
  auto rep = verify_export(path, *NoteVerifier::load_pem(keys_.public_key), "test.example/ledger");
  ASSERT_TRUE(rep.ok()) << rep.problem->to_string();
  EXPECT_EQ(rep.covered, rep.records);
  EXPECT_EQ(rep.records, records_in(image));
  rep = verify_export(path, *NoteVerifier::load_pem(keys_.public_key), "other.example/ledger");
  EXPECT_FALSE(rep.ok());
}

TEST_F(Signed, EachNewLedgerMakesItsOwnOriginAndKeepsIt) {
  config_.origin.clear();
  config_.instance_name = "db1.example";
  auto other = config_;
  other.directory = tmp_.path() / "other";
  std::string a, b;
  {
    auto l = Ledger::open(config_);
    ASSERT_TRUE(l) << l.error().to_string();
    a = (*l)->origin();
    ASSERT_TRUE((*l)->append_durable(session_closed("s", "x")));
  }
  {
    auto l = Ledger::open(other);
    ASSERT_TRUE(l) << l.error().to_string();
    b = (*l)->origin();
  }
  EXPECT_EQ(a.rfind("db1.example/ddlgate/", 0), 0u) << a;
  EXPECT_NE(a, b) << "two installations got the same origin";
  EXPECT_EQ(test::read_all(config_.directory / kOriginFileName), a + "\n");
  {
    auto l = Ledger::open(config_);
    ASSERT_TRUE(l);
    EXPECT_EQ((*l)->origin(), a);
  }
  // A configured origin that differs from the ledger's is refused, not silently used.
  config_.origin = "elsewhere.example/ledger";
  auto refused = Ledger::open(config_);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().reason.find("origin"), std::string::npos) << refused.error().to_string();
}

TEST_F(Signed, ALedgerWithoutAnOriginFileKeepsTheOriginOfItsCheckpoints) {
  {
    auto l = Ledger::open(config_);  // origin test.example/ledger
    ASSERT_TRUE(l);
    ASSERT_TRUE((*l)->append_durable(session_closed("s", "x")));
  }
  std::filesystem::remove(config_.directory / kOriginFileName);  // as an older ddlgate left it
  config_.origin.clear();
  auto l = Ledger::open(config_);
  ASSERT_TRUE(l) << l.error().to_string();
  EXPECT_EQ((*l)->origin(), "test.example/ledger");
}

TEST_F(Signed, VerifyPinsTheOrigin) {
  auto image = crash_image(4);
  VerifyOptions o;
  o.origin = "test.example/ledger";
  auto rep = verify(image, o);
  ASSERT_TRUE(rep.ok()) << rep.problem->to_string();
  EXPECT_EQ(rep.origin, "test.example/ledger");
  o.origin = "other.example/ledger";
  rep = verify(image, o);
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.problem->reason.find("not the pinned other.example/ledger"), std::string::npos)
      << rep.problem->to_string();
}

TEST_F(Signed, NotesReSignedUnderAnotherOriginFailAPinnedVerify) {
  // The same key, another origin: a ledger written by a second installation that shares the key
  // (or notes re-signed by whoever holds it) verifies against the key alone, not against the pin.
  config_.origin = "copy.example/ledger";
  auto image = crash_image(4);
  EXPECT_TRUE(verify(image).ok());
  VerifyOptions o;
  o.origin = "test.example/ledger";
  auto rep = verify(image, o);
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.problem->reason.find("copy.example/ledger"), std::string::npos) << rep.problem->to_string();
}

TEST_F(Signed, ALedgerOfAnOlderDdlgateStillVerifiesAndIsContinued) {
  // Records framed by an older ddlgate (batch end on the last record, no seal), covered by a
  // checkpoint in the checkpoints file, as its clean shutdown left them.
  std::filesystem::create_directories(config_.directory);
  std::string segment;
  CompactTree tree;
  for (std::uint64_t i = 0; i < 3; ++i) {
    auto payload = serialize_payload(session_closed("old" + std::to_string(i), "x"), i, "2026-11-25T22:29:10.123456Z");
    append_frame(segment, i, payload, true);
    tree.append(leaf_hash(payload));
  }
  test::write_all_file(config_.directory / segment_name(0), segment);
  auto signer = NoteSigner::load_pem(keys_.private_key, config_.origin);
  ASSERT_TRUE(signer);
  test::write_all_file(config_.directory / kCheckpointsFileName,
                       signer->sign(checkpoint_body(config_.origin, 3, tree.root())));
  auto rep = verify(config_.directory);
  ASSERT_TRUE(rep.ok()) << rep.problem->to_string();
  EXPECT_EQ(rep.covered, 3u);
  EXPECT_EQ(rep.sealed, 0u);
  {
    auto l = Ledger::open(config_);
    ASSERT_TRUE(l) << l.error().to_string();
    ASSERT_TRUE((*l)->append_durable(session_closed("new", "x")));
  }
  rep = verify(config_.directory);
  ASSERT_TRUE(rep.ok()) << rep.problem->to_string();
  EXPECT_EQ(rep.records, 4u);
  EXPECT_EQ(rep.sealed, 4u);
  // An older ddlgate's records that no checkpoint covers (it stopped before its next one) are
  // not signed now: verify names them and the proxy does not start.
  append_forged(config_.directory);
  EXPECT_FALSE(verify(config_.directory).ok());
  EXPECT_FALSE(Ledger::open(config_));
}

TEST(CheckpointNote, RejectsAnEmptyExtensionLine) {
  // C2SP tlog-checkpoint: extension lines are non-empty.
  std::string root = base64_encode(std::string(32, '\0'));
  std::string sig = "\xE2\x80\x94 o.example/log " + base64_encode(std::string(68, 'x')) + "\n";
  EXPECT_TRUE(parse_checkpoint("o.example/log\n1\n" + root + "\next\n\n" + sig));
  EXPECT_FALSE(parse_checkpoint("o.example/log\n1\n" + root + "\n\n\n" + sig));
  EXPECT_FALSE(parse_checkpoint("o.example/log\n1\n" + root + "\next\n\n\n" + sig));
}

}  // namespace
}  // namespace ddlgate::ledger
