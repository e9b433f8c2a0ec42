#include "dir_watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ddlgate::proxy {

namespace {
// Everything that can make a bundle appear, change or go away.
constexpr std::uint32_t kMask = IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
                                IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB;
}  // namespace

DirWatcher::DirWatcher(boost::asio::io_context& ctx, std::filesystem::path root, int depth,
                       std::chrono::milliseconds quiet, std::function<void()> on_change)
    : ctx_(ctx), root_(std::move(root)), depth_(depth), quiet_(quiet), on_change_(std::move(on_change)), debounce_(ctx) {}

DirWatcher::~DirWatcher() {
  debounce_.cancel();
  if (stream_) {
    boost::system::error_code ignored;
    stream_->close(ignored);  // closes fd_
  } else if (fd_ >= 0) {
    ::close(fd_);
  }
}

std::string DirWatcher::start() {
  fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) return std::string("inotify_init1: ") + std::strerror(errno);
  add_watches(root_, depth_);
  if (watches_.empty()) return "cannot watch " + root_.string() + ": " + std::strerror(errno);
  stream_ = std::make_unique<boost::asio::posix::stream_descriptor>(ctx_, fd_);
  read_events();
  return "";
}

void DirWatcher::add_watches(const std::filesystem::path& dir, int depth) {
  int wd = ::inotify_add_watch(fd_, dir.c_str(), kMask);
  if (wd < 0) return;
  watches_[wd] = dir;
  if (depth <= 0) return;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) add_watches(it->path(), depth - 1);
  }
}

void DirWatcher::read_events() {
  stream_->async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
    if (ec) return;  // closed
    bool changed = false;
    while (true) {
      ssize_t n = ::read(fd_, buf_, sizeof buf_);
      if (n <= 0) break;
      for (ssize_t off = 0; off + static_cast<ssize_t>(sizeof(inotify_event)) <= n;) {
        auto* ev = reinterpret_cast<const inotify_event*>(buf_ + off);
        changed = true;
        if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)) && ev->len > 0) {
          // A new bundle directory: watch inside it too (its files may still be arriving).
          auto parent = watches_.find(ev->wd);
          if (parent != watches_.end()) {
            auto rel_depth = std::distance(root_.begin(), root_.end());
            auto depth_here = std::distance(parent->second.begin(), parent->second.end()) - rel_depth;
            if (depth_here < depth_) add_watches(parent->second / ev->name, depth_ - static_cast<int>(depth_here) - 1);
          }
        }
        if (ev->mask & IN_IGNORED) watches_.erase(ev->wd);
        off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      }
    }
    if (changed) {
      debounce_.expires_after(quiet_);
      debounce_.async_wait([this](const boost::system::error_code& e) {
        if (!e) on_change_();
      });
    }
    read_events();
  });
}

}  // namespace ddlgate::proxy
