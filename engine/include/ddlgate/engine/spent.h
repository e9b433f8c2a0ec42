// Replay protection's memory (enforcement.spend_approvals_once): which approvals the ledger
// shows spent, by approval_key. The proxy rebuilds its spent set with it at start-up
// (proxy/src/spent_approvals.h); `ddlgate explain` reads a ledger with it offline.
#pragma once

#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "ddlgate/ledger/record.h"

namespace ddlgate::engine {

class SpentHistory {
 public:
  // Decisions that spend an approval, and outcomes while one awaits its commit (a cheap
  // look at the payload, before it is parsed).
  bool wants(ledger::RecordType type, std::string_view payload) const;
  // Records in sequence order.
  void read(const ledger::ParsedRecord& record);
  // The spent keys. An approval allowed "on_commit" with no outcome before the ledger ends
  // (ddlgate stopped or crashed: the outcome is written after the commit) counts as spent,
  // so that a statement that may have applied is never applied again.
  std::unordered_set<std::string> take();

 private:
  std::unordered_set<std::string> spent_;
  // Approvals allowed "on_commit" and not yet resolved, by (session, hash), in order.
  std::map<std::pair<std::string, std::string>, std::deque<std::string>> pending_;
};

}  // namespace ddlgate::engine
