// Raw protocol helpers for tests that must send bytes no real client sends:
// malformed messages, or messages pipelined where libpq never puts them.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ddlgate::testing {

// A blocking TCP connection to 127.0.0.1:port, or -1.
int tcp_connect(std::uint16_t port);
// Sends every byte (or stops at the first error).
void send_all(int fd, const std::vector<std::uint8_t>& bytes);
// Reads until the peer closes or `timeout` passes; *closed (when given) says which.
std::string read_until_close(int fd, std::chrono::milliseconds timeout = std::chrono::seconds(5),
                             bool* closed = nullptr);
// Connects to 127.0.0.1:port, sends `bytes`, and returns what came back before the peer closed
// (or `timeout` passed); "" if the connection failed.
std::string exchange(std::uint16_t port, const std::vector<std::uint8_t>& bytes,
                     std::chrono::milliseconds timeout = std::chrono::seconds(5));
// Reads until a whole backend message of `type` has arrived (or the peer closes,
// or `timeout` passes); returns everything read.
std::string read_until_message(int fd, char type, std::chrono::milliseconds timeout = std::chrono::seconds(5));
// A StartupMessage for protocol 3.minor with the given parameters.
std::vector<std::uint8_t> startup_packet(std::uint16_t minor, const std::vector<std::pair<std::string, std::string>>& params);
// A frontend message: type byte, length, body.
std::vector<std::uint8_t> frontend_message(char type, const std::string& body);
// The value of field `code` in the first ErrorResponse of `wire`, or "".
std::string error_field(const std::string& wire, char code);
// The backend message types in `wire`, in order (e.g. "RSSKZCZ"); stops at a truncated message.
std::string message_types(const std::string& wire);

}  // namespace ddlgate::testing
