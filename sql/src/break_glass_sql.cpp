#include "ddlgate/sql/break_glass_sql.h"

#include <algorithm>
#include <filesystem>
#include <strings.h>

#include <pthread.h>

#include <nlohmann/json.hpp>

#include "ddlgate/sql/analyze.h"
#include "fast_path.h"
#include "pg_tree.h"

namespace ddlgate::sql {
namespace {

namespace fs = std::filesystem;

bool contains_ci(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char a, char b) {
    return (a >= 'A' && a <= 'Z' ? a - 'A' + 'a' : a) == b;
  });
  return it != hay.end();
}

// Whether sql might name ddlgate.break_glass or hold RESET ALL / DISCARD ALL: a cheap test
// on the hot path, so that most texts are never parsed a second time.
bool lower_equals(std::string_view text, std::string_view lower_word) {
  if (text.size() != lower_word.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) != lower_word[i]) return false;
  }
  return true;
}

// "break_glass" in any case, or U&" (an identifier with Unicode escapes; U&'...'
// is a string, which cannot name a setting). It runs for every statement the
// proxy sees, so it only stops at '_' and '&', found with memchr.
bool names_setting(std::string_view sql) {
  const std::size_t n = sql.size();
  for (std::size_t i = sql.find('_'); i != std::string_view::npos; i = sql.find('_', i + 1)) {
    if (i >= 5 && n - i > 5 && lower_equals(sql.substr(i - 5, 5), "break") && lower_equals(sql.substr(i + 1, 5), "glass")) {
      return true;
    }
  }
  for (std::size_t i = sql.find('&'); i != std::string_view::npos; i = sql.find('&', i + 1)) {
    if (i >= 1 && i + 1 < n && (sql[i - 1] == 'u' || sql[i - 1] == 'U') && sql[i + 1] == '"') return true;
  }
  return false;
}

bool worth_parsing(std::string_view sql, bool look_for_reset_all) {
  if (names_setting(sql)) return true;
  return look_for_reset_all && (contains_ci(sql, "reset") || contains_ci(sql, "discard"));
}

bool plain_parameter_name(std::string_view name) {
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' || c == '.';
  });
}

// The setting's name as a string constant (possibly cast: 'ddlgate.break_glass'::text) in
// libpg_query's JSON form of a node.
bool is_setting_name(const nlohmann::json& node) {
  const nlohmann::json* n = &node;
  if (n->is_object() && n->contains("TypeCast")) {
    const auto& cast = (*n)["TypeCast"];
    if (!cast.is_object() || !cast.contains("arg")) return false;
    n = &cast["arg"];
  }
  if (!n->is_object() || !n->contains("A_Const")) return false;
  const auto& c = (*n)["A_Const"];
  if (!c.is_object() || !c.contains("sval") || !c["sval"].is_object()) return false;
  const auto& v = c["sval"].value("sval", std::string());
  return strcasecmp(v.c_str(), std::string(kBreakGlassSetting).c_str()) == 0;
}

// Whether a statement calls set_config('ddlgate.break_glass', ...) anywhere (a SELECT's
// target list, a CTE, a function argument): the server would keep the value, a token, as
// an ordinary placeholder setting and may log it with the statement. `tree` is
// libpg_query's JSON, whose depth the caller has bounded.
bool calls_set_config_of_setting(const char* tree) {
  nlohmann::json root = nlohmann::json::parse(tree, nullptr, false);
  if (root.is_discarded()) return false;
  std::vector<const nlohmann::json*> todo{&root};
  while (!todo.empty()) {
    const nlohmann::json* node = todo.back();
    todo.pop_back();
    if (node->is_array()) {
      for (const auto& v : *node) todo.push_back(&v);
      continue;
    }
    if (!node->is_object()) continue;
    if (auto call = node->find("FuncCall"); call != node->end() && call->is_object()) {
      const auto name = call->find("funcname");
      const auto args = call->find("args");
      if (name != call->end() && name->is_array() && !name->empty() && name->back().is_object() &&
          name->back().contains("String") && name->back()["String"].is_object() &&
          name->back()["String"].value("sval", std::string()) == "set_config" && args != call->end() &&
          args->is_array() && !args->empty() && is_setting_name(args->front())) {
        return true;
      }
    }
    for (const auto& item : node->items()) todo.push_back(&item.value());
  }
  return false;
}

BreakGlassSql scan_here(std::string_view sql) {
  BreakGlassSql out;
  if (sql.find('\0') != std::string_view::npos) return out;  // analyze() refuses it anyway
  std::string text(sql);
  bool set_config_call = false;
  {
    // The JSON parse first, as analyze() does: it is linear in the tree and bounds
    // its depth before the protobuf one, which is quadratic on deep trees (a
    // 500 KiB chain of `+1` took 38 s). Too deep is no break-glass statement:
    // analyze() refuses the text anyway, so it never reaches the server.
    detail::JsonParse json_parse(text.c_str());
    if (json_parse.get().error != nullptr || json_parse.get().parse_tree == nullptr) return out;
    if (detail::json_depth(json_parse.get().parse_tree) > static_cast<std::size_t>(detail::kMaxTreeDepth)) return out;
    set_config_call = contains_ci(sql, "set_config") && calls_set_config_of_setting(json_parse.get().parse_tree);
  }
  detail::ProtobufParse parsed(text.c_str());
  if (parsed.get().error != nullptr) return out;
  const PgQueryProtobuf& pb = parsed.get().parse_tree;
  if (!detail::protobuf_depth_within(reinterpret_cast<const std::uint8_t*>(pb.data), pb.len,
                                     &pg_query__parse_result__descriptor, detail::kMaxTreeDepth)) {
    return out;
  }
  detail::UnpackedParse tree(pb);
  if (tree.get() == nullptr) return out;
  out.statements = tree.get()->n_stmts;
  for (std::size_t i = 0; i < tree.get()->n_stmts; ++i) {
    const PgQuery__RawStmt* raw = tree.get()->stmts[i];
    const PgQuery__Node* node = raw != nullptr ? raw->stmt : nullptr;
    if (node == nullptr) continue;
    if (node->node_case == PG_QUERY__NODE__NODE_DISCARD_STMT && node->discard_stmt != nullptr &&
        node->discard_stmt->target == PG_QUERY__DISCARD_MODE__DISCARD_ALL) {
      if (out.kind == BreakGlassSql::Kind::none) {
        out.kind = BreakGlassSql::Kind::reset;
        out.detail = "DISCARD ALL";
      }
      continue;
    }
    if (node->node_case != PG_QUERY__NODE__NODE_VARIABLE_SET_STMT || node->variable_set_stmt == nullptr) continue;
    const PgQuery__VariableSetStmt* s = node->variable_set_stmt;
    if (s->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL) {
      if (out.kind == BreakGlassSql::Kind::none) {
        out.kind = BreakGlassSql::Kind::reset;
        out.detail = "RESET ALL";
      }
      continue;
    }
    // libpg_query leaves Unicode escapes of identifiers (U&"break\005fglass") undecoded, while
    // the server decodes them: such a name could be ddlgate.break_glass in disguise. Real
    // parameter names are plain identifiers ([A-Za-z0-9_$] between dots; PostgreSQL refuses
    // others), so a name with anything else is refused rather than forwarded.
    if (s->name != nullptr && !plain_parameter_name(s->name)) {
      out.kind = BreakGlassSql::Kind::bad_set;
      out.token.clear();
      out.detail = "a parameter name written with Unicode escapes is refused (it could hide ddlgate.break_glass)";
      continue;
    }
    // GUC names are case-insensitive; libpg_query lower-cases unquoted ones already.
    if (s->name == nullptr || strcasecmp(s->name, std::string(kBreakGlassSetting).c_str()) != 0) continue;
    if (s->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET || s->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_DEFAULT) {
      if (out.kind == BreakGlassSql::Kind::none) {
        out.kind = BreakGlassSql::Kind::reset;
        out.detail = s->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET ? "RESET ddlgate.break_glass"
                                                                        : "SET ddlgate.break_glass TO DEFAULT";
      }
      continue;
    }
    // Any other form of SET: it is a set, usable or not; it wins over a reset.
    out.kind = BreakGlassSql::Kind::bad_set;
    out.token.clear();
    if (s->is_local) {
      out.detail = "SET LOCAL ddlgate.break_glass is not supported: use SET (a break-glass session is not transactional)";
    } else if (s->kind != PG_QUERY__VARIABLE_SET_KIND__VAR_SET_VALUE || s->n_args != 1 || s->args[0] == nullptr ||
               s->args[0]->node_case != PG_QUERY__NODE__NODE_A_CONST || s->args[0]->a_const == nullptr ||
               s->args[0]->a_const->val_case != PG_QUERY__A__CONST__VAL_SVAL || s->args[0]->a_const->sval == nullptr ||
               s->args[0]->a_const->sval->sval == nullptr) {
      out.detail = "SET ddlgate.break_glass takes one quoted string: the token";
    } else {
      out.kind = BreakGlassSql::Kind::set;
      out.token = s->args[0]->a_const->sval->sval;
      out.detail.clear();
    }
  }
  if (set_config_call && out.kind != BreakGlassSql::Kind::set) {
    out.kind = BreakGlassSql::Kind::bad_set;
    out.token.clear();
    out.detail = "set_config('ddlgate.break_glass', ...) cannot carry a token: use SET ddlgate.break_glass = '<token>'";
  }
  return out;
}

// As in analyze(): libpg_query recurses once per tree level, so a long text is parsed on a
// thread whose stack grows with it.
constexpr std::size_t kInlineBytes = 16 * 1024;
constexpr std::size_t kStackBytesPerInputByte = 256;
constexpr std::size_t kMinBigStack = 16u * 1024 * 1024;

struct Job {
  std::string_view sql;
  BreakGlassSql out;
};

void* run_job(void* arg) {
  auto* job = static_cast<Job*>(arg);
  try {
    job->out = scan_here(job->sql);
  } catch (...) {  // bad_alloc: the caller's analysis fails closed on this text anyway
  }
  return nullptr;
}

}  // namespace

bool mentions_break_glass(std::string_view sql) { return worth_parsing(sql, false); }

BreakGlassSql scan_break_glass_sql(std::string_view sql, bool look_for_reset_all) {
  if (!worth_parsing(sql, look_for_reset_all)) return {};
  if (sql.size() <= kInlineBytes) return scan_here(sql);
  if (sql.size() > kMaxAnalyzedBytes) return {};  // analyze() refuses it as unparseable
  Job job{sql, {}};
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return {};
  std::size_t stack = sql.size() * kStackBytesPerInputByte;
  pthread_attr_setstacksize(&attr, stack < kMinBigStack ? kMinBigStack : stack);
  pthread_t thread;
  int rc = pthread_create(&thread, &attr, run_job, &job);
  pthread_attr_destroy(&attr);
  if (rc != 0) return {};
  pthread_join(thread, nullptr);
  return job.out;
}

}  // namespace ddlgate::sql
