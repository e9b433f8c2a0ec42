// analyze(): parse once with libpg_query (protobuf output), then per statement:
// classify, and for controlled statements (or Detail::all) hash and deparse.
#include "ddlgate/sql/analyze.h"

#include <cstring>
#include <string>
#include <strings.h>
#include <utility>
#include <vector>

#include <openssl/evp.h>
#include <pthread.h>

#include "classify.h"
#include "command_tag.h"
#include "ddlgate/base/hex.h"
#include "fast_path.h"
#include "pg_tree.h"

namespace ddlgate::sql {

// Pinned to the libpg_query release whose tree layout the hash serialises
// (docs/hash.md). Changing libpg_query means re-checking tests/sql/hash_vectors.txt.
const std::string_view kHashVersionTag = "ddlgate-statement-hash/v1 libpg_query/15-4.0.0\n";

bool Analysis::any_controlled() const {
  if (error) return true;
  for (const auto& s : statements) {
    if (s.controlled) return true;
  }
  return false;
}

bool Analysis::any_uncontrolled_event() const {
  for (const auto& s : statements) {
    if (!s.controlled && s.fires_event_triggers) return true;
  }
  return false;
}

bool Analysis::any_session_effect() const {
  for (const auto& s : statements) {
    if (s.session_effect != SessionEffect::none) return true;
  }
  return false;
}

namespace {

// protobuf-c stores strings as char*; the placeholder is swapped in and out, never freed.
char kRedactedBuf[] = "********";

bool is_position_field(const ProtobufCFieldDescriptor& f) {
  return f.type == PROTOBUF_C_TYPE_INT32 && f.label == PROTOBUF_C_LABEL_NONE &&
         (std::strcmp(f.name, "location") == 0 || std::strcmp(f.name, "stmt_location") == 0 ||
          std::strcmp(f.name, "stmt_len") == 0);
}

// Sets every source-position field below msg to 0 (proto3: 0 is the default and
// is not serialised, so a removed position leaves no trace in the bytes).
bool strip_positions(ProtobufCMessage* msg) {
  auto visit = [](ProtobufCMessage* m) {
    const ProtobufCMessageDescriptor* d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; ++i) {
      if (is_position_field(d->fields[i])) {
        *reinterpret_cast<std::int32_t*>(reinterpret_cast<char*>(m) + d->fields[i].offset) = 0;
      }
    }
    return true;
  };
  return detail::walk(msg, visit);
}

// The statement Node with positions stripped, serialised by protobuf-c (the hash
// input after the tag). Empty if the tree is too deep to walk.
std::vector<std::uint8_t> canonical_bytes(PgQuery__Node* node) {
  if (!strip_positions(&node->base)) return {};
  std::vector<std::uint8_t> bytes(protobuf_c_message_get_packed_size(&node->base));
  protobuf_c_message_pack(&node->base, bytes.data());
  return bytes;
}

// "sha256:<hex>" of kHashVersionTag || canonical bytes. Empty on failure.
std::string canonical_hash(const std::vector<std::uint8_t>& node_bytes) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return {};
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  bool ok = EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx, kHashVersionTag.data(), kHashVersionTag.size()) == 1 &&
            EVP_DigestUpdate(ctx, node_bytes.data(), node_bytes.size()) == 1 &&
            EVP_DigestFinal_ex(ctx, digest, &digest_len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return {};
  return "sha256:" + base::hex_encode(digest, digest_len);
}

void append_varint(std::vector<std::uint8_t>* out, std::uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<std::uint8_t>(v));
}

// ParseResult{version: 1, stmts: 2 [RawStmt{stmt: 1 = node}]} around already
// serialised Node bytes, so that deparsing does not serialise the tree again
// (protobuf-c packing is the largest cost of hashing a migration file).
std::vector<std::uint8_t> wrap_as_parse_result(const std::vector<std::uint8_t>& node_bytes, std::int32_t version) {
  std::vector<std::uint8_t> raw_stmt;
  raw_stmt.reserve(node_bytes.size() + 6);
  raw_stmt.push_back(0x0a);  // field 1 (stmt), length-delimited
  append_varint(&raw_stmt, node_bytes.size());
  raw_stmt.insert(raw_stmt.end(), node_bytes.begin(), node_bytes.end());
  std::vector<std::uint8_t> out;
  out.reserve(raw_stmt.size() + 12);
  if (version != 0) {
    out.push_back(0x08);  // field 1 (version), varint
    append_varint(&out, static_cast<std::uint32_t>(version));
  }
  out.push_back(0x12);  // field 2 (stmts), length-delimited
  append_varint(&out, raw_stmt.size());
  out.insert(out.end(), raw_stmt.begin(), raw_stmt.end());
  return out;
}

// Swaps secret strings for the placeholder and puts them back on destruction, so
// that the tree freed by protobuf-c is the one it allocated.
class Redactor {
 public:
  Redactor() = default;
  Redactor(const Redactor&) = delete;
  Redactor& operator=(const Redactor&) = delete;
  ~Redactor() {
    for (auto it = swapped_.rbegin(); it != swapped_.rend(); ++it) *it->first = it->second;
  }

  // Whether any secret was replaced.
  bool changed() const { return !swapped_.empty(); }

  void redact(PgQuery__Node* statement) {
    auto visit = [this](ProtobufCMessage* m) {
      const ProtobufCMessageDescriptor* d = m->descriptor;
      if (d == &pg_query__def_elem__descriptor) {
        auto* def = reinterpret_cast<PgQuery__DefElem*>(m);
        // PASSWORD in CREATE/ALTER ROLE/USER, and password options of servers etc.
        if (def->defname != nullptr && strcasecmp(def->defname, "password") == 0) redact_strings(def->arg);
      } else if (d == &pg_query__create_user_mapping_stmt__descriptor) {
        auto* s = reinterpret_cast<PgQuery__CreateUserMappingStmt*>(m);
        for (std::size_t i = 0; i < s->n_options; ++i) redact_option_value(s->options[i]);
      } else if (d == &pg_query__alter_user_mapping_stmt__descriptor) {
        auto* s = reinterpret_cast<PgQuery__AlterUserMappingStmt*>(m);
        for (std::size_t i = 0; i < s->n_options; ++i) redact_option_value(s->options[i]);
      } else if (d == &pg_query__create_subscription_stmt__descriptor) {
        swap(&reinterpret_cast<PgQuery__CreateSubscriptionStmt*>(m)->conninfo);
      } else if (d == &pg_query__alter_subscription_stmt__descriptor) {
        swap(&reinterpret_cast<PgQuery__AlterSubscriptionStmt*>(m)->conninfo);
      } else if (d == &pg_query__variable_set_stmt__descriptor) {
        // ddlgate's own settings (SET ddlgate.break_glass = 'TOKEN') carry tokens.
        auto* s = reinterpret_cast<PgQuery__VariableSetStmt*>(m);
        if (s->name != nullptr && strncasecmp(s->name, "ddlgate.", 8) == 0) {
          for (std::size_t i = 0; i < s->n_args; ++i) redact_strings(s->args[i]);
        }
      }
      return true;
    };
    detail::walk(&statement->base, visit);
  }

 private:
  void swap(char** slot) {
    if (*slot == nullptr || (*slot)[0] == '\0' || *slot == kRedactedBuf) return;
    swapped_.emplace_back(slot, *slot);
    *slot = kRedactedBuf;
  }
  void redact_option_value(PgQuery__Node* opt) {
    if (opt != nullptr && opt->node_case == PG_QUERY__NODE__NODE_DEF_ELEM) redact_strings(opt->def_elem->arg);
  }
  // Every string literal below node (a String node, or an A_Const holding one).
  void redact_strings(PgQuery__Node* node) {
    if (node == nullptr) return;
    auto visit = [this](ProtobufCMessage* m) {
      if (m->descriptor == &pg_query__string__descriptor) swap(&reinterpret_cast<PgQuery__String*>(m)->sval);
      return true;
    };
    detail::walk(&node->base, visit);
  }

  std::vector<std::pair<char**, char*>> swapped_;
};

// Whether libpg_query's JSON parse tree holds a string field, other than a String node's
// value (`sval`), that is present but empty (`"gid":""`). Such a field comes from an empty
// string literal where the grammar puts it in a plain text field. It reads back from the
// protobuf tree as NULL (protobuf cannot tell empty from absent), and libpg_query 15-4.0.0's
// deparser dereferences several of those without a check: LOAD '', PREPARE TRANSACTION '', COMMIT and
// ROLLBACK PREPARED '', ALTER TYPE ... ADD VALUE '', ALTER SUBSCRIPTION ... CONNECTION '',
// CREATE CONVERSION ... FOR '' (found by fuzz_classifier). Rather than list the fields, no
// statement of such a text is deparsed. In JSON a quote inside a string is escaped, so `":""`
// occurs only after a key.
bool has_empty_text_field(std::string_view json) {
  constexpr std::string_view kEmptyValue = "\":\"\"";
  for (std::size_t at = json.find(kEmptyValue); at != std::string_view::npos; at = json.find(kEmptyValue, at + 1)) {
    const std::size_t key_start = json.rfind('"', at == 0 ? 0 : at - 1);
    if (key_start == std::string_view::npos) return true;
    if (json.substr(key_start + 1, at - key_start - 1) != "sval") return true;
  }
  return false;
}

// The statement as SQL text, by libpg_query's deparser, secrets replaced.
// node_bytes: the node's canonical bytes, reused when nothing needs redacting.
std::string display_sql(PgQuery__Node* node, const std::vector<std::uint8_t>& node_bytes, std::int32_t version) {
  Redactor redactor;
  redactor.redact(node);
  std::vector<std::uint8_t> bytes;
  if (!redactor.changed()) {
    bytes = wrap_as_parse_result(node_bytes, version);
  } else {
    PgQuery__RawStmt raw;
    pg_query__raw_stmt__init(&raw);
    raw.stmt = node;
    PgQuery__RawStmt* stmts[1] = {&raw};
    PgQuery__ParseResult result;
    pg_query__parse_result__init(&result);
    result.version = version;
    result.n_stmts = 1;
    result.stmts = stmts;
    bytes.resize(pg_query__parse_result__get_packed_size(&result));
    pg_query__parse_result__pack(&result, bytes.data());
  }
  PgQueryProtobuf pb{bytes.size(), reinterpret_cast<char*>(bytes.data())};
  PgQueryDeparseResult deparsed = pg_query_deparse_protobuf(pb);
  std::string out;
  if (deparsed.error != nullptr) {
    out = std::string("-- cannot deparse: ") + (deparsed.error->message ? deparsed.error->message : "?");
  } else if (deparsed.query != nullptr) {
    out = deparsed.query;
  }
  pg_query_free_deparse_result(deparsed);
  return out;
}

// libpg_query's copy of PostgreSQL's scanner setting; thread-local, so setting it
// affects only the parse running on this thread. Part of PostgreSQL's scanner
// interface (scan.l), exported by libpg_query, not of its documented API.
extern "C" __thread bool standard_conforming_strings;

// Sets the scanner settings for one parse on this thread and restores them after.
class ScannerSettings {
 public:
  explicit ScannerSettings(const ParseOptions& options) : saved_scs_(standard_conforming_strings) {
    standard_conforming_strings = options.standard_conforming_strings;
  }
  ~ScannerSettings() { standard_conforming_strings = saved_scs_; }
  ScannerSettings(const ScannerSettings&) = delete;
  ScannerSettings& operator=(const ScannerSettings&) = delete;

 private:
  bool saved_scs_;
};

Analysis analyze_here(std::string_view sql, const Policy& policy, Detail detail_level, const ParseOptions& options) {
  ScannerSettings scanner(options);
  Analysis out;
  // PostgreSQL's Query and Parse messages are NUL-terminated strings, and
  // libpg_query takes a C string: an embedded NUL would hide what follows it.
  if (auto nul = sql.find('\0'); nul != std::string_view::npos) {
    out.error = ParseError{"statement text contains a NUL byte", nul + 1};
    return out;
  }
  std::string text(sql);
  const ParseError too_deep{"statement nested too deeply (more than " + std::to_string(detail::kMaxTreeDepth) +
                                " levels in the parse tree)",
                            0};
  bool deparse_unsafe = false;
  {
    // First the JSON parse: it is linear in the tree (the protobuf one is not, see
    // json_depth), it gives PostgreSQL's error for bad SQL, it bounds the depth
    // before anything recursive or quadratic runs, and it feeds the hot path.
    detail::JsonParse json_parse(text.c_str());
    if (const PgQueryError* err = json_parse.get().error; err != nullptr) {
      out.error = ParseError{err->message != nullptr ? err->message : "parse error",
                             err->cursorpos > 0 ? static_cast<std::size_t>(err->cursorpos) : 0};
      return out;
    }
    if (json_parse.get().parse_tree == nullptr) {
      out.error = ParseError{"libpg_query returned no parse tree", 0};
      return out;
    }
    std::string_view json(json_parse.get().parse_tree);
    if (detail::json_depth(json) > static_cast<std::size_t>(detail::kMaxTreeDepth)) {
      out.error = too_deep;
      return out;
    }
    if (detail_level == Detail::controlled_only) {
      if (auto fast = detail::fast_analyze(json, text.size(), policy)) return std::move(*fast);
    }
    deparse_unsafe = detail_level != Detail::hashes && has_empty_text_field(json);
  }
  detail::ProtobufParse parsed(text.c_str());
  if (const PgQueryError* err = parsed.get().error; err != nullptr) {
    out.error = ParseError{err->message != nullptr ? err->message : "parse error",
                           err->cursorpos > 0 ? static_cast<std::size_t>(err->cursorpos) : 0};
    return out;
  }
  const PgQueryProtobuf& pb = parsed.get().parse_tree;
  // Defence in depth: protobuf-c's unpacker recurses without a limit.
  if (!detail::protobuf_depth_within(reinterpret_cast<const std::uint8_t*>(pb.data), pb.len,
                                     &pg_query__parse_result__descriptor, detail::kMaxTreeDepth)) {
    out.error = too_deep;
    return out;
  }
  detail::UnpackedParse tree(pb);
  if (tree.get() == nullptr) {
    out.error = ParseError{"cannot decode libpg_query's parse tree", 0};
    return out;
  }
  PgQuery__ParseResult* result = tree.get();
  out.statements.reserve(result->n_stmts);
  for (std::size_t i = 0; i < result->n_stmts; ++i) {
    PgQuery__RawStmt* raw = result->stmts[i];
    Statement st;
    if (raw != nullptr) {
      // stmt_len 0 means "to the end of the string" (the last statement).
      auto loc = static_cast<std::size_t>(raw->stmt_location > 0 ? raw->stmt_location : 0);
      st.offset = loc <= sql.size() ? loc : sql.size();
      st.length = raw->stmt_len > 0 ? static_cast<std::size_t>(raw->stmt_len) : sql.size() - st.offset;
      if (st.length > sql.size() - st.offset) st.length = sql.size() - st.offset;
    }
    PgQuery__Node* node = raw != nullptr ? raw->stmt : nullptr;
    detail::Classification c = detail::classify_node(node);
    st.cls = c.cls;
    st.temporary = c.temporary;
    st.controlled = policy.controlled(c.cls, c.temporary);
    st.deferred = node != nullptr && (node->node_case == PG_QUERY__NODE__NODE_PREPARE_STMT ||
                                      node->node_case == PG_QUERY__NODE__NODE_DECLARE_CURSOR_STMT);
    if (node != nullptr && node->node_case == PG_QUERY__NODE__NODE_TRANSACTION_STMT && node->transaction_stmt) {
      const PgQuery__TransactionStmt* t = node->transaction_stmt;
      st.session_effect = detail::session_effect(t->kind, t->chain);
      if (st.session_effect != SessionEffect::chain && t->savepoint_name != nullptr) {
        st.effect_name = t->savepoint_name;
      }
    }
    if (node != nullptr && node->node_case == PG_QUERY__NODE__NODE_DEALLOCATE_STMT && node->deallocate_stmt) {
      // A NULL (empty) name is DEALLOCATE ALL.
      const char* name = node->deallocate_stmt->name;
      st.session_effect = name != nullptr && *name != '\0' ? SessionEffect::deallocate : SessionEffect::deallocate_all;
      if (st.session_effect == SessionEffect::deallocate) st.effect_name = name;
    }
    if (node != nullptr) {
      // Every ExecuteStmt in the tree, not only at the top: EXPLAIN and CREATE TABLE AS
      // wrap one, and the grammar may grow other places.
      auto visit = [&st](ProtobufCMessage* m) {
        if (m->descriptor == &pg_query__execute_stmt__descriptor) {
          const char* name = reinterpret_cast<PgQuery__ExecuteStmt*>(m)->name;
          st.executes.emplace_back(name != nullptr ? name : "");
        }
        return true;
      };
      detail::walk(&node->base, visit);
    }
    if (node != nullptr && node->node_case == PG_QUERY__NODE__NODE_DISCARD_STMT && node->discard_stmt &&
        node->discard_stmt->target == PG_QUERY__DISCARD_MODE__DISCARD_ALL) {
      st.session_effect = SessionEffect::deallocate_all;
    }
    if (node != nullptr && (st.controlled || detail_level != Detail::controlled_only)) {
      std::vector<std::uint8_t> node_bytes = canonical_bytes(node);
      if (!node_bytes.empty()) st.hash = canonical_hash(node_bytes);
      if (st.hash.empty()) {
        // Too deep to serialise safely: never approvable.
        st.cls = StatementClass::unknown;
        st.controlled = true;
      }
      // Deparsing costs more than hashing; a verifier compares hashes only.
      if (!node_bytes.empty() && detail_level != Detail::hashes) {
        st.display_sql = deparse_unsafe ? std::string("-- cannot deparse: an empty string literal where libpg_query's "
                                                      "deparser cannot take one")
                                        : display_sql(node, node_bytes, result->version);
      }
    }
    // After the hash: a statement too deep to hash has just become controlled. Reads,
    // writes, transaction control and session statements never fire event triggers
    // (cmdtaglist.h); the other uncontrolled ones may (REFRESH MATERIALIZED VIEW, a
    // released temporary table), and the guard must be told of those.
    if (node != nullptr && (st.controlled || detail_level == Detail::all || detail::may_fire_event_triggers(st.cls))) {
      st.command_tag = detail::command_tag(node);
      st.names_qualified = detail::names_qualified(node);
      st.fires_event_triggers = detail::fires_event_triggers(st.command_tag);
      for (std::string_view tag : detail::nested_command_tags(node)) st.nested_tags.emplace_back(tag);
    }
    out.statements.push_back(std::move(st));
  }
  return out;
}

// libpg_query's parser output recurses once per tree level with no depth check
// of its own; `SELECT 1+1+...+1` overflowed an 8 MB stack from about 60 KB of text
// (~140 bytes of stack per input byte). Inputs up to kInlineBytes are analysed on
// the caller's stack (a worker thread's default 8 MB leaves a wide margin); larger
// ones on a thread whose stack grows with the input (reserved, touched only as
// deep as the tree goes), and inputs above kMaxAnalyzedBytes are refused.
constexpr std::size_t kInlineBytes = 16 * 1024;
constexpr std::size_t kStackBytesPerInputByte = 256;
constexpr std::size_t kMinBigStack = 16u * 1024 * 1024;

struct BigStackJob {
  std::string_view sql;
  const Policy* policy;
  Detail detail;
  ParseOptions options;
  Analysis out;
  bool failed = false;
};

void* run_big_stack_job(void* arg) {
  auto* job = static_cast<BigStackJob*>(arg);
  try {
    job->out = analyze_here(job->sql, *job->policy, job->detail, job->options);
  } catch (...) {  // bad_alloc: report it as a value, never unwind out of the thread
    job->failed = true;
  }
  return nullptr;
}

Analysis refused(std::string message) {
  Analysis out;
  out.error = ParseError{std::move(message), 0};
  return out;
}

}  // namespace

Analysis analyze(std::string_view sql, const Policy& policy, Detail detail_level, ParseOptions options) {
  if (sql.size() <= kInlineBytes) return analyze_here(sql, policy, detail_level, options);
  if (sql.size() > kMaxAnalyzedBytes) {
    return refused("statement text too large to analyse (" + std::to_string(sql.size()) + " bytes, limit " +
                   std::to_string(kMaxAnalyzedBytes) + ")");
  }
  BigStackJob job{sql, &policy, detail_level, options, {}, false};
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return refused("cannot start the parser thread");
  std::size_t stack = sql.size() * kStackBytesPerInputByte;
  pthread_attr_setstacksize(&attr, stack < kMinBigStack ? kMinBigStack : stack);
  pthread_t thread;
  int rc = pthread_create(&thread, &attr, run_big_stack_job, &job);
  pthread_attr_destroy(&attr);
  if (rc != 0) return refused("cannot start the parser thread (out of memory for its stack)");
  pthread_join(thread, nullptr);
  if (job.failed) return refused("out of memory while analysing the statement");
  return std::move(job.out);
}

}  // namespace ddlgate::sql
