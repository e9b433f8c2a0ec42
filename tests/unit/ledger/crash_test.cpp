// Crash safety: a child process writes heavily from several threads and reports each
// acknowledged record through a pipe; it is SIGKILLed at a random moment. After recovery every
// acknowledged record must be in the ledger exactly once.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <cstring>
#include <random>
#include <set>
#include <thread>

#include "ddlgate/ledger/ledger.h"
#include "ddlgate/ledger/verify.h"
#include "test_util.h"

namespace ddlgate::ledger {
namespace {

struct Ack {
  std::uint32_t iteration;
  std::uint32_t writer;
  std::uint64_t n;
};

[[noreturn]] void child(const LedgerConfig& config, int fd, std::uint32_t iteration) {
  auto l = Ledger::open(config);
  if (!l) _exit(3);
  std::vector<std::thread> writers;
  for (std::uint32_t w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (std::uint64_t n = 0;; ++n) {
        std::string id = std::to_string(iteration) + "/" + std::to_string(w) + "/" + std::to_string(n);
        auto r = (*l)->append_durable(session_closed(id, std::string(static_cast<std::size_t>(n % 200), 'x')));
        if (!r) _exit(4);
        Ack a{iteration, w, n};
        if (::write(fd, &a, sizeof a) != sizeof a) _exit(5);  // atomic: below PIPE_BUF
      }
    });
  }
  for (auto& t : writers) t.join();
  _exit(0);
}

TEST(Crash, EveryAcknowledgedRecordSurvivesSigkillExactlyOnce) {
  test::TempDir tmp;
  auto keys = test::make_keys(tmp.path() / "cp");
  LedgerConfig config;
  config.directory = tmp.path() / "ledger";
  config.checkpoint_key_file = keys.private_key;
  config.checkpoint_every_records = 50;
  config.segment_max_bytes = 64 * 1024;  // rolls often, so kills land around segment creation too
  std::mt19937 rng(12345);
  std::set<std::string> acked;
  std::uint64_t recoveries = 0;
  for (std::uint32_t it = 0; it < 20; ++it) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      child(config, fds[1], it);
    }
    ::close(fds[1]);
    auto kill_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(20 + rng() % 200);
    std::string buf;
    auto drain = [&](int timeout_ms) {
      pollfd p{fds[0], POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return false;
      char chunk[4096];
      ssize_t n = ::read(fds[0], chunk, sizeof chunk);
      if (n <= 0) return false;
      buf.append(chunk, static_cast<std::size_t>(n));
      return true;
    };
    while (std::chrono::steady_clock::now() < kill_at) drain(5);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited on its own with " << WEXITSTATUS(status);
    while (drain(0)) {
    }
    ::close(fds[0]);
    for (std::size_t off = 0; off + sizeof(Ack) <= buf.size(); off += sizeof(Ack)) {
      Ack a;
      std::memcpy(&a, buf.data() + off, sizeof a);
      acked.insert(std::to_string(a.iteration) + "/" + std::to_string(a.writer) + "/" + std::to_string(a.n));
    }
    // Recovery (in this process) must succeed.
    auto l = Ledger::open(config);
    ASSERT_TRUE(l) << "iteration " << it << ": " << l.error().to_string();
    recoveries += (*l)->recovery_actions().size();
  }
  std::map<std::string, int> seen;
  ASSERT_TRUE(read_records(config.directory, 0, [&](const ParsedRecord& r) {
    if (r.type == RecordType::session_closed) ++seen[r.fields["session_id"].get<std::string>()];
  }, nullptr));
  EXPECT_GT(acked.size(), 100u);
  for (const auto& id : acked) {
    ASSERT_EQ(seen[id], 1) << "acknowledged record " << id << " found " << seen[id] << " times";
  }
  for (const auto& [id, count] : seen) ASSERT_EQ(count, 1) << id;
  auto rep = verify_directory(config.directory, *NoteVerifier::load_pem(keys.public_key));
  EXPECT_TRUE(rep.ok()) << rep.problem->to_string();
  RecordProperty("acknowledged", static_cast<int>(acked.size()));
  RecordProperty("recoveries", static_cast<int>(recoveries));
}

}  // namespace
}  // namespace ddlgate::ledger
