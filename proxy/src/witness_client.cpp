#include "witness_client.h"

#include "http_client.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <optional>
#include <stdexcept>

#include "ddlgate/ledger/file_io.h"
#include "ddlgate/ledger/segments.h"
#include "ddlgate/ledger/witness.h"
#include "ddlgate/ops/webhook.h"

namespace ddlgate::proxy {

namespace asio = boost::asio;

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace lg = ddlgate::ledger;
using boost::system::error_code;
using asio::redirect_error;
using asio::use_awaitable;

// A 200 answer is a few signature lines; a 409 a number. Anything longer is not a witness's.
constexpr std::uint64_t kMaxResponseBody = 16 * 1024;
constexpr auto kPoll = std::chrono::milliseconds(200);
constexpr auto kMaxRetry = std::chrono::milliseconds(60'000);

}  // namespace

struct WitnessClient::Target {
  config::Witness settings;
  config::HttpUrl url;
  lg::VerifierKey key;
  std::unique_ptr<asio::ssl::context> tls;
  std::uint64_t size = 0;        // the size this witness last cosigned, as far as we know
  std::string cosigned_body;     // the body of the checkpoint it last cosigned for us
  std::uint32_t failures = 0;    // consecutive failed pushes
  std::chrono::steady_clock::time_point next_attempt{};
};

WitnessClient::WitnessClient(std::filesystem::path ledger_dir, const std::vector<config::Witness>& witnesses,
                             std::chrono::milliseconds retry)
    : dir_(std::move(ledger_dir)), retry_(retry), proofs_(std::make_unique<lg::LedgerProofSource>(dir_)) {
  for (std::size_t i = 0; i < witnesses.size(); ++i) {
    const auto& w = witnesses[i];
    const std::string where = "ledger.witnesses[" + std::to_string(i) + "]";
    auto t = std::make_unique<Target>();
    t->settings = w;
    auto url = config::parse_http_url(w.url);
    if (!url) throw std::runtime_error(where + ".url: " + url.error().reason);
    t->url = *url;
    if (t->url.target.empty() || t->url.target.back() != '/') t->url.target += '/';
    t->url.target += "add-checkpoint";
    auto key = lg::parse_vkey(w.vkey);
    if (!key) throw std::runtime_error(where + ".vkey: " + key.error().reason);
    if (key->type != lg::kSigTypeCosignatureV1) {
      throw std::runtime_error(where + ".vkey: not a cosignature/v1 key (type 0x04), as `ddlgate witness serve` prints it");
    }
    t->key = *key;
    if (t->url.https) {
      auto tls = tls_client_context(w.ca_file);
      if (!tls) throw std::runtime_error(where + ".ca_file: " + tls.error().reason);
      t->tls = std::move(*tls);
    }
    targets_.push_back(std::move(t));
  }
  // What each witness already cosigned (a restart must not start again from size 0, which a
  // witness that cosigned before refuses with 409 anyway). A torn last note is cut first.
  const auto file = dir_ / lg::kCosignaturesFileName;
  std::uint64_t valid = 0;
  auto cosigned = lg::read_cosignatures(file, &valid);
  if (!cosigned) throw std::runtime_error("cosignatures: " + cosigned.error().to_string());
  std::error_code ec;
  if (std::filesystem::exists(file) && std::filesystem::file_size(file, ec) > valid && !ec) {
    std::unique_ptr<lg::WritableFile> f;
    auto fs = lg::posix_file_system();
    if (auto e = fs->open_append(file, false, &f); e || f->truncate(valid) || f->sync_data()) {
      throw std::runtime_error("cannot cut the torn last note of " + file.string());
    }
    spdlog::warn("witness client: cut a torn note at offset {} of {}", valid, file.string());
  }
  for (const auto& cp : *cosigned) {
    for (auto& t : targets_) {
      if (cp.size < t->size) continue;
      for (const auto& line : cp.signatures) {
        if (lg::verify_cosignature(t->key, cp.body, line)) {
          t->size = cp.size;
          t->cosigned_body = cp.body;
          break;
        }
      }
    }
  }
}

WitnessClient::~WitnessClient() { stop(); }

void WitnessClient::start() {
  asio::co_spawn(*ctx_, loop(), asio::detached);
  thread_ = std::thread([ctx = ctx_.get()] { ctx->run(); });
}

void WitnessClient::stop() {
  stopping_ = true;
  if (!ctx_) return;
  ctx_->stop();
  if (thread_.joinable()) thread_.join();
  ctx_.reset();  // a push in flight is destroyed here, not resumed later
}

void WitnessClient::final_pass() {
  std::chrono::milliseconds budget{1000};
  for (const auto& t : targets_) budget += std::chrono::milliseconds(t->settings.timeout_ms) * 3;
  stop();
  ctx_ = std::make_unique<asio::io_context>(1);
  bool done = false;
  asio::co_spawn(*ctx_, [this, &done]() -> asio::awaitable<void> {
    co_await pass(true);
    done = true;
  }, asio::detached);
  ctx_->run_for(budget);
  if (!done) spdlog::warn("witness client: the last checkpoint was not pushed to every witness before shutdown");
  ctx_.reset();
}

asio::awaitable<void> WitnessClient::loop() {
  asio::steady_timer timer(*ctx_);
  while (!stopping_) {
    co_await pass(false);
    timer.expires_after(kPoll);
    error_code ec;
    co_await timer.async_wait(redirect_error(use_awaitable, ec));
  }
}

asio::awaitable<void> WitnessClient::pass(bool ignore_backoff) {
  // The latest checkpoint: re-read only when the file grew. A note the ledger is still
  // appending is left out (as a torn note) until it is whole.
  const auto file = dir_ / lg::kCheckpointsFileName;
  std::error_code ec;
  auto bytes = std::filesystem::file_size(file, ec);
  if (ec) co_return;
  if (bytes != seen_checkpoints_bytes_) {
    seen_checkpoints_bytes_ = bytes;  // a damaged file is reported once per change, not every poll
    auto cps = lg::read_cosignatures(file);
    if (!cps) {
      spdlog::error("witness client: cannot read {}: {}", file.string(), cps.error().to_string());
      co_return;
    }
    if (!cps->empty()) latest_note_ = cps->back().text;
  }
  if (latest_note_.empty()) co_return;
  for (auto& t : targets_) {
    if (!ignore_backoff && std::chrono::steady_clock::now() < t->next_attempt) continue;
    co_await push(*t, latest_note_);
    if (stopping_ && !ignore_backoff) co_return;
  }
}

asio::awaitable<void> WitnessClient::push(Target& t, const std::string& note) {
  auto cp = lg::parse_checkpoint(note);
  if (!cp || cp->body == t.cosigned_body) co_return;
  const std::string who = t.key.name;
  std::string problem;
  bool refused = false;
  std::uint64_t old = t.size;
  // A 409 names the witness's size: one more try from there (tlog-witness, add-checkpoint).
  for (int attempt = 0; attempt < 2 && problem.empty(); ++attempt) {
    if (old > cp->size) {
      problem = "the witness cosigned size " + std::to_string(old) + ", above this checkpoint's " +
                std::to_string(cp->size) + " (the ledger was rolled back or forked)";
      refused = true;
      break;
    }
    std::vector<lg::Hash> proof;
    if (old > 0 && old < cp->size) {
      auto p = proofs_->prove(old, cp->size);
      if (!p) {
        problem = "cannot make the consistency proof from size " + std::to_string(old) + ": " + p.error().to_string();
        break;
      }
      if (p->root_n != cp->root) {
        problem = "the ledger's records do not match its checkpoint at size " + std::to_string(cp->size);
        break;
      }
      proof = std::move(p->proof);
    }
    unsigned status = 0;
    std::string answer;
    std::string err = co_await post(t, lg::format_add_checkpoint(old, proof, note), &status, &answer);
    if (!err.empty()) {
      problem = err;
      break;
    }
    if (status == 200) {
      // Only lines that verify against the configured key are kept (others are ignored, as
      // tlog-witness says); at least one must.
      std::vector<std::string> lines;
      std::string_view rest = answer;
      while (!rest.empty()) {
        auto nl = rest.find('\n');
        if (nl == std::string_view::npos) break;
        std::string_view line = rest.substr(0, nl);
        rest.remove_prefix(nl + 1);
        if (lg::verify_cosignature(t.key, cp->body, line)) lines.emplace_back(line);
      }
      if (lines.empty()) {
        problem = "answered 200 without a valid cosignature by " + format_vkey(t.key);
        refused = true;
        break;
      }
      try {
        append_cosigned(lg::with_signature_lines(*cp, lines));
      } catch (const std::exception& e) {
        problem = e.what();
        break;
      }
      t.size = cp->size;
      t.cosigned_body = cp->body;
      t.failures = 0;
      t.next_attempt = {};
      stats_.cosigned.add();
      spdlog::info("witness {} cosigned the checkpoint at size {} (from size {})", who, cp->size, old);
      co_return;
    }
    if (status == 409) {
      auto size = lg::parse_size_body(answer);
      if (!size) {
        problem = "answered 409 without its size";
      } else if (*size == old) {
        problem = "holds another tree at size " + std::to_string(old) + " (409): the ledger forked or was rolled back";
        refused = true;
      } else {
        spdlog::info("witness {} has size {}, not {}: pushing from there", who, *size, old);
        old = *size;
        t.size = *size;
        continue;
      }
    } else if (status == 422) {
      problem = "refused the consistency proof from size " + std::to_string(old) + " to " + std::to_string(cp->size) +
                " (422): the ledger's history is not the one it cosigned (fork or rollback)";
      refused = true;
    } else if (status == 403 || status == 404) {
      problem = "does not accept this log (" + std::to_string(status) + ": " + answer.substr(0, 200) +
                "): its list of logs must hold origin " + cp->origin + " with this ledger's key";
      refused = true;
    } else {
      problem = "answered HTTP " + std::to_string(status);
    }
  }
  if (problem.empty()) problem = "kept answering 409";
  if (refused) stats_.refused.add();
  else stats_.unreachable.add();
  auto delay = ops::backoff_delay(++t.failures, retry_, kMaxRetry);
  t.next_attempt = std::chrono::steady_clock::now() + delay;
  spdlog::error("witness {} ({}): checkpoint at size {} not cosigned: {}; retrying in {} ms", who, t.settings.url,
                cp->size, problem, delay.count());
}

void WitnessClient::append_cosigned(const std::string& note) {
  // One write of the whole note, then fdatasync: a crash leaves at most a torn last note,
  // which the next start cuts (and readers leave out).
  const auto file = dir_ / lg::kCosignaturesFileName;
  auto fs = lg::posix_file_system();
  bool existed = std::filesystem::exists(file);
  std::unique_ptr<lg::WritableFile> f;
  if (auto e = fs->open_append(file, true, &f)) throw std::runtime_error("cannot open " + file.string() + ": " + e.message());
  if (auto e = lg::write_all(*f, note.data(), note.size())) throw std::runtime_error("cannot write " + file.string() + ": " + e.message());
  if (auto e = f->sync_data()) throw std::runtime_error("cannot sync " + file.string() + ": " + e.message());
  if (!existed) {
    if (auto e = fs->sync_directory(dir_)) throw std::runtime_error("cannot sync " + dir_.string() + ": " + e.message());
  }
}

asio::awaitable<std::string> WitnessClient::post(Target& t, const std::string& body, unsigned* status, std::string* answer) {
  HttpPost post;
  post.user_agent = "ddlgate-witness-client";
  post.content_type = "text/plain; charset=utf-8";
  post.body = body;
  post.timeout = std::chrono::milliseconds(t.settings.timeout_ms);
  post.max_answer_bytes = kMaxResponseBody;
  HttpAnswer got;
  std::string error = co_await http_post(*ctx_, t.url, t.tls.get(), post, &got);
  if (!error.empty()) co_return error;
  *status = got.status;
  *answer = std::move(got.body);
  co_return std::string();
}

}  // namespace ddlgate::proxy
