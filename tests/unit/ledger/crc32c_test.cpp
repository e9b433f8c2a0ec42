#include "ddlgate/ledger/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace ddlgate::ledger {
namespace {

// RFC 3720 appendix B.4 (the CRC bytes there are shown in transmission order, little-endian).
TEST(Crc32c, Rfc3720Vectors) {
  std::string zeros(32, '\0'), ones(32, '\xff'), up, down;
  for (int i = 0; i < 32; ++i) {
    up.push_back(static_cast<char>(i));
    down.push_back(static_cast<char>(31 - i));
  }
  EXPECT_EQ(crc32c(zeros), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones), 0x62A8AB43u);
  EXPECT_EQ(crc32c(up), 0x46DD794Eu);
  EXPECT_EQ(crc32c(down), 0x113FDB5Cu);
  const unsigned char pdu[48] = {0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
                                 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(crc32c(0, pdu, sizeof pdu), 0xD9963A56u);
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c_portable(0, "123456789", 9), 0xE3069283u);
}

TEST(Crc32c, HardwareAndTableAgreeAndChain) {
  std::mt19937 rng(7);
  for (int len = 0; len < 300; ++len) {
    std::string s(static_cast<std::size_t>(len), '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    std::uint32_t a = crc32c(s);
    EXPECT_EQ(a, crc32c_portable(0, s.data(), s.size())) << len;
    std::size_t cut = s.size() / 3;
    EXPECT_EQ(a, crc32c(crc32c(0, s.data(), cut), s.data() + cut, s.size() - cut)) << len;
  }
}

}  // namespace
}  // namespace ddlgate::ledger
