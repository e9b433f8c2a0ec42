#include "webhooks.h"

#include "http_client.h"

#include <chrono>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

namespace ddlgate::proxy {

namespace asio = boost::asio;

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using asio::redirect_error;
using asio::use_awaitable;

constexpr std::uint64_t kMaxResponseBody = 64 * 1024;

// A webhook URL as it may be logged: scheme, host and port only. The path of
// many webhook URLs (Slack's, for one) is itself a credential.
std::string loggable(const config::Webhook& hook) {
  auto url = config::parse_http_url(hook.url);
  if (!url) return "(invalid url)";
  std::string host = url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host;
  return std::string(url->https ? "https://" : "http://") + host + ":" + std::to_string(url->port) +
         (url->target == "/" ? "/" : "/...");
}

}  // namespace

struct Webhooks::Target {
  config::Webhook settings;
  config::HttpUrl url;
  std::string secret;  // never logged
  std::unique_ptr<asio::ssl::context> tls;
  std::deque<ops::Event> queue;  // guarded by Webhooks::mu_
  bool running = false;          // a deliver_loop is on it; guarded by mu_
  bool retired = false;          // removed by configure() or stop(); guarded by mu_
};

Webhooks::Webhooks() = default;

Webhooks::~Webhooks() { stop(); }

std::vector<std::string> Webhooks::configure(const std::vector<config::Webhook>& hooks, std::string instance) {
  std::vector<std::string> problems;
  // Secrets and CA files are read before the lock is taken: emit() on the
  // statement path never waits for a file.
  std::vector<std::shared_ptr<Target>> candidates;
  for (std::size_t i = 0; i < hooks.size(); ++i) {
    const auto& h = hooks[i];
    std::string name = "webhooks[" + std::to_string(i) + "] " + loggable(h);
    auto t = std::make_shared<Target>();
    t->settings = h;
    auto url = config::parse_http_url(h.url);
    if (!url) {
      problems.push_back(name + ": " + url.error().reason);
      continue;
    }
    t->url = *url;
    config::SecretRead secret = config::read_secret("webhooks[" + std::to_string(i) + "]", "secret_file", h.secret_file,
                                                    "secret_env", h.secret_env);
    if (secret.problem) {
      problems.push_back(secret.problem->where + " (" + loggable(h) + "): " + secret.problem->message);
      continue;
    }
    t->secret = std::move(secret.value);
    if (t->url.https) {
      auto tls = tls_client_context(h.ca_file);
      if (!tls) {
        problems.push_back(name + ": cannot load trust anchors: " + tls.error().reason);
        continue;
      }
      t->tls = std::move(*tls);
    }
    candidates.push_back(std::move(t));
  }
  std::vector<std::shared_ptr<Target>> next;
  std::lock_guard lock(mu_);
  for (auto& t : candidates) {
    const auto& h = t->settings;
    // Unchanged settings and secret: keep the existing queue and delivery.
    bool reused = false;
    for (auto& old : targets_) {
      if (!old->retired && old->settings == h && old->secret == t->secret) {
        next.push_back(old);
        old->retired = true;  // marks it as taken; reset below
        reused = true;
        break;
      }
    }
    if (!reused) next.push_back(std::move(t));
  }
  for (auto& old : targets_) {
    bool kept = false;
    for (auto& n : next) kept = kept || n == old;
    if (!kept) {
      old->retired = true;
      stats_.dropped.add(old->queue.size());
      if (!old->queue.empty()) {
        spdlog::warn("webhook {}: removed by a reload; {} queued event(s) dropped", loggable(old->settings), old->queue.size());
      }
      old->queue.clear();
    }
  }
  for (auto& n : next) n->retired = false;
  targets_ = std::move(next);
  instance_ = std::move(instance);
  return problems;
}

void Webhooks::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(ctx_);
    ctx_.run();
  });
}

void Webhooks::stop() {
  {
    std::lock_guard lock(mu_);
    for (auto& t : targets_) {
      t->retired = true;
      stats_.dropped.add(t->queue.size());
      t->queue.clear();
    }
  }
  ctx_.stop();
  if (thread_.joinable()) thread_.join();
}

std::size_t Webhooks::queued() const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& t : targets_) n += t->queue.size();
  return n;
}

void Webhooks::emit(ops::Event event) {
  std::lock_guard lock(mu_);
  for (auto& t : targets_) {
    if (t->retired || !ops::event_selected(t->settings.events, event.name)) continue;
    if (t->queue.size() >= t->settings.queue_size) {
      // Bounded: the newest events matter most to whoever is woken up.
      spdlog::warn("webhook {}: queue full ({} events); dropping the oldest ({})", loggable(t->settings),
                   t->settings.queue_size, t->queue.front().name);
      t->queue.pop_front();
      stats_.dropped.add();
    }
    t->queue.push_back(event);
    if (!t->running) {
      t->running = true;
      asio::co_spawn(ctx_, deliver_loop(t), asio::detached);
    }
  }
}

asio::awaitable<void> Webhooks::deliver_loop(std::shared_ptr<Target> target) {
  asio::steady_timer timer(ctx_);
  for (;;) {
    ops::Event event;
    std::string instance;
    {
      std::lock_guard lock(mu_);
      if (target->retired || target->queue.empty()) {
        target->running = false;
        co_return;
      }
      event = std::move(target->queue.front());
      target->queue.pop_front();
      instance = instance_;
    }
    const std::string body = ops::webhook_body(event, instance);
    const auto& s = target->settings;
    const std::string where = loggable(s);
    for (std::uint32_t attempt = 1;; ++attempt) {
      std::string error = co_await post_once(*target, body, event.name);
      if (error.empty()) {
        stats_.delivered.add();
        spdlog::debug("webhook {}: {} delivered (attempt {})", where, event.name, attempt);
        break;
      }
      stats_.failed_attempts.add();
      bool retired;
      {
        std::lock_guard lock(mu_);
        retired = target->retired;
      }
      if (attempt >= s.max_attempts || retired) {
        stats_.failed.add();
        spdlog::error("webhook {}: {} not delivered after {} attempt(s): {}", where, event.name, attempt, error);
        break;
      }
      auto delay = ops::backoff_delay(attempt, std::chrono::milliseconds(s.initial_backoff_ms),
                                      std::chrono::milliseconds(s.max_backoff_ms));
      spdlog::warn("webhook {}: {} attempt {} failed: {}; retrying in {} ms", where, event.name, attempt, error,
                   delay.count());
      timer.expires_after(delay);
      error_code ec;
      co_await timer.async_wait(redirect_error(use_awaitable, ec));
    }
  }
}

asio::awaitable<std::string> Webhooks::post_once(Target& target, const std::string& body, const std::string& event) {
  auto timestamp = std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  HttpPost post;
  post.user_agent = "ddlgate-webhook";
  post.content_type = "application/json";
  post.headers = {{"X-Ddlgate-Event", event},
                  {"X-Ddlgate-Timestamp", timestamp},
                  {"X-Ddlgate-Signature", ops::webhook_signature(target.secret, timestamp, body)}};
  post.body = body;
  post.timeout = std::chrono::milliseconds(target.settings.timeout_ms);
  post.max_answer_bytes = kMaxResponseBody;
  HttpAnswer answer;
  std::string error = co_await http_post(ctx_, target.url, target.tls.get(), post, &answer);
  if (!error.empty()) co_return error;
  if (answer.status < 200 || answer.status > 299) co_return "the receiver answered HTTP " + std::to_string(answer.status);
  co_return std::string();
}

}  // namespace ddlgate::proxy
