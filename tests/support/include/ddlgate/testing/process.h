// Child processes for integration tests: run a command to completion with a
// timeout (psql, pgbench, initdb), and temporary directories that clean up.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace ddlgate::testing {

// What a finished command left behind.
struct CommandResult {
  int exit_code = -1;         // exit status; 128 + signal if killed; -1 if it could not start
  std::string stdout_text;
  std::string stderr_text;
  bool timed_out = false;     // killed (SIGKILL to its process group) when the timeout expired
};

// Runs argv (argv[0] looked up in PATH unless it contains a '/'), feeds it
// stdin_text, collects stdout and stderr. `env` entries ("NAME=value") are added
// to the current environment. Never throws for a failing command.
CommandResult run_command(const std::vector<std::string>& argv, std::string_view stdin_text = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(60),
                          const std::vector<std::string>& env = {});

// run_command() for a command that must succeed: a test failure naming the
// command, with its output, when it exits with anything but 0.
void run_ok(const std::vector<std::string>& argv);

// True when the tests run as root and servers must run as the `postgres` user.
bool running_as_root();

// Prefixes argv with `runuser -u postgres --` when running as root, so that
// initdb, pg_ctl and pgbouncer never run as root.
std::vector<std::string> as_server_user(std::vector<std::string> argv);

// Gives `path` (recursively) to the `postgres` user when running as root; no-op otherwise.
void chown_to_server_user(const std::filesystem::path& path);

// A fresh directory from mkdtemp under /tmp, removed with its contents in the destructor.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "ddlgate-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  // Keeps the directory on disk (for post-mortems).
  void keep() { keep_ = true; }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

// A tmpfs of `size` ("2m") mounted on a directory (created if missing) and
// lazily unmounted in the destructor; mounted() is false where mounting is not
// allowed (not root, or no CAP_SYS_ADMIN), and the caller skips.
class SmallDisk {
 public:
  SmallDisk(const std::filesystem::path& where, const std::string& size);
  ~SmallDisk();
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;
  bool mounted() const { return mounted_; }
  // Writes a file of zeros until the file system is full.
  void fill();

 private:
  std::filesystem::path path_;
  bool mounted_ = false;
};

// Writes `text` to `path` (truncating), throws std::runtime_error on failure.
void write_file(const std::filesystem::path& path, std::string_view text);

// The whole file, or "" if it cannot be read.
std::string read_file(const std::filesystem::path& path);

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, close).
std::uint16_t pick_free_port();

}  // namespace ddlgate::testing
