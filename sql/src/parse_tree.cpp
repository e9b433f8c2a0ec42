// parse_tree() and with_parser_stack(): the parse steps of analyze() for callers
// that read the tree themselves.
#include "ddlgate/sql/parse_tree.h"

#include <pthread.h>

#include <exception>
#include <string>

#include "fast_path.h"
#include "pg_tree.h"

namespace ddlgate::sql {

ParseTree::~ParseTree() {
  if (root_ != nullptr) pg_query__parse_result__free_unpacked(root_, nullptr);
}

ParsedText parse_tree(std::string_view sql) {
  ParsedText out;
  if (sql.size() > kMaxAnalyzedBytes) {
    out.error = ParseError{"statement text too large to analyse (" + std::to_string(sql.size()) + " bytes, limit " +
                               std::to_string(kMaxAnalyzedBytes) + ")",
                           0};
    return out;
  }
  std::string text(sql);
  const ParseError too_deep{
      "statement nested too deeply (more than " + std::to_string(tree::kMaxTreeDepth) + " levels in the parse tree)",
      0};
  {
    // The JSON parse first, as in analyze(): linear in the tree, and it bounds the
    // depth before the protobuf output (quadratic in depth) runs.
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
    if (detail::json_depth(json_parse.get().parse_tree) > static_cast<std::size_t>(tree::kMaxTreeDepth)) {
      out.error = too_deep;
      return out;
    }
  }
  detail::ProtobufParse parsed(text.c_str());
  if (const PgQueryError* err = parsed.get().error; err != nullptr) {
    out.error = ParseError{err->message != nullptr ? err->message : "parse error",
                           err->cursorpos > 0 ? static_cast<std::size_t>(err->cursorpos) : 0};
    return out;
  }
  const PgQueryProtobuf& pb = parsed.get().parse_tree;
  if (!detail::protobuf_depth_within(reinterpret_cast<const std::uint8_t*>(pb.data), pb.len,
                                     &pg_query__parse_result__descriptor, tree::kMaxTreeDepth)) {
    out.error = too_deep;
    return out;
  }
  PgQuery__ParseResult* root =
      pg_query__parse_result__unpack(nullptr, pb.len, reinterpret_cast<const std::uint8_t*>(pb.data));
  if (root == nullptr) {
    out.error = ParseError{"cannot decode libpg_query's parse tree", 0};
    return out;
  }
  out.tree = std::make_unique<ParseTree>(root);
  return out;
}

namespace {

// As in analyze.cpp: libpg_query's output recurses once per tree level.
constexpr std::size_t kInlineBytes = 16 * 1024;
constexpr std::size_t kStackBytesPerInputByte = 256;
constexpr std::size_t kMinBigStack = 16u * 1024 * 1024;

struct StackJob {
  const std::function<void()>* fn;
  bool failed = false;
};

void* run_stack_job(void* arg) {
  auto* job = static_cast<StackJob*>(arg);
  try {
    (*job->fn)();
  } catch (...) {  // never unwind out of the thread
    job->failed = true;
  }
  return nullptr;
}

}  // namespace

bool with_parser_stack(std::size_t input_bytes, const std::function<void()>& fn) {
  if (input_bytes <= kInlineBytes) {
    try {
      fn();
    } catch (...) {
      return false;
    }
    return true;
  }
  StackJob job{&fn};
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return false;
  std::size_t bytes = input_bytes > kMaxAnalyzedBytes ? kMaxAnalyzedBytes : input_bytes;
  std::size_t stack = bytes * kStackBytesPerInputByte;
  pthread_attr_setstacksize(&attr, stack < kMinBigStack ? kMinBigStack : stack);
  pthread_t thread;
  int rc = pthread_create(&thread, &attr, run_stack_job, &job);
  pthread_attr_destroy(&attr);
  if (rc != 0) return false;
  pthread_join(thread, nullptr);
  return !job.failed;
}

}  // namespace ddlgate::sql
