#include "ddlgate/engine/spent.h"

#include "ddlgate/engine/decide.h"

namespace ddlgate::engine {

namespace {

std::string text(const nlohmann::json& f, const char* name) {
  auto it = f.find(name);
  return it != f.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

bool SpentHistory::wants(ledger::RecordType type, std::string_view payload) const {
  // A payload is canonical JSON, where a quote inside a string is escaped: the key
  // "spend" is there only if these bytes are. Most decisions do not spend anything,
  // and a large ledger is read much faster without parsing them.
  if (type == ledger::RecordType::decision) return payload.find("\"spend\":") != std::string_view::npos;
  return type == ledger::RecordType::outcome && !pending_.empty();
}

void SpentHistory::read(const ledger::ParsedRecord& r) {
  const auto& f = r.fields;
  if (!f.is_object()) return;
  if (r.type == ledger::RecordType::decision) {
    std::string spend = text(f, "spend");
    auto approval = f.find("approval");
    if (spend.empty() || text(f, "decision") != "allowed" || approval == f.end() || !approval->is_object()) return;
    auto stmt = approval->find("statement");
    std::string k = approval_key(text(f, "database"), text(*approval, "bundle"), text(*approval, "version"),
                                 text(*approval, "file"),
                                 stmt != approval->end() && stmt->is_number_unsigned() ? stmt->get<std::uint64_t>() : 0,
                                 text(*approval, "part") == "down");
    if (spend == "at_decision") {
      spent_.insert(k);
    } else {
      pending_[{text(f, "session_id"), text(f, "statement_hash")}].push_back(std::move(k));
    }
  } else if (r.type == ledger::RecordType::outcome) {
    auto it = pending_.find({text(f, "session_id"), text(f, "statement_hash")});
    if (it == pending_.end() || it->second.empty()) return;
    if (text(f, "outcome") == "executed") spent_.insert(it->second.front());
    it->second.pop_front();
    if (it->second.empty()) pending_.erase(it);
  }
}

std::unordered_set<std::string> SpentHistory::take() {
  for (auto& [_, keys] : pending_) {
    for (auto& k : keys) spent_.insert(std::move(k));
  }
  pending_.clear();
  return std::exchange(spent_, {});
}

}  // namespace ddlgate::engine
