#include "ddlgate/testing/ddlgate_process.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "ddlgate/testing/pg_server.h"

#ifndef DDLGATE_BINARY
#define DDLGATE_BINARY "ddlgate"
#endif

namespace ddlgate::testing {

std::filesystem::path ddlgate_binary() {
  if (const char* env = std::getenv("DDLGATE_BINARY"); env != nullptr && *env != '\0') return env;
  return DDLGATE_BINARY;
}

DdlgateProcess::DdlgateProcess(std::vector<std::string> args, std::chrono::milliseconds ready_timeout,
                               std::filesystem::path binary) {
  const auto ready = dir_.path() / "ready";
  args.insert(args.begin(), binary.string());
  args.push_back("--ready-file");
  args.push_back(ready.string());
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);

  int log_fd = open(log_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("cannot create " + log_path().string() + ": " + std::strerror(errno));
  failure_log_ = std::make_unique<FailureLog>("ddlgate log", log_path());
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) {
    close(log_fd);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid_ == 0) {
    // Never outlive a crashed test binary.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execv(cargv[0], cargv.data());
    const char msg[] = "DdlgateProcess: exec failed\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
  }
  close(log_fd);

  const auto deadline = std::chrono::steady_clock::now() + ready_timeout;
  std::string why;
  while (true) {
    if (std::filesystem::exists(ready)) {
      std::istringstream lines(read_file(ready));
      for (std::string line; std::getline(lines, line);) {
        if (!line.empty()) endpoints_.push_back(line);
      }
      if (!endpoints_.empty()) return;
      why = "the ready file " + ready.string() + " is empty";
      break;
    }
    if (!running()) {
      why = "ddlgate exited with " + std::to_string(exit_code_) + " before it was ready";
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      why = "ddlgate was not ready after " + std::to_string(ready_timeout.count()) + " ms";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::string command;
  for (const auto& a : args) command += (command.empty() ? "" : " ") + a;
  std::string log = tail_of_file(log_path());
  terminate(std::chrono::seconds(2), SIGKILL);
  failure_log_.reset();
  throw std::runtime_error(why + "\ncommand: " + command + "\n--- ddlgate log ---\n" + log);
}

std::unique_ptr<DdlgateProcess> DdlgateProcess::serve(const PgServer& upstream, std::vector<std::string> extra_args) {
  std::vector<std::string> args = {"serve", "--listen", "127.0.0.1:0", "--upstream",
                                   "127.0.0.1:" + std::to_string(upstream.port())};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  auto process = std::make_unique<DdlgateProcess>(std::move(args));
  process->database_ = upstream.database();
  return process;
}

DdlgateProcess::~DdlgateProcess() {
  failure_log_.reset();
  // A graceful stop first, so that a sanitizer build reports leaks at exit.
  if (running()) terminate(std::chrono::seconds(5), SIGTERM);
  // Under AddressSanitizer/UBSan a memory error in the proxy only shows in its
  // log; make it fail the test that provoked it.
  std::string log = read_file(log_path());
  for (const char* marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"}) {
    if (log.find(marker) != std::string::npos) {
      ADD_FAILURE() << "ddlgate reported a sanitizer error:\n" << log;
      break;
    }
  }
}

std::uint16_t DdlgateProcess::port() const {
  for (const auto& e : endpoints_) {
    if (e.empty() || e.front() == '/') continue;
    auto colon = e.rfind(':');
    if (colon == std::string::npos) continue;
    return static_cast<std::uint16_t>(std::stoul(e.substr(colon + 1)));
  }
  return 0;
}

std::string DdlgateProcess::conninfo(std::string_view user, std::string_view dbname) const {
  if (dbname.empty()) dbname = database_;
  return "host=127.0.0.1 port=" + std::to_string(port()) + " user=" + std::string(user) +
         " dbname=" + std::string(dbname) + " connect_timeout=10";
}

std::string DdlgateProcess::stderr_log() const { return read_file(log_path()); }

bool DdlgateProcess::running() {
  if (pid_ <= 0 || reaped_) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : (WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1);
  }
  reaped_ = true;  // never signal a reaped pid again: it may belong to someone else now
  return false;
}

int DdlgateProcess::terminate(std::chrono::milliseconds timeout, int signal) {
  if (!running()) return exit_code_;
  kill(pid_, signal);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!running()) return exit_code_;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  reaped_ = true;
  exit_code_ = -1;
  return -1;
}

}  // namespace ddlgate::testing
