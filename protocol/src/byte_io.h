// Bounds-checked big-endian reading and writing of protocol fields.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ddlgate::protocol::detail {

// Reads fields from a message body; every read checks the remaining length and
// a failed read leaves the reader in a failed state instead of overrunning.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> data) : data_(data) {}

  bool ok() const { return ok_; }
  std::size_t remaining() const { return ok_ ? data_.size() - pos_ : 0; }
  bool at_end() const { return ok_ && pos_ == data_.size(); }

  std::optional<std::uint8_t> u8() {
    if (!need(1)) return std::nullopt;
    return data_[pos_++];
  }
  std::optional<std::uint16_t> u16() {
    if (!need(2)) return std::nullopt;
    std::uint16_t v = static_cast<std::uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  std::optional<std::uint32_t> u32() {
    if (!need(4)) return std::nullopt;
    std::uint32_t v = (std::uint32_t{data_[pos_]} << 24) | (std::uint32_t{data_[pos_ + 1]} << 16) |
                      (std::uint32_t{data_[pos_ + 2]} << 8) | std::uint32_t{data_[pos_ + 3]};
    pos_ += 4;
    return v;
  }
  std::optional<std::int32_t> i32() {
    auto v = u32();
    if (!v) return std::nullopt;
    return static_cast<std::int32_t>(*v);
  }
  // A NUL-terminated string; fails when no NUL remains.
  std::optional<std::string_view> cstring() {
    if (!ok_) return std::nullopt;
    const void* nul = std::memchr(data_.data() + pos_, 0, data_.size() - pos_);
    if (!nul) {
      ok_ = false;
      return std::nullopt;
    }
    auto end = static_cast<std::size_t>(static_cast<const std::uint8_t*>(nul) - data_.data());
    std::string_view s(reinterpret_cast<const char*>(data_.data() + pos_), end - pos_);
    pos_ = end + 1;
    return s;
  }
  std::optional<std::span<const std::uint8_t>> bytes(std::size_t n) {
    if (!need(n)) return std::nullopt;
    auto s = data_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  std::span<const std::uint8_t> rest() {
    if (!ok_) return {};
    auto s = data_.subspan(pos_);
    pos_ = data_.size();
    return s;
  }

 private:
  bool need(std::size_t n) {
    if (!ok_ || data_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }

  std::span<const std::uint8_t> data_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// Appends fields to a byte vector; `begin_message`/`end_message` fill in the
// length word of a typed message.
class Writer {
 public:
  explicit Writer(std::vector<std::uint8_t>& out) : out_(out) {}

  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) {
    out_.push_back(static_cast<std::uint8_t>(v >> 8));
    out_.push_back(static_cast<std::uint8_t>(v));
  }
  void u32(std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out_.push_back(static_cast<std::uint8_t>(v >> shift));
  }
  void cstring(std::string_view s) {
    // An embedded NUL would end the field early on the peer; cut it there ourselves.
    auto nul = s.find('\0');
    if (nul != std::string_view::npos) s = s.substr(0, nul);
    out_.insert(out_.end(), s.begin(), s.end());
    out_.push_back(0);
  }
  void bytes(std::span<const std::uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }

  // Starts a message: writes the type (0 for untyped startup packets) and a
  // placeholder length; returns the offset of the length word.
  std::size_t begin_message(std::uint8_t type) {
    if (type != 0) out_.push_back(type);
    std::size_t at = out_.size();
    u32(0);
    return at;
  }
  void end_message(std::size_t length_at) {
    auto len = static_cast<std::uint32_t>(out_.size() - length_at);
    for (int i = 0; i < 4; ++i) out_[length_at + i] = static_cast<std::uint8_t>(len >> (24 - 8 * i));
  }

 private:
  std::vector<std::uint8_t>& out_;
};

inline std::uint32_t load_u32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

}  // namespace ddlgate::protocol::detail
