#include "consensus/pow.h"

#include <algorithm>

namespace peerchain::consensus {

__extension__ typedef __int128 int128_t;

std::optional<Uint256> decode_compact(uint32_t bits) {
  uint32_t size = bits >> 24;
  uint64_t word = bits & 0x007fffff;
  if (bits & 0x00800000) return std::nullopt;  // negative
  if (word == 0) return std::nullopt;          // zero target: no hash could meet it
  if (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32)) return std::nullopt;
  Uint256 t;
  if (size <= 3) {
    t = Uint256(word >> (8 * (3 - size)));
  } else {
    t = Uint256(word);
    t <<= 8 * (size - 3);
  }
  if (t.is_zero()) return std::nullopt;
  if (encode_compact(t) != bits) return std::nullopt;  // non-canonical form
  return t;
}

uint32_t encode_compact(const Uint256& target) {
  uint32_t size = (target.bits() + 7) / 8;
  uint64_t compact;
  if (size <= 3) {
    compact = target.limb[0] << (8 * (3 - size));
  } else {
    Uint256 t = target;
    t >>= 8 * (size - 3);
    compact = t.limb[0];
  }
  if (compact & 0x00800000) {
    compact >>= 8;
    size++;
  }
  return static_cast<uint32_t>(compact) | (size << 24);
}

Uint256 round_to_compact(const Uint256& target) {
  auto t = decode_compact(encode_compact(target));
  return t ? *t : Uint256(1);
}

double to_double(const Uint256& v) {
  double d = 0;
  for (size_t i = v.limb.size(); i-- > 0;) d = d * 18446744073709551616.0 + static_cast<double>(v.limb[i]);
  return d;
}

double difficulty(const Uint256& pow_limit, const Uint256& target) {
  return target.is_zero() ? 0 : to_double(pow_limit) / to_double(target);
}

Uint256 work_from_target(const Uint256& target) {
  // 2^256 / (t + 1) == (~t / (t + 1)) + 1, computed without a 257-bit numerator.
  Uint256 denom = target;
  if (denom.add(Uint256(1))) return Uint256(1);  // target == 2^256 - 1
  Uint256 w = (~target).div(denom);
  w.add(Uint256(1));
  return w;
}

Uint256 id_to_number(const primitives::BlockId& id) { return Uint256::from_be(id.span()); }

bool meets_target(const primitives::BlockId& id, const Uint256& target) {
  return id_to_number(id) <= target;
}

Uint256 asert_target(const Uint256& anchor_target, int64_t time_diff_ms, int64_t height_diff,
                     int64_t spacing_ms, int64_t half_life_ms, const Uint256& pow_limit) {
  int128_t num = (static_cast<int128_t>(time_diff_ms) -
                  static_cast<int128_t>(spacing_ms) * height_diff) * 65536;
  int128_t exponent = num / half_life_ms;
  if (num % half_life_ms != 0 && num < 0) --exponent;  // floor division
  // Beyond +-2^9 halvings the target is pinned to 1 or pow_limit anyway.
  exponent = std::clamp<int128_t>(exponent, -(int128_t{512} << 16), int128_t{512} << 16);
  int64_t shifts = static_cast<int64_t>(exponent >> 16);  // arithmetic shift: floor
  auto frac = static_cast<uint64_t>(exponent - (static_cast<int128_t>(shifts) << 16));
  uint128_t poly = uint128_t{195766423245049ULL} * frac + uint128_t{971821376ULL} * frac * frac +
                   uint128_t{5127ULL} * frac * frac * frac + (uint128_t{1} << 47);
  uint64_t factor = 65536 + static_cast<uint64_t>(poly >> 48);

  BigUint<5> next;
  for (size_t i = 0; i < 4; ++i) next.limb[i] = anchor_target.limb[i];
  next.mul(factor);  // anchor < 2^256, factor < 2^17: fits 320 bits
  if (shifts < 0) {
    next >>= static_cast<unsigned>(-shifts);
  } else {
    if (next.bits() + static_cast<unsigned>(shifts) > 256 + 16) return pow_limit;
    next <<= static_cast<unsigned>(shifts);
  }
  next >>= 16;
  if (next.limb[4] != 0) return pow_limit;
  Uint256 t;
  for (size_t i = 0; i < 4; ++i) t.limb[i] = next.limb[i];
  if (t.is_zero()) t = Uint256(1);
  if (t > pow_limit) t = pow_limit;
  return round_to_compact(t);
}

}  // namespace peerchain::consensus
