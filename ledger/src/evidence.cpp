#include "ddlgate/ledger/evidence.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <streambuf>

#include <nlohmann/json.hpp>

#include "ddlgate/base/file.h"
#include "ddlgate/base/json.h"
#include "ddlgate/base/sha256.h"
#include "ddlgate/ledger/file_io.h"
#include "ddlgate/ledger/keys.h"
#include "ddlgate/ledger/merkle.h"
#include "ddlgate/ledger/monitor_rows.h"
#include "ddlgate/ledger/record.h"
#include "ddlgate/ledger/report.h"
#include "ddlgate/ledger/segments.h"
#include "ddlgate/ledger/verify.h"
#include "ddlgate/ledger/zip.h"

namespace ddlgate::ledger {
namespace {

using nlohmann::json;

// Entry names (docs/evidence.md, "Entries").
constexpr const char* kManifestEntry = "evidence.json";
constexpr const char* kFrontierEntry = "frontier.json";
constexpr const char* kStartEntry = "checkpoints/start.txt";
constexpr const char* kEndEntry = "checkpoints/end.txt";
constexpr const char* kStartCosigEntry = "cosignatures/start.txt";
constexpr const char* kEndCosigEntry = "cosignatures/end.txt";
constexpr const char* kRecordsEntry = "records.jsonl";
constexpr const char* kExportJsonlEntry = "export.jsonl";
constexpr const char* kExportCsvEntry = "export.csv";
constexpr const char* kBeforeEntry = "boundary/before.json";
constexpr const char* kAfterEntry = "boundary/after.json";
constexpr const char* kReportEntry = "report.html";
constexpr const char* kMonitorJsonlEntry = "monitor.jsonl";
constexpr const char* kMonitorCsvEntry = "monitor.csv";
constexpr std::string_view kBundlesPrefix = "bundles/";
constexpr std::string_view kKeysPrefix = "keys/";

// keys/<R>.json for the key rotation record at R (R in decimal, no leading zero).
std::string key_entry_name(std::uint64_t seq) { return std::string(kKeysPrefix) + std::to_string(seq) + ".json"; }

json hex_list(const std::vector<Hash>& hs) {
  json a = json::array();
  for (const auto& h : hs) a.push_back(to_hex(h));
  return a;
}

// Hands records to a sink one at a time, in sequence order; an error stops it.
using RecordFeed = std::function<Status(const std::function<void(const ParsedRecord&)>&)>;

// report.html: `ddlgate report` of the records [a, b) and, before them, the pack's bundle_accepted
// records older than a (which approvals in the range join to), for the period of evidence.json.
// Export and verify call it with the same records (range hands them over one at a time), so
// verify's copy is byte for byte the pack's.
Status write_report(const std::string& origin, std::uint64_t a, std::uint64_t b, std::uint64_t notes,
                    const std::string& from, const std::string& to, std::vector<const ParsedRecord*> older_accepted,
                    const RecordFeed& range, std::ostream& out) {
  ReportRecords r;
  r.name = origin + " records " + std::to_string(a) + ".." + std::to_string(b - 1);
  r.origin = origin;
  r.verification = "records " + std::to_string(a) + ".." + std::to_string(b - 1) +
                   " of an evidence pack: `ddlgate evidence verify` checks them against the checkpoints for tree "
                   "sizes " + std::to_string(a) + " and " + std::to_string(b);
  r.records = b - a;
  r.checkpoints = notes;
  r.covered = b - a;
  std::sort(older_accepted.begin(), older_accepted.end(),
            [](const ParsedRecord* x, const ParsedRecord* y) { return x->seq < y->seq; });
  r.each = [&](const std::function<void(const ParsedRecord&)>& sink) -> Status {
    for (const auto* rec : older_accepted) sink(*rec);
    return range(sink);
  };
  ExportFilter filter;
  if (!from.empty()) filter.from = from;
  if (!to.empty()) filter.to = to;
  return write_report_of_records(r, filter, from, to, out);
}

// An ostream's bytes into the entry a ZipStreamWriter has begun, through a small buffer; the
// first error of the writer is kept (the stream then fails).
class EntryBuf final : public std::streambuf {
 public:
  explicit EntryBuf(ZipStreamWriter& w) : w_(w) { setp(buf_.data(), buf_.data() + buf_.size()); }
  const std::optional<Error>& error() const { return error_; }

 protected:
  int_type overflow(int_type c) override {
    if (!drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }
  int sync() override { return drain() ? 0 : -1; }

 private:
  bool drain() {
    if (error_) return false;
    if (pptr() > pbase()) {
      if (auto st = w_.write(std::string_view(pbase(), static_cast<std::size_t>(pptr() - pbase()))); !st) {
        error_ = st.error();
        return false;
      }
      setp(buf_.data(), buf_.data() + buf_.size());
    }
    return true;
  }
  ZipStreamWriter& w_;
  std::array<char, 16 * 1024> buf_{};
  std::optional<Error> error_;
};

// Compares what is written to it with have as it comes, holding none of it: the offset of the
// first byte that differs, or where one of the two ends before the other.
class CompareBuf final : public std::streambuf {
 public:
  explicit CompareBuf(std::string_view have) : have_(have) {}
  std::optional<std::size_t> mismatch() const {
    if (diff_) return diff_;
    if (at_ != have_.size()) return std::min(at_, have_.size());
    return std::nullopt;
  }

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    if (!diff_ && n > 0) {
      std::string_view in(s, static_cast<std::size_t>(n));
      auto rest = have_.substr(std::min(at_, have_.size()));
      auto m = std::mismatch(in.begin(), in.end(), rest.begin(), rest.end());
      if (m.first != in.end()) diff_ = at_ + static_cast<std::size_t>(m.first - in.begin());
    }
    at_ += static_cast<std::size_t>(n);
    return n;
  }
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      const char ch = traits_type::to_char_type(c);
      xsputn(&ch, 1);
    }
    return traits_type::not_eof(c);
  }

 private:
  std::string_view have_;
  std::size_t at_ = 0;
  std::optional<std::size_t> diff_;
};

// The entry name, its bytes written by body to a stream as they come (not held whole).
Status stream_entry(ZipStreamWriter& out, const std::string& name, const std::function<Status(std::ostream&)>& body) {
  if (auto st = out.begin_entry(name); !st) return st;
  EntryBuf buf(out);
  std::ostream o(&buf);
  auto st = body(o);
  o.flush();
  if (buf.error()) return *buf.error();
  if (!st) return st;
  if (!o) return Error{"writing " + name + " failed"};
  return out.end_entry();
}

// The notes of cosigned whose body is cp's, one after another.
std::string cosignatures_of(const Checkpoint& cp, const std::vector<Checkpoint>& cosigned, std::size_t* count) {
  std::string out;
  for (const auto& n : cosigned) {
    if (n.body == cp.body) {
      out += n.text;
      ++*count;
    }
  }
  return out;
}

// 64 lowercase hex digits (how the ledger writes a manifest's SHA-256).
bool is_hex_sha256(std::string_view s) {
  auto h = hash_from_hex(s);
  return h && to_hex(*h) == s;
}


// Hands the records [from, to) of dir to fn in order, each checked against the leaf hashes of
// the first pass (tree): the segments are read again for each entry rather than held, and a
// record that changed between the two reads stops the pack.
Status scan_range(const std::filesystem::path& dir, const FullTree& tree, std::uint64_t from, std::uint64_t to,
                  const std::function<std::optional<Error>(std::uint64_t seq, std::string_view payload)>& fn) {
  if (from >= to) return Ok{};
  std::uint64_t next = from;
  bool done = false;
  auto scan = scan_segments(*posix_file_system(), dir, [&](const ScannedRecord& r) -> std::optional<Error> {
    if (r.seq < from) return std::nullopt;
    if (r.seq >= to) {
      done = true;
      return Error{"(end of range)"};
    }
    if (r.seq != next || leaf_hash(r.payload) != tree.leaf(r.seq)) {
      return Error{"record " + std::to_string(r.seq) + " changed while the pack was written", dir.string()};
    }
    ++next;
    return fn(r.seq, r.payload);
  }, from);
  if (scan.damage && !done) return *scan.damage;
  if (next != to) {
    return Error{"records " + std::to_string(next) + ".." + std::to_string(to - 1) + " went away while the pack was written",
                 dir.string()};
  }
  return Ok{};
}

// monitor.jsonl / monitor.csv: the monitor export's rows (monitor_rows.h) of the range's records,
// unfiltered. Export and verify both write it from the records.
Status write_monitor_entry(const ExportRecordFeed& feed, ExportFormat format, std::ostream& out) {
  write_monitor_header(format, out);
  auto st = feed(true, [&](std::uint64_t, std::string_view, const ParsedRecord* r) {
    if (is_monitor_record(r->type)) write_monitor_row(*r, format, out);
  });
  if (!st) return st;
  if (!out) return Error{"writing the monitor rows failed"};
  return Ok{};
}

// Writes the pack of dir for options to out, entry by entry (docs/evidence.md, "Entries"). The
// segments are read once for the tree, the range and the bundles, then once more for each entry
// made of the range's records, so that no payload or parsed record of the range is held.
Status write_pack(const std::filesystem::path& dir, const EvidenceExportOptions& options, ZipStreamWriter& out,
                  EvidenceSummary* summary) {
  // Never a pack that `evidence verify` would refuse to read.
  out.limit(kMaxEvidencePackBytes, ZipLimits{}.max_entry_size,
            "the most `evidence verify` reads: export a shorter period with --from and --to");
  if (!std::filesystem::is_directory(dir)) return Error{"not a ledger directory", dir.string()};
  // Every signed note of the ledger by tree size: the checkpoints file, then batch seals for
  // sizes it does not have.
  std::map<std::uint64_t, Checkpoint> notes;
  auto cp_path = dir / kCheckpointsFileName;
  if (std::filesystem::exists(cp_path)) {
    std::string text;
    if (auto ec = posix_file_system()->read_file(cp_path, kMaxSegmentReadSize, &text)) {
      return Error{"cannot read checkpoints", cp_path.string(), -1, ec};
    }
    auto parsed = parse_checkpoints(text);
    if (!parsed) return Error{parsed.error().reason, cp_path.string(), parsed.error().offset};
    for (auto& cp : *parsed) notes.emplace(cp.size, std::move(cp));
  }
  auto cosigned = read_cosignatures(dir / kCosignaturesFileName);
  if (!cosigned) return cosigned.error();

  // The first pass: the tree, the records within the bounds, and the few records the pack may
  // need whole (bundle_accepted and key_rotated, each a handful per ledger).
  FullTree tree;
  std::uint64_t first = std::numeric_limits<std::uint64_t>::max(), last = 0;
  struct Accepted {
    ParsedRecord rec;
    std::string payload;
  };
  std::map<std::uint64_t, Accepted> accepted;            // the bundle_accepted records, by seq
  std::map<std::uint64_t, std::string> kept_payloads;    // key_rotated records, by seq
  std::vector<std::uint64_t> monitor_seqs;               // the monitor's records (format 3), in order
  auto scan = scan_segments(*posix_file_system(), dir, [&](const ScannedRecord& r) -> std::optional<Error> {
    // The envelope gives time and type without parsing the fields (the slow part).
    auto env = parse_envelope(r.payload);
    if (!env) return Error{"record " + std::to_string(r.seq) + ": " + env.error().reason};
    if (env->seq != r.seq || r.seq != tree.size()) {
      return Error{"record " + std::to_string(r.seq) + ": payload says sequence " + std::to_string(env->seq)};
    }
    tree.append(leaf_hash(r.payload));
    if ((options.from.empty() || env->time >= options.from) && (options.to.empty() || env->time <= options.to)) {
      first = std::min(first, r.seq);
      last = std::max(last, r.seq + 1);
    }
    if (env->type == RecordType::key_rotated) kept_payloads.emplace(r.seq, std::string(r.payload));
    if (is_monitor_record(env->type)) monitor_seqs.push_back(r.seq);
    if (env->type != RecordType::bundle_accepted) return std::nullopt;
    auto rec = parse_payload(r.payload);
    if (!rec) return Error{"record " + std::to_string(r.seq) + ": " + rec.error().reason};
    accepted.emplace(r.seq, Accepted{std::move(*rec), std::string(r.payload)});
    return std::nullopt;
  }, 0, [&](const ScannedBatch& b) -> std::optional<Error> {
    if (!b.seal || notes.count(b.tree_size)) return std::nullopt;
    auto cp = parse_checkpoint(*b.seal);
    if (!cp) return Error{"batch seal for tree size " + std::to_string(b.tree_size) + ": " + cp.error().reason};
    notes.emplace(b.tree_size, std::move(*cp));
    return std::nullopt;
  });
  if (scan.damage) return *scan.damage;
  const std::uint64_t n = tree.size();

  // [first, last) are the records whose time is within the bounds.
  if (first >= last) {
    return Error{"no record between " + (options.from.empty() ? std::string("the start") : options.from) + " and " +
                     (options.to.empty() ? std::string("the end") : options.to),
                 dir.string()};
  }
  // a: the largest signed size at or before first (0, the empty tree, needs no note); b: the
  // smallest signed size at or after last.
  std::uint64_t a = 0;
  const Checkpoint* cp_a = nullptr;
  const Checkpoint* cp_b = nullptr;
  for (const auto& [size, cp] : notes) {
    if (size == 0 || size > n) continue;
    if (size <= first) {
      a = size;
      cp_a = &cp;
    }
    if (size >= last && !cp_b) cp_b = &cp;
  }
  if (!cp_b) {
    return Error{"no signed checkpoint covers record " + std::to_string(last - 1) + " yet (try again after the next)",
                 dir.string()};
  }
  const std::uint64_t b = cp_b->size;
  if (cp_a && cp_a->origin != cp_b->origin) return Error{"the two checkpoints have different origins", dir.string()};

  // The pack's export: of the records [a, b), proved by the two notes, from the frontier at a
  // (the whole ledger's tree gives the same proofs: they use no leaf at or after b).
  std::vector<Checkpoint> pack_notes;
  if (cp_a) pack_notes.push_back(*cp_a);
  if (!cp_a || cp_a->size != b) pack_notes.push_back(*cp_b);
  // The records outside the range that the pack holds whole (a - 1 and b, the neighbours).
  std::map<std::uint64_t, std::string> neighbours;
  auto fetch = [&](std::uint64_t seq) -> Status {
    if (neighbours.count(seq) || accepted.count(seq) || kept_payloads.count(seq)) return Ok{};
    return scan_range(dir, tree, seq, seq + 1, [&](std::uint64_t s, std::string_view payload) -> std::optional<Error> {
      neighbours.emplace(s, std::string(payload));
      return std::nullopt;
    });
  };
  if (a > 0) {
    if (auto st = fetch(a - 1); !st) return st;
  }
  if (b < n) {
    if (auto st = fetch(b); !st) return st;
  }
  auto payload_of = [&](std::uint64_t s) -> const std::string& {
    if (auto it = neighbours.find(s); it != neighbours.end()) return it->second;
    if (auto it = accepted.find(s); it != accepted.end()) return it->second.payload;
    return kept_payloads.at(s);
  };
  // The range's records, from the segments, for each entry made of them; parsed only when asked.
  std::string first_time, last_time;
  const ExportRecordFeed feed = [&](bool parse, const ExportRecordSink& sink) -> Status {
    return scan_range(dir, tree, a, b, [&](std::uint64_t seq, std::string_view payload) -> std::optional<Error> {
      if (!parse) {
        sink(seq, payload, nullptr);
        return std::nullopt;
      }
      auto rec = parse_payload(payload);
      if (!rec) return Error{"record " + std::to_string(seq) + ": " + rec.error().reason};
      if (seq == a) first_time = rec->time;
      if (seq + 1 == b) last_time = rec->time;
      sink(seq, payload, &*rec);
      return std::nullopt;
    });
  };

  // Format 3 only when the range holds the monitor's records: a pack without them is the one
  // format 2 was, byte for byte.
  const auto m = std::lower_bound(monitor_seqs.begin(), monitor_seqs.end(), a);
  const bool with_monitor = m != monitor_seqs.end() && *m < b;
  if (auto st = out.add(kManifestEntry, json{{"format", with_monitor ? kEvidenceFormat : kEvidenceFormatV2},
                                          {"origin", cp_b->origin},
                                          {"from", options.from},
                                          {"to", options.to},
                                          {"start", a},
                                          {"end", b}}
                                         .dump() +
                                         "\n"); !st) return st;
  if (auto st = out.add(kFrontierEntry, json{{"tree_size", a}, {"hashes", hex_list(tree.frontier(a))}}.dump() + "\n"); !st) return st;
  std::size_t cosig_notes = 0;
  if (cp_a) {
    if (auto st = out.add(kStartEntry, cp_a->text); !st) return st;
    auto c = cosignatures_of(*cp_a, *cosigned, &cosig_notes);
    if (!c.empty()) {
      if (auto st = out.add(kStartCosigEntry, c); !st) return st;
    }
  }
  if (auto st = out.add(kEndEntry, cp_b->text); !st) return st;
  if (auto c = cosignatures_of(*cp_b, *cosigned, &cosig_notes); !c.empty()) {
    if (auto st = out.add(kEndCosigEntry, std::move(c)); !st) return st;
  }
  if (auto st = stream_entry(out, kRecordsEntry, [&](std::ostream& o) -> Status {
        return feed(false, [&](std::uint64_t, std::string_view payload, const ParsedRecord*) { o << payload << '\n'; });
      });
      !st) {
    return st;
  }
  // Each bundle that approved a statement in [a, b): the latest bundle_accepted record of its
  // bundle and version before the statement (found while export.csv parses the range).
  std::map<std::pair<std::string, std::string>, std::vector<std::uint64_t>> accepted_at;  // (bundle, version): seqs
  for (const auto& [seq, acc] : accepted) {
    if (seq >= b) break;
    accepted_at[{acc.rec.fields.value("bundle", std::string()), acc.rec.fields.value("version", std::string())}]
        .push_back(seq);
  }
  std::set<std::uint64_t> needed;  // seqs of bundle_accepted records
  std::optional<Error> unapproved;
  auto note_approval = [&](const ParsedRecord& r) {
    if (unapproved || r.type != RecordType::decision) return;
    auto ap = r.fields.find("approval");
    if (ap == r.fields.end() || !ap->is_object()) return;
    const std::string bundle = ap->value("bundle", std::string()), version = ap->value("version", std::string());
    auto it = accepted_at.find({bundle, version});
    auto at = it == accepted_at.end() ? std::vector<std::uint64_t>::const_iterator{}
                                      : std::lower_bound(it->second.begin(), it->second.end(), r.seq);
    if (it == accepted_at.end() || at == it->second.begin()) {
      unapproved = Error{"record " + std::to_string(r.seq) + " is approved by bundle " + bundle + " version " + version +
                             ", which no earlier bundle_accepted record names",
                         dir.string()};
      return;
    }
    needed.insert(*std::prev(at));
  };
  for (const auto& entry : {std::pair{kExportJsonlEntry, ExportFormat::jsonl}, std::pair{kExportCsvEntry, ExportFormat::csv}}) {
    // A named format, not a structured binding: clang 14 (the fuzz build) cannot capture one.
    const ExportFormat format = entry.second;
    const ExportRecordFeed entry_feed = [&](bool parse, const ExportRecordSink& sink) -> Status {
      return feed(parse, [&](std::uint64_t seq, std::string_view payload, const ParsedRecord* rec) {
        if (rec) note_approval(*rec);
        sink(seq, payload, rec);
      });
    };
    if (auto st = stream_entry(out, entry.first, [&](std::ostream& o) {
          return write_export_streamed(tree, b, pack_notes, b - a, entry_feed, format, o);
        });
        !st) {
      return st;
    }
  }
  if (unapproved) return *unapproved;
  if (with_monitor) {
    for (const auto& entry : {std::pair{kMonitorJsonlEntry, ExportFormat::jsonl}, std::pair{kMonitorCsvEntry, ExportFormat::csv}}) {
      const ExportFormat format = entry.second;
      if (auto st = stream_entry(out, entry.first, [&](std::ostream& o) { return write_monitor_entry(feed, format, o); });
          !st) {
        return st;
      }
    }
  }
  // The records next to the range, with proofs, so that verify sees that they are outside the
  // period: record a-1 in the tree of b, record b in the next signed tree (and that tree's
  // consistency with b's). None after b when the ledger ends there.
  if (a > 0) {
    if (auto st = out.add(kBeforeEntry, json{{"seq", a - 1},
                                          {"payload", payload_of(a - 1)},
                                          {"proof", hex_list(tree.inclusion_proof(a - 1, b))}}
                                             .dump() +
                                         "\n"); !st) return st;
  }
  const Checkpoint* cp_c = nullptr;
  for (const auto& [size, cp] : notes) {
    if (size > b && size <= n) {
      cp_c = &cp;
      break;
    }
  }
  std::vector<ZipEntry> key_entries;
  // The key rotations below the pack's last note (docs/ledger.md, "Key rotation"): each record
  // with its proof in the old key's note for the tree that ends with it, and that note's
  // consistency with the last note, so that verify pinned to the first key follows the chain.
  {
    auto chain = KeyChain::load(dir, cp_b->origin, std::nullopt, std::nullopt, *posix_file_system());
    if (!chain) return chain.error();
    const std::uint64_t top = cp_c ? cp_c->size : b;
    for (const auto& link : chain->links()) {
      if (link.seq + 1 >= top) break;
      auto note = notes.find(link.seq + 1);
      if (note == notes.end()) {
        return Error{"no signed note for tree size " + std::to_string(link.seq + 1) + ", which ends with the key rotation record " +
                         std::to_string(link.seq),
                     dir.string()};
      }
      if (link.seq >= n) return Error{"the keys file names record " + std::to_string(link.seq) + ", past the ledger", dir.string()};
      if (auto st = fetch(link.seq); !st) return st;
      key_entries.push_back({key_entry_name(link.seq), json{{"seq", link.seq},
                                                            {"payload", payload_of(link.seq)},
                                                            {"proof", hex_list(tree.inclusion_proof(link.seq, link.seq + 1))},
                                                            {"checkpoint", note->second.text},
                                                            {"consistency", hex_list(tree.consistency_proof(link.seq + 1, top))}}
                                                               .dump() +
                                                           "\n"});
    }
  }
  if (cp_c) {
    if (auto st = out.add(kAfterEntry, json{{"seq", b},
                                         {"payload", payload_of(b)},
                                         {"proof", hex_list(tree.inclusion_proof(b, cp_c->size))},
                                         {"checkpoint", cp_c->text},
                                         {"consistency", hex_list(tree.consistency_proof(b, cp_c->size))}}
                                            .dump() +
                                        "\n"); !st) return st;
  }
  for (const auto& e : key_entries) {
    if (auto st = out.add(e.name, e.data); !st) return st;
  }

  // Each bundle that approved a statement in [a, b): its manifest and signatures as the registry
  // holds them, and the bundle_accepted record (with its inclusion proof in the tree of size b)
  // that binds the manifest's SHA-256 to the ledger.
  std::size_t bundles = 0;
  std::set<std::string> shas;
  std::vector<const ParsedRecord*> older_accepted;  // those of the pack's bundle_accepted records before a
  for (auto seq : needed) {
    const auto& r = accepted.at(seq).rec;
    const auto sha = r.fields.value("manifest_sha256", std::string());
    const auto name = r.fields.value("bundle", std::string()) + " version " + r.fields.value("version", std::string());
    if (!is_hex_sha256(sha)) return Error{"record " + std::to_string(seq) + ": bundle_accepted without a manifest_sha256"};
    // A manifest accepted again (at a restart) is in the pack once, with its first record needed.
    if (!shas.insert(sha).second) continue;
    if (seq < a) older_accepted.push_back(&r);
    std::filesystem::path src = r.fields.value("source", std::string());
    if (!options.registry_dir.empty()) src = options.registry_dir / src.filename();
    auto manifest = base::read_capped(src / "manifest.json", kMaxEvidenceManifestBytes);
    if (!manifest) {
      return Error{"bundle " + name + ": " + manifest.error().reason, (src / "manifest.json").string()};
    }
    if (base::sha256_hex(*manifest) != sha) {
      return Error{"bundle " + name + ": manifest.json is not the one the ledger accepted (record " +
                       std::to_string(seq) + " has sha256 " + sha + ")",
                   (src / "manifest.json").string()};
    }
    const std::string prefix = std::string(kBundlesPrefix) + sha + "/";
    if (auto st = out.add(prefix + "accepted.json",
                       json{{"seq", seq}, {"payload", payload_of(seq)}, {"proof", hex_list(tree.inclusion_proof(seq, b))}}
                               .dump() +
                           "\n"); !st) return st;
    if (auto st = out.add(prefix + "manifest.json", std::move(*manifest)); !st) return st;
    std::vector<std::filesystem::path> sigs;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(src / "signatures", ec), end; !ec && it != end; it.increment(ec)) {
      sigs.push_back(it->path());
      if (sigs.size() > kMaxEvidenceSignatures) {
        return Error{"bundle " + name + ": more than " + std::to_string(kMaxEvidenceSignatures) + " signature files",
                     (src / "signatures").string()};
      }
    }
    if (ec) return Error{"bundle " + name + ": cannot list signatures", (src / "signatures").string(), -1, ec};
    std::sort(sigs.begin(), sigs.end());
    for (const auto& p : sigs) {
      auto bytes = base::read_capped(p, kMaxEvidenceSignatureBytes);
      if (!bytes) return Error{"bundle " + name + ": " + bytes.error().reason, p.string()};
      if (auto st = out.add(prefix + "signatures/" + p.filename().string(), std::move(*bytes)); !st) return st;
    }
    ++bundles;
  }
  if (auto st = stream_entry(out, kReportEntry, [&](std::ostream& o) {
        return write_report(cp_b->origin, a, b, cp_a ? 2 : 1, options.from, options.to, std::move(older_accepted),
                            [&](const std::function<void(const ParsedRecord&)>& sink) {
                              return feed(true, [&](std::uint64_t, std::string_view, const ParsedRecord* r) { sink(*r); });
                            },
                            o);
      });
      !st) {
    return st;
  }
  if (auto st = out.finish(); !st) return st;
  if (summary) *summary = {a, b, bundles, cosig_notes, cp_b->origin, first_time, last_time};
  return Ok{};
}

}  // namespace

Result<std::string> build_evidence_pack(const std::filesystem::path& dir, const EvidenceExportOptions& options,
                                        EvidenceSummary* summary) {
  ZipStringWriter out;
  if (auto st = write_pack(dir, options, out, summary); !st) return st.error();
  return out.take();
}

Result<EvidenceSummary> write_evidence_pack(const std::filesystem::path& dir, const EvidenceExportOptions& options,
                                            const std::filesystem::path& file) {
  auto out = ZipFileWriter::create(file);
  if (!out) return out.error();
  EvidenceSummary summary;
  if (auto st = write_pack(dir, options, **out, &summary); !st) return st.error();
  if (auto st = (*out)->commit(); !st) return st.error();
  return summary;
}

Result<EvidenceSummary> verify_evidence_pack(std::string_view pack, const NoteVerifier& key,
                                             const EvidenceVerifyOptions& options) {
  auto entries = read_zip(pack);
  if (!entries) return Error{"not a valid pack: " + entries.error().to_string()};
  std::map<std::string, std::string_view, std::less<>> by_name;
  for (const auto& e : *entries) by_name.emplace(e.name, e.data);
  auto get = [&](std::string_view name) -> std::optional<std::string_view> {
    auto it = by_name.find(name);
    if (it == by_name.end()) return std::nullopt;
    return it->second;
  };
  // Nothing may sit in the pack unverified.
  for (const auto& [name, data] : by_name) {
    static const std::set<std::string, std::less<>> known{kManifestEntry,   kFrontierEntry,    kStartEntry,
                                                          kEndEntry,        kStartCosigEntry,  kEndCosigEntry,
                                                          kRecordsEntry,    kExportJsonlEntry, kExportCsvEntry,
                                                          kBeforeEntry,     kAfterEntry,       kReportEntry,
                                                          kMonitorJsonlEntry, kMonitorCsvEntry};
    if (known.count(name) || name.rfind(kBundlesPrefix, 0) == 0 || name.rfind(kKeysPrefix, 0) == 0) continue;
    return Error{name + ": an entry this format does not have"};
  }
  for (const char* required : {kManifestEntry, kFrontierEntry, kEndEntry, kRecordsEntry, kExportJsonlEntry, kExportCsvEntry}) {
    if (!get(required)) return Error{std::string(required) + ": missing"};
  }

  // evidence.json
  auto manifest = base::parse_strict_json(*get(kManifestEntry));
  if (!manifest || !manifest->is_object()) {
    return Error{std::string(kManifestEntry) + ": " + (manifest ? "not a JSON object" : manifest.error().reason)};
  }
  static const std::set<std::string> manifest_keys{"format", "origin", "from", "to", "start", "end"};
  for (const auto& [k, v] : manifest->items()) {
    if (!manifest_keys.count(k)) return Error{std::string(kManifestEntry) + ": unknown key \"" + k + "\""};
  }
  auto str = [&](const char* k) -> std::optional<std::string> {
    auto it = manifest->find(k);
    if (it == manifest->end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  auto num = [&](const char* k) -> std::optional<std::uint64_t> {
    auto it = manifest->find(k);
    if (it == manifest->end() || !it->is_number_unsigned()) return std::nullopt;
    return it->get<std::uint64_t>();
  };
  auto format = str("format");
  if (!format) return Error{std::string(kManifestEntry) + ": no \"format\""};
  if (*format != kEvidenceFormat && *format != kEvidenceFormatV2 && *format != kEvidenceFormatV1) {
    return Error{std::string(kManifestEntry) + ": format \"" + *format + "\", this ddlgate reads " +
                 std::string(kEvidenceFormatV1) + ", " + std::string(kEvidenceFormatV2) + " and " +
                 std::string(kEvidenceFormat)};
  }
  // Format 3 has the monitor's rows; the formats before it have none.
  const bool with_monitor = *format == kEvidenceFormat;
  for (const char* entry : {kMonitorJsonlEntry, kMonitorCsvEntry}) {
    if (with_monitor && !get(entry)) return Error{std::string(entry) + ": missing"};
    if (!with_monitor && get(entry)) return Error{std::string(entry) + ": an entry format " + *format + " does not have"};
  }
  // Format 1 has no report; from 2 on it is required.
  const bool with_report = *format != kEvidenceFormatV1;
  if (with_report && !get(kReportEntry)) return Error{std::string(kReportEntry) + ": missing"};
  if (!with_report && get(kReportEntry)) {
    return Error{std::string(kReportEntry) + ": an entry format " + std::string(kEvidenceFormatV1) + " does not have"};
  }
  // Every entry has to be read as this format's: the checks below read keys/ and parse all
  // key entries (format 1 has none).
  struct KeyEntry {
    std::string name;
    Checkpoint note;
    std::vector<Hash> consistency;
  };
  std::vector<KeyEntry> key_entries;
  auto start = num("start"), end = num("end");
  auto origin = str("origin");
  if (!start || !end || !origin || !str("from") || !str("to") || *start > *end || *end == 0) {
    return Error{std::string(kManifestEntry) + ": \"start\", \"end\", \"origin\", \"from\" or \"to\" missing or invalid"};
  }
  const std::uint64_t a = *start, b = *end;

  // The key rotations (keys/<R>.json), in sequence order: each key_rotated record proved in the
  // note for tree size R+1, signed by the key in force (the pinned one, then each new key in
  // turn), and endorsed by its new key. The new key signs the notes above R+1.
  std::vector<std::uint64_t> rotated_at;     // R of each link followed
  std::vector<NoteVerifier> chain{key};      // chain[i] signs the sizes after rotated_at[i-1] + 1
  {
    std::map<std::uint64_t, std::string_view> by_seq;
    for (const auto& [name, data] : by_name) {
      if (name.rfind(kKeysPrefix, 0) != 0) continue;
      if (!with_report) return Error{name + ": an entry format " + std::string(kEvidenceFormatV1) + " does not have"};
      auto digits = std::string_view(name).substr(kKeysPrefix.size());
      std::uint64_t seq = 0;
      bool ok = digits.size() > 5 && digits.size() <= 25 && digits.substr(digits.size() - 5) == ".json";
      if (ok) {
        digits.remove_suffix(5);
        ok = !digits.empty() && (digits == "0" || digits[0] != '0');
        for (char c : digits) {
          if (c < '0' || c > '9' || seq > (std::numeric_limits<std::uint64_t>::max() - 9) / 10) {
            ok = false;
            break;
          }
          seq = seq * 10 + static_cast<std::uint64_t>(c - '0');
        }
      }
      if (!ok) return Error{name + ": not keys/<sequence number>.json"};
      by_seq.emplace(seq, data);
    }
    for (const auto& [seq, data] : by_seq) {
      const std::string where = key_entry_name(seq);
      auto j = base::parse_strict_json(data);
      if (!j || !j->is_object() || j->size() != 5 || !j->contains("seq") || !(*j)["seq"].is_number_unsigned() ||
          (*j)["seq"].get<std::uint64_t>() != seq || !j->contains("payload") || !(*j)["payload"].is_string() ||
          !j->contains("checkpoint") || !(*j)["checkpoint"].is_string() || !j->contains("proof") ||
          !(*j)["proof"].is_array() || !j->contains("consistency") || !(*j)["consistency"].is_array()) {
        return Error{where + ": not {\"checkpoint\":...,\"consistency\":[...],\"payload\":...,\"proof\":[...],\"seq\":" +
                     std::to_string(seq) + "}"};
      }
      std::vector<Hash> proof, consistency;
      for (auto [list, out] : {std::pair{&(*j)["proof"], &proof}, std::pair{&(*j)["consistency"], &consistency}}) {
        for (const auto& h : *list) {
          auto v = h.is_string() ? hash_from_hex(h.get<std::string>()) : std::nullopt;
          if (!v) return Error{where + ": malformed hash"};
          out->push_back(*v);
        }
      }
      const auto& text = (*j)["checkpoint"].get_ref<const std::string&>();
      auto note = parse_checkpoint(text);
      if (!note) return Error{where + ": checkpoint: " + note.error().reason};
      if (note->text != text || note->origin != *origin || seq == std::numeric_limits<std::uint64_t>::max() || note->size != seq + 1) {
        return Error{where + ": checkpoint: not the note for tree size " + std::to_string(seq + 1) + " under " + *origin};
      }
      if (!verify_checkpoint(*note, chain.back())) {
        return Error{where + ": checkpoint for tree size " + std::to_string(seq + 1) +
                     ": no valid signature by the key in force there (" +
                     (chain.size() == 1 ? std::string("the given key") : "the key record " + std::to_string(rotated_at.back()) + " introduced") +
                     ")"};
      }
      const auto& payload = (*j)["payload"].get_ref<const std::string&>();
      auto rec = parse_payload(payload);
      if (!rec || rec->seq != seq || rec->type != RecordType::key_rotated) {
        return Error{where + ": not the key_rotated record " + std::to_string(seq)};
      }
      if (!verify_inclusion(leaf_hash(payload), seq, seq + 1, proof, note->root)) {
        return Error{where + ": record " + std::to_string(seq) + " is not in the tree of its checkpoint (changed)"};
      }
      auto link = parse_key_link(seq, rec->fields, *origin);
      if (!link) return Error{where + ": " + link.error().reason};
      if (link->old_key != chain.back().public_key()) {
        return Error{where + ": the rotation takes over from a key that is not the one in force"};
      }
      chain.push_back(NoteVerifier::from_raw(link->new_key));
      rotated_at.push_back(seq);
      key_entries.push_back({where, std::move(*note), std::move(consistency)});
    }
  }
  // The key that signs the note for tree_size: the old key up to R+1, the new one above.
  auto key_for = [&](std::uint64_t tree_size) -> const NoteVerifier& {
    std::size_t i = 0;
    while (i < rotated_at.size() && tree_size > rotated_at[i] + 1) ++i;
    return chain[i];
  };

  // The checkpoints: signatures by the key in force under one origin (the pinned one, if given).
  auto load_cp = [&](const char* entry, std::uint64_t size) -> Result<Checkpoint> {
    auto cp = parse_checkpoint(*get(entry));
    if (!cp) return Error{std::string(entry) + ": " + cp.error().reason};
    if (cp->text != *get(entry)) return Error{std::string(entry) + ": bytes after the note"};
    if (!options.origin.empty() && cp->origin != options.origin) {
      return Error{std::string(entry) + ": origin " + cp->origin + ", not the pinned " + options.origin};
    }
    if (cp->origin != *origin) return Error{std::string(entry) + ": origin " + cp->origin + ", evidence.json says " + *origin};
    if (!verify_checkpoint(*cp, key_for(size))) {
      return Error{std::string(entry) + ": no valid signature by the given key" +
                   (rotated_at.empty() ? std::string() : " or the key it rotated to in force at that size") +
                   " (checkpoint changed or forged)"};
    }
    if (cp->size != size) {
      return Error{std::string(entry) + ": tree size " + std::to_string(cp->size) + ", evidence.json says " +
                   std::to_string(size)};
    }
    return cp;
  };
  std::optional<Checkpoint> cp_a;
  if (a > 0) {
    if (!get(kStartEntry)) return Error{std::string(kStartEntry) + ": missing (start " + std::to_string(a) + " > 0)"};
    auto cp = load_cp(kStartEntry, a);
    if (!cp) return cp.error();
    cp_a = std::move(*cp);
  } else if (get(kStartEntry) || get(kStartCosigEntry)) {
    return Error{std::string(kStartEntry) + ": present although the pack starts at the empty tree"};
  }
  auto cp_b = load_cp(kEndEntry, b);
  if (!cp_b) return cp_b.error();

  // The frontier must fold to the signed root at a.
  auto frontier_json = base::parse_strict_json(*get(kFrontierEntry));
  if (!frontier_json || !frontier_json->is_object() || frontier_json->size() != 2 ||
      !frontier_json->contains("tree_size") || !(*frontier_json)["tree_size"].is_number_unsigned() ||
      !frontier_json->contains("hashes") || !(*frontier_json)["hashes"].is_array()) {
    return Error{std::string(kFrontierEntry) + ": not {\"hashes\":[...],\"tree_size\":N}"};
  }
  if ((*frontier_json)["tree_size"].get<std::uint64_t>() != a) {
    return Error{std::string(kFrontierEntry) + ": tree size is not the start " + std::to_string(a)};
  }
  std::vector<Hash> frontier;
  for (const auto& h : (*frontier_json)["hashes"]) {
    auto v = h.is_string() ? hash_from_hex(h.get<std::string>()) : std::nullopt;
    if (!v) return Error{std::string(kFrontierEntry) + ": malformed hash"};
    frontier.push_back(*v);
  }
  auto tree = FullTree::from_frontier(a, frontier);
  if (!tree) {
    return Error{std::string(kFrontierEntry) + ": " + std::to_string(frontier.size()) + " hash(es), a tree of " +
                 std::to_string(a) + " needs " + std::to_string(std::popcount(a))};
  }
  if (cp_a && tree->root() != cp_a->root) {
    return Error{std::string(kFrontierEntry) + ": does not give the root signed in " + kStartEntry +
                 " (frontier changed)"};
  }

  // The records: exactly a..b-1, in order, canonical, and together with the frontier the root
  // signed at b. This is what proves that none is missing, added or changed.
  // The records are not copied out of the pack: each check below reads records.jsonl again.
  struct {
    FullTree tree;
    std::vector<Checkpoint> checkpoints;
  } view;
  view.tree = std::move(*tree);
  const std::string_view records_text = *get(kRecordsEntry);
  std::string range_first_time, range_last_time;
  std::uint64_t monitor_records = 0;  // out_of_band, guard_tampered, schema_drift
  std::string_view rest = records_text;
  std::uint64_t line = 0;
  while (!rest.empty()) {
    ++line;
    auto nl = rest.find('\n');
    if (nl == std::string_view::npos) return Error{std::string(kRecordsEntry) + ": line " + std::to_string(line) + ": no final newline"};
    auto payload = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    const std::uint64_t want = a + line - 1;
    if (want >= b) {
      return Error{std::string(kRecordsEntry) + ": more than the " + std::to_string(b - a) +
                   " records of the signed range (a record was added)"};
    }
    auto rec = parse_payload(payload);
    if (!rec) return Error{std::string(kRecordsEntry) + ": line " + std::to_string(line) + ": " + rec.error().reason};
    if (rec->seq != want) {
      return Error{std::string(kRecordsEntry) + ": line " + std::to_string(line) + " is record " +
                   std::to_string(rec->seq) + " where record " + std::to_string(want) +
                   " belongs (a record was removed, added or reordered)"};
    }
    view.tree.append(leaf_hash(payload));
    if (is_monitor_record(rec->type)) ++monitor_records;
    if (want == a) range_first_time = rec->time;
    range_last_time = rec->time;
  }
  // The records of records.jsonl (checked above: one per line, a..b-1 in order), parsed when asked.
  const ExportRecordFeed feed = [&](bool parse, const ExportRecordSink& sink) -> Status {
    std::string_view left = records_text;
    for (std::uint64_t seq = a; !left.empty(); ++seq) {
      auto nl = left.find('\n');
      auto payload = left.substr(0, nl);
      left.remove_prefix(nl + 1);
      if (!parse) {
        sink(seq, payload, nullptr);
        continue;
      }
      auto rec = parse_payload(payload);  // parsed once already: cannot fail
      if (!rec) return Error{std::string(kRecordsEntry) + ": record " + std::to_string(seq) + ": " + rec.error().reason};
      sink(seq, payload, &*rec);
    }
    return Ok{};
  };
  if (view.tree.size() == a && a < b) {
    return Error{std::string(kRecordsEntry) + ": no records, the signed range is " + std::to_string(a) + ".." +
                 std::to_string(b - 1) + " (records removed)"};
  }
  if (view.tree.size() != b) {
    return Error{std::string(kRecordsEntry) + ": ends after record " + std::to_string(view.tree.size() - 1) +
                 ", the signed range ends at " + std::to_string(b - 1) + " (records removed)"};
  }
  if (view.tree.root() != cp_b->root) {
    return Error{std::string(kRecordsEntry) + ": records " + std::to_string(a) + ".." + std::to_string(b - 1) +
                 " do not give the root signed in " + kEndEntry + " (a record was changed)"};
  }

  // A pack of the monitor's records is format 3 (its report and monitor rows show them), and only
  // such a pack is: an older format's report, which has no section for them, would hide them.
  if (monitor_records > 0 && !with_monitor) {
    return Error{std::string(kManifestEntry) + ": format " + *format + ", but the records hold " +
                 std::to_string(monitor_records) +
                 " out_of_band, guard_tampered or schema_drift record(s), which only format " +
                 std::string(kEvidenceFormat) + " shows (export the pack again)"};
  }
  if (monitor_records == 0 && with_monitor) {
    return Error{std::string(kManifestEntry) + ": format " + *format +
                 ", but the records hold no out_of_band, guard_tampered or schema_drift record (" +
                 std::string(kEvidenceFormatV2) + " is the format of such a pack)"};
  }

  // The neighbours of the range: outside the period evidence.json names, and proved.
  bool open_end = false;
  std::uint64_t top_size = b;  // the pack's last signed tree: b, or the one boundary/after.json holds
  Hash top_root = cp_b->root;
  {
    const std::string from = *str("from"), to = *str("to");
    auto outside = [&](const std::string& t) { return (!from.empty() && t < from) || (!to.empty() && t > to); };
    auto hashes = [](const json& list, std::vector<Hash>& out) {
      if (!list.is_array()) return false;
      for (const auto& h : list) {
        auto v = h.is_string() ? hash_from_hex(h.get<std::string>()) : std::nullopt;
        if (!v) return false;
        out.push_back(*v);
      }
      return true;
    };
    // The record of entry, with its proof; checks the shape, the sequence number and the payload.
    auto neighbour = [&](const char* entry, std::uint64_t seq, std::size_t keys, json& j, ParsedRecord& rec,
                         std::vector<Hash>& proof) -> std::optional<Error> {
      auto parsed = base::parse_strict_json(*get(entry));
      if (!parsed || !parsed->is_object() || parsed->size() != keys || !parsed->contains("seq") ||
          !(*parsed)["seq"].is_number_unsigned() || !parsed->contains("payload") || !(*parsed)["payload"].is_string() ||
          !parsed->contains("proof") || !hashes((*parsed)["proof"], proof)) {
        return Error{std::string(entry) + ": not the record and proof this entry holds"};
      }
      j = std::move(*parsed);
      if (j["seq"].get<std::uint64_t>() != seq) {
        return Error{std::string(entry) + ": record " + std::to_string(j["seq"].get<std::uint64_t>()) + ", not " +
                     std::to_string(seq)};
      }
      auto r = parse_payload(j["payload"].get_ref<const std::string&>());
      if (!r || r->seq != seq) return Error{std::string(entry) + ": not a record payload of sequence " + std::to_string(seq)};
      rec = std::move(*r);
      return std::nullopt;
    };
    if (a > 0) {
      if (!get(kBeforeEntry)) return Error{std::string(kBeforeEntry) + ": missing (the pack starts after record 0)"};
      json j;
      ParsedRecord rec;
      std::vector<Hash> proof;
      if (auto e = neighbour(kBeforeEntry, a - 1, 3, j, rec, proof)) return *e;
      if (!verify_inclusion(leaf_hash(j["payload"].get_ref<const std::string&>()), a - 1, b, proof, cp_b->root)) {
        return Error{std::string(kBeforeEntry) + ": record " + std::to_string(a - 1) + " is not in the tree signed in " +
                     kEndEntry + " (changed)"};
      }
      if (!outside(rec.time)) {
        return Error{std::string(kBeforeEntry) + ": record " + std::to_string(a - 1) + " at " + rec.time +
                     " is within the period of evidence.json (the pack starts too late)"};
      }
    } else if (get(kBeforeEntry)) {
      return Error{std::string(kBeforeEntry) + ": present although the pack starts at record 0"};
    }
    if (get(kAfterEntry)) {
      json j;
      ParsedRecord rec;
      std::vector<Hash> proof, consistency;
      if (auto e = neighbour(kAfterEntry, b, 5, j, rec, proof)) return *e;
      if (!j.contains("checkpoint") || !j["checkpoint"].is_string() || !j.contains("consistency") ||
          !hashes(j["consistency"], consistency)) {
        return Error{std::string(kAfterEntry) + ": not the record and proof this entry holds"};
      }
      auto cp_c = parse_checkpoint(j["checkpoint"].get_ref<const std::string&>());
      if (!cp_c) return Error{std::string(kAfterEntry) + ": checkpoint: " + cp_c.error().reason};
      if (cp_c->origin != cp_b->origin || cp_c->size <= b || !verify_checkpoint(*cp_c, key_for(cp_c->size))) {
        return Error{std::string(kAfterEntry) + ": checkpoint: not a later checkpoint signed by the given key under " +
                     cp_b->origin};
      }
      top_size = cp_c->size;
      top_root = cp_c->root;
      if (!verify_consistency(b, cp_c->size, cp_b->root, cp_c->root, consistency)) {
        return Error{std::string(kAfterEntry) + ": checkpoint for tree size " + std::to_string(cp_c->size) +
                     " is not an extension of " + kEndEntry};
      }
      if (!verify_inclusion(leaf_hash(j["payload"].get_ref<const std::string&>()), b, cp_c->size, proof, cp_c->root)) {
        return Error{std::string(kAfterEntry) + ": record " + std::to_string(b) + " is not in the tree of its checkpoint (changed)"};
      }
      if (!outside(rec.time)) {
        return Error{std::string(kAfterEntry) + ": record " + std::to_string(b) + " at " + rec.time +
                     " is within the period of evidence.json (the pack ends too early)"};
      }
    } else {
      open_end = true;
    }
  }

  // Each rotation's note is a prefix of the pack's last signed tree (the same log, not a fork the
  // old key signed).
  for (const auto& k : key_entries) {
    if (k.note.size > top_size || !verify_consistency(k.note.size, top_size, k.note.root, top_root, k.consistency)) {
      return Error{k.name + ": checkpoint for tree size " + std::to_string(k.note.size) +
                   " is not a prefix of the pack's last checkpoint (tree size " + std::to_string(top_size) + ")"};
    }
  }

  // Witness cosignatures: notes of the same checkpoint; with a quorum, enough valid ones.
  std::size_t cosig_notes = 0;
  auto check_cosigs = [&](const char* entry, const Checkpoint& cp) -> std::optional<Error> {
    auto text = get(entry);
    if (!text) return std::nullopt;
    auto notes = parse_checkpoints(*text);
    if (!notes) return Error{std::string(entry) + ": " + notes.error().reason};
    for (const auto& n : *notes) {
      if (n.body != cp.body) return Error{std::string(entry) + ": a note for another checkpoint than its own"};
      ++cosig_notes;
    }
    if (&cp == &*cp_b && options.witness_quorum > 0) {
      auto got = count_cosigners(cp, *notes, options.witness_keys);
      if (got < options.witness_quorum) {
        return Error{std::string(entry) + ": " + std::to_string(got) + " of the " +
                     std::to_string(options.witness_quorum) + " required witness cosignatures"};
      }
    }
    return std::nullopt;
  };
  if (cp_a) {
    if (auto e = check_cosigs(kStartCosigEntry, *cp_a)) return *e;
  }
  if (auto e = check_cosigs(kEndCosigEntry, *cp_b)) return *e;
  if (options.witness_quorum > 0 && !get(kEndCosigEntry)) {
    return Error{std::string(kEndCosigEntry) + ": missing, and a witness quorum of " +
                 std::to_string(options.witness_quorum) + " is required"};
  }

  // Bundles: each bound to the ledger by its bundle_accepted record (proved in the tree of b),
  // and each approval of the range served by one.
  std::map<std::string, std::map<std::string, std::string_view>> bundle_files;  // sha -> rest of name -> data
  for (const auto& [name, data] : by_name) {
    if (name.rfind(kBundlesPrefix, 0) != 0) continue;
    auto rest_name = std::string_view(name).substr(kBundlesPrefix.size());
    auto slash = rest_name.find('/');
    if (slash == std::string_view::npos) return Error{name + ": not inside a bundle directory"};
    bundle_files[std::string(rest_name.substr(0, slash))][std::string(rest_name.substr(slash + 1))] = data;
  }
  std::map<std::pair<std::string, std::string>, std::uint64_t> bundle_by_version;
  std::vector<ParsedRecord> older_accepted_recs;  // the bundle_accepted records before a, for the report
  for (const auto& [sha, files] : bundle_files) {
    const std::string where = std::string(kBundlesPrefix) + sha + "/";
    if (!is_hex_sha256(sha)) return Error{where + ": not named by a manifest SHA-256"};
    for (const auto& [f, data] : files) {
      if (f != "accepted.json" && f != "manifest.json" &&
          !(f.rfind("signatures/", 0) == 0 && f.size() > 15 && f.find('/', 11) == std::string::npos &&
            f.compare(f.size() - 4, 4, ".sig") == 0)) {
        return Error{where + f + ": an entry a bundle directory does not have"};
      }
    }
    auto acc_it = files.find("accepted.json"), man_it = files.find("manifest.json");
    if (acc_it == files.end()) return Error{where + "accepted.json: missing"};
    if (man_it == files.end()) return Error{where + "manifest.json: missing"};
    auto acc = base::parse_strict_json(acc_it->second);
    if (!acc || !acc->is_object() || acc->size() != 3 || !acc->contains("seq") || !(*acc)["seq"].is_number_unsigned() ||
        !acc->contains("payload") || !(*acc)["payload"].is_string() || !acc->contains("proof") ||
        !(*acc)["proof"].is_array()) {
      return Error{where + "accepted.json: not {\"payload\":...,\"proof\":[...],\"seq\":N}"};
    }
    const auto seq = (*acc)["seq"].get<std::uint64_t>();
    const auto& payload = (*acc)["payload"].get_ref<const std::string&>();
    std::vector<Hash> proof;
    for (const auto& h : (*acc)["proof"]) {
      auto v = h.is_string() ? hash_from_hex(h.get<std::string>()) : std::nullopt;
      if (!v) return Error{where + "accepted.json: malformed hash in the proof"};
      proof.push_back(*v);
    }
    auto rec = parse_payload(payload);
    if (!rec || rec->seq != seq || rec->type != RecordType::bundle_accepted) {
      return Error{where + "accepted.json: not the bundle_accepted record " + std::to_string(seq)};
    }
    if (seq >= b || !verify_inclusion(leaf_hash(payload), seq, b, proof, cp_b->root)) {
      return Error{where + "accepted.json: record " + std::to_string(seq) + " is not in the tree signed in " + kEndEntry};
    }
    if (rec->fields.value("manifest_sha256", std::string()) != sha) {
      return Error{where + "accepted.json: the record accepted another manifest"};
    }
    if (base::sha256_hex(man_it->second) != sha) {
      return Error{where + "manifest.json: not the manifest the ledger accepted (SHA-256 differs; changed)"};
    }
    if (options.check_bundle_signature) {
      for (const auto& [f, data] : files) {
        if (f.rfind("signatures/", 0) != 0) continue;
        if (auto why = options.check_bundle_signature(man_it->second, data); !why.empty()) {
          return Error{where + f + ": " + why};
        }
      }
    }
    if (seq < a) older_accepted_recs.push_back(*rec);
    // The earliest acceptance of each version in the pack.
    auto [it, fresh] = bundle_by_version.try_emplace(
        {rec->fields.value("bundle", std::string()), rec->fields.value("version", std::string())}, seq);
    if (!fresh) it->second = std::min(it->second, seq);
  }
  std::vector<const ParsedRecord*> older_accepted;
  for (const auto& r : older_accepted_recs) older_accepted.push_back(&r);
  std::optional<Error> unserved;
  if (auto st = feed(true, [&](std::uint64_t, std::string_view, const ParsedRecord* rec) {
        const auto& r = *rec;
        if (unserved || r.type != RecordType::decision) return;
        auto ap = r.fields.find("approval");
        if (ap == r.fields.end() || !ap->is_object()) return;
        std::pair<std::string, std::string> k{ap->value("bundle", std::string()), ap->value("version", std::string())};
        auto it = bundle_by_version.find(k);
        if (it == bundle_by_version.end() || it->second >= r.seq) {
          unserved = Error{"record " + std::to_string(r.seq) + " is approved by bundle " + k.first + " version " +
                           k.second + ", whose manifest the pack does not hold"};
        }
      });
      !st) {
    return st.error();
  }
  if (unserved) return *unserved;

  // The exports: recomputed from the verified records with the export code itself; the pack's
  // copies must be exactly those bytes.
  if (cp_a) view.checkpoints.push_back(*cp_a);
  if (!cp_a || cp_a->size != b) view.checkpoints.push_back(*cp_b);
  // Each is compared with the pack's copy as it is written, so neither is held a second time.
  auto compare = [&](const char* entry, const char* what,
                     const std::function<Status(std::ostream&)>& write) -> std::optional<Error> {
    std::string_view have = *get(entry);
    CompareBuf cmp(have);
    std::ostream o(&cmp);
    if (auto st = write(o); !st) return st.error();
    if (auto at = cmp.mismatch()) {
      auto line_no = 1 + std::count(have.begin(), have.begin() + static_cast<std::ptrdiff_t>(*at), '\n');
      return Error{std::string(entry) + ": differs from the " + what + " recomputed from the records at line " +
                   std::to_string(line_no) + " (changed)"};
    }
    return std::nullopt;
  };
  for (const auto& entry : {std::pair{kExportJsonlEntry, ExportFormat::jsonl}, std::pair{kExportCsvEntry, ExportFormat::csv}}) {
    const ExportFormat fmt = entry.second;
    if (auto e = compare(entry.first, "export", [&](std::ostream& o) {
          return write_export_streamed(view.tree, view.tree.size(), view.checkpoints, b - a, feed, fmt, o);
        })) {
      return *e;
    }
  }
  if (with_monitor) {
    for (const auto& entry : {std::pair{kMonitorJsonlEntry, ExportFormat::jsonl}, std::pair{kMonitorCsvEntry, ExportFormat::csv}}) {
      const ExportFormat fmt = entry.second;
      if (auto e = compare(entry.first, "monitor rows", [&](std::ostream& o) { return write_monitor_entry(feed, fmt, o); })) {
        return *e;
      }
    }
  }
  // The report: likewise recomputed, never trusted.
  if (with_report) {
    if (auto e = compare(kReportEntry, "report", [&](std::ostream& o) {
          return write_report(*origin, a, b, cp_a ? 2 : 1, *str("from"), *str("to"), std::move(older_accepted),
                              [&](const std::function<void(const ParsedRecord&)>& sink) {
                                return feed(true, [&](std::uint64_t, std::string_view, const ParsedRecord* r) { sink(*r); });
                              },
                              o);
        })) {
      return *e;
    }
  }
  EvidenceSummary s;
  s.start = a;
  s.end = b;
  s.bundles = bundle_files.size();
  s.cosignature_notes = cosig_notes;
  s.origin = cp_b->origin;
  s.open_end = open_end;
  s.keys = chain.size();
  s.first_time = range_first_time;
  s.last_time = range_last_time;
  return s;
}

}  // namespace ddlgate::ledger
