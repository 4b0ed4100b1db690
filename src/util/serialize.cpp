#include "util/serialize.h"

namespace peerchain::util {

void Writer::compact_size(uint64_t v) {
  if (v < 0xfd) {
    u8(static_cast<uint8_t>(v));
  } else if (v <= 0xffff) {
    u8(0xfd);
    u16(static_cast<uint16_t>(v));
  } else if (v <= 0xffffffff) {
    u8(0xfe);
    u32(static_cast<uint32_t>(v));
  } else {
    u8(0xff);
    u64(v);
  }
}

Result<uint64_t> Reader::le(int n) {
  if (remaining() < static_cast<size_t>(n))
    return fail("truncated", "need " + std::to_string(n) + " bytes at offset " +
                                 std::to_string(pos_) + ", have " + std::to_string(remaining()));
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(in_[pos_ + i]) << (8 * i);
  pos_ += static_cast<size_t>(n);
  return v;
}

Result<uint8_t> Reader::u8() {
  auto r = le(1);
  if (!r) return unexpected(r.error());
  return static_cast<uint8_t>(*r);
}
Result<uint16_t> Reader::u16() {
  auto r = le(2);
  if (!r) return unexpected(r.error());
  return static_cast<uint16_t>(*r);
}
Result<uint32_t> Reader::u32() {
  auto r = le(4);
  if (!r) return unexpected(r.error());
  return static_cast<uint32_t>(*r);
}
Result<uint64_t> Reader::u64() { return le(8); }

Result<uint64_t> Reader::compact_size(uint64_t max) {
  auto tag = u8();
  if (!tag) return unexpected(tag.error());
  uint64_t v = 0;
  uint64_t min = 0;
  if (*tag < 0xfd) {
    v = *tag;
  } else {
    int n = *tag == 0xfd ? 2 : *tag == 0xfe ? 4 : 8;
    min = *tag == 0xfd ? 0xfd : *tag == 0xfe ? 0x10000 : 0x100000000ULL;
    auto r = le(n);
    if (!r) return unexpected(r.error());
    v = *r;
    if (v < min) return fail("non-canonical", "CompactSize " + std::to_string(v) + " not minimally encoded");
  }
  if (v > max)
    return fail("too-large", "count " + std::to_string(v) + " exceeds limit " + std::to_string(max));
  return v;
}

Result<ByteSpan> Reader::bytes(size_t n) {
  if (remaining() < n)
    return fail("truncated", "need " + std::to_string(n) + " bytes at offset " +
                                 std::to_string(pos_) + ", have " + std::to_string(remaining()));
  ByteSpan out = in_.subspan(pos_, n);
  pos_ += n;
  return out;
}

Status Reader::expect_end() const {
  if (remaining() != 0)
    return fail("trailing-bytes", std::to_string(remaining()) + " unexpected bytes after the end");
  return {};
}

}  // namespace peerchain::util
