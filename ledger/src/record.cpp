#include "ddlgate/ledger/record.h"

#include <algorithm>
#include <ctime>

#include "ddlgate/ledger/merkle.h"

namespace ddlgate::ledger {
namespace {

using nlohmann::json;

constexpr const char* kTypeNames[] = {
    "session_opened",     "session_closed",   "decision",       "outcome",
    "bundle_accepted",    "bundle_rejected",  "config_reloaded", "break_glass_opened",
    "break_glass_closed", "recovery_performed", "checkpoint",         "break_glass_refused",
    "session_statement",  "rollback_accepted", "key_rotated",   "bundle_revoked",
    "out_of_band",        "guard_tampered",   "schema_drift",
};

json session_json(const SessionInfo& s) {
  return json{{"session_id", s.session_id},         {"user", s.user},
              {"database", s.database},             {"client_address", s.client_address},
              {"application_name", s.application_name}};
}

std::string s(std::string_view v) { return std::string(v); }

// display_sql, cut to max bytes; a statement's length and SHA-256 with it when cut or `always`.
// The hash is of the bytes ddlgate held (the deparsed text, UTF-8), before any cut or JSON
// escaping, so that whoever has the text can show that it is the one recorded.
void put_display_sql(json& f, std::string_view sql, std::size_t max, bool always) {
  std::string_view kept = utf8_prefix(sql, max);
  f["display_sql"] = s(kept);
  if (always || kept.size() < sql.size()) {
    f["display_sql_bytes"] = static_cast<std::uint64_t>(sql.size());
    f["display_sql_sha256"] = "sha256:" + to_hex(sha256(sql));
  }
}

}  // namespace

const char* to_string(RecordType t) { return kTypeNames[static_cast<int>(t)]; }

std::optional<RecordType> record_type_from_string(std::string_view s) {
  for (int i = 0; i < static_cast<int>(std::size(kTypeNames)); ++i) {
    if (s == kTypeNames[i]) return static_cast<RecordType>(i);
  }
  return std::nullopt;
}

const char* to_string(Decision d) {
  switch (d) {
    case Decision::allowed: return "allowed";
    case Decision::denied: return "denied";
    case Decision::would_deny: return "would_deny";
    case Decision::break_glass: return "break_glass";
  }
  return "denied";
}

Record session_opened(const SessionInfo& si) { return {RecordType::session_opened, session_json(si)}; }

Record session_closed(std::string_view session_id, std::string_view reason) {
  return {RecordType::session_closed, json{{"session_id", s(session_id)}, {"reason", s(reason)}}};
}

Record decision(const DecisionInfo& d) {
  json f = session_json(d.session);
  f["decision"] = to_string(d.decision);
  f["statement_hash"] = d.statement_hash;
  f["class"] = d.statement_class;
  switch (d.decision) {
    case Decision::denied:
    case Decision::would_deny:
      // Unparseable: there is no display SQL (the source text may hold a password), so
      // neither length nor hash of anything.
      put_display_sql(f, d.display_sql, kRefusalSqlBytes, !d.statement_hash.empty());
      break;
    case Decision::break_glass: put_display_sql(f, d.display_sql, kStatementSqlBytes, false); break;
    case Decision::allowed: f["display_sql"] = d.display_sql; break;
  }
  if (d.approval) {
    f["approval"] = json{{"bundle", d.approval->bundle},
                         {"version", d.approval->version},
                         {"file", d.approval->file},
                         {"statement", d.approval->statement}};
    // Only a down approval says its part: an up approval's record is as it always was.
    if (d.approval->down) f["approval"]["part"] = "down";
  } else {
    f["approval"] = nullptr;
  }
  f["reason"] = d.reason;
  if (!d.spend.empty()) f["spend"] = d.spend;
  if (!d.token_id.empty()) f["token_id"] = d.token_id;
  return {RecordType::decision, std::move(f)};
}

void set_suppressed(Record& would_deny, std::uint64_t count) {
  if (count > 0) would_deny.fields["suppressed"] = count;
}

Record outcome_executed(std::string_view session_id, std::string_view statement_hash, std::string_view command_tag) {
  return {RecordType::outcome, json{{"session_id", s(session_id)},
                                    {"statement_hash", s(statement_hash)},
                                    {"outcome", "executed"},
                                    {"command_tag", s(command_tag)}}};
}

Record outcome_failed(std::string_view session_id, std::string_view statement_hash, std::string_view sqlstate) {
  return {RecordType::outcome, json{{"session_id", s(session_id)},
                                    {"statement_hash", s(statement_hash)},
                                    {"outcome", "failed"},
                                    {"sqlstate", s(sqlstate)}}};
}

Record outcome_rolled_back(std::string_view session_id, std::string_view statement_hash) {
  return {RecordType::outcome,
          json{{"session_id", s(session_id)}, {"statement_hash", s(statement_hash)}, {"outcome", "rolled_back"}}};
}

Record bundle_accepted(const BundleAcceptance& a) {
  json signers = json::array();
  for (const auto& g : a.signers) signers.push_back(json{{"key_id", g.key_id}, {"roles", g.roles}, {"name", g.name}});
  return {RecordType::bundle_accepted, json{{"bundle", a.bundle},
                                            {"version", a.version},
                                            {"manifest_sha256", a.manifest_sha256},
                                            {"source", a.source},
                                            {"repository", a.repository},
                                            {"commit", a.commit},
                                            {"pull_request", a.pull_request},
                                            {"ci_run", a.ci_run},
                                            {"signers", std::move(signers)}}};
}

Record bundle_rejected(std::string_view bundle, std::string_view version, std::string_view reason) {
  return {RecordType::bundle_rejected,
          json{{"bundle", s(bundle)}, {"version", s(version)}, {"reason", s(reason)}}};
}

Record bundle_revoked(const BundleRevocation& r) {
  json signers = json::array();
  for (const auto& g : r.signers) signers.push_back(json{{"key_id", g.key_id}, {"roles", g.roles}, {"name", g.name}});
  json f{{"bundle", r.bundle}, {"revocation_sha256", r.revocation_sha256}, {"source", r.source}, {"reason", r.reason},
         {"signers", std::move(signers)}};
  if (r.version != 0) f["version"] = std::to_string(r.version);
  else f["below"] = std::to_string(r.below);
  return {RecordType::bundle_revoked, std::move(f)};
}

Record config_reloaded(const ConfigChange& c) {
  auto names = [](const std::vector<std::string>& v) {
    json a = json::array();
    for (const auto& x : v) a.push_back(s(x));
    return a;
  };
  auto modes = [](const std::vector<std::pair<std::string, std::string>>& v) {
    json o = json::object();
    for (const auto& [name, mode] : v) o[s(name)] = s(mode);
    return o;
  };
  json enforcement{{"mode", s(c.mode)},
                   {"database_modes", modes(c.database_modes)},
                   {"user_modes", modes(c.user_modes)},
                   {"spend_approvals_once", c.spend_approvals_once},
                   {"record_all_statements", c.record_all_statements}};
  return {RecordType::config_reloaded, json{{"event", s(c.event)},
                                            {"path", s(c.path)},
                                            {"sha256", s(c.sha256)},
                                            {"applied", names(c.applied)},
                                            {"needs_restart", names(c.needs_restart)},
                                            {"enforcement", std::move(enforcement)}}};
}

Record break_glass_opened(const BreakGlassOpening& o) {
  json f = session_json(o.session);
  f["token_id"] = o.token_id;
  f["token_sha256"] = o.token_sha256;
  f["key_id"] = o.key_id;
  f["issuer"] = o.issuer;
  f["reason"] = o.reason;
  f["ticket"] = o.ticket;
  f["not_before"] = o.not_before;
  f["expires"] = o.expires;
  f["single_use"] = o.single_use;
  f["statements"] = o.statements;
  f["source"] = o.source;
  return {RecordType::break_glass_opened, std::move(f)};
}

Record break_glass_refused(const BreakGlassRefusal& r) {
  json f = session_json(r.session);
  f["token_id"] = r.token_id;
  f["token_sha256"] = r.token_sha256;
  f["check"] = r.check;
  f["detail"] = r.detail;
  f["source"] = r.source;
  return {RecordType::break_glass_refused, std::move(f)};
}

Record session_statement(const SessionInfo& si, std::string_view token_id, std::string_view statement_hash,
                         std::string_view statement_class, std::string_view display_sql, std::uint64_t execution) {
  json f = session_json(si);
  f["token_id"] = s(token_id);
  f["statement_hash"] = s(statement_hash);
  f["class"] = s(statement_class);
  put_display_sql(f, display_sql, kStatementSqlBytes, false);
  if (execution > 0) f["execution"] = execution;
  return {RecordType::session_statement, std::move(f)};
}

Record break_glass_closed(std::string_view session_id, std::string_view token_id, std::string_view reason) {
  return {RecordType::break_glass_closed,
          json{{"session_id", s(session_id)}, {"token_id", s(token_id)}, {"reason", s(reason)}}};
}

Record recovery_performed(std::string_view file, std::uint64_t offset, std::uint64_t bytes_cut,
                          std::string_view reason, std::string_view quarantine) {
  json f{{"file", s(file)}, {"offset", offset}, {"bytes_cut", bytes_cut}, {"reason", s(reason)}};
  if (!quarantine.empty()) f["quarantine"] = s(quarantine);
  return {RecordType::recovery_performed, std::move(f)};
}

Record rollback_accepted(const RollbackAccepted& a) {
  return {RecordType::rollback_accepted,
          json{{"kind", a.kind},           {"detail", a.detail},           {"copy_size", a.copy_size},
               {"copy_root", a.copy_root}, {"ledger_size", a.ledger_size}, {"ledger_root", a.ledger_root},
               {"copy_file", a.copy_file}, {"copy_sha256", a.copy_sha256}, {"by", a.by},
               {"reason", a.reason}}};
}

Record key_rotated(std::string_view old_key_b64, std::string_view new_key_b64, std::string_view endorsement,
                   std::string_view by) {
  return {RecordType::key_rotated, json{{"old_key", s(old_key_b64)},
                                        {"new_key", s(new_key_b64)},
                                        {"endorsement", s(endorsement)},
                                        {"by", s(by)}}};
}

Record out_of_band(const OutOfBandChange& c) {
  json f{{"database", c.database}, {"source", c.source}};
  if (c.source == "guard") {
    f["change_id"] = c.change_id;
    f["event"] = c.event;
    f["user"] = c.user;
    f["session_user"] = c.session_user;
    f["backend_pid"] = static_cast<std::uint64_t>(c.backend_pid < 0 ? 0 : c.backend_pid);
    f["backend_start"] = c.backend_start;
    f["at"] = c.at;
    f["command_tag"] = c.command_tag;
    f["object_type"] = c.object_type;
    f["object_identity"] = c.object_identity;
    f["statement_sha256"] = c.statement_sha256;
    f["display_sql"] = s(utf8_prefix(c.display_sql, kRefusalSqlBytes));
    f["detail"] = c.detail;
  } else if (c.source == "guard_refusal") {
    f["refusals"] = c.refusals;
    f["refusals_total"] = c.refusals_total;
  } else if (c.baseline) {
    f["baseline"] = true;
    f["objects"] = c.objects;
  } else {
    f["object"] = c.object;
    f["change"] = c.change;
    f["attribute"] = c.attribute;
    f["before"] = c.before;
    f["after"] = c.after;
  }
  f["reason"] = c.reason;
  return {RecordType::out_of_band, std::move(f)};
}

Record guard_tampered(std::string_view database, std::string_view state, const std::vector<std::string>& failures) {
  return {RecordType::guard_tampered, json{{"database", s(database)}, {"state", s(state)}, {"failures", failures}}};
}

Record schema_drift(std::string_view database, std::string_view state, std::uint64_t count,
                    const std::vector<std::string>& differences, std::string_view bundles) {
  constexpr std::size_t kMaxLines = 1000;
  std::vector<std::string> kept(differences.begin(),
                                differences.begin() + static_cast<std::ptrdiff_t>(std::min(differences.size(), kMaxLines)));
  return {RecordType::schema_drift, json{{"database", s(database)},
                                         {"state", s(state)},
                                         {"count", count},
                                         {"differences", std::move(kept)},
                                         {"bundles", s(bundles)}}};
}

Record checkpoint_record(std::uint64_t tree_size, std::string_view root_hex, std::string_view note) {
  return {RecordType::checkpoint, json{{"tree_size", tree_size}, {"root", s(root_hex)}, {"note", s(note)}}};
}

std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  // Back off over continuation bytes (10xxxxxx): the cut then falls before the lead byte of
  // the character it would have split. At most three, so invalid text cannot make it scan far.
  std::size_t end = max_bytes;
  for (int i = 0; i < 3 && end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80; ++i) --end;
  return text.substr(0, end);
}

std::string format_time(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  long frac = static_cast<long>(us % 1000000);
  if (frac < 0) {
    frac += 1000000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

bool is_record_time(std::string_view t) {
  // Exactly what format_time writes: YYYY-MM-DDTHH:MM:SS.ffffffZ. Both payload readers hold
  // records to this, so the envelope reader and the full parser accept the same records.
  constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
  if (t.size() != kShape.size()) return false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    bool ok = kShape[i] == 'd' ? (t[i] >= '0' && t[i] <= '9') : t[i] == kShape[i];
    if (!ok) return false;
  }
  return true;
}

std::string serialize_fields(const nlohmann::json& fields) {
  // Client-supplied text may be invalid UTF-8; replace rather than throw on the data path.
  return fields.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string serialize_payload(RecordType type, std::string_view fields_json, std::uint64_t seq,
                              std::string_view time) {
  // Keys in the order nlohmann::json (a std::map) serializes them, so parse + dump round-trips.
  std::string out;
  out.reserve(fields_json.size() + 96);
  out += "{\"fields\":";
  out += fields_json;
  out += ",\"seq\":";
  out += std::to_string(seq);
  out += ",\"time\":\"";
  out += time;
  out += "\",\"type\":\"";
  out += to_string(type);
  out += "\"}";
  return out;
}

std::string serialize_payload(const Record& r, std::uint64_t seq, std::string_view time) {
  return serialize_payload(r.type, serialize_fields(r.fields), seq, time);
}

Result<Envelope> parse_envelope(std::string_view payload) {
  constexpr std::string_view kHead = "{\"fields\":{";
  constexpr std::string_view kSeq = ",\"seq\":";
  constexpr std::string_view kTime = ",\"time\":\"";
  constexpr std::string_view kType = "\",\"type\":\"";
  if (payload.substr(0, kHead.size()) != kHead || payload.size() < kHead.size() + 2 ||
      payload.substr(payload.size() - 2) != "\"}") {
    return Error{"payload is not a record object"};
  }
  // Everything after the last ,"seq": is digits, a time and a type name, none of which can
  // contain that text, so the last occurrence is the envelope's own.
  auto seq_at = payload.rfind(kSeq);
  if (seq_at == std::string_view::npos || seq_at < kHead.size() || payload[seq_at - 1] != '}') {
    return Error{"payload has no sequence number after its fields"};
  }
  std::string_view rest = payload.substr(seq_at + kSeq.size(), payload.size() - 2 - seq_at - kSeq.size());
  auto time_at = rest.find(kTime);
  auto type_at = rest.find(kType);
  if (time_at == std::string_view::npos || type_at == std::string_view::npos || type_at < time_at) {
    return Error{"payload envelope is malformed"};
  }
  std::string_view digits = rest.substr(0, time_at);
  Envelope e;
  if (digits.empty() || digits.size() > 20 || (digits.size() > 1 && digits[0] == '0')) {
    return Error{"payload sequence number is not canonical"};
  }
  for (char c : digits) {
    if (c < '0' || c > '9') return Error{"payload sequence number is not a number"};
    e.seq = e.seq * 10 + static_cast<std::uint64_t>(c - '0');
  }
  std::string_view time = rest.substr(time_at + kTime.size(), type_at - time_at - kTime.size());
  if (!is_record_time(time)) return Error{"payload time is not in the writer's format"};
  e.time = time;
  auto type = record_type_from_string(rest.substr(type_at + kType.size()));
  if (!type) return Error{"payload: unknown record type"};
  e.type = *type;
  return e;
}

Result<ParsedRecord> parse_payload(std::string_view payload) {
  json j = json::parse(payload.begin(), payload.end(), nullptr, false);
  if (j.is_discarded()) return Error{"payload is not valid JSON"};
  if (!j.is_object() || j.size() != 4) return Error{"payload is not an object with exactly fields, seq, time, type"};
  auto f = j.find("fields");
  auto sq = j.find("seq");
  auto tm = j.find("time");
  auto ty = j.find("type");
  if (f == j.end() || !f->is_object()) return Error{"payload: \"fields\" missing or not an object"};
  if (sq == j.end() || !sq->is_number_unsigned()) return Error{"payload: \"seq\" missing or not an unsigned integer"};
  if (tm == j.end() || !tm->is_string()) return Error{"payload: \"time\" missing or not a string"};
  if (ty == j.end() || !ty->is_string()) return Error{"payload: \"type\" missing or not a string"};
  auto type = record_type_from_string(ty->get_ref<const std::string&>());
  if (!type) return Error{"payload: unknown record type \"" + ty->get<std::string>() + "\""};
  // Canonical form: anything else (duplicate keys, spaces, escapes written differently) would
  // let two byte strings mean the same record.
  if (j.dump(-1, ' ', false, json::error_handler_t::replace) != payload) {
    return Error{"payload is not in canonical form"};
  }
  if (!is_record_time(tm->get_ref<const std::string&>())) return Error{"payload time is not in the writer's format"};
  ParsedRecord r;
  r.seq = sq->get<std::uint64_t>();
  r.time = tm->get<std::string>();
  r.type = *type;
  r.fields = std::move(*f);
  return r;
}

}  // namespace ddlgate::ledger
