#include "spent_approvals.h"

namespace ddlgate::proxy {

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

std::size_t SpentApprovals::Loader::finish(SpentApprovals& into) {
  std::unordered_set<std::string> spent = history_.take();
  std::lock_guard lock(into.mu_);
  into.spent_.merge(spent);
  return into.spent_.size();
}

}  // namespace ddlgate::proxy
