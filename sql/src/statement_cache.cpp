#include "ddlgate/sql/statement_cache.h"

#include <utility>

namespace ddlgate::sql {
namespace {

// A list node, a hash-map node and bucket, and the shared_ptr control block.
constexpr std::size_t kEntryOverhead = 160;

// The shared answers for plain_dml_class() hits: one uncontrolled statement.
std::shared_ptr<const Analysis> plain_dml_analysis(StatementClass cls) {
  auto make = [](StatementClass c) {
    auto a = std::make_shared<Analysis>();
    Statement st;
    st.cls = c;
    st.controlled = false;
    a->statements.push_back(std::move(st));
    return std::shared_ptr<const Analysis>(std::move(a));
  };
  // Per thread, so that workers do not share the reference count's cache line.
  thread_local const std::shared_ptr<const Analysis> read = make(StatementClass::read);
  thread_local const std::shared_ptr<const Analysis> write = make(StatementClass::write);
  return cls == StatementClass::read ? read : write;
}

}  // namespace

std::size_t analysis_bytes(const Analysis& analysis) {
  std::size_t n = sizeof(Analysis) + analysis.statements.capacity() * sizeof(Statement);
  if (analysis.error) n += analysis.error->message.capacity();
  for (const auto& s : analysis.statements) {
    n += s.hash.capacity() + s.display_sql.capacity() + s.command_tag.capacity();
  }
  return n;
}

StatementCache::StatementCache(Policy policy, std::size_t capacity_bytes, ParseOptions options)
    : policy_(policy),
      options_(options),
      dml_uncontrolled_(!policy.controlled(StatementClass::read) && !policy.controlled(StatementClass::write)),
      capacity_(capacity_bytes) {}

std::shared_ptr<const Analysis> StatementCache::get(std::string_view sql) {
  // Plain DML first: such texts are never inserted, so a lookup would only miss.
  if (dml_uncontrolled_) {
    if (auto cls = plain_dml_class(sql)) {
      ++stats_.plain_dml;
      return plain_dml_analysis(*cls);
    }
  }
  if (auto it = index_.find(sql); it != index_.end()) {
    ++stats_.hits;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->value;
  }
  ++stats_.misses;
  auto value = std::make_shared<const Analysis>(analyze(sql, policy_, Detail::controlled_only, options_));
  std::size_t entry_bytes = sql.size() + analysis_bytes(*value) + kEntryOverhead;
  if (entry_bytes > capacity_ / 8) return value;
  evict_until_fits(entry_bytes);
  lru_.push_front(Entry{std::string(sql), value, entry_bytes});
  index_.emplace(std::string_view(lru_.front().key), lru_.begin());
  bytes_ += entry_bytes;
  return value;
}

void StatementCache::evict_until_fits(std::size_t incoming) {
  while (!lru_.empty() && bytes_ + incoming > capacity_) {
    Entry& victim = lru_.back();
    index_.erase(std::string_view(victim.key));
    bytes_ -= victim.bytes;
    lru_.pop_back();
    ++stats_.evictions;
  }
}

}  // namespace ddlgate::sql
