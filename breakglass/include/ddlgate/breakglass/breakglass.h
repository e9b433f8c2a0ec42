// Break-glass tokens (docs/breakglass.md): PASETO v4.public tokens whose JSON claims
// scope an emergency session to one database user, some databases and an environment for
// a short time. This file issues and verifies them; single-use bookkeeping (the jti) is the
// proxy's, through the ledger. Errors are values; nothing here prints.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ddlgate/base/ed25519.h"
#include "ddlgate/base/result.h"
#include "ddlgate/base/time.h"
#include "ddlgate/config/config.h"

namespace ddlgate::breakglass {

using base::Clock;
using base::PublicKey;
using base::SigningKey;
using base::TimePoint;

// The "aud" every break-glass token must carry.
inline constexpr std::string_view kBreakGlassAudience = "ddlgate";
// The PASETO implicit assertion: binds the signature to this use, so that no other
// v4.public token made with the same key can be presented as a break-glass token.
inline constexpr std::string_view kBreakGlassImplicit = "ddlgate break-glass v1";
// The longest lifetime (exp - iat) `issue` accepts; the proxy caps it further.
inline constexpr std::chrono::seconds kMaxBreakGlassLifetime = std::chrono::hours(24);

// The claims of a break-glass token (all required unless said otherwise).
struct BreakGlassClaims {
  std::string issuer;                   // iss: who issued it (free text, e.g. "alice@example.com")
  std::string subject;                  // sub: the database user the session must log in as
  std::string audience{kBreakGlassAudience};  // aud
  std::vector<std::string> databases;   // databases the session may connect to (at least one)
  std::string environment;              // env: must equal the proxy's environment
  TimePoint issued_at{};                // iat
  TimePoint not_before{};               // nbf
  TimePoint expires{};                  // exp
  std::string token_id;                 // jti: 32 lowercase hex digits (128 random bits)
  std::string reason;                   // why the glass was broken
  std::string ticket;                   // incident or change ticket
  bool single_use = false;              // the proxy accepts this jti once (ledger)
  std::vector<std::string> statements;  // optional: only these "sha256:<hex>" statement hashes
};

// Why a token was refused.
enum class BreakGlassError {
  malformed,          // not a well-formed v4.public token (see detail)
  bad_signature,      // no trusted key verifies it
  no_trusted_keys,    // the proxy has no break-glass key configured
  bad_claims,         // the payload is not the claims object (JSON, duplicate key, type, unknown field)
  wrong_audience,
  wrong_user,
  wrong_database,
  wrong_environment,
  not_yet_valid,
  expired,
  lifetime_too_long,  // exp - iat exceeds the proxy's cap
};
// A short stable name ("wrong_user") for logs and the ledger.
std::string_view to_string(BreakGlassError err);

// The session a token is presented for.
struct BreakGlassExpectation {
  std::string user;
  std::string database;
  std::string environment;
};

// What verification gave: the claims, or a reason and a precise detail.
struct BreakGlassResult {
  std::optional<BreakGlassClaims> claims;
  std::optional<BreakGlassError> error;
  std::string detail;     // e.g. "token is for user \"alice\", not \"bob\""; never contains the token
  PublicKey signer{};     // the key that verified it, when one did
  bool ok() const { return claims.has_value(); }
};

// A fresh jti: 128 bits from OpenSSL's CSPRNG as 32 lowercase hex digits; empty on failure.
std::string new_break_glass_token_id();

// The payload bytes for claims (compact JSON, registered times in RFC 3339 UTC).
std::string serialize_break_glass_claims(const BreakGlassClaims& claims);

// Parses and checks payload bytes: strict JSON (duplicate keys rejected), every field of the
// right type and shape, unknown fields rejected. nullopt with *why on failure.
base::Result<BreakGlassClaims> parse_break_glass_claims(std::string_view payload);

// Signs claims (after checking them as parse_break_glass_claims would) into a token whose
// footer names the key ({"kid":"ed25519:..."}, for display only). nullopt with *why.
base::Result<std::string> issue_break_glass(const SigningKey& key, const BreakGlassClaims& claims);

// Everything the proxy checks before opening a break-glass session: the signature against
// any of trusted_keys (with kBreakGlassImplicit), the claims, the audience, the user, the
// database, the environment, nbf - skew <= now < exp + skew, and exp - iat <= max_lifetime.
BreakGlassResult verify_break_glass(std::string_view token, std::span<const PublicKey> trusted_keys,
                                    const BreakGlassExpectation& expected, TimePoint now,
                                    std::chrono::seconds max_lifetime, std::chrono::seconds clock_skew);

// Decodes [break_glass] keys (base64 raw key, PEM text, or a .pub file relative to
// base_dir). Problems name the key ("keys[1]"); a key listed twice is a problem.
std::vector<PublicKey> break_glass_keys(const config::BreakGlass& settings, std::vector<base::Problem>* problems);

// "sha256:<hex>" of the token text: identifies a token in the ledger and the logs without
// revealing it (a token is 64 signature bytes and more of entropy-bearing text).
std::string break_glass_token_digest(std::string_view token);

}  // namespace ddlgate::breakglass
