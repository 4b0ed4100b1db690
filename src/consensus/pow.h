// consensus/pow.h — proof of work: compact targets, work, the ASERT retarget.
#pragma once

#include <optional>

#include "consensus/arith.h"
#include "primitives/block.h"

namespace peerchain::consensus {

// Bitcoin's compact ("nBits") form: 1 byte exponent, 3 byte mantissa. Decoding refuses negative,
// zero and overflowing values and non-canonical forms (a mantissa that could be shorter), so
// each target has one encoding.
std::optional<Uint256> decode_compact(uint32_t bits);
uint32_t encode_compact(const Uint256& target);
// Rounds `target` down to what its compact form can express.
Uint256 round_to_compact(const Uint256& target);

// Expected number of hashes for a block at `target`: floor(2^256 / (target + 1)).
Uint256 work_from_target(const Uint256& target);
// For people, not for consensus: `v` as a double (rounded), and the difficulty of `target`, the
// easiest allowed target over it (1 at the limit; 0 for a zero target).
double to_double(const Uint256& v);
double difficulty(const Uint256& pow_limit, const Uint256& target);

// The id as a number (big-endian).
Uint256 id_to_number(const primitives::BlockId& id);

// True iff id <= target.
bool meets_target(const primitives::BlockId& id, const Uint256& target);

// ASERT (absolutely scheduled exponentially rising targets; aserti3-2d of Bitcoin Cash) with
// the genesis block as anchor:
//   target = anchor_target * 2^((time_diff - spacing * height_diff) / half_life)
// where time_diff and height_diff are those of `parent` relative to the anchor. Computed in
// 16.16 fixed point with a cubic approximation of 2^x; the result is rounded to compact form
// and clamped to [1, pow_limit].
Uint256 asert_target(const Uint256& anchor_target, int64_t time_diff_ms, int64_t height_diff,
                     int64_t spacing_ms, int64_t half_life_ms, const Uint256& pow_limit);

}  // namespace peerchain::consensus
