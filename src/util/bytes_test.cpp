#include "util/bytes.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace peerchain::util {
namespace {

template <size_t N>
int sign_of_memcmp(const FixedBytes<N>& a, const FixedBytes<N>& b) {
  int c = std::memcmp(a.data.data(), b.data.data(), N);
  return (c > 0) - (c < 0);
}

template <size_t N>
int sign_of(std::strong_ordering o) {
  return o < 0 ? -1 : o > 0 ? 1 : 0;
}

// b is a with the bytes from `from` on replaced: shared prefixes of every length, so the first
// difference falls in every word and at every byte of it.
template <size_t N>
void check_against_memcmp(const std::vector<uint8_t>& seed_a, const std::vector<uint8_t>& seed_b, size_t from) {
  FixedBytes<N> a, b;
  for (size_t i = 0; i < N; ++i) a.data[i] = i < seed_a.size() ? seed_a[i] : 0;
  b = a;
  for (size_t i = from % (N + 1); i < N; ++i) b.data[i] = i < seed_b.size() ? seed_b[i] : 0xff;
  RC_ASSERT((a == b) == (sign_of_memcmp(a, b) == 0));
  RC_ASSERT(sign_of<N>(a <=> b) == sign_of_memcmp(a, b));
  RC_ASSERT(sign_of<N>(b <=> a) == sign_of_memcmp(b, a));
  RC_ASSERT(sign_of<N>(a <=> a) == 0);
}

RC_GTEST_PROP(FixedBytes, OrderAndEqualityAreMemcmps, (std::vector<uint8_t> a, std::vector<uint8_t> b, size_t from)) {
  check_against_memcmp<32>(a, b, from);
  check_against_memcmp<64>(a, b, from);
  check_against_memcmp<4>(a, b, from);  // not a multiple of 8: the std::array comparison
}

TEST(FixedBytes, OrderIsBytewiseNotNumeric) {
  FixedBytes<8> lo, hi;
  lo.data[0] = 0x01;  // as a little-endian word, 1
  hi.data[7] = 0x01;  // as a little-endian word, 2^56: numerically larger, bytewise smaller
  FixedBytes<8> a = hi, b = lo;
  EXPECT_LT(a, b);
  EXPECT_NE(a, b);
  EXPECT_EQ(a, hi);
}

}  // namespace
}  // namespace peerchain::util
