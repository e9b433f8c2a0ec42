// ddlgate's model of PostgreSQL's encoding conversions (protocol/encoding.h)
// against PostgreSQL 15 itself: every 1- and 2-byte sequence of the seven
// client-only encodings and every GB18030 four-byte sequence, converted by
// ddlgate and by the server's convert(bytea, src, dst) (the conversion procs a
// connection uses), to UTF8 and to the EUC encoding PostgreSQL pairs them with
// (SJIS->EUC_JP, SHIFT_JIS_2004->EUC_JIS_2004, BIG5->EUC_TW), then real
// connections whose client_encoding is SHIFT_JIS_2004, in a UTF8 and
// in an EUC_JIS_2004 database. Results (bytes or failure) must be identical.
#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "ddlgate/protocol/encoding.h"
#include "ddlgate/testing/pg_server.h"

namespace ddlgate::testing {
namespace {

DDLGATE_SHARED_PG_SERVER();

using protocol::ServerText;
using Result = std::optional<std::string>;  // nullopt: the conversion fails

// Converts a batch on the server: for each sequence its bytes in dst and those
// read on into UTF8, NULL where PostgreSQL raises an error. The whole batch is
// tried in one statement first; only a batch that fails (or one expected to)
// goes sequence by sequence, each in an exception block.
constexpr const char* kConvertBatch = R"(
create or replace function pg_temp.convert_batch(seqs bytea[], src name, dst name, one_by_one bool)
returns table (server bytea, reading bytea) language plpgsql as $f$
declare
  n int := coalesce(array_length(seqs, 1), 0);
  s bytea[];
  r bytea[];
begin
  if not one_by_one then
    begin
      select array_agg(convert(x, src, dst) order by o) into s from unnest(seqs) with ordinality u(x, o);
      if dst = 'UTF8' then
        r := s;
      else
        select array_agg(convert(x, dst, 'UTF8') order by o) into r from unnest(s) with ordinality u(x, o);
      end if;
      return query select s[o], r[o] from generate_series(1, n) o;
      return;
    exception when others then
      null;
    end;
  end if;
  s := array_fill(null::bytea, array[n]);
  r := s;
  for k in 1 .. n loop
    begin
      s[k] := convert(seqs[k], src, dst);
    exception when others then
      continue;
    end;
    if dst = 'UTF8' then
      r[k] := s[k];
    else
      begin
        r[k] := convert(s[k], dst, 'UTF8');
      exception when others then
        null;
      end;
    end if;
  end loop;
  return query select s[o], r[o] from generate_series(1, n) o;
end
$f$)";

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

std::string show(const Result& r) { return r ? "\\x" + hex(*r) : "error"; }

struct ServerResults {
  std::vector<Result> server;
  std::vector<Result> reading;
};

ServerResults server_convert(PGconn* c, const std::vector<std::string>& seqs, const std::string& src,
                             const std::string& dst, bool one_by_one) {
  std::string array = "{";
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    if (i > 0) array += ',';
    array += "\"\\\\x" + hex(seqs[i]) + "\"";
  }
  array += "}";
  const char* params[] = {array.c_str(), src.c_str(), dst.c_str(), one_by_one ? "true" : "false"};
  PgResult r(PQexecParams(c, "select server, reading from pg_temp.convert_batch($1::bytea[], $2, $3, $4)", 4, nullptr,
                          params, nullptr, nullptr, 0));
  ServerResults out;
  EXPECT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << PQerrorMessage(c);
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) return out;
  EXPECT_EQ(static_cast<std::size_t>(PQntuples(r.get())), seqs.size());
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    auto get = [&](int col) -> Result {
      if (PQgetisnull(r.get(), i, col)) return std::nullopt;
      return unhex(PQgetvalue(r.get(), i, col));
    };
    out.server.push_back(get(0));
    out.reading.push_back(get(1));
  }
  return out;
}

// ddlgate's answers for one sequence.
struct Ours {
  ServerText kind;
  Result server;
  Result reading;
};

Ours ours(const std::string& seq, const std::string& src, const std::string& dst) {
  std::string a;
  std::string b;
  const ServerText to_server = protocol::to_server_encoding(seq, src, dst, a);
  const ServerText reading = protocol::read_as_server(seq, src, dst, b);
  auto result = [&seq](ServerText k, const std::string& out) -> Result {
    if (k == ServerText::as_is) return seq;
    if (k == ServerText::converted) return out;
    return std::nullopt;
  };
  EXPECT_EQ(to_server == ServerText::unsupported, reading == ServerText::unsupported) << hex(seq);
  return {to_server, result(to_server, a), result(reading, b)};
}

struct Tally {
  std::size_t compared = 0;
  std::size_t converted = 0;  // sequences the server converts (the rest fail on both sides)
  std::size_t mismatches = 0;
  std::string first_mismatches;
};

// Compares ddlgate with the server for every sequence of `seqs`, in two batches:
// those ddlgate converts (one statement, if it is right) and those it refuses.
void compare(PGconn* c, const std::vector<std::string>& seqs, const std::string& src, const std::string& dst,
             Tally& tally) {
  std::vector<std::string> batch[2];
  std::vector<Ours> expected[2];
  for (const auto& s : seqs) {
    Ours o = ours(s, src, dst);
    const int fails = o.server ? 0 : 1;
    batch[fails].push_back(s);
    expected[fails].push_back(std::move(o));
  }
  for (int fails : {0, 1}) {
    if (batch[fails].empty()) continue;
    ServerResults theirs = server_convert(c, batch[fails], src, dst, fails == 1);
    if (theirs.server.size() != batch[fails].size()) {
      ++tally.mismatches;
      return;
    }
    for (std::size_t i = 0; i < batch[fails].size(); ++i) {
      const Ours& o = expected[fails][i];
      ++tally.compared;
      if (theirs.server[i]) ++tally.converted;
      if (o.server == theirs.server[i] && o.reading == theirs.reading[i]) continue;
      if (++tally.mismatches <= 10) {
        tally.first_mismatches += "  " + src + " \\x" + hex(batch[fails][i]) + " -> " + dst + ": ddlgate " +
                                  show(o.server) + " (reading " + show(o.reading) + "), PostgreSQL " +
                                  show(theirs.server[i]) + " (reading " + show(theirs.reading[i]) + ")\n";
      }
    }
  }
}

// Every 1-byte sequence and every 2-byte one (no NUL, which no protocol string
// carries), grouped by first byte.
std::vector<std::vector<std::string>> one_and_two_byte_sequences() {
  std::vector<std::vector<std::string>> groups;
  std::vector<std::string> singles;
  for (int a = 1; a < 256; ++a) singles.push_back(std::string(1, static_cast<char>(a)));
  groups.push_back(std::move(singles));
  for (int a = 1; a < 256; ++a) {
    std::vector<std::string> g;
    for (int b = 1; b < 256; ++b) g.push_back(std::string{static_cast<char>(a), static_cast<char>(b)});
    groups.push_back(std::move(g));
  }
  return groups;
}

PgConn connect_ok(const std::string& conninfo) {
  PgConn c = pg_connect(conninfo);
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  return c;
}

void report(const std::string& pair, const Tally& t, std::chrono::steady_clock::duration took) {
  std::cout << "[ encodings ] " << pair << ": " << t.compared << " sequences compared, " << t.converted
            << " converted by the server, " << t.mismatches << " mismatches, "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
  ::testing::Test::RecordProperty(pair, std::to_string(t.compared));
}

class EncodingDifferential : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(EncodingDifferential, EveryOneAndTwoByteSequenceConvertsAsPostgresqlConvertsIt) {
  const auto [src, dst] = GetParam();
  auto c = connect_ok(SharedPgServer::get().conninfo());
  ASSERT_EQ(sqlstate_of(c.get(), kConvertBatch), "OK");
  const auto start = std::chrono::steady_clock::now();
  Tally t;
  for (const auto& group : one_and_two_byte_sequences()) compare(c.get(), group, src, dst, t);
  report(std::string(src) + "->" + dst, t, std::chrono::steady_clock::now() - start);
  EXPECT_EQ(t.compared, 255u + 255u * 255u);
  EXPECT_GT(t.converted, 255u) << "the server converted no multibyte character: is the pair right?";
  EXPECT_EQ(t.mismatches, 0u) << t.first_mismatches;
}

INSTANTIATE_TEST_SUITE_P(
    Pairs, EncodingDifferential,
    ::testing::Values(std::pair{"SJIS", "UTF8"}, std::pair{"SHIFT_JIS_2004", "UTF8"}, std::pair{"BIG5", "UTF8"},
                      std::pair{"GBK", "UTF8"}, std::pair{"UHC", "UTF8"}, std::pair{"GB18030", "UTF8"},
                      std::pair{"JOHAB", "UTF8"}, std::pair{"SJIS", "EUC_JP"},
                      std::pair{"SHIFT_JIS_2004", "EUC_JIS_2004"}, std::pair{"BIG5", "EUC_TW"}),
    [](const auto& param_info) { return std::string(param_info.param.first) + "_to_" + param_info.param.second; });

// GB18030's four-byte area: 0x81-0xFE, 0x30-0x39, 0x81-0xFE, 0x30-0x39.
TEST(EncodingGb18030, EveryFourByteSequenceConvertsAsPostgresqlConvertsIt) {
  auto c = connect_ok(SharedPgServer::get().conninfo());
  ASSERT_EQ(sqlstate_of(c.get(), kConvertBatch), "OK");
  const auto start = std::chrono::steady_clock::now();
  Tally t;
  for (int a = 0x81; a <= 0xFE; ++a) {
    std::vector<std::string> group;
    for (int b = 0x30; b <= 0x39; ++b) {
      for (int d = 0x81; d <= 0xFE; ++d) {
        for (int e = 0x30; e <= 0x39; ++e) {
          group.push_back({static_cast<char>(a), static_cast<char>(b), static_cast<char>(d), static_cast<char>(e)});
        }
      }
    }
    compare(c.get(), group, "GB18030", "UTF8", t);
  }
  report("GB18030 (4 bytes)->UTF8", t, std::chrono::steady_clock::now() - start);
  EXPECT_EQ(t.compared, 126u * 10u * 126u * 10u);
  EXPECT_EQ(t.mismatches, 0u) << t.first_mismatches;
}

// MULE_INTERNAL databases are not modelled: in them, every SJIS or BIG5 text with
// a non-ASCII byte is refused, ASCII is not.
TEST(EncodingUnsupportedPairs, RefuseEveryNonAsciiSequence) {
  std::size_t refused = 0;
  for (const auto& group : one_and_two_byte_sequences()) {
    for (const auto& seq : group) {
      for (const char* src : {"SJIS", "BIG5"}) {
        std::string out;
        const ServerText r = protocol::read_as_server(seq, src, "MULE_INTERNAL", out);
        if (protocol::has_non_ascii(seq)) {
          EXPECT_EQ(r, ServerText::unsupported) << hex(seq);
          ++refused;
        } else {
          EXPECT_EQ(r, ServerText::as_is) << hex(seq);
        }
      }
    }
  }
  std::cout << "[ encodings ] SJIS and BIG5->MULE_INTERNAL: " << refused << " non-ASCII sequences refused\n";
}

// Through real connections: the same SHIFT_JIS_2004 bytes read differently in a
// UTF8 and in an EUC_JIS_2004 database, exactly as ddlgate reads them. Every
// valid two-byte character goes through the connection's own conversion.
TEST(EncodingConnection, ThePairDecidesWhatTheServerReads) {
  auto& pg = SharedPgServer::get();
  pg.admin_sql("drop database if exists enc_euc_jis_2004");
  pg.admin_sql("create database enc_euc_jis_2004 encoding 'EUC_JIS_2004' lc_collate 'C' lc_ctype 'C' template template0");
  std::size_t compared = 0;
  for (const char* db : {"postgres", "enc_euc_jis_2004"}) {
    auto c = connect_ok(pg.conninfo("postgres", db) + " client_encoding=SHIFT_JIS_2004");
    const std::string server = PQparameterStatus(c.get(), "server_encoding");
    EXPECT_EQ(server, db == std::string("postgres") ? "UTF8" : "EUC_JIS_2004");
    // 0x81 0x5F: an ASCII backslash in the UTF8 database, U+FF3C in the other.
    std::string as_server;
    ASSERT_EQ(protocol::read_as_server("\x81\x5F", "SHIFT_JIS_2004", server, as_server), ServerText::converted);
    PgResult probe(PQexec(c.get(), "select convert_to(E'\x81\x5F', 'UTF8')"));
    if (server == "UTF8") {
      EXPECT_EQ(as_server, "\\");
      // The server's lexer saw E'\' : an unterminated literal.
      EXPECT_EQ(PQresultStatus(probe.get()), PGRES_FATAL_ERROR);
    } else {
      EXPECT_EQ(as_server, "\xEF\xBC\xBC");
      ASSERT_EQ(PQresultStatus(probe.get()), PGRES_TUPLES_OK) << PQerrorMessage(c.get());
      EXPECT_EQ(unhex(PQgetvalue(probe.get(), 0, 0)), as_server);
    }
    for (int a = 0x81; a <= 0xFC; ++a) {
      std::string sql = "select x from (values ";
      std::vector<std::string> expected;
      for (int b = 0x40; b <= 0xFC; ++b) {
        const std::string seq{static_cast<char>(a), static_cast<char>(b)};
        std::string reading;
        if (protocol::read_as_server(seq, "SHIFT_JIS_2004", server, reading) != ServerText::converted) continue;
        if (reading.find('\\') != std::string::npos) continue;  // dollar quotes keep it, but E'' above covers it
        sql += (expected.empty() ? "" : ",") + std::string("(") + std::to_string(expected.size()) + ", convert_to($q$" +
               seq + "$q$, 'UTF8'))";
        expected.push_back(reading);
      }
      if (expected.empty()) continue;
      sql += ") v(i, x) order by i";
      PgResult r(PQexec(c.get(), sql.c_str()));
      ASSERT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << db << " lead 0x" << hex(std::string(1, char(a))) << ": "
                                                          << PQerrorMessage(c.get());
      ASSERT_EQ(static_cast<std::size_t>(PQntuples(r.get())), expected.size());
      for (std::size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ(hex(unhex(PQgetvalue(r.get(), static_cast<int>(i), 0))), hex(expected[i])) << db;
        ++compared;
      }
    }
  }
  std::cout << "[ encodings ] SHIFT_JIS_2004 connections (UTF8 and EUC_JIS_2004 databases): " << compared
            << " characters compared\n";
  EXPECT_GT(compared, 20000u);
}

// A SQL_ASCII database converts nothing, and refuses any byte >= 0x80 from a
// client-only encoding, which it could not read safely (mbutils.c
// pg_any_to_server): ddlgate calls such text invalid; other encodings pass as they are.
TEST(EncodingConnection, ASqlAsciiDatabaseRefusesNonAsciiFromClientOnlyEncodings) {
  auto& pg = SharedPgServer::get();
  pg.admin_sql("drop database if exists enc_sql_ascii");
  pg.admin_sql("create database enc_sql_ascii encoding 'SQL_ASCII' lc_collate 'C' lc_ctype 'C' template template0");
  const std::string text = "select '\x95\x5C'";
  for (auto e : protocol::kAsciiHidingEncodings) {
    const std::string encoding(e);
    auto c = connect_ok(pg.conninfo("postgres", "enc_sql_ascii") + " client_encoding=" + encoding);
    EXPECT_EQ(sqlstate_of(c.get(), text), "22021") << encoding;
    EXPECT_EQ(sqlstate_of(c.get(), "select 'ascii \\'"), "OK") << encoding;
    std::string out;
    EXPECT_EQ(protocol::read_as_server(text, encoding, "SQL_ASCII", out), ServerText::invalid) << encoding;
  }
  auto c = connect_ok(pg.conninfo("postgres", "enc_sql_ascii") + " client_encoding=LATIN1");
  EXPECT_EQ(sqlstate_of(c.get(), text), "OK");
  std::string out;
  EXPECT_EQ(protocol::read_as_server(text, "LATIN1", "SQL_ASCII", out), ServerText::as_is);
}

}  // namespace
}  // namespace ddlgate::testing
