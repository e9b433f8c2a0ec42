// Raw protocol helpers for tests (see raw_wire.h).
#include "ddlgate/testing/raw_wire.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ddlgate::testing {

int tcp_connect(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void send_all(int fd, const std::vector<std::uint8_t>& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

namespace {

// Reads until done(what was read) holds, the peer closes (*closed set), or timeout passes.
template <typename Done>
std::string read_until(int fd, std::chrono::milliseconds timeout, Done done, bool* closed = nullptr) {
  std::string out;
  if (closed) *closed = false;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done(out) && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      if (closed) *closed = true;
      break;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace

std::string read_until_close(int fd, std::chrono::milliseconds timeout, bool* closed) {
  return read_until(fd, timeout, [](const std::string&) { return false; }, closed);
}

std::string exchange(std::uint16_t port, const std::vector<std::uint8_t>& bytes, std::chrono::milliseconds timeout) {
  int fd = tcp_connect(port);
  if (fd < 0) return "";
  send_all(fd, bytes);
  std::string reply = read_until_close(fd, timeout);
  ::close(fd);
  return reply;
}

std::vector<std::uint8_t> startup_packet(std::uint16_t minor, const std::vector<std::pair<std::string, std::string>>& params) {
  std::vector<std::uint8_t> body = {0, 3, static_cast<std::uint8_t>(minor >> 8), static_cast<std::uint8_t>(minor)};
  for (const auto& [k, v] : params) {
    body.insert(body.end(), k.begin(), k.end());
    body.push_back(0);
    body.insert(body.end(), v.begin(), v.end());
    body.push_back(0);
  }
  body.push_back(0);
  std::uint32_t len = static_cast<std::uint32_t>(body.size() + 4);
  std::vector<std::uint8_t> out;
  out.reserve(body.size() + 4);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(len >> shift));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

std::string error_field(const std::string& wire, char code) {
  for (std::size_t i = 0; i + 5 <= wire.size();) {
    char type = wire[i];
    std::uint32_t len = (std::uint32_t(std::uint8_t(wire[i + 1])) << 24) | (std::uint32_t(std::uint8_t(wire[i + 2])) << 16) |
                        (std::uint32_t(std::uint8_t(wire[i + 3])) << 8) | std::uint32_t(std::uint8_t(wire[i + 4]));
    if (type == 'E') {
      std::size_t p = i + 5;
      while (p < wire.size() && wire[p] != 0) {
        char c = wire[p++];
        auto end = wire.find('\0', p);
        if (end == std::string::npos) return "";
        if (c == code) return wire.substr(p, end - p);
        p = end + 1;
      }
      return "";
    }
    i += 1 + len;
  }
  return "";
}

std::string read_until_message(int fd, char type, std::chrono::milliseconds timeout) {
  return read_until(fd, timeout, [type](const std::string& got) { return message_types(got).find(type) != std::string::npos; });
}

std::vector<std::uint8_t> frontend_message(char type, const std::string& body) {
  std::vector<std::uint8_t> out;
  out.reserve(body.size() + 5);
  out.push_back(static_cast<std::uint8_t>(type));
  std::uint32_t len = static_cast<std::uint32_t>(body.size() + 4);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(len >> shift));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

std::string message_types(const std::string& wire) {
  std::string types;
  for (std::size_t i = 0; i + 5 <= wire.size();) {
    std::uint32_t len = (std::uint32_t(std::uint8_t(wire[i + 1])) << 24) | (std::uint32_t(std::uint8_t(wire[i + 2])) << 16) |
                        (std::uint32_t(std::uint8_t(wire[i + 3])) << 8) | std::uint32_t(std::uint8_t(wire[i + 4]));
    if (len < 4 || i + 1 + len > wire.size()) break;
    types.push_back(wire[i]);
    i += 1 + len;
  }
  return types;
}

}  // namespace ddlgate::testing
