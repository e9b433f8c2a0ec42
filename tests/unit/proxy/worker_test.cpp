// A worker's io_context and the state its sessions reach back into
// (proxy/src/shared_state.h): what is left queued when the worker stops.
#include "shared_state.h"

#include <memory>

#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

namespace ddlgate::proxy {
namespace {

// Stands for a session: its destructor leaves the worker's set and counts, as
// Session::~Session does.
struct Resident {
  Worker& worker;
  bool* erased;
  ~Resident() {
    *erased = worker.sessions.erase(reinterpret_cast<Session*>(this)) == 1;
    worker.counters.sessions_opened.add();
  }
};

// A session the shutdown deadline could not end (its ledger record was not yet
// durable, say) still has a handler queued when the worker's thread has stopped.
// Destroying the worker destroys that handler and with it the last reference to
// the session, whose destructor then uses the worker's set and counters: they
// must still be there. (Under AddressSanitizer the wrong order is a
// heap-use-after-free; CI runs the unit tests with it.)
TEST(Worker, AHandlerLeftQueuedIsDestroyedWhileTheWorkersStateIsAlive) {
  auto worker = std::make_unique<Worker>();
  bool erased = false;
  {
    auto resident = std::make_shared<Resident>(Resident{*worker, &erased});
    worker->sessions.insert(reinterpret_cast<Session*>(resident.get()));
    boost::asio::post(worker->ctx, [resident] {});
  }
  worker->ctx.stop();  // the context never runs again: the handler stays queued
  ASSERT_EQ(worker->sessions.size(), 1u);
  worker.reset();
  EXPECT_TRUE(erased);
}

}  // namespace
}  // namespace ddlgate::proxy
