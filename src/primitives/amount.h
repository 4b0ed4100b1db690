// primitives/amount.h — amounts in base units.
#pragma once

#include <cstdint>

namespace peerchain::primitives {

// Base units. Every balance, amount, fee and sum of them that consensus accepts is at most
// kMaxMoney, so adding two valid amounts never overflows uint64_t.
using Amount = uint64_t;

inline constexpr Amount kCoin = 100'000'000;
inline constexpr Amount kMaxMoney = 10'000'000'000 * kCoin;  // 1e18 < 2^60

constexpr bool money_range(Amount a) { return a <= kMaxMoney; }

}  // namespace peerchain::primitives
