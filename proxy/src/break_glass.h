// Break-glass sessions (docs/breakglass.md, "In the proxy"): a client presents a signed,
// short-lived token in its startup packet or with SET ddlgate.break_glass; ddlgate takes
// it out of the traffic, verifies it, records the opening durably and then, until RESET,
// expiry or the end of the session, allows the controlled statements the token covers and
// records every statement of the session in full. The Session members that do this are
// defined in break_glass.cpp; this header holds what is shared between sessions.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "ddlgate/config/config.h"
#include "ddlgate/ledger/ledger.h"
#include "ddlgate/breakglass/breakglass.h"

namespace ddlgate::proxy {

// Shared by every session of a server: the trusted keys and the single-use token ids
// already spent (from the ledger at start, then from this process).
class BreakGlassRegistry {
 public:
  // Decodes [break_glass] keys; `spent` holds the single-use token ids the ledger says were
  // opened before (history_reader). Throws std::runtime_error naming the key (start-up only).
  BreakGlassRegistry(const config::Config& config, std::unordered_set<std::string> spent);

  // Collects the ids of single-use tokens opened before, from the ledger's
  // break_glass_opened records, into `into` while the ledger opens: a single-use
  // token stays spent across restarts.
  static ledger::HistoryReader history_reader(std::unordered_set<std::string>& into);

  const std::vector<base::PublicKey>& keys() const { return keys_; }
  // Marks a single-use token id spent; false when it already was.
  bool spend(const std::string& token_id);
  std::size_t spent_count() const;

 private:
  std::vector<base::PublicKey> keys_;
  mutable std::mutex mu_;  // sessions of every worker thread spend tokens
  std::unordered_set<std::string> spent_;
};

// A session's open break-glass token: its verified claims, never the token itself.
struct BreakGlassOpen {
  breakglass::BreakGlassClaims claims;
  std::string key_id;        // the configured key that verified it
  std::string token_sha256;  // "sha256:<hex>" of the token text
  std::chrono::system_clock::time_point deadline;  // exp + clock skew: the session falls back to enforcement
};

// Who and what one alert is about.
struct BreakGlassEvent {
  std::string_view event;       // "opened", "closed", "refused"
  std::string_view session_id;
  std::string_view user, database, peer;
  const BreakGlassOpen* open = nullptr;  // the token's claims, when known
  std::string_view detail;      // why it closed / was refused
};

// Alerts about break-glass sessions: logs a warning (never the token) now; this is the one
// place where the webhook call goes once the operations work provides webhooks.
void notify_break_glass(const BreakGlassEvent& e);

}  // namespace ddlgate::proxy
