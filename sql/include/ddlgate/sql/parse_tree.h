// A depth-checked libpg_query parse tree of a SQL text, and a walk over it, for
// modules that read statements beyond their class (the lint module). analyze()
// stays the reference for classification and hashing.
#pragma once

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "ddlgate/sql/analyze.h"

namespace ddlgate::sql {
namespace tree {

// The deepest message nesting ddlgate accepts (a Node and its member count as two
// levels; `1+1+...+1` with n operators is about 2n deep). protobuf-c's unpacker
// recurses once per level with no limit of its own and overflowed an 8 MB stack
// near 10,000 levels; real statements stay far below 100. A deeper tree is refused
// as a parse error (fail closed) before anything recursive touches it.
inline constexpr int kMaxTreeDepth = 2000;

// Calls visit(message) for msg and every message below it, parents first.
// visit returns false to skip a message's children. Returns false if the tree is
// deeper than kMaxTreeDepth (the walk is then incomplete).
template <class Visit>
bool walk(ProtobufCMessage* msg, Visit& visit, int depth = 0) {
  if (depth > kMaxTreeDepth) return false;
  if (!visit(msg)) return true;
  const ProtobufCMessageDescriptor* desc = msg->descriptor;
  char* base = reinterpret_cast<char*>(msg);
  if (desc == &pg_query__node__descriptor) {
    // Node is a oneof over ~240 types: go straight to the set member instead of
    // scanning every field (this is most of the cost of a naive walk).
    auto* node = reinterpret_cast<PgQuery__Node*>(msg);
    if (node->node_case == PG_QUERY__NODE__NODE__NOT_SET) return true;
    const ProtobufCFieldDescriptor* field =
        protobuf_c_message_descriptor_get_field(desc, static_cast<unsigned>(node->node_case));
    if (field == nullptr) return true;
    auto* child = *reinterpret_cast<ProtobufCMessage**>(base + field->offset);
    return child == nullptr || walk(child, visit, depth + 1);
  }
  for (unsigned i = 0; i < desc->n_fields; ++i) {
    const ProtobufCFieldDescriptor& field = desc->fields[i];
    if (field.type != PROTOBUF_C_TYPE_MESSAGE) continue;
    if ((field.flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0 &&
        *reinterpret_cast<const std::uint32_t*>(base + field.quantifier_offset) != field.id) {
      continue;  // another member of the oneof is set; this pointer aliases it
    }
    if (field.label == PROTOBUF_C_LABEL_REPEATED) {
      std::size_t n = *reinterpret_cast<const std::size_t*>(base + field.quantifier_offset);
      auto** items = *reinterpret_cast<ProtobufCMessage***>(base + field.offset);
      for (std::size_t k = 0; k < n; ++k) {
        if (items[k] != nullptr && !walk(items[k], visit, depth + 1)) return false;
      }
    } else {
      auto* child = *reinterpret_cast<ProtobufCMessage**>(base + field.offset);
      if (child != nullptr && !walk(child, visit, depth + 1)) return false;
    }
  }
  return true;
}

// A Node's set member as a generic message (nullptr if none).
inline ProtobufCMessage* node_member(const PgQuery__Node* node) {
  if (node == nullptr || node->node_case == PG_QUERY__NODE__NODE__NOT_SET) return nullptr;
  const ProtobufCFieldDescriptor* field =
      protobuf_c_message_descriptor_get_field(&pg_query__node__descriptor, static_cast<unsigned>(node->node_case));
  if (field == nullptr) return nullptr;
  return *reinterpret_cast<ProtobufCMessage* const*>(reinterpret_cast<const char*>(node) + field->offset);
}

}  // namespace tree

// An owned libpg_query protobuf parse tree (never deeper than tree::kMaxTreeDepth).
class ParseTree {
 public:
  explicit ParseTree(PgQuery__ParseResult* root) : root_(root) {}
  ~ParseTree();
  ParseTree(const ParseTree&) = delete;
  ParseTree& operator=(const ParseTree&) = delete;
  const PgQuery__ParseResult& root() const { return *root_; }

 private:
  PgQuery__ParseResult* root_;
};

// A parse error or the tree.
struct ParsedText {
  std::optional<ParseError> error;
  std::unique_ptr<ParseTree> tree;
};

// Parses sql with PostgreSQL 15's grammar: the JSON parse first (linear, it bounds
// the depth), then the protobuf tree. Inputs above kMaxAnalyzedBytes are refused.
// libpg_query recurses once per tree level: call it inside with_parser_stack().
ParsedText parse_tree(std::string_view sql);

// Runs fn on the caller's stack when input_bytes is small (16 KiB), else on a thread
// whose stack grows with the input, as analyze() does. false if that thread cannot
// be started or fn throws (fn's effects are then incomplete).
bool with_parser_stack(std::size_t input_bytes, const std::function<void()>& fn);

}  // namespace ddlgate::sql
