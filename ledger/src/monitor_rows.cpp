#include "ddlgate/ledger/monitor_rows.h"

#include <set>
#include <string_view>

#include <nlohmann/json.hpp>

#include "csv.h"
#include "ddlgate/ledger/file_io.h"
#include "ddlgate/ledger/segments.h"

namespace ddlgate::ledger {
namespace {

using nlohmann::json;
using detail::csv_field;

std::string str(const json& j, const char* name) {
  auto it = j.find(name);
  return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

std::string num(const json& j, const char* name) {
  auto it = j.find(name);
  return (it != j.end() && it->is_number_unsigned()) ? std::to_string(it->get<std::uint64_t>()) : std::string();
}

// The strings of an array field, each on a line of its own.
std::string lines(const json& j, const char* name) {
  std::string out;
  auto it = j.find(name);
  if (it == j.end() || !it->is_array()) return out;
  bool first = true;
  for (const auto& x : *it) {
    if (!x.is_string()) continue;
    out += (first ? "" : "\n") + x.get<std::string>();
    first = false;
  }
  return out;
}

}  // namespace

bool is_monitor_record(RecordType t) {
  return t == RecordType::out_of_band || t == RecordType::guard_tampered || t == RecordType::schema_drift;
}

std::string monitor_kind(const ParsedRecord& r) {
  const json& f = r.fields;
  switch (r.type) {
    case RecordType::out_of_band: {
      const std::string source = str(f, "source");
      if (source == "guard") return "out_of_band";
      if (source == "guard_refusal") return "guard_refusal";
      if (source == "catalog") {
        auto b = f.find("baseline");
        return b != f.end() && b->is_boolean() && b->get<bool>() ? "catalog_baseline" : "catalog_change";
      }
      return "unknown";
    }
    case RecordType::guard_tampered: {
      const std::string state = str(f, "state");
      return state == "tampered" ? "guard_tampered" : state == "intact" ? "guard_intact" : "unknown";
    }
    case RecordType::schema_drift: {
      const std::string state = str(f, "state");
      return state == "drift" ? "drift" : state == "clear" ? "drift_clear" : "unknown";
    }
    default: return "unknown";
  }
}

std::string drift_kinds(const ParsedRecord& r) {
  std::set<std::string> kinds;
  auto it = r.fields.find("differences");
  if (it != r.fields.end() && it->is_array()) {
    for (const auto& x : *it) {
      if (!x.is_string()) continue;
      const auto& line = x.get_ref<const std::string&>();
      // "table public.t: ..." (drift's Difference::to_string): the kind is the first word.
      const auto space = line.find(' ');
      if (space != std::string::npos && space > 0) kinds.insert(line.substr(0, space));
    }
  }
  std::string out;
  for (const auto& k : kinds) out += (out.empty() ? "" : ";") + k;
  return out;
}

void write_monitor_header(ExportFormat format, std::ostream& out) {
  if (format == ExportFormat::csv) {
    out << "seq,time,kind,database,state,at,change_id,event,command_tag,object_type,object_identity,user,"
           "session_user,backend_pid,statement_sha256,display_sql,detail,refused,count,refusals_total,object,change,"
           "attribute,before,after,failures,drift_kinds,differences,bundles,reason\r\n";
  } else {
    out << json{{"kind", "monitor_export"}, {"format", 1}}.dump() << '\n';
  }
}

void write_monitor_row(const ParsedRecord& r, ExportFormat format, std::ostream& out) {
  const std::string kind = monitor_kind(r);
  if (format == ExportFormat::jsonl) {
    json line{{"kind", "monitor"},
              {"monitor_kind", kind},
              {"record", json{{"seq", r.seq}, {"time", r.time}, {"type", to_string(r.type)}, {"fields", r.fields}}}};
    out << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
    return;
  }
  const json& f = r.fields;
  // Whether the guard refused it: a change the guard recorded or the catalog shows was made; a
  // refusal count is of changes the server refused. Empty where the question does not arise.
  std::string refused;
  if (kind == "out_of_band" || kind == "catalog_change") refused = "no";
  if (kind == "guard_refusal") refused = "yes";
  const std::string count = kind == "guard_refusal"                ? num(f, "refusals")
                            : kind == "catalog_baseline"           ? num(f, "objects")
                            : r.type == RecordType::schema_drift   ? num(f, "count")
                                                                   : std::string();
  const std::string cells[] = {std::to_string(r.seq), r.time, kind, str(f, "database"), str(f, "state"), str(f, "at"),
                               num(f, "change_id"), str(f, "event"), str(f, "command_tag"), str(f, "object_type"),
                               str(f, "object_identity"), str(f, "user"), str(f, "session_user"), num(f, "backend_pid"),
                               str(f, "statement_sha256"), str(f, "display_sql"), str(f, "detail"), refused, count,
                               num(f, "refusals_total"), str(f, "object"), str(f, "change"), str(f, "attribute"),
                               str(f, "before"), str(f, "after"), lines(f, "failures"),
                               r.type == RecordType::schema_drift ? drift_kinds(r) : std::string(),
                               lines(f, "differences"), str(f, "bundles"), str(f, "reason")};
  bool first = true;
  for (const auto& c : cells) {
    if (!first) out << ',';
    out << csv_field(c);
    first = false;
  }
  out << "\r\n";
}

Status export_monitor(const std::filesystem::path& dir, const ExportFilter& filter, ExportFormat format,
                      std::ostream& out) {
  if (filter.type || filter.decision || filter.session) {
    return Error{"the monitor export has one row per out_of_band, guard_tampered or schema_drift record: "
                 "--type, --decision and --session do not apply"};
  }
  write_monitor_header(format, out);
  auto scan = scan_segments(*posix_file_system(), dir, [&](const ScannedRecord& r) -> std::optional<Error> {
    // Only the monitor's records are parsed: the envelope (read without the fields) says which.
    auto envelope = parse_envelope(r.payload);
    if (envelope && !is_monitor_record(envelope->type)) return std::nullopt;
    auto rec = parse_payload(r.payload);
    if (!rec) return Error{"record " + std::to_string(r.seq) + ": " + rec.error().reason};
    if (!is_monitor_record(rec->type) || !filter.matches(*rec)) return std::nullopt;
    write_monitor_row(*rec, format, out);
    return std::nullopt;
  });
  if (scan.damage) return *scan.damage;
  if (!out) return Error{"writing the export failed"};
  return Ok{};
}

}  // namespace ddlgate::ledger
