#include "ddlgate/breakglass/breakglass.h"

#include <algorithm>

#include <nlohmann/json.hpp>
#include <openssl/rand.h>

#include "ddlgate/base/hex.h"
#include "ddlgate/base/sha256.h"
#include "ddlgate/base/json.h"
#include "ddlgate/breakglass/paseto.h"

namespace ddlgate::breakglass {
namespace {

using json = nlohmann::json;

// Caps on lists, checked after the 8 KiB token cap has bounded the whole payload.
constexpr std::size_t kMaxDatabases = 64;
constexpr std::size_t kMaxStatements = 256;

// The fields of the claims object; anything else is refused (docs/breakglass.md says why).
constexpr std::string_view kFields[] = {"iss", "sub",    "aud",    "databases", "env",        "iat",       "nbf",
                                        "exp", "jti",    "reason", "ticket",    "single_use", "statements"};

bool has_control_char(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// A non-empty string without control characters (they could rewrite a terminal or a log line).
bool get_text(const json& j, const char* key, std::string* out, std::string* why) {
  auto it = j.find(key);
  if (it == j.end()) {
    *why = std::string("missing \"") + key + "\"";
    return false;
  }
  if (!it->is_string()) {
    *why = std::string("\"") + key + "\" must be a string";
    return false;
  }
  const auto& s = it->get_ref<const std::string&>();
  if (s.empty() || has_control_char(s)) {
    *why = std::string("\"") + key + "\" must be non-empty text without control characters";
    return false;
  }
  *out = s;
  return true;
}

bool get_time(const json& j, const char* key, TimePoint* out, std::string* why) {
  std::string text;
  if (!get_text(j, key, &text, why)) return false;
  auto t = base::parse_time(text);
  if (!t) {
    *why = std::string("\"") + key + "\" must be an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SSZ or +00:00)";
    return false;
  }
  *out = *t;
  return true;
}

bool get_text_list(const json& j, const char* key, std::size_t max, std::vector<std::string>* out, std::string* why) {
  const json& a = j.at(key);
  if (!a.is_array()) {
    *why = std::string("\"") + key + "\" must be an array of strings";
    return false;
  }
  if (a.size() > max) {
    *why = std::string("\"") + key + "\" has more than " + std::to_string(max) + " entries";
    return false;
  }
  for (const auto& e : a) {
    if (!e.is_string() || e.get_ref<const std::string&>().empty() || has_control_char(e.get_ref<const std::string&>())) {
      *why = std::string("\"") + key + "\" must contain only non-empty strings without control characters";
      return false;
    }
    out->push_back(e.get<std::string>());
  }
  return true;
}

std::string in_quotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + in_quotes(s);
  return out;
}

BreakGlassResult fail(BreakGlassError e, std::string detail) {
  BreakGlassResult r;
  r.error = e;
  r.detail = std::move(detail);
  return r;
}

}  // namespace

std::string_view to_string(BreakGlassError err) {
  switch (err) {
    case BreakGlassError::malformed: return "malformed";
    case BreakGlassError::bad_signature: return "bad_signature";
    case BreakGlassError::no_trusted_keys: return "no_trusted_keys";
    case BreakGlassError::bad_claims: return "bad_claims";
    case BreakGlassError::wrong_audience: return "wrong_audience";
    case BreakGlassError::wrong_user: return "wrong_user";
    case BreakGlassError::wrong_database: return "wrong_database";
    case BreakGlassError::wrong_environment: return "wrong_environment";
    case BreakGlassError::not_yet_valid: return "not_yet_valid";
    case BreakGlassError::expired: return "expired";
    case BreakGlassError::lifetime_too_long: return "lifetime_too_long";
  }
  return "malformed";
}

std::string new_break_glass_token_id() { return base::random_hex(16); }

std::string serialize_break_glass_claims(const BreakGlassClaims& c) {
  nlohmann::ordered_json j;
  j["iss"] = c.issuer;
  j["sub"] = c.subject;
  j["aud"] = c.audience;
  j["databases"] = c.databases;
  j["env"] = c.environment;
  j["iat"] = base::format_time(c.issued_at);
  j["nbf"] = base::format_time(c.not_before);
  j["exp"] = base::format_time(c.expires);
  j["jti"] = c.token_id;
  j["reason"] = c.reason;
  j["ticket"] = c.ticket;
  j["single_use"] = c.single_use;
  if (!c.statements.empty()) j["statements"] = c.statements;
  return j.dump();
}

base::Result<BreakGlassClaims> parse_break_glass_claims(std::string_view payload) {
  std::string inner;
  auto parsed = base::parse_strict_json(payload);
  if (!parsed) {
    return base::Error{"claims: " + parsed.error().reason};
  }
  const json& j = *parsed;
  for (const auto& [k, v] : j.items()) {
    if (std::find(std::begin(kFields), std::end(kFields), k) == std::end(kFields)) {
      return base::Error{"claims: unknown field " + in_quotes(k) + " (refused, not ignored: it could be a restriction this version "
             "does not know)"};
    }
  }
  BreakGlassClaims c;
  c.audience.clear();
  // The field readers say what is wrong in `inner`; a failed one ends the parse with it.
  auto bad = [&] { return base::Error{"claims: " + inner}; };
  if (!get_text(j, "iss", &c.issuer, &inner) || !get_text(j, "sub", &c.subject, &inner) ||
      !get_text(j, "aud", &c.audience, &inner) || !get_text(j, "env", &c.environment, &inner) ||
      !get_time(j, "iat", &c.issued_at, &inner) || !get_time(j, "nbf", &c.not_before, &inner) ||
      !get_time(j, "exp", &c.expires, &inner) || !get_text(j, "jti", &c.token_id, &inner) ||
      !get_text(j, "reason", &c.reason, &inner) || !get_text(j, "ticket", &c.ticket, &inner)) {
    return bad();
  }
  if (!j.contains("databases")) {
    return base::Error{"claims: missing \"databases\""};
  }
  if (!get_text_list(j, "databases", kMaxDatabases, &c.databases, &inner)) return bad();
  if (c.databases.empty()) {
    return base::Error{"claims: \"databases\" must name at least one database"};
  }
  if (c.token_id.size() != 32 || !base::is_lower_hex(c.token_id)) {
    return base::Error{"claims: \"jti\" must be 32 lowercase hex digits (128 bits)"};
  }
  auto su = j.find("single_use");
  if (su == j.end() || !su->is_boolean()) {
    return base::Error{"claims: \"single_use\" must be true or false"};
  }
  c.single_use = su->get<bool>();
  if (j.contains("statements")) {
    if (!get_text_list(j, "statements", kMaxStatements, &c.statements, &inner)) return bad();
    for (const auto& h : c.statements) {
      if (!base::is_sha256_text(h)) {
        return base::Error{"claims: \"statements\": " + in_quotes(h) + " is not \"sha256:\" and 64 lowercase hex digits"};
      }
    }
  }
  if (c.not_before < c.issued_at) {
    return base::Error{"claims: \"nbf\" is before \"iat\""};
  }
  if (c.expires <= c.not_before) {
    return base::Error{"claims: \"exp\" is not after \"nbf\""};
  }
  return c;
}

base::Result<std::string> issue_break_glass(const SigningKey& key, const BreakGlassClaims& claims) {
  std::string payload = serialize_break_glass_claims(claims);
  // Checked exactly as a verifier will read it, so that `issue` never hands out a token the
  // proxy would refuse for its form.
  if (auto parsed = parse_break_glass_claims(payload); !parsed) return parsed.error();
  if (claims.audience != kBreakGlassAudience) {
    return base::Error{"claims: \"aud\" must be " + in_quotes(kBreakGlassAudience)};
  }
  if (claims.expires - claims.issued_at > kMaxBreakGlassLifetime) {
    return base::Error{"claims: lifetime (exp - iat) is longer than 24h"};
  }
  std::string footer = json{{"kid", base::key_id(key.public_key())}}.dump();
  auto token = paseto::sign_v4_public(key, payload, footer, kBreakGlassImplicit);
  if (!token) {
    return base::Error{std::string(paseto::to_string(paseto::Error::sign_failed))};
  }
  if (token->size() > paseto::kMaxTokenBytes) {
    return base::Error{"the token would be longer than 8 KiB; shorten the reason or the lists"};
  }
  return std::move(*token);
}

BreakGlassResult verify_break_glass(std::string_view token, std::span<const PublicKey> trusted_keys,
                                    const BreakGlassExpectation& expected, TimePoint now,
                                    std::chrono::seconds max_lifetime, std::chrono::seconds clock_skew) {
  if (trusted_keys.empty()) return fail(BreakGlassError::no_trusted_keys, "no break-glass public key is configured");
  auto v = paseto::verify_v4_public(token, trusted_keys, kBreakGlassImplicit);
  if (!v.ok()) {
    auto e = *v.error == paseto::Error::bad_signature ? BreakGlassError::bad_signature : BreakGlassError::malformed;
    return fail(e, std::string(paseto::to_string(*v.error)));
  }
  auto c = parse_break_glass_claims(v.parts->message);
  if (!c) return fail(BreakGlassError::bad_claims, c.error().reason);
  if (c->audience != kBreakGlassAudience) {
    return fail(BreakGlassError::wrong_audience,
                "token is for audience " + in_quotes(c->audience) + ", not " + in_quotes(kBreakGlassAudience));
  }
  if (c->subject != expected.user) {
    return fail(BreakGlassError::wrong_user, "token is for user " + in_quotes(c->subject) + ", not " + in_quotes(expected.user));
  }
  if (std::find(c->databases.begin(), c->databases.end(), expected.database) == c->databases.end()) {
    return fail(BreakGlassError::wrong_database,
                "token is for database(s) " + join(c->databases) + ", not " + in_quotes(expected.database));
  }
  if (c->environment != expected.environment) {
    return fail(BreakGlassError::wrong_environment,
                "token is for environment " + in_quotes(c->environment) + ", not " + in_quotes(expected.environment));
  }
  if (c->expires - c->issued_at > max_lifetime) {
    return fail(BreakGlassError::lifetime_too_long,
                "token lifetime (exp - iat) is " + std::to_string((c->expires - c->issued_at).count()) +
                    "s, more than this proxy's cap of " + std::to_string(max_lifetime.count()) + "s");
  }
  if (now < c->not_before - clock_skew) {
    return fail(BreakGlassError::not_yet_valid, "token is not valid before " + base::format_time(c->not_before));
  }
  if (now >= c->expires + clock_skew) {
    return fail(BreakGlassError::expired, "token expired at " + base::format_time(c->expires));
  }
  BreakGlassResult r;
  r.claims = std::move(*c);
  r.signer = trusted_keys[v.key_index];
  return r;
}

}  // namespace ddlgate::breakglass
