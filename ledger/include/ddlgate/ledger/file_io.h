// The ledger's only door to the file system. The POSIX implementation is what runs; tests
// wrap it to inject EIO, ENOSPC, short writes and failing fsyncs into real files, which is
// how the fail-closed behaviour is shown without a mock of the ledger itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "ddlgate/ledger/error.h"

namespace ddlgate::ledger {

// A file opened for appending.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // write(2): may write fewer bytes than asked (*written says how many).
  virtual std::error_code write(const void* data, std::size_t size, std::size_t* written) = 0;
  // fdatasync(2). After a failure the file's state is unknown: callers must not retry.
  virtual std::error_code sync_data() = 0;
  // ftruncate(2), used only by recovery before anything is appended.
  virtual std::error_code truncate(std::uint64_t size) = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Opens path for appending (O_APPEND), creating it (mode 0640) when create is set.
  virtual std::error_code open_append(const std::filesystem::path& path, bool create,
                                      std::unique_ptr<WritableFile>* out) = 0;
  // fsync(2) on a directory, so that a newly created file's name is durable.
  virtual std::error_code sync_directory(const std::filesystem::path& dir) = 0;
  // Reads a whole file, refusing one larger than max_size.
  virtual std::error_code read_file(const std::filesystem::path& path, std::uint64_t max_size,
                                    std::string* out) = 0;
};

// The real thing.
std::shared_ptr<FileSystem> posix_file_system();

// Writes all of data, looping over short writes; the first error ends it.
std::error_code write_all(WritableFile& f, const void* data, std::size_t size);

// An exclusive flock(2) on DIR/LOCK, held while the object lives, so that two processes
// cannot write one ledger.
class DirectoryLock {
 public:
  static Result<std::unique_ptr<DirectoryLock>> acquire(const std::filesystem::path& dir);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  explicit DirectoryLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace ddlgate::ledger
