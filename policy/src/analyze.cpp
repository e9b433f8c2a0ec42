// analyze(): parse once with libpg_query (protobuf output), then per statement:
// classify, and for controlled statements (or Detail::all) hash and deparse.
#include "ddlgate/policy/analyze.h"

#include <cstring>
#include <strings.h>
#include <utility>
#include <vector>

#include <openssl/evp.h>

#include "classify.h"
#include "fast_path.h"
#include "pg_tree.h"

namespace ddlgate::policy {

// Pinned to the libpg_query release whose tree layout the hash serialises
// (docs/hash.md). Changing libpg_query means re-checking tests/policy/hash_vectors.txt.
const std::string_view kHashVersionTag = "ddlgate-statement-hash/v1 libpg_query/15-4.0.0\n";

bool Analysis::any_controlled() const {
  if (error) return true;
  for (const auto& s : statements) {
    if (s.controlled) return true;
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

std::string to_hex(const unsigned char* data, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

// "sha256:<hex>" of kHashVersionTag || protobuf-c serialisation of the statement
// Node with positions stripped. Empty on failure (the caller fails closed).
std::string canonical_hash(PgQuery__Node* node) {
  if (!strip_positions(&node->base)) return {};
  std::size_t size = protobuf_c_message_get_packed_size(&node->base);
  std::vector<std::uint8_t> bytes(kHashVersionTag.size() + size);
  std::memcpy(bytes.data(), kHashVersionTag.data(), kHashVersionTag.size());
  protobuf_c_message_pack(&node->base, bytes.data() + kHashVersionTag.size());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &digest_len, EVP_sha256(), nullptr) != 1) return {};
  return "sha256:" + to_hex(digest, digest_len);
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

// The statement as SQL text, by libpg_query's deparser, secrets replaced.
std::string display_sql(PgQuery__Node* node, std::int32_t version) {
  Redactor redactor;
  redactor.redact(node);
  PgQuery__RawStmt raw;
  pg_query__raw_stmt__init(&raw);
  raw.stmt = node;
  PgQuery__RawStmt* stmts[1] = {&raw};
  PgQuery__ParseResult result;
  pg_query__parse_result__init(&result);
  result.version = version;
  result.n_stmts = 1;
  result.stmts = stmts;
  std::vector<std::uint8_t> bytes(pg_query__parse_result__get_packed_size(&result));
  pg_query__parse_result__pack(&result, bytes.data());
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

}  // namespace

Analysis analyze(std::string_view sql, const Policy& policy, Detail detail_level) {
  Analysis out;
  // PostgreSQL's Query and Parse messages are NUL-terminated strings, and
  // libpg_query takes a C string: an embedded NUL would hide what follows it.
  if (auto nul = sql.find('\0'); nul != std::string_view::npos) {
    out.error = ParseError{"statement text contains a NUL byte", nul + 1};
    return out;
  }
  std::string text(sql);
  if (detail_level == Detail::controlled_only) {
    if (auto fast = detail::fast_analyze(text.c_str(), text.size(), policy)) return std::move(*fast);
  }
  detail::ProtobufParse parsed(text.c_str());
  if (const PgQueryError* err = parsed.get().error; err != nullptr) {
    out.error = ParseError{err->message != nullptr ? err->message : "parse error",
                           err->cursorpos > 0 ? static_cast<std::size_t>(err->cursorpos) : 0};
    return out;
  }
  detail::UnpackedParse tree(parsed.get().parse_tree);
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
    if (node != nullptr && (st.controlled || detail_level != Detail::controlled_only)) {
      st.hash = canonical_hash(node);
      if (st.hash.empty()) {
        // Too deep to serialise safely: never approvable.
        st.cls = StatementClass::unknown;
        st.controlled = true;
      }
      // Deparsing costs more than hashing; a verifier compares hashes only.
      if (detail_level != Detail::hashes) st.display_sql = display_sql(node, result->version);
    }
    out.statements.push_back(std::move(st));
  }
  return out;
}

}  // namespace ddlgate::policy
