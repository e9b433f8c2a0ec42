// PASETO v4.public: PAE, strict base64url, and the official test vectors
// (tests/data/paseto/v4_public.json).
#include <array>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ddlgate/base/base64.h"
#include "ddlgate/breakglass/paseto.h"

namespace paseto = ddlgate::breakglass::paseto;
using ddlgate::base::PublicKey;
using ddlgate::base::SigningKey;

namespace {

std::string unhex(const std::string& h) {
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

PublicKey public_key_from_hex(const std::string& h) {
  std::string raw = unhex(h);
  PublicKey k{};
  std::copy(raw.begin(), raw.end(), k.begin());
  return k;
}

nlohmann::json load_vectors() {
  std::ifstream f(DDLGATE_PASETO_VECTORS);
  std::stringstream ss;
  ss << f.rdbuf();
  return nlohmann::json::parse(ss.str());
}

std::string str(const nlohmann::json& j, const char* key) { return j.value(key, nlohmann::json()).is_string() ? j[key].get<std::string>() : ""; }

const PublicKey kVectorKey = public_key_from_hex("1eb9dbbbbc047c03fd70604e0071f0987e16b28b757225c11f00415d0e20b1a2");

}  // namespace

TEST(Pae, MatchesTheSpecExamples) {
  // docs/01-Protocol-Versions/Common.md, "PAE Definition".
  EXPECT_EQ(paseto::pae({}), std::string(8, '\0'));
  std::array<std::string_view, 1> empty{""};
  EXPECT_EQ(paseto::pae(empty), std::string("\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16));
  std::array<std::string_view, 1> test{"test"};
  EXPECT_EQ(paseto::pae(test), std::string("\x01\0\0\0\0\0\0\0\x04\0\0\0\0\0\0\0test", 20));
}

TEST(Pae, LengthPrefixesPreventCollisions) {
  std::array<std::string_view, 2> a{"ab", "c"};
  std::array<std::string_view, 2> b{"a", "bc"};
  std::array<std::string_view, 1> c{"abc"};
  EXPECT_NE(paseto::pae(a), paseto::pae(b));
  EXPECT_NE(paseto::pae(a), paseto::pae(c));
}

TEST(Base64Url, RoundTripsEveryLengthWithoutPadding) {
  std::string bytes;
  for (int n = 0; n < 70; ++n) {
    std::string enc = ddlgate::base::base64url_encode(bytes);
    EXPECT_EQ(enc.find_first_of("=+/"), std::string::npos) << enc;
    auto dec = ddlgate::base::base64url_decode(enc);
    ASSERT_TRUE(dec) << enc;
    EXPECT_EQ(*dec, bytes);
    bytes.push_back(static_cast<char>(0xfb + n));  // bytes that encode to '-' and '_'
  }
  EXPECT_EQ(ddlgate::base::base64url_encode("\xfb\xff"), "-_8");
}

TEST(Base64Url, RejectsPaddingBadCharactersAndBadLengths) {
  EXPECT_FALSE(ddlgate::base::base64url_decode("YQ=="));   // padding is forbidden
  EXPECT_FALSE(ddlgate::base::base64url_decode("YQ="));
  EXPECT_FALSE(ddlgate::base::base64url_decode("-_8+"));   // '+' belongs to standard base64
  EXPECT_FALSE(ddlgate::base::base64url_decode("-_8/"));
  EXPECT_FALSE(ddlgate::base::base64url_decode("YW Jj"));  // whitespace
  EXPECT_FALSE(ddlgate::base::base64url_decode("YWJj\n"));
  EXPECT_FALSE(ddlgate::base::base64url_decode("YWJjZ"));  // 4n+1 characters encode nothing
  EXPECT_FALSE(ddlgate::base::base64url_decode(std::string_view("YW\0j", 4)));
  EXPECT_TRUE(ddlgate::base::base64url_decode("YWJjZA"));
}

TEST(Base64Url, RejectsNonZeroTrailingBits) {
  // "YQ" is 'a'; "YR".."YZ" carry the same byte with non-zero unused bits.
  EXPECT_EQ(*ddlgate::base::base64url_decode("YQ"), "a");
  EXPECT_FALSE(ddlgate::base::base64url_decode("YR"));
  EXPECT_FALSE(ddlgate::base::base64url_decode("YW"));
  EXPECT_EQ(*ddlgate::base::base64url_decode("YWI"), "ab");
  EXPECT_FALSE(ddlgate::base::base64url_decode("YWJ"));
}

TEST(PasetoVectors, EverySuccessCaseSignsToTheExactTokenAndVerifies) {
  auto doc = load_vectors();
  int seen = 0;
  for (const auto& t : doc["tests"]) {
    if (t["expect-fail"].get<bool>()) continue;
    ++seen;
    SCOPED_TRACE(t["name"].get<std::string>());
    std::string seed = unhex(str(t, "secret-key-seed"));
    // The 64-byte secret key is seed || public key (RFC 8032 / libsodium layout).
    ASSERT_EQ(unhex(str(t, "secret-key")), seed + unhex(str(t, "public-key")));
    auto key = SigningKey::from_seed(seed);
    ASSERT_TRUE(key);
    const PublicKey pk = public_key_from_hex(str(t, "public-key"));
    EXPECT_EQ(key->public_key(), pk);
    auto token = paseto::sign_v4_public(*key, str(t, "payload"), str(t, "footer"), str(t, "implicit-assertion"));
    ASSERT_TRUE(token);
    EXPECT_EQ(*token, str(t, "token"));
    std::array<PublicKey, 1> keys{pk};
    auto r = paseto::verify_v4_public(str(t, "token"), keys, str(t, "implicit-assertion"));
    ASSERT_TRUE(r.ok()) << paseto::to_string(*r.error);
    EXPECT_EQ(r.parts->message, str(t, "payload"));
    EXPECT_EQ(r.parts->footer, str(t, "footer"));
    // The implicit assertion is bound by the signature.
    EXPECT_FALSE(paseto::verify_v4_public(str(t, "token"), keys, "other").ok());
  }
  EXPECT_EQ(seen, 3);
}

TEST(PasetoVectors, EveryFailureCaseIsRefused) {
  auto doc = load_vectors();
  int seen = 0;
  std::array<PublicKey, 1> keys{kVectorKey};
  for (const auto& t : doc["tests"]) {
    if (!t["expect-fail"].get<bool>()) continue;
    ++seen;
    SCOPED_TRACE(t["name"].get<std::string>());
    auto r = paseto::verify_v4_public(str(t, "token"), keys, str(t, "implicit-assertion"));
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(r.error);
  }
  EXPECT_EQ(seen, 4);
}

TEST(PasetoVerify, PreciseErrors) {
  auto doc = load_vectors();
  const std::string good = doc["tests"][1]["token"];  // 4-S-2, with a footer
  std::array<PublicKey, 1> keys{kVectorKey};
  ASSERT_TRUE(paseto::verify_v4_public(good, keys).ok());

  EXPECT_EQ(paseto::verify_v4_public("v4.local." + good.substr(10), keys).error, paseto::Error::wrong_header);
  EXPECT_EQ(paseto::verify_v4_public("v3.public." + good.substr(10), keys).error, paseto::Error::wrong_header);
  EXPECT_EQ(paseto::verify_v4_public("V4.PUBLIC." + good.substr(10), keys).error, paseto::Error::wrong_header);
  EXPECT_EQ(paseto::verify_v4_public(good + ".x", keys).error, paseto::Error::bad_encoding);
  EXPECT_EQ(paseto::verify_v4_public(good.substr(0, good.find('.', 10) + 1), keys).error, paseto::Error::bad_encoding);
  EXPECT_EQ(paseto::verify_v4_public("v4.public.YWJj", keys).error, paseto::Error::too_short);
  EXPECT_EQ(paseto::verify_v4_public(good, {}).error, paseto::Error::no_keys);
  EXPECT_EQ(paseto::verify_v4_public(std::string(paseto::kMaxTokenBytes + 1, 'A'), keys).error,
            paseto::Error::too_long);

  // Tampering with any byte of the payload, the signature or the footer.
  const std::size_t dot = good.find('.', 10);
  for (std::size_t i : {std::size_t{10}, std::size_t{40}, dot - 3, dot + 2, good.size() - 3}) {
    std::string bad = good;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    auto r = paseto::verify_v4_public(bad, keys);
    EXPECT_FALSE(r.ok()) << i;
  }
  // Dropping the footer, or the signature's last characters.
  EXPECT_EQ(paseto::verify_v4_public(good.substr(0, dot), keys).error, paseto::Error::bad_signature);
  EXPECT_FALSE(paseto::verify_v4_public(good.substr(0, dot - 4) + good.substr(dot), keys).ok());
}

TEST(PasetoVerify, AcceptsAnyOfSeveralKeysAndSaysWhich) {
  auto a = SigningKey::generate();
  auto b = SigningKey::generate();
  ASSERT_TRUE(a && b);
  auto token = paseto::sign_v4_public(*b, "{}", "", "i");
  ASSERT_TRUE(token);
  std::array<PublicKey, 2> keys{a->public_key(), b->public_key()};
  auto r = paseto::verify_v4_public(*token, keys, "i");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.key_index, 1u);
  std::array<PublicKey, 1> only_a{a->public_key()};
  EXPECT_EQ(paseto::verify_v4_public(*token, only_a, "i").error, paseto::Error::bad_signature);
}
