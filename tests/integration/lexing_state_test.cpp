// Differential test of protocol::LexingState against a real PostgreSQL 15.
//
// Seeded random sequences of SET / SET LOCAL / set_config() (direct, in a function body,
// in a function's SET clause, by FunctionCall, in a column default during COPY FROM STDIN) /
// RESET / transaction control / errors / configuration reloads, in both protocols (Query; Parse/Bind/Execute with Flush, with Sync, or with
// neither), go over a raw socket straight to the server; the same client messages and
// every server message go to the model. After each step a probe (Parse/Bind/Execute of
// SELECT current_setting(...), which changes nothing) is put into the pipeline right
// there, and the values it reports must lie in the sets the model gave just before
// the probe was sent, that is, when ddlgate would read the probe's text.
//
// DDLGATE_LEXING_SEQUENCES=N runs N sequences (default 1200, about 10 s), and
// DDLGATE_LEXING_SEED=S starts at seed S (sequence i uses S + i; a failure prints its
// seed and the whole sequence). For a long run:
//   DDLGATE_LEXING_SEQUENCES=100000 DDLGATE_LEXING_SEED=$RANDOM build/tests/integration/lexing_state_test
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "ddlgate/protocol/codes.h"
#include "ddlgate/protocol/lexing_state.h"
#include "ddlgate/testing/pg_server.h"
#include "ddlgate/testing/raw_wire.h"

namespace ddlgate::testing {
namespace {

DDLGATE_SHARED_PG_SERVER();

using protocol::LexingState;

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

void put_str(std::string& out, std::string_view s) {
  out.append(s);
  out.push_back('\0');
}
void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}
void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

// The values one probe reported, and the model's sets when its text went out.
struct Probe {
  protocol::BoolSet standard;
  bool encoding_wide = true;
  std::string encoding;
  protocol::BackslashQuoteSet backslash_quote;
  std::string model;  // the sets, for the failure message
  bool observed = false;
  std::string actual_standard, actual_encoding, actual_backslash_quote;
};

// Server messages seen, by type, over all sequences (what the sequences exercised).
std::map<std::uint8_t, std::size_t> answered_by_type;

// One raw session to the server, with a model of how it answers, enough to read
// exactly the answers to what has been flushed: the server answers messages in
// order, and after an error in an extended-protocol message it skips everything up
// to the next Sync (https://www.postgresql.org/docs/15/protocol-flow.html).
class RawSession {
 public:
  RawSession(int fd, LexingState& model, std::vector<std::string>& log) : fd_(fd), model_(model), log_(log) {}
  ~RawSession() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawSession(const RawSession&) = delete;
  RawSession& operator=(const RawSession&) = delete;

  // Sends one client message (buffered until push() or a read) and tells the model.
  void send(char type, const std::string& body, int probe = -1) {
    auto m = frontend_message(type, body);
    out_.insert(out_.end(), m.begin(), m.end());
    model_.on_client(static_cast<std::uint8_t>(type));
    sent_.push_back({type, probe});
  }
  void query(const std::string& sql) {
    std::string b;
    put_str(b, sql);
    log_.push_back("Q " + sql);
    send('Q', b);
  }
  void parse_bind_execute(const std::string& sql, int probe = -1) {
    std::string p;
    put_str(p, "");
    put_str(p, sql);
    put_u16(p, 0);
    std::string b;
    put_str(b, "");
    put_str(b, "");
    put_u16(b, 0);
    put_u16(b, 0);
    put_u16(b, 0);
    std::string e;
    put_str(e, "");
    put_u32(e, 0);
    log_.push_back("P/B/E " + sql);
    send('P', p, probe);
    send('B', b, probe);
    send('E', e, probe);
  }
  // COPY ... FROM STDIN with its data sent right behind it (the server reads both in
  // COPY mode): as a Query, or as Parse/Bind/Execute.
  void copy_in(bool extended) {
    const std::string sql = "COPY lexing_copy (a) FROM STDIN";
    if (extended) {
      parse_bind_execute(sql);
    } else {
      query(sql);
    }
    log_.push_back("CopyData, CopyDone");
    send('d', "x\n");
    send('c', "");
  }
  // A FunctionCall of set_config(name, value, is_local) by its OID (2078).
  void function_call(const std::string& name, const std::string& value, bool local) {
    std::string f;
    put_u32(f, 2078);
    put_u16(f, 0);  // every argument in text
    put_u16(f, 3);
    for (const std::string& arg : {name, value, std::string(local ? "true" : "false")}) {
      put_u32(f, static_cast<std::uint32_t>(arg.size()));
      f.append(arg);
    }
    put_u16(f, 0);
    log_.push_back("FunctionCall set_config('" + name + "', '" + value + "', " + (local ? "true" : "false") + ")");
    send('F', f);
  }
  void flush() {
    log_.push_back("Flush");
    send('H', "");
  }
  void sync() {
    log_.push_back("Sync");
    send('S', "");
  }
  // How many sent messages end a flush (Flush, Sync, Query): answers up to each of
  // them have been sent by the server.
  std::size_t flush_points() const {
    std::size_t n = 0;
    for (const auto& s : sent_) n += s.type == 'H' || s.type == 'S' || s.type == 'Q' || s.type == 'F';
    return n;
  }
  // Reads the answers to everything up to the `points`-th flush point; false on a
  // timeout or a message out of place (the failure says which).
  bool drain(std::size_t points) {
    while (points > 0 && !sent_.empty()) {
      const char t = sent_.front().type;
      if (!answer_front()) return false;
      if (t == 'H' || t == 'S' || t == 'Q' || t == 'F') --points;
    }
    return true;
  }
  // Reads the startup's answers up to its ReadyForQuery.
  bool startup() {
    for (;;) {
      Message m;
      if (!read(m)) return false;
      if (m.type == 'E') {
        ADD_FAILURE() << "startup refused: " << m.body;
        return false;
      }
      if (m.type == 'Z') return true;
    }
  }
  std::map<int, Probe>& probes() { return probes_; }
  // Writes what send() buffered.
  void push() {
    if (out_.empty()) return;
    send_all(fd_, out_);
    out_.clear();
  }

 private:
  struct Sent {
    char type;
    int probe;
  };
  struct Message {
    char type = 0;
    std::string body;
  };

  bool read(Message& m) {
    for (;;) {
      if (buf_.size() >= 5) {
        std::uint32_t len = (std::uint32_t(std::uint8_t(buf_[1])) << 24) | (std::uint32_t(std::uint8_t(buf_[2])) << 16) |
                            (std::uint32_t(std::uint8_t(buf_[3])) << 8) | std::uint8_t(buf_[4]);
        if (buf_.size() >= 1 + len) {
          m.type = buf_[0];
          m.body = buf_.substr(5, len - 4);
          buf_.erase(0, 1 + len);
          ++answered_by_type[static_cast<std::uint8_t>(m.type)];
          model_.on_server(static_cast<std::uint8_t>(m.type),
                           std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(m.body.data()),
                                                         m.body.size()));
          return true;
        }
      }
      push();
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10000) <= 0) {
        ADD_FAILURE() << "no answer from the server within 10 s";
        return false;
      }
      char chunk[65536];
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) {
        ADD_FAILURE() << "the server closed the connection";
        return false;
      }
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  // Reads the next message that answers something (ParameterStatus, notices and
  // notifications come at any time).
  bool read_answer(Message& m) {
    do {
      if (!read(m)) return false;
    } while (m.type == 'S' || m.type == 'N' || m.type == 'A');
    return true;
  }
  void record_row(const std::string& body) {
    // DataRow: column count, then each column's length and bytes.
    std::vector<std::string> cols;
    std::size_t at = 2;
    while (at + 4 <= body.size()) {
      std::uint32_t len = (std::uint32_t(std::uint8_t(body[at])) << 24) | (std::uint32_t(std::uint8_t(body[at + 1])) << 16) |
                          (std::uint32_t(std::uint8_t(body[at + 2])) << 8) | std::uint8_t(body[at + 3]);
      at += 4;
      if (len == 0xffffffff) {
        cols.emplace_back();
        continue;
      }
      cols.push_back(body.substr(at, len));
      at += len;
    }
    if (cols.size() != 4 || cols[3].rfind("probe:", 0) != 0) return;
    Probe& p = probes_[std::stoi(cols[3].substr(6))];
    p.observed = true;
    p.actual_standard = cols[0];
    p.actual_encoding = cols[1];
    p.actual_backslash_quote = cols[2];
  }
  bool answer_front() {
    const Sent s = sent_.front();
    sent_.pop_front();
    Message m;
    switch (s.type) {
      case 'H':
      case 'd':
      case 'c':
        return true;  // no answer of their own (copy data goes with its COPY's)
      case 'S':
        skipping_ = false;
        if (!read_answer(m)) return false;
        if (m.type != 'Z') {
          ADD_FAILURE() << "a Sync answered with '" << m.type << "'";
          return false;
        }
        return true;
      case 'Q':
      case 'F':
        if (skipping_) return true;
        do {
          if (!read_answer(m)) return false;
          if (m.type == 'D') record_row(m.body);
        } while (m.type != 'Z');
        return true;
      case 'P':
      case 'B':
        if (skipping_) return true;
        if (!read_answer(m)) return false;
        if (m.type == 'E') {
          skipping_ = true;
        } else if (m.type != (s.type == 'P' ? '1' : '2')) {
          ADD_FAILURE() << "a " << s.type << " answered with '" << m.type << "'";
          return false;
        }
        return true;
      case 'E':
        if (skipping_) return true;
        for (;;) {
          if (!read_answer(m)) return false;
          if (m.type == 'D') {
            record_row(m.body);
            continue;
          }
          if (m.type == 'G') continue;  // CopyInResponse: the data follows the Execute
          if (m.type == 'E') skipping_ = true;
          if (m.type == 'E' || m.type == 'C' || m.type == 'I' || m.type == 's') return true;
          ADD_FAILURE() << "an Execute answered with '" << m.type << "'";
          return false;
        }
      default:
        ADD_FAILURE() << "nothing known answers '" << s.type << "'";
        return false;
    }
  }

  int fd_;
  LexingState& model_;
  std::vector<std::string>& log_;
  std::string buf_;
  std::vector<std::uint8_t> out_;
  std::deque<Sent> sent_;  // not yet answered, oldest first
  bool skipping_ = false;  // the server skips to the next Sync
  std::map<int, Probe> probes_;
};

const char* const kEncodings[] = {"UTF8", "LATIN1", "SJIS", "BIG5", "GBK", "EUC_JP"};
const char* const kBackslashQuote[] = {"on", "off", "safe_encoding"};

template <typename T, std::size_t N>
const T& pick(std::mt19937_64& rng, const T (&items)[N]) {
  return items[std::uniform_int_distribution<std::size_t>(0, N - 1)(rng)];
}

// A random setting and a value for it.
std::pair<std::string, std::string> random_setting(std::mt19937_64& rng) {
  switch (rng() % 3) {
    case 0:
      return {"standard_conforming_strings", rng() % 2 ? "on" : "off"};
    case 1:
      return {"client_encoding", pick(rng, kEncodings)};
    default:
      return {"backslash_quote", pick(rng, kBackslashQuote)};
  }
}

// One random statement that may change a setting, end or open a block, or fail.
std::string random_statement(std::mt19937_64& rng) {
  auto [name, value] = random_setting(rng);
  const std::string local = rng() % 2 ? "true" : "false";
  switch (rng() % 17) {
    case 0:
    case 1:
      return "SET " + name + " = '" + value + "'";
    case 2:
    case 3:
      return "SET LOCAL " + name + " = '" + value + "'";
    case 4:
      return "SELECT set_config('" + name + "', '" + value + "', " + local + ")";
    case 5:
      return "SELECT lexing_set('" + name + "', '" + value + "', " + local + ")";  // in a function body
    case 6:
      return "SELECT lexing_scoped()";  // a function's SET clause, undone at its end
    case 7:
      return "SELECT lexing_set_then_fail('" + name + "', '" + value + "')";
    case 8:
      return rng() % 3 == 0 ? "RESET ALL" : "RESET " + name;
    case 9:
      return "BEGIN";
    case 10:
      return "COMMIT";
    case 11:
      return "ROLLBACK";
    case 12:
      return "SAVEPOINT s";
    case 13:
      return "ROLLBACK TO SAVEPOINT s";
    case 14:
      return "RELEASE SAVEPOINT s";
    case 15:
      return "SELECT 1/0";
    default:
      return "SELECT 1";
  }
}

std::string describe(const protocol::BoolSet& b) {
  return b.wide() ? "{on,off}" : b.on ? "{on}" : "{off}";
}

class LexingDifferential : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& pg = SharedPgServer::get();
    pg.admin_sql(
        "CREATE OR REPLACE FUNCTION lexing_set(name text, value text, local bool) RETURNS text LANGUAGE sql "
        "AS $$ SELECT set_config(name, value, local) $$;"
        "CREATE OR REPLACE FUNCTION lexing_scoped() RETURNS text LANGUAGE sql "
        "SET standard_conforming_strings = off SET client_encoding = 'SJIS' SET backslash_quote = on "
        "AS $$ SELECT current_setting('standard_conforming_strings') $$;"
        "DROP TABLE IF EXISTS lexing_copy;"
        "CREATE TABLE lexing_copy (a text, b text DEFAULT set_config('standard_conforming_strings', 'off', false));"
        "CREATE OR REPLACE FUNCTION lexing_set_then_fail(name text, value text) RETURNS text LANGUAGE plpgsql "
        "AS $$ BEGIN PERFORM set_config(name, value, false); RAISE EXCEPTION 'after set_config'; END $$;");
    admin_ = pg_connect(pg.conninfo());
    ASSERT_EQ(PQstatus(admin_.get()), CONNECTION_OK) << PQerrorMessage(admin_.get());
  }
  void TearDown() override {
    if (admin_) sqlstate_of(admin_.get(), "ALTER SYSTEM RESET ALL");
    if (admin_) sqlstate_of(admin_.get(), "SELECT pg_reload_conf()");
  }
  // A configuration reload that changes a setting in postgresql.auto.conf.
  void reload(std::mt19937_64& rng, std::vector<std::string>& log) {
    auto [name, value] = random_setting(rng);
    std::string sql = rng() % 4 == 0 ? "ALTER SYSTEM RESET " + name : "ALTER SYSTEM SET " + name + " = '" + value + "'";
    ASSERT_EQ(sqlstate_of(admin_.get(), sql), "OK") << sql;
    ASSERT_EQ(sqlstate_of(admin_.get(), "SELECT pg_reload_conf()"), "OK");
    log.push_back("reload: " + sql);
    // The signal reaches the backend a moment later; it applies it when it next reads a message.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  // Runs one sequence; false when it failed (the failures say why).
  bool run_sequence(std::uint64_t seed, std::size_t& probes_seen, std::size_t& probes_observed);

  PgConn admin_;
};

bool LexingDifferential::run_sequence(std::uint64_t seed, std::size_t& probes_seen, std::size_t& probes_observed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> log;
  auto& pg = SharedPgServer::get();
  // The startup packet as ddlgate sends it upstream: standard_conforming_strings and
  // backslash_quote always (the client's values or PostgreSQL's defaults),
  // client_encoding only when the client names it.
  std::vector<std::pair<std::string, std::string>> params = {{"user", "postgres"}, {"database", pg.database()}};
  params.emplace_back("standard_conforming_strings", rng() % 4 == 0 ? "off" : "on");
  const std::string bq = rng() % 4 == 0 ? pick(rng, kBackslashQuote) : "safe_encoding";
  params.emplace_back("backslash_quote", bq);
  const bool encoding_pinned = rng() % 2 == 0;
  if (encoding_pinned) params.emplace_back("client_encoding", pick(rng, kEncodings));
  std::ostringstream start;
  for (const auto& [k, v] : params) start << k << "=" << v << " ";
  log.push_back("startup: " + start.str());

  LexingState model({.standard_strings_pinned = true,
                     .client_encoding_pinned = encoding_pinned,
                     .backslash_quote = protocol::parse_backslash_quote(bq)});
  int fd = tcp_connect(pg.port());
  if (fd < 0) {
    ADD_FAILURE() << "cannot connect";
    return false;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  RawSession session(fd, model, log);
  send_all(fd, startup_packet(0, params));
  if (!session.startup()) return false;

  const int steps = 1 + static_cast<int>(rng() % 12);
  int probe_id = 0;
  for (int step = 0; step < steps; ++step) {
    // A configuration reload, often while the session is idle with everything
    // answered, and then the probe alone: what a reload can change unseen.
    bool reloaded = false;
    if (rng() % 25 == 0) {
      if (rng() % 2 == 0) {
        session.sync();
        if (!session.drain(session.flush_points())) break;
        log.push_back("drained everything");
      }
      session.push();
      reload(rng, log);
      if (::testing::Test::HasFatalFailure()) return false;
      reloaded = true;
    }
    // The step: nothing (the probe alone), a Query, or Parse/Bind/Execute ended
    // by Flush, Sync or nothing.
    const unsigned how = (step == 0 || reloaded) && rng() % 2 == 0 ? 0 : 1 + rng() % 4;
    const std::string sql = random_statement(rng);
    const unsigned other = rng() % 20;
    if (how != 0 && other == 0) {
      // A COPY whose rows' default changes a setting.
      session.copy_in(rng() % 2 == 0);
    } else if (how != 0 && other == 1) {
      auto [name, value] = random_setting(rng);
      session.function_call(name, value, rng() % 2 == 0);
    } else if (how == 1) {
      session.query(sql);
    } else if (how >= 2) {
      session.parse_bind_execute(sql);
      if (how == 3) session.flush();
      if (how == 4) session.sync();
    }
    // Sometimes read the answers so far (up to a random flush point): the model may
    // then narrow, and must not narrow wrongly.
    if (rng() % 3 != 0) {
      const std::size_t points = session.flush_points();
      const std::size_t upto = points == 0 ? 0 : 1 + rng() % points;
      if (upto > 0) log.push_back("read the answers up to flush point " + std::to_string(upto) + " of " +
                                  std::to_string(points));
      if (upto > 0 && !session.drain(upto)) break;
    }
    // The probe, right here: the model's sets now are those ddlgate would read its text with.
    Probe p;
    p.standard = model.possible_standard_strings();
    auto enc = model.possible_encodings();
    p.encoding_wide = enc.wide;
    p.encoding = std::string(enc.reported);
    p.backslash_quote = model.possible_backslash_quote();
    p.model = "standard_conforming_strings " + describe(p.standard) + ", client_encoding " +
              (p.encoding_wide ? "any (reported " + p.encoding + ")" : "{" + p.encoding + "}") +
              ", backslash_quote mask " + std::to_string(p.backslash_quote.mask);
    const int id = probe_id++;
    session.probes()[id] = p;
    log.push_back("probe " + std::to_string(id) + " sent; model: " + p.model);
    session.parse_bind_execute("SELECT current_setting('standard_conforming_strings'), current_setting('client_encoding'), "
                               "current_setting('backslash_quote'), 'probe:" +
                                   std::to_string(id) + "'",
                               id);
    if (rng() % 4 == 0) session.flush();
  }
  session.sync();
  const bool drained = session.drain(session.flush_points());
  session.send('X', "");
  session.push();

  bool ok = drained;
  std::ostringstream failures;
  for (const auto& [id, p] : session.probes()) {
    ++probes_seen;
    if (!p.observed) continue;  // failed or skipped (an aborted block, an earlier error)
    ++probes_observed;
    const std::uint8_t bq_actual = protocol::parse_backslash_quote(p.actual_backslash_quote);
    const bool in = p.standard.contains(p.actual_standard == "on") &&
                    (p.encoding_wide || p.encoding == p.actual_encoding) &&
                    (bq_actual & p.backslash_quote.mask) != 0;
    if (!in) {
      ok = false;
      failures << "probe " << id << ": the server had standard_conforming_strings=" << p.actual_standard
               << " client_encoding=" << p.actual_encoding << " backslash_quote=" << p.actual_backslash_quote
               << "; the model said " << p.model << "\n";
    }
  }
  if (!ok) {
    std::ostringstream seq;
    for (const auto& line : log) seq << "  " << line << "\n";
    ADD_FAILURE() << "seed " << seed << " (DDLGATE_LEXING_SEED=" << seed
                  << " DDLGATE_LEXING_SEQUENCES=1 reproduces it):\n"
                  << failures.str() << "sequence:\n"
                  << seq.str();
  }
  return ok;
}

TEST_F(LexingDifferential, ModelHoldsTheServersActualSettingsInEveryRandomSequence) {
  const std::uint64_t count = env_number("DDLGATE_LEXING_SEQUENCES", 1200);
  const std::uint64_t seed0 = env_number("DDLGATE_LEXING_SEED", 20261206);
  std::size_t seen = 0, observed = 0, failed = 0;
  std::uint64_t ran = 0;
  for (; ran < count && failed < 3; ++ran) {
    if (!run_sequence(seed0 + ran, seen, observed)) ++failed;
    if (HasFatalFailure()) return;
  }
  std::printf("%llu sequences from seed %llu: %zu probes, %zu observed; %zu ReadyForQuery, %zu ErrorResponse, "
              "%zu COPY FROM STDIN, %zu FunctionCall answers\n",
              static_cast<unsigned long long>(ran), static_cast<unsigned long long>(seed0), seen, observed,
              answered_by_type['Z'], answered_by_type['E'], answered_by_type['G'], answered_by_type['V']);
  // The test must observe the server most of the time, or it asserts little.
  EXPECT_GT(observed * 2, seen);
}

}  // namespace
}  // namespace ddlgate::testing
