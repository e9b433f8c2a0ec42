#include "ddlgate/protocol/messages.h"

#include <gtest/gtest.h>

#include "test_bytes.h"

using namespace ddlgate::protocol;
using namespace ddlgate::protocol::test;

namespace {

Bytes span_of(const ByteVec& v) { return Bytes(v.data(), v.size()); }

// Every strict prefix of a valid body must be refused.
template <typename F>
void expect_every_truncation_rejected(const ByteVec& body, F parse) {
  for (std::size_t n = 0; n < body.size(); ++n) {
    EXPECT_FALSE(parse(Bytes(body.data(), n))) << "prefix of " << n << " bytes";
  }
}

// The fields of a built ErrorResponse, copied out of it (the views of
// parse_error_fields point into the message, which is a temporary here).
std::vector<std::pair<char, std::string>> fields_of(const ByteVec& message) {
  std::vector<std::pair<char, std::string>> out;
  if (message.size() < 5) return out;
  auto f = parse_error_fields(Bytes(message).subspan(5));
  if (!f) return {{'!', "unparsable"}};
  for (const auto& [c, v] : f->fields) out.emplace_back(c, std::string(v));
  return out;
}

std::string field(const ByteVec& message, char code) {
  for (const auto& [c, v] : fields_of(message)) {
    if (c == code) return v;
  }
  return "<absent>";
}

ByteVec with_trailing(ByteVec b) {
  b.push_back('!');
  return b;
}

}  // namespace

TEST(ParseQuery, ValidAndMalformed) {
  ByteVec body;
  put_str(body, "SELECT 1; SELECT 2");
  auto q = parse_query(span_of(body));
  ASSERT_TRUE(q);
  EXPECT_EQ(*q, "SELECT 1; SELECT 2");
  ByteVec empty{0};
  ASSERT_TRUE(parse_query(span_of(empty)));
  EXPECT_EQ(*parse_query(span_of(empty)), "");
  expect_every_truncation_rejected(body, parse_query);
  EXPECT_FALSE(parse_query(span_of(with_trailing(body))));
  // A NUL inside the SQL: the rest would be hidden from the policy; refuse.
  ByteVec hidden = bytes_of(std::string_view("SELECT 1\0DROP TABLE t\0", 22));
  EXPECT_FALSE(parse_query(span_of(hidden)));
  EXPECT_FALSE(parse_query(Bytes{}));
}

TEST(ParseParse, ValidWithAndWithoutParamTypes) {
  ByteVec body;
  put_str(body, "s1");
  put_str(body, "INSERT INTO t VALUES ($1, $2)");
  put_u16(body, 2);
  put_u32(body, 23);
  put_u32(body, 0xffffffff);
  auto p = parse_parse(span_of(body));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->statement, "s1");
  EXPECT_EQ(p->query, "INSERT INTO t VALUES ($1, $2)");
  EXPECT_EQ(p->param_types, (std::vector<std::uint32_t>{23, 0xffffffff}));
  expect_every_truncation_rejected(body, parse_parse);
  EXPECT_FALSE(parse_parse(span_of(with_trailing(body))));

  ByteVec none;
  put_str(none, "");
  put_str(none, "SELECT 1");
  put_u16(none, 0);
  auto n = parse_parse(span_of(none));
  ASSERT_TRUE(n);
  EXPECT_EQ(n->statement, "");
  EXPECT_TRUE(n->param_types.empty());
}

TEST(ParseParse, RejectsParamCountLargerThanTheRest) {
  ByteVec body;
  put_str(body, "");
  put_str(body, "SELECT $1");
  put_u16(body, 0xffff);
  put_u32(body, 23);
  EXPECT_FALSE(parse_parse(span_of(body)));
  ByteVec missing_nul;
  put_str(missing_nul, "s");
  missing_nul.insert(missing_nul.end(), {'S', 'E', 'L'});
  EXPECT_FALSE(parse_parse(span_of(missing_nul)));
}

TEST(ParseBind, PortalAndStatement) {
  ByteVec body;
  put_str(body, "portal");
  put_str(body, "stmt");
  put_u16(body, 0);
  put_u16(body, 0);
  put_u16(body, 0);
  auto b = parse_bind(span_of(body));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->portal, "portal");
  EXPECT_EQ(b->statement, "stmt");
  ByteVec names;
  put_str(names, "p");
  put_str(names, "s");
  expect_every_truncation_rejected(names, parse_bind);
}

TEST(ParseDescribeAndClose, StatementOrPortal) {
  for (auto parse : {parse_describe, parse_close}) {
    ByteVec s{'S'};
    put_str(s, "stmt");
    auto r = parse(span_of(s));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->kind, 'S');
    EXPECT_EQ(r->name, "stmt");
    ByteVec p{'P'};
    put_str(p, "");
    ASSERT_TRUE(parse(span_of(p)));
    EXPECT_EQ(parse(span_of(p))->kind, 'P');
    ByteVec bad{'X'};
    put_str(bad, "x");
    EXPECT_FALSE(parse(span_of(bad)));
    expect_every_truncation_rejected(s, parse);
    EXPECT_FALSE(parse(span_of(with_trailing(s))));
  }
}

TEST(ParseExecute, PortalAndRows) {
  ByteVec body;
  put_str(body, "c1");
  put_u32(body, 100);
  auto e = parse_execute(span_of(body));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->portal, "c1");
  EXPECT_EQ(e->max_rows, 100u);
  expect_every_truncation_rejected(body, parse_execute);
  EXPECT_FALSE(parse_execute(span_of(with_trailing(body))));
}

TEST(ParseFunctionCall, Oid) {
  ByteVec body;
  put_u32(body, 1598);
  put_u16(body, 0);
  ASSERT_TRUE(parse_function_call(span_of(body)));
  EXPECT_EQ(*parse_function_call(span_of(body)), 1598u);
  EXPECT_FALSE(parse_function_call(Bytes(body.data(), 3)));
  EXPECT_FALSE(parse_function_call(Bytes{}));
}

TEST(ParseCopyFail, Reason) {
  ByteVec body;
  put_str(body, "client gave up");
  ASSERT_TRUE(parse_copy_fail(span_of(body)));
  EXPECT_EQ(*parse_copy_fail(span_of(body)), "client gave up");
  expect_every_truncation_rejected(body, parse_copy_fail);
  EXPECT_FALSE(parse_copy_fail(span_of(with_trailing(body))));
}

TEST(ParseSaslInitialResponse, WithDataAndWithMinusOne) {
  ByteVec body;
  put_str(body, "SCRAM-SHA-256");
  std::string first = "n,,n=,r=abcdef";
  put_u32(body, static_cast<std::uint32_t>(first.size()));
  put_bytes(body, bytes_of(first));
  auto r = parse_sasl_initial_response(span_of(body));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->mechanism, "SCRAM-SHA-256");
  ASSERT_TRUE(r->data);
  EXPECT_EQ(std::string(r->data->begin(), r->data->end()), first);
  expect_every_truncation_rejected(body, parse_sasl_initial_response);
  EXPECT_FALSE(parse_sasl_initial_response(span_of(with_trailing(body))));

  ByteVec none;
  put_str(none, "SCRAM-SHA-256-PLUS");
  put_u32(none, 0xffffffff);
  auto n = parse_sasl_initial_response(span_of(none));
  ASSERT_TRUE(n);
  EXPECT_FALSE(n->data);
  EXPECT_FALSE(parse_sasl_initial_response(span_of(with_trailing(none))));

  ByteVec zero;
  put_str(zero, "X");
  put_u32(zero, 0);
  auto z = parse_sasl_initial_response(span_of(zero));
  ASSERT_TRUE(z);
  ASSERT_TRUE(z->data);
  EXPECT_TRUE(z->data->empty());
}

TEST(ParseSaslInitialResponse, RejectsWrongLength) {
  for (std::uint32_t len : {5u, 3u, 0xfffffffeu, 0x80000000u, 0x7fffffffu}) {
    ByteVec body;
    put_str(body, "SCRAM-SHA-256");
    put_u32(body, len);
    put_bytes(body, bytes_of("abcd"));
    EXPECT_FALSE(parse_sasl_initial_response(span_of(body))) << len;
  }
}

TEST(ParseAuthentication, CodeAndPayload) {
  ByteVec ok;
  put_u32(ok, 0);
  auto a = parse_authentication(span_of(ok));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->code, AuthCode::ok);
  EXPECT_TRUE(a->payload.empty());

  ByteVec md5;
  put_u32(md5, 5);
  put_bytes(md5, ByteVec{1, 2, 3, 4});
  a = parse_authentication(span_of(md5));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->code, AuthCode::md5_password);
  EXPECT_EQ(ByteVec(a->payload.begin(), a->payload.end()), (ByteVec{1, 2, 3, 4}));
  expect_every_truncation_rejected(ok, parse_authentication);
}

TEST(ParseSaslMechanisms, List) {
  ByteVec body;
  put_u32(body, 10);
  put_str(body, "SCRAM-SHA-256-PLUS");
  put_str(body, "SCRAM-SHA-256");
  body.push_back(0);
  auto a = parse_authentication(span_of(body));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->code, AuthCode::sasl);
  auto m = parse_sasl_mechanisms(a->payload);
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, (std::vector<std::string_view>{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}));
  ByteVec payload(body.begin() + 4, body.end());
  expect_every_truncation_rejected(payload, parse_sasl_mechanisms);
  EXPECT_FALSE(parse_sasl_mechanisms(span_of(with_trailing(payload))));
  ByteVec empty_list{0};
  ASSERT_TRUE(parse_sasl_mechanisms(span_of(empty_list)));
  EXPECT_TRUE(parse_sasl_mechanisms(span_of(empty_list))->empty());
}

TEST(ParseBackendKeyData, SecretsOfFourTo256Bytes) {
  for (std::size_t len : {0u, 3u, 4u, 32u, 256u, 257u}) {
    ByteVec body;
    put_u32(body, 4242);
    for (std::size_t i = 0; i < len; ++i) body.push_back(static_cast<std::uint8_t>(i));
    auto k = parse_backend_key_data(span_of(body));
    if (len < 4 || len > 256) {
      EXPECT_FALSE(k) << len;
      continue;
    }
    ASSERT_TRUE(k) << len;
    EXPECT_EQ(k->process_id, 4242u);
    EXPECT_EQ(k->secret.size(), len);
    EXPECT_EQ(k->secret.data(), body.data() + 4);
  }
  EXPECT_FALSE(parse_backend_key_data(Bytes{}));
}

TEST(ParseParameterStatus, NameAndValue) {
  ByteVec body;
  put_str(body, "server_version");
  put_str(body, "15.8");
  auto p = parse_parameter_status(span_of(body));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->first, "server_version");
  EXPECT_EQ(p->second, "15.8");
  expect_every_truncation_rejected(body, parse_parameter_status);
  EXPECT_FALSE(parse_parameter_status(span_of(with_trailing(body))));
}

TEST(ParseReadyForQuery, Status) {
  for (char c : {'I', 'T', 'E'}) {
    ByteVec b{static_cast<std::uint8_t>(c)};
    ASSERT_TRUE(parse_ready_for_query(span_of(b)));
    EXPECT_EQ(*parse_ready_for_query(span_of(b)), c);
  }
  ByteVec bad{'X'};
  EXPECT_FALSE(parse_ready_for_query(span_of(bad)));
  ByteVec two{'I', 'I'};
  EXPECT_FALSE(parse_ready_for_query(span_of(two)));
  EXPECT_FALSE(parse_ready_for_query(Bytes{}));
}

TEST(ParseCommandComplete, Tag) {
  ByteVec body;
  put_str(body, "INSERT 0 1");
  ASSERT_TRUE(parse_command_complete(span_of(body)));
  EXPECT_EQ(*parse_command_complete(span_of(body)), "INSERT 0 1");
  expect_every_truncation_rejected(body, parse_command_complete);
  EXPECT_FALSE(parse_command_complete(span_of(with_trailing(body))));
}

TEST(ParseNegotiateProtocolVersion, MinorAndOptions) {
  ByteVec body;
  put_u32(body, 2);
  put_u32(body, 2);
  put_str(body, "_pq_.a");
  put_str(body, "_pq_.b");
  auto n = parse_negotiate_protocol_version(span_of(body));
  ASSERT_TRUE(n);
  EXPECT_EQ(n->newest_minor, 2u);
  EXPECT_EQ(n->unrecognized, (std::vector<std::string_view>{"_pq_.a", "_pq_.b"}));
  expect_every_truncation_rejected(body, parse_negotiate_protocol_version);
  EXPECT_FALSE(parse_negotiate_protocol_version(span_of(with_trailing(body))));
  ByteVec none;
  put_u32(none, 0);
  put_u32(none, 0);
  ASSERT_TRUE(parse_negotiate_protocol_version(span_of(none)));
}

TEST(ParseNegotiateProtocolVersion, RejectsHugeCount) {
  for (std::uint32_t count : {3u, 1000u, 0x7fffffffu, 0xffffffffu}) {
    ByteVec body;
    put_u32(body, 2);
    put_u32(body, count);
    put_str(body, "_pq_.a");
    put_str(body, "b");
    EXPECT_FALSE(parse_negotiate_protocol_version(span_of(body))) << count;
  }
}

TEST(ParseErrorFields, TypicalError) {
  ByteVec body;
  for (auto [c, v] : std::vector<std::pair<char, std::string>>{
           {'S', "ERREUR"}, {'V', "ERROR"}, {'C', "42P01"}, {'M', "relation \"t\" does not exist"}, {'P', "15"}}) {
    body.push_back(static_cast<std::uint8_t>(c));
    put_str(body, v);
  }
  body.push_back(0);
  auto f = parse_error_fields(span_of(body));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->fields.size(), 5u);
  EXPECT_EQ(f->sqlstate(), "42P01");
  EXPECT_EQ(f->severity(), "ERROR");  // V, not the localised S
  EXPECT_EQ(f->message(), "relation \"t\" does not exist");
  EXPECT_EQ(f->get('P'), "15");
  EXPECT_EQ(f->get('D'), "");
  expect_every_truncation_rejected(body, parse_error_fields);
  EXPECT_FALSE(parse_error_fields(span_of(with_trailing(body))));
}

TEST(ParseErrorFields, WithoutSqlstateOrSeverity) {
  // A server may omit any field (PgBouncer CVE-2026-6666 came from assuming C).
  ByteVec body{'S'};
  put_str(body, "FATAL");
  body.push_back('M');
  put_str(body, "no code");
  body.push_back(0);
  auto f = parse_error_fields(span_of(body));
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->sqlstate().empty());
  EXPECT_EQ(f->severity(), "FATAL");  // S when V is absent
  ByteVec only_terminator{0};
  auto e = parse_error_fields(span_of(only_terminator));
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->fields.empty());
  EXPECT_TRUE(e->sqlstate().empty());
  EXPECT_TRUE(e->severity().empty());
  EXPECT_TRUE(e->message().empty());
  EXPECT_FALSE(parse_error_fields(Bytes{}));
}

TEST(BuildErrorResponse, AlwaysSVCAndM) {
  auto out = build_error_response({"ERROR", "42501", "ddlgate: DDL is not allowed", "", ""});
  ASSERT_GE(out.size(), 5u);
  EXPECT_EQ(out[0], 'E');
  std::uint32_t len = (std::uint32_t{out[1]} << 24) | (out[2] << 16) | (out[3] << 8) | out[4];
  EXPECT_EQ(len, out.size() - 1);
  ByteVec expected_body;
  for (auto [c, v] : std::vector<std::pair<char, std::string>>{
           {'S', "ERROR"}, {'V', "ERROR"}, {'C', "42501"}, {'M', "ddlgate: DDL is not allowed"}}) {
    expected_body.push_back(static_cast<std::uint8_t>(c));
    put_str(expected_body, v);
  }
  expected_body.push_back(0);
  EXPECT_EQ(out, typed('E', expected_body));

  auto f = parse_error_fields(Bytes(out).subspan(5));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->fields.size(), 4u);
  EXPECT_EQ(f->get('D'), "");
  EXPECT_EQ(f->get('H'), "");
}

TEST(BuildErrorResponse, DetailAndHintOnlyWhenGiven) {
  auto out = build_error_response({"FATAL", "28000", "denied", "the detail", "the hint"});
  auto f = parse_error_fields(Bytes(out).subspan(5));
  ASSERT_TRUE(f);
  using F = std::pair<char, std::string_view>;
  EXPECT_EQ(f->fields, (std::vector<F>{{'S', "FATAL"}, {'V', "FATAL"}, {'C', "28000"}, {'M', "denied"},
                                        {'D', "the detail"}, {'H', "the hint"}}));
  auto hint_only = build_error_response({"ERROR", "42501", "m", "", "h"});
  auto g = parse_error_fields(Bytes(hint_only).subspan(5));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->get('H'), "h");
  EXPECT_EQ(g->fields.size(), 5u);
}

TEST(BuildErrorResponse, ReplacesBadSqlstateAndSeverity) {
  for (std::string bad : std::vector<std::string>{"", "4250", "425011", "42 01", "ab123", std::string("42\0" "01", 5), "42P0\xff"}) {
    auto out = build_error_response({"ERROR", bad, "m", "", ""});
    EXPECT_EQ(field(out, 'C'), "XX000") << bad;
  }
  for (std::string good : {"42501", "0A000", "P0001", "XX000", "HV00R"}) {
    EXPECT_EQ(field(build_error_response({"ERROR", good, "m", "", ""}), 'C'), good);
  }
  // V is what drivers use to judge severity: it must be one an ErrorResponse may carry.
  for (std::string sev : std::vector<std::string>{"", "error", "WARNING", std::string("FAT\0AL", 6)}) {
    auto out = build_error_response({sev, "42501", "m", "", ""});
    EXPECT_EQ(field(out, 'V'), "ERROR") << sev;
    EXPECT_EQ(field(out, 'S'), "ERROR") << sev;
  }
  for (std::string sev : {"ERROR", "FATAL", "PANIC"}) {
    auto out = build_error_response({sev, "42501", "m", "", ""});
    EXPECT_EQ(field(out, 'V'), sev);
    EXPECT_EQ(field(out, 'S'), sev);
  }
}

TEST(BuildErrorResponse, CutsEmbeddedNuls) {
  auto out = build_error_response({"ERROR", "42501", std::string("visible\0hidden", 14),
                                   std::string("d\0x", 3), std::string("h\0y", 3)});
  auto f = parse_error_fields(Bytes(out).subspan(5));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->message(), "visible");
  EXPECT_EQ(f->get('D'), "d");
  EXPECT_EQ(f->get('H'), "h");
  // A detail that is only a NUL is cut to nothing; it must still parse.
  auto only_nul = build_error_response({"ERROR", "42501", "m", std::string(1, '\0'), ""});
  EXPECT_EQ(field(only_nul, 'M'), "m");
}

TEST(BuildErrorResponse, AppendsAfterExistingBytes) {
  ByteVec out{1, 2, 3};
  append_error_response(out, {"ERROR", "42501", "m", "", ""});
  append_ready_for_query(out, 'I');
  auto alone = build_error_response({"ERROR", "42501", "m", "", ""});
  EXPECT_EQ(out, concat({ByteVec{1, 2, 3}, alone, ByteVec{'Z', 0, 0, 0, 5, 'I'}}));
}

TEST(Builders, ByteExact) {
  ByteVec out;
  append_ready_for_query(out, 'I');
  EXPECT_EQ(out, (ByteVec{'Z', 0, 0, 0, 5, 'I'}));
  out.clear();
  append_ready_for_query(out, 'E');
  EXPECT_EQ(out, (ByteVec{'Z', 0, 0, 0, 5, 'E'}));
  out.clear();
  append_query(out, "SELECT 1");
  EXPECT_EQ(out, (ByteVec{'Q', 0, 0, 0, 13, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 0}));
  out.clear();
  append_terminate(out);
  EXPECT_EQ(out, (ByteVec{'X', 0, 0, 0, 4}));
  out.clear();
  append_message(out, 'S', {});
  EXPECT_EQ(out, (ByteVec{'S', 0, 0, 0, 4}));
  out.clear();
  ByteVec body{9, 8, 7};
  append_message(out, 'd', body);
  EXPECT_EQ(out, (ByteVec{'d', 0, 0, 0, 7, 9, 8, 7}));
}

TEST(Builders, AppendMessageWritesEveryTypeByteEvenZero) {
  // A typed message always has its type byte, whatever its value.
  ByteVec out;
  append_message(out, 0, ByteVec{1});
  EXPECT_EQ(out, (ByteVec{0, 0, 0, 0, 5, 1}));
}

TEST(MessageTypes, FrontendAndBackend) {
  for (char c : std::string("BCdcfDEHFPpQSX")) EXPECT_TRUE(is_frontend_type(static_cast<std::uint8_t>(c))) << c;
  for (char c : std::string("RK23CdcGHWDIEVvnNAtS1sZT")) EXPECT_TRUE(is_backend_type(static_cast<std::uint8_t>(c))) << c;
  EXPECT_FALSE(is_frontend_type('Z'));
  EXPECT_FALSE(is_frontend_type(0));
  EXPECT_FALSE(is_backend_type('Q'));
  EXPECT_FALSE(is_backend_type(0x16));
}
