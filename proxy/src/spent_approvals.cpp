#include "spent_approvals.h"

#include <deque>
#include <map>
#include <utility>

#include "ddlgate/ledger/verify.h"

namespace ddlgate::proxy {

std::string SpentApprovals::key(std::string_view database, std::string_view app, std::string_view version,
                                std::string_view file, std::uint64_t statement) {
  // Unit separators: none of the parts can contain one (names, paths, digits).
  std::string k;
  k.reserve(database.size() + app.size() + version.size() + file.size() + 24);
  k.append(database).push_back('\x1f');
  k.append(app).push_back('\x1f');
  k.append(version).push_back('\x1f');
  k.append(file).push_back('\x1f');
  k.append(std::to_string(statement));
  return k;
}

std::string SpentApprovals::key(std::string_view database, const policy::Approval& a) {
  return key(database, a.app, std::to_string(a.version), a.file, a.statement_index);
}

bool SpentApprovals::reserve(const std::string& key) {
  std::lock_guard lock(mu_);
  if (spent_.count(key) != 0) return false;
  return reserved_.insert(key).second;
}

void SpentApprovals::spend(const std::string& key) {
  std::lock_guard lock(mu_);
  reserved_.erase(key);
  spent_.insert(key);
}

void SpentApprovals::release(const std::string& key) {
  std::lock_guard lock(mu_);
  reserved_.erase(key);
}

std::size_t SpentApprovals::spent_count() const {
  std::lock_guard lock(mu_);
  return spent_.size();
}

SpentApprovals::Loaded SpentApprovals::load(const std::filesystem::path& dir) {
  Loaded out;
  std::unordered_set<std::string> spent;
  // Approvals allowed "on_commit" and not yet resolved, by (session, hash), in order.
  std::map<std::pair<std::string, std::string>, std::deque<std::string>> pending;
  auto text = [](const nlohmann::json& f, const char* name) -> std::string {
    auto it = f.find(name);
    return it != f.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto sink = [&](const ledger::ParsedRecord& r) {
    const auto& f = r.fields;
    if (!f.is_object()) return;
    if (r.type == ledger::RecordType::decision) {
      std::string spend = text(f, "spend");
      auto approval = f.find("approval");
      if (spend.empty() || text(f, "decision") != "allowed" || approval == f.end() || !approval->is_object()) return;
      auto stmt = approval->find("statement");
      std::string k = key(text(f, "database"), text(*approval, "bundle"), text(*approval, "version"),
                          text(*approval, "file"),
                          stmt != approval->end() && stmt->is_number_unsigned() ? stmt->get<std::uint64_t>() : 0);
      if (spend == "at_decision") {
        spent.insert(k);
      } else {
        pending[{text(f, "session_id"), text(f, "statement_hash")}].push_back(std::move(k));
      }
    } else if (r.type == ledger::RecordType::outcome) {
      auto it = pending.find({text(f, "session_id"), text(f, "statement_hash")});
      if (it == pending.end() || it->second.empty()) return;
      if (text(f, "outcome") == "executed") spent.insert(it->second.front());
      it->second.pop_front();
    }
  };
  std::uint64_t next = 0;
  ledger::Status st = ledger::read_records(dir, 0, sink, &next);
  if (!st.ok()) {
    out.error = st.error().to_string();
    return out;
  }
  // Allowed, and no outcome before ddlgate stopped (a crash can lose an outcome
  // record, which is written after the commit): counted as spent, so that a
  // statement that may have applied is never applied again.
  for (auto& [_, keys] : pending) {
    for (auto& k : keys) spent.insert(std::move(k));
  }
  std::lock_guard lock(mu_);
  spent_.merge(spent);
  out.spent = spent_.size();
  return out;
}

}  // namespace ddlgate::proxy
