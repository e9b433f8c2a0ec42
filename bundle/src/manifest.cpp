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
  }
  return "plain";
}

std::optional<MigrationTool> tool_from_string(std::string_view name) {
  for (auto t : {MigrationTool::plain, MigrationTool::atlas, MigrationTool::golang_migrate, MigrationTool::goose,
                 MigrationTool::flyway, MigrationTool::dbmate, MigrationTool::sqitch}) {
    if (to_string(t) == name) return t;
  }
  return std::nullopt;
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
  if (!m.format.empty() && m.format != kBundleFormat) {
    r.fail("format", "is '" + m.format + "', this ddlgate reads " + std::string(kBundleFormat));
    return std::nullopt;  // another format: nothing else can be trusted to mean the same
  }
  m.app = r.string("app");
  if (auto v = r.uint("version")) m.version = *v;
  m.environment = r.string("environment");
  if (const json* dbs = r.array("databases")) {
    for (const auto& d : *dbs) {
      if (!d.is_string() || d.get_ref<const std::string&>().empty()) r.fail("databases", "must hold non-empty strings");
      else m.databases.push_back(d.get<std::string>());
    }
  }
  for (auto [key, out] : {std::pair{"not_before", &m.not_before}, std::pair{"not_after", &m.not_after}}) {
    std::string t = r.string(key);
    if (t.empty()) continue;
    if (auto tp = base::parse_time(t)) *out = *tp;
    else r.fail(key, "is not an RFC 3339 UTC time: '" + t + "'");
  }
  std::string tool = r.string("tool");
  if (!tool.empty()) {
    if (auto t = tool_from_string(tool)) m.tool = *t;
    else r.fail("tool", "is not a known tool: '" + tool + "'");
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
      if (const json* sts = fr.array("statements")) {
        for (const auto& st : *sts) {
          if (!st.is_object()) {
            problems->push_back({fwhere, "statements must hold objects"});
            continue;
          }
          ObjectReader sr(st, fwhere + " statement", problems);
          ManifestStatement ms;
          if (auto i = sr.uint("index")) ms.index = static_cast<std::size_t>(*i);
          if (auto c = read_class(sr)) ms.cls = *c;
          ms.hash = sr.string("hash");
          if (!ms.hash.empty() && !base::is_sha256_text(ms.hash)) sr.fail("hash", "is not sha256:<64 hex digits>");
          ms.sql = sr.string("sql");
          sr.report_unknown();
          mf.statements.push_back(std::move(ms));
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
      bs.tool = br.string("tool");
      if (auto c = read_class(br)) bs.cls = *c;
      bs.hash = br.string("hash");
      if (!bs.hash.empty() && !base::is_sha256_text(bs.hash)) br.fail("hash", "is not sha256:<64 hex digits>");
      bs.sql = br.string("sql");
      auto rep = br.boolean("repeatable");
      if (rep && !*rep) br.fail("repeatable", "must be true: bookkeeping statements are repeatable");
      br.report_unknown();
      m.bookkeeping.push_back(std::move(bs));
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
  j["databases"] = m.databases;
  j["not_before"] = base::format_time(m.not_before);
  j["not_after"] = base::format_time(m.not_after);
  j["tool"] = std::string(to_string(m.tool));
  if (!m.source.empty()) {
    ordered_json s = ordered_json::object();
    if (!m.source.repository.empty()) s["repository"] = m.source.repository;
    if (!m.source.commit.empty()) s["commit"] = m.source.commit;
    if (!m.source.pull_request.empty()) s["pull_request"] = m.source.pull_request;
    if (!m.source.ci_run.empty()) s["ci_run"] = m.source.ci_run;
    j["source"] = s;
  }
  j["hash_definition"] = m.hash_definition;
  ordered_json files = ordered_json::array();
  for (const auto& f : m.files) {
    ordered_json sts = ordered_json::array();
    for (const auto& st : f.statements) {
      sts.push_back(ordered_json{{"index", st.index}, {"class", std::string(to_string(st.cls))}, {"hash", st.hash},
                                 {"sql", st.sql}});
    }
    files.push_back(ordered_json{{"path", f.path}, {"sha256", f.sha256}, {"statements", sts}});
  }
  j["files"] = files;
  ordered_json bk = ordered_json::array();
  for (const auto& b : m.bookkeeping) {
    bk.push_back(ordered_json{{"tool", b.tool}, {"class", std::string(to_string(b.cls))}, {"hash", b.hash},
                              {"sql", b.sql}, {"repeatable", true}});
  }
  j["bookkeeping"] = bk;
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

}  // namespace ddlgate::bundle
