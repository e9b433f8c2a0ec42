#include "ddlgate/engine/stream.h"

#include <algorithm>
#include <string_view>

namespace ddlgate::engine {

void StreamedQuery::start(std::uint32_t body_length, bool non_ascii_ok) {
  *this = StreamedQuery{};
  left_ = body_length;
  size_ = body_length;
  non_ascii_ok_ = non_ascii_ok;
}

bool StreamedQuery::feed(std::span<const std::uint8_t> part) {
  const bool last = part.size() >= left_;
  left_ -= static_cast<std::uint32_t>(std::min<std::size_t>(part.size(), left_));
  std::string_view text(reinterpret_cast<const char*>(part.data()), part.size());
  bool plain = !failed_;
  if (plain && last) {
    // The text ends with the body's NUL, which must be its last byte (a Query is one string).
    plain = !text.empty() && text.back() == '\0';
    if (plain) text.remove_suffix(1);
  }
  if (plain && !non_ascii_ok_) {
    plain = std::none_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
  }
  plain = plain && scan_.feed(text);
  if (plain && last) plain = scan_.finish().has_value();
  if (!plain && !failed_) {
    failed_ = true;
    cut_at_ = size_ - left_ - static_cast<std::uint32_t>(part.size());
  }
  return plain;
}

bool StreamedQuery::drop(std::size_t n) {
  left_ -= static_cast<std::uint32_t>(std::min<std::size_t>(n, left_));
  return left_ == 0;
}

}  // namespace ddlgate::engine
