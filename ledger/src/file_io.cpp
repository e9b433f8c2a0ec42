#include "ddlgate/ledger/file_io.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace ddlgate::ledger {
namespace {

std::error_code last_error() { return {errno, std::generic_category()}; }

class PosixFile final : public WritableFile {
 public:
  explicit PosixFile(int fd) : fd_(fd) {}
  ~PosixFile() override { ::close(fd_); }

  std::error_code write(const void* data, std::size_t size, std::size_t* written) override {
    *written = 0;
    for (;;) {
      ssize_t n = ::write(fd_, data, size);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return last_error();
      *written = static_cast<std::size_t>(n);
      return {};
    }
  }

  std::error_code sync_data() override {
    // fdatasync is not restarted on EINTR by every kernel; EINTR is treated like any failure
    // (the caller never retries a sync, see docs/ledger.md "Failure").
    if (::fdatasync(fd_) != 0) return last_error();
    return {};
  }

  std::error_code truncate(std::uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return last_error();
    return {};
  }

 private:
  int fd_;
};

class PosixFileSystem final : public FileSystem {
 public:
  std::error_code open_append(const std::filesystem::path& path, bool create,
                              std::unique_ptr<WritableFile>* out) override {
    int flags = O_WRONLY | O_APPEND | O_CLOEXEC | (create ? O_CREAT : 0);
    int fd = ::open(path.c_str(), flags, 0640);
    if (fd < 0) return last_error();
    *out = std::make_unique<PosixFile>(fd);
    return {};
  }

  std::error_code sync_directory(const std::filesystem::path& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return last_error();
    std::error_code ec;
    if (::fsync(fd) != 0) ec = last_error();
    ::close(fd);
    return ec;
  }

  std::error_code read_file(const std::filesystem::path& path, std::uint64_t max_size, std::string* out) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return last_error();
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      auto ec = last_error();
      ::close(fd);
      return ec;
    }
    if (static_cast<std::uint64_t>(st.st_size) > max_size) {
      ::close(fd);
      return std::make_error_code(std::errc::file_too_large);
    }
    out->resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < out->size()) {
      ssize_t n = ::read(fd, out->data() + got, out->size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        auto ec = last_error();
        ::close(fd);
        return ec;
      }
      if (n == 0) break;  // shrank while reading
      got += static_cast<std::size_t>(n);
    }
    out->resize(got);
    ::close(fd);
    return {};
  }
};

}  // namespace

std::shared_ptr<FileSystem> posix_file_system() {
  static auto fs = std::make_shared<PosixFileSystem>();
  return fs;
}

std::error_code write_all(WritableFile& f, const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    std::size_t n = 0;
    if (auto ec = f.write(p, size, &n)) return ec;
    if (n == 0) return std::make_error_code(std::errc::io_error);  // no progress: give up, never spin
    p += n;
    size -= n;
  }
  return {};
}

Result<std::unique_ptr<DirectoryLock>> DirectoryLock::acquire(const std::filesystem::path& dir) {
  auto path = dir / "LOCK";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return Error{"cannot open the ledger lock file", path.string(), -1, last_error()};
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    auto ec = last_error();
    ::close(fd);
    if (ec == std::errc::operation_would_block) {
      return Error{"the ledger is in use by another process (lock held)", path.string()};
    }
    return Error{"cannot lock the ledger", path.string(), -1, ec};
  }
  return std::unique_ptr<DirectoryLock>(new DirectoryLock(fd));
}

DirectoryLock::~DirectoryLock() { ::close(fd_); }

}  // namespace ddlgate::ledger
