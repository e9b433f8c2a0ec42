// Why this exists: on a cache miss, libpg_query's protobuf output and its
// protobuf-c decoding cost ~19 us for a pgbench SELECT, while its JSON output
// read with nlohmann's SAX parser costs ~8 us. Most misses are reads and writes,
// which need no hash, so they take this path. It only ever answers "not
// controlled"; anything it is not sure about (SELECT INTO, EXPLAIN, COPY,
// CREATE ..., unknown nodes, controlled classes, malformed output), DEALLOCATE
// and DISCARD (their SessionEffect is read from the tree) and EXECUTE (the name
// it runs) fall back to
// the protobuf analysis. Tests and the fuzzer check that both paths agree.
// So do statements that may be server_admin (server_admin.h): any string in the
// tree that is the name of a controlled function or a dangerous setting (a column
// named lo_export or a literal 'log_statement' too: the protobuf analysis then
// decides), and any statement but a plain SELECT that names a relation or schema
// starting with pg_, or information_schema.
//
// libpg_query's JSON has the same shape as its protobuf tree: a Node is an object
// with one key, the node type's name (PascalCase); every other key is a field
// name (camelCase or snake_case). So node types below a statement can be seen as
// keys without building the tree.
#include "fast_path.h"

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "classify.h"
#include "command_tag.h"
#include "ddlgate/sql/server_admin.h"
#include "pg_tree.h"

namespace ddlgate::sql::detail {
namespace {

struct RawStatement {
  std::string type;  // the statement's node type
  long long location = 0;
  long long length = 0;
  bool dml = false;           // INSERT/UPDATE/DELETE/MERGE below the top
  bool row_locks = false;     // a LockingClause below the top
  bool into = false;          // an intoClause/into field below the top
  bool other_stmt = false;    // any other statement node below the top
  bool admin_name = false;    // a string that names a controlled function or a dangerous setting
  bool system_name = false;   // a relname/schemaname that may be a system relation or schema
  // A TransactionStmt's fields (the kind's name, savepoint_name, chain).
  std::string txn_kind;
  std::string savepoint_name;
  bool chain = false;
};

bool is_node_type_key(const std::string& key) { return !key.empty() && key[0] >= 'A' && key[0] <= 'Z'; }

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The names a string must have to matter to server_admin; cheap checks first, as
// this runs on every string of the tree.
bool may_name_server_admin(std::string_view v) {
  return v.size() >= 6 && (find_controlled_function(v) != nullptr || is_dangerous_setting(v));
}

bool may_be_system_name(std::string_view v) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
  if (v.size() >= 3 && lower(v[0]) == 'p' && lower(v[1]) == 'g' && v[2] == '_') return true;
  return v == "information_schema";
}

// The keys whose string values server_admin looks at. A function's name is a
// String node's sval (FuncCall.funcname), a setting's name is VariableSetStmt.name
// or a constant's sval (set_config's argument); relations name themselves in a
// RangeVar's relname and schemaname. Enum values, operators and the like are not
// looked up at all.
enum class ValueKey : unsigned char { other, name, relation };

ValueKey value_key(const std::string& k) {
  if (k.size() == 4 && (k == "sval" || k == "name")) return ValueKey::name;
  if ((k.size() == 7 && k == "relname") || (k.size() == 10 && k == "schemaname")) return ValueKey::relation;
  return ValueKey::other;
}

bool is_query_type(std::string_view type) {
  return type == "SelectStmt" || type == "InsertStmt" || type == "UpdateStmt" || type == "DeleteStmt" ||
         type == "MergeStmt";
}

// Levels: 1 the ParseResult object, 2 the stmts array, 3 a RawStmt object,
// 4 the statement's Node object (its one key is the type), 5+ inside it.
class Scanner final : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit Scanner(const Policy& policy) : policy_(policy) {}

  std::vector<RawStatement> statements;
  bool malformed = false;

  bool null() override { return true; }
  bool boolean(bool v) override {
    if (RawStatement* t = transaction_field()) {
      if (field_ == "chain") t->chain = v;
    }
    return true;
  }
  bool number_integer(number_integer_t v) override { return number(v); }
  bool number_unsigned(number_unsigned_t v) override { return number(static_cast<long long>(v)); }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t& v) override {
    if (level_ >= 5 && !statements.empty() && value_key_ != ValueKey::other) {
      RawStatement& st = statements.back();
      if (value_key_ == ValueKey::name) {
        if (may_name_server_admin(v)) st.admin_name = true;
      } else if (may_be_system_name(v)) {
        st.system_name = true;
      }
    }
    if (RawStatement* t = transaction_field()) {
      if (field_ == "kind") t->txn_kind = v;
      if (field_ == "savepoint_name") t->savepoint_name = v;
    }
    return true;
  }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    if (++level_ > kMaxTreeDepth) return fail();  // let the full analysis refuse it
    if (level_ == 3) {
      if (!in_stmts_) return fail();
      statements.emplace_back();
    }
    return true;
  }
  bool end_object() override {
    --level_;
    return true;
  }
  bool start_array(std::size_t) override {
    if (++level_ > kMaxTreeDepth) return fail();
    if (level_ == 2) in_stmts_ = last_key_ == "stmts";
    return true;
  }
  bool end_array() override {
    --level_;
    return true;
  }
  bool key(string_t& k) override {
    if (level_ <= 3) {
      last_key_ = k;
      return true;
    }
    if (statements.empty()) return fail();
    RawStatement& st = statements.back();
    value_key_ = value_key(k);
    if (level_ == 5 && st.type == "TransactionStmt") field_ = k;
    if (level_ == 4) {
      if (!st.type.empty()) return fail();  // a Node has exactly one key
      st.type = k;
      // Stop reading at once when this statement will need the full analysis anyway.
      if (!is_query_type(k)) {
        auto fixed = fixed_class_by_name(k);
        if (!fixed || policy_.controlled(*fixed, false)) return fail();
      }
      return true;
    }
    if (is_node_type_key(k)) {
      if (k == "InsertStmt" || k == "UpdateStmt" || k == "DeleteStmt" || k == "MergeStmt") {
        st.dml = true;
      } else if (k == "LockingClause") {
        st.row_locks = true;
      } else if (k == "IntoClause") {  // never Node-wrapped in PG15 raw trees; be sure anyway
        st.into = true;
      } else if (k != "SelectStmt" && ends_with(k, "Stmt")) {
        st.other_stmt = true;
      }
    } else if (k == "intoClause" || k == "into") {
      st.into = true;
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return fail(); }

 private:
  bool number(long long v) {
    if (level_ == 3 && !statements.empty()) {
      if (last_key_ == "stmt_location") statements.back().location = v;
      if (last_key_ == "stmt_len") statements.back().length = v;
    }
    return true;
  }
  bool fail() {
    malformed = true;
    return false;
  }
  // The statement whose own field (level 5) a value belongs to, if it is a TransactionStmt.
  RawStatement* transaction_field() {
    if (level_ != 5 || statements.empty() || statements.back().type != "TransactionStmt") return nullptr;
    return &statements.back();
  }

  const Policy& policy_;
  int level_ = 0;
  bool in_stmts_ = false;
  std::string last_key_;
  std::string field_;  // the latest key at level 5 of a TransactionStmt
  ValueKey value_key_ = ValueKey::other;  // what the latest key below a statement holds
};

}  // namespace

std::size_t json_depth(std::string_view json) {
  std::size_t depth = 0;
  std::size_t max_depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // skip the escaped character
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) max_depth = depth;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return max_depth;
}

std::optional<Analysis> fast_analyze(std::string_view json, std::size_t size, const Policy& policy) {
  Scanner scanner(policy);
  if (!nlohmann::json::sax_parse(json.begin(), json.end(), &scanner) || scanner.malformed) return std::nullopt;

  Analysis out;
  out.statements.reserve(scanner.statements.size());
  for (const RawStatement& raw : scanner.statements) {
    Statement st;
    if (raw.admin_name) return std::nullopt;
    // A system name in anything but a plain read (INSERT/UPDATE/DELETE/MERGE, a
    // data-modifying WITH, FOR UPDATE, but also TRUNCATE or a rule's actions when
    // the policy releases those classes): the full analysis looks at the targets.
    if (raw.system_name && (raw.type != "SelectStmt" || raw.dml || raw.row_locks)) return std::nullopt;
    if (is_query_type(raw.type)) {
      if (raw.into || raw.other_stmt) return std::nullopt;
      bool writes = raw.type != "SelectStmt" || raw.dml || raw.row_locks;
      st.cls = writes ? StatementClass::write : StatementClass::read;
    } else if (raw.type == "DeallocateStmt" || raw.type == "DiscardStmt" || raw.type == "ExecuteStmt") {
      // The protobuf analysis reads which prepared statements they drop or run.
      return std::nullopt;
    } else {
      auto fixed = fixed_class_by_name(raw.type);
      if (!fixed) return std::nullopt;
      st.cls = *fixed;
    }
    if (policy.controlled(st.cls, false)) return std::nullopt;
    // REFRESH MATERIALIZED VIEW fires event triggers: the full analysis names its tag.
    if (may_fire_event_triggers(st.cls)) return std::nullopt;
    st.controlled = false;
    if (raw.type == "TransactionStmt") {
      st.session_effect = session_effect(raw.txn_kind, raw.chain);
      if (st.session_effect != SessionEffect::chain) st.effect_name = raw.savepoint_name;
    }
    if (raw.location < 0 || static_cast<std::size_t>(raw.location) > size || raw.length < 0) return std::nullopt;
    st.offset = static_cast<std::size_t>(raw.location);
    st.length = raw.length > 0 ? static_cast<std::size_t>(raw.length) : size - st.offset;
    if (st.length > size - st.offset) return std::nullopt;
    out.statements.push_back(std::move(st));
  }
  return out;
}

}  // namespace ddlgate::sql::detail
