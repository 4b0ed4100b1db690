// net/backoff.h — capped exponential backoff with jitter for redialling peers.
//
// Pure: the caller supplies the randomness. Thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>

namespace peerchain::net {

struct Backoff {
  int64_t min_ms = 500;     // default: the nominal delay after the first failure
  int64_t max_ms = 30'000;  // default: no delay is longer than this

  // Delay before the next attempt after `failures` consecutive failures (>= 1; 0 is treated
  // as 1). The nominal delay min_ms * 2^(failures-1), capped at max_ms, shortened by a random
  // 0..25% so that peers restarted together do not redial in lockstep. Always in
  // [max(1, 3/4 * nominal), nominal].
  int64_t delay_ms(uint32_t failures, uint64_t random) const {
    int64_t lo = std::max<int64_t>(1, min_ms);
    int64_t hi = std::max(lo, max_ms);
    uint32_t shift = std::min<uint32_t>(failures > 0 ? failures - 1 : 0, 40);
    int64_t nominal = hi;
    if (shift < 62 && lo <= (hi >> shift)) nominal = std::min(hi, lo << shift);
    int64_t spread = nominal / 4;
    int64_t jitter = spread > 0 ? static_cast<int64_t>(random % static_cast<uint64_t>(spread + 1)) : 0;
    return std::max<int64_t>(1, nominal - jitter);
  }
};

}  // namespace peerchain::net
