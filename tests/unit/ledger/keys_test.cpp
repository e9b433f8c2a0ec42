// Ledger key rotation (issue 27 item 3): a key_rotated record signed by the old key, endorsed by
// the new, hands the ledger over; verify pinned to the old key follows it, and a note signed by
// a key that nothing introduced fails.
#include <gtest/gtest.h>

#include <cstring>

#include "ddlgate/ledger/keys.h"
#include "ddlgate/ledger/ledger.h"
#include "ddlgate/ledger/segments.h"
#include "ddlgate/ledger/verify.h"
#include "test_util.h"

namespace ddlgate::ledger {
namespace {

namespace fs = std::filesystem;

class KeyRotation : public ::testing::Test {
 protected:
  test::TempDir tmp;
  test::KeyFiles old_keys = test::make_keys(tmp.path() / "old");
  test::KeyFiles new_keys = test::make_keys(tmp.path() / "new");
  fs::path dir = tmp.path() / "ledger";

  LedgerConfig config(const test::KeyFiles& k) const {
    LedgerConfig c;
    c.directory = dir;
    c.checkpoint_key_file = k.private_key;
    c.origin = "test.example/ledger";
    c.checkpoint_every_records = 3;
    c.checkpoint_copy_directory = tmp.path() / "shipped";
    return c;
  }
  static NoteVerifier pub(const test::KeyFiles& k) { return *NoteVerifier::load_pem(k.public_key); }
  void append(const test::KeyFiles& k, int n) {
    auto l = Ledger::open(config(k));
    ASSERT_TRUE(l) << l.error().to_string();
    ASSERT_FALSE((*l)->failure()) << (*l)->failure()->to_string();
    for (int i = 0; i < n; ++i) ASSERT_TRUE((*l)->append_durable(recovery_performed("f", i, 0, "r")));
    ASSERT_TRUE((*l)->close());
  }
  // Rotates from old_keys to new_keys after 5 records, then 7 more under the new key.
  void rotate() {
    append(old_keys, 5);
    auto r = rotate_key(config(old_keys), new_keys.private_key, "alice");
    ASSERT_TRUE(r) << r.error().to_string();
    append(new_keys, 7);
  }
};

TEST_F(KeyRotation, VerifyPinnedToTheOldKeyFollowsTheChainToTheNewKey) {
  rotate();
  VerifyOptions o;
  o.extra_checkpoints = tmp.path() / "shipped" / kCheckpointsFileName;
  auto rep = verify_directory(dir, pub(old_keys), o);
  ASSERT_TRUE(rep.ok()) << rep.problem->to_string();
  EXPECT_EQ(rep.keys, 2u);
  EXPECT_EQ(rep.covered, rep.records);
  // Notes above the rotation really are the new key's: the old key alone does not verify them.
  auto cps = parse_checkpoints(test::read_all(dir / kCheckpointsFileName));
  ASSERT_TRUE(cps);
  EXPECT_FALSE(verify_checkpoint(cps->back(), pub(old_keys)));
  EXPECT_TRUE(verify_checkpoint(cps->back(), pub(new_keys)));
  EXPECT_TRUE(verify_checkpoint(cps->front(), pub(old_keys)));
  // The record says who rotated to what.
  int seen = 0;
  ASSERT_TRUE(read_records(dir, 0, [&](const ParsedRecord& r) {
    if (r.type != RecordType::key_rotated) return;
    ++seen;
    EXPECT_EQ(r.fields.value("by", ""), "alice");
  }, nullptr));
  EXPECT_EQ(seen, 1);
}

TEST_F(KeyRotation, AfterTheRotationTheOldKeyNoLongerOpensTheLedger) {
  rotate();
  auto l = Ledger::open(config(old_keys));
  ASSERT_FALSE(l);
  EXPECT_NE(l.error().reason.find("rotate"), std::string::npos) << l.error().to_string();
}

TEST_F(KeyRotation, ANoteSignedByANewKeyWithNoIntroductionFailsVerify) {
  rotate();
  fs::remove(dir / kKeysFileName);
  auto rep = verify_directory(dir, pub(old_keys));
  ASSERT_FALSE(rep.ok());
  // And a ledger that a new key took over without any record: verify pinned to the old fails.
  test::TempDir other;
  auto c = config(old_keys);
  c.directory = other.path() / "l";
  c.checkpoint_copy_directory.clear();
  {
    auto l = Ledger::open(c);
    ASSERT_TRUE(l);
    ASSERT_TRUE((*l)->append_durable(recovery_performed("f", 1, 0, "r")));
  }
  c.checkpoint_key_file = new_keys.private_key;
  auto l = Ledger::open(c);
  ASSERT_FALSE(l) << "a ledger signed by another key must not be continued";
  rep = verify_directory(c.directory, pub(old_keys));
  EXPECT_TRUE(rep.ok());
}

TEST_F(KeyRotation, AnIntroductionTheNewKeyDidNotEndorseOrTheLedgerDoesNotHoldFails) {
  rotate();
  const std::string keys = test::read_all(dir / kKeysFileName);
  auto line = nlohmann::json::parse(keys);
  // Endorsed by a third key instead of the new one.
  auto third = test::make_keys(tmp.path() / "third");
  auto signer = NoteSigner::load_pem(third.private_key, "test.example/ledger");
  ASSERT_TRUE(signer);
  auto bad = line;
  auto old_raw = base64_decode(line["fields"]["old_key"].get<std::string>());
  auto new_raw = base64_decode(line["fields"]["new_key"].get<std::string>());
  PublicKey o{}, n{};
  std::memcpy(o.data(), old_raw->data(), 32);
  std::memcpy(n.data(), new_raw->data(), 32);
  bad["fields"]["endorsement"] = signer->sign(key_rotation_body("test.example/ledger", o, n));
  test::write_all_file(dir / kKeysFileName, bad.dump() + "\n");
  auto rep = verify_directory(dir, pub(old_keys));
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.problem->reason.find("endorsement"), std::string::npos) << rep.problem->to_string();
  // Introducing the third key (endorsed by it) where the ledger's record introduced the new key.
  bad = line;
  bad["fields"]["new_key"] = base64_encode(std::string_view(
      reinterpret_cast<const char*>(signer->public_key().data()), 32));
  bad["fields"]["endorsement"] = signer->sign(key_rotation_body("test.example/ledger", o, signer->public_key()));
  test::write_all_file(dir / kKeysFileName, bad.dump() + "\n");
  rep = verify_directory(dir, pub(old_keys));
  ASSERT_FALSE(rep.ok());
  // The notes above the rotation are the new key's, not the third's (checked first), and the
  // record the old key signed introduces the new key, not the third.
  EXPECT_NE(rep.problem->reason.find("no valid signature"), std::string::npos) << rep.problem->to_string();
  // Listed at another record than the one the ledger holds.
  bad = line;
  bad["seq"] = line["seq"].get<std::uint64_t>() + 1;
  test::write_all_file(dir / kKeysFileName, bad.dump() + "\n");
  rep = verify_directory(dir, pub(old_keys));
  ASSERT_FALSE(rep.ok());
  test::write_all_file(dir / kKeysFileName, keys);
  EXPECT_TRUE(verify_directory(dir, pub(old_keys)).ok());
}

TEST_F(KeyRotation, ARotationInterruptedBeforeItsKeysLineHandsNothingOverAndRunsAgain) {
  append(old_keys, 4);
  ASSERT_TRUE(rotate_key(config(old_keys), new_keys.private_key, "alice"));
  fs::remove(dir / kKeysFileName);  // the host died before the keys line was in place
  ASSERT_FALSE(Ledger::open(config(new_keys))) << "an unlisted record introduces no key";
  append(old_keys, 2);  // the old key is still in force
  EXPECT_TRUE(verify_directory(dir, pub(old_keys)).ok());
  auto again = rotate_key(config(old_keys), new_keys.private_key, "alice");
  ASSERT_TRUE(again) << again.error().to_string();
  append(new_keys, 3);
  auto rep = verify_directory(dir, pub(old_keys));
  ASSERT_TRUE(rep.ok()) << rep.problem->to_string();
  EXPECT_EQ(rep.keys, 2u);
}

}  // namespace
}  // namespace ddlgate::ledger
