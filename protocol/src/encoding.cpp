#include "ddlgate/protocol/encoding.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "ddlgate/protocol/multibyte.h"
#include "pg_maps.h"

// How PostgreSQL 15 converts (src/backend/utils/mb): conv.c LocalToUtf walks a
// radix tree per character after checking the character with the encoding's
// verifier (src/common/wchar.c pg_*_verifychar); SJIS to EUC_JP,
// SHIFT_JIS_2004 to EUC_JIS_2004 and BIG5 to EUC_TW are computed
// (conversion_procs/euc_jp_and_sjis, euc2004_sjis2004, euc_tw_and_big5). The maps are PostgreSQL's own (pg_maps.c); the code below
// is ddlgate's, checked against a real server for every 1- and 2-byte sequence
// and GB18030's 4-byte ones (tests/integration/encoding_test.cpp).

namespace ddlgate::protocol {
namespace {

enum class Enc : std::uint8_t {
  other,
  utf8,
  sql_ascii,
  sjis,
  shift_jis_2004,
  big5,
  gbk,
  uhc,
  gb18030,
  johab,
  euc_jp,
  euc_jis_2004,
  euc_tw,
};

// By the canonical names PostgreSQL reports in ParameterStatus.
Enc encoding_of(std::string_view name) {
  if (name == "UTF8") return Enc::utf8;
  if (name == "SQL_ASCII") return Enc::sql_ascii;
  if (name == "SJIS") return Enc::sjis;
  if (name == "SHIFT_JIS_2004") return Enc::shift_jis_2004;
  if (name == "BIG5") return Enc::big5;
  if (name == "GBK") return Enc::gbk;
  if (name == "UHC") return Enc::uhc;
  if (name == "GB18030") return Enc::gb18030;
  if (name == "JOHAB") return Enc::johab;
  if (name == "EUC_JP") return Enc::euc_jp;
  if (name == "EUC_JIS_2004") return Enc::euc_jis_2004;
  if (name == "EUC_TW") return Enc::euc_tw;
  return Enc::other;
}

bool is_client_only(Enc e) { return e >= Enc::sjis && e <= Enc::johab; }

using Byte = unsigned char;

bool in(Byte b, Byte lo, Byte hi) { return b >= lo && b <= hi; }

// PostgreSQL's own name for an encoding of the model above.
PgEncoding pg_encoding_of(Enc e) {
  switch (e) {
    case Enc::utf8: return PgEncoding::utf8;
    case Enc::sjis: return PgEncoding::sjis;
    case Enc::shift_jis_2004: return PgEncoding::shift_jis_2004;
    case Enc::big5: return PgEncoding::big5;
    case Enc::gbk: return PgEncoding::gbk;
    case Enc::uhc: return PgEncoding::uhc;
    case Enc::gb18030: return PgEncoding::gb18030;
    case Enc::johab: return PgEncoding::johab;
    case Enc::euc_jp: return PgEncoding::euc_jp;
    case Enc::euc_jis_2004: return PgEncoding::euc_jis_2004;
    case Enc::euc_tw: return PgEncoding::euc_tw;
    default: return PgEncoding::sql_ascii;
  }
}

// The length of the non-ASCII character at s (len bytes left), or -1 when
// PostgreSQL's verifier for the encoding refuses it (multibyte.h).
int char_length(Enc e, const Byte* s, std::size_t len) {
  if (e == Enc::other || e == Enc::sql_ascii) return -1;
  return pg_verify_char(pg_encoding_of(e), s, len);
}

// The UTF-8 bytes the radix tree gives for the character s of l bytes, packed
// big-endian, or 0 when it has none (conv.c pg_mb_radix_conv).
std::uint32_t radix_lookup(const ddlgate_pg_radix_tree& t, int l, const Byte* s) {
  auto at = [&t](std::uint32_t i) -> std::uint32_t { return t.values32 != nullptr ? t.values32[i] : t.values16[i]; };
  switch (l) {
    case 1:
      if (!in(s[0], t.b1_min, t.b1_max)) return 0;
      return at(t.b1_root + s[0] - t.b1_min);
    case 2: {
      if (!in(s[0], t.b2_1_min, t.b2_1_max) || !in(s[1], t.b2_2_min, t.b2_2_max)) return 0;
      const std::uint32_t level = at(t.b2_root + s[0] - t.b2_1_min);
      return at(level + s[1] - t.b2_2_min);
    }
    case 3: {
      if (!in(s[0], t.b3_1_min, t.b3_1_max) || !in(s[1], t.b3_2_min, t.b3_2_max) || !in(s[2], t.b3_3_min, t.b3_3_max)) {
        return 0;
      }
      std::uint32_t level = at(t.b3_root + s[0] - t.b3_1_min);
      level = at(level + s[1] - t.b3_2_min);
      return at(level + s[2] - t.b3_3_min);
    }
    case 4: {
      if (!in(s[0], t.b4_1_min, t.b4_1_max) || !in(s[1], t.b4_2_min, t.b4_2_max) ||
          !in(s[2], t.b4_3_min, t.b4_3_max) || !in(s[3], t.b4_4_min, t.b4_4_max)) {
        return 0;
      }
      std::uint32_t level = at(t.b4_root + s[0] - t.b4_1_min);
      level = at(level + s[1] - t.b4_2_min);
      level = at(level + s[2] - t.b4_3_min);
      return at(level + s[3] - t.b4_4_min);
    }
    default:
      return 0;
  }
}

// Appends the bytes of a packed value, skipping zero bytes (conv.c store_coded_char).
void append_packed(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    const auto b = static_cast<char>((v >> shift) & 0xFF);
    if (b != 0) out.push_back(b);
  }
}

void append_code_point(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// GB18030's four-byte characters outside the map are ranges that follow code
// point order (utf8_and_gb18030.c conv_18030_to_utf8): the index of b0 b1 b2 b3
// counts 0x81-0xFE, 0x30-0x39, 0x81-0xFE, 0x30-0x39 as digits.
std::uint32_t gb18030_index(const Byte* s) {
  return ((static_cast<std::uint32_t>(s[0] - 0x81) * 10 + (s[1] - 0x30)) * 126 + (s[2] - 0x81)) * 10 + (s[3] - 0x30);
}

constexpr std::uint32_t gb18030_index(std::uint32_t packed) {
  return ((((packed >> 24) - 0x81) * 10 + (((packed >> 16) & 0xFF) - 0x30)) * 126 + (((packed >> 8) & 0xFF) - 0x81)) * 10 +
         ((packed & 0xFF) - 0x30);
}

struct Gb18030Range {
  std::uint32_t first_code_point;
  std::uint32_t first_index;
  std::uint32_t last_index;
};

// PostgreSQL 15's ranges (the code points the map does not list, in order).
constexpr Gb18030Range kGb18030Ranges[] = {
    {0x0452, gb18030_index(0x8130D330), gb18030_index(0x8136A531)},
    {0x2643, gb18030_index(0x8137A839), gb18030_index(0x8138FD38)},
    {0x361B, gb18030_index(0x8230A633), gb18030_index(0x8230F237)},
    {0x3CE1, gb18030_index(0x8231D438), gb18030_index(0x8232AF32)},
    {0x4160, gb18030_index(0x8232C937), gb18030_index(0x8232F837)},
    {0x44D7, gb18030_index(0x8233A339), gb18030_index(0x8233C931)},
    {0x478E, gb18030_index(0x8233E838), gb18030_index(0x82349638)},
    {0x49B8, gb18030_index(0x8234A131), gb18030_index(0x8234E733)},
    {0x9FA6, gb18030_index(0x82358F33), gb18030_index(0x8336C738)},
    {0xE865, gb18030_index(0x8336D030), gb18030_index(0x84308534)},
    {0xFA2A, gb18030_index(0x84309C38), gb18030_index(0x84318537)},
    {0xFFE6, gb18030_index(0x8431A234), gb18030_index(0x8431A439)},
    {0x10000, gb18030_index(0x90308130), gb18030_index(0xE3329A35)},
};

// An encoding's map to UTF-8, as LocalToUtf uses it.
struct ToUtf8 {
  Enc encoding;
  const ddlgate_pg_radix_tree* tree;
  const ddlgate_pg_combined* combined = nullptr;
  std::size_t combined_size = 0;
};

ToUtf8 to_utf8_map(Enc e) {
  switch (e) {
    case Enc::sjis: return {e, ddlgate_pg_sjis_to_utf8};
    case Enc::shift_jis_2004:
      return {e, ddlgate_pg_shift_jis_2004_to_utf8, ddlgate_pg_shift_jis_2004_combined,
              ddlgate_pg_shift_jis_2004_combined_size};
    case Enc::big5: return {e, ddlgate_pg_big5_to_utf8};
    case Enc::gbk: return {e, ddlgate_pg_gbk_to_utf8};
    case Enc::uhc: return {e, ddlgate_pg_uhc_to_utf8};
    case Enc::gb18030: return {e, ddlgate_pg_gb18030_to_utf8};
    case Enc::johab: return {e, ddlgate_pg_johab_to_utf8};
    case Enc::euc_jp: return {e, ddlgate_pg_euc_jp_to_utf8};
    case Enc::euc_jis_2004:
      return {e, ddlgate_pg_euc_jis_2004_to_utf8, ddlgate_pg_euc_jis_2004_combined,
              ddlgate_pg_euc_jis_2004_combined_size};
    case Enc::euc_tw: return {e, ddlgate_pg_euc_tw_to_utf8};
    default: return {e, nullptr};
  }
}

// Converts the non-ASCII character s of l bytes (already verified) to UTF-8;
// false when PostgreSQL has no mapping for it ("untranslatable").
bool append_utf8(const ToUtf8& m, const Byte* s, int l, std::string& out) {
  if (std::uint32_t v = radix_lookup(*m.tree, l, s)) {
    append_packed(out, v);
    return true;
  }
  std::uint32_t code = 0;
  for (int i = 0; i < l; ++i) code = code << 8 | s[i];
  if (m.combined != nullptr) {
    const ddlgate_pg_combined* end = m.combined + m.combined_size;
    const ddlgate_pg_combined* hit =
        std::lower_bound(m.combined, end, code, [](const ddlgate_pg_combined& c, std::uint32_t k) { return c.code < k; });
    if (hit != end && hit->code == code) {
      append_packed(out, hit->utf8_first);
      append_packed(out, hit->utf8_second);
      return true;
    }
  }
  if (m.encoding == Enc::gb18030 && l == 4) {
    const std::uint32_t index = gb18030_index(s);
    for (const auto& r : kGb18030Ranges) {
      if (index >= r.first_index && index <= r.last_index) {
        append_code_point(out, r.first_code_point + (index - r.first_index));
        return true;
      }
    }
  }
  return false;
}

// PostgreSQL's conversion loop (conv.c): ASCII goes on as it is, a NUL fails the
// text, and every other character is handed to `one`, which appends its conversion
// and returns how many bytes it took (-1: invalid or unmapped, which fails the text).
template <typename ConvertOne>
ServerText convert_text(std::string_view text, std::string& out, ConvertOne one) {
  out.clear();
  out.reserve(text.size() + text.size() / 2);
  const auto* s = reinterpret_cast<const Byte*>(text.data());
  std::size_t left = text.size();
  while (left > 0) {
    if (*s == 0) return ServerText::invalid;
    if (*s < 0x80) {
      out.push_back(static_cast<char>(*s));
      ++s;
      --left;
      continue;
    }
    const int l = one(s, left);
    if (l < 0) return ServerText::invalid;
    s += l;
    left -= static_cast<std::size_t>(l);
  }
  return ServerText::converted;
}

// LocalToUtf over a whole text: every non-ASCII character verified and mapped.
ServerText local_to_utf8(std::string_view text, const ToUtf8& m, std::string& out) {
  return convert_text(text, out, [&](const Byte* s, std::size_t left) {
    const int l = char_length(m.encoding, s, left);
    return l < 0 || !append_utf8(m, s, l, out) ? -1 : l;
  });
}

// A character's bytes in the server encoding (at most 3 per character here,
// but an IBM kanji row may in principle match twice).
struct Chunk {
  Byte bytes[8];
  int size = 0;
  void add(int b) {
    if (size < static_cast<int>(sizeof bytes)) bytes[size++] = static_cast<Byte>(b);
  }
};

// SJIS to EUC_JP for the non-ASCII character at s (euc_jp_and_sjis.c sjis2euc_jp):
// JIS X 0208 by formula, the user-defined areas to EUC's user rows, NEC-selected
// IBM kanji through the IBM table, and the rest of the IBM area to 0xA2AE.
// Returns the characters's length, or -1 when it is invalid.
int sjis_to_euc_jp(const Byte* s, std::size_t left, Chunk& out) {
  const int l = char_length(Enc::sjis, s, left);
  if (l < 0) return -1;
  int c1 = s[0];
  if (in(static_cast<Byte>(c1), 0xA1, 0xDF)) {
    out.add(0x8E);
    out.add(c1);
    return l;
  }
  int c2 = s[1];
  int k = c1 << 8 | c2;
  const std::size_t rows = ddlgate_pg_ibm_kanji_size();
  if (k >= 0xED40 && k < 0xF040) {
    // Every row is compared with the code as it stands, as PostgreSQL's loop does.
    for (std::size_t i = 0; i < rows; ++i) {
      const ddlgate_pg_ibm_kanji row = ddlgate_pg_ibm_kanji_row(i);
      if (row.nec == k) {
        k = row.sjis;
        c1 = (k >> 8) & 0xFF;
        c2 = k & 0xFF;
      }
    }
  }
  auto second = [&] { return c2 + (c2 > 0x9E ? 2 : 0x60) + (c2 < 0x80 ? 1 : 0); };
  if (k < 0xEB3F) {
    out.add(((c1 & 0x3F) << 1) + 0x9F + (c2 > 0x9E ? 1 : 0));
    out.add(second());
  } else if ((k >= 0xEB40 && k < 0xF040) || (k >= 0xFC4C && k <= 0xFCFC)) {
    out.add(0xA2);  // no equivalent: PostgreSQL's stand-in character
    out.add(0xAE);
  } else if (k >= 0xF040 && k < 0xF540) {
    c1 -= 0x6F;
    out.add(((c1 & 0x3F) << 1) + 0xF3 + (c2 > 0x9E ? 1 : 0));
    out.add(second());
  } else if (k >= 0xF540 && k < 0xFA40) {
    out.add(0x8F);
    c1 -= 0x74;
    out.add(((c1 & 0x3F) << 1) + 0xF3 + (c2 > 0x9E ? 1 : 0));
    out.add(second());
  } else if (k >= 0xFA40) {
    for (std::size_t i = 0; i < rows; ++i) {
      const ddlgate_pg_ibm_kanji row = ddlgate_pg_ibm_kanji_row(i);
      if (row.sjis == k) {
        k = static_cast<int>(row.euc_jp);
        if (k >= 0x8F0000) {
          out.add(0x8F);
          out.add(0x80 | ((k & 0xFF00) >> 8));
          out.add(0x80 | (k & 0xFF));
        } else {
          out.add(0x80 | (k >> 8));
          out.add(0x80 | (k & 0xFF));
        }
      }
    }
  }
  return l;
}

// A SHIFT_JIS_2004 trail byte's cell (ten) and whether it names the odd row of a pair
// (euc2004_sjis2004.c get_ten); -1 for a byte that is no trail byte.
int sjis_2004_ten(int b, int& odd_row) {
  if (b >= 0x40 && b <= 0x7E) {
    odd_row = 1;
    return b - 0x3F;
  }
  if (b >= 0x80 && b <= 0x9E) {
    odd_row = 1;
    return b - 0x40;
  }
  if (b >= 0x9F && b <= 0xFC) {
    odd_row = 0;
    return b - 0x9E;
  }
  odd_row = 0;
  return -1;
}

// SHIFT_JIS_2004 to EUC_JIS_2004 for the non-ASCII character at s
// (euc2004_sjis2004.c shift_jis_20042euc_jis_2004): JIS X 0213 row (ku) and
// cell (ten) from the two bytes, plane 2 behind 0x8F. No table, so no
// character becomes ASCII. Returns the character's length, or -1 when invalid.
int sjis_2004_to_euc_jis_2004(const Byte* s, std::size_t left, Chunk& out) {
  const int l = char_length(Enc::shift_jis_2004, s, left);
  if (l < 0) return -1;
  const int c1 = s[0];
  if (l == 1) {
    out.add(0x8E);
    out.add(c1);
    return l;
  }
  int odd_row = 0;
  const int ten = sjis_2004_ten(s[1], odd_row);
  if (ten < 0) return -1;
  int ku = 0;
  bool plane2 = false;
  if (c1 >= 0x81 && c1 <= 0x9F) {
    ku = (c1 << 1) - 0x100 - odd_row;
  } else if (c1 >= 0xE0 && c1 <= 0xEF) {
    ku = (c1 << 1) - 0x180 - odd_row;
  } else if (c1 >= 0xF0 && c1 <= 0xF3) {
    // Plane 2 rows 1, 3, 4, 5, 8, 12, 13, 14 and 15 live in four lead bytes.
    plane2 = true;
    switch (c1) {
      case 0xF0: ku = odd_row == 0 ? 8 : 1; break;
      case 0xF1: ku = odd_row == 0 ? 4 : 3; break;
      case 0xF2: ku = odd_row == 0 ? 12 : 5; break;
      default: ku = odd_row == 0 ? 14 : 13; break;
    }
  } else if (c1 >= 0xF4 && c1 <= 0xFC) {
    plane2 = true;
    ku = c1 == 0xF4 && odd_row == 1 ? 15 : (c1 << 1) - 0x19A - odd_row;
  } else {
    return -1;
  }
  if (plane2) out.add(0x8F);
  out.add(ku + 0xA0);
  out.add(ten + 0xA0);
  return l;
}

// A BIG5 code's CNS 11643 code through one of big5.c's range tables
// (BinarySearchRange, BIG5 to CNS direction), 0 when none. Within a range the
// codes count on in order: BIG5 rows of 0x9D cells (trail bytes 0x40-0x7E then
// 0xA1-0xFE, hence the 0x22 between them), CNS rows of 0x5E (0x21-0x7E). PostgreSQL
// checks no BIG5 trail byte, so odd ones give odd codes: the arithmetic is kept
// exactly, C's integer division and 16-bit result included.
unsigned short big5_range_to_cns(const ddlgate_pg_code_range* rows, int high, unsigned short code) {
  int low = 0;
  for (int mid = high >> 1; low <= high; mid = (low + high) >> 1) {
    if (rows[mid].code <= code && rows[mid + 1].code > code) {
      if (rows[mid].peer == 0) return 0;
      const int rows_on = ((code & 0xFF00) - (rows[mid].code & 0xFF00)) >> 8;
      const int cell = code & 0xFF;
      const int first_cell = rows[mid].code & 0xFF;
      const int gap = cell >= 0xA1 ? (first_cell >= 0xA1 ? 0 : -0x22) : (first_cell >= 0xA1 ? 0x22 : 0);
      const int distance = rows_on * 0x9D + cell - first_cell + gap;
      const int t = (rows[mid].peer & 0xFF) + distance - 0x21;
      return static_cast<unsigned short>((rows[mid].peer & 0xFF00) + ((t / 0x5E) << 8) + 0x21 + t % 0x5E);
    }
    if (rows[mid].code > code) {
      high = mid - 1;
    } else {
      low = mid + 1;
    }
  }
  return 0;
}

// BIG5 to EUC_TW for the non-ASCII character at s (euc_tw_and_big5.c big52euc_tw
// with big5.c BIG5toCNS): the CNS plane and code, written as EUC_TW (plane 1 in
// two bytes, others behind 0x8E and the plane). Returns the character's length,
// or -1 when it is invalid or has no CNS code.
int big5_to_euc_tw(const Byte* s, std::size_t left, Chunk& out) {
  const int l = char_length(Enc::big5, s, left);
  if (l < 0) return -1;
  const auto big5 = static_cast<unsigned short>(s[0] << 8 | s[1]);
  int plane = 0;
  unsigned short cns = 0;
  auto single = [&](const uint16_t (*rows)[2], std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      if (rows[i][0] == big5) return static_cast<unsigned short>(rows[i][1]);
    }
    return static_cast<unsigned short>(0);
  };
  if (big5 < 0xC940) {
    if ((cns = single(ddlgate_pg_big5_plane4, ddlgate_pg_big5_plane4_size)) != 0) {
      plane = 4;
    } else if ((cns = big5_range_to_cns(ddlgate_pg_big5_level1, static_cast<int>(ddlgate_pg_big5_level1_size) - 2, big5)) != 0) {
      plane = 1;
    }
  } else if (big5 == 0xC94A) {
    plane = 1;
    cns = 0x4442;
  } else if ((cns = single(ddlgate_pg_big5_plane3, ddlgate_pg_big5_plane3_size)) != 0) {
    plane = 3;
  } else if ((cns = big5_range_to_cns(ddlgate_pg_big5_level2, static_cast<int>(ddlgate_pg_big5_level2_size) - 2, big5)) != 0) {
    plane = 2;
  }
  if (plane == 0) return -1;  // untranslatable
  cns |= 0x8080;
  if (plane != 1) {
    out.add(0x8E);
    out.add(0xA0 + plane);
  }
  out.add(cns >> 8);
  out.add(cns & 0xFF);
  return l;
}

using Algorithm = int (*)(const Byte*, std::size_t, Chunk&);

// The pairs PostgreSQL converts by algorithm, not map: client to server.
Algorithm algorithm_for(Enc client, Enc server) {
  if (client == Enc::sjis && server == Enc::euc_jp) return sjis_to_euc_jp;
  if (client == Enc::shift_jis_2004 && server == Enc::euc_jis_2004) return sjis_2004_to_euc_jis_2004;
  if (client == Enc::big5 && server == Enc::euc_tw) return big5_to_euc_tw;
  return nullptr;
}

// Runs an algorithmic conversion over the text; with `then` set, each server
// character goes on to UTF-8 through that map (read_as_server).
ServerText run_algorithm(std::string_view text, Algorithm convert, const ToUtf8* then, std::string& out) {
  return convert_text(text, out, [&](const Byte* s, std::size_t left) {
    Chunk chunk;
    const int l = convert(s, left, chunk);
    if (l < 0) return -1;
    if (then == nullptr) {
      out.append(reinterpret_cast<const char*>(chunk.bytes), static_cast<std::size_t>(chunk.size));
      return l;
    }
    // The server's text, read on into UTF-8 as LocalToUtf reads it.
    for (int i = 0; i < chunk.size;) {
      const int cl = char_length(then->encoding, chunk.bytes + i, static_cast<std::size_t>(chunk.size - i));
      if (cl < 0 || !append_utf8(*then, chunk.bytes + i, cl, out)) return -1;
      i += cl;
    }
    return l;
  });
}

// An ASCII-safe client encoding's text (every byte of its multibyte characters is
// >= 0x80). In a UTF8 database it is read exactly as the server converts it: LocalToUtf
// with PostgreSQL's map (LATIN1 by formula, utf8_and_iso8859_1.c), which checks each
// character and refuses one it has no mapping for. Reading the bytes as they came
// would not do: a LATIN1 client's bytes C3 A9 are "Ã©" to the server and "é" to
// libpg_query, and identifiers are cut at 63 bytes of the server's text.
// Elsewhere the text is read as it came, once PostgreSQL's check passes
// (mbutils.c pg_any_to_server): in the database's encoding when no conversion is
// needed (the same encoding, or a SQL_ASCII client), else in the client's (what a
// SQL_ASCII database, and every conversion before converting, checks).
ServerText read_ascii_safe(std::string_view text, std::string_view client_encoding, std::string_view server_encoding,
                           std::string& out) {
  const auto client = pg_encoding(client_encoding);
  const auto server = pg_encoding(server_encoding);
  if (!client || !server) return ServerText::unsupported;  // no name PostgreSQL reports
  if (*server == PgEncoding::utf8 && *client != PgEncoding::utf8 && *client != PgEncoding::sql_ascii) {
    if (*client == PgEncoding::latin1) {
      return convert_text(text, out, [&out](const Byte* s, std::size_t) {
        append_code_point(out, *s);
        return 1;
      });
    }
    const Enc euc = encoding_of(client_encoding);
    if (euc == Enc::euc_jp || euc == Enc::euc_jis_2004 || euc == Enc::euc_tw) return local_to_utf8(text, to_utf8_map(euc), out);
    if (const ddlgate_pg_radix_tree* tree = ddlgate_pg_ascii_safe_to_utf8(static_cast<int>(*client))) {
      return convert_text(text, out, [&](const Byte* s, std::size_t left) {
        const int l = pg_verify_char(*client, s, left);
        if (l < 0) return -1;
        const std::uint32_t v = radix_lookup(*tree, l, s);
        if (v == 0) return -1;  // untranslatable
        append_packed(out, v);
        return l;
      });
    }
    // MULE_INTERNAL: a UTF8 database has no conversion from it, so no session has it.
  }
  const PgEncoding checked = *client == *server || *client == PgEncoding::sql_ascii ? *server : *client;
  return pg_valid(checked, text) ? ServerText::as_is : ServerText::invalid;
}

}  // namespace

bool hides_ascii(std::string_view client_encoding) {
  return std::find(kAsciiHidingEncodings.begin(), kAsciiHidingEncodings.end(), client_encoding) !=
         kAsciiHidingEncodings.end();
}

bool has_non_ascii(std::string_view text) {
  // Eight bytes at a time: every statement an enforcing session reads passes here.
  const char* p = text.data();
  std::size_t left = text.size();
  std::uint64_t seen = 0;
  for (; left >= 8; p += 8, left -= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    seen |= word;
  }
  for (; left > 0; ++p, --left) seen |= static_cast<unsigned char>(*p);
  return (seen & 0x8080808080808080ull) != 0;
}

bool client_encoding_settable(std::string_view client_encoding, std::string_view server_encoding) {
  const Enc client = encoding_of(client_encoding);
  if (!is_client_only(client)) return true;
  // PostgreSQL 15's pg_conversion: these encodings convert only to and from UTF8,
  // SJIS also EUC_JP and MULE_INTERNAL, BIG5 also EUC_TW and MULE_INTERNAL,
  // SHIFT_JIS_2004 also EUC_JIS_2004. SQL_ASCII accepts any client encoding.
  if (server_encoding == "UTF8" || server_encoding == "SQL_ASCII") return true;
  switch (client) {
    case Enc::sjis: return server_encoding == "EUC_JP" || server_encoding == "MULE_INTERNAL";
    case Enc::big5: return server_encoding == "EUC_TW" || server_encoding == "MULE_INTERNAL";
    case Enc::shift_jis_2004: return server_encoding == "EUC_JIS_2004";
    default: return false;
  }
}

ServerText to_server_encoding(std::string_view text, std::string_view client_encoding,
                              std::string_view server_encoding, std::string& out) {
  if (!has_non_ascii(text)) return ServerText::as_is;
  const Enc client = encoding_of(client_encoding);
  // Every other client encoding is ASCII-safe: PostgreSQL checks or converts its
  // non-ASCII characters, and none of its conversions makes an ASCII byte of one.
  if (!is_client_only(client)) return read_ascii_safe(text, client_encoding, server_encoding, out);
  const Enc server = encoding_of(server_encoding);
  // SQL_ASCII converts nothing and accepts no non-ASCII byte from a client-only
  // encoding (mbutils.c pg_any_to_server).
  if (server == Enc::sql_ascii) return ServerText::invalid;
  if (server == Enc::utf8) return local_to_utf8(text, to_utf8_map(client), out);
  if (Algorithm a = algorithm_for(client, server)) return run_algorithm(text, a, nullptr, out);
  return ServerText::unsupported;
}

ServerText read_as_server(std::string_view text, std::string_view client_encoding, std::string_view server_encoding,
                          std::string& out) {
  // No encoding changes or refuses an ASCII text (a protocol string has no NUL).
  if (!has_non_ascii(text)) return ServerText::as_is;
  const Enc client = encoding_of(client_encoding);
  const Enc server = encoding_of(server_encoding);
  const bool euc_server = server == Enc::euc_jp || server == Enc::euc_jis_2004 || server == Enc::euc_tw;
  if (!is_client_only(client)) {
    // The text is the server's as it is (PostgreSQL only checks it) when the
    // encodings agree; in an EUC database it is read on into UTF-8.
    if (euc_server && (client == server || client == Enc::sql_ascii)) return local_to_utf8(text, to_utf8_map(server), out);
    return read_ascii_safe(text, client_encoding, server_encoding, out);
  }
  if (euc_server) {
    if (Algorithm a = algorithm_for(client, server)) {
      const ToUtf8 then = to_utf8_map(server);
      return run_algorithm(text, a, &then, out);
    }
    return ServerText::unsupported;
  }
  return to_server_encoding(text, client_encoding, server_encoding, out);
}

}  // namespace ddlgate::protocol
