// The report's verification section (docs/ledger.md, "Report"): the keys with their rotations,
// the latest checkpoints with the key that signs each and the witnesses that cosigned it, and
// the witness quorum.
#include "ddlgate/ledger/report.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ddlgate/base/ed25519.h"
#include "ddlgate/ledger/keys.h"
#include "ddlgate/ledger/ledger.h"
#include "ddlgate/ledger/witness.h"
#include "test_util.h"

namespace ddlgate::ledger {
namespace {

class ReportVerification : public ::testing::Test {
 protected:
  void SetUp() override {
    old_keys_ = test::make_keys(tmp_.path() / "old");
    new_keys_ = test::make_keys(tmp_.path() / "new");
    append(old_keys_, 5);
    auto r = rotate_key(config(old_keys_), new_keys_.private_key, "alice");
    ASSERT_TRUE(r) << r.error().to_string();
    rotated_at_ = *r;
    append(new_keys_, 7);
    // Witness w1 cosigns the latest checkpoint; w2 cosigns nothing.
    auto text = test::read_all(dir_ / kCheckpointsFileName);
    auto notes = parse_checkpoints(text);
    ASSERT_TRUE(notes && !notes->empty());
    latest_ = notes->back();
    first_size_ = notes->front().size;
    ASSERT_LE(first_size_, rotated_at_ + 1);  // before the rotation
    auto w1_keys = test::make_keys(tmp_.path() / "w1");
    auto w2_keys = test::make_keys(tmp_.path() / "w2");
    auto w1 = Cosigner::load_pem(w1_keys.private_key, "witness.example/w1");
    auto w2 = Cosigner::load_pem(w2_keys.private_key, "witness.example/w2");
    ASSERT_TRUE(w1 && w2);
    w1_ = w1->verifier_key();
    w2_ = w2->verifier_key();
    std::ofstream(dir_ / kCosignaturesFileName, std::ios::binary)
        << with_signature_lines(latest_, {w1->cosign(latest_.body, 1700000000)});
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
  static std::string key_id_of(const test::KeyFiles& k) {
    return base::key_id(NoteVerifier::load_pem(k.public_key)->public_key());
  }
  // The page, and whether every ledger verified (and met the quorum).
  std::pair<std::string, bool> report(std::size_t quorum) {
    auto key = NoteVerifier::load_pem(old_keys_.public_key);
    ReportOptions o;
    o.ledgers = {dir_};
    o.key = &*key;
    o.witness_keys = {w1_, w2_};
    o.witness_quorum = quorum;
    std::ostringstream out;
    auto r = write_report(o, out);
    EXPECT_TRUE(r) << r.error().to_string();
    return {out.str(), r && *r};
  }
  // The row of the checkpoints table for tree size n ("" when there is none).
  static std::string checkpoint_row(const std::string& page, std::uint64_t n) {
    auto table = page.find("<table class=\"checkpoints\">");
    if (table == std::string::npos) return {};
    auto at = page.find("<tr><td>" + std::to_string(n) + "</td>", table);
    if (at == std::string::npos) return {};
    return page.substr(at, page.find("</tr>", at) - at);
  }

  test::TempDir tmp_;
  test::KeyFiles old_keys_, new_keys_;
  std::filesystem::path dir_ = tmp_.path() / "ledger";
  Checkpoint latest_;
  std::uint64_t first_size_ = 0;
  std::uint64_t rotated_at_ = 0;
  VerifierKey w1_, w2_;
};

TEST_F(ReportVerification, ShowsTheKeysTheirRotationTheCheckpointsAndWhoCosignedThem) {
  auto [page, ok] = report(1);
  EXPECT_TRUE(ok);
  // Both keys, the old one up to the tree that ends with the rotation record, the new one after.
  const std::string r = std::to_string(rotated_at_);
  const std::string keys = page.substr(page.find("<table class=\"keys\">"));
  EXPECT_NE(keys.find("<tr><td><code>" + key_id_of(old_keys_) + "</code></td><td>1 to " + std::to_string(rotated_at_ + 1) +
                      "</td><td>the given key (--pubkey)</td></tr>"),
            std::string::npos)
      << keys;
  EXPECT_NE(keys.find("<tr><td><code>" + key_id_of(new_keys_) + "</code></td><td>" + std::to_string(rotated_at_ + 2) +
                      " on</td><td>record " + r + " (key_rotated, by alice"),
            std::string::npos)
      << keys;
  // The latest checkpoint: signed by the new key, cosigned by w1 (not w2), with its record's time.
  auto row = checkpoint_row(page, latest_.size);
  ASSERT_FALSE(row.empty()) << page;
  EXPECT_NE(row.find("<td>" + key_id_of(new_keys_) + "</td><td>witness.example/w1</td>"), std::string::npos) << row;
  // Periodic checkpoints have the time of their checkpoint record; the shutdown ones have none.
  const std::string checkpoints = page.substr(page.find("<table class=\"checkpoints\">"));
  EXPECT_NE(checkpoints.find("</td><td>20"), std::string::npos) << checkpoints;  // 20xx-...
  EXPECT_NE(checkpoints.find("</td><td>no checkpoint record (a shutdown checkpoint)</td>"), std::string::npos)
      << checkpoints;
  // A checkpoint before the rotation: the old key's, cosigned by no one.
  auto early = checkpoint_row(page, first_size_);
  ASSERT_FALSE(early.empty()) << page;
  EXPECT_NE(early.find("<td>" + key_id_of(old_keys_) + "</td><td></td>"), std::string::npos) << early;
  EXPECT_NE(page.find("<p class=\"witness ok\">Witness quorum: the latest checkpoint (tree size " +
                      std::to_string(latest_.size) + ") has 1 of the 1 required cosignature(s).</p>"),
            std::string::npos);
}

TEST_F(ReportVerification, AQuorumNotMetFailsTheLedger) {
  auto [page, ok] = report(2);
  EXPECT_FALSE(ok);
  EXPECT_NE(page.find("<p class=\"witness bad\">Witness quorum: the latest checkpoint (tree size " +
                      std::to_string(latest_.size) + ") has 1 of the 2 required cosignature(s): FAILED.</p>"),
            std::string::npos)
      << page;
}

// Which environment a ledger is (docs/ledger.md, "Report"): the one its accepted manifests name
// when they are found unchanged (the fixture's three acceptances of one manifest of production),
// else unknown; --environment names it outright, marked when the manifests say otherwise.
TEST(ReportEnvironment, IsTheAcceptedManifestsOrTheGivenOneMarkedWhenTheyDisagree) {
  const std::filesystem::path fixture = DDLGATE_LEDGER_FIXTURES "/evidence-before-two-pass";
  test::TempDir tmp;
  std::filesystem::copy(fixture / "ledger", tmp.path() / "ledger");
  std::filesystem::copy(fixture / "registry", tmp.path() / "registry", std::filesystem::copy_options::recursive);
  auto page = [&](const std::filesystem::path& registry, std::vector<std::string> environments) {
    ReportOptions o;
    o.ledgers = {tmp.path() / "ledger"};
    o.registry_dir = registry;
    o.environments = std::move(environments);
    std::ostringstream out;
    auto r = write_report(o, out);
    EXPECT_TRUE(r) << r.error().to_string();
    return out.str();
  };
  const std::string dir = (tmp.path() / "ledger").string();
  auto found = page(tmp.path() / "registry", {});
  EXPECT_NE(found.find("<tr><td>" + dir + "</td><td class=\"environment\">production</td><td class=\"ok\">the 1 "
                       "bundle manifest(s) this ledger accepted</td>"),
            std::string::npos)
      << found;
  EXPECT_NE(found.find("<article class=\"environment\" data-environment=\"production\"><h3>Environment production</h3>"
                       "<p>Ledgers: " + dir + "; 3 change(s).</p>"),
            std::string::npos)
      << found;
  EXPECT_NE(found.find("<tr><td>production</td><td>" + dir + "</td><td>db0</td><td>app</td><td>3</td></tr>"),
            std::string::npos)
      << found;

  auto given = page(tmp.path() / "registry", {"staging"});
  EXPECT_NE(given.find("<td class=\"environment\">staging</td><td class=\"bad\">--environment; the manifests this "
                       "ledger accepted say production</td>"),
            std::string::npos)
      << given;
  // The changes stay under the environment of the manifest that approved them.
  EXPECT_NE(given.find("data-environment=\"production\"><h3>Environment production</h3><p>Ledgers: none of its own"),
            std::string::npos)
      << given;

  // A manifest changed since it was accepted is not believed; none found is unknown too.
  test::write_all_file(tmp.path() / "registry" / "shop-7" / "manifest.json",
                       "{\"bundle\":\"shop\",\"version\":\"7\",\"environment\":\"staging\"}\n");
  for (const auto& registry : {tmp.path() / "registry", tmp.path() / "no-registry"}) {
    auto unknown = page(registry, {});
    EXPECT_NE(unknown.find("<td class=\"environment\">unknown</td><td class=\"bad\">no accepted bundle manifest names "
                           "one; 1 accepted manifest(s) not found, changed since or naming none (give --environment)</td>"),
              std::string::npos)
        << unknown;
  }

  ReportOptions two;
  two.ledgers = {tmp.path() / "ledger", tmp.path() / "ledger"};
  two.environments = {"production"};
  std::ostringstream out;
  auto r = write_report(two, out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "give one --environment for each --ledger, or none");
}

}  // namespace
}  // namespace ddlgate::ledger
