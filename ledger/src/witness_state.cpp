// A witness's state directory: the latest cosigned tree per log origin, replaced atomically.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ddlgate/ledger/file_io.h"
#include "ddlgate/ledger/witness.h"

namespace ddlgate::ledger {
namespace {

constexpr std::string_view kSuffix = ".tree";

std::error_code errno_code() { return {errno, std::generic_category()}; }

std::string state_file_name(const std::string& origin) { return to_hex(sha256(origin)) + std::string(kSuffix); }

}  // namespace

Result<WitnessState> WitnessState::open(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error{"cannot create the witness state directory", dir.string(), -1, ec};
  WitnessState st;
  st.dir_ = dir;
  auto fs = posix_file_system();
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const auto name = entry.path().filename().string();
    if (!name.ends_with(kSuffix)) continue;  // temp files of an interrupted write are ignored
    std::string text;
    if (auto e = fs->read_file(entry.path(), 4096, &text)) return Error{"cannot read witness state", entry.path().string(), -1, e};
    // "<origin>\n<size>\n<base64 root>\n": the checkpoint body's first three lines, signed by no one.
    auto cp = parse_checkpoint(text + "\n\xE2\x80\x94 x AAAA\n");
    if (!cp || cp->body != text) return Error{"witness state file is not <origin>, <size>, <root>", entry.path().string()};
    if (name != state_file_name(cp->origin)) return Error{"witness state file name does not match its origin", entry.path().string()};
    st.trees_[cp->origin] = WitnessedTree{cp->size, cp->root};
  }
  if (ec) return Error{"cannot list the witness state directory", dir.string(), -1, ec};
  return st;
}

std::optional<WitnessedTree> WitnessState::get(const std::string& origin) const {
  auto it = trees_.find(origin);
  if (it == trees_.end()) return std::nullopt;
  return it->second;
}

Status WitnessState::put(const std::string& origin, const WitnessedTree& tree) {
  const auto path = dir_ / state_file_name(origin);
  const auto tmp = dir_ / (state_file_name(origin) + ".tmp");
  const std::string text = checkpoint_body(origin, tree.size, tree.root);
  // Written whole to a temporary name, synced, renamed over the old state, and the directory
  // synced: a crash leaves the old state or the new one, never a mix (rename(2) is atomic).
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return Error{"cannot write witness state", tmp.string(), -1, errno_code()};
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      auto e = errno_code();
      ::close(fd);
      return Error{"cannot write witness state", tmp.string(), -1, e};
    }
    done += static_cast<std::size_t>(w);
  }
  if (::fsync(fd) != 0) {
    auto e = errno_code();
    ::close(fd);
    return Error{"cannot sync witness state", tmp.string(), -1, e};
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Error{"cannot replace witness state", path.string(), -1, errno_code()};
  if (auto e = posix_file_system()->sync_directory(dir_)) return Error{"cannot sync the witness state directory", dir_.string(), -1, e};
  trees_[origin] = tree;
  return Ok{};
}

}  // namespace ddlgate::ledger
