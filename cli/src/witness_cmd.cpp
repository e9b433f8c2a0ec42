// `ddlgate witness serve`: a C2SP tlog-witness for another host (docs/operations.md, "Witnesses").
// One thread and one io_context: each add-checkpoint is decided and its new state persisted
// without a suspension point in between, so that checking the old size and storing the new
// one are atomic (the race tlog-witness describes cannot happen).
// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "commands.h"
#include "ddlgate/config/config.h"
#include "ddlgate/ledger/checkpoint.h"
#include "ddlgate/ledger/witness.h"
#include "ddlgate/proxy/logging.h"

namespace ddlgate::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace lg = ddlgate::ledger;
using boost::system::error_code;
using asio::redirect_error;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

constexpr std::uint32_t kMaxHeaderBytes = 8 * 1024;
constexpr std::size_t kMaxConnections = 64;
constexpr auto kIdleTimeout = std::chrono::seconds(10);

struct WitnessOptions {
  std::string listen = "127.0.0.1:7380";
  std::string key;
  std::string name;
  std::string state;
  std::vector<std::string> logs;
  std::string ready_file;
  std::string log_level = "info";
};

struct KnownLog {
  lg::NoteVerifier key;
};

class Witness {
 public:
  Witness(lg::Cosigner cosigner, lg::WitnessState state, std::map<std::string, KnownLog> logs)
      : cosigner_(std::move(cosigner)), state_(std::move(state)), logs_(std::move(logs)) {}

  // The answer to one add-checkpoint body; persists the new state before it returns a 200.
  lg::WitnessReply add_checkpoint(std::string_view body) {
    auto req = lg::parse_add_checkpoint(body);
    if (!req) return {400, "text/plain; charset=utf-8", "malformed add-checkpoint request: " + req.error().reason + "\n", {}};
    const auto& origin = req->checkpoint.origin;
    auto it = logs_.find(origin);
    auto current = state_.get(origin);
    auto now = static_cast<std::uint64_t>(std::time(nullptr));
    auto reply = lg::decide_add_checkpoint(*req, it == logs_.end() ? nullptr : &it->second.key, current, cosigner_, now);
    if (reply.new_state) {
      if (auto st = state_.put(origin, *reply.new_state); !st) {
        spdlog::error("witness state for {}: {}", origin, st.error().to_string());
        return {500, "text/plain; charset=utf-8", "cannot persist the witness state\n", {}};
      }
      spdlog::info("cosigned {} at size {} (old size {})", origin, req->checkpoint.size, req->old_size);
    } else if (reply.status == 422 || (reply.status == 409 && current && current->size == req->old_size)) {
      // A known log with a valid signature whose history does not extend what was cosigned:
      // evidence of a fork or a rollback (tlog-witness: MAY log, MUST NOT cosign).
      spdlog::error("refused {} at size {} from old size {}: {} {}; the log's checkpoint follows\n{}", origin,
                    req->checkpoint.size, req->old_size, reply.status, reply.body.substr(0, reply.body.size() - 1),
                    req->checkpoint.text);
    } else {
      spdlog::warn("{} for {} at size {} (old size {}): {}", reply.status, origin, req->checkpoint.size, req->old_size,
                   reply.body.substr(0, reply.body.size() - 1));
    }
    return reply;
  }

 private:
  lg::Cosigner cosigner_;
  lg::WitnessState state_;
  std::map<std::string, KnownLog> logs_;
};

asio::awaitable<void> serve_connection(tcp::socket socket, Witness& witness, std::size_t& connections) {
  ++connections;
  struct Release {
    std::size_t& n;
    ~Release() { --n; }
  } release{connections};
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer(kMaxHeaderBytes);
  for (;;) {
    stream.expires_after(kIdleTimeout);
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(lg::kMaxAddCheckpointBody);
    error_code ec;
    co_await http::async_read(stream, buffer, parser, redirect_error(use_awaitable, ec));
    lg::WitnessReply r;
    bool keep = false;
    unsigned version = 11;
    if (ec) {
      if (ec == http::error::body_limit) r = {413, "text/plain; charset=utf-8", "request body too large\n", {}};
      else if (ec == http::error::header_limit) r = {431, "text/plain; charset=utf-8", "request header too large\n", {}};
      else if (ec != http::error::end_of_stream && ec != beast::error::timeout && ec != asio::error::connection_reset &&
               ec != http::error::partial_message)
        r = {400, "text/plain; charset=utf-8", "malformed HTTP request\n", {}};
      else break;
    } else {
      const auto& req = parser.get();
      version = req.version();
      keep = req.keep_alive();
      std::string_view path(req.target().data(), req.target().size());
      if (path != "/add-checkpoint") {
        r = {404, "text/plain; charset=utf-8", "not found: POST /add-checkpoint\n", {}};
      } else if (req.method() != http::verb::post) {
        r = {405, "text/plain; charset=utf-8", "only POST\n", {}};
      } else {
        r = witness.add_checkpoint(req.body());
      }
    }
    http::response<http::string_body> res{static_cast<http::status>(r.status), version};
    res.set(http::field::server, "ddlgate-witness");
    res.set(http::field::content_type, r.content_type);
    res.keep_alive(keep);
    res.body() = std::move(r.body);
    res.prepare_payload();
    co_await http::async_write(stream, res, redirect_error(use_awaitable, ec));
    if (ec || !keep) break;
  }
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, Witness& witness) {
  std::size_t connections = 0;
  for (;;) {
    error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(redirect_error(use_awaitable, ec));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      spdlog::warn("accept failed: {}", ec.message());
      asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(redirect_error(use_awaitable, ec));
      continue;
    }
    if (connections >= kMaxConnections) {
      socket.close(ec);
      continue;
    }
    asio::co_spawn(acceptor.get_executor(), serve_connection(std::move(socket), witness, connections), asio::detached);
  }
}

// A known log: "ORIGIN=PUBKEY.pem" (a PEM Ed25519 public key, as `ddlgate keygen` writes it) or
// the log's vkey "ORIGIN+<key id>+<base64(0x01 || key)>".
std::optional<std::pair<std::string, KnownLog>> parse_log(const std::string& arg, std::string* why) {
  if (auto eq = arg.find('='); eq != std::string::npos && eq > 0) {
    auto key = lg::NoteVerifier::load_pem(arg.substr(eq + 1));
    if (!key) {
      *why = key.error().to_string();
      return std::nullopt;
    }
    return std::pair{arg.substr(0, eq), KnownLog{*key}};
  }
  auto vk = lg::parse_vkey(arg);
  if (!vk) {
    *why = "neither ORIGIN=PUBKEY.pem nor a vkey: " + vk.error().reason;
    return std::nullopt;
  }
  if (vk->type != lg::kSigTypeEd25519Note) {
    *why = "the vkey is not an Ed25519 note key (type 0x01)";
    return std::nullopt;
  }
  return std::pair{vk->name, KnownLog{lg::NoteVerifier::from_raw(vk->key)}};
}

int run_witness_serve(const WitnessOptions& o) {
  proxy::configure_logging(config::LogFormat::text, o.log_level);
  auto fail = [](const std::string& what) {
    std::fprintf(stderr, "ddlgate witness serve: %s\n", what.c_str());
    return kExitUsage;
  };
  auto ep = config::parse_host_port(o.listen);
  if (!ep) return fail("--listen: " + ep.error().reason);
  auto cosigner = lg::Cosigner::load_pem(o.key, o.name);
  if (!cosigner) return fail("--key: " + cosigner.error().to_string());
  std::map<std::string, KnownLog> logs;
  for (const auto& l : o.logs) {
    std::string why;
    auto parsed = parse_log(l, &why);
    if (!parsed) return fail("--log " + l + ": " + why);
    logs.insert_or_assign(parsed->first, parsed->second);
  }
  if (logs.empty()) return fail("--log: at least one log (ORIGIN=PUBKEY.pem or a vkey) is required");
  auto state = lg::WitnessState::open(o.state);
  if (!state) return fail("--state: " + state.error().to_string());
  const std::string vkey = lg::format_vkey(cosigner->verifier_key());
  Witness witness(std::move(*cosigner), std::move(*state), std::move(logs));

  asio::io_context ctx{1};
  tcp::acceptor acceptor(ctx);
  error_code ec;
  tcp::resolver resolver(ctx);
  auto results = resolver.resolve(ep->host, std::to_string(ep->port), ec);
  if (ec || results.empty()) return fail("--listen " + o.listen + ": cannot resolve: " + ec.message());
  tcp::endpoint endpoint = *results.begin();
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("--listen " + o.listen + ": " + ec.message());
  auto bound = acceptor.local_endpoint();
  std::string addr = (bound.address().is_v6() ? "[" + bound.address().to_string() + "]" : bound.address().to_string()) +
                     ":" + std::to_string(bound.port());
  spdlog::info("witness {} listening on http://{}/add-checkpoint, state in {}", o.name, addr, o.state);
  std::printf("%s\n", vkey.c_str());
  std::fflush(stdout);
  if (!o.ready_file.empty()) {
    std::string tmp = o.ready_file + ".tmp";
    {
      std::ofstream f(tmp, std::ios::trunc);
      f << addr << "\n";
    }
    std::error_code rename_ec;
    std::filesystem::rename(tmp, o.ready_file, rename_ec);
    if (rename_ec) return fail("--ready-file: " + rename_ec.message());
  }
  asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](const error_code&, int) { ctx.stop(); });
  asio::co_spawn(ctx, accept_loop(acceptor, witness), asio::detached);
  ctx.run();
  spdlog::info("witness stopped");
  return kExitOk;
}

}  // namespace

void add_witness(CLI::App& app, Runner& runner) {
  auto* cmd = app.add_subcommand("witness", "a checkpoint witness (C2SP tlog-witness) for another host's ledger");
  cmd->require_subcommand(1);
  auto o = std::make_shared<WitnessOptions>();
  auto* serve = cmd->add_subcommand("serve", "cosign the checkpoints of known logs: POST /add-checkpoint");
  serve->add_option("--listen", o->listen, "HOST:PORT to listen on (default 127.0.0.1:7380; port 0: any free port)");
  serve->add_option("--key", o->key, "the witness's PEM Ed25519 private key (ddlgate keygen)")->required();
  serve->add_option("--name", o->name, "the witness's name, e.g. witness.example.com/w1 (its cosignatures carry it)")->required();
  serve->add_option("--state", o->state, "directory of the witness's state: the latest cosigned tree per log")->required();
  serve->add_option("--log", o->logs, "a log it accepts: ORIGIN=PUBKEY.pem, or the log's vkey (repeatable)")->required();
  serve->add_option("--ready-file", o->ready_file, "write the bound address here once listening");
  serve->add_option("--log-level", o->log_level, "trace, debug, info, warn, error, critical or off");
  serve->callback([&runner, o] { runner = [o] { return run_witness_serve(*o); }; });
}

}  // namespace ddlgate::cli
