// One client connection and its upstream connection, relayed by two coroutines
// (client to server, server to client) on one worker thread.
#pragma once

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "channel.h"
#include "enforcement.h"
#include "ddlgate/engine/engine.h"
#include "ddlgate/engine/stream.h"
#include "ddlgate/protocol/frame.h"
#include "ddlgate/protocol/lexing_state.h"
#include "ddlgate/protocol/messages.h"
#include "ddlgate/protocol/startup.h"
#include "inspection_budget.h"
#include "reactor_read.h"
#include "shared_state.h"

namespace ddlgate::proxy {

class Session : public std::enable_shared_from_this<Session>, public ReactorRead::Reader, private engine::Host {
 public:
  Session(SharedState& shared, Worker& worker, Socket client, std::string peer);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // The session's whole life: startup, upstream connection, relay, close.
  asio::awaitable<void> run();

  // Ends the session now (shutdown deadline): closes both sockets.
  void abort();

 private:
  friend class Enforcement;  // its coroutines use the session's I/O (enforcement.h)
  using Verdict = Enforcement::Verdict;
  enum class Phase { startup, authenticating, ready, closed };

  asio::awaitable<bool> read_startup(protocol::StartupMessage& startup);
  asio::awaitable<bool> handle_cancel(const protocol::CancelRequest& cancel);
  asio::awaitable<bool> pin_lexing_settings(protocol::StartupMessage& startup);
  asio::awaitable<bool> check_startup_settings(const protocol::StartupMessage& startup);
  asio::awaitable<bool> client_tls_handshake(bool direct);
  asio::awaitable<bool> connect_upstream(std::string& error);
  struct ClientResume {
    bool active = false;                      // false: start fresh (leftover_, then reads)
    std::optional<protocol::ScanStep> step;   // a step scan_client_input stopped at
    std::span<const std::uint8_t> input;      // the rest of the input after it
    bool needs_decision = false;              // needs_decision(step) already said true
  };
  asio::awaitable<void> relay_client_to_server(ClientResume resume);
  // resume_write: a handler left s2c_out_ partly written; finish it first.
  asio::awaitable<void> relay_server_to_client(bool resume_write);
  bool client_fast_lane() const;
  bool server_fast_lane() const;
  // Starts the coroutine form of a direction (from a handler, or at the start).
  void spawn_client_relay(ClientResume resume);
  void spawn_server_relay(bool resume_write);
  // A read's bytes: counters and the idle clock.
  void count_client_bytes(std::size_t n);
  void count_server_bytes(std::size_t n);
  void read_client();
  void on_client_read(const boost::system::error_code& ec, std::size_t n);
  static constexpr int kClientSide = 0;  // a fast-lane read's completion (on_read)
  static constexpr int kServerSide = 1;
  void on_read(int side, const boost::system::error_code& ec, std::size_t n) override;
  void read_server();
  void on_server_read(const boost::system::error_code& ec, std::size_t n);
  // Scans client input and forwards (into c2s_out_) every step that needs no
  // waiting; returns the first step that does (input is then the rest after it).
  struct ClientStop {
    protocol::ScanStep step;
    bool needs_decision = false;
  };
  std::optional<ClientStop> scan_client_input(std::span<const std::uint8_t>& input);
  // The parts of handling one client step that never wait.
  // Inlined into both relay forms (session.cpp): it runs for every client message.
  [[gnu::always_inline]] inline void begin_client_message(const protocol::ScanStep& step);
  void forward_undecided(const protocol::ScanStep& step);
  void forward_client_step(const protocol::ScanStep& step);
  // Scans server input into s2c_out_. check_token: the server has just
  // authenticated the client and a startup break-glass token must be checked
  // before `held` (the ReadyForQuery) goes on.
  enum class ServerScan { done, error, check_token };
  ServerScan scan_server_input(std::span<const std::uint8_t>& input, std::span<const std::uint8_t>& held);
  std::vector<std::uint8_t> c2s_buf_;
  std::vector<std::uint8_t> s2c_buf_;
  std::vector<asio::const_buffer> c2s_out_;  // gather list of what one read sends on
  std::vector<asio::const_buffer> s2c_out_;
  asio::awaitable<void> watchdog();

  // Sends a FATAL ErrorResponse to the client (when no other write to it is in
  // flight and no server message is half-forwarded), then closes the session.
  asio::awaitable<void> fail(const std::string& sqlstate, const std::string& message,
                             const std::string& detail = "", const std::string& hint = "");
  // Closes both sides; the relay coroutines end on their next operation.
  void close();

  // Handles one client message the scanner reported; false ends the session.
  asio::awaitable<bool> on_client_message(const protocol::ScanStep& step);
  // Within one message (session.cpp): the hold of a large one, which waits for the budget
  // (limits.inspection_budget), streams it, or refuses it.
  bool enforcing() const { return mode_ != config::EnforcementMode::off; }
  asio::awaitable<std::optional<Verdict>> wait_for_inspection(const protocol::ScanStep& step);
  // Large statements streamed while they are scanned (docs/operations.md, "What is buffered
  // when"): a Query too large to be worth holding whole whose text sql::PlainDmlStream
  // reads as one plain INSERT, UPDATE, DELETE or SELECT as its bytes pass.
  bool may_stream(const protocol::ScanStep& hold) const;
  [[gnu::noinline]] bool large_message_step(protocol::ScanStep& step);
  // Forwards its header (into c2s_out_) and starts the scan; its body follows as pass steps.
  void start_stream(const protocol::ScanStep& hold);
  asio::awaitable<void> record_cut_stream();
  asio::awaitable<void> cut_stream();
  engine::StreamedQuery stream_;
  // Appends records to the ledger and waits until the last is durable; false if it failed.
  asio::awaitable<bool> record_durably(std::vector<ledger::Record> records);
  asio::awaitable<bool> pace_refusal();
  // The engine (engine/engine.h): what the server has yet to answer and the outcomes,
  // prepared statements and portals, savepoints, the lexing-state model, denials.
  engine::Engine engine_;
  Enforcement enforcement_{*this};  // the decisions (enforce.cpp, break_glass.cpp)
  // engine::Host: its side effects.
  void spend_approval(const std::string& key) override;
  void release_approval(const std::string& key) override;
  void record_outcome(const engine::Outcome& outcome) override;
  void out_of_step(std::string_view what) override;
  void read_whole(std::uint8_t type) override;
  // Handles one server message the scanner reported; returns the bytes to
  // forward (the message itself, or a rewritten one held in rewritten_).
  std::span<const std::uint8_t> on_server_message(const protocol::ScanStep& step);

  SharedState& shared_;
  Worker& worker_;
  InspectionBudget budget_{shared_.inspection_held};  // limits.inspection_budget: this session's share
  ReactorRead client_read_{worker_.counters.fast_lane_empty_reads};  // the fast lane's reads
  ReactorRead server_read_{worker_.counters.fast_lane_empty_reads};
  // The configuration in force when the session started; a reload (SIGHUP) does not change it.
  std::shared_ptr<const config::Config> config_;
  Channel client_;
  std::unique_ptr<Channel> server_;
  std::string peer_;
  std::uint64_t id_;
  bool admitted_ = false;
  Phase phase_ = Phase::startup;

  std::string user_;
  std::string database_;
  std::string application_;
  std::vector<std::uint8_t> startup_bytes_;  // the packet to forward upstream
  std::vector<std::uint8_t> leftover_;       // client bytes read after the startup packet

  protocol::FrameScanner client_scanner_;
  protocol::FrameScanner server_scanner_;
  asio::steady_timer inspection_wait_;  // wait_for_inspection()
  bool client_writing_ = false;
  bool server_offered_plus_ = false;
  bool sasl_started_ = false;
  bool terminate_seen_ = false;
  bool closing_ = false;
  char tx_status_ = 'I';
  std::uint32_t backend_pid_ = 0;
  std::vector<unsigned char> upstream_cert_der_;
  std::vector<std::uint8_t> rewritten_;  // a server message ddlgate changed, until written

  bool drop_current_ = false;  // the client message being relayed is dropped
  std::deque<std::vector<std::uint8_t>> c2s_arena_;  // replacement bytes until written
  std::deque<std::vector<std::uint8_t>> s2c_arena_;
  asio::steady_timer ledger_wait_;  // record_durably(), and pace_refusal()'s wait
  asio::steady_timer ready_wait_;  // a statement pipelined behind startup waits for authentication
  asio::steady_timer analysis_wait_;  // run_elsewhere()
  enum class Elsewhere { done, no_thread, closed };
  asio::awaitable<Elsewhere> run_elsewhere(const std::function<void()>& work);
  // This session's mode: the global one, or an override for its user or database.
  config::EnforcementMode mode_ = config::EnforcementMode::off;

  asio::steady_timer watchdog_timer_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_activity_;
  std::uint64_t bytes_from_client_ = 0;
  std::uint64_t bytes_from_server_ = 0;
};

}  // namespace ddlgate::proxy
