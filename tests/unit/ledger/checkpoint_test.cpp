#include "ddlgate/ledger/checkpoint.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace ddlgate::ledger {
namespace {

TEST(Checkpoint, KeyIdFollowsSignedNoteSpec) {
  PublicKey k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(i);
  std::string data = "example.com/log\n";
  data.push_back('\x01');
  data.append(reinterpret_cast<const char*>(k.data()), k.size());
  Hash h = sha256(data);
  EXPECT_EQ(note_key_id("example.com/log", k), (KeyId{h[0], h[1], h[2], h[3]}));
}

TEST(Checkpoint, Base64IsStrict) {
  EXPECT_EQ(base64_encode("hello"), "aGVsbG8=");
  EXPECT_EQ(base64_decode("aGVsbG8="), "hello");
  EXPECT_EQ(base64_decode(""), "");
  EXPECT_FALSE(base64_decode("aGVsbG8"));
  EXPECT_FALSE(base64_decode("aGVsbG9="));  // non-canonical last character
  EXPECT_FALSE(base64_decode("aGV=bG8="));
}

TEST(Checkpoint, SignParseVerifyAndRejectTampering) {
  test::TempDir dir;
  auto keys = test::make_keys(dir.path() / "k");
  auto signer = NoteSigner::load_pem(keys.private_key, "example.com/log");
  ASSERT_TRUE(signer) << signer.error().to_string();
  auto verifier = NoteVerifier::load_pem(keys.public_key);
  ASSERT_TRUE(verifier) << verifier.error().to_string();
  Hash root = sha256("root");
  std::string note = signer->sign(checkpoint_body("example.com/log", 42, root));
  // Layout: body, blank line, one em-dash signature line of 4 + 64 bytes base64.
  EXPECT_EQ(note.rfind("example.com/log\n42\n", 0), 0u);
  EXPECT_NE(note.find("\n\n\xE2\x80\x94 example.com/log "), std::string::npos);
  auto cp = parse_checkpoint(note);
  ASSERT_TRUE(cp) << cp.error().to_string();
  EXPECT_EQ(cp->origin, "example.com/log");
  EXPECT_EQ(cp->size, 42u);
  EXPECT_EQ(cp->root, root);
  EXPECT_TRUE(verify_checkpoint(*cp, *verifier));

  auto other = test::make_keys(dir.path() / "other");
  EXPECT_FALSE(verify_checkpoint(*cp, *NoteVerifier::load_pem(other.public_key)));
  std::string changed = note;
  changed[note.find("42")] = '3';
  auto cp2 = parse_checkpoint(changed);
  ASSERT_TRUE(cp2);
  EXPECT_FALSE(verify_checkpoint(*cp2, *verifier));
  // Two notes back to back parse as two.
  auto both = parse_checkpoints(note + signer->sign(checkpoint_body("example.com/log", 43, root)));
  ASSERT_TRUE(both) << both.error().to_string();
  EXPECT_EQ(both->size(), 2u);
  EXPECT_EQ((*both)[1].size, 43u);
  // A cut note is an error with an offset.
  auto cut = parse_checkpoints(note + note.substr(0, note.size() - 10));
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().offset, static_cast<std::int64_t>(note.size()));
}

}  // namespace
}  // namespace ddlgate::ledger
