// Prints a server's or proxy's log when a test fails, like PgBouncer's test
// suite: only the part written while the failing test ran.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace ddlgate::testing {

// While alive, `file` is printed (from where it stood when the test started)
// after any failed test, and by the destructor if the current test has failed.
class FailureLog {
 public:
  FailureLog(std::string name, std::filesystem::path file);
  ~FailureLog();
  FailureLog(const FailureLog&) = delete;
  FailureLog& operator=(const FailureLog&) = delete;

  // Called by the GoogleTest listener; public for it only.
  void mark_test_start();
  void print_since_test_start() const;

 private:
  std::string name_;
  std::filesystem::path file_;
  std::uintmax_t offset_ = 0;
};

// The last `max_bytes` of a file, for exception messages.
std::string tail_of_file(const std::filesystem::path& file, std::size_t max_bytes = 8192);

}  // namespace ddlgate::testing
