// Internal helpers over libpg_query's protobuf-c parse tree: RAII owners for
// libpg_query's results and a generic pre-order walk driven by the message
// descriptors (so that it reaches every node type, including ones added later).
#pragma once

#include <cstddef>
#include <cstdint>

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

namespace ddlgate::sql::detail {

// Owns a pg_query_parse_protobuf result.
class ProtobufParse {
 public:
  explicit ProtobufParse(const char* sql) : result_(pg_query_parse_protobuf(sql)) {}
  ~ProtobufParse() { pg_query_free_protobuf_parse_result(result_); }
  ProtobufParse(const ProtobufParse&) = delete;
  ProtobufParse& operator=(const ProtobufParse&) = delete;
  const PgQueryProtobufParseResult& get() const { return result_; }

 private:
  PgQueryProtobufParseResult result_;
};

// Owns a pg_query_parse (JSON) result.
class JsonParse {
 public:
  explicit JsonParse(const char* sql) : result_(pg_query_parse(sql)) {}
  ~JsonParse() { pg_query_free_parse_result(result_); }
  JsonParse(const JsonParse&) = delete;
  JsonParse& operator=(const JsonParse&) = delete;
  const PgQueryParseResult& get() const { return result_; }

 private:
  PgQueryParseResult result_;
};

// Owns an unpacked ParseResult message.
class UnpackedParse {
 public:
  explicit UnpackedParse(const PgQueryProtobuf& pb)
      : tree_(pg_query__parse_result__unpack(nullptr, pb.len, reinterpret_cast<const std::uint8_t*>(pb.data))) {}
  ~UnpackedParse() {
    if (tree_ != nullptr) pg_query__parse_result__free_unpacked(tree_, nullptr);
  }
  UnpackedParse(const UnpackedParse&) = delete;
  UnpackedParse& operator=(const UnpackedParse&) = delete;
  PgQuery__ParseResult* get() const { return tree_; }

 private:
  PgQuery__ParseResult* tree_;
};

// The deepest message nesting ddlgate accepts (a Node and its member count as two
// levels; `1+1+...+1` with n operators is about 2n deep). protobuf-c's unpacker
// recurses once per level with no limit of its own and overflowed an 8 MB stack
// near 10,000 levels; real statements stay far below 100. A deeper tree is refused
// as a parse error (fail closed) before anything recursive touches it.
inline constexpr int kMaxTreeDepth = 2000;

// Whether the protobuf bytes of a message of type desc nest messages at most
// max_depth deep. Iterative (explicit stack), so it is safe on any input; malformed
// bytes answer false.
bool protobuf_depth_within(const std::uint8_t* data, std::size_t len, const ProtobufCMessageDescriptor* desc,
                           int max_depth);

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
  const ProtobufCFieldDescriptor* field = protobuf_c_message_descriptor_get_field(
      &pg_query__node__descriptor, static_cast<unsigned>(node->node_case));
  if (field == nullptr) return nullptr;
  return *reinterpret_cast<ProtobufCMessage* const*>(reinterpret_cast<const char*>(node) + field->offset);
}

}  // namespace ddlgate::sql::detail
