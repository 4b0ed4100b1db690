// consensus/arith.h — fixed-width unsigned big integers for targets and chain work.
//
// BigUint<N> holds N 64-bit limbs, least significant first. Arithmetic wraps modulo 2^(64N)
// unless stated; callers that must not wrap check the carry-returning forms.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>

#include "util/bytes.h"

namespace peerchain::consensus {

__extension__ typedef unsigned __int128 uint128_t;  // __extension__: quiet under -Wpedantic

template <size_t N>
struct BigUint {
  std::array<uint64_t, N> limb{};

  constexpr BigUint() = default;
  constexpr explicit BigUint(uint64_t v) { limb[0] = v; }

  // From/to big-endian bytes (ids and targets are shown and compared big-endian).
  static BigUint from_be(util::ByteSpan b) {  // REQUIRES: b.size() == 8 * N
    BigUint r;
    for (size_t i = 0; i < 8 * N; ++i) {
      size_t byte_from_lsb = 8 * N - 1 - i;
      r.limb[byte_from_lsb / 8] |= static_cast<uint64_t>(b[i]) << (8 * (byte_from_lsb % 8));
    }
    return r;
  }
  std::array<uint8_t, 8 * N> to_be() const {
    std::array<uint8_t, 8 * N> out{};
    for (size_t i = 0; i < 8 * N; ++i) {
      size_t byte_from_lsb = 8 * N - 1 - i;
      out[i] = static_cast<uint8_t>(limb[byte_from_lsb / 8] >> (8 * (byte_from_lsb % 8)));
    }
    return out;
  }
  std::string hex() const { auto b = to_be(); return util::to_hex(b); }

  bool is_zero() const {
    for (auto l : limb) if (l) return false;
    return true;
  }
  // Index of the highest set bit plus one; 0 for zero.
  unsigned bits() const {
    for (size_t i = N; i-- > 0;)
      if (limb[i]) return static_cast<unsigned>(64 * i + 64 - static_cast<unsigned>(__builtin_clzll(limb[i])));
    return 0;
  }

  friend std::strong_ordering operator<=>(const BigUint& a, const BigUint& b) {
    for (size_t i = N; i-- > 0;)
      if (a.limb[i] != b.limb[i]) return a.limb[i] <=> b.limb[i];
    return std::strong_ordering::equal;
  }
  friend bool operator==(const BigUint& a, const BigUint& b) = default;

  // Returns the carry out.
  bool add(const BigUint& o) {
    uint128_t carry = 0;
    for (size_t i = 0; i < N; ++i) {
      carry += static_cast<uint128_t>(limb[i]) + o.limb[i];
      limb[i] = static_cast<uint64_t>(carry);
      carry >>= 64;
    }
    return carry != 0;
  }
  // Returns the borrow out.
  bool sub(const BigUint& o) {
    uint64_t borrow = 0;
    for (size_t i = 0; i < N; ++i) {
      uint128_t d = static_cast<uint128_t>(limb[i]) - o.limb[i] - borrow;
      limb[i] = static_cast<uint64_t>(d);
      borrow = (d >> 64) != 0 ? 1 : 0;
    }
    return borrow != 0;
  }
  // Multiplies by m; returns the overflow limb.
  uint64_t mul(uint64_t m) {
    uint128_t carry = 0;
    for (size_t i = 0; i < N; ++i) {
      carry += static_cast<uint128_t>(limb[i]) * m;
      limb[i] = static_cast<uint64_t>(carry);
      carry >>= 64;
    }
    return static_cast<uint64_t>(carry);
  }
  BigUint& operator<<=(unsigned s) {
    if (s >= 64 * N) { limb.fill(0); return *this; }
    size_t words = s / 64, rem = s % 64;
    for (size_t i = N; i-- > 0;) {
      uint64_t v = i >= words ? limb[i - words] << rem : 0;
      if (rem && i >= words + 1) v |= limb[i - words - 1] >> (64 - rem);
      limb[i] = v;
    }
    return *this;
  }
  BigUint& operator>>=(unsigned s) {
    if (s >= 64 * N) { limb.fill(0); return *this; }
    size_t words = s / 64, rem = s % 64;
    for (size_t i = 0; i < N; ++i) {
      uint64_t v = i + words < N ? limb[i + words] >> rem : 0;
      if (rem && i + words + 1 < N) v |= limb[i + words + 1] << (64 - rem);
      limb[i] = v;
    }
    return *this;
  }
  BigUint operator~() const {
    BigUint r;
    for (size_t i = 0; i < N; ++i) r.limb[i] = ~limb[i];
    return r;
  }
  // Quotient of *this / d by shift-and-subtract. REQUIRES: !d.is_zero()
  BigUint div(const BigUint& d) const {
    BigUint q, r;
    for (unsigned i = bits(); i-- > 0;) {
      r <<= 1;
      r.limb[0] |= (limb[i / 64] >> (i % 64)) & 1;
      if (r >= d) {
        r.sub(d);
        q.limb[i / 64] |= uint64_t{1} << (i % 64);
      }
    }
    return q;
  }
};

using Uint256 = BigUint<4>;

}  // namespace peerchain::consensus
