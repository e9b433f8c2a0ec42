// Evidence packs (docs/evidence.md): a pack verified as made and after each kind of tampering.
#include "ddlgate/ledger/evidence.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "ddlgate/base/sha256.h"
#include "ddlgate/ledger/ledger.h"
#include "ddlgate/ledger/merkle.h"
#include "ddlgate/ledger/record.h"
#include "ddlgate/ledger/verify.h"
#include "ddlgate/ledger/witness.h"
#include "ddlgate/ledger/zip.h"
#include "test_util.h"

namespace ddlgate::ledger {
namespace {

// --- packs ---------------------------------------------------------------------------------------

// The pack with entries replaced (or removed, or added) by f.
std::string edit_pack(std::string_view p, const std::function<void(std::map<std::string, std::string>&)>& f) {
  auto entries = read_zip(p);
  std::vector<std::string> order;
  std::map<std::string, std::string> m;
  for (const auto& e : *entries) {
    order.push_back(e.name);
    m[e.name] = std::string(e.data);
  }
  f(m);
  std::vector<ZipEntry> out;
  for (const auto& n : order) {
    if (m.count(n)) out.push_back({n, m[n]});
  }
  for (const auto& [n, d] : m) {
    if (std::find(order.begin(), order.end(), n) == order.end()) out.push_back({n, d});
  }
  return *write_zip(out);
}

class EvidencePack : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_ = test::make_keys(tmp_.path() / "cp");
    dir_ = tmp_.path() / "ledger";
    bundle_ = tmp_.path() / "registry" / "shop-7";
    std::filesystem::create_directories(bundle_ / "signatures");
    test::write_all_file(bundle_ / "manifest.json", "{\"app\":\"shop\",\"version\":7}\n");
    test::write_all_file(bundle_ / "signatures" / "00aa.sig", "{\"signature\":\"...\"}\n");
    LedgerConfig c;
    c.directory = dir_;
    c.checkpoint_key_file = keys_.private_key;
    c.checkpoint_every_records = 4;
    auto l = Ledger::open(c);
    ASSERT_TRUE(l) << l.error().to_string();
    BundleAcceptance accepted;
    accepted.bundle = "shop";
    accepted.version = "7";
    accepted.manifest_sha256 = base::sha256_hex(test::read_all(bundle_ / "manifest.json"));
    accepted.source = bundle_.string();
    ASSERT_TRUE((*l)->append_durable(bundle_accepted(accepted)));
    for (int i = 0; i < 20; ++i) {
      DecisionInfo d;
      d.decision = i % 3 ? Decision::allowed : Decision::denied;
      d.session = {"s" + std::to_string(i % 2), i % 2 ? "alice" : "bob", "prod", "10.0.0.1:5000", "psql"};
      d.statement_hash = "h" + std::to_string(i);
      d.statement_class = "ddl";
      d.display_sql = "DROP TABLE t" + std::to_string(i);
      if (d.decision == Decision::allowed) d.approval = Approval{"shop", "7", "001.sql", static_cast<std::uint64_t>(i)};
      ASSERT_TRUE((*l)->append_durable(decision(d)));
    }
    auto st = read_records(dir_, 0, [&](const ParsedRecord& r) { times_.push_back(r.time); }, nullptr);
    ASSERT_TRUE(st);
    auto key = NoteVerifier::load_pem(keys_.public_key);
    ASSERT_TRUE(key);
    key_ = std::make_unique<NoteVerifier>(*key);
  }

  std::string pack(const std::string& from = {}, const std::string& to = {}) {
    EvidenceExportOptions o;
    o.from = from;
    o.to = to;
    auto p = build_evidence_pack(dir_, o, &summary_);
    EXPECT_TRUE(p) << p.error().to_string();
    return p ? *p : std::string();
  }
  std::string verify(std::string_view p, const EvidenceVerifyOptions& o = {}) {
    auto r = verify_evidence_pack(p, *key_, o);
    return r ? std::string("ok") : r.error().to_string();
  }
  // The pack with one entry replaced (or removed, or added) by edit.
  static std::string edit(std::string_view p, const std::function<void(std::map<std::string, std::string>&)>& f) {
    return edit_pack(p, f);
  }
  static std::vector<std::string> lines(const std::string& s) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while (at < s.size()) {
      auto nl = s.find('\n', at);
      out.push_back(s.substr(at, nl - at));
      at = nl + 1;
    }
    return out;
  }
  static std::string join(const std::vector<std::string>& ls) {
    std::string s;
    for (const auto& l : ls) s += l + "\n";
    return s;
  }
  // A middle range: its start is a checkpoint above 0, so the frontier matters.
  std::string middle() { return pack(times_[9], times_[14]); }

  test::TempDir tmp_;
  test::KeyFiles keys_;
  std::filesystem::path dir_, bundle_;
  std::vector<std::string> times_;
  std::unique_ptr<NoteVerifier> key_;
  EvidenceSummary summary_;
};

TEST_F(EvidencePack, OriginalVerifies) {
  auto p = pack();
  EXPECT_EQ(verify(p), "ok");
  EXPECT_EQ(summary_.start, 0u);
  EXPECT_EQ(summary_.bundles, 1u);
  auto m = middle();
  EXPECT_EQ(verify(m), "ok");
  EXPECT_GT(summary_.start, 0u);
  EXPECT_LE(summary_.start, 9u);
  EXPECT_GE(summary_.end, 15u);
  auto entries = read_zip(m);
  ASSERT_TRUE(entries);
  std::vector<std::string> names;
  for (const auto& e : *entries) names.push_back(e.name);
  EXPECT_EQ(names[0], "evidence.json");
  EXPECT_NE(std::find(names.begin(), names.end(), "checkpoints/start.txt"), names.end());
  // The range's records and nothing else.
  std::string records;
  for (const auto& e : *entries) {
    if (e.name == "records.jsonl") records = std::string(e.data);
  }
  auto ls = lines(records);
  ASSERT_EQ(ls.size(), summary_.end - summary_.start);
  EXPECT_NE(ls.front().find("\"seq\":" + std::to_string(summary_.start) + ","), std::string::npos);
}

// The pack written to its file as it is made (what `evidence export` does) is byte for byte the
// pack built in memory, so packs written either way, before and after, verify alike.
TEST_F(EvidencePack, TheStreamedPackIsTheBuiltPack) {
  for (auto [from, to] : {std::pair{std::string(), std::string()}, std::pair{times_[9], times_[14]}}) {
    EvidenceExportOptions o;
    o.from = from;
    o.to = to;
    EvidenceSummary s;
    auto built = build_evidence_pack(dir_, o, &s);
    ASSERT_TRUE(built) << built.error().to_string();
    const auto file = tmp_.path() / "streamed.zip";
    auto written = write_evidence_pack(dir_, o, file);
    ASSERT_TRUE(written) << written.error().to_string();
    auto bytes = test::read_all(file);
    EXPECT_TRUE(bytes == *built) << "streamed " << bytes.size() << " bytes, built " << built->size();
    EXPECT_EQ(verify(bytes), "ok");
    EXPECT_EQ(written->start, s.start);
    EXPECT_EQ(written->end, s.end);
    EXPECT_EQ(written->bundles, s.bundles);
  }
  // A file that cannot be created fails with its name, before anything is read.
  auto bad = write_evidence_pack(dir_, {}, tmp_.path() / "no-such-dir" / "p.zip");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().file, (tmp_.path() / "no-such-dir" / "p.zip").string());
}

TEST_F(EvidencePack, ExportsAreTheExportCodesOutput) {
  // The pack's export.csv of the whole range is `ledger export --format csv` of the ledger when
  // the range is the whole ledger and its last checkpoint is the pack's end.
  auto p = pack();
  std::ostringstream csv;
  ASSERT_TRUE(export_ledger(dir_, {}, ExportFormat::csv, csv));
  auto entries = read_zip(p);
  std::string pack_csv;
  for (const auto& e : *entries) {
    if (e.name == "export.csv") pack_csv = std::string(e.data);
  }
  auto header = [](const std::string& s) { return s.substr(0, s.find('\n')); };
  EXPECT_EQ(header(pack_csv), header(csv.str()));
  EXPECT_EQ(lines(pack_csv).size(), summary_.end + 1);
}

TEST_F(EvidencePack, ChangedRecordFails) {
  auto t = edit(middle(), [](auto& m) {
    auto& r = m["records.jsonl"];
    r.replace(r.find("DROP TABLE"), 4, "drop");
  });
  EXPECT_EQ(verify(t), "records.jsonl: records " + std::to_string(summary_.start) + ".." +
                           std::to_string(summary_.end - 1) +
                           " do not give the root signed in checkpoints/end.txt (a record was changed)");
}

TEST_F(EvidencePack, MissingRecordFails) {
  auto t = edit(middle(), [](auto& m) {
    auto ls = lines(m["records.jsonl"]);
    ls.erase(ls.begin() + 1);
    m["records.jsonl"] = join(ls);
  });
  EXPECT_EQ(verify(t), "records.jsonl: line 2 is record " + std::to_string(summary_.start + 2) + " where record " +
                           std::to_string(summary_.start + 1) + " belongs (a record was removed, added or reordered)");
}

TEST_F(EvidencePack, MissingLastRecordFails) {
  auto t = edit(middle(), [](auto& m) {
    auto ls = lines(m["records.jsonl"]);
    ls.pop_back();
    m["records.jsonl"] = join(ls);
  });
  EXPECT_EQ(verify(t), "records.jsonl: ends after record " + std::to_string(summary_.end - 2) +
                           ", the signed range ends at " + std::to_string(summary_.end - 1) + " (records removed)");
}

TEST_F(EvidencePack, ExtraRecordFails) {
  auto t = edit(middle(), [&](auto& m) {
    m["records.jsonl"] += serialize_payload(session_closed("forged", "client closed"), summary_.end,
                                            "2026-12-06T18:00:00.000000Z") +
                          "\n";
  });
  EXPECT_EQ(verify(t), "records.jsonl: more than the " + std::to_string(summary_.end - summary_.start) +
                           " records of the signed range (a record was added)");
}

TEST_F(EvidencePack, ReorderedRecordsFail) {
  auto t = edit(middle(), [](auto& m) {
    auto ls = lines(m["records.jsonl"]);
    std::swap(ls[0], ls[1]);
    m["records.jsonl"] = join(ls);
  });
  EXPECT_EQ(verify(t), "records.jsonl: line 1 is record " + std::to_string(summary_.start + 1) + " where record " +
                           std::to_string(summary_.start) + " belongs (a record was removed, added or reordered)");
}

TEST_F(EvidencePack, ChangedFrontierFails) {
  auto t = edit(middle(), [](auto& m) {
    auto& f = m["frontier.json"];
    auto at = f.find("\"hashes\":[\"") + 11;
    f[at] = f[at] == '0' ? '1' : '0';
  });
  EXPECT_EQ(verify(t), "frontier.json: does not give the root signed in checkpoints/start.txt (frontier changed)");
}

TEST_F(EvidencePack, ChangedCheckpointFails) {
  auto t = edit(middle(), [](auto& m) {
    auto& c = m["checkpoints/end.txt"];
    auto nl = c.find('\n');
    c[nl + 1] = c[nl + 1] == '9' ? '8' : static_cast<char>(c[nl + 1] + 1);  // the tree size line
  });
  EXPECT_EQ(verify(t), "checkpoints/end.txt: no valid signature by the given key (checkpoint changed or forged)");
  auto other = test::make_keys(tmp_.path() / "other");
  auto wrong = NoteVerifier::load_pem(other.public_key);
  auto r = verify_evidence_pack(middle(), *wrong, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "checkpoints/start.txt: no valid signature by the given key (checkpoint changed or forged)");
}

TEST_F(EvidencePack, PinnedOriginMustMatch) {
  EvidenceVerifyOptions o;
  o.origin = "other.example/ddlgate";
  auto p = middle();
  EXPECT_EQ(verify(p, o).rfind("checkpoints/start.txt: origin ", 0), 0u) << verify(p, o);
  o.origin = summary_.origin;
  EXPECT_EQ(verify(p, o), "ok");
}

TEST_F(EvidencePack, ChangedManifestFails) {
  const auto sha = base::sha256_hex(test::read_all(bundle_ / "manifest.json"));
  auto t = edit(middle(), [&](auto& m) { m["bundles/" + sha + "/manifest.json"] = "{\"app\":\"shop\",\"version\":8}\n"; });
  EXPECT_EQ(verify(t), "bundles/" + sha + "/manifest.json: not the manifest the ledger accepted (SHA-256 differs; changed)");
  auto gone = edit(middle(), [&](auto& m) {
    for (auto it = m.begin(); it != m.end();) it = it->first.rfind("bundles/", 0) == 0 ? m.erase(it) : std::next(it);
  });
  EXPECT_EQ(verify(gone).rfind("record ", 0), 0u) << verify(gone);
  EXPECT_NE(verify(gone).find(" is approved by bundle shop version 7, whose manifest the pack does not hold"),
            std::string::npos)
      << verify(gone);
}

TEST_F(EvidencePack, BundleSignaturesAreChecked) {
  EvidenceVerifyOptions o;
  o.check_bundle_signature = [](std::string_view, std::string_view sig) {
    return sig.find("...") == std::string_view::npos ? std::string() : std::string("not a signature");
  };
  const auto sha = base::sha256_hex(test::read_all(bundle_ / "manifest.json"));
  EXPECT_EQ(verify(middle(), o), "bundles/" + sha + "/signatures/00aa.sig: not a signature");
}

TEST_F(EvidencePack, ChangedExportsFail) {
  auto csv = edit(middle(), [](auto& m) {
    auto& c = m["export.csv"];
    c.replace(c.find("alice"), 5, "carol");
  });
  EXPECT_EQ(verify(csv).rfind("export.csv: differs from the export recomputed from the records at line ", 0), 0u)
      << verify(csv);
  auto jsonl = edit(middle(), [](auto& m) {
    auto ls = lines(m["export.jsonl"]);
    ls.pop_back();
    m["export.jsonl"] = join(ls);
  });
  EXPECT_EQ(verify(jsonl).rfind("export.jsonl: differs from the export recomputed from the records at line ", 0), 0u)
      << verify(jsonl);
}

TEST_F(EvidencePack, UnknownEntriesAndDamageFail) {
  auto extra = edit(middle(), [](auto& m) { m["notes.txt"] = "trust me"; });
  EXPECT_EQ(verify(extra), "notes.txt: an entry this format does not have");
  auto p = middle();
  p[50] ^= 1;  // inside the first entry's data (after 30 + 13 bytes of header and name)
  EXPECT_EQ(verify(p), "not a valid pack: offset 0: evidence.json: CRC-32 mismatch");
  auto newer = edit(middle(), [](auto& m) {
    auto& e = m["evidence.json"];
    e.replace(e.find("ddlgate-evidence/2"), 18, "ddlgate-evidence/4");
  });
  EXPECT_EQ(verify(newer), "evidence.json: format \"ddlgate-evidence/4\", this ddlgate reads ddlgate-evidence/1, "
                           "ddlgate-evidence/2 and ddlgate-evidence/3");
  // Format 3 has the monitor's rows: a format-2 pack called 3 lacks them.
  auto three = edit(middle(), [](auto& m) {
    auto& e = m["evidence.json"];
    e.replace(e.find("ddlgate-evidence/2"), 18, "ddlgate-evidence/3");
  });
  EXPECT_EQ(verify(three), "monitor.jsonl: missing");
}

TEST_F(EvidencePack, TheReportIsRecomputedFromTheRecords) {
  auto p = middle();
  auto entries = read_zip(p);
  ASSERT_TRUE(entries);
  std::string report;
  for (const auto& e : *entries) {
    if (e.name == "report.html") report = std::string(e.data);
  }
  // The page of the range: its approvals joined to the bundle accepted before the range.
  EXPECT_EQ(report.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(report.find("<td>shop</td><td>7</td>"), std::string::npos) << report;
  EXPECT_NE(report.find("Period: " + times_[9] + " to " + times_[14]), std::string::npos);
  // A changed figure, a removed row, an added line: each fails.
  auto changed = edit(p, [](auto& m) {
    auto& r = m["report.html"];
    r.replace(r.find("<td>shop</td>"), 13, "<td>shoq</td>");
  });
  EXPECT_EQ(verify(changed).rfind("report.html: differs from the report recomputed from the records at line ", 0), 0u)
      << verify(changed);
  auto longer = edit(p, [](auto& m) { m["report.html"] += "<p>all approved</p>\n"; });
  EXPECT_EQ(verify(longer).rfind("report.html: differs from the report recomputed from the records at line ", 0), 0u)
      << verify(longer);
  auto missing = edit(p, [](auto& m) { m.erase("report.html"); });
  EXPECT_EQ(verify(missing), "report.html: missing");
}

TEST_F(EvidencePack, AFormatOnePackStillVerifies) {
  // Format 1 (before report.html) is read as it was written; a report in it is an unknown entry.
  auto v1 = edit(middle(), [](auto& m) {
    m.erase("report.html");
    auto& e = m["evidence.json"];
    e.replace(e.find("ddlgate-evidence/2"), 18, "ddlgate-evidence/1");
  });
  EXPECT_EQ(verify(v1), "ok");
  auto v1_with_report = edit(middle(), [](auto& m) {
    auto& e = m["evidence.json"];
    e.replace(e.find("ddlgate-evidence/2"), 18, "ddlgate-evidence/1");
  });
  EXPECT_EQ(verify(v1_with_report), "report.html: an entry format ddlgate-evidence/1 does not have");
}

TEST_F(EvidencePack, WitnessCosignaturesTravelAndCountTowardsAQuorum) {
  auto first = middle();
  auto entries = read_zip(first);
  ASSERT_TRUE(entries);
  std::string end_note;
  for (const auto& e : *entries) {
    if (e.name == "checkpoints/end.txt") end_note = std::string(e.data);
  }
  auto cp = parse_checkpoint(end_note);
  ASSERT_TRUE(cp);
  auto wkeys = test::make_keys(tmp_.path() / "witness");
  auto w = Cosigner::load_pem(wkeys.private_key, "witness.example/w1");
  ASSERT_TRUE(w) << w.error().to_string();
  test::write_all_file(dir_ / kCosignaturesFileName, with_signature_lines(*cp, {w->cosign(cp->body, 1700000000)}));
  auto p = middle();
  EXPECT_EQ(summary_.cosignature_notes, 1u);
  EvidenceVerifyOptions o;
  o.witness_keys = {w->verifier_key()};
  o.witness_quorum = 1;
  EXPECT_EQ(verify(p, o), "ok");
  EXPECT_EQ(verify(first, o), "cosignatures/end.txt: missing, and a witness quorum of 1 is required");
  auto other = test::make_keys(tmp_.path() / "other-witness");
  o.witness_keys = {Cosigner::load_pem(other.private_key, "witness.example/w1")->verifier_key()};
  EXPECT_EQ(verify(p, o), "cosignatures/end.txt: 0 of the 1 required witness cosignatures");
  auto moved = edit(p, [&](auto& m) { m["cosignatures/end.txt"] = end_note; });
  o.witness_keys = {w->verifier_key()};
  EXPECT_EQ(verify(moved, o), "cosignatures/end.txt: 0 of the 1 required witness cosignatures");
  auto foreign = edit(p, [&](auto& m) { m["cosignatures/end.txt"] = m["checkpoints/start.txt"]; });
  EXPECT_EQ(verify(foreign), "cosignatures/end.txt: a note for another checkpoint than its own");
}

TEST_F(EvidencePack, TheRecordsNextToTheRangeShowItSpansThePeriod) {
  auto whole = pack();
  EXPECT_EQ(verify(whole), "ok");
  auto r = verify_evidence_pack(whole, *key_, {});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->open_end);  // the ledger ends at the pack's end
  auto p = middle();
  r = verify_evidence_pack(p, *key_, {});
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_FALSE(r->open_end);
  const auto a = summary_.start, b = summary_.end;
  auto claim = [&](const char* key, const std::string& time) {
    return edit(p, [&](auto& m) {
      auto j = nlohmann::json::parse(m["evidence.json"]);
      j[key] = time;
      m["evidence.json"] = j.dump() + "\n";
    });
  };
  // An exporter that chose a later start, or an earlier end, than the period needs.
  EXPECT_EQ(verify(claim("from", times_[a - 1])),
            "boundary/before.json: record " + std::to_string(a - 1) + " at " + times_[a - 1] +
                " is within the period of evidence.json (the pack starts too late)");
  EXPECT_EQ(verify(claim("to", times_[b])), "boundary/after.json: record " + std::to_string(b) + " at " + times_[b] +
                                                " is within the period of evidence.json (the pack ends too early)");
  auto changed = edit(p, [&](auto& m) {
    auto& e = m["boundary/before.json"];
    auto at = e.find(times_[a - 1]) + 20;  // a microsecond digit of its time
    ASSERT_LT(at, e.size());
    e[at] = e[at] == '0' ? '1' : '0';
  });
  EXPECT_EQ(verify(changed), "boundary/before.json: record " + std::to_string(a - 1) +
                                 " is not in the tree signed in checkpoints/end.txt (changed)");
  auto gone = edit(p, [](auto& m) { m.erase("boundary/before.json"); });
  EXPECT_EQ(verify(gone), "boundary/before.json: missing (the pack starts after record 0)");
}

TEST_F(EvidencePack, ExportFailsClosedOnAManifestTheLedgerDidNotAccept) {
  test::write_all_file(bundle_ / "manifest.json", "{\"app\":\"shop\",\"version\":7,\"edited\":true}\n");
  EvidenceExportOptions o;
  auto p = build_evidence_pack(dir_, o);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().reason.find("bundle shop version 7: manifest.json is not the one the ledger accepted"),
            std::string::npos)
      << p.error().to_string();
}

// --- key rotation ---------------------------------------------------------------------------------

// A ledger handed from an old key to a new one (docs/ledger.md, "Key rotation"): 5 records under
// the old key (and a checkpoint record), the key_rotated record, then 7 under the new key.
class EvidenceAcrossARotation : public ::testing::Test {
 protected:
  void SetUp() override {
    old_keys_ = test::make_keys(tmp_.path() / "old");
    new_keys_ = test::make_keys(tmp_.path() / "new");
    append(old_keys_, 5);
    auto r = rotate_key(config(old_keys_), new_keys_.private_key, "alice");
    ASSERT_TRUE(r) << r.error().to_string();
    rotated_at_ = *r;
    append(new_keys_, 7);
    auto st = read_records(dir_, 0, [&](const ParsedRecord& rec) { times_.push_back(rec.time); }, nullptr);
    ASSERT_TRUE(st);
  }
  LedgerConfig config(const test::KeyFiles& k) const {
    LedgerConfig c;
    c.directory = dir_;
    c.checkpoint_key_file = k.private_key;
    c.origin = "test.example/ledger";
    c.checkpoint_every_records = 3;
    return c;
  }
  void append(const test::KeyFiles& k, int n) {
    auto l = Ledger::open(config(k));
    ASSERT_TRUE(l) << l.error().to_string();
    for (int i = 0; i < n; ++i) ASSERT_TRUE((*l)->append_durable(recovery_performed("f", i, 0, "r")));
    ASSERT_TRUE((*l)->close());
  }
  std::string pack(const std::string& from = {}) {
    EvidenceExportOptions o;
    o.from = from;
    auto p = build_evidence_pack(dir_, o);
    EXPECT_TRUE(p) << p.error().to_string();
    return p ? *p : std::string();
  }
  std::string verify(std::string_view p, const test::KeyFiles& k, EvidenceSummary* s = nullptr) {
    auto r = verify_evidence_pack(p, *NoteVerifier::load_pem(k.public_key), {});
    if (r && s) *s = *r;
    return r ? std::string("ok") : r.error().to_string();
  }

  test::TempDir tmp_;
  test::KeyFiles old_keys_, new_keys_;
  std::filesystem::path dir_ = tmp_.path() / "ledger";
  std::uint64_t rotated_at_ = 0;
  std::vector<std::string> times_;
};

TEST_F(EvidenceAcrossARotation, VerifiesWithTheOldKeyPinnedFollowingTheRecordedChain) {
  const std::string entry = "keys/" + std::to_string(rotated_at_) + ".json";
  // The whole ledger: the end checkpoint is the new key's, the rotation in the range.
  auto whole = pack();
  EvidenceSummary s;
  EXPECT_EQ(verify(whole, old_keys_, &s), "ok");
  EXPECT_EQ(s.keys, 2u);
  EXPECT_EQ(s.end, times_.size());
  // The rotation travels as keys/<R>.json, which nothing else in the pack stands in for.
  auto entries = read_zip(whole);
  ASSERT_TRUE(entries);
  EXPECT_EQ(std::count_if(entries->begin(), entries->end(), [&](const auto& e) { return e.name == entry; }), 1);
  // Pinning the new key is not pinning the ledger's first key.
  EXPECT_EQ(verify(whole, new_keys_),
            entry + ": checkpoint for tree size " + std::to_string(rotated_at_ + 1) +
                ": no valid signature by the key in force there (the given key)");
  // A range that starts after the rotation: both checkpoints are the new key's.
  auto later = pack(times_[8]);
  EXPECT_EQ(verify(later, old_keys_, &s), "ok");
  EXPECT_GT(s.start, rotated_at_);
  EXPECT_EQ(s.keys, 2u);
}

TEST_F(EvidenceAcrossARotation, AMissingOrChangedRotationFails) {
  const std::string entry = "keys/" + std::to_string(rotated_at_) + ".json";
  auto whole = pack();
  auto without = edit_pack(whole, [&](auto& m) { m.erase(entry); });
  EXPECT_EQ(verify(without, old_keys_),
            "checkpoints/end.txt: no valid signature by the given key (checkpoint changed or forged)");
  // Another new key: the old key's note does not hold that record.
  auto forged = edit_pack(whole, [&](auto& m) {
    auto& k = m[entry];
    auto at = k.find("new_key");
    k[at + 12] = k[at + 12] == 'A' ? 'B' : 'A';
  });
  EXPECT_EQ(verify(forged, old_keys_).rfind(entry + ": ", 0), 0u) << verify(forged, old_keys_);
  EXPECT_NE(verify(forged, old_keys_), "ok");
  auto renamed = edit_pack(whole, [&](auto& m) {
    m["keys/0" + entry.substr(5)] = m[entry];
    m.erase(entry);
  });
  EXPECT_EQ(verify(renamed, old_keys_), "keys/0" + entry.substr(5) + ": not keys/<sequence number>.json");
  // A format 1 pack has no keys.
  auto v1 = edit_pack(whole, [](auto& m) {
    m.erase("report.html");
    auto& e = m["evidence.json"];
    e.replace(e.find("ddlgate-evidence/2"), 18, "ddlgate-evidence/1");
  });
  EXPECT_EQ(verify(v1, old_keys_), entry + ": an entry format ddlgate-evidence/1 does not have");
}

}  // namespace
}  // namespace ddlgate::ledger

namespace ddlgate::ledger {
namespace {

// The two-pass export writes the packs the one-pass export wrote (tests/data/ledger/
// evidence-before-two-pass: a ledger and the SHA-256 of its packs made by the export before),
// byte for byte, in memory and to a file, and they verify.
TEST(EvidenceFixture, TheTwoPassExportWritesThePacksTheExportBeforeItWrote) {
  const std::filesystem::path fixture = DDLGATE_LEDGER_FIXTURES "/evidence-before-two-pass";
  test::TempDir tmp;
  std::filesystem::copy(fixture / "ledger", tmp.path() / "ledger");
  auto key = NoteVerifier::load_pem(fixture / "checkpoint.pub");
  ASSERT_TRUE(key) << key.error().to_string();
  struct Case {
    const char *from, *to, *sha256;
    std::uint64_t start, end;
  };
  for (const Case& c : {Case{"", "", "201b5b51999805ba97ccf0f5d05e6464283a8ad9e82d71732aa9c478850227ca", 0, 102},
                        Case{"2026-12-07T08:58:17.729702Z", "2026-12-07T08:58:17.729850Z",
                             "8dee9a6bd6caeb23cc34fd414cae58425bdf061eea1a5eb78fd776df5c715bb0", 35, 68}}) {
    EvidenceExportOptions o;
    o.from = c.from;
    o.to = c.to;
    o.registry_dir = fixture / "registry";
    EvidenceSummary s;
    auto built = build_evidence_pack(tmp.path() / "ledger", o, &s);
    ASSERT_TRUE(built) << built.error().to_string();
    EXPECT_EQ(base::sha256_hex(*built), c.sha256) << "from " << c.from;
    EXPECT_EQ(s.start, c.start);
    EXPECT_EQ(s.end, c.end);
    EXPECT_EQ(s.bundles, 1u);
    EXPECT_FALSE(s.first_time.empty());
    auto written = write_evidence_pack(tmp.path() / "ledger", o, tmp.path() / "p.zip");
    ASSERT_TRUE(written) << written.error().to_string();
    EXPECT_EQ(base::sha256_hex(test::read_all(tmp.path() / "p.zip")), c.sha256);
    auto v = verify_evidence_pack(*built, *key, {});
    ASSERT_TRUE(v) << v.error().to_string();
    EXPECT_EQ(v->start, c.start);
    EXPECT_EQ(v->first_time, s.first_time);
    EXPECT_EQ(v->last_time, s.last_time);
  }
}

}  // namespace
}  // namespace ddlgate::ledger
