// Replay protection (enforcement.spend_approvals_once): which approvals have
// been applied in which database, shared by every worker.
//
// An approval is one statement of one signed bundle (app, version, file,
// statement index). Spent in a database, it allows nothing more there; a
// statement approved twice (two files) may run twice. A tool's bookkeeping
// statements are repeatable and never spent. While a session runs an approved
// statement the approval is reserved, so that two sessions cannot both apply it;
// the reservation becomes spent when the statement's transaction commits, and is
// released when it fails, rolls back or the session ends first.
//
// The ledger is the memory: decision records say which approval a statement
// used and when it is spent ("spend"), outcome records say it committed, and
// a Loader rebuilds the spent set from them at start-up.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "ddlgate/ledger/record.h"
#include "ddlgate/bundle/registry.h"
#include "ddlgate/engine/decide.h"
#include "ddlgate/engine/spent.h"

namespace ddlgate::proxy {

class SpentApprovals final : public engine::Reservations {
 public:
  // The key of an approval in a database (engine::approval_key).
  static std::string key(std::string_view database, std::string_view app, std::string_view version,
                         std::string_view file, std::uint64_t statement) {
    return engine::approval_key(database, app, version, file, statement);
  }
  static std::string key(std::string_view database, const bundle::Approval& a) {
    return engine::approval_key(database, a);
  }

  // Reserves key for a statement about to run; false if spent or reserved.
  bool reserve(const std::string& key) override;
  // The reserved statement committed: the approval is spent for good.
  void spend(const std::string& key);
  // The reserved statement did not apply (failed, rolled back, session gone).
  void release(const std::string& key) override;

  // Rebuilds the spent set from the ledger's records at start-up, as a
  // ledger::HistoryReader (wants() and read()), then finish() hands it over.
  class Loader {
   public:
    // Decisions that spend an approval, and outcomes while one awaits its commit.
    bool wants(ledger::RecordType type, std::string_view payload) const { return history_.wants(type, payload); }
    void read(const ledger::ParsedRecord& record) { history_.read(record); }
    // Adds what was read to `into`; returns how many approvals are spent there.
    std::size_t finish(SpentApprovals& into);

   private:
    engine::SpentHistory history_;
  };

  std::size_t spent_count() const;

 private:
  mutable std::mutex mu_;
  std::unordered_set<std::string> spent_;
  std::unordered_set<std::string> reserved_;
};

}  // namespace ddlgate::proxy
