// The stored-ZIP subset of evidence packs (ledger/zip.h): round trips, what the writer refuses,
// what the strict reader refuses, and Debian's unzip reading what the writer wrote.
#include "ddlgate/ledger/zip.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "test_util.h"

namespace ddlgate::ledger {
namespace {

TEST(Zip, Crc32MatchesTheCheckValue) {
  // The CRC-32 check value of ISO 3309 (the CRC catalogue's "CRC-32/ISO-HDLC").
  EXPECT_EQ(crc32_iso("123456789"), 0xcbf43926u);
  EXPECT_EQ(crc32_iso(""), 0u);
}

TEST(Zip, RoundTrip) {
  std::vector<ZipEntry> in{{"a.txt", "hello\n"}, {"dir/b.bin", std::string("\0\1\2", 3)}, {"empty", ""}};
  auto z = write_zip(in);
  ASSERT_TRUE(z) << z.error().to_string();
  auto out = read_zip(*z);
  ASSERT_TRUE(out) << out.error().to_string();
  ASSERT_EQ(out->size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*out)[i].name, in[i].name);
    EXPECT_EQ((*out)[i].data, in[i].data);
  }
  auto none = write_zip({});
  ASSERT_TRUE(none);
  EXPECT_EQ(none->size(), 22u);
  EXPECT_TRUE(read_zip(*none));
}

TEST(Zip, WriterRefusesBadAndDuplicateNames) {
  for (const char* bad : {"", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "dir/", "a\\b", "sp ace"}) {
    EXPECT_FALSE(write_zip({{bad, "x"}})) << bad;
  }
  auto dup = write_zip({{"a", "1"}, {"a", "2"}});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().reason, "duplicate entry name: a");
}

// Little-endian field writes into an archive, to make archives the writer never makes.
void set16(std::string& z, std::size_t at, std::uint16_t v) {
  z[at] = static_cast<char>(v & 0xff);
  z[at + 1] = static_cast<char>(v >> 8);
}
void set32(std::string& z, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) z[at + static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
}

std::string error_of(std::string_view z, const ZipLimits& limits = {}) {
  auto r = read_zip(z, limits);
  return r ? std::string("ok") : r.error().reason;
}

TEST(Zip, ReaderRefusesWhatItDoesNotCheck) {
  auto z = *write_zip({{"aa", "hello"}, {"bb", "world"}});
  const std::size_t cd = z.size() - 22 - 2 * (46 + 2);  // central directory offset
  const std::size_t end = z.size() - 22;
  {
    auto t = z;
    t[30 + 2] ^= 1;  // a data byte of "aa"
    EXPECT_EQ(error_of(t), "aa: CRC-32 mismatch");
  }
  {
    auto t = z;
    t[cd + 46] = '.';  // central name "aa" -> ".a" is fine; make it ".."
    t[cd + 47] = '.';
    EXPECT_EQ(error_of(t), "entry name with a \".\" or \"..\" component: \"..\"");
  }
  {
    auto t = z;
    t[cd + 46] = '/';
    EXPECT_EQ(error_of(t), "absolute entry name: \"/a\"");
  }
  {
    auto t = z;
    t[cd + 46 + 48] = 'a';  // second central name "bb" -> "ab"; then "ab" -> "aa"
    t[cd + 46 + 48 + 1] = 'a';
    t[30 + 2 + 5 + 30] = 'a';  // and its local name, so only the duplicate is wrong
    t[30 + 2 + 5 + 31] = 'a';
    EXPECT_EQ(error_of(t), "duplicate entry name: aa");
  }
  {
    auto t = z;
    set16(t, cd + 10, 8);  // deflate
    EXPECT_EQ(error_of(t), "aa: compressed entry (only stored entries are read)");
  }
  {
    auto t = z;
    set32(t, cd + 24, 6);  // uncompressed size != compressed size
    EXPECT_EQ(error_of(t), "aa: stored entry whose sizes disagree");
  }
  {
    auto t = z;
    set32(t, cd + 20, 0xfffffff0u);  // both sizes huge: caught before anything is read
    set32(t, cd + 24, 0xfffffff0u);
    set32(t, 18, 0xfffffff0u);  // and the local header agrees
    set32(t, 22, 0xfffffff0u);
    EXPECT_EQ(error_of(t), "aa: 4294967280 bytes, more than the limit of 536870912");
    ZipLimits big;
    big.max_entry_size = 0xffffffffu;
    EXPECT_EQ(error_of(t, big), "aa: data runs past its space");
  }
  {
    auto t = z;
    set32(t, cd + 48 + 42, 0);  // the second entry claims the first one's bytes
    EXPECT_EQ(error_of(t), "bb: entry not where the previous one ends (overlap or gap)");
  }
  {
    auto t = z;
    set16(t, end + 8, 3);
    set16(t, end + 10, 3);
    EXPECT_EQ(error_of(t), "ZIP central directory too short for its entries");
  }
  EXPECT_EQ(error_of(z, ZipLimits{1, 1024}), "2 entries, more than the limit of 1");
  EXPECT_EQ(error_of(z + "x"), "no ZIP end record at the end (or an archive comment)");
  EXPECT_EQ(error_of(z.substr(0, 10)), "not a ZIP archive: shorter than its end record");
}

TEST(Zip, UnzipAcceptsWhatWeWrite) {
  if (std::system("command -v unzip >/dev/null 2>&1") != 0) FAIL() << "unzip is not installed (scripts/setup.sh installs it from scripts/packages.txt)";
  test::TempDir tmp;
  auto z = *write_zip({{"evidence.json", "{}\n"}, {"bundles/ab/signatures/cd.sig", "sig"}, {"empty", ""}});
  test::write_all_file(tmp.path() / "t.zip", z);
  std::string cmd = "unzip -t '" + (tmp.path() / "t.zip").string() + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[1024];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  EXPECT_NE(out.find("No errors detected"), std::string::npos) << out;
}

// The streaming writer into a file makes write_zip's bytes exactly (so packs written either way
// read alike), whatever the pieces: an entry larger than the file writer's 64 KiB buffer has its
// local header patched in the file, a small one in the buffer; and unzip reads the file.
TEST(Zip, TheFileWriterWritesWhatWriteZipWrites) {
  std::string big(200 * 1024 + 7, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) ^ (i >> 9));
  std::vector<ZipEntry> in{{"a.txt", "hello\n"}, {"records.jsonl", big}, {"empty", ""}, {"z/last", "end\n"}};
  auto want = write_zip(in);
  ASSERT_TRUE(want) << want.error().to_string();
  test::TempDir tmp;
  const auto path = tmp.path() / "s.zip";
  auto w = ZipFileWriter::create(path);
  ASSERT_TRUE(w) << w.error().to_string();
  for (const auto& e : in) {
    ASSERT_TRUE((*w)->begin_entry(e.name));
    // In uneven pieces, some larger than the buffer.
    std::string_view rest = e.data;
    for (std::size_t piece = 1; !rest.empty(); piece = piece * 7 + 3) {
      auto n = std::min(piece, rest.size());
      ASSERT_TRUE((*w)->write(rest.substr(0, n)));
      rest.remove_prefix(n);
    }
    ASSERT_TRUE((*w)->end_entry());
  }
  EXPECT_FALSE((*w)->add("a.txt", "again"));  // duplicate
  ASSERT_TRUE((*w)->finish());
  auto commit = (*w)->commit();
  ASSERT_TRUE(commit) << commit.error().to_string();
  EXPECT_EQ((*w)->size(), want->size());
  std::ifstream f(path, std::ios::binary);
  std::string got((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(got == *want) << "the streamed archive differs from write_zip's (" << got.size() << " and "
                            << want->size() << " bytes)";
  auto back = read_zip(got);
  ASSERT_TRUE(back) << back.error().to_string();
  ASSERT_EQ(back->size(), in.size());
  EXPECT_EQ((*back)[1].data, big);
  if (std::system("command -v unzip >/dev/null 2>&1") != 0) FAIL() << "unzip is not installed";
  std::string cmd = "unzip -tq '" + path.string() + "' >/dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

// What the writer refuses in the middle of an archive: an entry begun inside another, data
// outside one, anything after the end.
TEST(Zip, TheStreamWriterRefusesMisuse) {
  ZipStringWriter w;
  EXPECT_FALSE(w.write("x"));
  ASSERT_TRUE(w.begin_entry("a"));
  EXPECT_FALSE(w.begin_entry("b"));
  EXPECT_FALSE(w.finish());
  ASSERT_TRUE(w.end_entry());
  EXPECT_FALSE(w.end_entry());
  EXPECT_FALSE(w.begin_entry("../x"));
  ASSERT_TRUE(w.finish());
  EXPECT_FALSE(w.add("c", ""));
  auto z = w.take();
  auto r = read_zip(z);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->size(), 1u);
  // A limit below 4 GiB: the write that would pass it fails, saying why the limit is there.
  ZipStringWriter small;
  small.limit(100, 30, "a test");
  auto big = small.add("a", std::string(31, 'x'));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().reason, "entry a larger than 30 bytes (a test)");
  ZipStringWriter total;
  total.limit(100, 50, "a test");
  ASSERT_TRUE(total.add("a", std::string(40, 'x')));
  auto over = total.add("b", std::string(40, 'x'));
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().reason, "archive larger than 100 bytes (a test)");
}

}  // namespace
}  // namespace ddlgate::ledger
