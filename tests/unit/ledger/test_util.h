// Helpers for the ledger tests: temporary directories, Ed25519 keys written as PEM files,
// and a FileSystem that injects faults into real files.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "ddlgate/ledger/file_io.h"

namespace ddlgate::ledger::test {

// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("ddlgate-ledger-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct KeyFiles {
  std::filesystem::path private_key;
  std::filesystem::path public_key;
};

// Generates an Ed25519 key pair with the OpenSSL API and writes PREFIX.key / PREFIX.pub.
inline KeyFiles make_keys(const std::filesystem::path& prefix) {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  KeyFiles k{prefix.string() + ".key", prefix.string() + ".pub"};
  FILE* f = std::fopen(k.private_key.c_str(), "w");
  PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  f = std::fopen(k.public_key.c_str(), "w");
  PEM_write_PUBKEY(f, pkey);
  std::fclose(f);
  EVP_PKEY_free(pkey);
  return k;
}

inline std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_all_file(const std::filesystem::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}

// XORs one byte of a file in place (no truncation: that is slow on some file systems).
inline void xor_byte(const std::filesystem::path& p, std::size_t offset, unsigned char mask) {
  int fd = ::open(p.c_str(), O_RDWR);
  unsigned char b = 0;
  if (::pread(fd, &b, 1, static_cast<off_t>(offset)) == 1) {
    b ^= mask;
    (void)!::pwrite(fd, &b, 1, static_cast<off_t>(offset));
  }
  ::close(fd);
}

// Wraps the real POSIX file system; each fault fires once its counter reaches zero.
class FaultyFileSystem final : public FileSystem {
 public:
  std::atomic<int> fail_write_after{-1};    // writes that succeed before one fails with write_error
  std::error_code write_error = std::make_error_code(std::errc::io_error);
  std::atomic<int> short_write_after{-1};   // writes before one writes half and the next fails
  std::atomic<int> fail_sync_after{-1};     // syncs that succeed before one fails with EIO
  std::atomic<int> fail_dir_sync_after{-1};  // directory fsyncs that succeed before one fails
  std::atomic<int> syncs{0};
  std::atomic<bool> stall_syncs{false};     // fdatasync waits while set (a stalled disk)

  std::error_code open_append(const std::filesystem::path& path, bool create,
                              std::unique_ptr<WritableFile>* out) override {
    std::unique_ptr<WritableFile> real;
    if (auto ec = posix_file_system()->open_append(path, create, &real)) return ec;
    *out = std::make_unique<File>(this, std::move(real));
    return {};
  }
  std::error_code sync_directory(const std::filesystem::path& dir) override {
    if (fire(fail_dir_sync_after)) return std::make_error_code(std::errc::io_error);
    return posix_file_system()->sync_directory(dir);
  }
  std::error_code read_file(const std::filesystem::path& path, std::uint64_t max, std::string* out) override {
    return posix_file_system()->read_file(path, max, out);
  }

 private:
  static bool fire(std::atomic<int>& counter) {
    int v = counter.load();
    while (v >= 0) {
      if (counter.compare_exchange_weak(v, v - 1)) return v == 0;
    }
    return false;
  }

  class File final : public WritableFile {
   public:
    File(FaultyFileSystem* fs, std::unique_ptr<WritableFile> real) : fs_(fs), real_(std::move(real)) {}
    std::error_code write(const void* data, std::size_t size, std::size_t* written) override {
      if (broken_) return std::make_error_code(std::errc::no_space_on_device);
      if (fire(fs_->fail_write_after)) return fs_->write_error;
      if (size > 1 && fire(fs_->short_write_after)) {
        broken_ = true;  // the next write hits a full disk
        return real_->write(data, size / 2, written);
      }
      return real_->write(data, size, written);
    }
    std::error_code sync_data() override {
      while (fs_->stall_syncs.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      ++fs_->syncs;
      if (fire(fs_->fail_sync_after)) return std::make_error_code(std::errc::io_error);
      return real_->sync_data();
    }
    std::error_code truncate(std::uint64_t size) override { return real_->truncate(size); }

   private:
    FaultyFileSystem* fs_;
    std::unique_ptr<WritableFile> real_;
    bool broken_ = false;
  };
};

}  // namespace ddlgate::ledger::test
