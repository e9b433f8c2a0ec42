#include <algorithm>

#include <gtest/gtest.h>

#include "bundle_support.h"
#include "ddlgate/sql/analyze.h"
#include "ddlgate/bundle/registry.h"

using namespace bundle_test;

namespace {

std::string problems_text(const std::vector<Problem>& ps) {
  std::string s;
  for (const auto& p : ps) s += p.to_string() + "\n";
  return s;
}

bool has(const std::vector<Problem>& ps, const std::string& fragment) {
  return std::any_of(ps.begin(), ps.end(), [&](const Problem& p) {
    return p.to_string().find(fragment) != std::string::npos;
  });
}

// A signed dbmate bundle, valid at t0(), to tamper with.
class SignedBundle : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = scratch_.path() / "bundle";
    BuildResult r = build_bundle(options(kMigrations / "dbmate", dir_));
    ASSERT_TRUE(r.ok()) << problems_text(r.problems);
    sign_all(dir_, keys_);
  }
  LoadBundleResult verify(VerifyOptions o = verify_options()) { return load_bundle(dir_, keys_.trust(), o); }
  // Rewrites the manifest and signs it again with the usual three keys.
  void resign_manifest(const std::string& manifest) {
    spit(dir_ / "manifest.json", manifest);
    fs::remove_all(dir_ / "signatures");
    sign_all(dir_, keys_);
  }
  std::string sig_file(const SigningKey& k) {
    return (dir_ / "signatures" / (key_id(k.public_key()).substr(8) + ".sig")).string();
  }

  Scratch scratch_;
  Keys keys_;
  fs::path dir_;
  std::vector<Problem> parse_problems_;
};

}  // namespace

TEST(Signing, KeyIdIsSha256PrefixOfTheRawKey) {
  PublicKey k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(i);
  std::string raw(reinterpret_cast<const char*>(k.data()), k.size());
  EXPECT_EQ(key_id(k), "ed25519:" + sha256_hex(raw).substr(0, 16));
}

TEST(Signing, Base64IsStrict) {
  EXPECT_EQ(base64_decode("aGVsbG8="), "hello");
  EXPECT_FALSE(base64_decode("aGVsbG8"));
  EXPECT_FALSE(base64_decode("aGVs bG8="));
  EXPECT_FALSE(base64_decode("aGVsbG9="));  // non-canonical trailing bits
  // RFC 4648: the empty text is the encoding of the empty string (the ledger needs that; every
  // caller here checks the decoded length, so an empty key or signature is still refused).
  EXPECT_EQ(base64_decode(""), "");
}

TEST(Signing, SignVerifyAndPemRoundTrip) {
  auto k = SigningKey::generate();
  ASSERT_TRUE(k);
  std::string sig = k->sign("message");
  ASSERT_EQ(sig.size(), 64u);
  EXPECT_TRUE(ed25519_verify(k->public_key(), "message", sig));
  EXPECT_FALSE(ed25519_verify(k->public_key(), "messagf", sig));
  auto from_pem = parse_public_key(k->public_pem());
  ASSERT_TRUE(from_pem) << from_pem.error().reason;
  EXPECT_EQ(*from_pem, k->public_key());
  EXPECT_NE(k->private_pem().find("BEGIN PRIVATE KEY"), std::string::npos);
}

TEST(Times, Rfc3339UtcOnly) {
  auto t = parse_time("2026-02-28T23:59:59Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(format_time(*t), "2026-02-28T23:59:59Z");
  EXPECT_EQ(parse_time("2026-02-28T23:59:59+00:00"), t);
  EXPECT_FALSE(parse_time("2026-02-30T00:00:00Z"));
  EXPECT_FALSE(parse_time("2026-02-28T23:59:59+01:00"));
  EXPECT_FALSE(parse_time("2026-02-28 23:59:59Z"));
  EXPECT_EQ(parse_duration("30d"), std::chrono::seconds(30 * 86400));
  EXPECT_FALSE(parse_duration("30"));
  EXPECT_FALSE(parse_duration("d"));
}

TEST(UpPart, GooseTakesOnlyTheUpSection) {
  auto up = up_part(MigrationTool::goose, "-- +goose Up\nCREATE TABLE a (x int);\n-- +goose Down\nDROP TABLE a;\n");
  ASSERT_TRUE(up) << up.error().reason;
  EXPECT_EQ(*up, "CREATE TABLE a (x int);\n");
  EXPECT_FALSE(up_part(MigrationTool::goose, "CREATE TABLE a (x int);\n"));
  EXPECT_FALSE(up_part(MigrationTool::goose, "-- +goose Down\n-- +goose Up\n"));
}

TEST(UpPart, DbmateTakesOnlyTheUpSection) {
  auto up = up_part(MigrationTool::dbmate, "-- migrate:up transaction:false\nCREATE TABLE a (x int);\n-- migrate:down\nDROP TABLE a;\n");
  ASSERT_TRUE(up) << up.error().reason;
  EXPECT_EQ(*up, "CREATE TABLE a (x int);\n");
  EXPECT_FALSE(up_part(MigrationTool::dbmate, "-- migrate:upper\nCREATE TABLE a (x int);\n"));
}

TEST(Build, DetectsEveryLayout) {
  EXPECT_EQ(detect_tool(kMigrations / "plain"), MigrationTool::plain);
  EXPECT_EQ(detect_tool(kMigrations / "atlas"), MigrationTool::atlas);
  EXPECT_EQ(detect_tool(kMigrations / "golang-migrate"), MigrationTool::golang_migrate);
  EXPECT_EQ(detect_tool(kMigrations / "goose"), MigrationTool::goose);
  EXPECT_EQ(detect_tool(kMigrations / "flyway"), MigrationTool::flyway);
  EXPECT_EQ(detect_tool(kMigrations / "dbmate"), MigrationTool::dbmate);
  EXPECT_EQ(detect_tool(kMigrations / "sqitch"), MigrationTool::sqitch);
}

// Every layout: build, sign (registry + two approvers), verify, and the files in the tool's order.
class EveryLayout : public ::testing::TestWithParam<std::tuple<const char*, std::vector<std::string>>> {};

TEST_P(EveryLayout, BuildSignVerify) {
  auto [tool, expected_files] = GetParam();
  Scratch s;
  Keys k;
  fs::path out = s.path() / "b";
  BuildResult r = build_bundle(options(kMigrations / tool, out));
  ASSERT_TRUE(r.ok()) << problems_text(r.problems);
  EXPECT_EQ(to_string(r.manifest.tool), tool);
  std::vector<std::string> files;
  for (const auto& f : r.manifest.files) files.push_back(f.path);
  EXPECT_EQ(files, expected_files);
  sign_all(out, k);
  LoadBundleResult v = load_bundle(out, k.trust(), verify_options());
  ASSERT_TRUE(v.ok()) << problems_text(v.problems);
  EXPECT_EQ(v.bundle->signers.size(), 3u);
  // The copied files are byte for byte the sources.
  for (const auto& f : files) EXPECT_EQ(slurp(out / "files" / f), slurp(kMigrations / tool / f)) << f;
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, EveryLayout,
    ::testing::Values(
        std::make_tuple("plain", std::vector<std::string>{"001_users.sql", "002_orders.sql"}),
        std::make_tuple("atlas", std::vector<std::string>{"20240101000000_users.sql", "20240102000000_orders.sql"}),
        std::make_tuple("golang-migrate", std::vector<std::string>{"1_users.up.sql", "2_orders.up.sql", "10_audit.up.sql"}),
        std::make_tuple("goose", std::vector<std::string>{"20240101120000_users.sql", "20240102120000_orders.sql"}),
        std::make_tuple("flyway", std::vector<std::string>{"V1__users.sql", "V1.1__email_index.sql", "V2__orders.sql",
                                                           "R__active_users.sql"}),
        std::make_tuple("dbmate", std::vector<std::string>{"20240101000000_create_users.sql", "20240102000000_add_name.sql"}),
        std::make_tuple("sqitch", std::vector<std::string>{"deploy/users.sql", "deploy/orders.sql"})),
    [](const auto& param_info) {
      std::string n = std::get<0>(param_info.param);
      std::replace(n.begin(), n.end(), '-', '_');
      return n;
    });

TEST(Build, UpPartsOnlyAndStatementsHashedLikeAnalyze) {
  Scratch s;
  BuildResult r = build_bundle(options(kMigrations / "goose", s.path() / "b"));
  ASSERT_TRUE(r.ok()) << problems_text(r.problems);
  ASSERT_EQ(r.manifest.files[0].statements.size(), 2u);  // CREATE TABLE and CREATE FUNCTION; no DROP
  Analysis a = analyze("CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);", Policy{}, Detail::all);
  EXPECT_EQ(r.manifest.files[0].statements[0].hash, a.statements[0].hash);
  EXPECT_EQ(r.manifest.files[0].statements[1].cls, StatementClass::code);
  for (const auto& f : r.manifest.files) {
    for (const auto& st : f.statements) EXPECT_EQ(st.sql.find("DROP"), std::string::npos) << st.sql;
  }
}

TEST(Build, BookkeepingStatementsAreTheToolsOwn) {
  Scratch s;
  BuildResult r = build_bundle(options(kMigrations / "dbmate", s.path() / "b"));
  ASSERT_TRUE(r.ok());
  auto it = std::find_if(r.manifest.bookkeeping.begin(), r.manifest.bookkeeping.end(), [](const auto& b) {
    return b.sql == "insert into public.schema_migrations (version) values ($1)";
  });
  ASSERT_NE(it, r.manifest.bookkeeping.end());
  EXPECT_EQ(it->cls, StatementClass::write);
  EXPECT_EQ(it->hash, analyze(it->sql, Policy{}, Detail::all).statements[0].hash);
  auto create = analyze("CREATE TABLE IF NOT EXISTS public.schema_migrations (version varchar(255) PRIMARY KEY)",
                        Policy{}, Detail::all);
  EXPECT_TRUE(std::any_of(r.manifest.bookkeeping.begin(), r.manifest.bookkeeping.end(),
                          [&](const auto& b) { return b.hash == create.statements[0].hash; }));
  Scratch s2;
  auto plain = build_bundle(options(kMigrations / "plain", s2.path() / "b"));
  EXPECT_TRUE(plain.manifest.bookkeeping.empty());
}

TEST(Build, UnparseableFileFailsWithItsNameAndPosition) {
  Scratch s;
  fs::create_directories(s.path() / "src");
  spit(s.path() / "src" / "001_ok.sql", "CREATE TABLE a (x int);\n");
  spit(s.path() / "src" / "002_bad.sql", "CREATE TABLE b (x int);\nCREATE TABLEE c (y int);\n");
  BuildResult r = build_bundle(options(s.path() / "src", s.path() / "out"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(has(r.problems, "002_bad.sql: syntax error at or near \"TABLEE\" at position")) << problems_text(r.problems);
  EXPECT_TRUE(has(r.problems, "(line 2)")) << problems_text(r.problems);
  EXPECT_FALSE(fs::exists(s.path() / "out"));
}

TEST(Build, AtlasSumMismatchIsRefused) {
  Scratch s;
  fs::copy(kMigrations / "atlas", s.path() / "src");
  spit(s.path() / "src" / "20240102000000_orders.sql", "CREATE TABLE orders (id int);\n");
  BuildResult r = build_bundle(options(s.path() / "src", s.path() / "out"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(has(r.problems, "atlas.sum: does not match")) << problems_text(r.problems);
}

TEST(Build, RefusesBadOptionsAndAnExistingOutput) {
  Scratch s;
  auto o = options(kMigrations / "plain", s.path());
  o.valid_for = std::chrono::hours(24 * 366);
  o.version = 0;
  BuildResult r = build_bundle(o);
  EXPECT_TRUE(has(r.problems, "--valid-for"));
  EXPECT_TRUE(has(r.problems, "--version"));
  EXPECT_TRUE(has(r.problems, "already exists"));
}

TEST_F(SignedBundle, VerifiesAndRecordsSigners) {
  auto r = verify();
  ASSERT_TRUE(r.ok()) << problems_text(r.problems);
  EXPECT_EQ(r.bundle->manifest.app, "shop");
  EXPECT_EQ(r.bundle->manifest.source.pull_request, "42");
}

TEST_F(SignedBundle, RejectsAnEditedSqlFile) {
  fs::path f = dir_ / "files" / "20240101000000_create_users.sql";
  std::string text = slurp(f);
  text.replace(text.find("reporting"), 9, "public   ");
  spit(f, text);
  auto r = verify();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has(r.problems, "files/20240101000000_create_users.sql: SHA-256")) << problems_text(r.problems);
}

TEST_F(SignedBundle, RejectsAnAddedFile) {
  spit(dir_ / "files" / "20240103000000_sneaky.sql", "-- migrate:up\nDROP TABLE users;\n");
  auto r = verify();
  EXPECT_TRUE(has(r.problems, "files/20240103000000_sneaky.sql: not listed in the manifest")) << problems_text(r.problems);
}

TEST_F(SignedBundle, RejectsAMissingFile) {
  fs::remove(dir_ / "files" / "20240102000000_add_name.sql");
  auto r = verify();
  EXPECT_TRUE(has(r.problems, "listed in the manifest but missing")) << problems_text(r.problems);
}

TEST_F(SignedBundle, RejectsAnEditedManifest) {
  std::string m = slurp(dir_ / "manifest.json");
  m.replace(m.find("\"version\": 1"), 12, "\"version\": 9");
  spit(dir_ / "manifest.json", m);
  auto r = verify();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has(r.problems, "does not verify against manifest.json")) << problems_text(r.problems);
  EXPECT_TRUE(has(r.problems, "role registry: 0 of 1")) << problems_text(r.problems);
}

TEST_F(SignedBundle, RejectsASignatureByAnUnknownKey) {
  ASSERT_TRUE(sign_bundle(dir_, *keys_.stranger, "approver"));
  auto r = verify();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has(r.problems, "is not in the trust policy")) << problems_text(r.problems);
}

TEST_F(SignedBundle, CountsOneKeySigningTwiceOnce) {
  fs::remove(sig_file(*keys_.approver2));
  // approver1's signature under a second name (and under approver2's key id).
  fs::copy_file(sig_file(*keys_.approver1), sig_file(*keys_.approver2));
  fs::copy_file(sig_file(*keys_.approver1), dir_ / "signatures" / "copy.sig");
  auto r = verify();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has(r.problems, "role approver: 1 of 2 required")) << problems_text(r.problems);
}

TEST_F(SignedBundle, CountsAKeyByItsKeyNotItsClaimedId) {
  std::string text = slurp(sig_file(*keys_.approver1));
  std::string id1 = key_id(keys_.approver1->public_key());
  std::string id2 = key_id(keys_.approver2->public_key());
  fs::remove(sig_file(*keys_.approver2));
  text.replace(text.find(id1), id1.size(), id2);  // claims approver2 but carries approver1's key
  spit(dir_ / "signatures" / "claims-approver2.sig", text);
  auto r = verify();
  EXPECT_TRUE(has(r.problems, "role approver: 1 of 2 required")) << problems_text(r.problems);
}

TEST_F(SignedBundle, RejectsBelowThresholdInOneRole) {
  fs::remove(sig_file(*keys_.registry));
  auto r = verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems.front().to_string(), "role registry: 0 of 1 required signatures by distinct trusted keys");
  EXPECT_EQ(r.problems.size(), 1u) << problems_text(r.problems);
}

// Format 1 (bundles built before format 2): the signature does not say its role, so a key
// listed in two roles counts in each.
TEST(Format1, AKeyInTwoRolesCountsForEach) {
  Scratch s;
  Keys keys_;
  fs::path dir_ = s.path() / "b";
  BuildOptions o = options(kMigrations / "dbmate", dir_);
  o.format = kBundleFormat1;
  ASSERT_TRUE(build_bundle(o).ok());
  sign_all(dir_, keys_);
  auto sig_file = [&](const SigningKey& k) { return dir_ / "signatures" / (key_id(k.public_key()).substr(8) + ".sig"); };
  // approver1 also a registry key: its one signature satisfies registry; approver still needs two.
  TrustAnchors t = keys_.trust();
  t.roles[1].keys.push_back(keys_.approver1->public_key());
  fs::remove(sig_file(*keys_.registry));
  EXPECT_TRUE(load_bundle(dir_, t, verify_options()).ok());
  fs::remove(sig_file(*keys_.approver2));
  auto r = load_bundle(dir_, t, verify_options());
  EXPECT_TRUE(has(r.problems, "role approver: 1 of 2")) << problems_text(r.problems);
}

TEST_F(SignedBundle, RejectsExpiredAndNotYetValid) {
  VerifyOptions late = verify_options();
  late.now = t0() + std::chrono::hours(24 * 31);
  EXPECT_TRUE(has(verify(late).problems, "manifest.json: expired: not_after was"));
  VerifyOptions early = verify_options();
  early.now = t0() - std::chrono::hours(2);
  EXPECT_TRUE(has(verify(early).problems, "manifest.json: not yet valid"));
  VerifyOptions skewed = verify_options();
  skewed.now = t0() - std::chrono::hours(1) - std::chrono::seconds(60);  // within the clock skew
  EXPECT_TRUE(verify(skewed).ok());
}

TEST_F(SignedBundle, RejectsTheWrongEnvironment) {
  VerifyOptions o = verify_options();
  o.environment = "staging";
  auto r = verify(o);
  EXPECT_TRUE(has(r.problems, "environment is 'prod', expected 'staging'")) << problems_text(r.problems);
}

TEST_F(SignedBundle, RejectsDuplicateJsonKeysInTheManifest) {
  std::string m = slurp(dir_ / "manifest.json");
  m.replace(m.find("\"app\": \"shop\","), 14, "\"app\": \"shop\", \"app\": \"evil\",");
  resign_manifest(m);
  auto r = verify();
  EXPECT_TRUE(has(r.problems, "manifest.json: duplicate key \"app\"")) << problems_text(r.problems);
}

TEST_F(SignedBundle, RejectsDuplicateJsonKeysNestedInTheManifest) {
  std::string m = slurp(dir_ / "manifest.json");
  auto pos = m.find("\"index\": 1,");
  m.replace(pos, 11, "\"index\": 1, \"index\": 1,");
  resign_manifest(m);
  EXPECT_TRUE(has(verify().problems, "duplicate key \"index\""));
}

TEST_F(SignedBundle, RejectsDuplicateJsonKeysInASignatureFile) {
  std::string text = slurp(sig_file(*keys_.approver1));
  text.replace(text.find("\"role\""), 6, "\"role\": \"registry\", \"role\"");
  spit(sig_file(*keys_.approver1), text);
  auto r = verify();
  EXPECT_TRUE(has(r.problems, "duplicate key \"role\"")) << problems_text(r.problems);
}

TEST_F(SignedBundle, RejectsATruncatedSignature) {
  std::string text = slurp(sig_file(*keys_.approver1));
  spit(sig_file(*keys_.approver1), text.substr(0, text.size() / 2));
  auto r = verify();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has(r.problems, ".sig: not valid JSON")) << problems_text(r.problems);
  EXPECT_TRUE(has(r.problems, "role approver: 1 of 2")) << problems_text(r.problems);
}

TEST_F(SignedBundle, RejectsAShortenedSignatureValue) {
  std::string text = slurp(sig_file(*keys_.approver1));
  auto pos = text.find("\"signature\": \"") + 14;
  text.erase(pos, 8);
  spit(sig_file(*keys_.approver1), text);
  EXPECT_TRUE(has(verify().problems, "\"signature\" is not base64 of a 64-byte Ed25519 signature"));
}

TEST_F(SignedBundle, RejectsAnOversizedSignatureFileBeforeReadingIt) {
  spit(dir_ / "signatures" / "big.sig", std::string(8192, ' '));
  EXPECT_TRUE(has(verify().problems, "signatures/big.sig: 8192 bytes, larger than the limit of 4096"));
}

TEST_F(SignedBundle, RejectsTooManySignatureFiles) {
  VerifyOptions o = verify_options();
  o.max_signatures = 2;
  EXPECT_TRUE(has(verify(o).problems, "more than 2 signature files"));
}

TEST_F(SignedBundle, RejectsAManifestFarOverTheCap) {
  std::string m = slurp(dir_ / "manifest.json");
  m.insert(m.size() - 2, std::string(20u * 1024 * 1024, ' '));
  resign_manifest(m);
  auto r = verify();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.problems.front().to_string().find("manifest.json: "), std::string::npos);
  EXPECT_NE(r.problems.front().to_string().find("larger than the limit of 16777216"), std::string::npos);
}

TEST_F(SignedBundle, RejectsAStatementHashThatDoesNotMatchTheFile) {
  std::string m = slurp(dir_ / "manifest.json");
  // Approve a different statement under the file's name: correctly signed, but a lie.
  std::string good = analyze("GRANT SELECT ON users TO reporting", Policy{}, Detail::all).statements[0].hash;
  std::string evil = analyze("GRANT ALL ON users TO PUBLIC", Policy{}, Detail::all).statements[0].hash;
  ASSERT_NE(m.find(good), std::string::npos);
  m.replace(m.find(good), good.size(), evil);
  resign_manifest(m);
  auto r = verify();
  EXPECT_TRUE(has(r.problems, "statement 2: the manifest's hash " + evil + " differs from the file's " + good))
      << problems_text(r.problems);
}

TEST_F(SignedBundle, RejectsATamperedBookkeepingHash) {
  auto m = parse_manifest(slurp(dir_ / "manifest.json"), &parse_problems_);
  ASSERT_TRUE(m && !m->bookkeeping.empty());
  m->bookkeeping[0].hash = m->bookkeeping[1].hash;
  resign_manifest(serialize_manifest(*m));
  EXPECT_TRUE(has(verify().problems, "bookkeeping[0]: hash or class does not match its sql"));
}

// A statement in no file, added to bookkeeping with its true hash and class and
// signed by every key: still not approved, since bookkeeping is only ever the
// tool's own statements (issue: a signed DROP smuggled in as bookkeeping).
TEST_F(SignedBundle, RejectsABookkeepingStatementThatIsNotTheToolsOwn) {
  auto m = parse_manifest(slurp(dir_ / "manifest.json"), &parse_problems_);
  ASSERT_TRUE(m);
  Analysis a = analyze("DROP TABLE users", Policy{}, Detail::all);
  ASSERT_TRUE(a.ok());
  m->bookkeeping.push_back({"dbmate", a.statements[0].cls, a.statements[0].hash, "DROP TABLE users", std::nullopt});
  resign_manifest(serialize_manifest(*m));
  auto r = verify();
  EXPECT_FALSE(r.bundle);
  EXPECT_TRUE(has(r.problems, "is not a bookkeeping statement of dbmate")) << problems_text(r.problems);

  // Another tool's statement, or the same one twice, is refused too.
  auto m2 = parse_manifest(slurp(dir_ / "manifest.json"), &parse_problems_);
  ASSERT_TRUE(m2);
  m2->bookkeeping.pop_back();
  const std::string golang = bookkeeping_sql(MigrationTool::golang_migrate).at(0);
  Analysis g = analyze(golang, Policy{}, Detail::all);
  ASSERT_TRUE(g.ok());
  m2->bookkeeping.push_back({"golang-migrate", g.statements[0].cls, g.statements[0].hash, golang, std::nullopt});
  m2->bookkeeping.push_back(m2->bookkeeping.front());
  resign_manifest(serialize_manifest(*m2));
  r = verify();
  EXPECT_FALSE(r.bundle);
  EXPECT_TRUE(has(r.problems, "sql is not a bookkeeping statement of dbmate (docs/bundles.md lists them): " +
                                  golang.substr(0, 20)))
      << problems_text(r.problems);
  EXPECT_TRUE(has(r.problems, "sql is listed twice")) << problems_text(r.problems);
  // Format 1 names each entry's tool, which must be the manifest's.
  auto m3 = parse_manifest(slurp(dir_ / "manifest.json"), &parse_problems_);
  ASSERT_TRUE(m3);
  m3->format = std::string(kBundleFormat1);
  m3->any_database = false;
  m3->bookkeeping.back().tool = "golang-migrate";
  resign_manifest(serialize_manifest(*m3));
  r = verify();
  EXPECT_TRUE(has(r.problems, "is not the manifest's tool 'dbmate'")) << problems_text(r.problems);
}

// The manifest's sql of a statement is what reviewers read (`bundle inspect`): it must
// be the display SQL of the file's statement that the hash approves.
TEST_F(SignedBundle, RejectsAStatementWhoseManifestSqlIsNotTheFilesStatement) {
  auto m = parse_manifest(slurp(dir_ / "manifest.json"), &parse_problems_);
  ASSERT_TRUE(m && !m->files.empty() && !m->files[0].statements.empty());
  m->files[0].statements[0].sql = "CREATE TABLE harmless (id int)";
  resign_manifest(serialize_manifest(*m));
  auto r = verify();
  EXPECT_FALSE(r.bundle);
  EXPECT_TRUE(has(r.problems, "statement 1: the manifest's sql is not the display SQL of the file's statement"))
      << problems_text(r.problems);
}

TEST_F(SignedBundle, RejectsUnknownManifestKeysAndPathEscapes) {
  std::string m = slurp(dir_ / "manifest.json");
  std::string m2 = m;
  m2.replace(m2.find("\"app\""), 5, "\"apq\"");
  resign_manifest(m2);
  auto r = verify();
  EXPECT_TRUE(has(r.problems, "\"apq\" unknown key")) << problems_text(r.problems);
  EXPECT_TRUE(has(r.problems, "\"app\" missing")) << problems_text(r.problems);
  std::string m3 = m;
  m3.replace(m3.find("\"20240101000000_create_users.sql\""), 33, "\"../20240101000000_create_users.sql\"");
  resign_manifest(m3);
  EXPECT_TRUE(has(verify().problems, "is not a plain relative path"));
}

TEST(TrustAnchors, DecodesBase64PemAndFiles) {
  Scratch s;
  Keys k;
  spit(s.path() / "a.pub", k.approver1->public_pem());
  const auto& raw = k.registry->public_key();
  ddlgate::config::TrustPolicy p;
  p.base_dir = s.path();
  p.roles.push_back({"approver", 1, {"a.pub", k.approver2->public_pem()}});
  p.roles.push_back({"registry", 1, {base64_encode(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()))}});
  std::vector<Problem> problems;
  TrustAnchors t = TrustAnchors::from_config(p, &problems);
  ASSERT_TRUE(problems.empty()) << problems_text(problems);
  EXPECT_EQ(t.roles[0].keys[0], k.approver1->public_key());
  EXPECT_EQ(t.roles[0].keys[1], k.approver2->public_key());
  EXPECT_EQ(t.roles[1].keys[0], raw);
  // The names the ledger keeps for signers (bundle_accepted's signers): a file's stem, none inline.
  EXPECT_EQ(t.roles[0].names, (std::vector<std::string>{"a", ""}));
  EXPECT_EQ(t.roles[1].names, (std::vector<std::string>{""}));
  p.roles[0].keys = {"missing.pub", "AAAA"};
  problems.clear();
  TrustAnchors::from_config(p, &problems);
  EXPECT_TRUE(has(problems, "roles.approver.keys[0]"));
  EXPECT_TRUE(has(problems, "roles.approver.keys[1]: a raw Ed25519 public key is 32 bytes"));
}

TEST(Manifest, HostileJsonIsAProblemNotACrash) {
  std::vector<Problem> problems;
  std::string deep(300'000, '[');
  deep += std::string(300'000, ']');
  EXPECT_FALSE(parse_manifest(deep, &problems));
  EXPECT_TRUE(has(problems, "must be a JSON object"));
  problems.clear();
  std::string wide = "{";
  for (int i = 0; i < 50'000; ++i) wide += "\"k" + std::to_string(i) + "\":0,";
  wide += "\"k7\":1}";
  EXPECT_FALSE(parse_manifest(wide, &problems));
  EXPECT_TRUE(has(problems, "duplicate key \"k7\"")) << problems_text(problems);
  problems.clear();
  EXPECT_FALSE(parse_manifest("{\"format\": \"ddlgate-bundle/1\", \"version\": -1}", &problems));
  EXPECT_TRUE(has(problems, "\"version\" must be a non-negative integer"));
  problems.clear();
  EXPECT_FALSE(parse_manifest("{\"format\": \"ddlgate-bundle/3\"}", &problems));
  EXPECT_TRUE(has(problems, "this ddlgate reads ddlgate-bundle/1 and ddlgate-bundle/2")) << problems_text(problems);
  problems.clear();
  EXPECT_FALSE(parse_manifest("{\"app\": \"\xff\"}", &problems));
  EXPECT_TRUE(has(problems, "not valid JSON"));
}

TEST(Manifest, SerialisesAndParsesBack) {
  Scratch s;
  BuildResult r = build_bundle(options(kMigrations / "goose", s.path() / "b"));
  ASSERT_TRUE(r.ok());
  std::string bytes = slurp(s.path() / "b" / "manifest.json");
  EXPECT_EQ(serialize_manifest(r.manifest), bytes);
  std::vector<Problem> problems;
  auto m = parse_manifest(bytes, &problems);
  ASSERT_TRUE(m) << problems_text(problems);
  EXPECT_EQ(serialize_manifest(*m), bytes);
}

TEST_F(SignedBundle, ManyMismatchedStatementsAreSummarised) {
  fs::remove_all(dir_);
  Scratch src;
  std::string sql;
  for (int i = 0; i < 30; ++i) sql += "CREATE TABLE t" + std::to_string(i) + " (x int);\n";
  spit(src.path() / "001.sql", sql);
  ASSERT_TRUE(build_bundle(options(src.path(), dir_)).ok());
  std::string m = slurp(dir_ / "manifest.json");
  for (int i = 0; i < 30; ++i) {
    std::string h = analyze("CREATE TABLE t" + std::to_string(i) + " (x int)", Policy{}, Detail::all).statements[0].hash;
    std::string other = analyze("CREATE TABLE u" + std::to_string(i) + " (x int)", Policy{}, Detail::all).statements[0].hash;
    m.replace(m.find(h), h.size(), other);
  }
  resign_manifest(m);
  auto r = verify();
  EXPECT_EQ(r.problems.size(), 11u) << problems_text(r.problems);
  EXPECT_TRUE(has(r.problems, "and 20 more statements that differ from the manifest"));
}

// `bundle diff`: a new version that changes a statement, drops one (and a down part), adds a
// file and widens the databases shows each, at its place, and nothing else.
TEST(Diff, ShowsAddedRemovedAndChangedStatementsByPlace) {
  Scratch s;
  fs::create_directories(s.path() / "v2");
  fs::copy_file(kMigrations / "dbmate" / "20240101000000_create_users.sql",
                s.path() / "v2" / "20240101000000_create_users.sql");
  spit(s.path() / "v2" / "20240102000000_add_name.sql",
       "-- migrate:up transaction:false\ncreate index concurrently users_email on users (lower(email));\n");
  spit(s.path() / "v2" / "20240103000000_orders.sql", "-- migrate:up\ncreate table orders (id int);\n");
  BuildResult v1 = build_bundle(options(kMigrations / "dbmate", s.path() / "b1", 1));
  ASSERT_TRUE(v1.ok()) << problems_text(v1.problems);
  BuildOptions o2 = options(s.path() / "v2", s.path() / "b2", 2);
  o2.databases = {"shop", "billing"};
  BuildResult v2 = build_bundle(o2);
  ASSERT_TRUE(v2.ok()) << problems_text(v2.problems);

  ManifestDiff d = diff_manifests(v1.manifest, {}, v2.manifest, {});
  ASSERT_EQ(d.added.size(), 1u);
  EXPECT_EQ(d.added[0].file, "20240103000000_orders.sql");
  EXPECT_EQ(d.added[0].sql, "CREATE TABLE orders (id int)");
  ASSERT_EQ(d.removed.size(), 2u);
  EXPECT_EQ(d.removed[0].file, "20240102000000_add_name.sql");
  EXPECT_EQ(d.removed[0].index, 2u);
  EXPECT_FALSE(d.removed[0].down);
  // The new file has no down part: the old one's rollback is gone, at its own place (the same
  // file and index 1, but the down part).
  EXPECT_EQ(d.removed[1].file, "20240102000000_add_name.sql");
  EXPECT_EQ(d.removed[1].index, 1u);
  EXPECT_TRUE(d.removed[1].down);
  EXPECT_EQ(d.removed[1].sql, "ALTER TABLE users DROP name");
  ASSERT_EQ(d.changed.size(), 1u);
  EXPECT_EQ(d.changed[0].first.sql, "CREATE INDEX CONCURRENTLY users_email ON users USING btree (email)");
  EXPECT_EQ(d.changed[0].second.sql, "CREATE INDEX CONCURRENTLY users_email ON users USING btree (lower(email))");
  EXPECT_NE(d.changed[0].first.hash, d.changed[0].second.hash);
  EXPECT_TRUE(std::find(d.header.begin(), d.header.end(), "databases: shop -> billing, shop") != d.header.end())
      << ::testing::PrintToString(d.header);
  EXPECT_TRUE(std::find(d.header.begin(), d.header.end(), "version: 1 -> 2") != d.header.end());
  EXPECT_TRUE(d.bookkeeping_added.empty() && d.bookkeeping_removed.empty());

  // The same manifest against itself: nothing.
  EXPECT_TRUE(diff_manifests(v1.manifest, {}, v1.manifest, {}).empty());
  // Another tool: its bookkeeping statements swap.
  BuildOptions o3 = options(kMigrations / "plain", s.path() / "b3", 3);
  BuildResult v3 = build_bundle(o3);
  ASSERT_TRUE(v3.ok()) << problems_text(v3.problems);
  ManifestDiff d3 = diff_manifests(v1.manifest, {}, v3.manifest, {});
  EXPECT_EQ(d3.bookkeeping_removed.size(), v1.manifest.bookkeeping.size());
  EXPECT_TRUE(d3.bookkeeping_added.empty());
}

// Format 2 says the scope: `bundle build` needs databases or, explicitly, any database.
TEST(Format2, BuildRequiresTheScopeAndWritesIt) {
  Scratch s;
  BuildOptions none = options(kMigrations / "dbmate", s.path() / "none");
  none.databases.clear();
  BuildResult r = build_bundle(none);
  EXPECT_TRUE(has(r.problems, "--database: required: name each database")) << problems_text(r.problems);
  EXPECT_FALSE(fs::exists(s.path() / "none"));
  BuildOptions both = options(kMigrations / "dbmate", s.path() / "both");
  both.any_database = true;
  EXPECT_TRUE(has(build_bundle(both).problems, "--any-database: cannot be combined with --database"));

  BuildResult some = build_bundle(options(kMigrations / "dbmate", s.path() / "some"));
  ASSERT_TRUE(some.ok()) << problems_text(some.problems);
  const std::string text = slurp(s.path() / "some" / "manifest.json");
  EXPECT_NE(text.find("\"format\": \"ddlgate-bundle/2\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"scope\": {\n    \"databases\": [\n      \"shop\"\n    ]\n  }"), std::string::npos) << text;
  EXPECT_NE(text.find("\"tool\": {\n    \"name\": \"dbmate\",\n    \"profile\": 2\n  }"), std::string::npos) << text;
  BuildOptions any = options(kMigrations / "dbmate", s.path() / "any");
  any.databases.clear();
  any.any_database = true;
  ASSERT_TRUE(build_bundle(any).ok());
  EXPECT_NE(slurp(s.path() / "any" / "manifest.json").find("\"scope\": {\n    \"any_database\": true\n  }"),
            std::string::npos);
}

TEST(Format2, TheScopeIsExactlyOneOfDatabasesOrAnyDatabase) {
  Scratch s;
  ASSERT_TRUE(build_bundle(options(kMigrations / "plain", s.path() / "b")).ok());
  const std::string text = slurp(s.path() / "b" / "manifest.json");
  auto problems_of = [&](const std::string& from, const std::string& to) {
    std::string t = text;
    auto at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) t.replace(at, from.size(), to);
    std::vector<Problem> problems;
    EXPECT_FALSE(parse_manifest(t, &problems)) << to;
    return problems_text(problems);
  };
  const std::string scope = "\"scope\": {\n    \"databases\": [\n      \"shop\"\n    ]\n  }";
  EXPECT_NE(problems_of(scope, "\"scope\": {}").find("exactly one of the two"), std::string::npos);
  EXPECT_NE(problems_of(scope, "\"scope\": {\"databases\": [\"a\"], \"any_database\": true}").find("exactly one"),
            std::string::npos);
  EXPECT_NE(problems_of(scope, "\"scope\": {\"databases\": []}").find("must name at least one database"),
            std::string::npos);
  EXPECT_NE(problems_of(scope, "\"scope\": {\"any_database\": false}").find("must be true when given"),
            std::string::npos);
  EXPECT_NE(problems_of(scope, "\"scope\": {\"databases\": [\"a\", \"a\"]}").find("names 'a' twice"),
            std::string::npos);
  EXPECT_NE(problems_of(scope, "\"databases\": [\"shop\"]").find("\"scope\" missing"), std::string::npos);
  EXPECT_NE(problems_of(scope, "\"scope\": {\"any_database\": true, \"schemas\": []}").find("\"schemas\" unknown key"),
            std::string::npos);
  EXPECT_NE(problems_of("\"profile\": 2", "\"profile\": 2, \"version\": \"2.1\"").find("\"version\" unknown key"),
            std::string::npos);
  EXPECT_NE(problems_of("\"profile\": 2", "\"profile\": 0").find("must be a positive 32-bit integer"),
            std::string::npos);
  // A format-1 key in a format-2 manifest is unknown there.
  EXPECT_NE(problems_of("\"sql\": \"CREATE TABLE users", "\"repeatable\": true, \"sql\": \"CREATE TABLE users")
                .find("\"repeatable\" unknown key"),
            std::string::npos);
}

// Fields designed for later work: parsed strictly, signed like the rest, written back the
// same; those whose behaviour is missing make verification refuse the bundle.
TEST_F(SignedBundle, Format2FieldsForLaterWorkParseAndTheUnenforcedOnesAreRefused) {
  auto m = parse_manifest(slurp(dir_ / "manifest.json"), &parse_problems_);
  ASSERT_TRUE(m && m->format2());
  // As a format-2 manifest built before risk tiers: no analysis, no tier; its `risk` and `rules`
  // only inform (with an analysis, rules are recomputed: tiers_test.cpp).
  m->analysis.clear();
  for (auto& f : m->files) {
    for (auto& st : f.statements) {
      st.tier.clear();
      st.rules.clear();
    }
    if (f.down) {
      for (auto& st : f.down->statements) {
        st.tier.clear();
        st.rules.clear();
      }
    }
  }
  m->files[0].statements[0].risk = "high";
  m->files[0].statements[0].rules = {"DG001", "lock.access-exclusive"};
  resign_manifest(serialize_manifest(*m));
  auto ok = verify();
  ASSERT_TRUE(ok.ok()) << problems_text(ok.problems);  // informational: verified and kept
  EXPECT_EQ(ok.bundle->manifest.files[0].statements[0].rules.size(), 2u);
  EXPECT_EQ(serialize_manifest(ok.bundle->manifest), slurp(dir_ / "manifest.json"));

  Manifest later = *m;
  later.files[0].statements[1].search_path = "app, public";
  later.revocations = {{41, 0}, {0, 40}};
  later.tool_profile = 3;
  const std::string text = serialize_manifest(later);
  std::vector<Problem> problems;
  auto back = parse_manifest(text, &problems);
  ASSERT_TRUE(back) << problems_text(problems);
  EXPECT_EQ(serialize_manifest(*back), text);
  EXPECT_EQ(back->revocations[1].below, 40u);
  EXPECT_EQ(*back->files[0].statements[1].search_path, "app, public");
  resign_manifest(text);
  auto r = verify();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has(r.problems, "tool profile dbmate/3 is not known to this ddlgate (it has dbmate/1 to dbmate/2)"));
  EXPECT_TRUE(has(r.problems, "revokes: a manifest's revocations are not carried out"));
  // search_path is carried out now (search_path_test.cpp): one in normal form is no problem.
  EXPECT_FALSE(has(r.problems, "search_path")) << problems_text(r.problems);

  const std::string bad_risk = std::string(text).replace(text.find("\"high\""), 6, "\"severe\"");
  problems.clear();
  EXPECT_FALSE(parse_manifest(bad_risk, &problems));
  EXPECT_TRUE(has(problems, "\"risk\" must be \"low\", \"medium\" or \"high\"")) << problems_text(problems);
  const std::string one = "{\n      \"version\": 41\n    }";
  ASSERT_NE(text.find(one), std::string::npos) << text;
  const std::string bad_revoke = std::string(text).replace(text.find(one), one.size(), "{\"version\": 41, \"below\": 3}");
  problems.clear();
  EXPECT_FALSE(parse_manifest(bad_revoke, &problems));
  EXPECT_TRUE(has(problems, "exactly one of the two")) << problems_text(problems);
}

// Format 2 signs the role (the key's usage): a signature counts only for the role it was
// made as, and only when the trust policy lists the key under that role.
TEST_F(SignedBundle, AFormat2SignatureCountsOnlyForTheRoleItWasMadeAs) {
  TrustAnchors t = keys_.trust();
  t.roles[1].keys.push_back(keys_.approver1->public_key());  // approver1 listed as registry too
  fs::remove(sig_file(*keys_.registry));
  auto r = load_bundle(dir_, t, verify_options());
  EXPECT_TRUE(has(r.problems, "role registry: 0 of 1 required signatures")) << problems_text(r.problems);
  // Signed as registry, approver1 now counts as registry only, and approver lacks one.
  ASSERT_TRUE(sign_bundle(dir_, *keys_.approver1, "registry"));
  r = load_bundle(dir_, t, verify_options());
  EXPECT_FALSE(has(r.problems, "role registry")) << problems_text(r.problems);
  EXPECT_TRUE(has(r.problems, "role approver: 1 of 2")) << problems_text(r.problems);
  // Under the usual policy approver1 is no registry key: its registry signature is a finding.
  r = verify();
  EXPECT_TRUE(has(r.problems, "signed as role 'registry', and the trust policy does not list it under that role"))
      << problems_text(r.problems);
  // The role is covered by the signature: editing it breaks the signature.
  std::string text = slurp(sig_file(*keys_.approver1));
  text.replace(text.find("\"registry\""), 10, "\"approver\"");
  spit(sig_file(*keys_.approver1), text);
  r = verify();
  EXPECT_TRUE(has(r.problems, "as role 'approver' does not verify against manifest.json")) << problems_text(r.problems);
  EXPECT_FALSE(sign_bundle(dir_, *keys_.approver1, "Approver\nx"));
}

TEST(Build, AutoSaysWhichLayoutItChoseAndRefusesToGuess) {
  Scratch s;
  BuildOptions o = options(kMigrations / "dbmate", s.path() / "a");
  BuildResult r = build_bundle(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.tool_choice, "dbmate (--tool auto: a -- migrate:up line in 20240101000000_create_users.sql)");
  EXPECT_EQ(build_bundle(options(kMigrations / "plain", s.path() / "p")).tool_choice,
            "plain (--tool auto: no other layout's marks; every *.sql file, whole, by name)");
  fs::create_directories(s.path() / "mixed");
  spit(s.path() / "mixed" / "1_users.up.sql", "create table users (id int);\n");
  spit(s.path() / "mixed" / "2_more.sql", "-- migrate:up\ncreate table more (id int);\n");
  BuildResult mixed = build_bundle(options(s.path() / "mixed", s.path() / "m"));
  EXPECT_TRUE(has(mixed.problems, "--tool: auto: several layouts fit (golang-migrate: 1_users.up.sql; dbmate: a -- "
                                  "migrate:up line in 2_more.sql); name one with --tool"))
      << problems_text(mixed.problems);
  EXPECT_FALSE(fs::exists(s.path() / "m"));
  o.out_dir = s.path() / "named";
  o.tool = MigrationTool::plain;
  EXPECT_EQ(build_bundle(o).tool_choice, "plain (--tool)");
}

// Item 10 of issue 26: a public key file may say what it is for, and is checked where listed.
TEST(KeyUse, APublicKeyFileThatSaysItsUseIsCheckedWhereItIsListed) {
  auto k = SigningKey::generate();
  const std::string pem = k->public_pem();
  EXPECT_FALSE(*declared_key_use(pem));
  EXPECT_EQ(**declared_key_use("ddlgate-key-use: break-glass\n" + pem), KeyUse::break_glass);
  EXPECT_EQ(**declared_key_use("a comment\r\nddlgate-key-use:  ledger \r\n" + pem), KeyUse::ledger);
  EXPECT_FALSE(declared_key_use("ddlgate-key-use: root\n" + pem));
  EXPECT_FALSE(declared_key_use("ddlgate-key-use: approver\nddlgate-key-use: approver\n" + pem));
  EXPECT_FALSE(declared_key_use(pem + "ddlgate-key-use: approver\n"));
  EXPECT_TRUE(parse_public_key("ddlgate-key-use: approver\n" + pem, KeyUse::approver));
  auto wrong = parse_public_key("ddlgate-key-use: approver\n" + pem, KeyUse::registry);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().reason, "the key is for 'approver' use, and it is listed here for 'registry'");
  EXPECT_TRUE(parse_public_key(pem, KeyUse::registry));  // no use said: any

  // In a trust policy: the registry role's keys are registry keys, any other role's approvers'.
  Scratch s;
  spit(s.path() / "ci.pub", "ddlgate-key-use: registry\n" + pem);
  spit(s.path() / "alice.pub", "ddlgate-key-use: approver\n" + SigningKey::generate()->public_pem());
  ddlgate::config::TrustPolicy policy;
  policy.base_dir = s.path();
  policy.roles.push_back({"registry", 1, {"ci.pub"}});
  policy.roles.push_back({"dba", 1, {"alice.pub"}});
  std::vector<Problem> problems;
  TrustAnchors::from_config(policy, &problems);
  EXPECT_TRUE(problems.empty()) << problems_text(problems);
  problems.clear();
  policy.roles[0].keys = {"alice.pub"};
  policy.roles[1].keys = {"ci.pub", base64_encode(std::string_view(reinterpret_cast<const char*>(k->public_key().data()), 32))};
  TrustAnchors::from_config(policy, &problems);
  EXPECT_TRUE(has(problems, "roles.registry.keys[0]: " + (s.path() / "alice.pub").string() +
                                ": the key is for 'approver' use, and it is listed here for 'registry'"))
      << problems_text(problems);
  EXPECT_TRUE(has(problems, "roles.dba.keys[0]: " + (s.path() / "ci.pub").string() +
                                ": the key is for 'registry' use, and it is listed here for 'approver'"))
      << problems_text(problems);
  EXPECT_FALSE(has(problems, "roles.dba.keys[1]")) << problems_text(problems);  // inline: the role's use
}

TEST(KeyUse, ASigningKeyFileGroupOrOthersCanReadIsRefusedWhereOwnerOnlyIsAsked) {
  Scratch s;
  const fs::path p = s.path() / "k.key";
  spit(p, SigningKey::generate()->private_pem());
  fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
  auto refused = SigningKey::load(p, KeyFileAccess::owner_only);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().reason, p.string() + ": mode 0604 gives group or others access to a private key; "
                                                 "refusing to use it (chmod 600 " + p.string() + ")");
  EXPECT_TRUE(SigningKey::load(p));  // the default (the ledger's checkpoint key) does not ask
  fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_TRUE(SigningKey::load(p, KeyFileAccess::owner_only));
}
