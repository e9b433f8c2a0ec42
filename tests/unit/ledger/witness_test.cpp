// Witness formats from bytes: vkeys, cosignature/v1 lines, add-checkpoint bodies, the witness's
// decisions (tlog-witness status codes), its state directory, and consistency proofs made from
// a ledger directory.
#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <cstring>

#include "ddlgate/ledger/ledger.h"
#include "ddlgate/ledger/witness.h"
#include "test_util.h"

namespace ddlgate::ledger {
namespace {

Hash leaf(std::uint64_t i) { return leaf_hash("leaf " + std::to_string(i)); }

class Witness : public ::testing::Test {
 protected:
  void SetUp() override {
    log_keys_ = test::make_keys(tmp_.path() / "log");
    witness_keys_ = test::make_keys(tmp_.path() / "witness");
    log_ = *NoteSigner::load_pem(log_keys_.private_key, "log.example/a");
    cosigner_ = *Cosigner::load_pem(witness_keys_.private_key, "witness.example/w1");
    for (std::uint64_t i = 0; i < 40; ++i) tree_.append(leaf(i));
  }
  // A signed checkpoint of the first n leaves of tree_.
  Checkpoint checkpoint(std::uint64_t n, const NoteSigner* signer = nullptr) {
    const NoteSigner& s = signer ? *signer : *log_;
    return *parse_checkpoint(s.sign(checkpoint_body(s.name(), n, tree_.root(n))));
  }
  AddCheckpointRequest request(std::uint64_t old_size, std::uint64_t n) {
    auto body = format_add_checkpoint(old_size, old_size ? tree_.consistency_proof(old_size, n) : std::vector<Hash>{},
                                      checkpoint(n).text);
    auto r = parse_add_checkpoint(body);
    EXPECT_TRUE(r) << r.error().reason;
    return *r;
  }
  NoteVerifier log_verifier() const { return NoteVerifier::from_raw(log_->public_key()); }

  test::TempDir tmp_;
  test::KeyFiles log_keys_, witness_keys_;
  std::optional<NoteSigner> log_;
  std::optional<Cosigner> cosigner_;
  FullTree tree_;
};

TEST_F(Witness, VkeyRoundTripsAndPinsItsKeyId) {
  VerifierKey k = cosigner_->verifier_key();
  std::string text = format_vkey(k);
  auto parsed = parse_vkey(text);
  ASSERT_TRUE(parsed) << parsed.error().reason;
  EXPECT_EQ(parsed->name, "witness.example/w1");
  EXPECT_EQ(parsed->type, 0x04);
  EXPECT_EQ(parsed->key, k.key);
  // name+<8 hex>+base64(0x04 || key): 33 bytes of key material.
  EXPECT_EQ(text.substr(0, text.find('+')), "witness.example/w1");
  EXPECT_EQ(text.find('+', text.find('+') + 1) - text.find('+') - 1, 8u);
  std::string other_id = text;
  other_id[text.find('+') + 1] = other_id[text.find('+') + 1] == '0' ? '1' : '0';
  EXPECT_FALSE(parse_vkey(other_id));
  std::string other_name = "witness.example/w2" + text.substr(text.find('+'));
  EXPECT_FALSE(parse_vkey(other_name));
  EXPECT_FALSE(parse_vkey("witness.example/w1"));
  EXPECT_FALSE(parse_vkey("witness.example/w1+00000000+AAAA"));
  // A fixed vector, key id computed apart from this code (Python: hashlib.sha256(b"witness.test/w1\n"
  // + base64.b64decode(key)).hexdigest()[:8], the decoded key starting with its type byte 0x04).
  auto fixed = parse_vkey("witness.test/w1+afe3b053+BDgCJycKeje2J6zbEjQj5nqLQ44/3kC9eR/qoV4CsTwn");
  ASSERT_TRUE(fixed) << fixed.error().reason;
  EXPECT_EQ(fixed->type, 0x04);
  EXPECT_EQ(format_vkey(*fixed), "witness.test/w1+afe3b053+BDgCJycKeje2J6zbEjQj5nqLQ44/3kC9eR/qoV4CsTwn");
  EXPECT_FALSE(parse_vkey("witness.test/w2+afe3b053+BDgCJycKeje2J6zbEjQj5nqLQ44/3kC9eR/qoV4CsTwn"));
  // A type that is not Ed25519 (0x02, ECDSA) is refused.
  VerifierKey ecdsa = k;
  ecdsa.type = 0x02;
  EXPECT_FALSE(parse_vkey(format_vkey(ecdsa)));
}

TEST_F(Witness, CosignatureLineIsKeyIdTimestampAndSignatureOverTheV1Message) {
  Checkpoint cp = checkpoint(7);
  std::string line = cosigner_->cosign(cp.body, 1679315147);
  ASSERT_EQ(line.rfind("\xE2\x80\x94 witness.example/w1 ", 0), 0u);
  auto raw = base64_decode(line.substr(line.rfind(' ') + 1));
  ASSERT_TRUE(raw);
  ASSERT_EQ(raw->size(), 4u + 8u + 64u);
  VerifierKey k = cosigner_->verifier_key();
  KeyId id = vkey_key_id(k.name, 0x04, k.key);
  EXPECT_EQ(std::memcmp(raw->data(), id.data(), 4), 0);
  // 1679315147 = 0x641850CB, big-endian in 8 bytes.
  EXPECT_EQ(raw->substr(4, 8), std::string("\0\0\0\0\x64\x18\x50\xCB", 8));
  // The signature is Ed25519 over the exact message of tlog-cosignature, checked here with
  // OpenSSL directly, not with the code under test.
  std::string msg = "cosignature/v1\ntime 1679315147\nlog.example/a\n7\n" +
                    base64_encode(std::string_view(reinterpret_cast<const char*>(tree_.root(7).data()), 32)) + "\n";
  EXPECT_EQ(cosignature_message(cp.body, 1679315147), msg);
  EVP_PKEY* pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, k.key.data(), 32);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ASSERT_EQ(EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pk), 1);
  EXPECT_EQ(EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(raw->data() + 12), 64,
                             reinterpret_cast<const unsigned char*>(msg.data()), msg.size()),
            1);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pk);

  EXPECT_EQ(verify_cosignature(k, cp.body, line), std::optional<std::uint64_t>(1679315147));
  EXPECT_FALSE(verify_cosignature(k, checkpoint(8).body, line));  // another checkpoint
  VerifierKey other = k;
  other.key[0] ^= 1;
  EXPECT_FALSE(verify_cosignature(other, cp.body, line));  // another key
  VerifierKey as_note_key = k;
  as_note_key.type = 0x01;
  EXPECT_FALSE(verify_cosignature(as_note_key, cp.body, line));  // a plain note key is not a cosigner key
  // The timestamp is signed: changing it breaks the signature.
  std::string forged_raw = *raw;
  forged_raw[11] ^= 1;
  std::string forged = line.substr(0, line.rfind(' ') + 1) + base64_encode(forged_raw);
  EXPECT_FALSE(verify_cosignature(k, cp.body, forged));
}

TEST_F(Witness, QuorumCountsDistinctKeysAcrossNotes) {
  Checkpoint cp = checkpoint(9);
  auto w2_keys = test::make_keys(tmp_.path() / "w2");
  auto w2 = *Cosigner::load_pem(w2_keys.private_key, "witness.example/w2");
  std::vector<VerifierKey> keys = {cosigner_->verifier_key(), w2.verifier_key()};
  EXPECT_EQ(count_cosigners(cp, std::vector<Checkpoint>{}, keys), 0u);
  auto one = *parse_checkpoint(with_signature_lines(cp, {cosigner_->cosign(cp.body, 1), cosigner_->cosign(cp.body, 2)}));
  EXPECT_EQ(count_cosigners(cp, std::vector<Checkpoint>{one}, keys), 1u);
  auto two = *parse_checkpoint(with_signature_lines(cp, {w2.cosign(cp.body, 3)}));
  EXPECT_EQ(count_cosigners(cp, std::vector<Checkpoint>{one, two}, keys), 2u);
  // The same key configured twice counts once; a cosignature of another checkpoint counts not.
  EXPECT_EQ(count_cosigners(cp, std::vector<Checkpoint>{one}, {keys[0], keys[0]}), 1u);
  EXPECT_EQ(count_cosigners(checkpoint(10), std::vector<Checkpoint>{one, two}, keys), 0u);
}

TEST_F(Witness, AddCheckpointBodyRoundTrips) {
  auto proof = tree_.consistency_proof(5, 13);
  Checkpoint cp = checkpoint(13);
  std::string body = format_add_checkpoint(5, proof, cp.text);
  EXPECT_EQ(body.substr(0, 6), "old 5\n");
  auto r = parse_add_checkpoint(body);
  ASSERT_TRUE(r) << r.error().reason;
  EXPECT_EQ(r->old_size, 5u);
  EXPECT_EQ(r->proof, proof);
  EXPECT_EQ(r->checkpoint.text, cp.text);
  auto zero = parse_add_checkpoint(format_add_checkpoint(0, {}, cp.text));
  ASSERT_TRUE(zero);
  EXPECT_TRUE(zero->proof.empty());
}

TEST_F(Witness, AddCheckpointBodyRejectsMalformedBytes) {
  const std::string note = checkpoint(13).text;
  const std::string h = base64_encode(std::string(32, 'x')) + "\n";
  EXPECT_FALSE(parse_add_checkpoint(""));
  EXPECT_FALSE(parse_add_checkpoint("old 5"));                      // no newline
  EXPECT_FALSE(parse_add_checkpoint("old 05\n\n" + note));          // leading zero
  EXPECT_FALSE(parse_add_checkpoint("old -1\n\n" + note));
  EXPECT_FALSE(parse_add_checkpoint("old  5\n\n" + note));
  EXPECT_FALSE(parse_add_checkpoint("Old 5\n\n" + note));
  EXPECT_FALSE(parse_add_checkpoint("old 18446744073709551616\n\n" + note));  // 2^64
  EXPECT_FALSE(parse_add_checkpoint("old 5\n" + h + note));        // no empty line
  EXPECT_FALSE(parse_add_checkpoint("old 5\nAAAA\n\n" + note));     // a proof line that is not 32 bytes
  EXPECT_FALSE(parse_add_checkpoint("old 5\n" + h + "\n"));         // no checkpoint
  std::string many = "old 5\n";
  for (int i = 0; i < 63; ++i) many += h;
  EXPECT_TRUE(parse_add_checkpoint(many + "\n" + note));
  EXPECT_FALSE(parse_add_checkpoint(many + h + "\n" + note));       // 64 proof lines
  EXPECT_FALSE(parse_add_checkpoint("old 5\n\n" + note + std::string(kMaxAddCheckpointBody, 'a')));
  EXPECT_EQ(parse_size_body("42\n"), std::optional<std::uint64_t>(42));
  EXPECT_FALSE(parse_size_body("42"));
  EXPECT_FALSE(parse_size_body("042\n"));
  EXPECT_FALSE(parse_size_body("\n"));
}

TEST_F(Witness, DecidesAsTlogWitnessSays) {
  NoteVerifier lv = log_verifier();
  // Unknown origin: 404. A checkpoint under the origin signed by another key: 403.
  EXPECT_EQ(decide_add_checkpoint(request(0, 5), nullptr, std::nullopt, *cosigner_, 100).status, 404);
  auto other = test::make_keys(tmp_.path() / "other");
  auto forger = *NoteSigner::load_pem(other.private_key, "log.example/a");
  AddCheckpointRequest forged = request(0, 5);
  forged.checkpoint = checkpoint(5, &forger);
  EXPECT_EQ(decide_add_checkpoint(forged, &lv, std::nullopt, *cosigner_, 100).status, 403);
  // First contact: old 0, empty proof, cosigned.
  auto first = decide_add_checkpoint(request(0, 5), &lv, std::nullopt, *cosigner_, 100);
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_TRUE(first.new_state);
  EXPECT_EQ(first.new_state->size, 5u);
  EXPECT_TRUE(verify_cosignature(cosigner_->verifier_key(), checkpoint(5).body, first.body.substr(0, first.body.size() - 1)));
  WitnessedTree at5{5, tree_.root(5)};
  // Old size not the witness's: 409 with its size as text/x.tlog.size.
  auto conflict = decide_add_checkpoint(request(3, 9), &lv, at5, *cosigner_, 100);
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(conflict.body, "5\n");
  EXPECT_EQ(conflict.content_type, "text/x.tlog.size");
  EXPECT_FALSE(conflict.new_state);
  EXPECT_EQ(decide_add_checkpoint(request(0, 9), &lv, at5, *cosigner_, 100).status, 409);
  // Old size above the checkpoint's: 400.
  AddCheckpointRequest backwards = request(0, 3);
  backwards.old_size = 5;
  EXPECT_EQ(decide_add_checkpoint(backwards, &lv, at5, *cosigner_, 100).status, 400);
  // A good proof from the witness's size: 200; a bad one: 422.
  EXPECT_EQ(decide_add_checkpoint(request(5, 9), &lv, at5, *cosigner_, 100).status, 200);
  AddCheckpointRequest bad = request(5, 9);
  bad.proof[0][0] ^= 1;
  EXPECT_EQ(decide_add_checkpoint(bad, &lv, at5, *cosigner_, 100).status, 422);
  // A fork: same origin and key, another history of the same length from size 5 on.
  FullTree fork;
  for (std::uint64_t i = 0; i < 9; ++i) fork.append(i < 6 ? leaf(i) : leaf_hash("forged " + std::to_string(i)));
  auto fork_cp = *parse_checkpoint(log_->sign(checkpoint_body("log.example/a", 9, fork.root(9))));
  auto fork_req = *parse_add_checkpoint(format_add_checkpoint(5, fork.consistency_proof(5, 9), fork_cp.text));
  EXPECT_EQ(decide_add_checkpoint(fork_req, &lv, at5, *cosigner_, 100).status, 200);  // 0..5 agree: not a fork yet
  WitnessedTree at9{9, tree_.root(9)};
  auto fork_req2 = *parse_add_checkpoint(format_add_checkpoint(9, {}, fork_cp.text));
  EXPECT_EQ(decide_add_checkpoint(fork_req2, &lv, at9, *cosigner_, 100).status, 409);  // same size, other root
  FullTree fork2;
  for (std::uint64_t i = 0; i < 12; ++i) fork2.append(i != 2 ? leaf(i) : leaf_hash("forged"));
  auto fork2_cp = *parse_checkpoint(log_->sign(checkpoint_body("log.example/a", 12, fork2.root(12))));
  auto fork2_req = *parse_add_checkpoint(format_add_checkpoint(9, fork2.consistency_proof(9, 12), fork2_cp.text));
  EXPECT_EQ(decide_add_checkpoint(fork2_req, &lv, at9, *cosigner_, 100).status, 422);
}

TEST_F(Witness, ProofRangesAreThoseOfRfc6962) {
  for (std::uint64_t n = 1; n <= 40; ++n) {
    for (std::uint64_t m = 1; m < n; ++m) {
      auto ranges = consistency_proof_ranges(m, n);
      auto proof = tree_.consistency_proof(m, n);
      ASSERT_EQ(ranges.size(), proof.size()) << m << " " << n;
      for (std::size_t i = 0; i < ranges.size(); ++i) {
        FullTree part;
        for (auto j = ranges[i].first; j < ranges[i].second; ++j) part.append(leaf(j));
        EXPECT_EQ(part.root(), proof[i]) << m << " " << n << " " << i;
      }
    }
  }
  EXPECT_TRUE(consistency_proof_ranges(0, 5).empty());
  EXPECT_TRUE(consistency_proof_ranges(5, 5).empty());
}

TEST_F(Witness, ProofFromALedgerDirectoryVerifies) {
  LedgerConfig c;
  c.directory = tmp_.path() / "ledger";
  c.checkpoint_key_file = log_keys_.private_key;
  c.origin = "log.example/a";
  {
    auto l = Ledger::open(c);
    ASSERT_TRUE(l) << l.error().to_string();
    for (int i = 0; i < 23; ++i) ASSERT_TRUE((*l)->append_durable(session_closed("s" + std::to_string(i), "x")));
    ASSERT_TRUE((*l)->close());
  }
  for (std::uint64_t n : {1u, 2u, 7u, 16u, 23u}) {
    auto at_n = consistency_proof_from_ledger(c.directory, 0, n);
    ASSERT_TRUE(at_n) << at_n.error().to_string();
    for (std::uint64_t m = 1; m < n; ++m) {
      auto p = consistency_proof_from_ledger(c.directory, m, n);
      ASSERT_TRUE(p) << p.error().to_string();
      auto at_m = consistency_proof_from_ledger(c.directory, 0, m);
      EXPECT_TRUE(verify_consistency(m, n, at_m->root_n, p->root_n, p->proof)) << m << " " << n;
      EXPECT_EQ(p->root_n, at_n->root_n);
    }
  }
  auto too_far = consistency_proof_from_ledger(c.directory, 3, 24);
  EXPECT_FALSE(too_far);
}

TEST_F(Witness, StateSurvivesReopenAndRefusesAForeignFile) {
  auto dir = tmp_.path() / "state";
  {
    auto st = WitnessState::open(dir);
    ASSERT_TRUE(st) << st.error().to_string();
    EXPECT_FALSE(st->get("log.example/a"));
    ASSERT_TRUE(st->put("log.example/a", {5, tree_.root(5)}));
    ASSERT_TRUE(st->put("log.example/a", {9, tree_.root(9)}));
    ASSERT_TRUE(st->put("log.example/b", {1, tree_.root(1)}));
  }
  auto st = WitnessState::open(dir);
  ASSERT_TRUE(st);
  ASSERT_TRUE(st->get("log.example/a"));
  EXPECT_EQ(st->get("log.example/a")->size, 9u);
  EXPECT_EQ(st->get("log.example/a")->root, tree_.root(9));
  EXPECT_EQ(st->get("log.example/b")->size, 1u);
  // A state file whose name is not its origin's (copied from another log) is refused.
  std::filesystem::copy_file(dir / (to_hex(sha256("log.example/a")) + ".tree"), dir / (to_hex(sha256("log.example/c")) + ".tree"));
  EXPECT_FALSE(WitnessState::open(dir));
}

TEST_F(Witness, CosignaturesFileLeavesOutATornLastNote) {
  auto file = tmp_.path() / "cosignatures";
  Checkpoint cp = checkpoint(4);
  std::string a = with_signature_lines(cp, {cosigner_->cosign(cp.body, 1)});
  Checkpoint cp2 = checkpoint(6);
  std::string b = with_signature_lines(cp2, {cosigner_->cosign(cp2.body, 2)});
  test::write_all_file(file, a + b.substr(0, b.size() / 2));
  std::uint64_t valid = 0;
  auto r = read_cosignatures(file, &valid);
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(valid, a.size());
  test::write_all_file(file, a + "garbage that is not a note\n\n\n" + b);
  EXPECT_FALSE(read_cosignatures(file));
  EXPECT_TRUE(read_cosignatures(tmp_.path() / "absent")->empty());
}

}  // namespace
}  // namespace ddlgate::ledger

namespace ddlgate::ledger {
namespace {

TEST_F(Witness, ProofSourceWithChunksAgreesWithAFullScanAndReadsLess) {
  LedgerConfig c;
  c.directory = tmp_.path() / "ledger";
  c.checkpoint_key_file = log_keys_.private_key;
  c.origin = "log.example/a";
  c.segment_max_bytes = 2048;  // many segments, so that skipping them shows
  auto l = Ledger::open(c);
  ASSERT_TRUE(l) << l.error().to_string();
  LedgerProofSource source(c.directory, 2);  // chunks of 4 records
  std::uint64_t last_read = 0;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 37; ++i) ASSERT_TRUE((*l)->append_durable(session_closed("s" + std::to_string(i), "x")));
    const std::uint64_t n = (*l)->durable_size();
    for (std::uint64_t m = 0; m <= n; m += (m < 20 ? 1 : 7)) {
      auto want = consistency_proof_from_ledger(c.directory, m, n);
      auto got = source.prove(m, n);
      ASSERT_TRUE(want) << want.error().to_string();
      ASSERT_TRUE(got) << got.error().to_string();
      EXPECT_EQ(got->proof, want->proof) << m << " " << n;
      EXPECT_EQ(got->root_n, want->root_n) << m << " " << n;
    }
    // A proof from a recent size reads a few chunks and the new records, not the ledger.
    std::uint64_t before = source.records_read();
    ASSERT_TRUE(source.prove(n - 3, n));
    EXPECT_LE(source.records_read() - before, 3 * 4u) << n;
    EXPECT_GT(source.records_read(), last_read);
    last_read = source.records_read();
  }
  EXPECT_FALSE(source.prove(3, (*l)->durable_size() + 10));
  ASSERT_TRUE((*l)->close());
}

}  // namespace
}  // namespace ddlgate::ledger
