#include "ddlgate/ledger/ledger.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "ddlgate/ledger/segments.h"
#include "ddlgate/ledger/verify.h"
#include "test_util.h"

namespace ddlgate::ledger {
namespace {

struct Fixture {
  test::TempDir tmp;
  test::KeyFiles keys = test::make_keys(tmp.path() / "cp");
  LedgerConfig config() const {
    LedgerConfig c;
    c.directory = tmp.path() / "ledger";
    c.checkpoint_key_file = keys.private_key;
    c.origin = "test.example/ledger";
    c.checkpoint_every_records = 10;
    return c;
  }
  NoteVerifier verifier() const { return *NoteVerifier::load_pem(keys.public_key); }
};

Record sample(int i) {
  DecisionInfo d;
  d.decision = (i % 2) ? Decision::allowed : Decision::denied;
  d.session = {"s-" + std::to_string(i % 3), "user" + std::to_string(i % 2), "db", "127.0.0.1:1", "test"};
  d.statement_hash = "h" + std::to_string(i);
  d.statement_class = "ddl";
  d.display_sql = "CREATE TABLE t" + std::to_string(i) + " (id int)";
  d.reason = (i % 2) ? "" : "not approved";
  return decision(d);
}

TEST(Ledger, AppendsDurablyReopensAndVerifies) {
  Fixture fx;
  {
    auto l = Ledger::open(fx.config());
    ASSERT_TRUE(l) << l.error().to_string();
    for (int i = 0; i < 25; ++i) {
      auto r = (*l)->append_durable(sample(i));
      ASSERT_TRUE(r) << r.error().to_string();
    }
    ASSERT_TRUE((*l)->close());
  }
  auto rep = verify_directory(fx.config().directory, fx.verifier());
  ASSERT_TRUE(rep.ok()) << rep.problem->to_string();
  // 25 records + 2 checkpoint records (after 10 and 20 decisions); the final checkpoint covers all.
  EXPECT_EQ(rep.records, 27u);
  EXPECT_EQ(rep.covered, 27u);
  EXPECT_GE(rep.checkpoints, 3u);
  {
    auto l = Ledger::open(fx.config());
    ASSERT_TRUE(l) << l.error().to_string();
    EXPECT_TRUE((*l)->recovery_actions().empty());
    auto r = (*l)->append_durable(session_closed("s-1", "bye"));
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, 27u);
  }
  rep = verify_directory(fx.config().directory, fx.verifier());
  EXPECT_TRUE(rep.ok()) << rep.problem->to_string();
  EXPECT_EQ(rep.records, 28u);
}

TEST(Ledger, CallbackAndFutureReportDurability) {
  Fixture fx;
  auto l = Ledger::open(fx.config());
  ASSERT_TRUE(l);
  std::atomic<int> done{0};
  for (int i = 0; i < 100; ++i) {
    (*l)->append(sample(i), [&](const AppendResult& r) {
      EXPECT_TRUE(r);
      ++done;
    });
  }
  auto fut = (*l)->append(sample(100));
  auto res = fut.get();
  ASSERT_TRUE(res);
  EXPECT_EQ(done.load(), 100);  // earlier records are durable before a later one is acknowledged
  EXPECT_GE((*l)->durable_size(), 101u);
}

TEST(Ledger, ManyWritersGetDistinctSequenceNumbers) {
  Fixture fx;
  auto l = Ledger::open(fx.config());
  ASSERT_TRUE(l);
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<std::uint64_t> seqs;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto r = (*l)->append_durable(sample(t * 100 + i));
        ASSERT_TRUE(r);
        std::lock_guard lk(mu);
        EXPECT_TRUE(seqs.insert(*r).second);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE((*l)->close());
  EXPECT_EQ(seqs.size(), 400u);
  auto rep = verify_directory(fx.config().directory, fx.verifier());
  EXPECT_TRUE(rep.ok()) << rep.problem->to_string();
}

TEST(Ledger, SecondWriterIsLockedOut) {
  Fixture fx;
  auto a = Ledger::open(fx.config());
  ASSERT_TRUE(a);
  auto b = Ledger::open(fx.config());
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().reason.find("lock"), std::string::npos) << b.error().to_string();
}

std::uint64_t segment_file_bytes(const std::filesystem::path& dir) {
  std::uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().filename().string().rfind("segment-", 0) == 0) total += e.file_size();
  }
  return total;
}

TEST(Ledger, RollsSegmentsAndCopiesCheckpoints) {
  Fixture fx;
  auto c = fx.config();
  c.segment_max_bytes = 2000;
  c.checkpoint_copy_directory = fx.tmp.path() / "shipped";
  {
    auto l = Ledger::open(c);
    ASSERT_TRUE(l);
    for (int i = 0; i < 40; ++i) ASSERT_TRUE((*l)->append_durable(sample(i)));
    EXPECT_EQ((*l)->stats().segment_bytes.load(), segment_file_bytes(c.directory));
  }
  auto segs = list_segments(c.directory);
  ASSERT_TRUE(segs);
  EXPECT_GT(segs->size(), 3u);
  {
    // Counted again at open, over every segment (the close wrote a final checkpoint).
    auto l = Ledger::open(c);
    ASSERT_TRUE(l);
    EXPECT_EQ((*l)->stats().segment_bytes.load(), segment_file_bytes(c.directory));
  }
  EXPECT_EQ(test::read_all(c.directory / "checkpoints"), test::read_all(c.checkpoint_copy_directory / "checkpoints"));
  // Reading from a later sequence number skips whole segments but still reports every record
  // from there on, and the right next sequence number.
  std::uint64_t total = 0;
  ASSERT_TRUE(read_records(c.directory, 0, [&](const ParsedRecord&) { ++total; }, nullptr));
  std::vector<std::uint64_t> seen;
  std::uint64_t next = 0;
  ASSERT_TRUE(read_records(c.directory, total - 5, [&](const ParsedRecord& r) { seen.push_back(r.seq); }, &next));
  EXPECT_EQ(next, total);
  ASSERT_FALSE(seen.empty());
  EXPECT_LE(seen.front(), total - 5);
  EXPECT_EQ(seen.back(), total - 1);
  VerifyOptions o;
  o.extra_checkpoints = c.checkpoint_copy_directory / "checkpoints";
  auto rep = verify_directory(c.directory, fx.verifier(), o);
  EXPECT_TRUE(rep.ok()) << rep.problem->to_string();
}

TEST(Ledger, TimedCheckpoint) {
  Fixture fx;
  auto c = fx.config();
  c.checkpoint_every_records = 1000000;
  c.checkpoint_interval = std::chrono::milliseconds(50);
  auto l = Ledger::open(c);
  ASSERT_TRUE(l);
  ASSERT_TRUE((*l)->append_durable(sample(1)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto cps = parse_checkpoints(test::read_all(c.directory / "checkpoints"));
  ASSERT_TRUE(cps);
  ASSERT_FALSE(cps->empty());
  EXPECT_EQ(cps->front().size, 1u);
}

TEST(Ledger, TornTailIsCutAndRecorded) {
  Fixture fx;
  auto c = fx.config();
  {
    auto l = Ledger::open(c);
    ASSERT_TRUE(l);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE((*l)->append_durable(sample(i)));
  }
  auto seg = c.directory / segment_name(0);
  // A torn batch: half a frame of garbage after the last complete batch.
  std::string data = test::read_all(seg);
  auto clean_size = data.size();
  std::string frame;
  append_frame(frame, 6, R"({"fields":{},"seq":6,"time":"t","type":"checkpoint"})", true);
  test::write_all_file(seg, data + frame.substr(0, frame.size() / 2));
  auto rep = verify_directory(c.directory, fx.verifier());
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.problem->reason.find("torn"), std::string::npos) << rep.problem->to_string();
  EXPECT_EQ(rep.problem->offset, static_cast<std::int64_t>(clean_size));
  {
    auto l = Ledger::open(c);
    ASSERT_TRUE(l) << l.error().to_string();
    ASSERT_EQ((*l)->recovery_actions().size(), 1u);
    EXPECT_EQ((*l)->recovery_actions()[0].offset, clean_size);
  }
  bool saw = false;
  ASSERT_TRUE(read_records(c.directory, 0, [&](const ParsedRecord& r) {
    if (r.type == RecordType::recovery_performed) {
      saw = true;
      EXPECT_EQ(r.fields["offset"], clean_size);
    }
  }, nullptr));
  EXPECT_TRUE(saw);
  rep = verify_directory(c.directory, fx.verifier());
  EXPECT_TRUE(rep.ok()) << rep.problem->to_string();
}

TEST(Ledger, CutBytesAreKeptInQuarantineNeverDestroyed) {
  Fixture fx;
  auto c = fx.config();
  {
    auto l = Ledger::open(c);
    ASSERT_TRUE(l);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*l)->append_durable(sample(i)));
  }
  auto seg = c.directory / segment_name(0);
  std::string data = test::read_all(seg);
  std::string frame;
  append_frame(frame, 4, R"({"fields":{},"seq":4,"time":"t","type":"checkpoint"})", true);
  const std::string torn = frame.substr(0, frame.size() - 3);
  test::write_all_file(seg, data + torn);
  // An earlier cut at the same offset (a host that died twice at the same place) keeps its file.
  const auto qdir = c.directory / kQuarantineDirName;
  const std::string name = segment_name(0) + "." + std::to_string(data.size()) + ".cut";
  std::filesystem::create_directories(qdir);
  test::write_all_file(qdir / name, "earlier");
  {
    auto l = Ledger::open(c);
    ASSERT_TRUE(l) << l.error().to_string();
    ASSERT_EQ((*l)->recovery_actions().size(), 1u);
    const auto& a = (*l)->recovery_actions()[0];
    EXPECT_EQ(std::filesystem::path(a.quarantine), qdir / (name + ".1"));
    EXPECT_EQ(test::read_all(a.quarantine), torn);
    EXPECT_EQ(test::read_all(qdir / name), "earlier");
  }
  // Cut at the old end; the writer then appended the recovery record after it.
  EXPECT_EQ(test::read_all(seg).substr(0, data.size()), data);
  EXPECT_NE(test::read_all(seg).substr(data.size(), torn.size()), torn);
  int records = 0;
  ASSERT_TRUE(read_records(c.directory, 0, [&](const ParsedRecord& r) {
    if (r.type != RecordType::recovery_performed) return;
    ++records;
    EXPECT_EQ(r.fields.value("quarantine", std::string()), (qdir / (name + ".1")).string()) << r.fields.dump();
  }, nullptr));
  EXPECT_EQ(records, 1);
  EXPECT_TRUE(verify_directory(c.directory, fx.verifier()).ok());
}

TEST(Ledger, TornCheckpointNoteIsKeptInQuarantine) {
  Fixture fx;
  auto c = fx.config();
  {
    auto l = Ledger::open(c);
    ASSERT_TRUE(l);
    ASSERT_TRUE((*l)->append_durable(sample(0)));
  }
  auto cp = c.directory / kCheckpointsFileName;
  std::string text = test::read_all(cp);
  const std::string torn = text.substr(0, text.find('\n', text.find('\n') + 1) + 1);  // two lines of a note
  test::write_all_file(cp, text + torn);
  auto l = Ledger::open(c);
  ASSERT_TRUE(l) << l.error().to_string();
  ASSERT_EQ((*l)->recovery_actions().size(), 1u);
  EXPECT_EQ(test::read_all((*l)->recovery_actions()[0].quarantine), torn);
  EXPECT_EQ(std::filesystem::path((*l)->recovery_actions()[0].quarantine).filename().string(),
            std::string(kCheckpointsFileName) + "." + std::to_string(text.size()) + ".cut");
}

TEST(Ledger, DamageInsideADurableBatchRefusesToStart) {
  Fixture fx;
  auto c = fx.config();
  {
    auto l = Ledger::open(c);
    ASSERT_TRUE(l);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE((*l)->append_durable(sample(i)));
  }
  auto seg = c.directory / segment_name(0);
  std::string data = test::read_all(seg);
  data[30] ^= 0x01;  // inside record 0, four durable batches follow
  test::write_all_file(seg, data);
  auto l = Ledger::open(c);
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().file, seg.string());
  EXPECT_EQ(l.error().offset, 0);
  EXPECT_NE(l.error().reason.find("CRC32C"), std::string::npos) << l.error().to_string();
}

}  // namespace
}  // namespace ddlgate::ledger

namespace ddlgate::ledger {
namespace {

TEST(Ledger, TornCheckpointNoteIsCutButADamagedOneRefuses) {
  Fixture fx;
  auto c = fx.config();
  {
    auto l = Ledger::open(c);
    ASSERT_TRUE(l);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*l)->append_durable(sample(i)));
  }
  auto cp_path = c.directory / kCheckpointsFileName;
  const std::string good = test::read_all(cp_path);
  const auto notes = *parse_checkpoints(good);
  ASSERT_EQ(notes.size(), 1u);  // the shutdown checkpoint only
  // Torn: the start of a second note.
  test::write_all_file(cp_path, good + notes[0].text.substr(0, 30));
  {
    auto l = Ledger::open(c);
    ASSERT_TRUE(l) << l.error().to_string();
    ASSERT_EQ((*l)->recovery_actions().size(), 1u);
    EXPECT_EQ((*l)->recovery_actions()[0].offset, good.size());
  }
  EXPECT_TRUE(verify_directory(c.directory, fx.verifier()).ok());
  // Damaged: the last note complete but altered.
  std::string now = test::read_all(cp_path);
  auto last = now.rfind("\n\n") - 3;
  now[last] = now[last] == 'A' ? 'B' : 'A';
  test::write_all_file(cp_path, now);
  auto l = Ledger::open(c);
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().file, cp_path.string()) << l.error().to_string();
}

}  // namespace
}  // namespace ddlgate::ledger

namespace ddlgate::ledger {
namespace {

TEST(Ledger, HistoryReadersGetTheirRecordsOnceInOrderAndNeverATornOne) {
  Fixture fx;
  auto c = fx.config();
  auto opening = [](int i) {
    BreakGlassOpening o;
    o.session = {"s" + std::to_string(i), "oncall", "shop", "127.0.0.1:1", "psql"};
    o.token_id = std::string(31, '0') + std::to_string(i);
    o.token_sha256 = "sha256:00";
    o.single_use = i % 2 == 1;
    o.statements = {"sha256:aa"};
    o.source = "startup";
    return break_glass_opened(o);
  };
  {
    auto l = Ledger::open(c);
    ASSERT_TRUE(l) << l.error().to_string();
    for (int i = 0; i < 30; ++i) ASSERT_TRUE((*l)->append_durable(i % 5 == 0 ? opening(i / 5) : sample(i)));
    ASSERT_TRUE((*l)->close());
  }
  // A torn batch holding a seventh opening: recovery cuts it, so no reader may see it.
  auto seg = c.directory / segment_name(0);
  std::string data = test::read_all(seg);
  auto durable = verify_directory(c.directory, fx.verifier());
  ASSERT_TRUE(durable.ok()) << durable.problem->to_string();
  std::string frame;
  append_frame(frame, durable.records, serialize_payload(opening(6), durable.records, "2026-11-26T00:00:00.000000Z"), true);
  test::write_all_file(seg, data + frame.substr(0, frame.size() - 3));

  std::vector<std::string> ids;
  std::vector<bool> single;
  std::vector<std::uint64_t> decisions;
  std::size_t wanted_nothing = 0, asked = 0;
  c.history_readers.push_back({[](RecordType t, std::string_view) { return t == RecordType::break_glass_opened; },
                               [&](const ParsedRecord& r) {
                                 EXPECT_EQ(r.type, RecordType::break_glass_opened);
                                 ids.push_back(r.fields.at("token_id").get<std::string>());
                                 single.push_back(r.fields.at("single_use").get<bool>());
                               }});
  // A reader that looks at the raw payload: the decisions about table t7 and up.
  c.history_readers.push_back({[](RecordType t, std::string_view payload) {
                                 return t == RecordType::decision && payload.find("CREATE TABLE t2") != std::string_view::npos;
                               },
                               [&](const ParsedRecord& r) { decisions.push_back(r.seq); }});
  c.history_readers.push_back({[&](RecordType, std::string_view) {
                                 ++asked;
                                 return false;
                               },
                               [&](const ParsedRecord&) { ++wanted_nothing; }});
  auto l = Ledger::open(c);
  ASSERT_TRUE(l) << l.error().to_string();
  ASSERT_EQ((*l)->recovery_actions().size(), 1u);
  ASSERT_EQ(ids.size(), 6u);
  EXPECT_EQ(ids.front(), std::string(31, '0') + "0");
  EXPECT_EQ(ids.back(), std::string(31, '0') + "5");
  EXPECT_EQ(single, (std::vector<bool>{false, true, false, true, false, true}));
  // sample(2) and sample(21)..sample(29) but not the openings at 20 and 25; in sequence order
  // (checkpoint records are interleaved, so only the count and order are fixed).
  EXPECT_EQ(decisions.size(), 9u);
  EXPECT_TRUE(std::is_sorted(decisions.begin(), decisions.end()));
  EXPECT_EQ(asked, durable.records);  // asked about every durable record, and only those
  EXPECT_EQ(wanted_nothing, 0u);
  ASSERT_TRUE((*l)->close());
}

}  // namespace
}  // namespace ddlgate::ledger
