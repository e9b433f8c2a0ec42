// The one convention for expected failures on data paths: a function that can
// fail on its input returns Result<T> (a value or an Error), Status when there is
// no value, or, when it checks a whole document and reports everything wrong with
// it at once, a vector of Problem. Nothing on a data path throws for bad input.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace ddlgate::base {

// One failure, precise enough for an operator to find it.
struct Error {
  Error() = default;
  Error(std::string why, std::string in_file = {}, std::int64_t at = -1, std::error_code ec = {})
      : reason(std::move(why)), file(std::move(in_file)), offset(at), code(ec) {}

  std::string reason;        // what is wrong, in words
  std::string file;          // the file it was found in, empty if none
  std::int64_t offset = -1;  // byte offset in that file, -1 if none
  std::error_code code;      // the OS error, if one caused it

  // "file: offset N: reason (os error)" with the parts that are known.
  std::string to_string() const;
};

// A value or an Error (std::expected is C++23; this is the part we need).
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// A Result without a value.
struct Ok {};
using Status = Result<Ok>;

// One thing wrong with a document (a configuration, a trust policy, a bundle), tied to
// where it is: a key ("upstream.address"), a file, or "file: key".
struct Problem {
  std::string where;
  std::string message;
  std::string to_string() const { return where.empty() ? message : where + ": " + message; }
};

}  // namespace ddlgate::base
