#include "ddlgate/ledger/verify.h"

#include "ddlgate/ledger/keys.h"

#include <fstream>
#include <functional>
#include <algorithm>
#include <map>
#include <thread>

#include "ddlgate/ledger/merkle.h"
#include "csv.h"

namespace ddlgate::ledger {
namespace {

using nlohmann::json;

struct LoadedCheckpoints {
  std::vector<Checkpoint> list;
  std::map<std::uint64_t, const Checkpoint*> by_size;
};

// Reads, parses and checks a checkpoints file: signatures, one origin (the pinned one, if any),
// sizes that never shrink. A last note that is incomplete (short, and missing its blank line or
// its final newline) is what an append in progress, or torn by a crash, leaves: *torn_end is
// then set with the error.
std::optional<Error> load_checkpoints(const std::filesystem::path& path, const KeyChain& key, bool required,
                                      const std::string& pinned_origin, LoadedCheckpoints& out,
                                      bool* torn_end = nullptr) {
  std::string text;
  if (!std::filesystem::exists(path) && !required) return std::nullopt;
  if (auto ec = posix_file_system()->read_file(path, kMaxSegmentReadSize, &text)) {
    return Error{"cannot read checkpoints", path.string(), -1, ec};
  }
  auto parsed = parse_checkpoints(text);
  if (!parsed) {
    auto at = static_cast<std::size_t>(parsed.error().offset);
    std::string_view rest = std::string_view(text).substr(at);
    bool torn = !rest.empty() && rest.size() <= 4096 &&
                (rest.back() != '\n' || rest.find("\n\n") == std::string_view::npos);
    if (!torn) return Error{parsed.error().reason, path.string(), parsed.error().offset};
    // An append in progress (on a live ledger) or torn by a crash: the caller looks again.
    if (torn_end) *torn_end = true;
    return Error{"incomplete last checkpoint note (an unfinished or torn append; recovery would cut it): " +
                     parsed.error().reason,
                 path.string(), parsed.error().offset};
  }
  out.list = std::move(*parsed);
  out.by_size.clear();
  std::uint64_t prev = 0;
  std::size_t pos = 0;
  for (const auto& cp : out.list) {
    auto at = static_cast<std::int64_t>(pos);
    if (!pinned_origin.empty() && cp.origin != pinned_origin) {
      return Error{"checkpoint for tree size " + std::to_string(cp.size) + " has origin " + cp.origin +
                       ", not the pinned " + pinned_origin,
                   path.string(), at};
    }
    if (!verify_checkpoint(cp, key.for_size(cp.size))) {
      return Error{"checkpoint for tree size " + std::to_string(cp.size) + " has no valid signature by the given key" +
                       (key.keys() > 1 ? " (or the key it rotated to in force at that size)" : ""),
                   path.string(), at};
    }
    if (cp.origin != out.list.front().origin) return Error{"checkpoint origin changes", path.string(), at};
    if (cp.size < prev) {
      return Error{"checkpoint tree size goes backwards (" + std::to_string(prev) + " then " + std::to_string(cp.size) +
                       ")",
                   path.string(), at};
    }
    if (auto it = out.by_size.find(cp.size); it != out.by_size.end() && it->second->root != cp.root) {
      return Error{"two checkpoints for tree size " + std::to_string(cp.size) + " with different roots (fork)",
                   path.string(), at};
    }
    prev = cp.size;
    out.by_size[cp.size] = &cp;
    pos += cp.text.size();
  }
  return std::nullopt;
}

// A checkpoint record whose note the checkpoints file read before the scan did not hold yet.
struct LateCheckpointRecord {
  std::uint64_t seq = 0;
  std::uint64_t size = 0;
  std::string note;
  std::string file;
  std::uint64_t offset = 0;
};

// One pass of verify_directory. `retry` is set when the problem is a frame or a checkpoint note
// cut short at the very end of its file, which a live writer's append in progress also shows.
VerifyReport verify_directory_once(const std::filesystem::path& dir, const NoteVerifier& pinned,
                                   const VerifyOptions& options, bool& retry) {
  VerifyReport rep;
  retry = false;
  if (!std::filesystem::is_directory(dir)) {
    rep.problem = Error{"not a ledger directory", dir.string()};
    return rep;
  }
  // The pinned key, and the keys it rotated to (DIR/keys, each introduction endorsed by the new
  // key and checked below against its key_rotated record, which the old key signed).
  KeyChain key = KeyChain::single(pinned.public_key());
  if (std::filesystem::exists(dir / kKeysFileName)) {
    std::string key_origin = options.origin;
    if (key_origin.empty()) {
      std::string text;
      if (!posix_file_system()->read_file(dir / kOriginFileName, 4096, &text) && !text.empty() && text.back() == '\n') {
        text.pop_back();
      }
      key_origin = text;
    }
    auto chain = KeyChain::load(dir, key_origin, pinned.public_key(), std::nullopt, *posix_file_system());
    if (!chain) {
      rep.problem = chain.error();
      return rep;
    }
    key = std::move(*chain);
  }
  LoadedCheckpoints local, extra;
  auto cp_path = dir / kCheckpointsFileName;
  // Read order matters on a live ledger: the writer appends a note to the checkpoints file,
  // then to the copy, then writes its checkpoint record. So the copy is read before the local
  // file, and the local file before the segments: every note that a later read sees was already
  // in the earlier file.
  if (!options.extra_checkpoints.empty()) {
    if (auto e = load_checkpoints(options.extra_checkpoints, key, true, options.origin, extra, &retry)) {
      rep.problem = e;
      return rep;
    }
  }
  if (auto e = load_checkpoints(cp_path, key, false, options.origin, local, &retry)) {
    rep.problem = e;
    return rep;
  }
  // Every shipped checkpoint must be in the local file: a missing one means a rollback.
  for (const auto& cp : extra.list) {
    auto it = local.by_size.find(cp.size);
    if (it == local.by_size.end() || it->second->root != cp.root || it->second->origin != cp.origin) {
      // The words ddlgate's start uses for the same finding (a ledger held failed).
      const bool fork = it != local.by_size.end() || (!local.list.empty() && cp.size <= local.list.back().size);
      rep.problem = Error{"checkpoint for tree size " + std::to_string(cp.size) + " in " +
                              options.extra_checkpoints.string() +
                              " is missing from the ledger's checkpoints file (" +
                              (fork ? "fork: rewritten" : "rollback: rolled back") + ")",
                          cp_path.string()};
      return rep;
    }
  }
  std::string origin = options.origin;
  if (origin.empty() && !local.list.empty()) origin = local.list.front().origin;
  if (origin.empty() && !extra.list.empty()) origin = extra.list.front().origin;
  rep.checkpoints = local.list.size();
  const std::uint64_t max_cp = local.list.empty() ? 0 : local.list.back().size;
  CompactTree tree;
  std::uint64_t last_good_cp = 0;
  std::uint64_t last_seal = 0;
  std::map<std::uint64_t, Hash> roots_above_cp;  // at each batch end above max_cp
  std::vector<LateCheckpointRecord> late;
  std::optional<std::pair<std::string, std::uint64_t>> uncovered_at_cp, uncovered_after_seal;
  auto scan = scan_segments(*posix_file_system(), dir, [&](const ScannedRecord& r) -> std::optional<Error> {
    // Records a signed checkpoint will cover need only their envelope checked (the root
    // comparison proves the bytes are the writer's); checkpoint records and records after the
    // last checkpoint are parsed in full.
    auto env = parse_envelope(r.payload);
    if (!env) return Error{"record " + std::to_string(r.seq) + ": " + env.error().reason};
    if (env->seq != r.seq) {
      return Error{"record " + std::to_string(r.seq) + ": payload says sequence " + std::to_string(env->seq)};
    }
    if (env->type == RecordType::checkpoint || env->type == RecordType::key_rotated || r.seq >= max_cp) {
      auto rec = parse_payload(r.payload);
      if (!rec) return Error{"record " + std::to_string(r.seq) + ": " + rec.error().reason};
      if (env->type == RecordType::key_rotated) {
        if (auto e = key.check_record(r.seq, rec->fields)) return e;
      }
      if (env->type == RecordType::checkpoint) {
        auto size = rec->fields.value("tree_size", std::uint64_t{0});
        auto note = rec->fields.value("note", std::string());
        auto it = local.by_size.find(size);
        if (it == local.by_size.end() || note != it->second->text) {
          // Checked against the checkpoints file as it is after the scan (see below).
          late.push_back({r.seq, size, std::move(note), r.file->string(), r.offset});
        }
      }
    }
    if (r.seq == max_cp) uncovered_at_cp = {r.file->string(), r.offset};
    if (!uncovered_after_seal) uncovered_after_seal = {r.file->string(), r.offset};
    tree.append(leaf_hash(r.payload));
    if (auto it = local.by_size.find(tree.size()); it != local.by_size.end()) {
      if (it->second->root != tree.root()) {
        return Error{"records " + std::to_string(last_good_cp) + ".." + std::to_string(tree.size() - 1) +
                     " do not match the signed checkpoint for tree size " + std::to_string(tree.size()) +
                     " (a record was changed, removed or inserted)"};
      }
      last_good_cp = tree.size();
    }
    return std::nullopt;
  }, 0, [&](const ScannedBatch& b) -> std::optional<Error> {
    if (b.tree_size > max_cp) roots_above_cp[b.tree_size] = tree.root();
    if (!b.seal) return std::nullopt;  // a batch of an older ddlgate: a checkpoint must cover it
    if (origin.empty()) {
      if (auto cp = parse_checkpoint(*b.seal)) origin = cp->origin;
    }
    // Below the last checkpoint, whose signature covers the same records, a seal's size, origin
    // and root are checked; above it, its signature too.
    if (auto e = check_seal(*b.seal, b.tree_size, tree.root(), origin,
                            b.tree_size > max_cp ? &key.for_size(b.tree_size) : nullptr)) {
      return e;
    }
    last_seal = b.tree_size;
    uncovered_after_seal.reset();
    return std::nullopt;
  });
  rep.records = scan.records;
  rep.covered = std::max(last_good_cp, last_seal);
  rep.sealed = last_seal;
  rep.origin = origin;
  rep.keys = key.keys();
  if (scan.damage) {
    rep.problem = scan.damage;
    return rep;
  }
  if (auto e = key.check_complete(scan.records)) {
    rep.problem = Error{e->reason, (dir / kKeysFileName).string()};
    return rep;
  }
  if (scan.tail) {
    if (scan.tail->damaged) {
      retry = scan.tail->reason.rfind(to_string(FrameStatus::truncated), 0) == 0;
      rep.problem = Error{"torn or damaged tail after the last complete batch (" + std::to_string(scan.tail->bytes) +
                              " bytes; recovery would cut it): " + scan.tail->reason,
                          scan.tail->file.string(), static_cast<std::int64_t>(scan.tail->offset)};
      return rep;
    }
    rep.in_flight = scan.tail->frames;
  }
  if (max_cp > scan.records) {
    rep.problem = Error{"the signed checkpoint for tree size " + std::to_string(max_cp) + " covers more records than the " +
                            std::to_string(scan.records) + " in the ledger (truncated after record " +
                            std::to_string(scan.records == 0 ? 0 : scan.records - 1) + ")",
                        dir.string()};
    return rep;
  }
  if (!late.empty()) {
    // A live writer appends the note to the checkpoints file before it writes the checkpoint
    // record, so the file as it is now holds every note whose record the scan saw.
    LoadedCheckpoints now;
    if (auto e = load_checkpoints(cp_path, key, false, origin, now, &retry)) {
      rep.problem = e;
      return rep;
    }
    for (const auto& cp : local.list) {
      auto it = now.by_size.find(cp.size);
      if (it == now.by_size.end() || it->second->root != cp.root) {
        rep.problem = Error{"checkpoint for tree size " + std::to_string(cp.size) +
                                " left the checkpoints file while it was verified (rolled back or rewritten)",
                            cp_path.string()};
        return rep;
      }
    }
    for (const auto& r : late) {
      auto it = now.by_size.find(r.size);
      if (it == now.by_size.end() || r.note != it->second->text) {
        rep.problem = Error{"record " + std::to_string(r.seq) + " is the checkpoint for tree size " +
                                std::to_string(r.size) +
                                ", which the checkpoints file does not hold (checkpoints file rolled back or rewritten)",
                            r.file, static_cast<std::int64_t>(r.offset)};
        return rep;
      }
      auto root = roots_above_cp.find(r.size);
      if (r.size > max_cp && (root == roots_above_cp.end() || root->second != it->second->root)) {
        rep.problem = Error{"records do not match the signed checkpoint for tree size " + std::to_string(r.size) +
                                " (a record was changed, removed or inserted)",
                            cp_path.string()};
        return rep;
      }
    }
    rep.checkpoints = now.list.size();
  }
  // Every record must be covered by a signature: a batch seal or a signed checkpoint.
  if (rep.records > rep.covered) {
    auto at = max_cp >= last_seal ? uncovered_at_cp : uncovered_after_seal;
    rep.problem = Error{"records " + std::to_string(rep.covered) + ".." + std::to_string(rep.records - 1) +
                            " are covered by no signature (no batch seal or signed checkpoint): appended without the "
                            "key, or left by an older ddlgate that stopped before its next checkpoint",
                        at ? at->first : dir.string(), at ? static_cast<std::int64_t>(at->second) : -1};
  }
  return rep;
}

}  // namespace

VerifyReport verify_directory(const std::filesystem::path& dir, const NoteVerifier& key, const VerifyOptions& options) {
  // A frame or note cut short at the end is a torn tail, or a live writer's append seen half
  // done: look again a little later before calling it damage.
  VerifyReport rep;
  for (int attempt = 0;; ++attempt) {
    bool retry = false;
    rep = verify_directory_once(dir, key, options, retry);
    if (!retry || attempt == 2) return rep;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

bool ExportFilter::matches(const ParsedRecord& r) const {
  if (from && r.time < *from) return false;
  if (to && r.time > *to) return false;
  if (type && r.type != *type) return false;
  auto field_is = [&](const char* name, const std::optional<std::string>& want) {
    if (!want) return true;
    auto it = r.fields.find(name);
    return it != r.fields.end() && it->is_string() && it->get_ref<const std::string&>() == *want;
  };
  return field_is("decision", decision) && field_is("user", user) && field_is("database", database) &&
         field_is("session_id", session);
}

namespace {

using detail::csv_field;

std::string str_field(const json& fields, const char* name) {
  auto it = fields.find(name);
  return (it != fields.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

std::string uint_field(const json& fields, const char* name) {
  auto it = fields.find(name);
  return (it != fields.end() && it->is_number_unsigned()) ? std::to_string(it->get<std::uint64_t>()) : std::string();
}

json hex_list(const std::vector<Hash>& hs) {
  json a = json::array();
  for (const auto& h : hs) a.push_back(to_hex(h));
  return a;
}

}  // namespace

Status export_ledger(const std::filesystem::path& dir, const ExportFilter& filter, ExportFormat format,
                     std::ostream& out) {
  auto src = read_export_source(dir, filter);
  if (!src) return src.error();
  return write_export(*src, format, out);
}

Result<ExportSource> read_export_source(const std::filesystem::path& dir, const ExportFilter& filter) {
  ExportSource src;
  auto& tree = src.tree;
  auto& picked = src.picked;
  auto& parsed_picked = src.parsed_picked;
  LoadedCheckpoints cps;
  // Signatures are checked by verify; here only the notes are carried, so no key is needed.
  std::string text;
  auto cp_path = dir / kCheckpointsFileName;
  if (std::filesystem::exists(cp_path)) {
    if (auto ec = posix_file_system()->read_file(cp_path, kMaxSegmentReadSize, &text)) {
      return Error{"cannot read checkpoints", cp_path.string(), -1, ec};
    }
    auto parsed = parse_checkpoints(text);
    if (!parsed) return Error{parsed.error().reason, cp_path.string(), parsed.error().offset};
    cps.list = std::move(*parsed);
  }
  std::string last_seal;
  auto scan = scan_segments(*posix_file_system(), dir, [&](const ScannedRecord& r) -> std::optional<Error> {
    auto rec = parse_payload(r.payload);
    if (!rec) return Error{"record " + std::to_string(r.seq) + ": " + rec.error().reason};
    tree.append(leaf_hash(r.payload));
    if (filter.matches(*rec)) {
      picked.emplace_back(r.seq, std::string(r.payload));
      parsed_picked.push_back(std::move(*rec));
    }
    return std::nullopt;
  }, 0, [&](const ScannedBatch& b) -> std::optional<Error> {
    if (b.seal) last_seal = std::string(*b.seal);
    return std::nullopt;
  });
  if (scan.damage) return *scan.damage;
  // The last batch seal is a signed checkpoint too: when it reaches further than the checkpoints
  // file, it is exported as the last checkpoint, so that every record gets its proof.
  if (!last_seal.empty()) {
    auto seal = parse_checkpoint(last_seal);
    if (!seal) return Error{"last batch seal: " + seal.error().reason, dir.string()};
    std::uint64_t reached = 0;
    for (const auto& cp : cps.list) {
      if (cp.size <= tree.size()) reached = std::max(reached, cp.size);
    }
    if (seal->size > reached && seal->size <= tree.size()) {
      auto at = std::find_if(cps.list.begin(), cps.list.end(), [&](const Checkpoint& cp) { return cp.size > seal->size; });
      cps.list.insert(at, std::move(*seal));
    }
  }
  src.checkpoints = std::move(cps.list);
  return src;
}

Status write_export(const ExportSource& src, ExportFormat format, std::ostream& out) {
  if (src.picked.size() != src.parsed_picked.size()) return Error{"internal: export records not parsed"};
  return write_export_streamed(
      src.tree, src.tree.size(), src.checkpoints, src.picked.size(),
      [&](bool parse, const ExportRecordSink& sink) -> Status {
        for (std::size_t i = 0; i < src.picked.size(); ++i) {
          sink(src.picked[i].first, src.picked[i].second, parse ? &src.parsed_picked[i] : nullptr);
        }
        return Ok{};
      },
      format, out);
}

Status write_export_streamed(const FullTree& tree, std::uint64_t tree_size, const std::vector<Checkpoint>& checkpoints,
                             std::uint64_t count, const ExportRecordFeed& feed, ExportFormat format, std::ostream& out) {
  if (tree_size > tree.size()) return Error{"internal: export tree smaller than its size"};
  // The names export_ledger's body had before the split, so that the lines below are unchanged.
  const struct {
    const std::vector<Checkpoint>& list;
  } cps{checkpoints};
  // The proofs go to the largest checkpoint the ledger actually reaches.
  const Checkpoint* head = nullptr;
  for (const auto& cp : cps.list) {
    if (cp.size <= tree_size && cp.size > 0) head = &cp;
  }
  std::uint64_t head_size = head ? head->size : 0;
  std::uint64_t fed = 0;
  Status st = Ok{};
  if (format == ExportFormat::jsonl) {
    out << json{{"kind", "ledger_export"},
                {"format", 1},
                {"records_in_ledger", tree_size},
                {"records_exported", count},
                {"proof_tree_size", head_size}}
               .dump()
        << '\n';
    const Checkpoint* prev = nullptr;
    for (const auto& cp : cps.list) {
      if (cp.size > tree_size) break;
      out << json{{"kind", "checkpoint"}, {"note", cp.text}}.dump() << '\n';
      if (prev && prev->size > 0 && prev->size < cp.size) {
        out << json{{"kind", "consistency"},
                    {"from", prev->size},
                    {"to", cp.size},
                    {"proof", hex_list(tree.consistency_proof(prev->size, cp.size))}}
                   .dump()
            << '\n';
      }
      prev = &cp;
    }
    st = feed(false, [&](std::uint64_t seq, std::string_view payload, const ParsedRecord*) {
      ++fed;
      json line{{"kind", "record"}, {"seq", seq}, {"payload", std::string(payload)}};
      if (seq < head_size) {
        line["proof"] = json{{"tree_size", head_size}, {"hashes", hex_list(tree.inclusion_proof(seq, head_size))}};
      } else {
        line["proof"] = nullptr;
      }
      out << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
    });
  } else {
    out << "seq,time,type,decision,user,database,session_id,client_address,application_name,statement_hash,class,"
           "display_sql,reason,leaf_hash,proof_tree_size,proof,token_id,execution,display_sql_bytes,display_sql_sha256,"
           "suppressed\r\n";
    st = feed(true, [&](std::uint64_t, std::string_view, const ParsedRecord* parsed) {
      ++fed;
      const auto& r = *parsed;
      std::string proof;
      if (r.seq < head_size) {
        for (const auto& h : tree.inclusion_proof(r.seq, head_size)) proof += (proof.empty() ? "" : ";") + to_hex(h);
      }
      const auto& f = r.fields;
      out << r.seq << ',' << r.time << ',' << to_string(r.type) << ',' << csv_field(str_field(f, "decision")) << ','
          << csv_field(str_field(f, "user")) << ',' << csv_field(str_field(f, "database")) << ','
          << csv_field(str_field(f, "session_id")) << ',' << csv_field(str_field(f, "client_address")) << ','
          << csv_field(str_field(f, "application_name")) << ',' << csv_field(str_field(f, "statement_hash")) << ','
          << csv_field(str_field(f, "class")) << ',' << csv_field(str_field(f, "display_sql")) << ','
          << csv_field(str_field(f, "reason")) << ',' << to_hex(tree.leaf(r.seq)) << ','
          << (r.seq < head_size ? std::to_string(head_size) : std::string()) << ',' << proof << ','
          << csv_field(str_field(f, "token_id")) << ',' << uint_field(f, "execution") << ','
          << uint_field(f, "display_sql_bytes") << ',' << csv_field(str_field(f, "display_sql_sha256")) << ','
          << uint_field(f, "suppressed") << "\r\n";
    });
  }
  if (!st) return st;
  if (fed != count) return Error{"internal: the export was fed " + std::to_string(fed) + " records, not " + std::to_string(count)};
  if (!out) return Error{"writing the export failed"};
  return Ok{};
}

VerifyReport verify_export(const std::filesystem::path& file, const NoteVerifier& key, const std::string& origin) {
  VerifyReport rep;
  std::ifstream in(file);
  if (!in) {
    rep.problem = Error{"cannot open export", file.string()};
    return rep;
  }
  std::map<std::uint64_t, Checkpoint> cps;
  const Checkpoint* last_cp = nullptr;
  std::string line;
  std::int64_t offset = 0;
  std::int64_t line_no = 0;
  bool header = false;
  std::uint64_t declared = 0;
  std::optional<std::uint64_t> prev_seq;
  auto fail = [&](std::string why) {
    rep.problem = Error{"line " + std::to_string(line_no) + ": " + why, file.string(), offset};
    return rep;
  };
  while (std::getline(in, line)) {
    ++line_no;
    std::int64_t this_offset = offset;
    offset += static_cast<std::int64_t>(line.size()) + 1;
    if (line.size() > 2 * kMaxPayloadSize) return fail("line longer than the record cap");
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("kind") || !j["kind"].is_string()) {
      offset = this_offset;
      return fail("not a JSON export line");
    }
    const auto kind = j["kind"].get<std::string>();
    offset = this_offset;
    if (!header) {
      if (kind != "ledger_export") return fail("an export starts with a ledger_export line");
      header = true;
      declared = j.value("records_exported", std::uint64_t{0});
    } else if (kind == "checkpoint") {
      if (!j.contains("note") || !j["note"].is_string()) return fail("checkpoint without note");
      auto cp = parse_checkpoint(j["note"].get<std::string>());
      if (!cp) return fail(cp.error().reason);
      if (!origin.empty() && cp->origin != origin) {
        return fail("checkpoint for tree size " + std::to_string(cp->size) + " has origin " + cp->origin +
                    ", not the pinned " + origin);
      }
      if (last_cp && cp->origin != last_cp->origin) return fail("checkpoint origin changes");
      if (!verify_checkpoint(*cp, key)) {
        return fail("checkpoint for tree size " + std::to_string(cp->size) + " has no valid signature by the given key");
      }
      if (last_cp && cp->size < last_cp->size) return fail("checkpoint tree sizes go backwards");
      if (last_cp && cp->size == last_cp->size && cp->root != last_cp->root) return fail("two roots for one size (fork)");
      last_cp = &(cps[cp->size] = std::move(*cp));
      ++rep.checkpoints;
    } else if (kind == "consistency") {
      auto from = j.value("from", std::uint64_t{0}), to = j.value("to", std::uint64_t{0});
      if (!cps.count(from) || !cps.count(to)) return fail("consistency proof between unknown checkpoints");
      std::vector<Hash> proof;
      if (!j.contains("proof") || !j["proof"].is_array()) return fail("consistency proof missing");
      for (const auto& h : j["proof"]) {
        auto v = h.is_string() ? hash_from_hex(h.get<std::string>()) : std::nullopt;
        if (!v) return fail("malformed hash in consistency proof");
        proof.push_back(*v);
      }
      if (!verify_consistency(from, to, cps[from].root, cps[to].root, proof)) {
        return fail("checkpoint " + std::to_string(to) + " is not an extension of checkpoint " + std::to_string(from));
      }
    } else if (kind == "record") {
      if (!j.contains("payload") || !j["payload"].is_string() || !j.contains("seq") || !j["seq"].is_number_unsigned()) {
        return fail("record without seq or payload");
      }
      auto seq = j["seq"].get<std::uint64_t>();
      const auto& payload = j["payload"].get_ref<const std::string&>();
      auto rec = parse_payload(payload);
      if (!rec) return fail("record " + std::to_string(seq) + ": " + rec.error().reason);
      if (rec->seq != seq) return fail("record " + std::to_string(seq) + ": payload says sequence " + std::to_string(rec->seq));
      if (prev_seq && seq <= *prev_seq) return fail("record " + std::to_string(seq) + " out of order or duplicated");
      prev_seq = seq;
      ++rep.records;
      const auto& proof = j["proof"];
      if (proof.is_null()) continue;  // after the last checkpoint: not yet covered
      auto size = proof.value("tree_size", std::uint64_t{0});
      auto it = cps.find(size);
      if (it == cps.end()) return fail("record " + std::to_string(seq) + ": proof for a tree size with no checkpoint");
      std::vector<Hash> hashes;
      if (!proof.contains("hashes") || !proof["hashes"].is_array()) return fail("record proof without hashes");
      for (const auto& h : proof["hashes"]) {
        auto v = h.is_string() ? hash_from_hex(h.get<std::string>()) : std::nullopt;
        if (!v) return fail("malformed hash in inclusion proof");
        hashes.push_back(*v);
      }
      if (!verify_inclusion(leaf_hash(payload), seq, size, hashes, it->second.root)) {
        return fail("record " + std::to_string(seq) + " is not in the signed tree of size " + std::to_string(size) +
                    " (changed or forged)");
      }
      ++rep.covered;
    } else {
      return fail("unknown line kind \"" + kind + "\"");
    }
    offset = this_offset + static_cast<std::int64_t>(line.size()) + 1;
  }
  if (!header) {
    rep.problem = Error{"empty export", file.string()};
  } else if (rep.records != declared) {
    rep.problem = Error{"export holds " + std::to_string(rep.records) + " record(s) but its header declares " +
                            std::to_string(declared) + " (lines removed or added)",
                        file.string()};
  }
  return rep;
}

Status read_records(const std::filesystem::path& dir, std::uint64_t from_seq,
                    const std::function<void(const ParsedRecord&)>& sink, std::uint64_t* next_seq) {
  auto scan = scan_segments(*posix_file_system(), dir, [&](const ScannedRecord& r) -> std::optional<Error> {
    if (r.seq < from_seq) return std::nullopt;
    auto rec = parse_payload(r.payload);
    if (!rec) return Error{"record " + std::to_string(r.seq) + ": " + rec.error().reason};
    sink(*rec);
    return std::nullopt;
  }, from_seq);
  if (next_seq) *next_seq = scan.next_seq;
  if (scan.damage) return *scan.damage;
  return Ok{};
}

}  // namespace ddlgate::ledger
