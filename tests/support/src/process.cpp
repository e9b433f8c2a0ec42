#include "ddlgate/testing/process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <csignal>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

extern char** environ;

namespace ddlgate::testing {
namespace {

constexpr const char* kServerUser = "postgres";

std::runtime_error sys_error(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

int status_to_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

CommandResult run_command(const std::vector<std::string>& argv, std::string_view stdin_text,
                          std::chrono::milliseconds timeout, const std::vector<std::string>& env) {
  CommandResult result;
  if (argv.empty()) {
    result.stderr_text = "run_command: empty argv";
    return result;
  }
  // A child that exits before reading all of its input must not kill the test with SIGPIPE.
  static const bool sigpipe_ignored = [] { return ::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
  (void)sigpipe_ignored;

  // Everything the child needs is prepared before fork: only exec-safe calls after it.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  for (const auto& extra : env) {
    auto name = extra.substr(0, extra.find('=') + 1);
    std::erase_if(env_strings, [&](const std::string& s) { return s.starts_with(name); });
    env_strings.push_back(extra);
  }
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);

  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw sys_error("run_command: pipe2");
  }
  pid_t pid = fork();
  if (pid < 0) throw sys_error("run_command: fork");
  if (pid == 0) {
    setpgid(0, 0);  // its own process group, so a timeout kills its children too
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    execvpe(cargv[0], cargv.data(), envp.data());
    const char msg[] = "run_command: exec failed\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
  }
  setpgid(pid, pid);
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  int in_fd = in_pipe[1], out_fd = out_pipe[0], err_fd = err_pipe[0];
  fcntl(in_fd, F_SETFL, O_NONBLOCK);
  std::size_t written = 0;
  if (stdin_text.empty()) {
    close(in_fd);
    in_fd = -1;
  }

  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout;
  bool exited = false;
  int status = 0;
  std::chrono::steady_clock::time_point exited_at;
  char buf[65536];
  while (out_fd >= 0 || err_fd >= 0 || !exited) {
    auto now = std::chrono::steady_clock::now();
    if (!exited && now >= deadline) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      result.timed_out = true;
    }
    // A grandchild that keeps the pipes open must not hold us past the child's exit.
    if (exited && now - exited_at > std::chrono::milliseconds(500)) break;
    pollfd fds[3];
    int n = 0;
    if (out_fd >= 0) fds[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) fds[n++] = {err_fd, POLLIN, 0};
    if (in_fd >= 0) fds[n++] = {in_fd, POLLOUT, 0};
    if (n > 0) {
      poll(fds, static_cast<nfds_t>(n), 20);
    } else {
      usleep(5000);
    }
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in_fd) {
        ssize_t w = write(in_fd, stdin_text.data() + written, stdin_text.size() - written);
        if (w > 0) written += static_cast<std::size_t>(w);
        if (w < 0 && errno != EAGAIN && errno != EINTR) written = stdin_text.size();
        if (written == stdin_text.size()) {
          close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      ssize_t r = read(fds[i].fd, buf, sizeof buf);
      if (r > 0) {
        (fds[i].fd == out_fd ? result.stdout_text : result.stderr_text).append(buf, static_cast<std::size_t>(r));
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        if (fds[i].fd == out_fd) {
          close(out_fd);
          out_fd = -1;
        } else {
          close(err_fd);
          err_fd = -1;
        }
      }
    }
    if (!exited) {
      pid_t w = waitpid(pid, &status, WNOHANG);
      if (w == pid) {
        exited = true;
        exited_at = std::chrono::steady_clock::now();
        if (in_fd >= 0) {
          close(in_fd);
          in_fd = -1;
        }
      }
    }
  }
  for (int fd : {in_fd, out_fd, err_fd}) {
    if (fd >= 0) close(fd);
  }
  result.exit_code = status_to_code(status);
  return result;
}

void run_ok(const std::vector<std::string>& argv) {
  auto r = run_command(argv);
  std::string command;
  for (std::size_t i = 1; i < argv.size() && i < 3; ++i) command += (i > 1 ? " " : "") + argv[i];
  EXPECT_EQ(r.exit_code, 0) << command << ": " << r.stderr_text << r.stdout_text;
}

bool running_as_root() { return geteuid() == 0; }

std::vector<std::string> as_server_user(std::vector<std::string> argv) {
  if (!running_as_root()) return argv;
  std::vector<std::string> wrapped = {"/usr/sbin/runuser", "-u", kServerUser, "--"};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

void chown_to_server_user(const std::filesystem::path& path) {
  if (!running_as_root()) return;
  passwd* pw = getpwnam(kServerUser);
  if (pw == nullptr) {
    throw std::runtime_error("running as root, but there is no 'postgres' user to run PostgreSQL as "
                             "(install postgresql-15)");
  }
  auto own = [&](const std::filesystem::path& p) {
    if (lchown(p.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw sys_error("chown " + p.string());
  };
  own(path);
  if (std::filesystem::is_directory(path)) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(path)) own(entry.path());
  }
}

TempDir::TempDir(std::string_view prefix) {
  std::string templ = "/tmp/" + std::string(prefix) + "-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) throw sys_error("mkdtemp " + templ);
  path_ = templ;
}

TempDir::~TempDir() {
  if (keep_) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

SmallDisk::SmallDisk(const std::filesystem::path& where, const std::string& size) : path_(where) {
  std::filesystem::create_directories(where);
  mounted_ = ::mount("tmpfs", where.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
}

SmallDisk::~SmallDisk() {
  if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
}

void SmallDisk::fill() {
  std::ofstream f(path_ / "filler", std::ios::binary);
  std::string chunk(64 * 1024, '\0');
  for (int i = 0; i < 100000 && f; ++i) f.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  f.flush();
}

void write_file(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::uint16_t pick_free_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw sys_error("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    throw sys_error("bind 127.0.0.1:0");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace ddlgate::testing
