#include "ddlgate/protocol/encoding.h"

#include <iconv.h>

#include <algorithm>
#include <cerrno>

namespace ddlgate::protocol {
namespace {

// glibc's name for the mapping PostgreSQL uses for each encoding
// (src/backend/utils/mb/Unicode: SJIS and GBK follow the Microsoft code pages).
const char* iconv_name(std::string_view pg) {
  if (pg == "SJIS") return "CP932";
  if (pg == "SHIFT_JIS_2004") return "SHIFT_JISX0213";
  if (pg == "BIG5") return "CP950";
  if (pg == "GBK") return "CP936";
  if (pg == "UHC") return "CP949";
  if (pg == "GB18030") return "GB18030";
  if (pg == "JOHAB") return "JOHAB";
  return nullptr;
}

}  // namespace

bool hides_ascii(std::string_view client_encoding) {
  return std::find(kAsciiHidingEncodings.begin(), kAsciiHidingEncodings.end(), client_encoding) !=
         kAsciiHidingEncodings.end();
}

bool has_non_ascii(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

std::optional<std::string> to_utf8(std::string_view text, std::string_view client_encoding) {
  const char* from = iconv_name(client_encoding);
  if (from == nullptr) return std::nullopt;
  iconv_t cd = iconv_open("UTF-8", from);
  if (cd == reinterpret_cast<iconv_t>(-1)) return std::nullopt;
  // At most 4 UTF-8 bytes per input byte (a 1-byte character becomes at most 3).
  std::string out(text.size() * 4, '\0');
  char* in_ptr = const_cast<char*>(text.data());  // iconv's signature; it does not write the input
  std::size_t in_left = text.size();
  char* out_ptr = out.data();
  std::size_t out_left = out.size();
  std::size_t rc = iconv(cd, &in_ptr, &in_left, &out_ptr, &out_left);
  bool ok = rc != static_cast<std::size_t>(-1) && in_left == 0;
  if (ok) ok = iconv(cd, nullptr, nullptr, &out_ptr, &out_left) != static_cast<std::size_t>(-1);
  iconv_close(cd);
  if (!ok) return std::nullopt;
  out.resize(out.size() - out_left);
  return out;
}

}  // namespace ddlgate::protocol
