// protocol/multibyte.h and read_as_server against PostgreSQL 15, for every encoding
// it knows (42: the server encodings and the seven client-only ones):
//  - where a character ends: pg_mblen against libpq's PQmblen (PostgreSQL's own
//    pg_encoding_mblen, compiled into libpq), for every byte;
//  - which byte strings are valid, and how many characters they hold: pg_valid and
//    the characters pg_verify_char finds against the server's length(bytea, encoding)
//    (pg_verify_mbstr_len), for every 1- and 2-byte sequence and samples of 3 and 4
//    bytes where the encoding has such characters;
//  - what a statement means: `SELECT convert_to('<bytes>', 'SQL_ASCII')` (the literal's
//    bytes in the database, unconverted), the same with E'', and
//    `SELECT 1 AS "<bytes>"`, sent through a connection whose client_encoding is the
//    encoding (a SQL_ASCII database, which checks the client's bytes without
//    converting them, and a UTF8 one): the server refuses the text for its encoding
//    exactly when read_as_server says invalid, parses it exactly when libpg_query
//    parses ddlgate's reading of it, and returns ddlgate's reading of the literal.
#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "ddlgate/protocol/encoding.h"
#include "ddlgate/protocol/multibyte.h"
#include "ddlgate/sql/analyze.h"
#include "ddlgate/testing/pg_server.h"

namespace ddlgate::testing {
namespace {

DDLGATE_SHARED_PG_SERVER();

using protocol::PgEncoding;
using protocol::ServerText;

std::vector<PgEncoding> all_encodings() {
  std::vector<PgEncoding> out;
  for (std::size_t i = 0; i < protocol::kPgEncodingCount; ++i) out.push_back(static_cast<PgEncoding>(i));
  return out;
}

std::string name_of(PgEncoding e) { return std::string(protocol::pg_encoding_name(e)); }

std::string hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string unhex(std::string_view text) {  // bytea's "\x..." output
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out;
  for (std::size_t i = 2; i + 1 < text.size(); i += 2) out.push_back(static_cast<char>(nibble(text[i]) << 4 | nibble(text[i + 1])));
  return out;
}

std::string bytes(std::initializer_list<int> b) {
  std::string out;
  for (int c : b) out.push_back(static_cast<char>(c));
  return out;
}

// The characters of text by ddlgate's checks, or -1 when it is invalid.
int model_characters(PgEncoding e, std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t left = text.size();
  int n = 0;
  while (left > 0 && n >= 0) {
    const int l = protocol::pg_verify_char(e, s, left);
    if (l < 0) {
      n = -1;
      break;
    }
    s += l;
    left -= static_cast<std::size_t>(l);
    ++n;
  }
  EXPECT_EQ(protocol::pg_valid(e, text), n >= 0) << name_of(e) << " \\x" << hex(text);
  return n;
}

// The longest character a lead byte may open in e (GB18030's second byte decides).
int longest_from(PgEncoding e, int lead) {
  int longest = 0;
  for (int second = 0; second < 256; ++second) longest = std::max(longest, protocol::pg_mblen(e, bytes({lead, second})));
  return longest;
}

// Bytes that sit at the edges of every encoding's ranges, ASCII quotes and backslash included.
const std::vector<int> kEdges = {0x01, 0x22, 0x27, 0x30, 0x39, 0x40, 0x5C, 0x7E, 0x7F, 0x80, 0x81, 0x8F,
                                 0x90, 0x9F, 0xA0, 0xA1, 0xA7, 0xA8, 0xBF, 0xC0, 0xDF, 0xE0, 0xFE, 0xFF};
const std::vector<int> kFewEdges = {0x27, 0x30, 0x39, 0x5C, 0x80, 0x81, 0xA1, 0xA7, 0xBF, 0xFE};

// The sequences compared for e: every byte alone and followed by a quote, a backslash
// or a double quote; every 2-byte sequence with a lead byte >= 0x80; and, for lead bytes
// that open longer characters, 3- and 4-byte sequences built from the edge bytes
// (GB18030: a few lead bytes, since every one of its 126 opens 4 bytes).
std::vector<std::string> sequences(PgEncoding e) {
  std::vector<std::string> out;
  for (int a = 1; a < 256; ++a) {
    out.push_back(bytes({a}));
    for (int t : {'\'', '\\', '"'}) out.push_back(bytes({a, t}));
  }
  for (int a = 0x80; a < 256; ++a) {
    for (int b = 1; b < 256; ++b) out.push_back(bytes({a, b}));
  }
  for (int a = 0x80; a < 256; ++a) {
    if (e == PgEncoding::gb18030 && a != 0x81 && a != 0x84 && a != 0x90 && a != 0xE3 && a != 0xFE) continue;
    const int longest = longest_from(e, a);
    if (longest >= 3) {
      for (int b : kEdges) {
        for (int c : kEdges) out.push_back(bytes({a, b, c}));
      }
    }
    if (longest >= 4) {
      for (int b : kFewEdges) {
        for (int c : kFewEdges) {
          for (int d : kFewEdges) out.push_back(bytes({a, b, c, d}));
        }
      }
    }
  }
  return out;
}

// length(bytea, encoding) over a batch: pg_verify_mbstr_len's count, NULL where it
// raises an error. A batch expected to be valid goes in one statement; a batch that
// fails, or is expected to, goes sequence by sequence, each in an exception block.
constexpr const char* kLengths = R"(
create or replace function pg_temp.lengths(seqs bytea[], enc name, one_by_one bool)
returns table (n int) language plpgsql as $f$
declare
  k int;
  r int[];
begin
  if not one_by_one then
    begin
      select array_agg(length(x, enc) order by o) into r from unnest(seqs) with ordinality u(x, o);
      return query select r[o] from generate_series(1, coalesce(array_length(seqs, 1), 0)) o;
      return;
    exception when others then
      null;
    end;
  end if;
  r := array_fill(null::int, array[coalesce(array_length(seqs, 1), 0)]);
  for k in 1 .. coalesce(array_length(seqs, 1), 0) loop
    begin
      r[k] := length(seqs[k], enc);
    exception when others then
      null;
    end;
  end loop;
  return query select r[o] from generate_series(1, coalesce(array_length(seqs, 1), 0)) o;
end
$f$)";

std::vector<int> server_lengths(PGconn* c, const std::vector<std::string>& seqs, const std::string& encoding,
                                bool one_by_one) {
  std::string array = "{";
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    if (i > 0) array += ',';
    array += "\"\\\\x" + hex(seqs[i]) + "\"";
  }
  array += "}";
  const char* params[] = {array.c_str(), encoding.c_str(), one_by_one ? "true" : "false"};
  PgResult r(PQexecParams(c, "select n from pg_temp.lengths($1::bytea[], $2, $3)", 3, nullptr, params, nullptr, nullptr, 0));
  std::vector<int> out;
  EXPECT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << PQerrorMessage(c);
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) return out;
  for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(PQgetisnull(r.get(), i, 0) ? -1 : std::stoi(PQgetvalue(r.get(), i, 0)));
  return out;
}

struct Tally {
  std::size_t compared = 0;
  std::size_t valid = 0;
  std::size_t mismatches = 0;
  std::string first_mismatches;
  void mismatch(const std::string& what) {
    if (++mismatches <= 12) first_mismatches += "  " + what + "\n";
  }
};

PgConn connect_ok(const std::string& conninfo) {
  PgConn c = pg_connect(conninfo);
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  return c;
}

// PQmblen is PostgreSQL's pg_encoding_mblen (libpq is built from the same
// src/common/wchar.c), and pg_encoding_to_char its names, by encoding number.
TEST(MultibyteLengths, EveryLeadByteOpensTheCharacterLibpqSays) {
  std::size_t compared = 0;
  for (PgEncoding e : all_encodings()) {
    const int id = static_cast<int>(e);
    EXPECT_EQ(name_of(e), pg_encoding_to_char(id));
    EXPECT_EQ(pg_char_to_encoding(name_of(e).c_str()), id);
    for (int a = 1; a < 256; ++a) {
      for (int b = 0; b < 256; ++b) {
        if (b > 0 && e != PgEncoding::gb18030) break;  // only GB18030 looks at the second byte
        const std::string s = bytes({a, b});           // NUL-terminated for PQmblen when b is 0
        ++compared;
        EXPECT_EQ(protocol::pg_mblen(e, b == 0 ? std::string_view(s.data(), 1) : std::string_view(s)), PQmblen(s.c_str(), id))
            << name_of(e) << " \\x" << hex(s);
      }
    }
  }
  EXPECT_EQ(compared, 42u * 255u + 255u * 255u);
}

TEST(MultibyteDifferential, EverySequenceIsValidExactlyWhenPostgresqlSaysSo) {
  auto c = connect_ok(SharedPgServer::get().conninfo());
  ASSERT_EQ(sqlstate_of(c.get(), kLengths), "OK");
  const auto start = std::chrono::steady_clock::now();
  Tally total;
  for (PgEncoding e : all_encodings()) {
    Tally t;
    const std::vector<std::string> seqs = sequences(e);
    constexpr std::size_t kBatch = 8192;
    for (std::size_t from = 0; from < seqs.size(); from += kBatch) {
      std::vector<std::string> batch[2];
      std::vector<int> expected[2];
      for (std::size_t i = from; i < std::min(seqs.size(), from + kBatch); ++i) {
        const int n = model_characters(e, seqs[i]);
        batch[n < 0].push_back(seqs[i]);
        expected[n < 0].push_back(n);
      }
      for (int invalid : {0, 1}) {
        if (batch[invalid].empty()) continue;
        const std::vector<int> theirs = server_lengths(c.get(), batch[invalid], name_of(e), invalid == 1);
        ASSERT_EQ(theirs.size(), batch[invalid].size());
        for (std::size_t i = 0; i < theirs.size(); ++i) {
          ++t.compared;
          if (theirs[i] >= 0) ++t.valid;
          if (theirs[i] != expected[invalid][i]) {
            t.mismatch(name_of(e) + " \\x" + hex(batch[invalid][i]) + ": ddlgate " + std::to_string(expected[invalid][i]) +
                       " characters, PostgreSQL " + std::to_string(theirs[i]) + " (-1: invalid)");
          }
        }
      }
    }
    std::cout << "[ multibyte ] " << name_of(e) << ": " << t.compared << " sequences, " << t.valid << " valid, "
              << t.mismatches << " mismatches\n";
    EXPECT_EQ(t.mismatches, 0u) << t.first_mismatches;
    total.compared += t.compared;
    total.valid += t.valid;
  }
  std::cout << "[ multibyte ] " << total.compared << " sequences in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count()
            << " ms\n";
  EXPECT_GT(total.valid, 42u * 255u) << "the server found no multibyte character valid";
}

// A statement sent through the connection, and what ddlgate makes of it.
struct Probe {
  std::string sql;
  std::string seq;
  int shape;  // 0: SELECT convert_to('...', 'SQL_ASCII'), 1: the same with E'...', 2: SELECT 1 AS "..."
};

std::string statement(int shape, const std::string& seq) {
  switch (shape) {
    case 0: return "SELECT convert_to('" + seq + "', 'SQL_ASCII')";
    case 1: return "SELECT convert_to(E'" + seq + "', 'SQL_ASCII')";
    default: return "SELECT 1 AS \"" + seq + "\"";
  }
}

// The literal's value as ddlgate reads it, when its reading is the statement's shape
// around a body with no quote (or, in E'', backslash) that would end or escape it.
std::optional<std::string> expected_value(int shape, const std::string& reading) {
  const std::string prefix = shape == 0 ? "SELECT convert_to('" : "SELECT convert_to(E'";
  const std::string suffix = "', 'SQL_ASCII')";
  if (shape == 2 || reading.size() < prefix.size() + suffix.size() || reading.compare(0, prefix.size(), prefix) != 0 ||
      reading.compare(reading.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return std::nullopt;
  }
  std::string body = reading.substr(prefix.size(), reading.size() - prefix.size() - suffix.size());
  if (body.find('\'') != std::string::npos || (shape == 1 && body.find('\\') != std::string::npos)) return std::nullopt;
  return body;
}

// The sequences sent as statements: every byte, every lead byte >= 0x80 before a
// quote, a backslash, a double quote and a few others, and longer ones ending in them.
std::vector<std::string> statement_sequences(PgEncoding e) {
  std::vector<std::string> out;
  const std::vector<int> seconds = {0x22, 0x27, 0x5C, 0x30, 0x41, 0x80, 0xA1, 0xFE};
  for (int a = 1; a < 256; ++a) out.push_back(bytes({a}));
  for (int a = 0x80; a < 256; ++a) {
    for (int b : seconds) out.push_back(bytes({a, b}));
    const int longest = longest_from(e, a);
    if (e == PgEncoding::gb18030 && a != 0x81 && a != 0x84 && a != 0x90 && a != 0xE3) continue;
    for (int b : {0x30, 0x80, 0xA1, 0xA7}) {
      if (longest >= 3) {
        for (int c : seconds) out.push_back(bytes({a, b, c}));
      }
      if (longest >= 4) {
        for (int c : {0x80, 0x81, 0xA1}) {
          for (int d : seconds) out.push_back(bytes({a, b, c, d}));
        }
      }
    }
  }
  return out;
}

// Sends the probes in pipelines (a Sync after each, so that one error skips nothing
// else) and compares each outcome with ddlgate's reading: refused for the encoding
// (22021 invalid, 22P05 untranslatable) exactly when ddlgate says invalid; parsed
// exactly when ddlgate's reading parses; and the literal's value is ddlgate's.
void run_probes(PGconn* c, PgEncoding e, const std::string& server_encoding, Tally& t) {
  std::vector<Probe> probes;
  for (const auto& seq : statement_sequences(e)) {
    for (int shape : {0, 1, 2}) probes.push_back({statement(shape, seq), seq, shape});
  }
  ASSERT_EQ(PQenterPipelineMode(c), 1) << PQerrorMessage(c);
  constexpr std::size_t kInFlight = 256;
  for (std::size_t from = 0; from < probes.size(); from += kInFlight) {
    const std::size_t to = std::min(probes.size(), from + kInFlight);
    for (std::size_t i = from; i < to; ++i) {
      ASSERT_EQ(PQsendQueryParams(c, probes[i].sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0), 1) << PQerrorMessage(c);
      ASSERT_EQ(PQpipelineSync(c), 1);
    }
    ASSERT_EQ(PQflush(c), 0);
    for (std::size_t i = from; i < to; ++i) {
      const Probe& p = probes[i];
      PgResult r(PQgetResult(c));
      ASSERT_TRUE(r != nullptr);
      const ExecStatusType status = PQresultStatus(r.get());
      const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
      const std::string sqlstate = status == PGRES_TUPLES_OK ? "OK" : state != nullptr ? state : "?";
      std::optional<std::string> value;
      if (status == PGRES_TUPLES_OK && p.shape != 2 && PQntuples(r.get()) == 1) value = unhex(PQgetvalue(r.get(), 0, 0));
      PgResult end(PQgetResult(c));
      EXPECT_TRUE(end == nullptr);
      PgResult sync(PQgetResult(c));
      ASSERT_TRUE(sync != nullptr);
      ASSERT_EQ(PQresultStatus(sync.get()), PGRES_PIPELINE_SYNC);

      std::string reading;
      const ServerText kind = protocol::read_as_server(p.sql, name_of(e), server_encoding, reading);
      if (kind == ServerText::as_is) reading = p.sql;
      const bool refused = sqlstate == "22021" || sqlstate == "22P05";
      ++t.compared;
      const std::string where = name_of(e) + " in " + server_encoding + ": " + hex(p.sql) + ": ";
      if (kind == ServerText::unsupported) {
        t.mismatch(where + "ddlgate cannot read it");
        continue;
      }
      if (kind == ServerText::invalid) {
        if (!refused) t.mismatch(where + "ddlgate says invalid, PostgreSQL " + sqlstate);
        continue;
      }
      ++t.valid;
      if (refused) {
        t.mismatch(where + "ddlgate reads it, PostgreSQL refuses it: " + sqlstate);
        continue;
      }
      const bool parses = sql::analyze(reading).ok();
      if (parses != (sqlstate == "OK")) {
        t.mismatch(where + "ddlgate's reading " + hex(reading) + (parses ? " parses" : " does not parse") +
                   ", PostgreSQL " + sqlstate);
        continue;
      }
      if (!value) continue;
      if (auto expected = expected_value(p.shape, reading); expected && *expected != *value) {
        t.mismatch(where + "the literal is " + hex(*expected) + " to ddlgate, " + hex(*value) + " to PostgreSQL");
      }
    }
  }
  ASSERT_EQ(PQexitPipelineMode(c), 1) << PQerrorMessage(c);
}

TEST(MultibyteDifferential, StatementsInEveryClientEncodingReadAsTheServerReadsThem) {
  auto& pg = SharedPgServer::get();
  pg.admin_sql("drop database if exists multibyte_sql_ascii");
  pg.admin_sql("create database multibyte_sql_ascii encoding 'SQL_ASCII' lc_collate 'C' lc_ctype 'C' template template0");
  const auto start = std::chrono::steady_clock::now();
  std::size_t pairs = 0;
  Tally total;
  for (const char* db : {"multibyte_sql_ascii", ""}) {
    for (PgEncoding e : all_encodings()) {
      PgConn c = pg_connect(pg.conninfo("postgres", db) + " client_encoding=" + name_of(e));
      if (PQstatus(c.get()) != CONNECTION_OK) {
        // A UTF8 database has no conversion to or from MULE_INTERNAL, for one.
        std::cout << "[ multibyte ] " << name_of(e) << " in " << (*db ? db : "the UTF8 database") << ": "
                  << PQerrorMessage(c.get());
        continue;
      }
      const std::string server = PQparameterStatus(c.get(), "server_encoding");
      ASSERT_EQ(server, *db ? "SQL_ASCII" : "UTF8");
      ASSERT_EQ(std::string(PQparameterStatus(c.get(), "client_encoding")), name_of(e));
      Tally t;
      run_probes(c.get(), e, server, t);
      ++pairs;
      EXPECT_EQ(t.mismatches, 0u) << t.first_mismatches;
      total.compared += t.compared;
      total.valid += t.valid;
      total.mismatches += t.mismatches;
    }
  }
  std::cout << "[ multibyte ] " << pairs << " client encodings in a SQL_ASCII and a UTF8 database: " << total.compared
            << " statements, " << total.valid << " read by ddlgate, " << total.mismatches << " mismatches, "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count()
            << " ms\n";
  EXPECT_GE(pairs, 42u + 7u);
  EXPECT_GT(total.valid, total.compared / 4);
}

}  // namespace
}  // namespace ddlgate::testing
