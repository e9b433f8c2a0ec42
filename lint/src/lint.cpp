// lint(): one libpg_query parse per file, then per statement the locks it takes
// (PostgreSQL 15's AlterTableGetLockLevel and the lock table of
// https://www.postgresql.org/docs/15/explicit-locking.html), the findings of the
// built-in rules and a risk tier. State across statements: which relations the
// input created (they are not "existing"), and per file whether a transaction
// block is open and whether lock_timeout is set.
#include "ddlgate/lint/lint.h"

#include <fnmatch.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "analysis.h"
#include "ddlgate/sql/analyze.h"
#include "ddlgate/sql/parse_tree.h"

namespace ddlgate::lint {
namespace {

using detail::str;

// ---- names -------------------------------------------------------------------

// "schema.name" with an unqualified name read as public (the default search_path;
// docs/lint.md says so).
std::string key_of(std::string_view schema, std::string_view name) {
  std::string k(schema.empty() ? std::string_view("public") : schema);
  k += '.';
  k += name;
  return k;
}

std::string rv_key(const PgQuery__RangeVar* rv) {
  if (rv == nullptr || rv->relname == nullptr) return {};
  return key_of(rv->schemaname != nullptr ? rv->schemaname : "", rv->relname);
}

std::string rv_display(const PgQuery__RangeVar* rv) {
  if (rv == nullptr || rv->relname == nullptr) return "?";
  std::string s;
  if (rv->schemaname != nullptr && *rv->schemaname != '\0') s = std::string(rv->schemaname) + ".";
  return s + rv->relname;
}

// The names of a List of String nodes ("schema", "table", ...).
std::vector<std::string_view> name_list(const PgQuery__Node* n) {
  std::vector<std::string_view> out;
  if (n == nullptr) return out;
  if (n->node_case == PG_QUERY__NODE__NODE_STRING) {
    out.push_back(str(n));
  } else if (n->node_case == PG_QUERY__NODE__NODE_LIST && n->list != nullptr) {
    for (std::size_t i = 0; i < n->list->n_items; ++i) out.push_back(str(n->list->items[i]));
  } else if (n->node_case == PG_QUERY__NODE__NODE_OBJECT_WITH_ARGS && n->object_with_args != nullptr) {
    for (std::size_t i = 0; i < n->object_with_args->n_objname; ++i)
      out.push_back(str(n->object_with_args->objname[i]));
  } else if (n->node_case == PG_QUERY__NODE__NODE_TYPE_NAME && n->type_name != nullptr) {
    for (std::size_t i = 0; i < n->type_name->n_names; ++i) out.push_back(str(n->type_name->names[i]));
  }
  return out;
}

std::string join(const std::vector<std::string_view>& parts, std::size_t from = 0, std::size_t to = SIZE_MAX) {
  std::string s;
  for (std::size_t i = from; i < parts.size() && i < to; ++i) {
    if (!s.empty()) s += '.';
    s += parts[i];
  }
  return s;
}

// Key of a qualified name list [schema.]name.
std::string list_key(const std::vector<std::string_view>& parts) {
  if (parts.empty()) return {};
  std::string_view schema = parts.size() >= 2 ? parts[parts.size() - 2] : std::string_view();
  return key_of(schema, parts.back());
}

std::string_view type_last_name(const PgQuery__TypeName* t) {
  if (t == nullptr || t->n_names == 0) return {};
  return str(t->names[t->n_names - 1]);
}

std::string_view func_last_name(const PgQuery__FuncCall* f) {
  if (f == nullptr || f->n_funcname == 0) return {};
  return str(f->funcname[f->n_funcname - 1]);
}

bool defelem_true(const PgQuery__DefElem* d) {
  if (d->arg == nullptr) return true;  // a bare option means "on"
  if (d->arg->node_case == PG_QUERY__NODE__NODE_BOOLEAN && d->arg->boolean != nullptr) return d->arg->boolean->boolval;
  if (d->arg->node_case == PG_QUERY__NODE__NODE_INTEGER && d->arg->integer != nullptr)
    return d->arg->integer->ival != 0;
  if (d->arg->node_case == PG_QUERY__NODE__NODE_STRING) {
    std::string_view v = str(d->arg);
    return v == "true" || v == "on" || v == "1";
  }
  return true;
}

const PgQuery__DefElem* as_defelem(const PgQuery__Node* n) {
  return n != nullptr && n->node_case == PG_QUERY__NODE__NODE_DEF_ELEM ? n->def_elem : nullptr;
}

// ---- expressions ---------------------------------------------------------------

// Functions a column default may call without forcing a table rewrite (stable or
// immutable in PostgreSQL 15's catalog). Any other call counts as volatile: a
// function is VOLATILE unless declared otherwise, so an unknown one fails closed.
bool non_volatile_function(std::string_view name) {
  static const std::set<std::string_view> kKnown = {"now",
                                                    "transaction_timestamp",
                                                    "statement_timestamp",
                                                    "current_setting",
                                                    "lower",
                                                    "upper",
                                                    "btrim",
                                                    "trim",
                                                    "ltrim",
                                                    "rtrim",
                                                    "length",
                                                    "abs",
                                                    "round",
                                                    "concat",
                                                    "concat_ws",
                                                    "jsonb_build_object",
                                                    "json_build_object",
                                                    "jsonb_build_array",
                                                    "json_build_array",
                                                    "to_jsonb",
                                                    "to_json",
                                                    "make_date",
                                                    "make_interval",
                                                    "make_timestamp",
                                                    "make_timestamptz",
                                                    "date_trunc",
                                                    "timezone",
                                                    "array_fill",
                                                    "coalesce",
                                                    "md5",
                                                    "replace",
                                                    "substring",
                                                    "substr",
                                                    "int4range",
                                                    "int8range",
                                                    "numrange",
                                                    "tstzrange",
                                                    "daterange",
                                                    "current_database",
                                                    "current_schema",
                                                    "lpad",
                                                    "rpad",
                                                    "repeat"};
  return kKnown.count(name) != 0;
}

// A volatile function called anywhere in expr (its name), or "".
std::string volatile_call(PgQuery__Node* expr) {
  std::string found;
  if (expr == nullptr) return found;
  auto visit = [&found](ProtobufCMessage* m) {
    if (!found.empty()) return false;
    if (m->descriptor == &pg_query__func_call__descriptor) {
      std::string_view name = func_last_name(reinterpret_cast<PgQuery__FuncCall*>(m));
      if (!non_volatile_function(name)) found = std::string(name) + "()";
    }
    return true;
  };
  sql::tree::walk(&expr->base, visit);
  return found;
}

// The column of a CHECK (col IS NOT NULL) expression, or "".
std::string not_null_column(const PgQuery__Node* expr) {
  if (expr == nullptr || expr->node_case != PG_QUERY__NODE__NODE_NULL_TEST || expr->null_test == nullptr) return {};
  const PgQuery__NullTest* t = expr->null_test;
  if (t->nulltesttype != PG_QUERY__NULL_TEST_TYPE__IS_NOT_NULL || t->arg == nullptr ||
      t->arg->node_case != PG_QUERY__NODE__NODE_COLUMN_REF || t->arg->column_ref == nullptr ||
      t->arg->column_ref->n_fields != 1) {
    return {};
  }
  return std::string(str(t->arg->column_ref->fields[0]));
}

bool lock_timeout_value_is_zero(const PgQuery__Node* arg) {
  if (arg == nullptr || arg->node_case != PG_QUERY__NODE__NODE_A_CONST || arg->a_const == nullptr) return false;
  const PgQuery__AConst* c = arg->a_const;
  if (c->val_case == PG_QUERY__A__CONST__VAL_IVAL) return c->ival == nullptr || c->ival->ival == 0;
  if (c->val_case == PG_QUERY__A__CONST__VAL_SVAL && c->sval != nullptr && c->sval->sval != nullptr) {
    std::string_view v = c->sval->sval;
    std::size_t digits = v.find_first_not_of('0');
    if (digits == std::string_view::npos) return !v.empty();
    return v.substr(digits).find_first_of("123456789") == std::string_view::npos;  // "0", "0s", "00ms"
  }
  if (c->val_case == PG_QUERY__A__CONST__VAL_FVAL && c->fval != nullptr && c->fval->fval != nullptr) {
    return std::strspn(c->fval->fval, "0.") == std::strlen(c->fval->fval);
  }
  return false;
}

// ---- reporting -----------------------------------------------------------------

struct FileState {
  bool in_transaction = false;
  bool lock_timeout = false;        // set for the session
  bool lock_timeout_local = false;  // SET LOCAL, until the transaction ends
  bool has_ddl = false;
  std::vector<std::size_t> unbounded_dml;  // report indexes of UPDATE/DELETE without WHERE
};

class Linter {
 public:
  Linter(const Options& options, Report* report) : options_(options), report_(report) {}

  void file(std::size_t index, const SourceFile& src);

 private:
  void statement(PgQuery__Node* node, StatementReport& rep, const std::string& text);
  void create_stmt(const PgQuery__CreateStmt* s, StatementReport& rep);
  void alter_table(const PgQuery__AlterTableStmt* s, StatementReport& rep);
  LockMode add_column(const PgQuery__ColumnDef* col, const std::string& table, bool existing, StatementReport& rep);
  void drop_stmt(const PgQuery__DropStmt* s, StatementReport& rep);
  void rename_stmt(const PgQuery__RenameStmt* s, StatementReport& rep);
  void function_stmt(const PgQuery__CreateFunctionStmt* s, StatementReport& rep, const std::string& text);
  void do_stmt(const PgQuery__DoStmt* s, StatementReport& rep);
  void foreign_key_target(const PgQuery__Constraint* c, StatementReport& rep);
  void finish(PgQuery__Node* node, StatementReport& rep);

  bool existing(const std::string& key) const { return !key.empty() && created_.count(key) == 0; }
  bool existing(const PgQuery__RangeVar* rv) const { return existing(rv_key(rv)); }
  void lock(StatementReport& rep, std::string relation, LockMode mode, bool is_existing) {
    rep.locks.push_back({std::move(relation), mode, is_existing});
  }
  void find(StatementReport& rep, std::string_view id, std::string message) {
    const Rule* r = find_rule(id);
    rep.findings.push_back({std::string(id), r != nullptr ? r->severity : Severity::error, std::move(message)});
  }

  const Options& options_;
  Report* report_;
  std::set<std::string> created_;  // relations, indexes, functions and types the input created
  // CHECK (col IS NOT NULL) constraints: "table/constraint" -> "table.col" until validated,
  // and the columns a valid one covers (SET NOT NULL then neither scans nor fails).
  std::map<std::string, std::string> not_null_checks_;
  std::set<std::string> proven_not_null_;
  FileState state_;
  std::size_t current_index_ = 0;  // of the statement being read, within its file

  // ---- the policy's custom rules (DG-P...) ----
 public:
  // After the last file: DG-P004 for foreign keys of new tables that no index covers.
  void finish_input();

 private:
  struct ForeignKey {
    std::size_t report_index;
    std::string table_key, display;
    std::vector<std::string> columns;
  };
  struct IndexCols {
    std::string table_key;
    std::vector<std::string> columns;
  };
  void name_check(StatementReport& rep, std::string_view kind, std::string_view name);
  void column_policy(StatementReport& rep, const PgQuery__ColumnDef* col, const std::string& table);
  void type_policy(StatementReport& rep, const PgQuery__TypeName* t, const std::string& what);
  void constraint_policy(StatementReport& rep, const PgQuery__Constraint* c, const PgQuery__RangeVar* table,
                         const char* column);
  std::vector<ForeignKey> foreign_keys_;
  std::vector<IndexCols> indexes_;
};

std::vector<std::size_t> line_starts(const std::string& text) {
  std::vector<std::size_t> starts{0};
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') starts.push_back(i + 1);
  }
  return starts;
}

void position(const std::string& text, const std::vector<std::size_t>& starts, std::size_t offset,
              StatementReport& rep) {
  auto it = std::upper_bound(starts.begin(), starts.end(), offset);
  std::size_t line = static_cast<std::size_t>(it - starts.begin());
  std::size_t col = 1;
  for (std::size_t i = starts[line - 1]; i < offset && i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++col;  // count UTF-8 lead bytes
  }
  rep.line = line;
  rep.column = col;
}

// The first byte of the statement's own text: PostgreSQL's stmt_location of a
// later statement begins right after the previous ';', comments included.
std::size_t skip_space_and_comments(const std::string& text, std::size_t pos, std::size_t end) {
  while (pos < end) {
    char c = text[pos];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      ++pos;
    } else if (c == '-' && pos + 1 < end && text[pos + 1] == '-') {
      while (pos < end && text[pos] != '\n') ++pos;
    } else if (c == '/' && pos + 1 < end && text[pos + 1] == '*') {
      int depth = 1;  // PostgreSQL's block comments nest
      pos += 2;
      while (pos < end && depth > 0) {
        if (text[pos] == '/' && pos + 1 < end && text[pos + 1] == '*') {
          ++depth;
          pos += 2;
        } else if (text[pos] == '*' && pos + 1 < end && text[pos + 1] == '/') {
          --depth;
          pos += 2;
        } else {
          ++pos;
        }
      }
    } else {
      break;
    }
  }
  return pos;
}

// A 1-based character position (PostgreSQL's cursorpos) as a byte offset.
std::size_t char_position_to_offset(const std::string& text, std::size_t pos) {
  if (pos == 0) return 0;
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      if (++chars == pos) return i;
    }
  }
  return text.size();
}

void Linter::file(std::size_t index, const SourceFile& src) {
  state_ = FileState{};
  state_.in_transaction = options_.assume_in_transaction;
  const std::string& text = src.text;
  std::vector<std::size_t> starts = line_starts(text);
  sql::ParsedText parsed = sql::parse_tree(text);
  if (parsed.error || !parsed.tree) {
    StatementReport rep;
    rep.file_index = index;
    rep.offset = parsed.error ? char_position_to_offset(text, parsed.error->position) : 0;
    if (rep.offset > text.size()) rep.offset = text.size();
    position(text, starts, rep.offset, rep);
    std::size_t eol = text.find('\n', rep.offset);
    std::size_t bol = starts[rep.line - 1];
    rep.text = text.substr(bol, (eol == std::string::npos ? text.size() : eol) - bol);
    rep.length = 0;
    rep.tier = "destructive";  // unknown: assume the worst
    find(rep, "DG-L000", parsed.error ? parsed.error->message : std::string("cannot parse"));
    report_->statements.push_back(std::move(rep));
    return;
  }
  std::size_t first = report_->statements.size();
  const PgQuery__ParseResult& root = parsed.tree->root();
  for (std::size_t i = 0; i < root.n_stmts; ++i) {
    PgQuery__RawStmt* raw = root.stmts[i];
    if (raw == nullptr || raw->stmt == nullptr) continue;
    std::size_t loc = raw->stmt_location > 0 ? static_cast<std::size_t>(raw->stmt_location) : 0;
    if (loc > text.size()) loc = text.size();
    std::size_t end = raw->stmt_len > 0 ? loc + static_cast<std::size_t>(raw->stmt_len) : text.size();
    if (end > text.size()) end = text.size();
    std::size_t start = skip_space_and_comments(text, loc, end);
    std::size_t last = end;
    while (last > start && std::strchr(" \t\r\n;", text[last - 1]) != nullptr) --last;
    StatementReport rep;
    rep.file_index = index;
    rep.offset = start;
    rep.length = last - start;
    rep.text = text.substr(start, last - start);
    position(text, starts, start, rep);
    current_index_ = report_->statements.size() - first;
    // The statement's own text (with its leading comments) for pg_query_parse_plpgsql.
    statement(raw->stmt, rep, text.substr(loc, end - loc));
    finish(raw->stmt, rep);
    report_->statements.push_back(std::move(rep));
  }
  if (state_.has_ddl) {
    for (std::size_t k : state_.unbounded_dml) {
      StatementReport& rep = report_->statements[first + k];
      find(rep, "DG-L041",
           "UPDATE/DELETE of every row of " + (rep.locks.empty() ? std::string("?") : rep.locks[0].relation) +
               " in a file that also changes the schema");
      if (rep.tier == "additive") rep.tier = "data";
    }
  }
}

bool is_serial(std::string_view t);

void Linter::name_check(StatementReport& rep, std::string_view kind, std::string_view name) {
  if (options_.policy == nullptr || name.empty()) return;
  for (const NamingRule& n : options_.policy->naming) {
    if (n.kind != kind) continue;
    if (!std::regex_match(name.begin(), name.end(), n.re)) {
      find(rep, "DG-P002", std::string(kind) + " name " + std::string(name) + " does not match " + n.pattern);
    }
  }
}

void Linter::type_policy(StatementReport& rep, const PgQuery__TypeName* t, const std::string& what) {
  if (options_.policy == nullptr || t == nullptr) return;
  std::string_view name = type_last_name(t);
  for (const std::string& f : options_.policy->forbidden_types) {
    if (name == f) find(rep, "DG-P005", what + " has the forbidden type " + f);
  }
}

void Linter::column_policy(StatementReport& rep, const PgQuery__ColumnDef* col, const std::string& table) {
  if (options_.policy == nullptr || col == nullptr) return;
  std::string name = table + "." + (col->colname != nullptr ? col->colname : "?");
  name_check(rep, "column", col->colname != nullptr ? col->colname : "");
  type_policy(rep, col->type_name, "column " + name);
  if (options_.policy->require_not_null_or_default) {
    bool ok = col->is_not_null || is_serial(type_last_name(col->type_name));
    for (std::size_t k = 0; k < col->n_constraints; ++k) {
      const PgQuery__Node* n = col->constraints[k];
      if (n->node_case != PG_QUERY__NODE__NODE_CONSTRAINT || n->constraint == nullptr) continue;
      switch (n->constraint->contype) {
        case PG_QUERY__CONSTR_TYPE__CONSTR_NOTNULL:
        case PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY:
        case PG_QUERY__CONSTR_TYPE__CONSTR_DEFAULT:
        case PG_QUERY__CONSTR_TYPE__CONSTR_IDENTITY:
        case PG_QUERY__CONSTR_TYPE__CONSTR_GENERATED:
          ok = true;
          break;
        default:
          break;
      }
    }
    if (!ok) find(rep, "DG-P003", "column " + name + " is nullable and has no DEFAULT");
  }
}

std::vector<std::string> string_names(PgQuery__Node* const* items, std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) out.emplace_back(str(items[i]));
  return out;
}

void Linter::constraint_policy(StatementReport& rep, const PgQuery__Constraint* c, const PgQuery__RangeVar* table,
                               const char* column) {
  if (options_.policy == nullptr || c == nullptr || table == nullptr) return;
  if (c->conname != nullptr) name_check(rep, "constraint", c->conname);
  std::string key = rv_key(table);
  std::vector<std::string> cols = string_names(c->keys, c->n_keys);
  if (cols.empty() && column != nullptr) cols.emplace_back(column);
  if (c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY || c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE ||
      c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_EXCLUSION) {
    indexes_.push_back({key, cols});
  }
  if (c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN && !existing(key)) {
    std::vector<std::string> fk = string_names(c->fk_attrs, c->n_fk_attrs);
    if (fk.empty() && column != nullptr) fk.emplace_back(column);
    std::string display = rv_display(table) + " (";
    for (std::size_t i = 0; i < fk.size(); ++i) display += (i > 0 ? ", " : "") + fk[i];
    display += ")";
    foreign_keys_.push_back({report_->statements.size(), key, display, fk});
  }
}

void Linter::finish_input() {
  if (options_.policy == nullptr || !options_.policy->foreign_key_index) return;
  for (const ForeignKey& fk : foreign_keys_) {
    bool covered = false;
    for (const IndexCols& ix : indexes_) {
      if (ix.table_key != fk.table_key || ix.columns.size() < fk.columns.size()) continue;
      std::vector<std::string> lead(ix.columns.begin(), ix.columns.begin() + static_cast<long>(fk.columns.size()));
      std::vector<std::string> want = fk.columns;
      std::sort(lead.begin(), lead.end());
      std::sort(want.begin(), want.end());
      if (lead == want) covered = true;
    }
    if (!covered && fk.report_index < report_->statements.size()) {
      find(report_->statements[fk.report_index], "DG-P004", "foreign key " + fk.display + " has no index");
    }
  }
}

void Linter::foreign_key_target(const PgQuery__Constraint* c, StatementReport& rep) {
  if (c == nullptr || c->contype != PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN || c->pktable == nullptr) return;
  // Adding a foreign key adds triggers to the referenced table too: SHARE ROW EXCLUSIVE there.
  lock(rep, rv_display(c->pktable), LockMode::share_row_exclusive, existing(c->pktable));
}

void Linter::create_stmt(const PgQuery__CreateStmt* s, StatementReport& rep) {
  if (s->relation == nullptr) return;
  created_.insert(rv_key(s->relation));
  lock(rep, rv_display(s->relation), LockMode::access_exclusive, false);
  if (s->partbound != nullptr && s->n_inh_relations > 0 &&
      s->inh_relations[0]->node_case == PG_QUERY__NODE__NODE_RANGE_VAR) {
    // CREATE TABLE ... PARTITION OF: ACCESS EXCLUSIVE on the parent in PostgreSQL 15.
    const PgQuery__RangeVar* parent = s->inh_relations[0]->range_var;
    lock(rep, rv_display(parent), LockMode::access_exclusive, existing(parent));
  } else {
    for (std::size_t i = 0; i < s->n_inh_relations; ++i) {
      if (s->inh_relations[i]->node_case != PG_QUERY__NODE__NODE_RANGE_VAR) continue;
      const PgQuery__RangeVar* parent = s->inh_relations[i]->range_var;
      lock(rep, rv_display(parent), LockMode::share_update_exclusive, existing(parent));
    }
  }
  name_check(rep, "table", s->relation->relname != nullptr ? s->relation->relname : "");
  bool has_primary_key = false;
  for (std::size_t i = 0; i < s->n_table_elts; ++i) {
    const PgQuery__Node* e = s->table_elts[i];
    if (e->node_case == PG_QUERY__NODE__NODE_CONSTRAINT && e->constraint != nullptr) {
      has_primary_key |= e->constraint->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY;
      constraint_policy(rep, e->constraint, s->relation, nullptr);
    }
    if (e->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF && e->column_def != nullptr) {
      column_policy(rep, e->column_def, rv_display(s->relation));
      for (std::size_t k = 0; k < e->column_def->n_constraints; ++k) {
        const PgQuery__Node* c = e->column_def->constraints[k];
        if (c->node_case != PG_QUERY__NODE__NODE_CONSTRAINT || c->constraint == nullptr) continue;
        has_primary_key |= c->constraint->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY;
        constraint_policy(rep, c->constraint, s->relation, e->column_def->colname);
      }
    }
    if (e->node_case == PG_QUERY__NODE__NODE_CONSTRAINT) foreign_key_target(e->constraint, rep);
    if (e->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF && e->column_def != nullptr) {
      for (std::size_t k = 0; k < e->column_def->n_constraints; ++k) {
        const PgQuery__Node* c = e->column_def->constraints[k];
        if (c->node_case == PG_QUERY__NODE__NODE_CONSTRAINT) foreign_key_target(c->constraint, rep);
      }
    }
  }
  // A partition's key comes from its parent; a partition has none of its own to declare.
  if (options_.policy != nullptr && options_.policy->require_primary_key && !has_primary_key &&
      s->partbound == nullptr) {
    find(rep, "DG-P001", "table " + rv_display(s->relation) + " has no primary key");
  }
}

bool is_serial(std::string_view t) {
  return t == "serial" || t == "serial4" || t == "bigserial" || t == "serial8" || t == "smallserial" || t == "serial2";
}

LockMode Linter::add_column(const PgQuery__ColumnDef* col, const std::string& table, bool is_existing,
                            StatementReport& rep) {
  std::string name = table + "." + (col->colname != nullptr ? col->colname : "?");
  bool not_null = col->is_not_null;
  bool has_default = false;
  bool fills = false;  // identity or generated: PostgreSQL fills every row
  std::string rewrite;
  if (is_serial(type_last_name(col->type_name))) {
    rewrite = "a " + std::string(type_last_name(col->type_name)) + " column (nextval() default)";
    fills = true;
  }
  for (std::size_t k = 0; k < col->n_constraints; ++k) {
    const PgQuery__Node* n = col->constraints[k];
    if (n->node_case != PG_QUERY__NODE__NODE_CONSTRAINT || n->constraint == nullptr) continue;
    const PgQuery__Constraint* c = n->constraint;
    switch (c->contype) {
      case PG_QUERY__CONSTR_TYPE__CONSTR_NOTNULL:
      case PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY:
        not_null = true;
        break;
      case PG_QUERY__CONSTR_TYPE__CONSTR_DEFAULT: {
        has_default = true;
        std::string v = volatile_call(c->raw_expr);
        if (!v.empty()) rewrite = "a volatile default (" + v + ")";
        break;
      }
      case PG_QUERY__CONSTR_TYPE__CONSTR_IDENTITY:
        fills = true;
        rewrite = "an identity";
        break;
      case PG_QUERY__CONSTR_TYPE__CONSTR_GENERATED:
        fills = true;
        rewrite = "a stored generated expression";
        break;
      case PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN:
        foreign_key_target(c, rep);
        break;
      default:
        break;
    }
  }
  if (is_existing) {
    if (!rewrite.empty()) find(rep, "DG-L023", "ADD COLUMN " + name + " with " + rewrite + " rewrites the table");
    if (not_null && !has_default && !fills) {
      find(rep, "DG-L016", "ADD COLUMN " + name + " NOT NULL without a DEFAULT");
    }
  }
  return LockMode::access_exclusive;
}

bool narrowing_type(const PgQuery__TypeName* t) {
  std::string_view n = type_last_name(t);
  if (n == "int2" || n == "int4" || n == "float4" || n == "smallint" || n == "integer") return true;
  if (t != nullptr && t->n_typmods > 0) {
    return n == "varchar" || n == "bpchar" || n == "numeric" || n == "bit" || n == "varbit" || n == "char";
  }
  return false;
}

std::string type_display(const PgQuery__TypeName* t) {
  std::string s(type_last_name(t));
  if (t != nullptr && t->n_typmods > 0) {
    s += '(';
    for (std::size_t i = 0; i < t->n_typmods; ++i) {
      const PgQuery__Node* m = t->typmods[i];
      if (i > 0) s += ',';
      if (m->node_case == PG_QUERY__NODE__NODE_A_CONST && m->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
        s += std::to_string(m->a_const->ival != nullptr ? m->a_const->ival->ival : 0);
      } else {
        s += '?';
      }
    }
    s += ')';
  }
  return s;
}

// Lock level of reloptions (reloptions.c of PostgreSQL 15): user_catalog_table is
// ACCESS EXCLUSIVE, every table option else SHARE UPDATE EXCLUSIVE.
LockMode reloptions_lock(const PgQuery__Node* def) {
  if (def == nullptr || def->node_case != PG_QUERY__NODE__NODE_LIST || def->list == nullptr ||
      def->list->n_items == 0) {
    return LockMode::access_exclusive;
  }
  LockMode m = LockMode::share_update_exclusive;
  for (std::size_t i = 0; i < def->list->n_items; ++i) {
    const PgQuery__DefElem* d = as_defelem(def->list->items[i]);
    if (d != nullptr && d->defname != nullptr && std::strcmp(d->defname, "user_catalog_table") == 0) {
      m = LockMode::access_exclusive;
    }
  }
  return m;
}

void Linter::alter_table(const PgQuery__AlterTableStmt* s, StatementReport& rep) {
  if (s->relation == nullptr) return;
  bool is_table = s->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE ||
                  s->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE ||
                  s->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW;
  std::string table = rv_display(s->relation);
  bool ex = existing(s->relation) && is_table;
  // AlterTableGetLockLevel: the strongest of the subcommands', at least SHARE UPDATE EXCLUSIVE.
  LockMode mode = LockMode::share_update_exclusive;
  std::size_t lock_at = rep.locks.size();
  lock(rep, table, mode, existing(s->relation));
  for (std::size_t i = 0; i < s->n_cmds; ++i) {
    const PgQuery__Node* n = s->cmds[i];
    if (n->node_case != PG_QUERY__NODE__NODE_ALTER_TABLE_CMD || n->alter_table_cmd == nullptr) continue;
    const PgQuery__AlterTableCmd* cmd = n->alter_table_cmd;
    std::string column = table + "." + (cmd->name != nullptr ? cmd->name : "?");
    LockMode m = LockMode::access_exclusive;
    switch (cmd->subtype) {
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumn:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumnRecurse:
        if (cmd->def != nullptr && cmd->def->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF && is_table) {
          m = add_column(cmd->def->column_def, table, ex, rep);
          column_policy(rep, cmd->def->column_def, table);
          for (std::size_t k = 0; k < cmd->def->column_def->n_constraints; ++k) {
            const PgQuery__Node* cn = cmd->def->column_def->constraints[k];
            if (cn->node_case == PG_QUERY__NODE__NODE_CONSTRAINT) {
              constraint_policy(rep, cn->constraint, s->relation, cmd->def->column_def->colname);
            }
          }
        }
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_DropColumn:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_DropColumnRecurse:
        if (ex) find(rep, "DG-L002", "DROP COLUMN " + column);
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AlterColumnType: {
        const PgQuery__TypeName* t = cmd->def != nullptr && cmd->def->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF &&
                                             cmd->def->column_def != nullptr
                                         ? cmd->def->column_def->type_name
                                         : nullptr;
        type_policy(rep, t, "column " + column);
        if (ex) {
          find(rep, "DG-L012", "ALTER COLUMN " + column + " TYPE " + type_display(t));
          if (narrowing_type(t)) find(rep, "DG-L013", column + " becomes " + type_display(t) + ", which has a limit");
        }
        break;
      }
      case PG_QUERY__ALTER_TABLE_TYPE__AT_SetNotNull:
        // A valid CHECK (col IS NOT NULL) makes PostgreSQL 12+ skip the scan, and no row can be NULL.
        if (ex && proven_not_null_.count(rv_key(s->relation) + "." + (cmd->name != nullptr ? cmd->name : "")) == 0) {
          find(rep, "DG-L014", "ALTER COLUMN " + column + " SET NOT NULL");
        }
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_ColumnDefault:
        if (ex && cmd->def == nullptr) find(rep, "DG-L015", "ALTER COLUMN " + column + " DROP DEFAULT");
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraint:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraintRecurse:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_ReAddConstraint:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_ReAddDomainConstraint:
        if (cmd->def != nullptr && cmd->def->node_case == PG_QUERY__NODE__NODE_CONSTRAINT && cmd->def->constraint) {
          const PgQuery__Constraint* c = cmd->def->constraint;
          constraint_policy(rep, c, s->relation, nullptr);
          std::string cname = c->conname != nullptr ? std::string(" ") + c->conname : std::string();
          switch (c->contype) {
            case PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN:
              m = LockMode::share_row_exclusive;
              foreign_key_target(c, rep);
              if (ex && !c->skip_validation) {
                find(rep, "DG-L021", "ADD FOREIGN KEY" + cname + " on " + table + " without NOT VALID");
              }
              break;
            case PG_QUERY__CONSTR_TYPE__CONSTR_CHECK:
              if (std::string col = not_null_column(c->raw_expr); !col.empty()) {
                std::string covered = rv_key(s->relation) + "." + col;
                if (!c->skip_validation) proven_not_null_.insert(covered);
                if (c->conname != nullptr) not_null_checks_[rv_key(s->relation) + "/" + c->conname] = covered;
              }
              if (ex && !c->skip_validation) {
                find(rep, "DG-L022", "ADD CHECK" + cname + " on " + table + " without NOT VALID");
              }
              break;
            case PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY:
            case PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE:
            case PG_QUERY__CONSTR_TYPE__CONSTR_EXCLUSION: {
              const char* kind = c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY  ? "PRIMARY KEY"
                                 : c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE ? "UNIQUE"
                                                                                      : "EXCLUDE";
              bool using_index = c->indexname != nullptr && *c->indexname != '\0';
              if (ex && !using_index) {
                find(rep, "DG-L029", std::string("ADD ") + kind + cname + " on " + table + " builds an index");
                find(rep, "DG-L030", std::string(kind) + cname + " on existing rows of " + table);
              }
              break;
            }
            default:
              break;
          }
        }
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_ValidateConstraint:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_ValidateConstraintRecurse:
        m = LockMode::share_update_exclusive;
        if (auto it = not_null_checks_.find(rv_key(s->relation) + "/" + (cmd->name != nullptr ? cmd->name : ""));
            it != not_null_checks_.end()) {
          proven_not_null_.insert(it->second);
        }
        if (ex)
          find(rep, "DG-L031",
               "VALIDATE CONSTRAINT " + std::string(cmd->name != nullptr ? cmd->name : "?") + " on " + table);
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_SetTableSpace:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_SetAccessMethod:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_SetLogged:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_SetUnLogged:
        if (ex) find(rep, "DG-L024", "ALTER TABLE " + table + " rewrites the table");
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableTrig:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableAlwaysTrig:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableReplicaTrig:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableTrigAll:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableTrigUser:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_DisableTrig:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_DisableTrigAll:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_DisableTrigUser:
        m = LockMode::share_row_exclusive;
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_AttachPartition:
        // The partition being attached: ACCESS EXCLUSIVE (ATExecAttachPartition).
        if (cmd->def != nullptr && cmd->def->node_case == PG_QUERY__NODE__NODE_PARTITION_CMD &&
            cmd->def->partition_cmd != nullptr && cmd->def->partition_cmd->name != nullptr) {
          const PgQuery__RangeVar* part = cmd->def->partition_cmd->name;
          lock(rep, rv_display(part), LockMode::access_exclusive, existing(part));
        }
        m = LockMode::share_update_exclusive;
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_SetStatistics:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_ClusterOn:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_DropCluster:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_SetOptions:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_ResetOptions:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_DetachPartitionFinalize:
        m = LockMode::share_update_exclusive;
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_DetachPartition: {
        bool concurrent = cmd->def != nullptr && cmd->def->node_case == PG_QUERY__NODE__NODE_PARTITION_CMD &&
                          cmd->def->partition_cmd != nullptr && cmd->def->partition_cmd->concurrent;
        m = concurrent ? LockMode::share_update_exclusive : LockMode::access_exclusive;
        if (concurrent && state_.in_transaction) {
          find(rep, "DG-L040", "DETACH PARTITION CONCURRENTLY on " + table + " inside a transaction block");
        }
        break;
      }
      case PG_QUERY__ALTER_TABLE_TYPE__AT_SetRelOptions:
      case PG_QUERY__ALTER_TABLE_TYPE__AT_ResetRelOptions:
        m = reloptions_lock(cmd->def);
        break;
      case PG_QUERY__ALTER_TABLE_TYPE__AT_CheckNotNull:
        m = LockMode::access_share;
        break;
      default:
        m = LockMode::access_exclusive;  // AlterTableGetLockLevel's default and every other subcommand
        break;
    }
    if (m > mode) mode = m;
  }
  rep.locks[lock_at].mode = mode;
}

void Linter::drop_stmt(const PgQuery__DropStmt* s, StatementReport& rep) {
  bool cascade = s->behavior == PG_QUERY__DROP_BEHAVIOR__DROP_CASCADE;
  for (std::size_t i = 0; i < s->n_objects; ++i) {
    std::vector<std::string_view> parts = name_list(s->objects[i]);
    if (parts.empty()) continue;
    std::string display = join(parts);
    bool routine = s->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_FUNCTION ||
                   s->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_PROCEDURE ||
                   s->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_ROUTINE ||
                   s->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_AGGREGATE;
    std::string key = (routine ? "function:" : "") + list_key(parts);
    bool ex = existing(key);
    switch (s->remove_type) {
      case PG_QUERY__OBJECT_TYPE__OBJECT_TABLE:
      case PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE:
        lock(rep, display, LockMode::access_exclusive, ex);
        if (ex) find(rep, "DG-L001", "DROP TABLE " + display + (cascade ? " CASCADE" : ""));
        break;
      case PG_QUERY__OBJECT_TYPE__OBJECT_INDEX:
        // The index and its table: ACCESS EXCLUSIVE, or SHARE UPDATE EXCLUSIVE when concurrent.
        lock(rep, display, s->concurrent ? LockMode::share_update_exclusive : LockMode::access_exclusive, ex);
        if (ex && !s->concurrent) find(rep, "DG-L025", "DROP INDEX " + display + " without CONCURRENTLY");
        if (s->concurrent && state_.in_transaction) {
          find(rep, "DG-L040", "DROP INDEX CONCURRENTLY " + display + " inside a transaction block");
        }
        break;
      case PG_QUERY__OBJECT_TYPE__OBJECT_SCHEMA:
        if (cascade && ex) {
          find(rep, "DG-L003", "DROP SCHEMA " + display + " CASCADE");
        } else if (ex) {
          find(rep, "DG-L004", "DROP SCHEMA " + display);
        }
        break;
      case PG_QUERY__OBJECT_TYPE__OBJECT_VIEW:
      case PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW:
      case PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE:
        lock(rep, display, LockMode::access_exclusive, ex);
        [[fallthrough]];
      case PG_QUERY__OBJECT_TYPE__OBJECT_FUNCTION:
      case PG_QUERY__OBJECT_TYPE__OBJECT_PROCEDURE:
      case PG_QUERY__OBJECT_TYPE__OBJECT_ROUTINE:
      case PG_QUERY__OBJECT_TYPE__OBJECT_AGGREGATE:
      case PG_QUERY__OBJECT_TYPE__OBJECT_TYPE:
      case PG_QUERY__OBJECT_TYPE__OBJECT_DOMAIN:
        if (ex) find(rep, "DG-L004", "DROP of " + display + (cascade ? " CASCADE" : ""));
        break;
      case PG_QUERY__OBJECT_TYPE__OBJECT_TRIGGER:
      case PG_QUERY__OBJECT_TYPE__OBJECT_POLICY:
      case PG_QUERY__OBJECT_TYPE__OBJECT_RULE:
        // [schema.]table.name: ACCESS EXCLUSIVE on the table.
        if (parts.size() >= 2) {
          std::vector<std::string_view> table(parts.begin(), parts.end() - 1);
          lock(rep, join(table), LockMode::access_exclusive, existing(list_key(table)));
        }
        break;
      default:
        break;
    }
    created_.erase(key);
  }
}

void Linter::rename_stmt(const PgQuery__RenameStmt* s, StatementReport& rep) {
  std::string newname = s->newname != nullptr ? s->newname : "?";
  switch (s->rename_type) {
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABLE:
      name_check(rep, "table", newname);
      break;
    case PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN:
      name_check(rep, "column", newname);
      break;
    case PG_QUERY__OBJECT_TYPE__OBJECT_INDEX:
      name_check(rep, "index", newname);
      break;
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABCONSTRAINT:
      name_check(rep, "constraint", newname);
      break;
    case PG_QUERY__OBJECT_TYPE__OBJECT_VIEW:
    case PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW:
      name_check(rep, "view", newname);
      break;
    case PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE:
      name_check(rep, "sequence", newname);
      break;
    default:
      break;
  }
  switch (s->rename_type) {
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABLE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_VIEW:
    case PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW:
    case PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE:
    case PG_QUERY__OBJECT_TYPE__OBJECT_INDEX: {
      bool ex = existing(s->relation);
      bool index = s->rename_type == PG_QUERY__OBJECT_TYPE__OBJECT_INDEX;
      lock(rep, rv_display(s->relation), index ? LockMode::share_update_exclusive : LockMode::access_exclusive, ex);
      if (ex && !index) find(rep, "DG-L010", "RENAME " + rv_display(s->relation) + " TO " + newname);
      if (!ex) {
        created_.erase(rv_key(s->relation));
        created_.insert(
            key_of(s->relation != nullptr && s->relation->schemaname ? s->relation->schemaname : "", newname));
      }
      break;
    }
    case PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN: {
      bool ex = existing(s->relation);
      lock(rep, rv_display(s->relation), LockMode::access_exclusive, ex);
      bool table = s->relation_type == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE ||
                   s->relation_type == PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE ||
                   s->relation_type == PG_QUERY__OBJECT_TYPE__OBJECT_VIEW ||
                   s->relation_type == PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW;
      if (ex && table) {
        find(rep, "DG-L011",
             "RENAME COLUMN " + rv_display(s->relation) + "." + (s->subname != nullptr ? s->subname : "?") + " TO " +
                 newname);
      }
      break;
    }
    case PG_QUERY__OBJECT_TYPE__OBJECT_TABCONSTRAINT:
    case PG_QUERY__OBJECT_TYPE__OBJECT_TRIGGER:
    case PG_QUERY__OBJECT_TYPE__OBJECT_POLICY:
      if (s->relation != nullptr) lock(rep, rv_display(s->relation), LockMode::access_exclusive, existing(s->relation));
      break;
    default:
      break;
  }
}

void Linter::function_stmt(const PgQuery__CreateFunctionStmt* s, StatementReport& rep, const std::string& text) {
  bool definer = false, search_path = false;
  std::string language;
  for (std::size_t i = 0; i < s->n_options; ++i) {
    const PgQuery__DefElem* d = as_defelem(s->options[i]);
    if (d == nullptr || d->defname == nullptr) continue;
    if (std::strcmp(d->defname, "security") == 0) definer = defelem_true(d);
    if (std::strcmp(d->defname, "language") == 0) language = std::string(str(d->arg));
    if (std::strcmp(d->defname, "set") == 0 && d->arg != nullptr &&
        d->arg->node_case == PG_QUERY__NODE__NODE_VARIABLE_SET_STMT && d->arg->variable_set_stmt != nullptr &&
        d->arg->variable_set_stmt->name != nullptr &&
        std::strcmp(d->arg->variable_set_stmt->name, "search_path") == 0 &&
        (d->arg->variable_set_stmt->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_VALUE ||
         d->arg->variable_set_stmt->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_CURRENT)) {
      search_path = true;
    }
  }
  std::vector<std::string_view> name;
  for (std::size_t i = 0; i < s->n_funcname; ++i) name.push_back(str(s->funcname[i]));
  std::string display = join(name);
  if (!s->replace) created_.insert("function:" + list_key(name));
  if (!name.empty()) name_check(rep, "function", name.back());
  if (definer && !search_path) {
    find(rep, "DG-L052",
         std::string(s->is_procedure ? "procedure " : "function ") + display +
             " is SECURITY DEFINER without SET search_path");
  }
  std::transform(language.begin(), language.end(), language.begin(), [](unsigned char c) { return std::tolower(c); });
  if (language == "plpgsql") {
    for (const std::string& hit : detail::unsafe_dynamic_sql(text)) {
      find(rep, "DG-L053", display + ": " + hit);
    }
  }
}

void Linter::do_stmt(const PgQuery__DoStmt* s, StatementReport& rep) {
  std::string body, language = "plpgsql";
  for (std::size_t i = 0; i < s->n_args; ++i) {
    const PgQuery__DefElem* d = as_defelem(s->args[i]);
    if (d == nullptr || d->defname == nullptr) continue;
    if (std::strcmp(d->defname, "as") == 0) body = std::string(str(d->arg));
    if (std::strcmp(d->defname, "language") == 0) language = std::string(str(d->arg));
  }
  std::transform(language.begin(), language.end(), language.begin(), [](unsigned char c) { return std::tolower(c); });
  if (language != "plpgsql" || body.empty()) return;
  // pg_query_parse_plpgsql reads a CREATE FUNCTION: wrap the body in one, with a
  // dollar-quote tag that does not occur in it.
  std::string tag = "$ddlgate_do$";
  for (int n = 0; body.find(tag) != std::string::npos; ++n) tag = "$ddlgate_do" + std::to_string(n) + "$";
  std::string wrapped = "CREATE FUNCTION ddlgate_do() RETURNS void LANGUAGE plpgsql AS " + tag + body + tag;
  for (const std::string& hit : detail::unsafe_dynamic_sql(wrapped)) find(rep, "DG-L053", "DO block: " + hit);
}

bool role_option_privileged(const PgQuery__Node* const* options, std::size_t n, std::string* which) {
  bool any = false;
  for (std::size_t i = 0; i < n; ++i) {
    const PgQuery__DefElem* d = as_defelem(options[i]);
    if (d == nullptr || d->defname == nullptr) continue;
    if ((std::strcmp(d->defname, "superuser") == 0 || std::strcmp(d->defname, "bypassrls") == 0) && defelem_true(d)) {
      if (!which->empty()) *which += " and ";
      *which += std::strcmp(d->defname, "superuser") == 0 ? "SUPERUSER" : "BYPASSRLS";
      any = true;
    }
  }
  return any;
}

bool grants_to_public(const PgQuery__GrantStmt* g) {
  if (g == nullptr || !g->is_grant) return false;
  for (std::size_t i = 0; i < g->n_grantees; ++i) {
    const PgQuery__Node* n = g->grantees[i];
    if (n->node_case == PG_QUERY__NODE__NODE_ROLE_SPEC && n->role_spec != nullptr &&
        n->role_spec->roletype == PG_QUERY__ROLE_SPEC_TYPE__ROLESPEC_PUBLIC) {
      return true;
    }
  }
  return false;
}

bool is_ddl(PgQuery__Node__NodeCase c) {
  switch (c) {
    case PG_QUERY__NODE__NODE_SELECT_STMT:
    case PG_QUERY__NODE__NODE_INSERT_STMT:
    case PG_QUERY__NODE__NODE_UPDATE_STMT:
    case PG_QUERY__NODE__NODE_DELETE_STMT:
    case PG_QUERY__NODE__NODE_MERGE_STMT:
    case PG_QUERY__NODE__NODE_TRANSACTION_STMT:
    case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT:
    case PG_QUERY__NODE__NODE_VARIABLE_SHOW_STMT:
    case PG_QUERY__NODE__NODE_COPY_STMT:
    case PG_QUERY__NODE__NODE_EXPLAIN_STMT:
    case PG_QUERY__NODE__NODE_CALL_STMT:
    case PG_QUERY__NODE__NODE_DO_STMT:
    case PG_QUERY__NODE__NODE_LOCK_STMT:
    case PG_QUERY__NODE__NODE_VACUUM_STMT:
      return false;
    default:
      return true;
  }
}

void Linter::statement(PgQuery__Node* node, StatementReport& rep, const std::string& text) {
  if (is_ddl(node->node_case)) state_.has_ddl = true;
  switch (node->node_case) {
    case PG_QUERY__NODE__NODE_CREATE_STMT:
      if (node->create_stmt) create_stmt(node->create_stmt, rep);
      break;
    case PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT:
      if (node->create_table_as_stmt && node->create_table_as_stmt->into) {
        created_.insert(rv_key(node->create_table_as_stmt->into->rel));
      }
      break;
    case PG_QUERY__NODE__NODE_VIEW_STMT:
      if (node->view_stmt && !node->view_stmt->replace) created_.insert(rv_key(node->view_stmt->view));
      if (node->view_stmt && node->view_stmt->view && node->view_stmt->view->relname) {
        name_check(rep, "view", node->view_stmt->view->relname);
      }
      break;
    case PG_QUERY__NODE__NODE_CREATE_SEQ_STMT:
      if (node->create_seq_stmt) created_.insert(rv_key(node->create_seq_stmt->sequence));
      if (node->create_seq_stmt && node->create_seq_stmt->sequence && node->create_seq_stmt->sequence->relname) {
        name_check(rep, "sequence", node->create_seq_stmt->sequence->relname);
      }
      break;
    case PG_QUERY__NODE__NODE_COMPOSITE_TYPE_STMT:
      if (node->composite_type_stmt) created_.insert(rv_key(node->composite_type_stmt->typevar));
      break;
    case PG_QUERY__NODE__NODE_CREATE_ENUM_STMT:
      if (node->create_enum_stmt) {
        std::vector<std::string_view> n;
        for (std::size_t i = 0; i < node->create_enum_stmt->n_type_name; ++i)
          n.push_back(str(node->create_enum_stmt->type_name[i]));
        created_.insert(list_key(n));
        if (!n.empty()) name_check(rep, "type", n.back());
      }
      break;
    case PG_QUERY__NODE__NODE_CREATE_DOMAIN_STMT:
      if (node->create_domain_stmt) {
        std::vector<std::string_view> n;
        for (std::size_t i = 0; i < node->create_domain_stmt->n_domainname; ++i)
          n.push_back(str(node->create_domain_stmt->domainname[i]));
        created_.insert(list_key(n));
      }
      break;
    case PG_QUERY__NODE__NODE_CREATE_SCHEMA_STMT:
      if (node->create_schema_stmt && node->create_schema_stmt->schemaname) {
        created_.insert(key_of("", node->create_schema_stmt->schemaname));
        name_check(rep, "schema", node->create_schema_stmt->schemaname);
      }
      break;
    case PG_QUERY__NODE__NODE_INDEX_STMT: {
      const PgQuery__IndexStmt* s = node->index_stmt;
      if (s == nullptr || s->relation == nullptr) break;
      bool ex = existing(s->relation);
      std::string table = rv_display(s->relation);
      if (s->idxname != nullptr)
        created_.insert(key_of(s->relation->schemaname ? s->relation->schemaname : "", s->idxname));
      lock(rep, table, s->concurrent ? LockMode::share_update_exclusive : LockMode::share, ex);
      if (s->idxname != nullptr) name_check(rep, "index", s->idxname);
      {
        std::vector<std::string> cols;
        for (std::size_t i = 0; i < s->n_index_params; ++i) {
          const PgQuery__Node* e = s->index_params[i];
          bool named = e->node_case == PG_QUERY__NODE__NODE_INDEX_ELEM && e->index_elem != nullptr &&
                       e->index_elem->name != nullptr;
          cols.emplace_back(named ? e->index_elem->name : "(expression)");
        }
        indexes_.push_back({rv_key(s->relation), cols});
      }
      std::string what = std::string(s->unique ? "CREATE UNIQUE INDEX " : "CREATE INDEX ") +
                         (s->idxname ? s->idxname : "") + " ON " + table;
      if (ex && !s->concurrent) find(rep, "DG-L020", what + " without CONCURRENTLY");
      if (ex && s->unique) find(rep, "DG-L030", what);
      if (s->concurrent && state_.in_transaction)
        find(rep, "DG-L040", what + " CONCURRENTLY inside a transaction block");
      break;
    }
    case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT:
      if (node->alter_table_stmt) alter_table(node->alter_table_stmt, rep);
      break;
    case PG_QUERY__NODE__NODE_RENAME_STMT:
      if (node->rename_stmt) rename_stmt(node->rename_stmt, rep);
      break;
    case PG_QUERY__NODE__NODE_ALTER_OBJECT_SCHEMA_STMT: {
      const PgQuery__AlterObjectSchemaStmt* s = node->alter_object_schema_stmt;
      if (s == nullptr || s->relation == nullptr) break;
      bool ex = existing(s->relation);
      lock(rep, rv_display(s->relation), LockMode::access_exclusive, ex);
      if (ex && (s->object_type == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE ||
                 s->object_type == PG_QUERY__OBJECT_TYPE__OBJECT_VIEW ||
                 s->object_type == PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW ||
                 s->object_type == PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE)) {
        find(rep, "DG-L010",
             "SET SCHEMA moves " + rv_display(s->relation) + " to " + (s->newschema ? s->newschema : "?"));
      }
      break;
    }
    case PG_QUERY__NODE__NODE_DROP_STMT:
      if (node->drop_stmt) drop_stmt(node->drop_stmt, rep);
      break;
    case PG_QUERY__NODE__NODE_DROPDB_STMT:
      if (node->dropdb_stmt) {
        find(rep, "DG-L006",
             std::string("DROP DATABASE ") + (node->dropdb_stmt->dbname ? node->dropdb_stmt->dbname : "?"));
      }
      break;
    case PG_QUERY__NODE__NODE_TRUNCATE_STMT:
      if (node->truncate_stmt) {
        for (std::size_t i = 0; i < node->truncate_stmt->n_relations; ++i) {
          const PgQuery__Node* r = node->truncate_stmt->relations[i];
          if (r->node_case != PG_QUERY__NODE__NODE_RANGE_VAR) continue;
          bool ex = existing(r->range_var);
          lock(rep, rv_display(r->range_var), LockMode::access_exclusive, ex);
          if (ex) find(rep, "DG-L005", "TRUNCATE " + rv_display(r->range_var));
        }
      }
      break;
    case PG_QUERY__NODE__NODE_CREATE_TRIG_STMT:
      if (node->create_trig_stmt && node->create_trig_stmt->relation) {
        lock(rep, rv_display(node->create_trig_stmt->relation), LockMode::share_row_exclusive,
             existing(node->create_trig_stmt->relation));
      }
      break;
    case PG_QUERY__NODE__NODE_CREATE_POLICY_STMT:
      if (node->create_policy_stmt && node->create_policy_stmt->table) {
        lock(rep, rv_display(node->create_policy_stmt->table), LockMode::access_exclusive,
             existing(node->create_policy_stmt->table));
      }
      break;
    case PG_QUERY__NODE__NODE_ALTER_POLICY_STMT:
      if (node->alter_policy_stmt && node->alter_policy_stmt->table) {
        lock(rep, rv_display(node->alter_policy_stmt->table), LockMode::access_exclusive,
             existing(node->alter_policy_stmt->table));
      }
      break;
    case PG_QUERY__NODE__NODE_RULE_STMT:
      if (node->rule_stmt && node->rule_stmt->relation) {
        lock(rep, rv_display(node->rule_stmt->relation), LockMode::access_exclusive,
             existing(node->rule_stmt->relation));
      }
      break;
    case PG_QUERY__NODE__NODE_VACUUM_STMT: {
      const PgQuery__VacuumStmt* s = node->vacuum_stmt;
      if (s == nullptr) break;
      bool full = false;
      for (std::size_t i = 0; i < s->n_options; ++i) {
        const PgQuery__DefElem* d = as_defelem(s->options[i]);
        if (d != nullptr && d->defname != nullptr && std::strcmp(d->defname, "full") == 0 && defelem_true(d))
          full = true;
      }
      full = full && s->is_vacuumcmd;
      if (s->is_vacuumcmd && state_.in_transaction) find(rep, "DG-L040", "VACUUM inside a transaction block");
      for (std::size_t i = 0; i < s->n_rels; ++i) {
        const PgQuery__Node* r = s->rels[i];
        if (r->node_case != PG_QUERY__NODE__NODE_VACUUM_RELATION || r->vacuum_relation == nullptr) continue;
        const PgQuery__RangeVar* rv = r->vacuum_relation->relation;
        bool ex = existing(rv);
        lock(rep, rv_display(rv), full ? LockMode::access_exclusive : LockMode::share_update_exclusive, ex);
        if (full && ex) find(rep, "DG-L024", "VACUUM FULL " + rv_display(rv) + " rewrites the table");
      }
      if (full && s->n_rels == 0) find(rep, "DG-L024", "VACUUM FULL rewrites every table of the database");
      break;
    }
    case PG_QUERY__NODE__NODE_CLUSTER_STMT: {
      const PgQuery__ClusterStmt* s = node->cluster_stmt;
      if (s == nullptr) break;
      if (s->relation == nullptr) {
        find(rep, "DG-L024", "CLUSTER rewrites every clustered table of the database");
        break;
      }
      bool ex = existing(s->relation);
      lock(rep, rv_display(s->relation), LockMode::access_exclusive, ex);
      if (ex) find(rep, "DG-L024", "CLUSTER " + rv_display(s->relation) + " rewrites the table");
      break;
    }
    case PG_QUERY__NODE__NODE_REINDEX_STMT: {
      const PgQuery__ReindexStmt* s = node->reindex_stmt;
      if (s == nullptr) break;
      bool concurrent = false;
      for (std::size_t i = 0; i < s->n_params; ++i) {
        const PgQuery__DefElem* d = as_defelem(s->params[i]);
        if (d != nullptr && d->defname != nullptr && std::strcmp(d->defname, "concurrently") == 0 && defelem_true(d)) {
          concurrent = true;
        }
      }
      std::string what = s->relation != nullptr ? rv_display(s->relation) : (s->name != nullptr ? s->name : "?");
      bool ex = s->relation != nullptr ? existing(s->relation) : true;
      if (s->relation != nullptr) {
        lock(rep, what,
             concurrent ? LockMode::share_update_exclusive
                        : (s->kind == PG_QUERY__REINDEX_OBJECT_TYPE__REINDEX_OBJECT_INDEX ? LockMode::access_exclusive
                                                                                          : LockMode::share),
             ex);
      }
      if (!concurrent && ex) find(rep, "DG-L026", "REINDEX " + what + " without CONCURRENTLY");
      if (concurrent && state_.in_transaction)
        find(rep, "DG-L040", "REINDEX CONCURRENTLY " + what + " inside a transaction block");
      break;
    }
    case PG_QUERY__NODE__NODE_REFRESH_MAT_VIEW_STMT: {
      const PgQuery__RefreshMatViewStmt* s = node->refresh_mat_view_stmt;
      if (s == nullptr || s->relation == nullptr) break;
      bool ex = existing(s->relation);
      lock(rep, rv_display(s->relation), s->concurrent ? LockMode::exclusive : LockMode::access_exclusive, ex);
      if (ex && !s->concurrent) find(rep, "DG-L028", "REFRESH MATERIALIZED VIEW " + rv_display(s->relation));
      break;
    }
    case PG_QUERY__NODE__NODE_LOCK_STMT: {
      const PgQuery__LockStmt* s = node->lock_stmt;
      if (s == nullptr) break;
      LockMode m = s->mode >= 1 && s->mode <= 8 ? static_cast<LockMode>(s->mode) : LockMode::access_exclusive;
      for (std::size_t i = 0; i < s->n_relations; ++i) {
        const PgQuery__Node* r = s->relations[i];
        if (r->node_case == PG_QUERY__NODE__NODE_RANGE_VAR)
          lock(rep, rv_display(r->range_var), m, existing(r->range_var));
      }
      break;
    }
    case PG_QUERY__NODE__NODE_COMMENT_STMT: {
      // COMMENT ON a table or column: SHARE UPDATE EXCLUSIVE (comment.c), blocks neither reads nor writes.
      const PgQuery__CommentStmt* s = node->comment_stmt;
      if (s == nullptr) break;
      std::vector<std::string_view> parts = name_list(s->object);
      if (s->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN && parts.size() >= 2) parts.pop_back();
      if ((s->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE || s->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN) &&
          !parts.empty()) {
        lock(rep, join(parts), LockMode::share_update_exclusive, existing(list_key(parts)));
      }
      break;
    }
    case PG_QUERY__NODE__NODE_GRANT_STMT:
      if (grants_to_public(node->grant_stmt)) find(rep, "DG-L050", "GRANT ... TO PUBLIC");
      break;
    case PG_QUERY__NODE__NODE_ALTER_DEFAULT_PRIVILEGES_STMT:
      if (node->alter_default_privileges_stmt && grants_to_public(node->alter_default_privileges_stmt->action)) {
        find(rep, "DG-L050", "ALTER DEFAULT PRIVILEGES ... GRANT ... TO PUBLIC (every future object)");
      }
      break;
    case PG_QUERY__NODE__NODE_CREATE_ROLE_STMT: {
      const PgQuery__CreateRoleStmt* s = node->create_role_stmt;
      std::string which;
      if (s != nullptr && role_option_privileged(s->options, s->n_options, &which)) {
        find(rep, "DG-L051", "role " + std::string(s->role != nullptr ? s->role : "?") + " gets " + which);
      }
      break;
    }
    case PG_QUERY__NODE__NODE_ALTER_ROLE_STMT: {
      const PgQuery__AlterRoleStmt* s = node->alter_role_stmt;
      std::string which;
      if (s != nullptr && role_option_privileged(s->options, s->n_options, &which)) {
        std::string role = s->role != nullptr && s->role->rolename != nullptr ? s->role->rolename : "?";
        find(rep, "DG-L051", "role " + role + " gets " + which);
      }
      break;
    }
    case PG_QUERY__NODE__NODE_CREATE_FUNCTION_STMT:
      if (node->create_function_stmt) function_stmt(node->create_function_stmt, rep, text);
      break;
    case PG_QUERY__NODE__NODE_DO_STMT:
      if (node->do_stmt) do_stmt(node->do_stmt, rep);
      break;
    case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT: {
      const PgQuery__VariableSetStmt* s = node->variable_set_stmt;
      if (s == nullptr) break;
      bool all = s->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL;
      if (!all && (s->name == nullptr || std::strcmp(s->name, "lock_timeout") != 0)) break;
      bool on = s->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_VALUE && s->n_args > 0 &&
                !lock_timeout_value_is_zero(s->args[0]);
      if (s->is_local) {
        state_.lock_timeout_local = on;
      } else {
        state_.lock_timeout = on;
        if (!on) state_.lock_timeout_local = false;
      }
      break;
    }
    case PG_QUERY__NODE__NODE_SELECT_STMT: {
      // SELECT set_config('lock_timeout', '5s', is_local)
      auto visit = [this](ProtobufCMessage* m) {
        if (m->descriptor != &pg_query__func_call__descriptor) return true;
        auto* f = reinterpret_cast<PgQuery__FuncCall*>(m);
        if (func_last_name(f) != "set_config" || f->n_args < 2) return true;
        const PgQuery__Node* a = f->args[0];
        if (a->node_case == PG_QUERY__NODE__NODE_A_CONST && a->a_const->val_case == PG_QUERY__A__CONST__VAL_SVAL &&
            a->a_const->sval != nullptr && a->a_const->sval->sval != nullptr &&
            std::strcmp(a->a_const->sval->sval, "lock_timeout") == 0) {
          bool on = !lock_timeout_value_is_zero(f->args[1]);
          bool local = f->n_args >= 3 && f->args[2]->node_case == PG_QUERY__NODE__NODE_A_CONST &&
                       f->args[2]->a_const->val_case == PG_QUERY__A__CONST__VAL_BOOLVAL &&
                       f->args[2]->a_const->boolval != nullptr && f->args[2]->a_const->boolval->boolval;
          (local ? state_.lock_timeout_local : state_.lock_timeout) = on;
        }
        return true;
      };
      sql::tree::walk(&node->base, visit);
      break;
    }
    case PG_QUERY__NODE__NODE_TRANSACTION_STMT: {
      const PgQuery__TransactionStmt* s = node->transaction_stmt;
      if (s == nullptr) break;
      switch (s->kind) {
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_BEGIN:
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_START:
          state_.in_transaction = true;
          break;
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT:
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK:
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_PREPARE:
          state_.in_transaction = s->chain;
          state_.lock_timeout_local = false;
          break;
        default:
          break;
      }
      break;
    }
    case PG_QUERY__NODE__NODE_INSERT_STMT:
      if (node->insert_stmt && node->insert_stmt->relation) {
        lock(rep, rv_display(node->insert_stmt->relation), LockMode::row_exclusive,
             existing(node->insert_stmt->relation));
      }
      break;
    case PG_QUERY__NODE__NODE_UPDATE_STMT:
      if (node->update_stmt && node->update_stmt->relation) {
        lock(rep, rv_display(node->update_stmt->relation), LockMode::row_exclusive,
             existing(node->update_stmt->relation));
        if (node->update_stmt->where_clause == nullptr) state_.unbounded_dml.push_back(current_index_);
      }
      break;
    case PG_QUERY__NODE__NODE_DELETE_STMT:
      if (node->delete_stmt && node->delete_stmt->relation) {
        lock(rep, rv_display(node->delete_stmt->relation), LockMode::row_exclusive,
             existing(node->delete_stmt->relation));
        if (node->delete_stmt->where_clause == nullptr) state_.unbounded_dml.push_back(current_index_);
      }
      break;
    default:
      break;
  }
}

bool is_category(const Finding& f, std::string_view category) {
  const Rule* r = find_rule(f.rule_id);
  return r != nullptr && r->category == category;
}

void Linter::finish(PgQuery__Node* node, StatementReport& rep) {
  for (const RelationLock& l : rep.locks) {
    if (l.existing && l.mode > rep.strongest) rep.strongest = l.mode;
  }
  if (blocks_writes(rep.strongest) && !state_.lock_timeout && !state_.lock_timeout_local) {
    std::string rel;
    for (const RelationLock& l : rep.locks) {
      if (l.existing && l.mode == rep.strongest) {
        rel = l.relation;
        break;
      }
    }
    find(rep, "DG-L027",
         std::string(lock_mode_name(rep.strongest)) + " on " + rel + " (blocks " +
             (blocks_reads(rep.strongest) ? "reads and writes" : "writes") +
             ") with no lock_timeout set earlier in the file");
  }
  auto any = [&rep](std::string_view category) {
    return std::any_of(rep.findings.begin(), rep.findings.end(),
                       [category](const Finding& f) { return is_category(f, category); });
  };
  bool privilege = any("security");
  switch (node->node_case) {
    case PG_QUERY__NODE__NODE_GRANT_STMT:
    case PG_QUERY__NODE__NODE_GRANT_ROLE_STMT:
    case PG_QUERY__NODE__NODE_CREATE_ROLE_STMT:
    case PG_QUERY__NODE__NODE_ALTER_ROLE_STMT:
    case PG_QUERY__NODE__NODE_DROP_ROLE_STMT:
    case PG_QUERY__NODE__NODE_ALTER_DEFAULT_PRIVILEGES_STMT:
    case PG_QUERY__NODE__NODE_ALTER_OWNER_STMT:
      privilege = true;
      break;
    default:
      break;
  }
  bool dml = node->node_case == PG_QUERY__NODE__NODE_INSERT_STMT ||
             node->node_case == PG_QUERY__NODE__NODE_UPDATE_STMT ||
             node->node_case == PG_QUERY__NODE__NODE_DELETE_STMT ||
             node->node_case == PG_QUERY__NODE__NODE_MERGE_STMT || node->node_case == PG_QUERY__NODE__NODE_COPY_STMT;
  if (any("destructive") || any("syntax")) {
    rep.tier = "destructive";
  } else if (privilege) {
    rep.tier = "privilege";
  } else if (blocks_writes(rep.strongest) || any("locking") || any("compatibility")) {
    rep.tier = "blocking";
  } else if (dml || any("data")) {
    rep.tier = "data";
  } else {
    rep.tier = "additive";
  }
}

// Severity overrides ("off" drops the finding) and exemptions, after every rule ran.
// Tiers stay as the built-in rules made them: a policy never lowers one.
void apply_policy(const Policy& policy, const std::vector<SourceFile>& files, Report& report) {
  bool by_hash = std::any_of(policy.exemptions.begin(), policy.exemptions.end(),
                             [](const Exemption& e) { return !e.statement_hash.empty(); });
  for (StatementReport& s : report.statements) {
    std::string hash;
    if (by_hash && !s.text.empty()) {
      sql::Analysis a = sql::analyze(s.text, sql::Policy{}, sql::Detail::hashes);
      if (a.ok() && a.statements.size() == 1) hash = a.statements[0].hash;
    }
    const std::string& file = files[s.file_index].name;
    std::vector<Finding> kept;
    for (Finding& f : s.findings) {
      bool drop = false;
      if (auto it = policy.severity.find(f.rule_id); it != policy.severity.end()) {
        if (it->second) {
          f.severity = *it->second;
        } else {
          drop = true;
        }
      }
      for (const Exemption& e : policy.exemptions) {
        if (drop) break;
        if (!e.file_glob.empty() && fnmatch(e.file_glob.c_str(), file.c_str(), 0) != 0) continue;
        if (!e.statement_hash.empty() && e.statement_hash != hash) continue;
        if (!e.rules.empty() && std::find(e.rules.begin(), e.rules.end(), f.rule_id) == e.rules.end()) continue;
        drop = true;
      }
      if (drop) {
        ++report.exempted;
      } else {
        kept.push_back(std::move(f));
      }
    }
    s.findings = std::move(kept);
  }
}

}  // namespace

Report lint(const std::vector<SourceFile>& files, const Options& options) {
  Report report;
  Linter linter(options, &report);
  for (std::size_t i = 0; i < files.size(); ++i) {
    std::size_t before = report.statements.size();
    bool ok = sql::with_parser_stack(files[i].text.size(), [&] { linter.file(i, files[i]); });
    if (!ok) {
      report.statements.resize(before);
      StatementReport rep;
      rep.file_index = i;
      rep.tier = "destructive";
      rep.findings.push_back(
          {"DG-L000", Severity::error, "cannot analyse the file (out of memory or no parser thread)"});
      report.statements.push_back(std::move(rep));
    }
  }
  linter.finish_input();
  if (options.policy != nullptr) apply_policy(*options.policy, files, report);
  for (const StatementReport& s : report.statements) {
    for (const Finding& f : s.findings) {
      if (f.severity == Severity::error)
        ++report.errors;
      else if (f.severity == Severity::warning)
        ++report.warnings;
      else
        ++report.infos;
    }
  }
  return report;
}

}  // namespace ddlgate::lint
