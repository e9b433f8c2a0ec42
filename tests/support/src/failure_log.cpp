#include "ddlgate/testing/failure_log.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <set>

#include <gtest/gtest.h>

namespace ddlgate::testing {
namespace {

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::set<FailureLog*>& registry() {
  static std::set<FailureLog*> logs;
  return logs;
}

std::uintmax_t file_size_or_zero(const std::filesystem::path& file) {
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  return ec ? 0 : size;
}

std::string read_from(const std::filesystem::path& file, std::uintmax_t offset, std::size_t max_bytes) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return {};
  auto size = file_size_or_zero(file);
  if (offset > size) offset = 0;  // truncated or replaced: show it all
  if (size - offset > max_bytes) offset = size - max_bytes;
  in.seekg(static_cast<std::streamoff>(offset));
  std::string text(static_cast<std::size_t>(size - offset), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return text;
}

// Marks every live log at the start of a test and prints them after a failed one.
class Listener : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo&) override {
    std::lock_guard lock(registry_mutex());
    for (auto* log : registry()) log->mark_test_start();
  }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (!info.result()->Failed()) return;
    std::lock_guard lock(registry_mutex());
    for (auto* log : registry()) log->print_since_test_start();
  }
};

void install_listener_once() {
  static std::once_flag once;
  std::call_once(once, [] { ::testing::UnitTest::GetInstance()->listeners().Append(new Listener); });
}

}  // namespace

FailureLog::FailureLog(std::string name, std::filesystem::path file)
    : name_(std::move(name)), file_(std::move(file)) {
  install_listener_once();
  // Created inside a test: everything the file holds belongs to this test.
  if (::testing::UnitTest::GetInstance()->current_test_info() == nullptr) mark_test_start();
  std::lock_guard lock(registry_mutex());
  registry().insert(this);
}

FailureLog::~FailureLog() {
  {
    std::lock_guard lock(registry_mutex());
    registry().erase(this);
  }
  if (::testing::UnitTest::GetInstance()->current_test_info() != nullptr && ::testing::Test::HasFailure()) {
    print_since_test_start();
  }
}

void FailureLog::mark_test_start() { offset_ = file_size_or_zero(file_); }

void FailureLog::print_since_test_start() const {
  constexpr std::size_t kMaxBytes = 256 * 1024;
  std::string text = read_from(file_, offset_, kMaxBytes);
  if (text.empty()) return;
  std::printf("----- %s (%s) -----\n%s%s----- end of %s -----\n", name_.c_str(), file_.c_str(), text.c_str(),
              (text.empty() || text.back() == '\n') ? "" : "\n", name_.c_str());
  std::fflush(stdout);
}

std::string tail_of_file(const std::filesystem::path& file, std::size_t max_bytes) {
  return read_from(file, 0, max_bytes);
}

}  // namespace ddlgate::testing
