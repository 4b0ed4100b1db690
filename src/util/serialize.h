// util/serialize.h — the primitives of peerchain's canonical binary encoding.
//
// Integers are fixed-width little-endian. Counts and lengths use CompactSize (Bitcoin's
// varint: 1, 3, 5 or 9 bytes) and MUST be minimally encoded; a Reader refuses any other form
// so that every value has exactly one encoding (docs/spec/encoding.md).
//
// Reader never reads past its input and never allocates on behalf of the input: callers
// bound every count (read_compact_size(max)) before reserving memory.
#pragma once

#include <cstdint>
#include <string>

#include "util/bytes.h"
#include "util/result.h"

namespace peerchain::util {

class Writer {
 public:
  Writer() = default;
  explicit Writer(size_t reserve) { buf_.reserve(reserve); }

  void u8(uint8_t v) { buf_.push_back(v); }
  void u16(uint16_t v) { put_le(v, 2); }
  void u32(uint32_t v) { put_le(v, 4); }
  void u64(uint64_t v) { put_le(v, 8); }
  void compact_size(uint64_t v);
  void bytes(ByteSpan b) { buf_.insert(buf_.end(), b.begin(), b.end()); }
  template <size_t N>
  void fixed(const FixedBytes<N>& b) { bytes(b.span()); }

  const Bytes& data() const& { return buf_; }
  Bytes&& take() && { return std::move(buf_); }
  size_t size() const { return buf_.size(); }

 private:
  void put_le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) buf_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  Bytes buf_;
};

// Encoded size of a CompactSize.
constexpr size_t compact_size_len(uint64_t v) {
  return v < 0xfd ? 1 : v <= 0xffff ? 3 : v <= 0xffffffff ? 5 : 9;
}

// Error codes produced by Reader (Error::code): "truncated", "non-canonical", "too-large",
// "trailing-bytes".
class Reader {
 public:
  explicit Reader(ByteSpan in) : in_(in) {}

  Result<uint8_t> u8();
  Result<uint16_t> u16();
  Result<uint32_t> u32();
  Result<uint64_t> u64();
  // Refuses non-minimal encodings and values above `max`.
  Result<uint64_t> compact_size(uint64_t max);
  Result<ByteSpan> bytes(size_t n);
  template <size_t N>
  Result<FixedBytes<N>> fixed() {
    auto b = bytes(N);
    if (!b) return unexpected(b.error());
    return FixedBytes<N>::from_span(*b);
  }

  size_t remaining() const { return in_.size() - pos_; }
  size_t position() const { return pos_; }
  // Fails with "trailing-bytes" unless the whole input was consumed.
  Status expect_end() const;

 private:
  Result<uint64_t> le(int n);
  ByteSpan in_;
  size_t pos_ = 0;
};

}  // namespace peerchain::util
