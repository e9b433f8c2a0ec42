// What serve's monitor found around ddlgate (docs/ledger.md, "Monitor export"): one row per
// out_of_band, guard_tampered or schema_drift record, with the fields an auditor reads in columns
// of their own. Used by `ddlgate ledger export --rows monitor`, the report and evidence packs.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>

#include "ddlgate/ledger/error.h"
#include "ddlgate/ledger/record.h"
#include "ddlgate/ledger/verify.h"

namespace ddlgate::ledger {

// out_of_band, guard_tampered and schema_drift: the records the monitor rows are made of.
bool is_monitor_record(RecordType t);

// What a monitor record says, in one word: out_of_band (a row of the guard's ddlgate.changes),
// guard_refusal, catalog_change, catalog_baseline, guard_tampered, guard_intact, drift,
// drift_clear; "unknown" for a source or state this version does not know.
std::string monitor_kind(const ParsedRecord& r);

// The distinct object kinds of a schema_drift record's differences ("table", "column", ...),
// sorted, joined with ';'.
std::string drift_kinds(const ParsedRecord& r);

// The views' headers and rows (CSV: RFC 4180, CRLF, formula injection guarded; JSON lines:
// {"kind":"monitor","monitor_kind":K,"record":R}).
void write_monitor_header(ExportFormat format, std::ostream& out);
void write_monitor_row(const ParsedRecord& r, ExportFormat format, std::ostream& out);

// Reads dir once and writes the header and a row for each monitor record the filter picks
// (from, to, database, user; the filter's type, decision and session must be unset).
Status export_monitor(const std::filesystem::path& dir, const ExportFilter& filter, ExportFormat format,
                      std::ostream& out);

}  // namespace ddlgate::ledger
