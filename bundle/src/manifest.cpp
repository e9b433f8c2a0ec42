// manifest.json and signature files: strict parsing (no duplicate or unknown keys,
// exact types) and serialisation; RFC 3339 times and durations.
#include <algorithm>
#include <charconv>
#include <set>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "ddlgate/base/base64.h"
#include "ddlgate/base/json.h"
#include "ddlgate/base/sha256.h"
#include "internal.h"
#include "ddlgate/sql/analyze.h"
#include "ddlgate/sql/search_path.h"
#include "ddlgate/bundle/bundle.h"

namespace ddlgate::bundle {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// Reads typed members of one JSON object, reporting wrong types, missing and unknown keys.
class ObjectReader {
 public:
  ObjectReader(const json& obj, std::string where, std::vector<Problem>* problems)
      : obj_(obj), where_(std::move(where)), problems_(problems) {}

  const json* get(const std::string& key, bool required) {
    seen_.insert(key);
    auto it = obj_.find(key);
    if (it == obj_.end()) {
      if (required) fail(key, "missing");
      return nullptr;
    }
    return &*it;
  }
  std::string string(const std::string& key, bool required = true) {
    const json* v = get(key, required);
    if (v == nullptr) return {};
    if (!v->is_string()) {
      fail(key, "must be a string");
      return {};
    }
    return v->get_ref<const std::string&>();
  }
  std::optional<std::uint64_t> uint(const std::string& key) {
    const json* v = get(key, true);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number_unsigned()) {
      fail(key, "must be a non-negative integer");
      return std::nullopt;
    }
    return v->get<std::uint64_t>();
  }
  const json* array(const std::string& key, bool required = true) {
    const json* v = get(key, required);
    if (v != nullptr && !v->is_array()) {
      fail(key, "must be an array");
      return nullptr;
    }
    return v;
  }
  std::optional<bool> boolean(const std::string& key) {
    const json* v = get(key, true);
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) {
      fail(key, "must be true or false");
      return std::nullopt;
    }
    return v->get<bool>();
  }
  void report_unknown() {
    for (auto it = obj_.begin(); it != obj_.end(); ++it) {
      if (!seen_.count(it.key())) fail(it.key(), "unknown key");
    }
  }
  void fail(const std::string& key, const std::string& message) {
    problems_->push_back({where_, "\"" + key + "\" " + message});
    ok_ = false;
  }
  bool ok() const { return ok_; }

 private:
  const json& obj_;
  std::string where_;
  std::vector<Problem>* problems_;
  std::set<std::string> seen_;
  bool ok_ = true;
};

std::optional<StatementClass> read_class(ObjectReader& r) {
  std::string name = r.string("class");
  if (name.empty()) return std::nullopt;
  auto cls = sql::class_from_string(name);
  if (!cls) r.fail("class", "is not a statement class: '" + name + "'");
  return cls;
}

bool valid_rule_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

// One entry of statements[] (files[] or a down part).
ManifestStatement read_statement(const json& st, const std::string& where, bool format2,
                                 std::vector<Problem>* problems) {
  ObjectReader sr(st, where, problems);
  ManifestStatement ms;
  if (auto i = sr.uint("index")) ms.index = static_cast<std::size_t>(*i);
  if (auto c = read_class(sr)) ms.cls = *c;
  ms.hash = sr.string("hash");
  if (!ms.hash.empty() && !base::is_sha256_text(ms.hash)) sr.fail("hash", "is not sha256:<64 hex digits>");
  ms.sql = sr.string("sql");
  if (format2) {
    if (const json* sp = sr.get("search_path", false)) {
      if (!sp->is_string()) sr.fail("search_path", "must be a string");
      else ms.search_path = sp->get<std::string>();
    }
    if (sr.get("tier", false) != nullptr) {
      ms.tier = sr.string("tier", false);
      if (config::tier_rank(ms.tier) < 0) {
        sr.fail("tier", "must be one of additive, data, blocking, privilege, destructive");
      }
    }
    if (sr.get("risk", false) != nullptr) {
      ms.risk = sr.string("risk", false);
      if (ms.risk != "low" && ms.risk != "medium" && ms.risk != "high") {
        sr.fail("risk", "must be \"low\", \"medium\" or \"high\"");
      }
    }
    if (const json* rules = sr.array("rules", false)) {
      for (const auto& r : *rules) {
        if (!r.is_string() || !valid_rule_id(r.get_ref<const std::string&>())) {
          sr.fail("rules", "must hold rule ids (1 to 64 of A-Z a-z 0-9 . _ -)");
          break;
        }
        ms.rules.push_back(r.get<std::string>());
      }
    }
  }
  sr.report_unknown();
  return ms;
}

std::vector<ManifestStatement> read_statements(const json* sts, const std::string& where, bool format2,
                                               std::vector<Problem>* problems) {
  std::vector<ManifestStatement> out;
  if (sts == nullptr) return out;
  for (const auto& st : *sts) {
    if (!st.is_object()) {
      problems->push_back({where, "statements must hold objects"});
      continue;
    }
    out.push_back(read_statement(st, where + " statement", format2, problems));
  }
  return out;
}

// Format 1 has no tier, risk or rules: they are written in format 2 only.
ordered_json statements_json(const std::vector<ManifestStatement>& statements, bool v2) {
  ordered_json sts = ordered_json::array();
  for (const auto& st : statements) {
    ordered_json o{{"index", st.index}, {"class", std::string(to_string(st.cls))}, {"hash", st.hash}, {"sql", st.sql}};
    if (st.search_path) o["search_path"] = *st.search_path;
    if (v2 && !st.tier.empty()) o["tier"] = st.tier;
    if (v2 && !st.risk.empty()) o["risk"] = st.risk;
    if (v2 && !st.rules.empty()) o["rules"] = st.rules;
    sts.push_back(std::move(o));
  }
  return sts;
}

}  // namespace

std::string_view to_string(MigrationTool tool) {
  switch (tool) {
    case MigrationTool::plain: return "plain";
    case MigrationTool::atlas: return "atlas";
    case MigrationTool::golang_migrate: return "golang-migrate";
    case MigrationTool::goose: return "goose";
    case MigrationTool::flyway: return "flyway";
    case MigrationTool::dbmate: return "dbmate";
    case MigrationTool::sqitch: return "sqitch";
    case MigrationTool::liquibase: return "liquibase";
    case MigrationTool::alembic: return "alembic";
    case MigrationTool::django: return "django";
    case MigrationTool::rails: return "rails";
    case MigrationTool::knex: return "knex";
    case MigrationTool::sequelize: return "sequelize";
    case MigrationTool::typeorm: return "typeorm";
    case MigrationTool::node_pg_migrate: return "node-pg-migrate";
    case MigrationTool::sql_migrate: return "sql-migrate";
    case MigrationTool::prisma: return "prisma";
    case MigrationTool::recorded: return "recorded";
  }
  return "plain";
}

const std::vector<MigrationTool>& all_tools() {
  static const std::vector<MigrationTool> kAll = {
      MigrationTool::plain,     MigrationTool::atlas,   MigrationTool::golang_migrate,  MigrationTool::goose,
      MigrationTool::flyway,    MigrationTool::dbmate,  MigrationTool::sqitch,          MigrationTool::liquibase,
      MigrationTool::alembic,   MigrationTool::django,  MigrationTool::rails,           MigrationTool::knex,
      MigrationTool::sequelize, MigrationTool::typeorm, MigrationTool::node_pg_migrate, MigrationTool::sql_migrate,
      MigrationTool::prisma,
  };
  return kAll;
}

std::optional<MigrationTool> tool_from_string(std::string_view name) {
  if (name == to_string(MigrationTool::recorded)) return MigrationTool::recorded;
  for (auto t : all_tools()) {
    if (to_string(t) == name) return t;
  }
  return std::nullopt;
}

std::string default_search_path(MigrationTool tool, const HistoryTable& history) {
  constexpr std::string_view kServerDefault = "\"$user\", public";
  switch (tool) {
    // salsita/node-pg-migrate src/runner.ts: `SET search_path TO "<schema>"` before anything
    // else (its schema, public unless --schema; the history table lives there too).
    case MigrationTool::node_pg_migrate:
      return sql::quote_identifier(history.schema.empty() ? "public" : history.schema);
    // flyway PostgreSQLConnection.changeCurrentSchemaTo: its default schema (the history
    // table's) is put before the connection's search_path unless it is first already:
    // set_config('search_path', '"public",' || <SHOW search_path>, false).
    case MigrationTool::flyway:
      return sql::quote_identifier(history.schema.empty() ? "public" : history.schema) + ", " +
             std::string(kServerDefault);
    default:
      return std::string(kServerDefault);
  }
}

std::optional<std::string> statement_search_path(const Manifest& m, const ManifestStatement& st) {
  return st.search_path ? st.search_path : m.search_path;
}
std::optional<std::string> statement_search_path(const Manifest& m, const BookkeepingStatement& st) {
  return st.search_path ? st.search_path : m.search_path;
}

std::optional<Manifest> parse_manifest(std::string_view bytes, std::vector<Problem>* problems) {
  const std::string where = "manifest.json";
  std::string why;
  auto parsed = base::parse_strict_json(bytes);
  if (!parsed) {
    problems->push_back({where, parsed.error().reason});
    return std::nullopt;
  }
  const json& j = *parsed;
  std::size_t before = problems->size();
  Manifest m;
  ObjectReader r(j, where, problems);
  m.format = r.string("format");
  if (!m.format.empty() && m.format != kBundleFormat1 && m.format != kBundleFormat2) {
    r.fail("format", "is '" + m.format + "', this ddlgate reads " + std::string(kBundleFormat1) + " and " +
                         std::string(kBundleFormat2));
    return std::nullopt;  // another format: nothing else can be trusted to mean the same
  }
  const bool v2 = m.format == kBundleFormat2;
  m.app = r.string("app");
  if (auto v = r.uint("version")) m.version = *v;
  m.environment = r.string("environment");
  auto read_databases = [&](ObjectReader& reader, const json* dbs) {
    if (dbs == nullptr) return;
    std::set<std::string> seen;
    for (const auto& d : *dbs) {
      if (!d.is_string() || d.get_ref<const std::string&>().empty()) {
        reader.fail("databases", "must hold non-empty strings");
      } else if (!seen.insert(d.get<std::string>()).second) {
        reader.fail("databases", "names '" + d.get<std::string>() + "' twice");
      } else {
        m.databases.push_back(d.get<std::string>());
      }
    }
  };
  if (!v2) {
    read_databases(r, r.array("databases"));
    // Format 1's default, kept for bundles built before format 2: no database named
    // means every database of the environment.
    m.any_database = m.databases.empty();
  } else if (const json* scope = r.get("scope", true)) {
    if (!scope->is_object()) {
      r.fail("scope", "must be an object: {\"databases\": [...]} or {\"any_database\": true}");
    } else {
      ObjectReader sc(*scope, where + ": scope", problems);
      const json* dbs = sc.array("databases", false);
      const json* any = sc.get("any_database", false);
      if ((dbs == nullptr) == (any == nullptr)) {
        sc.fail("databases", "or \"any_database\": exactly one of the two must be given");
      } else if (any != nullptr) {
        if (!any->is_boolean() || !any->get<bool>()) sc.fail("any_database", "must be true when given");
        else m.any_database = true;
      } else {
        read_databases(sc, dbs);
        if (dbs->empty()) sc.fail("databases", "must name at least one database (or say \"any_database\": true)");
      }
      sc.report_unknown();
    }
  }
  for (auto [key, out] : {std::pair{"not_before", &m.not_before}, std::pair{"not_after", &m.not_after}}) {
    std::string t = r.string(key);
    if (t.empty()) continue;
    if (auto tp = base::parse_time(t)) *out = *tp;
    else r.fail(key, "is not an RFC 3339 UTC time: '" + t + "'");
  }
  auto read_tool = [&](ObjectReader& reader, const std::string& key) {
    std::string tool = reader.string(key);
    if (tool.empty()) return;
    if (auto t = tool_from_string(tool)) m.tool = *t;
    else reader.fail(key, "is not a known tool: '" + tool + "'");
  };
  if (!v2) {
    read_tool(r, "tool");
    m.tool_profile = 1;  // format 1 had profile 1 and no other
  } else if (const json* tool = r.get("tool", true)) {
    if (!tool->is_object()) {
      r.fail("tool", "must be an object: {\"name\": ..., \"profile\": ...}");
    } else {
      ObjectReader tr(*tool, where + ": tool", problems);
      read_tool(tr, "name");
      if (auto pv = tr.uint("profile")) {
        if (*pv == 0 || *pv > 0xffffffffu) tr.fail("profile", "must be a positive 32-bit integer");
        else m.tool_profile = static_cast<std::uint32_t>(*pv);
      }
      // Profile 2: the history table the bundle was built for, when not the tool's default.
      if (const json* h = tr.get("history", false)) {
        if (!h->is_object() || h->empty()) {
          tr.fail("history", "must be an object with \"schema\" and/or \"table\"");
        } else {
          ObjectReader hr(*h, where + ": tool: history", problems);
          m.history.schema = hr.string("schema", false);
          m.history.table = hr.string("table", false);
          for (const char* k : {"schema", "table"}) {
            const json* v = h->contains(k) ? &(*h)[k] : nullptr;
            if (v && v->is_string() && v->get_ref<const std::string&>().empty()) hr.fail(k, "must not be empty");
          }
          hr.report_unknown();
        }
      }
      tr.report_unknown();
    }
  }
  if (const json* src = r.get("source", false)) {
    if (!src->is_object()) {
      r.fail("source", "must be an object");
    } else {
      ObjectReader s(*src, where + ": source", problems);
      m.source.repository = s.string("repository", false);
      m.source.commit = s.string("commit", false);
      m.source.pull_request = s.string("pull_request", false);
      m.source.ci_run = s.string("ci_run", false);
      s.report_unknown();
    }
  }
  m.hash_definition = r.string("hash_definition");
  if (v2) {
    if (r.get("analysis", false) != nullptr) {
      m.analysis = r.string("analysis", false);
      if (m.analysis.empty()) r.fail("analysis", "must name the analysis that tiered the statements");
    }
    if (const json* sp = r.get("search_path", false)) {
      if (!sp->is_string()) r.fail("search_path", "must be a string");
      else m.search_path = sp->get<std::string>();
    }
  }
  if (const json* files = r.array("files")) {
    std::size_t fi = 0;
    for (const auto& f : *files) {
      ++fi;
      std::string fwhere = where + ": files[" + std::to_string(fi - 1) + "]";
      if (!f.is_object()) {
        problems->push_back({fwhere, "must be an object"});
        continue;
      }
      ObjectReader fr(f, fwhere, problems);
      ManifestFile mf;
      mf.path = fr.string("path");
      mf.sha256 = fr.string("sha256");
      mf.statements = read_statements(fr.array("statements"), fwhere, v2, problems);
      if (v2) {
        if (const json* down = fr.get("down", false)) {
          if (!down->is_object()) {
            fr.fail("down", "must be an object");
          } else {
            ObjectReader dr(*down, fwhere + ": down", problems);
            DownPart dp;
            dp.path = dr.string("path");
            dp.sha256 = dr.string("sha256");
            dp.statements = read_statements(dr.array("statements"), fwhere + ": down", v2, problems);
            dr.report_unknown();
            mf.down = std::move(dp);
          }
        }
      }
      fr.report_unknown();
      m.files.push_back(std::move(mf));
    }
  }
  if (const json* bk = r.array("bookkeeping", false)) {
    for (const auto& b : *bk) {
      if (!b.is_object()) {
        problems->push_back({where, "bookkeeping must hold objects"});
        continue;
      }
      ObjectReader br(b, where + ": bookkeeping", problems);
      BookkeepingStatement bs;
      // Format 2: always the manifest's tool, always repeatable; neither is written.
      bs.tool = v2 ? std::string(to_string(m.tool)) : br.string("tool");
      if (auto c = read_class(br)) bs.cls = *c;
      bs.hash = br.string("hash");
      if (!bs.hash.empty() && !base::is_sha256_text(bs.hash)) br.fail("hash", "is not sha256:<64 hex digits>");
      bs.sql = br.string("sql");
      if (v2) {
        if (const json* sp = br.get("search_path", false)) {
          if (!sp->is_string()) br.fail("search_path", "must be a string");
          else bs.search_path = sp->get<std::string>();
        }
      }
      if (!v2) {
        auto rep = br.boolean("repeatable");
        if (rep && !*rep) br.fail("repeatable", "must be true: bookkeeping statements are repeatable");
      }
      br.report_unknown();
      m.bookkeeping.push_back(std::move(bs));
    }
  }
  if (v2) {
    if (const json* rv = r.array("revokes", false)) {
      for (const auto& x : *rv) {
        if (!x.is_object()) {
          problems->push_back({where, "revokes must hold objects"});
          continue;
        }
        ObjectReader vr(x, where + ": revokes", problems);
        Revocation rev;
        const json* one = vr.get("version", false);
        const json* below = vr.get("below", false);
        if ((one == nullptr) == (below == nullptr)) {
          vr.fail("version", "or \"below\": exactly one of the two must be given");
        } else if (const json* v = one != nullptr ? one : below; !v->is_number_unsigned() || v->get<std::uint64_t>() == 0) {
          vr.fail(one != nullptr ? "version" : "below", "must be a positive integer");
        } else {
          (one != nullptr ? rev.version : rev.below) = v->get<std::uint64_t>();
        }
        vr.report_unknown();
        m.revocations.push_back(rev);
      }
    }
  }
  r.report_unknown();
  if (problems->size() != before) return std::nullopt;
  return m;
}

std::string serialize_manifest(const Manifest& m) {
  ordered_json j;
  j["format"] = m.format;
  j["app"] = m.app;
  j["version"] = m.version;
  j["environment"] = m.environment;
  const bool v2 = m.format2();
  if (!v2) {
    j["databases"] = m.databases;
  } else if (m.any_database) {
    j["scope"] = ordered_json{{"any_database", true}};
  } else {
    j["scope"] = ordered_json{{"databases", m.databases}};
  }
  j["not_before"] = base::format_time(m.not_before);
  j["not_after"] = base::format_time(m.not_after);
  if (v2) {
    ordered_json tool{{"name", std::string(to_string(m.tool))}, {"profile", m.tool_profile}};
    if (!m.history.empty()) {
      ordered_json h = ordered_json::object();
      if (!m.history.schema.empty()) h["schema"] = m.history.schema;
      if (!m.history.table.empty()) h["table"] = m.history.table;
      tool["history"] = h;
    }
    j["tool"] = tool;
  } else j["tool"] = std::string(to_string(m.tool));
  if (v2 && m.search_path) j["search_path"] = *m.search_path;
  if (!m.source.empty()) {
    ordered_json s = ordered_json::object();
    if (!m.source.repository.empty()) s["repository"] = m.source.repository;
    if (!m.source.commit.empty()) s["commit"] = m.source.commit;
    if (!m.source.pull_request.empty()) s["pull_request"] = m.source.pull_request;
    if (!m.source.ci_run.empty()) s["ci_run"] = m.source.ci_run;
    j["source"] = s;
  }
  j["hash_definition"] = m.hash_definition;
  if (v2 && !m.analysis.empty()) j["analysis"] = m.analysis;
  ordered_json files = ordered_json::array();
  for (const auto& f : m.files) {
    ordered_json o{{"path", f.path}, {"sha256", f.sha256}, {"statements", statements_json(f.statements, v2)}};
    if (v2 && f.down) {
      o["down"] = ordered_json{
          {"path", f.down->path}, {"sha256", f.down->sha256}, {"statements", statements_json(f.down->statements, v2)}};
    }
    files.push_back(std::move(o));
  }
  j["files"] = files;
  ordered_json bk = ordered_json::array();
  for (const auto& b : m.bookkeeping) {
    if (v2) {
      ordered_json o{{"class", std::string(to_string(b.cls))}, {"hash", b.hash}, {"sql", b.sql}};
      if (b.search_path) o["search_path"] = *b.search_path;
      bk.push_back(std::move(o));
    } else {
      bk.push_back(ordered_json{{"tool", b.tool}, {"class", std::string(to_string(b.cls))}, {"hash", b.hash},
                                {"sql", b.sql}, {"repeatable", true}});
    }
  }
  j["bookkeeping"] = bk;
  if (v2 && !m.revocations.empty()) {
    ordered_json rv = ordered_json::array();
    for (const auto& r : m.revocations) {
      rv.push_back(r.version != 0 ? ordered_json{{"version", r.version}} : ordered_json{{"below", r.below}});
    }
    j["revokes"] = rv;
  }
  // Invalid UTF-8 in display SQL is replaced rather than thrown on.
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

base::Result<SignatureFile> parse_signature_file(std::string_view bytes) {
  auto parsed = base::parse_strict_json(bytes);
  if (!parsed) {
    return base::Error{parsed.error().reason};
  }
  std::vector<Problem> problems;
  ObjectReader r(*parsed, "", &problems);
  SignatureFile sig;
  sig.key_id = r.string("key_id");
  std::string pub = r.string("public_key");
  sig.role = r.string("role", false);
  std::string s = r.string("signature");
  r.report_unknown();
  if (!problems.empty()) {
    return base::Error{problems.front().message};
  }
  auto raw_pub = base::base64_decode(pub);
  if (!raw_pub || raw_pub->size() != 32) {
    return base::Error{"\"public_key\" is not base64 of a 32-byte Ed25519 key"};
  }
  std::copy(raw_pub->begin(), raw_pub->end(), sig.public_key.begin());
  auto raw_sig = base::base64_decode(s);
  if (!raw_sig || raw_sig->size() != 64) {
    return base::Error{"\"signature\" is not base64 of a 64-byte Ed25519 signature"};
  }
  sig.signature = std::move(*raw_sig);
  return sig;
}

std::string serialize_signature_file(const SignatureFile& sig) {
  ordered_json j;
  j["key_id"] = sig.key_id;
  j["public_key"] = base::base64_encode(
      std::string_view(reinterpret_cast<const char*>(sig.public_key.data()), sig.public_key.size()));
  j["role"] = sig.role;
  j["signature"] = base::base64_encode(sig.signature);
  return j.dump(2) + "\n";
}

namespace {

bool valid_app_name(const std::string& s) {
  return !s.empty() && s.size() <= 128 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

}  // namespace

std::optional<RevocationFile> parse_revocation(std::string_view bytes, std::vector<Problem>* problems) {
  const std::string where = "revocation.json";
  auto parsed = base::parse_strict_json(bytes);
  if (!parsed) {
    problems->push_back({where, parsed.error().reason});
    return std::nullopt;
  }
  if (!parsed->is_object()) {
    problems->push_back({where, "must be a JSON object"});
    return std::nullopt;
  }
  std::size_t before = problems->size();
  ObjectReader r(*parsed, where, problems);
  RevocationFile rv;
  std::string format = r.string("format");
  if (!format.empty() && format != kRevocationFormat) {
    r.fail("format", "is '" + format + "', this ddlgate reads " + std::string(kRevocationFormat));
    return std::nullopt;
  }
  rv.app = r.string("app");
  if (!rv.app.empty() && !valid_app_name(rv.app)) r.fail("app", "must be 1 to 128 of A-Z a-z 0-9 . _ -");
  rv.environment = r.string("environment");
  const json* one = r.get("version", false);
  const json* below = r.get("below", false);
  if ((one == nullptr) == (below == nullptr)) {
    r.fail("version", "or \"below\": exactly one of the two must be given");
  } else if (const json* v = one != nullptr ? one : below; !v->is_number_unsigned() || v->get<std::uint64_t>() == 0) {
    r.fail(one != nullptr ? "version" : "below", "must be a positive integer");
  } else {
    (one != nullptr ? rv.what.version : rv.what.below) = v->get<std::uint64_t>();
  }
  rv.reason = r.string("reason");
  if (const json* why = r.get("reason", false); why != nullptr && why->is_string() && rv.reason.empty()) {
    r.fail("reason", "must say why");
  }
  std::string issued = r.string("issued_at");
  if (!issued.empty()) {
    if (auto tp = base::parse_time(issued)) rv.issued_at = *tp;
    else r.fail("issued_at", "is not an RFC 3339 UTC time: '" + issued + "'");
  }
  r.report_unknown();
  if (problems->size() != before) return std::nullopt;
  return rv;
}

std::string serialize_revocation(const RevocationFile& rv) {
  ordered_json j;
  j["format"] = std::string(kRevocationFormat);
  j["app"] = rv.app;
  j["environment"] = rv.environment;
  if (rv.what.version != 0) j["version"] = rv.what.version;
  else j["below"] = rv.what.below;
  j["reason"] = rv.reason;
  j["issued_at"] = base::format_time(rv.issued_at);
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace ddlgate::bundle
