#include "ddlgate/protocol/multibyte.h"

#include <array>
#include <cstring>

// Written from PostgreSQL 15's src/common/wchar.c (the mblen and verifychar
// functions of pg_wchar_table) and src/include/mb/pg_wchar.h (SS2, SS3, the SJIS
// head and tail ranges, the MULE leading-byte ranges). Each function below names the
// one it follows; where PostgreSQL is lenient (EUC_TW's unchecked lead byte, MULE's
// "assume ASCII" for unknown high bytes) ddlgate is lenient the same way, since
// agreeing with the server is the point.

namespace ddlgate::protocol {
namespace {

using Byte = unsigned char;

constexpr Byte kSs2 = 0x8E;  // EUC single shift 2
constexpr Byte kSs3 = 0x8F;  // EUC single shift 3

constexpr bool in(Byte b, Byte lo, Byte hi) { return b >= lo && b <= hi; }
constexpr bool high(Byte b) { return (b & 0x80) != 0; }
constexpr bool euc_range(Byte b) { return in(b, 0xA1, 0xFE); }  // IS_EUC_RANGE_VALID

constexpr std::array<std::string_view, kPgEncodingCount> kNames = {
    "SQL_ASCII", "EUC_JP",     "EUC_CN",     "EUC_KR",     "EUC_TW",     "EUC_JIS_2004", "UTF8",    "MULE_INTERNAL",
    "LATIN1",    "LATIN2",     "LATIN3",     "LATIN4",     "LATIN5",     "LATIN6",       "LATIN7",  "LATIN8",
    "LATIN9",    "LATIN10",    "WIN1256",    "WIN1258",    "WIN866",     "WIN874",       "KOI8R",   "WIN1251",
    "WIN1252",   "ISO_8859_5", "ISO_8859_6", "ISO_8859_7", "ISO_8859_8", "WIN1250",      "WIN1253", "WIN1254",
    "WIN1255",   "WIN1257",    "KOI8U",      "SJIS",       "BIG5",       "GBK",          "UHC",     "GB18030",
    "JOHAB",     "SHIFT_JIS_2004"};

// pg_euc_mblen (EUC_JP, EUC_KR, EUC_JIS_2004, JOHAB).
int euc_mblen(Byte c) {
  if (c == kSs2) return 2;
  if (c == kSs3) return 3;
  return high(c) ? 2 : 1;
}

// pg_mule_mblen: leading bytes LC1 (0x81-0x8D), LCPRV1 (0x9A, 0x9B), LC2 (0x90-0x99),
// LCPRV2 (0x9C, 0x9D); any other byte is taken as one byte ("assume ASCII").
int mule_mblen(Byte c) {
  if (in(c, 0x81, 0x8D)) return 2;
  if (c == 0x9A || c == 0x9B) return 3;
  if (in(c, 0x90, 0x99)) return 3;
  if (c == 0x9C || c == 0x9D) return 4;
  return 1;
}

// pg_utf_mblen: 1 for ASCII and for every byte that starts no sequence of up to 4.
int utf8_mblen(Byte c) {
  if ((c & 0x80) == 0) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 1;
}

// pg_utf8_islegal for a sequence of l bytes (1 to 4).
bool utf8_legal(const Byte* s, int l) {
  switch (l) {
    case 4:
      if (!in(s[3], 0x80, 0xBF)) return false;
      [[fallthrough]];
    case 3:
      if (!in(s[2], 0x80, 0xBF)) return false;
      [[fallthrough]];
    case 2:
      switch (s[0]) {
        case 0xE0:
          if (!in(s[1], 0xA0, 0xBF)) return false;
          break;
        case 0xED:
          if (!in(s[1], 0x80, 0x9F)) return false;
          break;
        case 0xF0:
          if (!in(s[1], 0x90, 0xBF)) return false;
          break;
        case 0xF4:
          if (!in(s[1], 0x80, 0x8F)) return false;
          break;
        default:
          if (!in(s[1], 0x80, 0xBF)) return false;
          break;
      }
      [[fallthrough]];
    case 1:
      if (in(s[0], 0x80, 0xC1)) return false;
      return s[0] <= 0xF4;
    default:
      return false;
  }
}

// The verifychar functions for a character whose first byte is >= 0x80.
int verify_high(PgEncoding e, const Byte* s, std::size_t len) {
  const Byte c = s[0];
  switch (e) {
    case PgEncoding::euc_jp:
    case PgEncoding::euc_jis_2004:  // pg_eucjp_verifychar
      if (c == kSs2) return len >= 2 && in(s[1], 0xA1, 0xDF) ? 2 : -1;          // JIS X 0201 kana
      if (c == kSs3) return len >= 3 && euc_range(s[1]) && euc_range(s[2]) ? 3 : -1;  // JIS X 0212
      return len >= 2 && euc_range(c) && euc_range(s[1]) ? 2 : -1;               // JIS X 0208
    case PgEncoding::euc_cn:
    case PgEncoding::euc_kr:  // pg_euckr_verifychar (EUC_CN uses it too)
      return len >= 2 && euc_range(c) && euc_range(s[1]) ? 2 : -1;
    case PgEncoding::euc_tw:  // pg_euctw_verifychar: planes 1-7 behind SS2; SS3 unused
      if (c == kSs2) return len >= 4 && in(s[1], 0xA1, 0xA7) && euc_range(s[2]) && euc_range(s[3]) ? 4 : -1;
      if (c == kSs3) return -1;
      return len >= 2 && euc_range(s[1]) ? 2 : -1;  // PostgreSQL checks no range of the lead byte
    case PgEncoding::johab: {  // pg_johab_verifychar: EUC lengths, every further byte in 0xA1-0xFE
      const int l = euc_mblen(c);
      if (len < static_cast<std::size_t>(l)) return -1;
      for (int i = 1; i < l; ++i) {
        if (!euc_range(s[i])) return -1;
      }
      return l;
    }
    case PgEncoding::utf8: {  // pg_utf8_verifychar
      const int l = utf8_mblen(c);
      if (len < static_cast<std::size_t>(l)) return -1;
      return utf8_legal(s, l) ? l : -1;
    }
    case PgEncoding::mule_internal: {  // pg_mule_verifychar: every further byte >= 0x80
      const int l = mule_mblen(c);
      if (len < static_cast<std::size_t>(l)) return -1;
      for (int i = 1; i < l; ++i) {
        if (!high(s[i])) return -1;
      }
      return l;
    }
    case PgEncoding::sjis:
    case PgEncoding::shift_jis_2004:  // pg_sjis_verifychar: ISSJISHEAD, ISSJISTAIL
      if (in(c, 0xA1, 0xDF)) return 1;  // half-width katakana
      if (len < 2) return -1;
      if (!(in(c, 0x81, 0x9F) || in(c, 0xE0, 0xFC))) return -1;
      return in(s[1], 0x40, 0x7E) || in(s[1], 0x80, 0xFC) ? 2 : -1;
    case PgEncoding::big5:
    case PgEncoding::gbk:
    case PgEncoding::uhc:
      // pg_big5/gbk/uhc_verifychar: any second byte but NUL, except the pair
      // NONUTF8_INVALID_BYTE0 0x8D, NONUTF8_INVALID_BYTE1 ' ' that PostgreSQL reserves.
      if (len < 2 || s[1] == 0 || (c == 0x8D && s[1] == ' ')) return -1;
      return 2;
    case PgEncoding::gb18030:  // pg_gb18030_verifychar
      if (len >= 4 && in(s[1], 0x30, 0x39)) {
        return in(c, 0x81, 0xFE) && in(s[2], 0x81, 0xFE) && in(s[3], 0x30, 0x39) ? 4 : -1;
      }
      if (len >= 2 && in(c, 0x81, 0xFE) && (in(s[1], 0x40, 0x7E) || in(s[1], 0x80, 0xFE))) return 2;
      return -1;
    default:  // SQL_ASCII and the single-byte encodings (pg_ascii/latin1_verifychar)
      return 1;
  }
}

}  // namespace

std::optional<PgEncoding> pg_encoding(std::string_view canonical_name) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == canonical_name) return static_cast<PgEncoding>(i);
  }
  return std::nullopt;
}

std::string_view pg_encoding_name(PgEncoding e) { return kNames[static_cast<std::size_t>(e)]; }

int pg_mblen(PgEncoding e, std::string_view at) {
  const auto c = static_cast<Byte>(at[0]);
  switch (e) {
    case PgEncoding::euc_jp:
    case PgEncoding::euc_kr:
    case PgEncoding::euc_jis_2004:
    case PgEncoding::johab:
      return euc_mblen(c);
    case PgEncoding::euc_cn:  // pg_euccn_mblen: SS2 and SS3 open three bytes here
      if (c == kSs2 || c == kSs3) return 3;
      return high(c) ? 2 : 1;
    case PgEncoding::euc_tw:  // pg_euctw_mblen
      if (c == kSs2) return 4;
      if (c == kSs3) return 3;
      return high(c) ? 2 : 1;
    case PgEncoding::utf8:
      return utf8_mblen(c);
    case PgEncoding::mule_internal:
      return mule_mblen(c);
    case PgEncoding::sjis:
    case PgEncoding::shift_jis_2004:  // pg_sjis_mblen
      if (in(c, 0xA1, 0xDF)) return 1;
      return high(c) ? 2 : 1;
    case PgEncoding::big5:
    case PgEncoding::gbk:
    case PgEncoding::uhc:
      return high(c) ? 2 : 1;
    case PgEncoding::gb18030: {  // pg_gb18030_mblen: the second byte decides
      if (!high(c)) return 1;
      const Byte second = at.size() > 1 ? static_cast<Byte>(at[1]) : 0;
      return in(second, 0x30, 0x39) ? 4 : 2;
    }
    default:
      return 1;
  }
}

int pg_verify_char(PgEncoding e, const unsigned char* s, std::size_t len) {
  if (len == 0 || s[0] == 0) return -1;
  if (!high(s[0])) return 1;
  return verify_high(e, s, len);
}

std::size_t pg_valid_prefix(PgEncoding e, std::string_view text) {
  const auto* start = reinterpret_cast<const Byte*>(text.data());
  const Byte* s = start;
  std::size_t left = text.size();
  // A single-byte encoding refuses only NUL (pg_latin1_verifystr, pg_ascii_verifystr).
  if (e == PgEncoding::sql_ascii || (e >= PgEncoding::latin1 && e <= PgEncoding::koi8u)) {
    const void* nul = std::memchr(s, 0, left);
    return nul == nullptr ? left : static_cast<std::size_t>(static_cast<const Byte*>(nul) - s);
  }
  while (left > 0) {
    if (!high(*s)) {
      if (*s == 0) break;
      ++s;
      --left;
      continue;
    }
    const int l = verify_high(e, s, left);
    if (l < 0) break;
    s += l;
    left -= static_cast<std::size_t>(l);
  }
  return static_cast<std::size_t>(s - start);
}

}  // namespace ddlgate::protocol
