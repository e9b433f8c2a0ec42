// Dynamic SQL in PL/pgSQL bodies: pg_query_parse_plpgsql gives each EXECUTE's
// expression as text; that expression is parsed again with the SQL grammar and
// judged from its tree (a || of a variable is unsafe, format('%I') is not).
#include <cctype>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analysis.h"

namespace ddlgate::lint::detail {
namespace {

std::string_view func_name(const PgQuery__FuncCall* f) {
  if (f->n_funcname == 0) return {};
  return str(f->funcname[f->n_funcname - 1]);
}

bool is_quote_function(std::string_view name) {
  return name == "quote_ident" || name == "quote_literal" || name == "quote_nullable";
}

// Whether a format() call's format string interpolates with %s (as text, not quoted).
bool format_has_plain_s(const PgQuery__FuncCall* f) {
  if (f->n_args == 0) return true;  // not a constant format: assume the worst
  const PgQuery__Node* first = f->args[0];
  if (first->node_case != PG_QUERY__NODE__NODE_A_CONST || first->a_const->val_case != PG_QUERY__A__CONST__VAL_SVAL) {
    return true;
  }
  const char* fmt = first->a_const->sval->sval;
  for (const char* p = fmt; p != nullptr && *p != '\0'; ++p) {
    if (*p != '%') continue;
    ++p;
    if (*p == '%') continue;
    // skip position, flags and width: "%1$-10s"
    while (*p != '\0' && std::strchr("0123456789$-*", *p) != nullptr) ++p;
    if (*p == 's') return true;
    if (*p == '\0') break;
  }
  return false;
}

struct ExprFacts {
  bool concatenates = false;  // ||, concat(), concat_ws() or format('%s')
  bool variable = false;      // a variable or parameter outside quote_*() / format(%I, %L)
};

ExprFacts judge_expression(const std::string& expr) {
  ExprFacts facts;
  std::string sql = "SELECT " + expr;
  sql::ParsedText parsed = sql::parse_tree(sql);
  if (parsed.error || !parsed.tree) {
    // Not an expression we can read: say it may be unsafe only if it has "||".
    facts.concatenates = expr.find("||") != std::string::npos;
    facts.variable = facts.concatenates;
    return facts;
  }
  auto visit = [&facts](ProtobufCMessage* m) {
    if (m->descriptor == &pg_query__a__expr__descriptor) {
      auto* e = reinterpret_cast<PgQuery__AExpr*>(m);
      if (e->n_name == 1 && str(e->name[0]) == "||") facts.concatenates = true;
    } else if (m->descriptor == &pg_query__func_call__descriptor) {
      auto* f = reinterpret_cast<PgQuery__FuncCall*>(m);
      std::string_view name = func_name(f);
      if (is_quote_function(name)) return false;  // its argument is quoted
      if (name == "concat" || name == "concat_ws") facts.concatenates = true;
      if (name == "format") {
        if (!format_has_plain_s(f)) return false;  // only %I and %L: quoted
        facts.concatenates = true;
      }
    } else if (m->descriptor == &pg_query__column_ref__descriptor ||
               m->descriptor == &pg_query__param_ref__descriptor) {
      facts.variable = true;
    }
    return true;
  };
  for (std::size_t i = 0; i < parsed.tree->root().n_stmts; ++i) {
    PgQuery__RawStmt* raw = parsed.tree->root().stmts[i];
    if (raw != nullptr && raw->stmt != nullptr) sql::tree::walk(&raw->stmt->base, visit);
  }
  return facts;
}

std::string trim(std::string s) {
  std::size_t b = s.find_first_not_of(" \t\r\n");
  std::size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::string short_text(const std::string& s) {
  std::string one;
  for (char c : s) one += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  return one.size() > 80 ? one.substr(0, 77) + "..." : one;
}

struct Collected {
  std::vector<std::string> dynamic;                              // EXECUTE expressions
  std::vector<std::pair<std::string, std::string>> assignments;  // target, expression
};

std::string expr_query(const nlohmann::json& e) {
  if (!e.is_object()) return {};
  auto it = e.find("PLpgSQL_expr");
  if (it == e.end() || !it->is_object()) return {};
  auto q = it->find("query");
  return q != it->end() && q->is_string() ? q->get<std::string>() : std::string();
}

// Iterative walk (the JSON comes from libpg_query, but its depth follows the body's).
void collect(const nlohmann::json& root, Collected* out) {
  std::vector<const nlohmann::json*> stack{&root};
  while (!stack.empty()) {
    const nlohmann::json* j = stack.back();
    stack.pop_back();
    if (j->is_array()) {
      for (const auto& v : *j) stack.push_back(&v);
      continue;
    }
    if (!j->is_object()) continue;
    for (auto it = j->begin(); it != j->end(); ++it) {
      const std::string& key = it.key();
      const nlohmann::json& v = it.value();
      if ((key == "PLpgSQL_stmt_dynexecute" || key == "PLpgSQL_stmt_dynfors") && v.is_object() && v.contains("query")) {
        out->dynamic.push_back(expr_query(v["query"]));
      } else if ((key == "PLpgSQL_stmt_open" || key == "PLpgSQL_stmt_return_query") && v.is_object() &&
                 v.contains("dynquery")) {
        out->dynamic.push_back(expr_query(v["dynquery"]));
      } else if (key == "PLpgSQL_stmt_assign" && v.is_object() && v.contains("expr")) {
        // "s := 'a' || t" (PostgreSQL 14+ keeps the target in the text)
        std::string q = expr_query(v["expr"]);
        std::size_t at = q.find(":=");
        std::size_t len = 2;
        if (at == std::string::npos) {
          at = q.find('=');
          len = 1;
        }
        if (at != std::string::npos) out->assignments.emplace_back(trim(q.substr(0, at)), trim(q.substr(at + len)));
      }
      if (v.is_structured()) stack.push_back(&v);
    }
  }
}

}  // namespace

std::string_view str(const PgQuery__Node* n) {
  if (n == nullptr || n->node_case != PG_QUERY__NODE__NODE_STRING || n->string == nullptr ||
      n->string->sval == nullptr) {
    return {};
  }
  return n->string->sval;
}

std::vector<std::string> unsafe_dynamic_sql(const std::string& create_function_sql) {
  std::vector<std::string> hits;
  // Without the word EXECUTE (any case) there is no dynamic SQL to find; skipping the
  // parse also skips libpg_query's error path, which leaks a byte (15-4.0.0).
  std::string upper;
  upper.reserve(create_function_sql.size());
  for (char c : create_function_sql) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper.find("EXECUTE") == std::string::npos) return hits;
  PgQueryPlpgsqlParseResult r = pg_query_parse_plpgsql(create_function_sql.c_str());
  if (r.error != nullptr || r.plpgsql_funcs == nullptr) {
    // libpg_query's PL/pgSQL parser knows no types (OPEN of a refcursor variable fails in
    // it, not in PostgreSQL). A body it cannot read that runs EXECUTE is reported, not
    // passed: its dynamic SQL is unchecked.
    std::string why = r.error != nullptr && r.error->message != nullptr ? r.error->message : "no result";
    pg_query_free_plpgsql_parse_result(r);
    hits.push_back("body runs EXECUTE but libpg_query cannot read it (" + why + "): its dynamic SQL is unchecked");
    return hits;
  }
  nlohmann::json doc = nlohmann::json::parse(r.plpgsql_funcs, nullptr, false);
  pg_query_free_plpgsql_parse_result(r);
  if (doc.is_discarded()) return hits;
  Collected c;
  collect(doc, &c);
  for (const std::string& raw : c.dynamic) {
    std::string q = trim(raw);
    ExprFacts f = judge_expression(q);
    if (f.concatenates && f.variable) {
      hits.push_back("EXECUTE " + short_text(q));
      continue;
    }
    // EXECUTE of a variable: unsafe if some assignment to it concatenates.
    for (const auto& [target, value] : c.assignments) {
      if (target != q) continue;
      ExprFacts a = judge_expression(value);
      if (a.concatenates && a.variable) {
        hits.push_back("EXECUTE " + q + " where " + q + " := " + short_text(value));
        break;
      }
    }
  }
  return hits;
}

}  // namespace ddlgate::lint::detail
