// Tells when anything changes in a directory tree (a bundle registry), through
// inotify on an Asio descriptor, with a quiet period so that a bundle written
// in several steps triggers one reload, not one per file.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace ddlgate::proxy {

class DirWatcher {
 public:
  // Watches `root` and its subdirectories down to `depth` levels; `on_change`
  // runs on `ctx`'s thread once no event has arrived for `quiet`.
  DirWatcher(boost::asio::io_context& ctx, std::filesystem::path root, int depth,
             std::chrono::milliseconds quiet, std::function<void()> on_change);
  ~DirWatcher();
  DirWatcher(const DirWatcher&) = delete;
  DirWatcher& operator=(const DirWatcher&) = delete;

  // Starts watching; returns an error message, or "" on success.
  std::string start();

 private:
  void add_watches(const std::filesystem::path& dir, int depth);
  void read_events();

  boost::asio::io_context& ctx_;
  std::filesystem::path root_;
  int depth_;
  std::chrono::milliseconds quiet_;
  std::function<void()> on_change_;
  int fd_ = -1;
  std::unique_ptr<boost::asio::posix::stream_descriptor> stream_;
  boost::asio::steady_timer debounce_;
  std::unordered_map<int, std::filesystem::path> watches_;
  alignas(8) char buf_[8192];
};

}  // namespace ddlgate::proxy
