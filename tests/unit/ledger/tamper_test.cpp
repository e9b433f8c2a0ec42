// Every kind of tampering the issue names must be detected by verification and named:
// bit flips, deleted / duplicated / reordered records, rewritten records with fixed-up
// checksums, truncation below and above a checkpoint, and a rolled-back checkpoints file.
#include <gtest/gtest.h>

#include <sstream>

#include "ddlgate/ledger/frame.h"
#include "ddlgate/ledger/ledger.h"
#include "ddlgate/ledger/segments.h"
#include "ddlgate/ledger/verify.h"
#include "test_util.h"

namespace ddlgate::ledger {
namespace {

class Tamper : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_ = test::make_keys(tmp_.path() / "cp");
    config_.directory = tmp_.path() / "ledger";
    config_.checkpoint_key_file = keys_.private_key;
    config_.origin = "test.example/ledger";
    config_.checkpoint_every_records = 3;
  }

  // n decision records, one per batch; checkpoints every 3 and at close.
  void write(int n) {
    auto l = Ledger::open(config_);
    ASSERT_TRUE(l) << l.error().to_string();
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE((*l)->append_durable(session_closed("s" + std::to_string(i), "client closed")));
    }
    ASSERT_TRUE((*l)->close());
  }

  std::filesystem::path segment() const { return config_.directory / segment_name(0); }
  std::filesystem::path checkpoints() const { return config_.directory / kCheckpointsFileName; }

  VerifyReport verify(const VerifyOptions& o = {}) {
    if (!verifier_) verifier_ = *NoteVerifier::load_pem(keys_.public_key);
    return verify_directory(config_.directory, *verifier_, o);
  }

  // The frames of the segment, as byte strings.
  std::vector<std::string> frames() const {
    std::string data = test::read_all(segment());
    std::vector<std::string> out;
    std::string_view v(data);
    while (!v.empty()) {
      FrameView f;
      EXPECT_EQ(decode_frame(v, f), FrameStatus::ok);
      out.emplace_back(v.substr(0, f.size));
      v.remove_prefix(f.size);
    }
    return out;
  }

  // Index in frames() of record i's frame (batch seals, "DGLS", sit between records).
  static std::size_t record_frame(const std::vector<std::string>& fs, std::size_t i) {
    for (std::size_t k = 0; k < fs.size(); ++k) {
      if (fs[k].compare(0, 4, "DGLR") == 0 && i-- == 0) return k;
    }
    ADD_FAILURE() << "no record frame " << i;
    return fs.size();
  }

  static std::string join(const std::vector<std::string>& fs) {
    std::string s;
    for (const auto& f : fs) s += f;
    return s;
  }

  static std::string refit(const std::string& frame, std::uint64_t seq, const std::string& payload) {
    FrameView f;
    decode_frame(frame, f);
    std::string out;
    append_frame(out, seq, payload, f.batch_end);
    return out;
  }

  test::TempDir tmp_;
  test::KeyFiles keys_;
  LedgerConfig config_;
  std::optional<NoteVerifier> verifier_;
};

TEST_F(Tamper, CleanLedgerVerifies) {
  write(5);
  auto rep = verify();
  ASSERT_TRUE(rep.ok()) << rep.problem->to_string();
  EXPECT_EQ(rep.records, 6u);  // 5 + the checkpoint record after the first 3
  EXPECT_EQ(rep.covered, 6u);
}

TEST_F(Tamper, EveryBitFlipInTheSegmentIsDetected) {
  write(4);
  const std::string original = test::read_all(segment());
  for (std::size_t byte = 0; byte < original.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      test::xor_byte(segment(), byte, static_cast<unsigned char>(1 << bit));
      auto rep = verify();
      test::xor_byte(segment(), byte, static_cast<unsigned char>(1 << bit));
      ASSERT_FALSE(rep.ok()) << "flip of bit " << bit << " of byte " << byte << " went unnoticed";
      ASSERT_EQ(rep.problem->file, segment().string()) << rep.problem->to_string();
      ASSERT_GE(rep.problem->offset, 0);
    }
  }
  test::write_all_file(segment(), original);
  EXPECT_TRUE(verify().ok());
}

TEST_F(Tamper, EveryBitFlipInTheCheckpointsFileIsDetected) {
  write(4);
  const std::string original = test::read_all(checkpoints());
  for (std::size_t byte = 0; byte < original.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      test::xor_byte(checkpoints(), byte, static_cast<unsigned char>(1 << bit));
      auto rep = verify();
      test::xor_byte(checkpoints(), byte, static_cast<unsigned char>(1 << bit));
      ASSERT_FALSE(rep.ok()) << "flip of bit " << bit << " of byte " << byte << " went unnoticed";
    }
  }
}

TEST_F(Tamper, DeletedRecordIsNamed) {
  write(5);
  auto fs = frames();
  auto r2 = record_frame(fs, 2);
  std::size_t at = 0;
  for (std::size_t k = 0; k < r2; ++k) at += fs[k].size();
  fs.erase(fs.begin() + r2);
  test::write_all_file(segment(), join(fs));
  auto rep = verify();
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.problem->offset, static_cast<std::int64_t>(at));
  EXPECT_NE(rep.problem->reason.find("sequence 3 where 2 was expected (record missing)"), std::string::npos)
      << rep.problem->to_string();
}

TEST_F(Tamper, DuplicatedRecordIsNamed) {
  write(5);
  auto fs = frames();
  fs.insert(fs.begin() + record_frame(fs, 2), fs[record_frame(fs, 1)]);
  test::write_all_file(segment(), join(fs));
  auto rep = verify();
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.problem->reason.find("sequence 1 where 2 was expected (record duplicated or reordered)"),
            std::string::npos)
      << rep.problem->to_string();
}

TEST_F(Tamper, ReorderedRecordsAreNamed) {
  write(5);
  auto fs = frames();
  std::swap(fs[record_frame(fs, 1)], fs[record_frame(fs, 2)]);
  test::write_all_file(segment(), join(fs));
  auto rep = verify();
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.problem->reason.find("sequence 2 where 1 was expected"), std::string::npos) << rep.problem->to_string();
}

TEST_F(Tamper, RewrittenRecordWithValidChecksumFailsTheSignedRoot) {
  write(5);
  auto fs = frames();
  auto r1 = record_frame(fs, 1);
  FrameView f;
  decode_frame(fs[r1], f);
  std::string payload(f.payload);
  auto pos = payload.find("s1");
  ASSERT_NE(pos, std::string::npos);
  payload.replace(pos, 2, "s9");
  fs[r1] = refit(fs[r1], 1, payload);
  test::write_all_file(segment(), join(fs));
  auto rep = verify();
  ASSERT_FALSE(rep.ok());
  // The batch seal right after it (tree size 2) is the first signature that no longer matches.
  EXPECT_NE(rep.problem->reason.find("records before the batch seal for tree size 2 do not match it"),
            std::string::npos)
      << rep.problem->to_string();
  // Without the seals (a ledger of an older ddlgate), the checkpoint at 3 catches it.
  std::vector<std::string> legacy;
  for (std::size_t k = 0; k < fs.size(); ++k) {
    if (fs[k].compare(0, 4, "DGLR") != 0) continue;
    decode_frame(fs[k], f);
    std::string frame;
    append_frame(frame, f.seq, f.payload, true);
    legacy.push_back(frame);
  }
  test::write_all_file(segment(), join(legacy));
  rep = verify();
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.problem->reason.find("records 0..2 do not match the signed checkpoint for tree size 3"),
            std::string::npos)
      << rep.problem->to_string();
}

TEST_F(Tamper, DeletionWithRenumberingFailsTheSignedRoot) {
  write(5);
  auto fs = frames();
  // Record 1 and its seal go; every later record and seal is renumbered, checksums fixed up.
  auto r1 = record_frame(fs, 1);
  fs.erase(fs.begin() + r1, fs.begin() + r1 + 2);
  for (std::size_t i = r1; i < fs.size(); ++i) {
    FrameView f;
    decode_frame(fs[i], f);
    std::string frame;
    if (f.seal) {
      append_seal_frame(frame, f.seq - 1, f.payload);
    } else {
      std::string payload(f.payload);
      auto key = std::string("\"seq\":") + std::to_string(f.seq) + ",";
      auto pos = payload.find(key);
      ASSERT_NE(pos, std::string::npos);
      payload.replace(pos, key.size(), "\"seq\":" + std::to_string(f.seq - 1) + ",");
      append_frame(frame, f.seq - 1, payload, f.batch_end);
    }
    fs[i] = frame;
  }
  test::write_all_file(segment(), join(fs));
  auto rep = verify();
  ASSERT_FALSE(rep.ok());
  // The renumbered seal still signs its old tree size.
  EXPECT_NE(rep.problem->reason.find("batch seal for tree size 2 signs tree size 3"), std::string::npos)
      << rep.problem->to_string();
}

TEST_F(Tamper, TruncationBelowACheckpointIsNamed) {
  write(5);  // records 0..5, checkpoints at 3 and 6
  auto fs = frames();
  fs.resize(record_frame(fs, 2));  // records 0 and 1 with their seals
  test::write_all_file(segment(), join(fs));
  auto rep = verify();
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.problem->reason.find("tree size 6 covers more records than the 2 in the ledger"), std::string::npos)
      << rep.problem->to_string();
  auto l = Ledger::open(config_);
  ASSERT_FALSE(l);
  EXPECT_NE(l.error().reason.find("truncated"), std::string::npos) << l.error().to_string();
}

TEST_F(Tamper, TruncationAboveACheckpointIsNamed) {
  write(5);
  auto fs = frames();
  fs.resize(record_frame(fs, 5));  // records 0..4 and their seals: above the checkpoint at 3, below the final one at 6
  test::write_all_file(segment(), join(fs));
  auto rep = verify();
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.problem->reason.find("tree size 6 covers more records than the 5 in the ledger"), std::string::npos)
      << rep.problem->to_string();
  EXPECT_EQ(rep.covered, 5u);  // the batch seals cover what is left
}

TEST_F(Tamper, RecordsAfterTheLastCheckpointAreCoveredByBatchSeals) {
  write(5);
  // Drop the final checkpoint (written at close, never recorded in the ledger): the batch seals
  // still cover every record.
  auto cps = parse_checkpoints(test::read_all(checkpoints()));
  ASSERT_TRUE(cps);
  ASSERT_EQ(cps->back().size, 6u);
  std::string text;
  for (std::size_t i = 0; i + 1 < cps->size(); ++i) text += (*cps)[i].text;
  test::write_all_file(checkpoints(), text);
  auto rep = verify();
  ASSERT_TRUE(rep.ok()) << rep.problem->to_string();
  EXPECT_EQ(rep.records, 6u);
  EXPECT_EQ(rep.covered, 6u);
  EXPECT_EQ(rep.sealed, 6u);
}

TEST_F(Tamper, CheckpointsFileRolledBackIsNamed) {
  write(8);  // checkpoint records for sizes 3 and 7 are in the ledger
  auto cps = parse_checkpoints(test::read_all(checkpoints()));
  ASSERT_TRUE(cps);
  ASSERT_GE(cps->size(), 2u);
  test::write_all_file(checkpoints(), (*cps)[0].text);
  auto rep = verify();
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.problem->reason.find("checkpoints file rolled back or rewritten"), std::string::npos)
      << rep.problem->to_string();
}

TEST_F(Tamper, LedgerAndCheckpointsRolledBackTogetherAreCaughtByTheShippedCopy) {
  config_.checkpoint_copy_directory = tmp_.path() / "shipped";
  write(4);
  // The attacker saves the state after 2 records, lets the ledger grow, then restores it.
  auto saved_seg = test::read_all(segment());
  auto saved_cps = test::read_all(checkpoints());
  write(5);
  test::write_all_file(segment(), saved_seg);
  test::write_all_file(checkpoints(), saved_cps);
  EXPECT_TRUE(verify().ok());  // locally consistent...
  VerifyOptions o;
  o.extra_checkpoints = config_.checkpoint_copy_directory / kCheckpointsFileName;
  auto rep = verify(o);  // ...but not against the shipped checkpoints
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.problem->reason.find("missing from the ledger's checkpoints file"), std::string::npos)
      << rep.problem->to_string();
}

TEST_F(Tamper, ExportVerifiesAndATamperedExportDoesNot) {
  write(7);
  std::ostringstream ss;
  ExportFilter filter;
  filter.session = "s2";
  ASSERT_TRUE(export_ledger(config_.directory, ExportFilter{}, ExportFormat::jsonl, ss));
  auto path = tmp_.path() / "export.jsonl";
  test::write_all_file(path, ss.str());
  auto key = *NoteVerifier::load_pem(keys_.public_key);
  auto rep = verify_export(path, key);
  ASSERT_TRUE(rep.ok()) << rep.problem->to_string();
  EXPECT_EQ(rep.records, 9u);
  EXPECT_EQ(rep.covered, 9u);
  std::string bad = ss.str();
  auto pos = bad.find("client closed");
  bad.replace(pos, 6, "CLIENT");
  test::write_all_file(path, bad);
  rep = verify_export(path, key);
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.problem->reason.find("not in the signed tree"), std::string::npos) << rep.problem->to_string();
  // A record line removed from the export.
  std::string cut = ss.str();
  auto line = cut.find("{\"kind\":\"record\"");
  cut.erase(line, cut.find('\n', line) + 1 - line);
  test::write_all_file(path, cut);
  rep = verify_export(path, key);
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.problem->reason.find("lines removed or added"), std::string::npos) << rep.problem->to_string();
}

}  // namespace
}  // namespace ddlgate::ledger

namespace ddlgate::ledger {
namespace {

class TamperSegments : public Tamper {
 protected:
  void SetUp() override {
    Tamper::SetUp();
    config_.segment_max_bytes = 600;  // a few records per segment
    write(12);
    auto segs = list_segments(config_.directory);
    ASSERT_TRUE(segs);
    segments_ = *segs;
    ASSERT_GE(segments_.size(), 4u);
  }
  std::vector<SegmentFile> segments_;
};

TEST_F(TamperSegments, DeletedMiddleSegmentIsNamed) {
  std::filesystem::remove(segments_[1].path);
  auto rep = verify();
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.problem->file, segments_[2].path.string());
  EXPECT_NE(rep.problem->reason.find("but " + std::to_string(segments_[1].first_seq) + " was expected (records missing)"),
            std::string::npos)
      << rep.problem->to_string();
}

TEST_F(TamperSegments, DeletedLastSegmentIsTruncationBelowACheckpoint) {
  std::filesystem::remove(segments_.back().path);
  auto rep = verify();
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.problem->reason.find("covers more records than"), std::string::npos) << rep.problem->to_string();
}

TEST_F(TamperSegments, DamageInAnOlderSegmentIsNeverATornTail) {
  auto data = test::read_all(segments_[0].path);
  test::write_all_file(segments_[0].path, data.substr(0, data.size() - 5));
  auto rep = verify();
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.problem->file, segments_[0].path.string());
  auto l = Ledger::open(config_);
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().file, segments_[0].path.string()) << l.error().to_string();
}

}  // namespace
}  // namespace ddlgate::ledger
