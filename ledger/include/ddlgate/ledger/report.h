// The auditor's HTML report of one or more ledgers (docs/ledger.md, "Report"), built on the
// statement export's joined rows. A library function, so that `ddlgate report` and whatever
// recomputes a report from records (an evidence pack) make the same bytes from the same records:
// the page holds no time of its own making.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "ddlgate/ledger/checkpoint.h"
#include "ddlgate/ledger/error.h"
#include "ddlgate/ledger/record.h"
#include "ddlgate/ledger/verify.h"
#include "ddlgate/ledger/witness.h"

namespace ddlgate::ledger {

struct ReportOptions {
  std::vector<std::filesystem::path> ledgers;  // merged into one page, each row naming its ledger
  ExportFilter filter;                         // only from and to are meant (decisions in that window)
  std::string from, to;                        // the window as given, for the page's heading
  const NoteVerifier* key = nullptr;           // verify each ledger first; null: the page says not verified
  // The verification section names which of these witnesses cosigned each checkpoint shown;
  // with witness_quorum > 0, a ledger whose latest checkpoint has fewer of them fails (as in
  // `ledger verify --witness-quorum`).
  std::vector<VerifierKey> witness_keys;
  std::size_t witness_quorum = 0;
  // The environment of each ledger, in the order of `ledgers` (`--environment`); empty: each
  // ledger's is read from the manifests of the bundles it accepted (a proxy accepts only bundles
  // of its bundles.environment), checked against the SHA-256 the ledger recorded.
  std::vector<std::string> environments;
  // Where those bundle directories are looked up by name; empty: the path the ledger recorded.
  std::filesystem::path registry_dir;
};

// Writes the page to out. Returns whether every ledger verified (true without a key); a ledger
// that does not is named on the page with its problem. A ledger that cannot be read is the Error.
Result<bool> write_report(const ReportOptions& options, std::ostream& out);

// The page of records read and verified elsewhere (an evidence pack's, docs/evidence.md): one
// ledger, named `name` on every row, whose verification row says `verification`.
struct ReportRecords {
  std::string name, origin, verification;
  std::uint64_t records = 0, checkpoints = 0, covered = 0;
  // Hands each record to the sink in sequence order, so that the records need not be held
  // whole; an error stops it and is the page's.
  std::function<Status(const std::function<void(const ParsedRecord&)>&)> each;
};
Status write_report_of_records(const ReportRecords& records, const ExportFilter& filter, const std::string& from,
                               const std::string& to, std::ostream& out);

}  // namespace ddlgate::ledger
