// `ddlgate breakglass issue|inspect`: short-lived break-glass tokens (docs/breakglass.md).
// A token is a bearer secret: it is printed only by `issue` (stdout, alone), and error
// messages show at most its first 16 characters.
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "ddlgate/breakglass/breakglass.h"
#include "ddlgate/breakglass/paseto.h"

namespace ddlgate::cli {
namespace {

namespace paseto = breakglass::paseto;

base::TimePoint now_seconds() { return std::chrono::floor<std::chrono::seconds>(base::Clock::now()); }

// At most the first 16 characters of a token, for messages.
std::string token_hint(std::string_view token) {
  return token.size() <= 16 ? std::string(token) : std::string(token.substr(0, 16)) + "...";
}

std::string default_issuer() {
  const char* user = std::getenv("USER");
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::string who = user != nullptr && *user != '\0' ? user : "unknown";
  return host[0] != '\0' ? who + "@" + host : who;
}

struct IssueArgs {
  std::string key, user, environment, lifetime = "15m", reason, ticket, issuer;
  std::vector<std::string> databases, statements;
  bool single_use = false;
};

int run_issue(const IssueArgs& a) {
  auto lifetime = base::parse_duration(a.lifetime);
  if (!lifetime || *lifetime <= std::chrono::seconds(0)) {
    std::fprintf(stderr, "ddlgate breakglass issue: --lifetime: '%s' is not a duration (90s, 30m, 4h)\n",
                 a.lifetime.c_str());
    return kExitUsage;
  }
  if (*lifetime > breakglass::kMaxBreakGlassLifetime) {
    std::fprintf(stderr, "ddlgate breakglass issue: --lifetime: %s is longer than 24h; break-glass tokens are short-lived "
                 "(the proxy caps them further)\n", a.lifetime.c_str());
    return kExitUsage;
  }
  auto loaded = base::SigningKey::load(a.key, base::KeyFileAccess::owner_only);
  if (!loaded) {
    std::fprintf(stderr, "ddlgate breakglass issue: --key: %s\n", loaded.error().reason.c_str());
    return kExitUsage;
  }
  auto& key = *loaded;
  breakglass::BreakGlassClaims c;
  c.issuer = a.issuer.empty() ? default_issuer() : a.issuer;
  c.subject = a.user;
  c.databases = a.databases;
  c.environment = a.environment;
  c.issued_at = now_seconds();
  c.not_before = c.issued_at;
  c.expires = c.issued_at + *lifetime;
  c.token_id = breakglass::new_break_glass_token_id();
  c.reason = a.reason;
  c.ticket = a.ticket;
  c.single_use = a.single_use;
  c.statements = a.statements;
  if (c.token_id.empty()) {
    std::fprintf(stderr, "ddlgate breakglass issue: OpenSSL could not produce a random token id\n");
    return kExitUsage;
  }
  auto token = breakglass::issue_break_glass(*key, c);
  if (!token) {
    std::fprintf(stderr, "ddlgate breakglass issue: %s\n", token.error().reason.c_str());
    return kExitUsage;
  }
  std::string dbs;
  for (const auto& d : c.databases) dbs += (dbs.empty() ? "" : ", ") + d;
  std::fprintf(stderr,
               "break-glass token for user %s on %s in %s, valid %s to %s%s, jti %s, signed by %s\n"
               "treat it as a secret: anyone holding it can open a session as %s until it expires\n",
               c.subject.c_str(), dbs.c_str(), c.environment.c_str(), base::format_time(c.not_before).c_str(),
               base::format_time(c.expires).c_str(), c.single_use ? ", single use" : "", c.token_id.c_str(),
               base::key_id(key->public_key()).c_str(), c.subject.c_str());
  std::printf("%s\n", token->c_str());
  return kExitOk;
}

struct InspectArgs {
  std::string token, pubkey;
  bool json = false;
};

// The claims as the token carries them (breakglass::serialize_break_glass_claims), with
// "statements" always present for the reader of --json.
nlohmann::ordered_json claims_json(const breakglass::BreakGlassClaims& c) {
  auto j = nlohmann::ordered_json::parse(breakglass::serialize_break_glass_claims(c));
  if (!j.contains("statements")) j["statements"] = nlohmann::ordered_json::array();
  return j;
}

std::string time_status(const breakglass::BreakGlassClaims& c, base::TimePoint now) {
  if (now < c.not_before) return "not valid before " + base::format_time(c.not_before);
  if (now >= c.expires) return "expired at " + base::format_time(c.expires);
  auto left = std::chrono::duration_cast<std::chrono::seconds>(c.expires - now).count();
  return "valid now, " + std::to_string(left) + "s left";
}

int run_inspect(InspectArgs a) {
  const char* me = "ddlgate breakglass inspect";
  if (a.token == "-") {
    // From stdin, so that the token need not appear in argv (ps, shell history).
    // Read at most one byte more than a token may have, whatever stdin holds.
    std::string buf(paseto::kMaxTokenBytes + 2, '\0');
    std::cin.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    buf.resize(static_cast<std::size_t>(std::cin.gcount()));
    if (auto nl = buf.find('\n'); nl != std::string::npos) buf.resize(nl);
    a.token = std::move(buf);
  }
  while (!a.token.empty() && (a.token.back() == '\n' || a.token.back() == '\r' || a.token.back() == ' ')) a.token.pop_back();

  std::optional<base::PublicKey> key;
  if (!a.pubkey.empty()) {
    auto read = base::read_public_key_file(a.pubkey, base::KeyUse::break_glass);
    if (!read) {
      std::fprintf(stderr, "%s: --pubkey: %s\n", me, read.error().reason.c_str());
      return kExitUsage;
    }
    key = *read;
  }
  const std::string hint = token_hint(a.token);

  // Signature first when a key is given; the claims are decoded either way.
  paseto::Result decoded = paseto::decode_unverified(a.token);
  if (!decoded.ok()) {
    std::fprintf(stderr, "%s: token %s: %s\n", me, hint.c_str(), std::string(paseto::to_string(*decoded.error)).c_str());
    return kExitCheckFailed;
  }
  std::string sig_problem;
  bool verified = false;
  if (key) {
    std::array<base::PublicKey, 1> keys{*key};
    auto v = paseto::verify_v4_public(a.token, keys, breakglass::kBreakGlassImplicit);
    verified = v.ok();
    if (!verified) sig_problem = std::string(paseto::to_string(*v.error));
  }
  auto claims = breakglass::parse_break_glass_claims(decoded.parts->message);
  const std::string why = claims ? "" : claims.error().reason;
  std::string problem = sig_problem;
  if (!claims) problem = problem.empty() ? why : problem + "; " + why;
  else if (claims->audience != breakglass::kBreakGlassAudience) {
    problem = problem.empty() ? "audience is not \"ddlgate\"" : problem;
    verified = false;
  }
  if (!claims) verified = false;

  const std::string signature = !key ? "UNVERIFIED" : verified ? "verified" : "NOT VERIFIED";
  const auto now = now_seconds();
  if (a.json) {
    nlohmann::ordered_json j;
    j["signature"] = signature;
    j["verified"] = verified;
    if (key) j["key_id"] = base::key_id(*key);
    j["footer"] = decoded.parts->footer;
    if (claims) {
      j["claims"] = claims_json(*claims);
      j["status"] = time_status(*claims, now);
    }
    if (!problem.empty()) j["problem"] = problem;
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    if (!key) {
      std::printf("signature:   UNVERIFIED (no --pubkey given: anyone could have written these claims)\n");
    } else if (verified) {
      std::printf("signature:   verified with %s\n", base::key_id(*key).c_str());
    } else {
      std::printf("signature:   NOT VERIFIED with %s: %s\n", base::key_id(*key).c_str(), problem.c_str());
    }
    if (claims) {
      const auto& c = *claims;
      std::string dbs;
      for (const auto& d : c.databases) dbs += (dbs.empty() ? "" : ", ") + d;
      std::printf("user:        %s\ndatabases:   %s\nenvironment: %s\n", c.subject.c_str(), dbs.c_str(),
                  c.environment.c_str());
      std::printf("issuer:      %s\nissued:      %s\nvalid:       %s to %s (%s)\n", c.issuer.c_str(),
                  base::format_time(c.issued_at).c_str(), base::format_time(c.not_before).c_str(),
                  base::format_time(c.expires).c_str(), time_status(c, now).c_str());
      std::printf("reason:      %s\nticket:      %s\njti:         %s\nsingle use:  %s\n", c.reason.c_str(),
                  c.ticket.c_str(), c.token_id.c_str(), c.single_use ? "yes" : "no");
      if (c.statements.empty()) {
        std::printf("statements:  any\n");
      } else {
        std::printf("statements:\n");
        for (const auto& s : c.statements) std::printf("  %s\n", s.c_str());
      }
      if (c.audience != breakglass::kBreakGlassAudience) std::printf("audience:    %s (not ddlgate)\n", c.audience.c_str());
    } else {
      std::printf("claims:      unreadable: %s\n", why.c_str());
    }
  }
  if (!problem.empty()) std::fprintf(stderr, "%s: token %s: %s\n", me, hint.c_str(), problem.c_str());
  if (!claims) return kExitCheckFailed;
  if (key && !verified) return kExitCheckFailed;
  return kExitOk;
}

}  // namespace

void add_breakglass(CLI::App& app, Runner& runner) {
  auto* bg = app.add_subcommand("breakglass", "issue and inspect short-lived break-glass tokens");
  bg->require_subcommand(1);

  auto* issue = bg->add_subcommand("issue", "sign a break-glass token and print it on stdout");
  auto i = std::make_shared<IssueArgs>();
  issue->add_option("--key", i->key, "the break-glass private key (PKCS#8 PEM, ddlgate keygen)")->required();
  issue->add_option("--user", i->user, "the database user the session logs in as")->required();
  issue->add_option("--database", i->databases, "a database the session may use (repeatable)")->required();
  issue->add_option("--environment", i->environment, "the proxy environment (e.g. prod)")->required();
  issue->add_option("--lifetime", i->lifetime, "how long it is valid (default 15m, at most 24h)");
  issue->add_option("--reason", i->reason, "why the glass is broken")->required();
  issue->add_option("--ticket", i->ticket, "incident or change ticket")->required();
  issue->add_option("--issuer", i->issuer, "who issues it (default $USER@host)");
  issue->add_flag("--single-use", i->single_use, "the proxy accepts it for one session only");
  issue->add_option("--statement", i->statements, "limit it to this canonical statement hash (sha256:..., repeatable)");
  issue->callback([&runner, i] { runner = [i] { return run_issue(*i); }; });

  auto* inspect = bg->add_subcommand("inspect", "show a token's claims and whether it verifies against a key");
  auto n = std::make_shared<InspectArgs>();
  inspect->add_option("token", n->token, "the token, or - to read it from stdin")->required();
  inspect->add_option("--pubkey", n->pubkey, "the break-glass public key (.pub) to verify with");
  inspect->add_flag("--json", n->json, "print JSON");
  inspect->callback([&runner, n] { runner = [n] { return run_inspect(*n); }; });
}

}  // namespace ddlgate::cli
