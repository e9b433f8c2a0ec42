// The engine driven by random client message sequences, against a model PostgreSQL that
// answers what the engine forwards as the protocol says it must. Checked after every step:
//  - the client receives the messages (by type, and every ReadyForQuery's status) that a
//    second model server answers to the client's own stream, in which each refused
//    statement is an error: so exactly one ReadyForQuery per Query, Sync or FunctionCall
//    PostgreSQL would answer, and nothing of ddlgate's own denial Query shows;
//  - no statement of an unapproved controlled text reaches the server, by a reference
//    reading independent of the classifier: the vocabulary below is labelled by hand;
//  - the engine never finds itself out of step with a server that follows the protocol.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "../unit/engine/conversation.h"

namespace {

using namespace ddlgate;
using namespace ddlgate::engine::testing;
namespace t = ddlgate::engine::testing;
namespace fe = protocol::fe;
namespace be = protocol::be;

struct Word {
  const char* sql;
  bool controlled;  // by hand, not by the classifier
  bool approved;
  const char* tag;  // the server's CommandComplete tag; nullptr: it fails
};

const Word kWords[] = {
    {"SELECT 1", false, false, "SELECT 1"},
    {"INSERT INTO t VALUES (1)", false, false, "INSERT 0 1"},
    {"BEGIN", false, false, "BEGIN"},
    {"COMMIT", false, false, "COMMIT"},
    {"ROLLBACK", false, false, "ROLLBACK"},
    {"SAVEPOINT s", false, false, "SAVEPOINT"},
    {"ROLLBACK TO SAVEPOINT s", false, false, "ROLLBACK"},
    {"RELEASE SAVEPOINT s", false, false, "RELEASE"},
    {"SELECT 1/0", false, false, nullptr},
    {"DEALLOCATE ALL", false, false, "DEALLOCATE ALL"},
    {"CREATE TABLE approved_a (id int)", true, true, "CREATE TABLE"},
    {"ALTER TABLE approved_a ADD COLUMN n int", true, true, "ALTER TABLE"},
    {"CREATE INDEX approved_i ON approved_a (id)", true, true, "CREATE INDEX"},
    {"DROP TABLE accounts", true, false, "DROP TABLE"},
    {"ALTER ROLE app SUPERUSER", true, false, "ALTER ROLE"},
    {"GRANT ALL ON accounts TO PUBLIC", true, false, "GRANT"},
    {"TRUNCATE accounts", true, false, "TRUNCATE TABLE"},
    {"CREATE TABLE approved_fails (id int)", true, true, nullptr},
};
constexpr std::size_t kWordCount = sizeof kWords / sizeof kWords[0];

const Word* find_word(std::string_view sql) {
  for (const auto& w : kWords) {
    if (sql == w.sql) return &w;
  }
  return nullptr;
}

std::vector<std::string_view> split(std::string_view text) {
  std::vector<std::string_view> parts;
  while (true) {
    auto at = text.find("; ");
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 2);
  }
}

// A model of the server: answers the messages the engine forwards, message by message.
class ModelServer {
 public:
  // An extended-protocol message fails (a refused Parse or Execute): skip to Sync. Unless
  // the server skips to Sync already, when it never reads the message.
  Bytes fail_extended() {
    Bytes out;
    if (skipping_) return out;
    fail(out, "42501");
    skipping_ = true;
    return out;
  }
  Bytes answer(const Bytes& upstream) {
    Bytes out;
    std::size_t i = 0;
    while (i + 5 <= upstream.size()) {
      const std::uint8_t type = upstream[i];
      const std::uint32_t len = (std::uint32_t{upstream[i + 1]} << 24) | (std::uint32_t{upstream[i + 2]} << 16) |
                                (std::uint32_t{upstream[i + 3]} << 8) | std::uint32_t{upstream[i + 4]};
      std::span<const std::uint8_t> body(upstream.data() + i + 5, len - 4);
      i += 1 + len;
      on_message(type, body, out);
    }
    return out;
  }

 private:
  void on_message(std::uint8_t type, std::span<const std::uint8_t> body, Bytes& out) {
    if (skipping_) {
      if (type != fe::kSync) return;  // discarded up to Sync
      skipping_ = false;
    }
    switch (type) {
      case fe::kQuery: {
        auto text = protocol::parse_query(body);
        if (!text) std::abort();
        bool failed_here = false;
        for (auto part : split(*text)) {
          if (failed_here) break;
          if (!run(part, out)) failed_here = true;
        }
        ready(out);
        break;
      }
      case fe::kParse: {
        auto p = protocol::parse_parse(body);
        if (!p) std::abort();
        statements_[std::string(p->statement)] = std::string(p->query);
        out = cat({out, empty(be::kParseComplete)});
        break;
      }
      case fe::kBind: {
        auto b = protocol::parse_bind(body);
        if (!b) std::abort();
        auto it = statements_.find(std::string(b->statement));
        if (it == statements_.end()) {
          fail(out, "26000");
          skipping_ = true;
          break;
        }
        portals_[std::string(b->portal)] = it->second;
        out = cat({out, empty(be::kBindComplete)});
        break;
      }
      case fe::kExecute: {
        auto e = protocol::parse_execute(body);
        if (!e) std::abort();
        auto it = portals_.find(std::string(e->portal));
        if (it == portals_.end()) {
          fail(out, "34000");
          skipping_ = true;
          break;
        }
        if (!run(it->second, out)) skipping_ = true;
        break;
      }
      case fe::kDescribe:
        out = cat({out, empty(be::kNoData)});
        break;
      case fe::kClose:
        out = cat({out, empty(be::kCloseComplete)});
        break;
      case fe::kSync:
        ready(out);
        break;
      case fe::kFunctionCall: {
        Bytes r;
        protocol::append_message(r, be::kFunctionCallResponse, Bytes{0xff, 0xff, 0xff, 0xff});
        out = cat({out, r});
        ready(out);
        break;
      }
      default:
        break;
    }
  }

  // Runs one statement; false when it failed.
  bool run(std::string_view sql, Bytes& out) {
    if (sql.empty()) {
      out = cat({out, empty(be::kEmptyQueryResponse)});
      return true;
    }
    if (status_ == 'E' && sql != "COMMIT" && sql != "ROLLBACK" && sql != "ROLLBACK TO SAVEPOINT s") {
      fail(out, "25P02");
      return false;
    }
    const Word* w = find_word(sql);
    if (!w || !w->tag) {  // a denial's DO block, or a statement that fails
      fail(out, w ? "22012" : "42501");
      return false;
    }
    std::string tag = w->tag;
    if (sql == "BEGIN") status_ = 'T';
    if (sql == "COMMIT") {
      if (status_ == 'E') tag = "ROLLBACK";
      status_ = 'I';
    }
    if (sql == "ROLLBACK") status_ = 'I';
    if (sql == "ROLLBACK TO SAVEPOINT s" && status_ == 'E') status_ = 'T';
    if (sql == "DEALLOCATE ALL") statements_.clear();
    out = cat({out, complete(tag)});
    return true;
  }
  void fail(Bytes& out, const char* sqlstate) {
    out = cat({out, error(sqlstate)});
    if (status_ == 'T') status_ = 'E';
  }
  void ready(Bytes& out) {
    out = cat({out, ::ddlgate::engine::testing::ready(status_)});
    if (status_ == 'I') portals_.clear();
  }

  bool skipping_ = false;
  char status_ = 'I';
  std::map<std::string, std::string> statements_;
  std::map<std::string, std::string> portals_;
};

// The transaction status of every ReadyForQuery in a stream.
std::string statuses(const Bytes& stream) {
  std::string out;
  for (std::size_t k = 0; k + 5 <= stream.size();) {
    const std::uint32_t len = (std::uint32_t{stream[k + 1]} << 24) | (std::uint32_t{stream[k + 2]} << 16) |
                              (std::uint32_t{stream[k + 3]} << 8) | std::uint32_t{stream[k + 4]};
    if (stream[k] == be::kReadyForQuery && k + 5 < stream.size()) out.push_back(static_cast<char>(stream[k + 5]));
    k += 1 + len;
  }
  return out;
}

// No statement of an unapproved controlled text goes upstream.
void check_upstream(const Bytes& upstream) {
  protocol::FrameScanner s(1 << 20);
  s.inspect(fe::kQuery);
  s.inspect(fe::kParse);
  std::span<const std::uint8_t> in(upstream);
  while (!in.empty()) {
    auto step = s.next(in);
    in = in.subspan(step.consumed);
    if (step.kind != protocol::ScanStep::Kind::message) continue;
    std::string_view text = step.type == fe::kQuery ? *protocol::parse_query(step.body)
                                                    : protocol::parse_parse(step.body)->query;
    if (text.rfind("DO $ddlgate$", 0) == 0) continue;  // a denial
    for (auto part : split(text)) {
      const Word* w = find_word(part);
      if (!part.empty() && !w) std::abort();  // the fuzzer only sends words
      if (w && w->controlled && !w->approved) std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Options o;
  o.replay_protection = size > 0 && (data[0] & 1);
  Conversation c(o);
  for (const auto& w : kWords) {
    if (w.approved) c.approvals.approve(w.sql);
  }
  ModelServer server;     // answers what the engine forwards
  ModelServer reference;  // answers the client's own stream
  std::size_t i = 1;
  auto next = [&]() -> std::uint8_t { return i < size ? data[i++] : 0; };
  const std::vector<std::string> names = {"", "a", "b"};
  while (i < size) {
    const std::uint8_t op = next();
    Bytes message;
    switch (op % 10) {
      case 0:
      case 1: {
        std::string text = kWords[next() % kWordCount].sql;
        const std::uint8_t more = next() % 3;
        for (std::uint8_t k = 0; k < more; ++k) text += std::string("; ") + kWords[next() % kWordCount].sql;
        message = t::query(text);
        break;
      }
      case 2:
        message = t::parse(names[next() % names.size()], kWords[next() % kWordCount].sql);
        break;
      case 3:
        message = t::bind(names[next() % names.size()], names[next() % names.size()]);
        break;
      case 4:
        message = t::execute(names[next() % names.size()], next() % 2);
        break;
      case 5:
        message = t::sync();
        break;
      case 6:
        message = t::flush();
        break;
      case 7:
        message = t::describe(next() % 2 ? 'S' : 'P', names[next() % names.size()]);
        break;
      case 8:
        message = t::close(next() % 2 ? 'S' : 'P', names[next() % names.size()]);
        break;
      default:
        message = t::function_call(952);
        break;
    }
    const std::size_t refusals_before = c.refusals.size();
    Bytes upstream = c.client(message);
    check_upstream(upstream);
    Bytes expected;
    if (c.refusals.size() == refusals_before) {
      expected = reference.answer(message);
    } else if (message[0] == fe::kQuery) {
      expected = reference.answer(upstream);  // the denial fails as the statement would
    } else {
      expected = reference.fail_extended();
    }
    Bytes down = c.server(server.answer(upstream));
    if (types(down) != types(expected) || statuses(down) != statuses(expected)) std::abort();
    if (!c.out_of_steps.empty()) std::abort();
  }
  c.end();
  return 0;
}
