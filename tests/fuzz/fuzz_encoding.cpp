// libFuzzer target: read_as_server and to_server_encoding on arbitrary text for
// each (client, server) pair below, the first byte choosing the pair. Beyond
// memory safety: ASCII text is never converted, the ASCII bytes before the first
// non-ASCII one come through unchanged, and in a UTF8 database the reading is the
// server's text.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "ddlgate/protocol/encoding.h"

using namespace ddlgate::protocol;

namespace {

constexpr std::array<std::pair<std::string_view, std::string_view>, 14> kPairs = {{
    {"SJIS", "UTF8"},           {"SHIFT_JIS_2004", "UTF8"},         {"BIG5", "UTF8"},      {"GBK", "UTF8"},
    {"UHC", "UTF8"},            {"GB18030", "UTF8"},                {"JOHAB", "UTF8"},     {"SJIS", "EUC_JP"},
    {"SHIFT_JIS_2004", "EUC_JIS_2004"}, {"EUC_JP", "EUC_JP"},       {"BIG5", "EUC_TW"},    {"SJIS", "SQL_ASCII"},
    {"UTF8", "UTF8"},           {"EUC_JIS_2004", "EUC_JIS_2004"},
}};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto& [client, server] = kPairs[data[0] % kPairs.size()];
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string server_text;
  std::string reading;
  const ServerText s = to_server_encoding(text, client, server, server_text);
  const ServerText r = read_as_server(text, client, server, reading);
  if (!has_non_ascii(text) && (s != ServerText::as_is || r != ServerText::as_is)) __builtin_trap();
  if ((s == ServerText::unsupported) != (r == ServerText::unsupported)) __builtin_trap();
  if (server == "UTF8" && hides_ascii(client) && s != r) __builtin_trap();
  if (server == "UTF8" && s == ServerText::converted && server_text != reading) __builtin_trap();
  if (r == ServerText::converted) {
    // The ASCII prefix (before any multibyte character) comes through unchanged.
    const auto first_high = std::find_if(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
    const std::size_t prefix = static_cast<std::size_t>(first_high - text.begin());
    if (reading.compare(0, prefix, text.substr(0, prefix)) != 0) __builtin_trap();
  }
  return 0;
}
