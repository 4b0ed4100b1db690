#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "consensus/params.h"
#include "consensus/pow.h"

using namespace peerchain;
using namespace peerchain::consensus;

TEST(Compact, BitcoinVectors) {
  auto t = decode_compact(0x1d00ffff);
  ASSERT_TRUE(t);
  Uint256 want(0xffff);
  want <<= 208;
  EXPECT_EQ(*t, want);
  EXPECT_EQ(encode_compact(want), 0x1d00ffffu);
  EXPECT_EQ(*decode_compact(0x03123456), Uint256(0x123456));
  EXPECT_EQ(*decode_compact(0x01120000), Uint256(0x12));
  EXPECT_EQ(encode_compact(Uint256(0x80)), 0x02008000u);
}

TEST(Compact, InvalidAndNonCanonicalRefused) {
  EXPECT_FALSE(decode_compact(0x04923456));  // negative
  EXPECT_FALSE(decode_compact(0x03000000));  // zero
  EXPECT_FALSE(decode_compact(0xff123456));  // overflow
  EXPECT_FALSE(decode_compact(0x04001234));  // non-canonical form of 0x03123400
  EXPECT_FALSE(decode_compact(0x01003456));  // mantissa bits shifted out
}

RC_GTEST_PROP(Compact, RoundTripOfRoundedTargets, (uint64_t mant, uint8_t shift)) {
  Uint256 t(mant | 1);
  t <<= shift % 190;
  auto r = round_to_compact(t);
  RC_ASSERT(r <= t);
  auto back = decode_compact(encode_compact(r));
  RC_ASSERT(back.has_value());
  RC_ASSERT(*back == r);
}

TEST(Work, FromTarget) {
  Uint256 max = ~Uint256(0);
  EXPECT_EQ(work_from_target(max), Uint256(1));
  Uint256 t(1);
  t <<= 224;
  t.sub(Uint256(1));  // 2^224 - 1 -> work 2^32
  EXPECT_EQ(work_from_target(t), Uint256(uint64_t{1} << 32));
  Uint256 half(1);
  half <<= 255;
  EXPECT_EQ(work_from_target(half), Uint256(1));  // 2^256 / (2^255 + 1) = 1
}

TEST(Arith, DivisionAndShifts) {
  Uint256 a(1);
  a <<= 200;
  Uint256 b(1);
  b <<= 100;
  Uint256 q = a.div(b);
  Uint256 want(1);
  want <<= 100;
  EXPECT_EQ(q, want);
  Uint256 c = a;
  c >>= 150;
  EXPECT_EQ(c, Uint256(uint64_t{1} << 50));
  EXPECT_EQ(a.bits(), 201u);
}

TEST(Asert, OnScheduleKeepsTarget) {
  auto p = dev_params();
  auto anchor = *decode_compact(0x1f00a7c5);
  EXPECT_EQ(asert_target(anchor, 1000, 1, 1000, p.half_life_ms, p.pow_limit), anchor);
  EXPECT_EQ(asert_target(anchor, 50'000, 50, 1000, p.half_life_ms, p.pow_limit), anchor);
}

TEST(Asert, OneHalfLifeLateDoublesOneEarlyHalves) {
  auto p = dev_params();
  auto anchor = *decode_compact(0x1f00a7c5);
  auto late = asert_target(anchor, 1000 + p.half_life_ms, 1, 1000, p.half_life_ms, p.pow_limit);
  Uint256 doubled = anchor;
  doubled <<= 1;
  EXPECT_EQ(late, round_to_compact(doubled));
  auto early = asert_target(anchor, 1000 - p.half_life_ms, 1, 1000, p.half_life_ms, p.pow_limit);
  Uint256 halved = anchor;
  halved >>= 1;
  EXPECT_EQ(early, round_to_compact(halved));
}

TEST(Asert, ClampedToLimitAndOne) {
  auto p = dev_params();
  auto anchor = *decode_compact(0x1f00a7c5);
  EXPECT_EQ(asert_target(anchor, INT64_MAX / 4, 1, 1000, p.half_life_ms, p.pow_limit), p.pow_limit);
  EXPECT_EQ(asert_target(anchor, INT64_MIN / 4, 1, 1000, p.half_life_ms, p.pow_limit), Uint256(1));
}

RC_GTEST_PROP(Asert, MonotoneInTime, (int32_t dt1, int32_t dt2)) {
  auto p = dev_params();
  auto anchor = *decode_compact(0x1f00a7c5);
  int64_t a = std::min(dt1, dt2), b = std::max(dt1, dt2);
  auto ta = asert_target(anchor, a * 100, 1, 1000, p.half_life_ms, p.pow_limit);
  auto tb = asert_target(anchor, b * 100, 1, 1000, p.half_life_ms, p.pow_limit);
  RC_ASSERT(ta <= tb);
}

TEST(Params, NetworksDiffer) {
  auto m = main_params();
  auto d = dev_params();
  EXPECT_NE(m.chain_id, d.chain_id);
  EXPECT_NE(m.genesis_id, d.genesis_id);
  EXPECT_NE(m.magic, d.magic);
  EXPECT_EQ(d.allocations.size(), kDevAccounts);
  EXPECT_TRUE(m.allocations.empty());
  EXPECT_EQ(params_for("dev")->genesis_id, d.genesis_id);
  EXPECT_FALSE(params_for("nope"));
}

TEST(Params, DevKeysDeterministicAndDistinct) {
  EXPECT_EQ(dev_account_key(7).pubkey(), dev_account_key(7).pubkey());
  EXPECT_NE(dev_account_key(7).pubkey(), dev_account_key(8).pubkey());
  // Enough for millions of 500-unit transfers.
  EXPECT_GE(kDevAccountFunds / 501, 1'000'000u);
}

TEST(Params, SubsidyHalves) {
  auto p = dev_params();
  EXPECT_EQ(block_subsidy(p, 1), p.initial_subsidy);
  EXPECT_EQ(block_subsidy(p, p.halving_interval), p.initial_subsidy / 2);
  EXPECT_EQ(block_subsidy(p, p.halving_interval * 3), p.initial_subsidy / 8);
}
