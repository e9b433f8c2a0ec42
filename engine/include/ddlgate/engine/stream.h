// A Query too large to hold whole, streamed to the server while it is scanned
// (docs/operations.md, "What is buffered when"): its body goes on part by part only while
// sql::PlainDmlStream reads it as one plain INSERT, UPDATE, DELETE or SELECT. Sans-IO: the
// session forwards what feed() accepts and ends the session when it refuses a part.
#pragma once

#include <cstdint>
#include <span>

#include "ddlgate/sql/analyze.h"

namespace ddlgate::engine {

class StreamedQuery {
 public:
  // A Query of body_length bytes (its text and NUL) starts. non_ascii_ok: the session's
  // client encoding is known and shows every ASCII byte as itself, so a byte >= 0x80 reads
  // as the byte scan reads it; otherwise such a byte ends the stream.
  void start(std::uint32_t body_length, bool non_ascii_ok);
  // One part of the body: true when it may go on; false when the text is not plain DML
  // (nothing of this part may go on; failed() from now on, cut_at() says where).
  bool feed(std::span<const std::uint8_t> part);
  // A part of the rest of a failed one, read and dropped: true once all of it has passed.
  bool drop(std::size_t n);

  bool failed() const { return failed_; }
  std::uint32_t size() const { return size_; }      // the body's length
  std::uint32_t cut_at() const { return cut_at_; }  // body bytes forwarded before it failed
  // True the first time only: the cut is recorded once.
  bool take_cut_record() {
    const bool first = failed_ && !cut_recorded_;
    cut_recorded_ = cut_recorded_ || failed_;
    return first;
  }
  bool done() const { return left_ == 0; }

 private:
  std::uint32_t left_ = 0;  // body bytes still to come
  std::uint32_t size_ = 0;
  std::uint32_t cut_at_ = 0;
  bool non_ascii_ok_ = false;
  bool failed_ = false;
  bool cut_recorded_ = false;
  sql::PlainDmlStream scan_;
};

}  // namespace ddlgate::engine
