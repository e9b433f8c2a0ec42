// Internal helpers over libpg_query's protobuf-c parse tree: RAII owners for
// libpg_query's results and a generic pre-order walk driven by the message
// descriptors (so that it reaches every node type, including ones added later).
#pragma once

#include <cstddef>
#include <cstdint>

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include "ddlgate/sql/parse_tree.h"

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

// The tree limits and walk are public (ddlgate/sql/parse_tree.h) for the lint module.
using tree::kMaxTreeDepth;
using tree::walk;
using tree::node_member;

// Whether the protobuf bytes of a message of type desc nest messages at most
// max_depth deep. Iterative (explicit stack), so it is safe on any input; malformed
// bytes answer false.
bool protobuf_depth_within(const std::uint8_t* data, std::size_t len, const ProtobufCMessageDescriptor* desc,
                           int max_depth);

}  // namespace ddlgate::sql::detail
