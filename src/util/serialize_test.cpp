#include "util/serialize.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

using namespace peerchain::util;

TEST(Serialize, IntegersAreLittleEndian) {
  Writer w;
  w.u16(0x0102);
  w.u32(0x03040506);
  w.u64(0x0708090a0b0c0d0eULL);
  EXPECT_EQ(to_hex(w.data()), "020106050403" "0e0d0c0b0a090807");
}

TEST(Serialize, CompactSizeBoundaries) {
  struct Case { uint64_t v; const char* hex; };
  for (auto c : {Case{0, "00"}, Case{0xfc, "fc"}, Case{0xfd, "fdfd00"}, Case{0xffff, "fdffff"},
                 Case{0x10000, "fe00000100"}, Case{0xffffffff, "feffffffff"},
                 Case{0x100000000ULL, "ff0000000001000000"}}) {
    Writer w;
    w.compact_size(c.v);
    EXPECT_EQ(to_hex(w.data()), c.hex);
    EXPECT_EQ(w.size(), compact_size_len(c.v));
    auto bytes = *from_hex(c.hex);
    Reader r(bytes);
    auto got = r.compact_size(UINT64_MAX);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, c.v);
    EXPECT_TRUE(r.expect_end().ok());
  }
}

TEST(Serialize, NonMinimalCompactSizeRefused) {
  for (const char* hex : {"fd0000", "fdfc00", "feffff0000", "fe00000000", "ff00000000ffffffff",
                          "ffffffffff00000000"}) {
    auto bytes = *from_hex(hex);
    Reader r(bytes);
    auto got = r.compact_size(UINT64_MAX);
    if (std::string(hex) == "ff00000000ffffffff") {
      ASSERT_TRUE(got.ok());  // 0xffffffff00000000 needs 9 bytes: canonical
      continue;
    }
    ASSERT_FALSE(got.ok()) << hex;
    EXPECT_EQ(got.error().code, "non-canonical") << hex;
  }
}

TEST(Serialize, CountLimitCheckedBeforeUse) {
  auto bytes = *from_hex("fe00000001");  // 16,777,216
  Reader r(bytes);
  auto got = r.compact_size(1000);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, "too-large");
}

TEST(Serialize, TruncationAndTrailingBytes) {
  auto bytes = *from_hex("010203");
  Reader r(bytes);
  EXPECT_EQ(r.u32().error().code, "truncated");
  Reader r2(bytes);
  ASSERT_TRUE(r2.u16().ok());
  EXPECT_EQ(r2.expect_end().error().code, "trailing-bytes");
}

RC_GTEST_PROP(Serialize, CompactSizeRoundTrip, (uint64_t v)) {
  Writer w;
  w.compact_size(v);
  Reader r(w.data());
  auto got = r.compact_size(UINT64_MAX);
  RC_ASSERT(got.ok());
  RC_ASSERT(*got == v);
  RC_ASSERT(r.expect_end().ok());
}

RC_GTEST_PROP(Serialize, HexRoundTrip, (std::vector<uint8_t> v)) {
  auto back = from_hex(to_hex(v));
  RC_ASSERT(back.has_value());
  RC_ASSERT(*back == v);
}
