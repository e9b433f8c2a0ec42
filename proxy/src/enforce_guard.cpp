// Enforcement's side of the guard's confirmations (issue 25, docs/guard.md): a decision
// that allowed a message is confirmed on the database's control connection
// (guard_confirm.h) before the message goes on; the session waits at most
// guard.confirm_timeout_ms, and a confirmation that arrives later is released.
// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
#include <mutex>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "guard_confirm.h"
#include "session.h"

namespace ddlgate::proxy {

std::string Enforcement::server_text_sha256(std::string_view sql) const {
  return reader_.server_bytes_sha256(sql, s_.engine_.lexing());
}

asio::awaitable<Enforcement::GuardAnswer> Enforcement::confirm_with_guard(const engine::Confirmation& c) {
  std::shared_ptr<GuardConfirmer> confirmer = s_.shared_.guard;
  if (!confirmer) co_return GuardAnswer{nullptr, "ddlgate has no control connection", false};
  // Shared between this coroutine (on the worker) and the control thread.
  struct Wait {
    std::mutex mu;
    bool answered = false;  // the control thread set result
    bool abandoned = false;  // the session stopped waiting: a late confirmation is released
    base::Result<GuardConfirmer::Confirmed> result = base::Error("no answer");
    bool woken = false;  // worker thread only: the answer's post ran
  };
  auto wait = std::make_shared<Wait>();
  guard::ControlConnection::Request request;
  request.backend_pid = static_cast<std::int32_t>(s_.backend_pid_);
  request.backend_start = guard_backend_start_;
  request.text_sha256 = c.text_sha256;
  request.tags = c.tags;
  request.role = c.role;
  request.search_path = c.search_path;
  request.lock_timeout_ms = c.lock_timeout_ms;
  const std::string database = s_.database_;
  std::weak_ptr<Session> weak = s_.weak_from_this();
  asio::io_context& ctx = s_.worker_.ctx;
  confirmer->confirm(database, std::move(request),
                     [wait, weak, &ctx, confirmer, database](base::Result<GuardConfirmer::Confirmed> r) {
                       {
                         std::lock_guard lock(wait->mu);
                         if (wait->abandoned) {
                           if (r) confirmer->release(database, r->id);
                           return;
                         }
                         wait->result = std::move(r);
                         wait->answered = true;
                       }
                       asio::post(ctx, [wait, weak] {
                         wait->woken = true;
                         if (auto self = weak.lock()) self->analysis_wait_.cancel();
                       });
                     });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(s_.config_->guard.confirm_timeout_ms);
  while (!wait->woken && s_.phase_ != Session::Phase::closed && std::chrono::steady_clock::now() < deadline) {
    s_.analysis_wait_.expires_at(deadline);
    boost::system::error_code ec;
    co_await s_.analysis_wait_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  base::Result<GuardConfirmer::Confirmed> result = base::Error("");
  {
    std::lock_guard lock(wait->mu);
    if (!wait->answered) {
      wait->abandoned = true;
      if (s_.phase_ == Session::Phase::closed) co_return GuardAnswer{nullptr, {}, true};
      co_return GuardAnswer{nullptr,
                            "no answer within guard.confirm_timeout_ms (" +
                                std::to_string(s_.config_->guard.confirm_timeout_ms) + " ms)",
                            false};
    }
    result = std::move(wait->result);
  }
  if (!result) co_return GuardAnswer{nullptr, result.error().reason, s_.phase_ == Session::Phase::closed};
  guard_backend_start_ = result->backend_start;
  const std::int64_t id = result->id;
  auto hold = std::make_shared<const engine::ConfirmationHold>([confirmer, database, id] { confirmer->release(database, id); });
  co_return GuardAnswer{std::move(hold), {}, s_.phase_ == Session::Phase::closed};
}

}  // namespace ddlgate::proxy
