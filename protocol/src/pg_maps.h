// PostgreSQL 15's conversion maps, compiled from its source package (pg_maps.c),
// as encoding.cpp walks them. Shared by C (pg_maps.c) and C++ (encoding.cpp).
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// The layout PostgreSQL's generated *.map files initialise (src/include/mb/pg_wchar.h,
// "Radix tree for character conversion"): for inputs of 1 to 4 bytes, the offset of
// the first level's table in the value array and the allowed range of each byte.
// Intermediate levels hold offsets, the last level the UTF-8 bytes of the
// character packed big-endian into a uint32 (0: no mapping).
struct ddlgate_pg_radix_tree {
  const uint16_t* values16;
  const uint32_t* values32;
  uint32_t b1_root;
  uint8_t b1_min, b1_max;
  uint32_t b2_root;
  uint8_t b2_1_min, b2_1_max, b2_2_min, b2_2_max;
  uint32_t b3_root;
  uint8_t b3_1_min, b3_1_max, b3_2_min, b3_2_max, b3_3_min, b3_3_max;
  uint32_t b4_root;
  uint8_t b4_1_min, b4_1_max, b4_2_min, b4_2_max, b4_3_min, b4_3_max, b4_4_min, b4_4_max;
};

// A character that maps to two code points (a base and a combining mark), sorted by code.
struct ddlgate_pg_combined {
  uint32_t code;
  uint32_t utf8_first;
  uint32_t utf8_second;
};

// A row of big5.c's range tables: from `code` on, BIG5 codes map in order onto
// CNS 11643 codes from `peer` (0: no mapping), up to the next row's code.
struct ddlgate_pg_code_range {
  unsigned short code;
  unsigned short peer;
};

// One row of euc_jp_and_sjis/sjis.map: an NEC-selected IBM kanji, its IBM code and its EUC_JP code.
struct ddlgate_pg_ibm_kanji {
  uint16_t nec;
  uint16_t sjis;
  uint32_t euc_jp;
};

// The client-only encodings' maps to UTF-8, and the EUC server encodings' maps.
extern const struct ddlgate_pg_radix_tree* const ddlgate_pg_sjis_to_utf8;
extern const struct ddlgate_pg_radix_tree* const ddlgate_pg_shift_jis_2004_to_utf8;
extern const struct ddlgate_pg_radix_tree* const ddlgate_pg_big5_to_utf8;
extern const struct ddlgate_pg_radix_tree* const ddlgate_pg_gbk_to_utf8;
extern const struct ddlgate_pg_radix_tree* const ddlgate_pg_uhc_to_utf8;
extern const struct ddlgate_pg_radix_tree* const ddlgate_pg_gb18030_to_utf8;
extern const struct ddlgate_pg_radix_tree* const ddlgate_pg_johab_to_utf8;
extern const struct ddlgate_pg_radix_tree* const ddlgate_pg_euc_jp_to_utf8;
extern const struct ddlgate_pg_radix_tree* const ddlgate_pg_euc_jis_2004_to_utf8;
extern const struct ddlgate_pg_radix_tree* const ddlgate_pg_euc_tw_to_utf8;
// BIG5 to CNS 11643 (big5.c): level 1 to plane 1, level 2 to plane 2, and the
// single codes {big5, cns} of plane 4 (level 1) and plane 3 (level 2).
extern const struct ddlgate_pg_code_range* const ddlgate_pg_big5_level1;
extern const size_t ddlgate_pg_big5_level1_size;
extern const struct ddlgate_pg_code_range* const ddlgate_pg_big5_level2;
extern const size_t ddlgate_pg_big5_level2_size;
extern const uint16_t (*const ddlgate_pg_big5_plane4)[2];
extern const size_t ddlgate_pg_big5_plane4_size;
extern const uint16_t (*const ddlgate_pg_big5_plane3)[2];
extern const size_t ddlgate_pg_big5_plane3_size;
extern const struct ddlgate_pg_combined* const ddlgate_pg_shift_jis_2004_combined;
extern const size_t ddlgate_pg_shift_jis_2004_combined_size;
extern const struct ddlgate_pg_combined* const ddlgate_pg_euc_jis_2004_combined;
extern const size_t ddlgate_pg_euc_jis_2004_combined_size;
// The map to UTF-8 of an ASCII-safe encoding other than LATIN1 and UTF8, by
// PostgreSQL's encoding number; NULL for the others.
const struct ddlgate_pg_radix_tree* ddlgate_pg_ascii_safe_to_utf8(int encoding);
// The IBM kanji table's rows, in its order, without its stop row.
size_t ddlgate_pg_ibm_kanji_size(void);
struct ddlgate_pg_ibm_kanji ddlgate_pg_ibm_kanji_row(size_t i);

#ifdef __cplusplus
}
#endif
