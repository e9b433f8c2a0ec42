// `ddlgate lint --policy FILE`: the TOML policy file (docs/lint.md, "Policy file") read
// into lint::Policy. Every problem is reported, with its key, before anything is linted.
#include "lint_policy.h"

#include <toml++/toml.h>

#include <cctype>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "ddlgate/base/file.h"

namespace ddlgate::cli {
namespace {

// The policy file is small; anything larger is not one.
constexpr std::uint64_t kMaxPolicyBytes = 1024 * 1024;

const std::set<std::string> kNamingKinds = {"table",    "column", "index",    "constraint", "view",
                                            "sequence", "schema", "function", "type"};

// PostgreSQL's spelling in the parse tree for the names people write.
std::string canonical_type(std::string t) {
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::map<std::string, std::string> kAlias = {{"int", "int4"},
                                                            {"integer", "int4"},
                                                            {"smallint", "int2"},
                                                            {"bigint", "int8"},
                                                            {"real", "float4"},
                                                            {"double precision", "float8"},
                                                            {"float", "float8"},
                                                            {"boolean", "bool"},
                                                            {"char", "bpchar"},
                                                            {"character", "bpchar"},
                                                            {"character varying", "varchar"},
                                                            {"decimal", "numeric"},
                                                            {"timestamp without time zone", "timestamp"},
                                                            {"timestamp with time zone", "timestamptz"},
                                                            {"time without time zone", "time"},
                                                            {"time with time zone", "timetz"},
                                                            {"serial4", "serial"},
                                                            {"serial8", "bigserial"},
                                                            {"serial2", "smallserial"}};
  auto it = kAlias.find(t);
  return it != kAlias.end() ? it->second : t;
}

void bool_key(const toml::table& t, const char* key, bool* out, const std::string& where,
              std::vector<base::Problem>* problems) {
  const toml::node* n = t.get(key);
  if (n == nullptr) return;
  if (auto b = n->value<bool>()) {
    *out = *b;
  } else {
    problems->push_back({where + "." + key, "must be true or false"});
  }
}

}  // namespace

PolicyLoad parse_lint_policy(std::string_view text, const std::string& source) {
  PolicyLoad out;
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << e.description() << " (line " << e.source().begin.line << ", column " << e.source().begin.column << ")";
    out.problems.push_back({source, msg.str()});
    return out;
  }
  lint::Policy& p = out.policy;
  for (const auto& [k, v] : root) {
    std::string key(k.str());
    if (key == "rules") {
      const toml::table* t = v.as_table();
      if (t == nullptr) {
        out.problems.push_back({key, "must be a table"});
        continue;
      }
      for (const auto& [rk, rv] : *t) {
        std::string r(rk.str());
        if (r == "require_primary_key") {
          bool_key(*t, "require_primary_key", &p.require_primary_key, key, &out.problems);
        } else if (r == "require_not_null_or_default") {
          bool_key(*t, "require_not_null_or_default", &p.require_not_null_or_default, key, &out.problems);
        } else if (r == "foreign_key_index") {
          bool_key(*t, "foreign_key_index", &p.foreign_key_index, key, &out.problems);
        } else if (r == "forbidden_types") {
          const toml::array* a = rv.as_array();
          if (a == nullptr) {
            out.problems.push_back({"rules.forbidden_types", "must be an array of type names"});
            continue;
          }
          for (const auto& e : *a) {
            if (auto s = e.value<std::string>(); s && !s->empty()) {
              p.forbidden_types.push_back(canonical_type(*s));
            } else {
              out.problems.push_back({"rules.forbidden_types", "must be an array of type names"});
            }
          }
        } else {
          out.problems.push_back({key + "." + r, "unknown key"});
        }
      }
    } else if (key == "naming") {
      const toml::table* t = v.as_table();
      if (t == nullptr) {
        out.problems.push_back({key, "must be a table"});
        continue;
      }
      for (const auto& [nk, nv] : *t) {
        std::string kind(nk.str());
        auto s = nv.value<std::string>();
        if (kNamingKinds.count(kind) == 0) {
          out.problems.push_back({key + "." + kind,
                                  "unknown object kind (table, column, index, constraint, view, "
                                  "sequence, schema, function, type)"});
        } else if (!s) {
          out.problems.push_back({key + "." + kind, "must be a regular expression"});
        } else {
          try {
            p.naming.push_back({kind, *s, std::regex(*s, std::regex::ECMAScript)});
          } catch (const std::regex_error& e) {
            out.problems.push_back({key + "." + kind, std::string("not a regular expression: ") + e.what()});
          }
        }
      }
    } else if (key == "severity") {
      const toml::table* t = v.as_table();
      if (t == nullptr) {
        out.problems.push_back({key, "must be a table"});
        continue;
      }
      for (const auto& [sk, sv] : *t) {
        std::string id(sk.str());
        auto s = sv.value<std::string>();
        if (lint::find_rule(id) == nullptr) {
          out.problems.push_back({key + "." + id, "no such rule"});
        } else if (!s || (*s != "error" && *s != "warning" && *s != "info" && *s != "off")) {
          out.problems.push_back({key + "." + id, "must be \"error\", \"warning\", \"info\" or \"off\""});
        } else if (*s == "off") {
          p.severity[id] = std::nullopt;
        } else {
          p.severity[id] = *s == "error"     ? lint::Severity::error
                           : *s == "warning" ? lint::Severity::warning
                                             : lint::Severity::info;
        }
      }
    } else if (key == "exempt") {
      const toml::array* a = v.as_array();
      if (a == nullptr) {
        out.problems.push_back({key, "must be an array of tables ([[exempt]])"});
        continue;
      }
      std::size_t i = 0;
      for (const auto& e : *a) {
        std::string where = key + "[" + std::to_string(i++) + "]";
        const toml::table* t = e.as_table();
        if (t == nullptr) {
          out.problems.push_back({where, "must be a table"});
          continue;
        }
        lint::Exemption x;
        for (const auto& [ek, ev] : *t) {
          std::string f(ek.str());
          if (f == "file" || f == "statement" || f == "reason") {
            auto s = ev.value<std::string>();
            if (!s || s->empty()) {
              out.problems.push_back({where + "." + f, "must be a non-empty string"});
              continue;
            }
            if (f == "file") x.file_glob = *s;
            if (f == "statement") x.statement_hash = *s;
          } else if (f == "rules") {
            const toml::array* ra = ev.as_array();
            if (ra == nullptr) {
              out.problems.push_back({where + ".rules", "must be an array of rule IDs"});
              continue;
            }
            for (const auto& r : *ra) {
              auto s = r.value<std::string>();
              if (!s || lint::find_rule(*s) == nullptr) {
                out.problems.push_back({where + ".rules", "no such rule: " + (s ? *s : std::string("?"))});
              } else {
                x.rules.push_back(*s);
              }
            }
          } else {
            out.problems.push_back({where + "." + f, "unknown key"});
          }
        }
        if (x.file_glob.empty() && x.statement_hash.empty()) {
          out.problems.push_back({where, "needs a file, a statement hash or both"});
        } else if (!x.statement_hash.empty() && x.statement_hash.rfind("sha256:", 0) != 0) {
          out.problems.push_back(
              {where + ".statement", "must be a statement hash as `ddlgate hash` prints it (sha256:...)"});
        } else if (!t->contains("reason")) {
          out.problems.push_back({where, "needs a reason"});
        } else {
          p.exemptions.push_back(std::move(x));
        }
      }
    } else {
      out.problems.push_back({key, "unknown key"});
    }
  }
  return out;
}

PolicyLoad load_lint_policy(const std::string& path) {
  auto text = base::read_capped(path, kMaxPolicyBytes);
  if (!text.ok()) {
    PolicyLoad out;
    out.problems.push_back({path, text.error().reason});
    return out;
  }
  return parse_lint_policy(*text, path);
}

}  // namespace ddlgate::cli
